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
            for column in 0..n_cols {
                if column > 0 {
                    self.expect(b",")?;
                }
                rows.push(self.cell()?);
            }
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

    fn cell(&mut self) -> Option<RawValue<'static>> {
        self.skip_whitespace();
        if self.body.get(self.at..self.at + 4) == Some(b"null") {
            self.at += 4;
            return Some(RawValue::Missing);
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

    fn peek(&self) -> Option<u8> {
        self.body.get(self.at).copied()
    }
}

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

    use super::decode_plain_numbers;

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
            r#"{"data": []}"#,             // no rows
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
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn numbers_are_read_exactly_as_serde_json_reads_them(
            cells in prop::collection::vec(number(), 3),
        ) {
            let body = format!("{{\"data\": [[{}]]}}", cells.join(", "));
            let plain = bits(&body, 3, 1);
            // Where the scan reads a body, serde_json reads the same bits; where serde_json
            // refuses one (out of range), the scan leaves it too.
            match serde_bits(&body) {
                Some(expected) => prop_assert_eq!(plain, Some(expected), "{}", body),
                None => prop_assert_eq!(plain, None, "{}", body),
            }
        }
    }
}
