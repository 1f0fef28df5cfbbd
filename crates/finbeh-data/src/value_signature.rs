//! The leakage signature of a column recorded after the outcome: one value (often 0 or empty)
//! that covers most of one class and almost none of the others.
//!
//! Only a value held by more than half of a class can qualify (the class share must exceed
//! 0.5), so each class has at most one candidate, its majority value, found in one pass
//! (Boyer–Moore vote) without a hash map. Ordinary skewed features (sparse counts, amounts with
//! many zeros) do not fire: their common value is common in every class.

use crate::date::format_iso;
use crate::table::{Column, MISSING_BOOL, MISSING_CODE, MISSING_DAY};

/// Classes with fewer rows (or fewer rows outside them) are not judged: "almost none of the
/// other class" means nothing in a handful of rows.
pub(crate) const SIGNATURE_MIN_CLASS_ROWS: usize = 30;

/// Key of a missing cell; no present value maps to it (NaN is missing, codes are below it).
const MISSING_KEY: u64 = u64::MAX;

/// A value that covers most of one class and almost none of the others.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SignatureHit {
    /// The value as text (`empty` for a missing cell).
    pub value: String,
    /// Class index the value covers.
    pub class: usize,
    /// Rows of that class.
    pub class_rows: usize,
    /// Rows of that class holding the value.
    pub class_hits: usize,
    /// Rows of the other classes.
    pub other_rows: usize,
    /// Rows of the other classes holding the value.
    pub other_hits: usize,
}

impl SignatureHit {
    /// Share of the class holding the value.
    pub fn class_share(&self) -> f64 {
        self.class_hits as f64 / self.class_rows as f64
    }
    /// Share of the other classes holding the value.
    pub fn other_share(&self) -> f64 {
        self.other_hits as f64 / self.other_rows as f64
    }
}

/// One comparable key per row of `rows`; `None` for a column that is not stored.
fn value_keys(column: &Column, rows: &[usize]) -> Option<Vec<u64>> {
    let keys = match column {
        Column::Numeric(v) => rows
            .iter()
            .map(|&r| match v.get(r).copied() {
                Some(x) if !x.is_nan() => (x + 0.0).to_bits(), // -0.0 and 0.0 are one value
                _ => MISSING_KEY,
            })
            .collect(),
        Column::Categorical { codes, .. } => rows
            .iter()
            .map(|&r| match codes.get(r).copied().unwrap_or(MISSING_CODE) {
                MISSING_CODE => MISSING_KEY,
                code => u64::from(code),
            })
            .collect(),
        Column::Boolean(v) => rows
            .iter()
            .map(|&r| match v.get(r).copied().unwrap_or(MISSING_BOOL) {
                MISSING_BOOL => MISSING_KEY,
                b => u64::from(b),
            })
            .collect(),
        Column::Date(v) => rows
            .iter()
            .map(|&r| match v.get(r).copied().unwrap_or(MISSING_DAY) {
                MISSING_DAY => MISSING_KEY,
                day => u64::from(day.cast_unsigned()),
            })
            .collect(),
        Column::Skipped => return None,
    };
    Some(keys)
}

fn describe(column: &Column, key: u64) -> String {
    if key == MISSING_KEY {
        return "empty".into();
    }
    match column {
        Column::Numeric(_) => f64::from_bits(key).to_string(),
        Column::Categorical { labels, .. } => usize::try_from(key)
            .ok()
            .and_then(|k| labels.get(k))
            .map_or_else(|| key.to_string(), |l| format!("{l:?}")),
        Column::Boolean(_) => (key == 1).to_string(),
        Column::Date(_) => u32::try_from(key)
            .map(|d| format_iso(d.cast_signed()))
            .unwrap_or_default(),
        Column::Skipped => String::new(),
    }
}

