//! Global importance (mean |contribution| per raw input column) of the training reference and of
//! logged production rows, explained by the artifact's exact TreeSHAP, and the NDCG between the
//! two rankings.

use std::borrow::Cow;
use std::collections::BTreeSet;

use finbeh_data::{ColumnKind, RawValue, Rng, civil_from_days};
use finbeh_train::{ModelArtifact, ModelExplainer};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ndcg::ndcg;
use super::params::AttributionValidParams;
use crate::error::MonitorError;
use crate::log_read::{LoggedInputs, LoggedValues};

/// Version of [`AttributionReport`]'s JSON (inside the report's twin and `monitor drift --json`).
pub const ATTRIBUTION_REPORT_VERSION: u32 = 1;

/// One input column's mean |contribution| on each side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnImportance {
    /// The raw input column.
    pub column: String,
    /// Mean |contribution| over the training rows explained (summed over classes for a
    /// multi-class model).
    pub training: f64,
    /// Mean |contribution| over the production rows explained.
    pub production: f64,
}

/// Global importance of both sides and the feature-attribution-drift verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionReport {
    /// [`ATTRIBUTION_REPORT_VERSION`].
    pub version: u32,
    /// NDCG of the production ranking against the training one; `None` when training gives
    /// every column an importance of 0.
    pub ndcg: Option<f64>,
    /// Drift when `ndcg` is below this.
    pub threshold: f64,
    /// Columns the NDCG sums over (the number of columns when every one is taken).
    pub top_k: usize,
    /// `ndcg < threshold`.
    pub drifted: bool,
    /// The training rows explained: `reference sample` or, for an artifact without one,
    /// `golden set`.
    pub training_sample: String,
    /// Training rows explained.
    pub training_rows: usize,
    /// Production rows explained.
    pub production_rows: usize,
    /// Production rows the period logged (a seeded sample of `production_rows` was explained).
    pub production_rows_logged: usize,
    /// Seed of both samples.
    pub seed: u64,
    /// Per input column, in the model's input order.
    pub columns: Vec<ColumnImportance>,
}

/// Explains a seeded sample of the artifact's reference rows and of `logged`, and compares the
/// rankings.
///
/// # Errors
/// [`MonitorError::Artifact`] with finbeh-train's `NoNodeCover` for an artifact (format before
/// 1.3.0) that cannot be explained, or a row the explainer refuses.
pub fn attribution_report(
    artifact: &ModelArtifact,
    logged: &LoggedInputs,
    params: &AttributionValidParams,
) -> Result<AttributionReport, MonitorError> {
    let explainer = artifact.explainer()?;
    let training = TrainingImportance::new(artifact, &explainer, params)?;
    training.compare(artifact, &explainer, logged, params)
}

/// The training side, computed once and compared with many production windows (the alert
/// metric reuses it).
#[derive(Debug, Clone)]
pub(crate) struct TrainingImportance {
    sample: String,
    rows: usize,
    mean_abs: Vec<f64>,
}

impl TrainingImportance {
    /// Explains a seeded sample of at most `sample_rows` reference rows, or the golden set of
    /// an artifact without a reference sample.
    pub(crate) fn new(
        artifact: &ModelArtifact,
        explainer: &ModelExplainer,
        params: &AttributionValidParams,
    ) -> Result<Self, MonitorError> {
        let outputs = explainer.n_outputs();
        let Some(reference) = artifact.reference_sample() else {
            let global = artifact.global_importance()?;
            return Ok(Self {
                sample: global.sample.to_owned(),
                rows: global.rows,
                mean_abs: per_column(&global.mean_abs, outputs),
            });
        };
        let rows = sample_indices(reference.n_rows(), params.sample_rows(), params.seed());
        let mean_abs = mean_abs(explainer, &rows, |row| {
            Ok(reference
                .row(row)
                .unwrap_or_default()
                .into_iter()
                .map(|cell| cell.map_or(RawValue::Missing, |t| RawValue::Text(t.into())))
                .collect())
        })?;
        Ok(Self {
            sample: "reference sample".to_owned(),
            rows: rows.len(),
            mean_abs: per_column(&mean_abs, outputs),
        })
    }

