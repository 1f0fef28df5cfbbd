//! Explanations in raw-column terms: the engineered features of one input column (one-hot
//! levels, date parts, missing indicators) summed back to the column the user sent.

use ndarray::{Array2, ArrayView2, Axis, Slice};
use rayon::prelude::*;

use super::forest_shap::TreeShap;
use crate::artifact::{ModelArtifact, json_to_raw};
use crate::error::{Result, TrainError};
use finbeh_data::{FeatureOrigin, FittedPipeline, RawValue, Table};

/// Rows of a table explained per parallel task (the size of the pipeline's batch).
const EXPLAIN_CHUNK: usize = 256;

/// Explains a model's probabilities per raw input column: its fitted pipeline, the forest's
/// [`TreeShap`] and which input column(s) each engineered feature comes from. A date
/// difference (`end − start`) gives half of its contribution to each of its two dates.
#[derive(Debug, Clone)]
pub struct ModelExplainer {
    pipeline: FittedPipeline,
    shap: TreeShap,
    origins: Vec<FeatureOrigin>,
}

/// One row's explanation: per output (binary: the positive class; multi-class: each class),
/// the base value and one contribution per input column, with
/// `base + Σ contributions = the probability served` (within 1e-9).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explanation {
    /// Expected probability over the training cover, per output.
    pub base: Vec<f64>,
    /// `columns × outputs`, column-major: column `c`, output `o` at `c * outputs + o`.
    pub contributions: Vec<f64>,
    features: Vec<f32>,
    feature_shap: Vec<f64>,
}

/// One input column's contribution to one output, for reports sorted by size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnContribution {
    /// Index into the model's input columns.
    pub column: usize,
    /// Its contribution to the probability.
    pub contribution: f64,
}

impl Explanation {
    /// The contributions to output `output`, largest |contribution| first (ties keep the
    /// columns' order).
    pub fn sorted(&self, output: usize) -> Vec<ColumnContribution> {
        let k = self.base.len().max(1);
        let mut out: Vec<ColumnContribution> = self
            .contributions
            .iter()
            .skip(output)
            .step_by(k)
            .enumerate()
            .map(|(column, &contribution)| ColumnContribution {
                column,
                contribution,
            })
            .collect();
        out.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        out
    }
}

impl ModelExplainer {
    /// Pairs a pipeline with the TreeSHAP of the forest it feeds.
    pub fn new(pipeline: FittedPipeline, shap: TreeShap) -> Result<Self> {
        if pipeline.n_features() != shap.n_features() {
            return Err(TrainError::ModelShape {
                what: "pipeline features vs explained forest features",
                expected: shap.n_features(),
                got: pipeline.n_features(),
            });
        }
        let origins = pipeline.feature_origins();
        Ok(Self {
            pipeline,
            shap,
            origins,
        })
    }

    /// Outputs explained: 1 for a binary model (the positive class), else one per class.
    pub fn n_outputs(&self) -> usize {
        self.shap.n_outputs()
    }

    /// Number of raw input columns.
    pub fn n_columns(&self) -> usize {
        self.pipeline.input_columns().len()
    }

    /// The expected probability over the training cover, per output.
    pub fn base(&self) -> &[f64] {
        self.shap.base()
    }

    /// The feature-level explainer.
    pub fn tree_shap(&self) -> &TreeShap {
        &self.shap
    }

