//! The all-numeric shortcut of [`crate::FittedPipeline::transform_row`]: when every input
//! column is numeric and no date difference is derived, a record whose cells are all finite
//! numbers or missing becomes its feature row with one tight loop and no per-cell error
//! plumbing. Anything else (text, booleans, non-finite or too-large numbers) is left to the
//! general path, which gives the same features or names the bad cell.

use crate::pipeline::{Out, Step, emit_numeric};
use crate::raw::RawValue;
use crate::text::fits_f32;

/// The shortcut's view of an all-numeric pipeline: per input column, its fitted median and
/// whether it has a missing indicator, copied once from the `Numeric` steps so that a row reads
/// a compact array instead of matching every step (measured: matching the steps per cell cost
/// ~19k more instructions per 100-row request).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NumericRows {
    columns: Box<[NumericColumn]>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct NumericColumn {
    median: f64,
    indicator: bool,
}

impl NumericRows {
    /// The shortcut for `steps` when every one is numeric, else `None`.
    pub(crate) fn plan(steps: &[Step]) -> Option<Self> {
        let columns = steps
            .iter()
            .map(|step| match step {
                Step::Numeric { median, indicator } => Some(NumericColumn {
                    median: *median,
                    indicator: *indicator,
                }),
                _ => None,
            })
            .collect::<Option<Box<[_]>>>()?;
        Some(Self { columns })
    }

    /// Writes the features of `row` (already checked to have one cell per column) into `out`
    /// (already checked to be the feature width) through the general path's own emission, and
    /// returns true; or returns false as soon as a cell needs the general path (`out` then holds
    /// partial features, which the general path overwrites).
    #[inline]
    pub(crate) fn transform(&self, row: &[RawValue<'_>], out: &mut [f32]) -> bool {
        let mut features = Out::new(out);
        for (column, cell) in self.columns.iter().zip(row) {
            // The cells `raw_number` takes without parsing or an error, as it reads them.
            let x = match cell {
                RawValue::Number(x) if x.is_finite() && fits_f32(*x) => *x,
                RawValue::Missing => f64::NAN,
                _ => return false,
            };
            emit_numeric(x, column.median, column.indicator, &mut features);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::borrow::Cow;

    use proptest::prelude::*;

    use crate::{FittedPipeline, RawValue};

    /// Three numeric columns, the middle one with a missing indicator: 4 features.
    fn numeric_pipeline() -> FittedPipeline {
        serde_json::from_str(
            r#"{"format_version": 1,
                "input_columns": [{"name": "a", "kind": "numeric"}, {"name": "b", "kind": "numeric"},
                                  {"name": "c", "kind": "numeric"}],
                "steps": [{"step": "numeric", "median": 0.1, "indicator": false},
                          {"step": "numeric", "median": -2.5e10, "indicator": true},
                          {"step": "numeric", "median": 3.0, "indicator": false}],
                "date_differences": [], "reference_day": 0,
                "feature_names": ["a", "b", "b__missing", "c"]}"#,
        )
        .unwrap()
    }

    fn cell() -> impl Strategy<Value = RawValue<'static>> {
        prop_oneof![
            4 => any::<f64>().prop_map(RawValue::Number),
            2 => (-1e6f64..1e6).prop_map(RawValue::Number),
            1 => prop_oneof![
                Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-0.0),
                Just(f64::from(f32::MAX)), Just(f64::from(f32::MAX).next_up()), Just(1e-50),
            ].prop_map(RawValue::Number),
            2 => Just(RawValue::Missing),
            1 => any::<bool>().prop_map(RawValue::Bool),
            1 => prop_oneof![Just("4.25"), Just(""), Just("NA"), Just("x"), Just("1e40")]
                .prop_map(|t| RawValue::Text(Cow::Borrowed(t))),
        ]
    }

    proptest! {
        /// The shortcut gives the general path's features bit for bit, and leaves every row it
        /// does not take to the general path's answer (features or the same error).
        #[test]
        fn shortcut_equals_the_general_path(row in proptest::collection::vec(cell(), 3)) {
            let pipeline = numeric_pipeline();
            let mut general = [f32::NAN; 4];
            let expected = pipeline.transform_cells(&row, &mut general);
            let mut out = [f32::NAN; 4];
            let got = pipeline.transform_row(&row, &mut out);
            prop_assert_eq!(format!("{got:?}"), format!("{expected:?}"));
            if expected.is_ok() {
                prop_assert_eq!(out.map(f32::to_bits), general.map(f32::to_bits));
            }
        }
    }

    #[test]
    fn shortcut_applies_to_plain_numbers_and_missing_cells_only() {
        let pipeline = numeric_pipeline();
        let shortcut = pipeline.numeric_rows().unwrap();
        let mut out = [f32::NAN; 4];
        let plain = [
            RawValue::Number(1.5),
            RawValue::Missing,
            RawValue::Number(-0.0),
        ];
        assert!(shortcut.transform(&plain, &mut out));
        assert_eq!(
            out.map(f32::to_bits),
            [1.5f32, -2.5e10, 1.0, -0.0].map(f32::to_bits)
        );
        for odd in [
            RawValue::Number(f64::NAN),
            RawValue::Number(1e39),
            RawValue::Bool(true),
            RawValue::Text(Cow::Borrowed("2")),
        ] {
            let row = [RawValue::Number(1.0), odd.clone(), RawValue::Number(1.0)];
            assert!(!shortcut.transform(&row, &mut out), "{odd:?}");
        }
    }

    #[test]
    fn no_shortcut_for_a_pipeline_with_other_kinds() {
        let mixed: FittedPipeline = serde_json::from_str(
            r#"{"format_version": 1,
                "input_columns": [{"name": "a", "kind": "numeric"}, {"name": "b", "kind": "boolean"}],
                "steps": [{"step": "numeric", "median": 0.1, "indicator": false},
                          {"step": "boolean", "mode": true, "indicator": false}],
                "date_differences": [], "reference_day": 0, "feature_names": ["a", "b"]}"#,
        )
        .unwrap();
        assert!(mixed.numeric_rows().is_none());
        assert!(numeric_pipeline().numeric_rows().is_some());
    }
}