/// The strongest signature of `column` over `rows` (labels `y` indexed by row), if any value
/// covers at least `class_share` (> 0.5) of a class and at most `other_share` of the rest.
pub(crate) fn value_signature(
    column: &Column,
    rows: &[usize],
    y: &[usize],
    n_classes: usize,
    class_share: f64,
    other_share: f64,
) -> Option<SignatureHit> {
    let keys = value_keys(column, rows)?;
    let labels: Vec<usize> = rows
        .iter()
        .map(|&r| y.get(r).copied().unwrap_or(usize::MAX))
        .collect();
    let mut class_rows = vec![0usize; n_classes];
    // Boyer–Moore majority vote per class: (candidate, votes).
    let mut vote = vec![(MISSING_KEY, 0usize); n_classes];
    for (&key, &c) in keys.iter().zip(&labels) {
        if let (Some(n), Some((candidate, votes))) = (class_rows.get_mut(c), vote.get_mut(c)) {
            *n += 1;
            if *votes == 0 {
                *candidate = key;
                *votes = 1;
            } else if *candidate == key {
                *votes += 1;
            } else {
                *votes -= 1;
            }
        }
    }
    let total: usize = class_rows.iter().sum();
    let mut best: Option<SignatureHit> = None;
    for (class, (&(candidate, _), &rows_in_class)) in vote.iter().zip(&class_rows).enumerate() {
        let other_rows = total - rows_in_class;
        if rows_in_class < SIGNATURE_MIN_CLASS_ROWS || other_rows < SIGNATURE_MIN_CLASS_ROWS {
            continue;
        }
        let (mut class_hits, mut other_hits) = (0, 0);
        for (&key, &c) in keys.iter().zip(&labels) {
            if key == candidate && c < n_classes {
                if c == class {
                    class_hits += 1;
                } else {
                    other_hits += 1;
                }
            }
        }
        let hit = SignatureHit {
            value: describe(column, candidate),
            class,
            class_rows: rows_in_class,
            class_hits,
            other_rows,
            other_hits,
        };
        let margin = |h: &SignatureHit| h.class_share() - h.other_share();
        if hit.class_share() >= class_share
            && hit.other_share() <= other_share
            && best.as_ref().is_none_or(|b| margin(&hit) > margin(b))
        {
            best = Some(hit);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(n: usize) -> Vec<usize> {
        (0..n).collect()
    }

    #[test]
    fn zero_for_one_class_only_is_found_with_its_shares() {
        // Class 0: always 0 (100 rows). Class 1: spending 1..=100, and 0 in 3 of 100 rows.
        let mut values = vec![0.0; 100];
        values.extend((1..=100).map(|i| if i % 33 == 0 { 0.0 } else { f64::from(i) }));
        let y: Vec<usize> = (0..200).map(|r| usize::from(r >= 100)).collect();
        let hit = value_signature(&Column::Numeric(values), &all(200), &y, 2, 0.8, 0.05).unwrap();
        assert_eq!(
            (
                hit.value.as_str(),
                hit.class,
                hit.class_hits,
                hit.other_hits
            ),
            ("0", 0, 100, 3)
        );
    }

    #[test]
    fn empty_cells_count_as_a_value() {
        let mut values = vec![f64::NAN; 90];
        values.extend((0..90).map(f64::from));
        let y: Vec<usize> = (0..180).map(|r| usize::from(r < 90)).collect();
        let hit = value_signature(&Column::Numeric(values), &all(180), &y, 2, 0.8, 0.05).unwrap();
        assert_eq!((hit.value.as_str(), hit.class), ("empty", 1));
    }

    #[test]
    fn a_value_common_in_both_classes_or_in_tiny_classes_does_not_fire() {
        // 0 in 90 % of class 0 and 20 % of class 1: a strong but ordinary feature.
        let values: Vec<f64> = (0..400)
            .map(|r| match r {
                0..200 if r % 10 == 0 => 5.0,
                0..200 => 0.0,
                _ if r % 5 == 0 => 0.0,
                _ => f64::from(r),
            })
            .collect();
        let y: Vec<usize> = (0..400).map(|r| usize::from(r >= 200)).collect();
        let column = Column::Numeric(values);
        assert_eq!(value_signature(&column, &all(400), &y, 2, 0.8, 0.05), None);
        // The same pattern as the first test, but only 20 rows in the other class.
        let values: Vec<f64> = (0..120).map(|r| if r < 100 { 0.0 } else { 1.0 }).collect();
        let y: Vec<usize> = (0..120).map(|r| usize::from(r >= 100)).collect();
        let column = Column::Numeric(values);
        assert_eq!(value_signature(&column, &all(120), &y, 2, 0.8, 0.05), None);
    }
}