    /// Explains a seeded sample of `logged` and compares its ranking with this one.
    pub(crate) fn compare(
        &self,
        artifact: &ModelArtifact,
        explainer: &ModelExplainer,
        logged: &LoggedInputs,
        params: &AttributionValidParams,
    ) -> Result<AttributionReport, MonitorError> {
        let columns = artifact.input_columns();
        let rows = sample_indices(logged.rows, params.sample_rows(), params.seed());
        let production = mean_abs(explainer, &rows, |row| {
            Ok(logged
                .columns
                .iter()
                .zip(columns)
                .map(|((_, values), input)| logged_cell(values, input.kind, row))
                .collect())
        })?;
        let production = per_column(&production, explainer.n_outputs());
        let ndcg = ndcg(&self.mean_abs, &production, params.top_k());
        let top_k = match params.top_k() {
            0 => columns.len(),
            k => k.min(columns.len()),
        };
        Ok(AttributionReport {
            version: ATTRIBUTION_REPORT_VERSION,
            ndcg,
            threshold: params.ndcg_threshold(),
            top_k,
            drifted: ndcg.is_some_and(|v| v < params.ndcg_threshold()),
            training_sample: self.sample.clone(),
            training_rows: self.rows,
            production_rows: rows.len(),
            production_rows_logged: logged.rows,
            seed: params.seed(),
            columns: columns
                .iter()
                .zip(self.mean_abs.iter().zip(&production))
                .map(|(input, (&training, &production))| ColumnImportance {
                    column: input.name.clone(),
                    training,
                    production,
                })
                .collect(),
        })
    }
}

/// `min(k, n)` distinct indices below `n`, sorted, drawn with `seed` (Floyd's algorithm: memory
/// in the sample's size, not in `n`).
pub(crate) fn sample_indices(n: usize, k: usize, seed: u64) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut rng = Rng::seed_from_u64(seed);
    let mut chosen = BTreeSet::new();
    for j in n - k..n {
        let t = rng.range_inclusive(0, j);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// Mean |contribution| (`columns × outputs`) over `rows`, each turned into a record by `record`;
/// rows are explained in parallel chunks, the rows of a chunk side by side in the kernel's lanes
/// (each bit-identical to explaining it alone).
fn mean_abs<'r>(
    explainer: &ModelExplainer,
    rows: &[usize],
    record: impl Fn(usize) -> Result<Vec<RawValue<'r>>, MonitorError> + Sync,
) -> Result<Vec<f64>, MonitorError> {
    let width = explainer.n_columns() * explainer.n_outputs();
    let sums = rows
        .par_chunks(64)
        .map(|chunk| {
            let mut records = Vec::with_capacity(chunk.len() * explainer.n_columns());
            for &row in chunk {
                records.extend(record(row)?);
            }
            let mut contributions = Vec::new();
            explainer.explain_records(&records, &mut contributions)?;
            let mut sum = vec![0.0; width];
            for row in contributions.chunks_exact(width.max(1)) {
                for (s, c) in sum.iter_mut().zip(row) {
                    *s += c.abs();
                }
            }
            Ok(sum)
        })
        .collect::<Result<Vec<Vec<f64>>, MonitorError>>()?;
    let mut total = vec![0.0; width];
    for sum in sums {
        for (t, s) in total.iter_mut().zip(sum) {
            *t += s;
        }
    }
    let n = rows.len().max(1) as f64;
    Ok(total.into_iter().map(|t| t / n).collect())
}

/// `columns × outputs` (column-major) summed over outputs: one importance per column.
fn per_column(mean_abs: &[f64], outputs: usize) -> Vec<f64> {
    mean_abs
        .chunks(outputs.max(1))
        .map(|classes| classes.iter().sum())
        .collect()
}

/// A logged cell as the pipeline reads it (dates back to ISO text from their day numbers).
fn logged_cell(values: &LoggedValues, kind: ColumnKind, row: usize) -> RawValue<'_> {
    match values {
        LoggedValues::Numeric(values) => match values.get(row) {
            Some(v) if v.is_finite() && kind == ColumnKind::Date => {
                let days = i32::try_from(*v as i64).unwrap_or(0);
                let (y, m, d) = civil_from_days(days);
                RawValue::Text(Cow::Owned(format!("{y:04}-{m:02}-{d:02}")))
            }
            Some(v) if v.is_finite() => RawValue::Number(*v),
            _ => RawValue::Missing,
        },
        LoggedValues::Boolean(values) => values
            .get(row)
            .copied()
            .flatten()
            .map_or(RawValue::Missing, RawValue::Bool),
        LoggedValues::Categorical { codes, labels } => codes
            .get(row)
            .copied()
            .flatten()
            .and_then(|code| labels.get(code as usize))
            .map_or(RawValue::Missing, |label| {
                RawValue::Text(Cow::Borrowed(label))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::sample_indices;

    #[test]
    fn samples_are_distinct_sorted_seeded_and_bounded() {
        let a = sample_indices(1_000_000, 500, 7);
        assert_eq!(a.len(), 500);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|&i| i < 1_000_000));
        assert_eq!(a, sample_indices(1_000_000, 500, 7));
        assert_ne!(a, sample_indices(1_000_000, 500, 8));
        assert_eq!(sample_indices(3, 10, 1), vec![0, 1, 2]);
    }
}
