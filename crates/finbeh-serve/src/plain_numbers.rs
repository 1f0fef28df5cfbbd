//! The commonest body of all, `{"data": [[number, ...], ...]}` for a model whose columns are
//! all numeric (or boolean), scanned byte by byte without serde: for 100-row requests, number
//! parsing through `serde_json`'s visitor was 30 % of the work (issue 14).
//!
//! It succeeds only on bodies `fast_path.rs` (and so the general decoder) reads to the very
//! same values, and gives up (`None`) on anything else, leaving every doubtful body (escapes,
//! other keys, strings, a number out of range) to them. Numbers are exactly `serde_json`'s:
//! built with `float_roundtrip` (finbeh-train turns it on), it rounds correctly, as
//! `str::parse::<f64>` does (its integers become `f64` by a correctly rounded conversion too,
//! and `-0` is `-0.0` there as here).

use finbeh_data::{ColumnKind, InputColumn, RawValue};

/// Decodes `body` into `rows` when it is the positional form with plain numbers and `null`s
/// only; `None` leaves `rows` as it was.
pub(crate) fn decode_plain_numbers(
    body: &[u8],
    columns: &[InputColumn],
    max_rows: usize,
    rows: &mut Vec<RawValue<'_>>,
) -> Option<usize> {
    // Categorical columns keep large integers as text, dates refuse numbers, and a column
    // named `data` makes `{"data": ..}` a record: `fast_path.rs` handles those.
    if columns.is_empty()
        || columns.iter().any(|c| {
            !matches!(c.kind, ColumnKind::Numeric | ColumnKind::Boolean) || c.name == "data"
        })
    {
        return None;
    }
    let start = rows.len();
    let decoded = Scanner { body, at: 0 }.body(columns.len(), max_rows, rows);
    if decoded.is_none() {
        rows.truncate(start);
    }
    decoded
}

struct Scanner<'b> {
    body: &'b [u8],
    at: usize,
}

