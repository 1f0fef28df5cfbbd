//! Short excerpts of file content for error messages and reject reasons, with personal-data
//! columns masked: an error must say where and what, never echo a file's contents.

use crate::params::DataValidParams;
use crate::schema::{Role, Schema, pii_name_reason};

/// Characters of a value or record quoted in an error at most.
pub(crate) const EXCERPT_CHARS: usize = 80;
/// What a personal-data value is shown as.
pub(crate) const MASKED: &str = "***";

/// Bytes of a field decoded for an excerpt (4 per character at most in UTF-8, plus a margin).
const PREFIX_BYTES: usize = EXCERPT_CHARS * 4 + 4;

/// `text` cut to [`EXCERPT_CHARS`] characters; a cut is marked with `…` and the full length.
pub(crate) fn excerpt(text: &str, full_bytes: usize) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None if full_bytes <= text.len() => text.to_string(),
        None => format!("{text}… ({full_bytes} bytes)"),
        Some((cut, _)) => format!("{}… ({full_bytes} bytes)", text.get(..cut).unwrap_or("")),
    }
}

fn lossy_prefix(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes.get(..PREFIX_BYTES).unwrap_or(bytes)).into_owned()
}

/// One cell for an error message: masked for personal data, else a short excerpt.
pub(crate) fn cell_excerpt(field: &[u8], masked: bool) -> String {
    if masked {
        MASKED.to_string()
    } else {
        excerpt(lossy_prefix(field).trim(), field.len())
    }
}

/// A whole record for an error message: fields joined by the delimiter, personal data masked,
/// cut to [`EXCERPT_CHARS`] characters.
pub(crate) fn record_excerpt<'a>(
    fields: impl Iterator<Item = &'a [u8]>,
    masked: &[bool],
    delimiter: u8,
) -> String {
    let mut text = String::new();
    let mut full_bytes = 0usize;
    for (i, field) in fields.enumerate() {
        if i > 0 {
            full_bytes = full_bytes.saturating_add(1);
            if text.len() < PREFIX_BYTES {
                text.push(char::from(delimiter));
            }
        }
        let shown = if masked.get(i).copied().unwrap_or(false) {
            MASKED.to_string()
        } else {
            lossy_prefix(field)
        };
        full_bytes = full_bytes.saturating_add(if shown == MASKED {
            MASKED.len()
        } else {
            field.len()
        });
        if text.len() < PREFIX_BYTES {
            text.push_str(&shown);
        }
    }
    excerpt(&text, full_bytes)
}

/// Which columns hold personal data: listed in `data.pii_columns`, named like it, or (once the
/// schema is known) inferred as such. Their values are never quoted in errors, even when
/// `data.include_pii` makes them features.
pub(crate) fn personal_data_mask(
    names: &[String],
    params: &DataValidParams,
    schema: Option<&Schema>,
) -> Vec<bool> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            params.params().pii_columns.contains(name)
                || pii_name_reason(name).is_some()
                || schema
                    .and_then(|s| s.columns.get(i))
                    .is_some_and(|c| c.role == Role::PersonalData)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_and_personal_data_masked() {
        let long = "x".repeat(1_000_000);
        let cell = cell_excerpt(long.as_bytes(), false);
        assert!(cell.chars().count() < EXCERPT_CHARS + 20, "{cell}");
        assert!(cell.ends_with("… (1000000 bytes)"), "{cell}");
        assert_eq!(cell_excerpt(b"ann@example.com", true), MASKED);
        let fields: [&[u8]; 3] = [b"7", b"Ann Lee", b"12.5"];
        assert_eq!(
            record_excerpt(fields.into_iter(), &[false, true, false], b','),
            "7,***,12.5"
        );
    }
}