    /// Explains one raw record (values in input-column order) into `out`, reusing its buffers.
    /// The same pipeline as scoring turns it into features, so the explanation is of the
    /// probability served.
    pub fn explain_record(&self, record: &[RawValue<'_>], out: &mut Explanation) -> Result<()> {
        let nf = self.shap.n_features();
        out.features.resize(nf, 0.0);
        self.pipeline.transform_row(record, &mut out.features)?;
        out.feature_shap.resize(nf * self.n_outputs(), 0.0);
        self.shap
            .explain_row(&out.features, &mut out.feature_shap)?;
        out.base.clear();
        out.base.extend_from_slice(self.shap.base());
        out.contributions
            .resize(self.n_columns() * self.n_outputs(), 0.0);
        self.to_columns(&out.feature_shap, &mut out.contributions);
        Ok(())
    }

    /// Explains whole records of the input columns, one after another in `records`, into
    /// `contributions` (`rows × columns × outputs`, per row as [`Explanation::contributions`]).
    /// The rows go through the kernel side by side, one lane each, so each row is bit-identical
    /// to [`Self::explain_record`] of the same record at a fraction of its cost per row.
    pub fn explain_records(
        &self,
        records: &[RawValue<'_>],
        contributions: &mut Vec<f64>,
    ) -> Result<()> {
        let n_cols = self.n_columns();
        contributions.clear();
        if n_cols == 0 || records.is_empty() {
            return Ok(());
        }
        if !records.len().is_multiple_of(n_cols) {
            return Err(TrainError::LengthMismatch {
                what: "values vs whole records of the input columns",
                expected: records.len() / n_cols * n_cols,
                got: records.len(),
            });
        }
        let n = records.len() / n_cols;
        let nf = self.shap.n_features();
        let mut features = vec![0.0f32; n * nf];
        for (record, row) in records
            .chunks_exact(n_cols)
            .zip(features.chunks_exact_mut(nf.max(1)))
        {
            self.pipeline.transform_row(record, row)?;
        }
        let x =
            ArrayView2::from_shape((n, nf), &features).map_err(|e| TrainError::Linfa(e.into()))?;
        let phi = self.shap.explain_rows(x)?;
        let width = n_cols * self.n_outputs();
        contributions.resize(n * width, 0.0);
        for (features, columns) in phi.outer_iter().zip(contributions.chunks_exact_mut(width)) {
            if let Some(f) = features.as_slice() {
                self.to_columns(f, columns);
            }
        }
        Ok(())
    }

    /// Explains every row of a table holding the input columns: `rows × (columns · outputs)`
    /// (per row, column-major as [`Explanation::contributions`]), parallel over row chunks,
    /// each row bit-identical to [`Self::explain_record`] of the same record.
    pub fn explain_table(&self, table: &Table) -> Result<Array2<f64>> {
        let n = table.n_rows();
        let width = self.n_columns() * self.n_outputs();
        let mut out = Array2::<f64>::zeros((n, width));
        let starts: Vec<usize> = (0..n).step_by(EXPLAIN_CHUNK).collect();
        let parts: Vec<Array2<f64>> = starts
            .par_iter()
            .map(|&start| {
                let rows: Vec<usize> = (start..n.min(start + EXPLAIN_CHUNK)).collect();
                let x = self.pipeline.transform_table(table, Some(&rows))?;
                let phi = self.shap.explain_rows(x.view())?;
                let mut part = Array2::<f64>::zeros((rows.len(), width));
                for (features, mut columns) in phi.outer_iter().zip(part.outer_iter_mut()) {
                    if let (Some(f), Some(c)) = (features.as_slice(), columns.as_slice_mut()) {
                        self.to_columns(f, c);
                    }
                }
                Ok(part)
            })
            .collect::<Result<_>>()?;
        for (start, part) in starts.iter().zip(&parts) {
            out.slice_axis_mut(Axis(0), Slice::from(*start..*start + part.nrows()))
                .assign(part);
        }
        Ok(out)
    }

    /// Sums feature-level values (`features × outputs`) into columns (`columns × outputs`).
    fn to_columns(&self, feature_shap: &[f64], columns: &mut [f64]) {
        let k = self.n_outputs();
        columns.fill(0.0);
        for (origin, phi) in self.origins.iter().zip(feature_shap.chunks(k)) {
            match *origin {
                FeatureOrigin::Column(c) => {
                    for (o, p) in columns[c * k..c * k + k].iter_mut().zip(phi) {
                        *o += p;
                    }
                }
                FeatureOrigin::DateDifference { start, end } => {
                    for column in [start, end] {
                        for (o, p) in columns[column * k..column * k + k].iter_mut().zip(phi) {
                            *o += 0.5 * p;
                        }
                    }
                }
            }
        }
    }
}

impl ModelArtifact {
    /// The explainer of this model's probabilities: exact TreeSHAP per raw input column, from
    /// the forest's node cover and the artifact's own pipeline (the scoring path).
    ///
    /// # Errors
    /// [`TrainError::NoNodeCover`] for an artifact that stores no node cover (formats before
    /// 1.3.0), [`TrainError::InvalidCover`] for a cover that cannot explain its trees.
    pub fn explainer(&self) -> Result<ModelExplainer> {
        let cover = self
            .forest()
            .node_cover()
            .ok_or_else(|| TrainError::NoNodeCover {
                format_version: self.metadata().format_version.clone(),
            })?;
        let shap = TreeShap::new(self.forest(), cover)?;
        ModelExplainer::new(self.pipeline().clone(), shap)
    }
}

/// Global importance: the mean |contribution| per raw input column over the rows of `table`
/// (`columns × outputs`, column-major). The monitor can call it on production rows and compare
/// the ranking with the training one ([`ModelArtifact::global_importance`]).
pub fn mean_abs_contributions(explainer: &ModelExplainer, table: &Table) -> Result<Vec<f64>> {
    let contributions = explainer.explain_table(table)?;
    let mut mean = MeanAbs::new(contributions.ncols());
    for row in contributions.outer_iter() {
        mean.add(row.iter());
    }
    Ok(mean.finish())
}

/// Mean |contribution| per column and output over a model's own sample.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalImportance {
    /// Which rows: `"reference sample"`, or `"golden set"` for artifacts without one.
    pub sample: &'static str,
    /// How many rows were explained.
    pub rows: usize,
    /// The input columns' names, in input order.
    pub columns: Vec<String>,
    /// `columns × outputs`, column-major (binary: one output, the positive class).
    pub mean_abs: Vec<f64>,
}

impl ModelArtifact {
    /// Global importance: the mean |contribution| per raw input column of the exact
    /// explanations of the artifact's reference sample (format 1.3.0 and later), else of its
    /// golden set.
    ///
    /// # Errors
    /// As [`Self::explainer`], or a stored record the explainer cannot read.
    pub fn global_importance(&self) -> Result<GlobalImportance> {
        let explainer = self.explainer()?;
        let mut explanation = Explanation::default();
        let mut mean = MeanAbs::new(explainer.n_columns() * explainer.n_outputs());
        let mut explain = |record: &[RawValue<'_>]| -> Result<()> {
            explainer.explain_record(record, &mut explanation)?;
            mean.add(explanation.contributions.iter());
            Ok(())
        };
        let (sample, rows) = match self.reference_sample() {
            Some(reference) => {
                for r in 0..reference.n_rows() {
                    let cells = reference.row(r).unwrap_or_default();
                    let record: Vec<RawValue<'_>> = cells
                        .into_iter()
                        .map(|cell| cell.map_or(RawValue::Missing, |t| RawValue::Text(t.into())))
                        .collect();
                    explain(&record)?;
                }
                ("reference sample", reference.n_rows())
            }
            None => {
                let golden = &self.metadata().golden_set;
                for (i, g) in golden.iter().enumerate() {
                    let record = g
                        .record
                        .iter()
                        .map(json_to_raw)
                        .collect::<std::result::Result<Vec<_>, String>>()
                        .map_err(|reason| TrainError::MalformedArtifact {
                            reason: format!("golden record {i}: {reason}"),
                        })?;
                    explain(&record)?;
                }
                ("golden set", golden.len())
            }
        };
        Ok(GlobalImportance {
            sample,
            rows,
            columns: self
                .input_columns()
                .iter()
                .map(|c| c.name.clone())
                .collect(),
            mean_abs: mean.finish(),
        })
    }
}

/// Running mean of absolute values per cell.
struct MeanAbs {
    sum: Vec<f64>,
    rows: usize,
}

impl MeanAbs {
    fn new(width: usize) -> Self {
        Self {
            sum: vec![0.0; width],
            rows: 0,
        }
    }
    fn add<'v>(&mut self, row: impl Iterator<Item = &'v f64>) {
        for (s, v) in self.sum.iter_mut().zip(row) {
            *s += v.abs();
        }
        self.rows += 1;
    }
    fn finish(mut self) -> Vec<f64> {
        let n = self.rows.max(1) as f64;
        for s in &mut self.sum {
            *s /= n;
        }
        self.sum
    }
}
