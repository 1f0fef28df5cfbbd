//! Cell-level text rules shared by CSV ingestion and the fitted pipeline, so that a value read
//! from a file and the same value sent to a server are interpreted identically.

use std::io::Write;

/// Tokens read as a missing value (after trimming), besides the empty cell.
const MISSING_TOKENS: [&str; 8] = ["NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"];

/// True for an empty (after trimming) cell or a conventional missing-value token.
pub fn is_missing(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || MISSING_TOKENS.contains(&t)
}

/// Why a text is not a usable number.
pub const NOT_A_NUMBER: &str = "not a number";

/// Parse plain decimal text (`-12`, `3.5`, `1e-3`); rejects thousands separators and non-finite values.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let first = t.as_bytes().first()?;
    // Rust's parser accepts "inf"/"infinity"/"nan"; only digits, sign or '.' may start a number here.
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// [`parse_number`], also accepting `separator` between groups of three digits of the integer
/// part (`1,234.5` with `Some(',')`; `12,34` is not a number).
pub fn parse_number_with(text: &str, separator: Option<char>) -> Option<f64> {
    let t = text.trim();
    match separator {
        Some(sep) if t.contains(sep) => parse_number(&without_separators(t, sep)?),
        _ => parse_number(t),
    }
}

fn without_separators(t: &str, sep: char) -> Option<String> {
    let unsigned = t.trim_start_matches(['-', '+']);
    let sign = t.get(..t.len() - unsigned.len())?;
    let int_end = unsigned
        .find(|c: char| c != sep && !c.is_ascii_digit())
        .unwrap_or(unsigned.len());
    let (int_part, rest) = unsigned.split_at(int_end);
    if rest.contains(sep) {
        return None;
    }
    let mut groups = int_part.split(sep);
    let first = groups.next()?;
    if first.is_empty() || first.len() > 3 || groups.any(|g| g.len() != 3) {
        return None;
    }
    Some(format!("{sign}{}{rest}", int_part.replace(sep, "")))
}

/// Why a number cannot be a feature: the model's features are 32-bit floats.
pub const TOO_LARGE_FOR_F32: &str =
    "too large for the model's 32-bit float features (the magnitude must be at most 3.4e38)";

/// True when `x` is finite as an `f32` feature (NaN, the missing value, passes).
pub fn fits_f32(x: f64) -> bool {
    x.is_nan() || x.abs() <= f64::from(f32::MAX)
}

/// A boolean spelled `true/false`, `yes/no`, `y/n`, `t/f` (any case) or `1/0`.
pub fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim();
    const TRUE: [&str; 5] = ["true", "yes", "y", "t", "1"];
    const FALSE: [&str; 5] = ["false", "no", "n", "f", "0"];
    if TRUE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// True when the text is a boolean word (not a digit), used by inference.
pub fn is_bool_word(text: &str) -> bool {
    let t = text.trim();
    t != "1" && t != "0" && parse_bool(t).is_some()
}

/// Canonical text of a number, used to match JSON numbers against categories:
/// integers below 1e15 print without a fraction (`2`), others in Rust's shortest round-trip form
/// (`2.5`, `1e300`).
/// Writes into `buf` without allocating and returns the used part.
pub fn canonical_number(value: f64, buf: &mut [u8; 40]) -> &str {
    let len = {
        let mut cursor: &mut [u8] = &mut buf[..];
        let before = cursor.len();
        let written = if value.fract() == 0.0 && value.abs() < 1e15 {
            write!(cursor, "{}", value as i64)
        } else {
            // Debug switches to exponent form for very large/small values, so 40 bytes always suffice.
            write!(cursor, "{value:?}")
        };
        // 40 bytes hold any i64 and any shortest f64; on failure report an empty string.
        if written.is_err() {
            0
        } else {
            before - cursor.len()
        }
    };
    std::str::from_utf8(&buf[..len]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number(" 12.5 "), Some(12.5));
        assert_eq!(parse_number("-3"), Some(-3.0));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number("1,234"), None);
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("1e400"), None);
        assert_eq!(parse_number("abc"), None);
    }

    #[test]
    fn thousands_separators_and_f32_range() {
        assert_eq!(parse_number_with("1,234.5", Some(',')), Some(1234.5));
        assert_eq!(
            parse_number_with("-12,345,678", Some(',')),
            Some(-12_345_678.0)
        );
        assert_eq!(parse_number_with("1 234", Some(' ')), Some(1234.0));
        assert_eq!(parse_number_with("1,234.5", None), None);
        for bad in ["12,34", ",123", "1,2345", "1,234.5,6", "1,,234"] {
            assert_eq!(parse_number_with(bad, Some(',')), None, "{bad}");
        }
        assert!(fits_f32(3.0e38) && fits_f32(-3.0e38) && fits_f32(f64::NAN));
        assert!(!fits_f32(1e39) && !fits_f32(-1e308));
    }

    #[test]
    fn canonical_text() {
        let mut buf = [0u8; 40];
        assert_eq!(canonical_number(2.0, &mut buf), "2");
        assert_eq!(canonical_number(-7.0, &mut buf), "-7");
        assert_eq!(canonical_number(2.5, &mut buf), "2.5");
        assert_eq!(
            canonical_number(1e300, &mut buf).parse::<f64>().unwrap(),
            1e300
        );
    }

    #[test]
    fn missing_and_bools() {
        assert!(is_missing("  "));
        assert!(is_missing("NA"));
        assert!(!is_missing("0"));
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert!(!is_bool_word("1"));
        assert!(is_bool_word("FALSE"));
    }
}
