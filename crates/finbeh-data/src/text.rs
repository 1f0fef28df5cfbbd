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