impl Scanner<'_> {
    fn body(
        &mut self,
        n_cols: usize,
        max_rows: usize,
        rows: &mut Vec<RawValue<'_>>,
    ) -> Option<usize> {
        self.expect(b"{")?;
        self.expect(b"\"data\"")?;
        self.expect(b":")?;
        self.expect(b"[")?;
        let mut n_rows = 0usize;
        loop {
            self.expect(b"[")?;
            self.cells(n_cols, rows)?;
            self.expect(b"]")?;
            n_rows += 1;
            if n_rows > max_rows {
                return None;
            }
            self.skip_whitespace();
            match self.body.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        self.expect(b"}")?;
        self.skip_whitespace();
        (self.at == self.body.len()).then_some(n_rows)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.body.get(self.at) {
            self.at += 1;
        }
    }

    /// Whitespace, then exactly `token`.
    fn expect(&mut self, token: &[u8]) -> Option<()> {
        self.skip_whitespace();
        let end = self.at + token.len();
        (self.body.get(self.at..end)? == token).then(|| self.at = end)
    }

    /// A row's `n_cols` cells, after its `[`. The commonest layout, short numbers with a bare
    /// comma between them, is read without a whitespace scan or a token compare per cell; any
    /// other cell or separator goes through [`Self::cell`] and [`Self::expect`].
    fn cells(&mut self, n_cols: usize, rows: &mut Vec<RawValue<'_>>) -> Option<()> {
        rows.reserve(n_cols);
        for column in 0..n_cols {
            if column > 0 {
                if self.peek() == Some(b',') {
                    self.at += 1;
                } else {
                    self.expect(b",")?;
                }
            }
            let value = match self.short_number() {
                Some(value) => RawValue::Number(value),
                None => self.cell()?,
            };
            rows.push(value);
        }
        Some(())
    }

    /// A cell where [`Self::cells`] found no short number: whitespace, then `null` or any JSON
    /// number (the short form again only past whitespace: here it has just failed).
    fn cell(&mut self) -> Option<RawValue<'static>> {
        let before_whitespace = self.at;
        self.skip_whitespace();
        if self.body.get(self.at..self.at + 4) == Some(b"null") {
            self.at += 4;
            return Some(RawValue::Missing);
        }
        if self.at > before_whitespace
            && let Some(value) = self.short_number()
        {
            return Some(RawValue::Number(value));
        }
        let start = self.at;
        let number = self.number()?;
        let value = match number.exact() {
            Some(value) => value,
            None => std::str::from_utf8(self.body.get(start..self.at)?)
                .ok()?
                .parse::<f64>()
                .ok()?,
        };
        // Out of range: `serde_json` refuses it; the general decoder words the error.
        value.is_finite().then_some(RawValue::Number(value))
    }

    /// The commonest number, `-?[1-9]?[0-9]{0,6}(.[0-9]{1,7})?` not followed by an exponent, read
    /// a word at a time: each run's length and value come from word arithmetic, with no
    /// branch per digit and no call (the general scan below cost ~200 instructions a number,
    /// the most of a 100-row body's decoding). `None` (nothing consumed) for anything else,
    /// including a body with fewer than eight bytes after a run, which [`Self::number`] reads.
    /// The value is exact like [`Decimal::exact`]'s: below 10^14 < 2^53, over at most 10^7.
    #[inline(always)]
    fn short_number(&mut self) -> Option<f64> {
        let negative = self.peek()? == b'-';
        let integer_at = self.at + usize::from(negative);
        let word = self.word(integer_at)?;
        let integer_digits = leading_digits(word);
        // No digit, a run that may go on, or a leading zero before more digits (invalid JSON,
        // which the general scan refuses): not short.
        if integer_digits == 0
            || integer_digits == 8
            || (integer_digits > 1 && word & 0xFF == u64::from(b'0'))
        {
            return None;
        }
        let mut significand = u64::from(eight_digits(word << (64 - 8 * integer_digits)));
        let mut at = integer_at + integer_digits;
        let mut scale = 1.0;
        if self.body.get(at) == Some(&b'.') {
            let word = self.word(at + 1)?;
            let fraction_digits = leading_digits(word);
            if fraction_digits == 0 || fraction_digits == 8 {
                return None;
            }
            significand = significand * POWERS_OF_TEN[fraction_digits]
                + u64::from(eight_digits(word << (64 - 8 * fraction_digits)));
            scale = EXACT_POWERS[fraction_digits];
            at += 1 + fraction_digits;
        }
        if let Some(b'e' | b'E') = self.body.get(at) {
            return None;
        }
        self.at = at;
        // Both exact (< 2^53 and 10^7), so the quotient is rounded once: `str::parse`'s value.
        let value = significand as f64 / scale;
        Some(if negative { -value } else { value })
    }

    /// Skips one JSON number (RFC 8259 grammar), noting its digits and exponent.
    fn number(&mut self) -> Option<Decimal> {
        let mut number = Decimal::default();
        if self.peek() == Some(b'-') {
            self.at += 1;
            number.negative = true;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(&mut number, false),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let before = self.at;
            self.digits(&mut number, true);
            if self.at == before {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            let negative = match self.peek() {
                Some(b'-') => {
                    self.at += 1;
                    true
                }
                Some(b'+') => {
                    self.at += 1;
                    false
                }
                _ => false,
            };
            let before = self.at;
            let mut exponent = 0i32;
            while let Some(digit) = self.peek().filter(u8::is_ascii_digit) {
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add(i32::from(digit - b'0'));
                self.at += 1;
            }
            if self.at == before {
                return None;
            }
            number.exponent = if negative { -exponent } else { exponent };
        }
        Some(number)
    }

    /// Digits into `number`'s significand (those after the point lower its exponent).
    fn digits(&mut self, number: &mut Decimal, fraction: bool) {
        let rest = self.body.get(self.at..).unwrap_or_default();
        let count = rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        let mut significand = number.significand;
        for &digit in rest.iter().take(count) {
            // Up to 18 digits fit; more make the number one to parse in full.
            if significand < 100_000_000_000_000_000 {
                significand = significand * 10 + u64::from(digit - b'0');
            } else {
                number.inexact = true;
            }
        }
        number.significand = significand;
        if fraction {
            let count = i32::try_from(count).unwrap_or(i32::MAX);
            number.fraction_digits = number.fraction_digits.saturating_add(count);
        }
        self.at += count;
    }

    /// The next eight bytes from `at` as a little-endian word (the first byte lowest).
    fn word(&self, at: usize) -> Option<u64> {
        let bytes: [u8; 8] = self.body.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    fn peek(&self) -> Option<u8> {
        self.body.get(self.at).copied()
    }
}

/// How many of `word`'s bytes, from the first (lowest), are ASCII digits: 0..=8.
fn leading_digits(word: u64) -> usize {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // A digit byte becomes 0..=9; adding 0x76 to the low 7 bits sets the high bit from 10
    // up (never carrying into the next byte), and a byte already >= 0x80 has it set.
    let offset = word ^ 0x3030_3030_3030_3030;
    let not_digit =
        (offset | ((offset & 0x7F7F_7F7F_7F7F_7F7F) + 0x7676_7676_7676_7676)) & HIGH_BITS;
    not_digit.trailing_zeros() as usize / 8
}

/// The value of eight ASCII digits in `word`, the first (most significant) in the lowest byte;
/// zero bytes count as leading zeros. Three multiply-shift rounds combine digit pairs, then
/// pairs of pairs, then the two halves.
fn eight_digits(word: u64) -> u32 {
    let pairs = ((word & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561)) >> 8;
    let quads = ((pairs & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601)) >> 16;
    ((quads & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32) as u32
}

/// 10^0 ..= 10^8: the scale of a run of up to eight digits.
const POWERS_OF_TEN: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// A JSON number's parts: `significand × 10^(exponent − fraction_digits)`.
#[derive(Default)]
struct Decimal {
    negative: bool,
    significand: u64,
    /// More digits than a `u64` holds were given.
    inexact: bool,
    fraction_digits: i32,
    exponent: i32,
}

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl Decimal {
    /// The value when one correctly rounded operation gives it (Clinger's fast path, which
    /// `str::parse` and `serde_json` take too): a significand below 2^53 and a power of ten
    /// up to 10^22 are both exact, so the product or quotient is rounded once. `None` for the
    /// rest, which the caller parses in full.
    fn exact(&self) -> Option<f64> {
        if self.inexact || self.significand >= 1 << 53 {
            return None;
        }
        let power = self.exponent.checked_sub(self.fraction_digits)?;
        let magnitude = *EXACT_POWERS.get(power.unsigned_abs() as usize)?;
        let significand = self.significand as f64;
        let value = if power >= 0 {
            significand * magnitude
        } else {
            significand / magnitude
        };
        Some(if self.negative { -value } else { value })
    }
}

#[cfg(test)]
mod tests {
    use finbeh_data::{ColumnKind, InputColumn, RawValue};
    use proptest::prelude::*;

    use super::{decode_plain_numbers, eight_digits, leading_digits};

    fn numeric(n: usize) -> Vec<InputColumn> {
        (0..n)
            .map(|i| InputColumn {
                name: format!("c{i}"),
                kind: ColumnKind::Numeric,
            })
            .collect()
    }

    /// The values with floats as bits (`-0.0` differs from `0.0`), or `None`.
    fn bits(body: &str, n: usize, max_rows: usize) -> Option<Vec<Option<u64>>> {
        let mut rows = Vec::new();
        decode_plain_numbers(body.as_bytes(), &numeric(n), max_rows, &mut rows)?;
        Some(
            rows.iter()
                .map(|v| match v {
                    RawValue::Number(x) => Some(x.to_bits()),
                    _ => None,
                })
                .collect(),
        )
    }

    /// What `serde_json` (this workspace's build) reads, as the server's other paths do.
    fn serde_bits(body: &str) -> Option<Vec<Option<u64>>> {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        let rows = value.get("data")?.as_array()?;
        let mut out = Vec::new();
        for row in rows {
            for cell in row.as_array()? {
                out.push(match cell {
                    serde_json::Value::Null => None,
                    serde_json::Value::Number(n) => Some(
                        n.as_u64()
                            .map(|u| u as f64)
                            .or_else(|| n.as_i64().map(|i| i as f64))
                            .or_else(|| n.as_f64())?
                            .to_bits(),
                    ),
                    _ => return None,
                });
            }
        }
        Some(out)
    }

    #[test]
    fn plain_bodies_are_read_and_anything_else_is_left_alone() {
        assert_eq!(
            bits(
                " {\"data\" : [ [1, -0, 2.5e-3] ,[null,-0.0,1E2]] } \n",
                3,
                10
            ),
            Some(vec![
                Some(1f64.to_bits()),
                Some((-0f64).to_bits()),
                Some(2.5e-3f64.to_bits()),
                None,
                Some((-0f64).to_bits()),
                Some(100f64.to_bits()),
            ])
        );
        for body in [
            r#"{"data": [[1, 2]]}"#,       // too few cells
            r#"{"data": [[1, 2, 3, 4]]}"#, // too many
            r#"{"data":[[1.25,2.5,3.75,4.0]]}"#,
            r#"{"data":[[1.25,2.5,3.75,]]}"#,
            r#"{"data":[[1.25,,2.5,3.75]]}"#,
            r#"{"data":[[1.25,2.5 ,3.75e]]}"#,
            r#"{"data":[[-,2.5,3.75]]}"#,
            r#"{"data":[[01.5,2.5,3.75]]}"#,
            r#"{"data":[[1.5.5,2.5,3.75]]}"#,
            r#"{"data": []}"#, // no rows
            r#"{"data": [[1, 2, 3]], "x": 1}"#,
            r#"{"d\u0061ta": [[1, 2, 3]]}"#, // escapes: serde's
            r#"{"data": [[1, "2", 3]]}"#,
            r#"{"data": [[1, true, 3]]}"#,
            r#"{"data": [[01, 2, 3]]}"#,
            r#"{"data": [[1., 2, 3]]}"#,
            r#"{"data": [[.5, 2, 3]]}"#,
            r#"{"data": [[+1, 2, 3]]}"#,
            r#"{"data": [[1e, 2, 3]]}"#,
            r#"{"data": [[1, 2, 1e999]]}"#, // out of range
            r#"{"data": [[1, 2, 3]]} x"#,
            r#"{"data": [[1, 2, 3]]"#,
            r#"{"data": [[1, 2, 3], [1, 2, 3], [1, 2, 3]]}"#, // over max_rows = 2
        ] {
            assert_eq!(bits(body, 3, 2), None, "{body}");
        }
    }

    #[test]
    fn digit_runs_are_measured_and_valued_a_word_at_a_time() {
        for byte in 0..=255u8 {
            for at in 0..8 {
                let mut bytes = *b"12345678";
                bytes[at] = byte;
                let expected = if byte.is_ascii_digit() { 8 } else { at };
                assert_eq!(
                    leading_digits(u64::from_le_bytes(bytes)),
                    expected,
                    "{byte:#x} at {at}"
                );
            }
        }
        for (bytes, value) in [
            (*b"12345678", 12_345_678),
            (*b"99999999", 99_999_999),
            (*b"00000000", 0),
            (*b"09080706", 9_080_706),
            // Zero bytes (a shorter run shifted up) are leading zeros.
            ([0, 0, 0, 0, 0, b'0', b'4', b'2'], 42),
            ([0, 0, 0, 0, 0, 0, 0, b'7'], 7),
        ] {
            assert_eq!(eight_digits(u64::from_le_bytes(bytes)), value);
        }
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(|x| format!("{x:?}")),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(|x| format!("{x:e}")),
            any::<i64>().prop_map(|x| x.to_string()),
            any::<u64>().prop_map(|x| x.to_string()),
            (any::<u64>(), 0u32..25, -30i32..30).prop_map(|(m, d, e)| {
                let digits = m.to_string();
                let cut = (d as usize).min(digits.len().saturating_sub(1));
                format!("{}.{}0e{e}", &digits[..=cut], &digits[cut + 1..])
            }),
            "-?(0|[1-9][0-9]{0,30})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?",
            // Around the short form's limits: 7 and 8 digits either side of the point.
            "-?(0|[1-9][0-9]{0,8})(\\.[0-9]{1,9})?",
            any::<f32>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(|x| format!("{x}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn numbers_are_read_exactly_as_serde_json_reads_them(
            cells in prop::collection::vec(number(), 6),
            separators in prop::collection::vec(
                prop_oneof![Just(","), Just(", "), Just(" ,"), Just(" , "), Just(",\n  ")],
                4,
            ),
            row_break in prop_oneof![Just("],["), Just("], ["), Just(" ] , [ ")],
        ) {
            // Two rows of three, separators as compact and as spaced as clients write them.
            let body = format!(
                "{{\"data\":[[{}{}{}{}{}{}{}{}{}{}{}]]}}",
                cells[0], separators[0], cells[1], separators[1], cells[2], row_break,
                cells[3], separators[2], cells[4], separators[3], cells[5],
            );
            let plain = bits(&body, 3, 2);
            // Where the scan reads a body, serde_json reads the same bits; where serde_json
            // refuses one (out of range), the scan leaves it too.
            match serde_bits(&body) {
                Some(expected) => prop_assert_eq!(plain, Some(expected), "{}", body),
                None => prop_assert_eq!(plain, None, "{}", body),
            }
        }
    }
}
