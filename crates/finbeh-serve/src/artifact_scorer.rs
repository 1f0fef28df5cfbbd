//! The finbeh model artifact as the server's [`Scorer`], and the [`LoadFn`] that reads it.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use finbeh_data::{DataError, RawValue};
use finbeh_train::{Explanation, ModelArtifact, ModelExplainer, TrainError};
use ndarray::ArrayView2;

use crate::error::RowError;
use crate::explanation::{ExplainBuffer, ExplainRefusal};
use crate::model::{LoadFn, ModelInfo, ScoreBuffer, Scorer};
use crate::request::shorten;

/// A verified [`ModelArtifact`] serving requests: each record goes through the artifact's own
/// feature pipeline and forest. A few rows take [`ModelArtifact::score_record`] (the path the
/// golden set was verified with) with per-thread buffers; larger requests use the forest's
/// batch walk, which gives bit-identical probabilities.
#[derive(Debug)]
pub struct ArtifactScorer {
    artifact: ModelArtifact,
    info: ModelInfo,
    /// The artifact's explainer, or why it has none (no node cover before format 1.3.0).
    explainer: Result<ModelExplainer, String>,
}

/// From this many rows on, a request is scored as a batch: every record through the pipeline
/// into one feature matrix, then the forest's batch walk (several rows per tree visit, about
/// twice as fast per row as one row at a time). Fewer rows take the one-row path, which
/// allocates nothing. Both give bit-identical probabilities (finbeh-train guarantees it; the
/// tests check it).
const BATCH_MIN_ROWS: usize = 8;

/// A feature matrix larger than this (in cells) is released after the request, not kept.
const KEEP_MATRIX_CELLS: usize = 1 << 16;

/// Feature and probability buffers reused by every request on a thread (no allocation per
/// record once warm).
#[derive(Default)]
struct Buffers {
    features: Vec<f32>,
    proba: Vec<f64>,
    matrix: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
    static EXPLANATION: RefCell<Explanation> = RefCell::new(Explanation::default());
}

impl ModelInfo {
    /// What `artifact` tells a server about itself: name, version, columns and classes.
    pub fn of_artifact(artifact: &ModelArtifact) -> Self {
        let metadata = artifact.metadata();
        Self {
            name: metadata.model_name.clone(),
            version: metadata.model_version.clone(),
            input_columns: artifact.input_columns().to_vec(),
            ignored_columns: metadata.ignored_columns.clone(),
            classes: artifact.classes().to_vec(),
            target: metadata.target.clone(),
        }
    }
}

impl ArtifactScorer {
    /// Serves `artifact` (already verified by [`ModelArtifact::read`] or built in memory).
    pub fn new(artifact: ModelArtifact) -> Self {
        let info = ModelInfo::of_artifact(&artifact);
        let explainer = artifact.explainer().map_err(|err| err.to_string());
        Self {
            artifact,
            info,
            explainer,
        }
    }

    /// Reads and verifies an artifact file (magic bytes, SHA-256, format version, golden set).
    ///
    /// # Errors
    /// The [`TrainError`] naming the check that failed.
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        ModelArtifact::read(path).map(Self::new)
    }

    /// The artifact being served.
    pub fn artifact(&self) -> &ModelArtifact {
        &self.artifact
    }

    fn score_rows(
        &self,
        rows: &[RawValue<'_>],
        n_rows: usize,
        out: &mut ScoreBuffer,
        buffers: &mut Buffers,
    ) -> Result<(), RowError> {
        let n_cols = self.info.input_columns.len().max(1);
        // A length mismatch pushes fewer rows, which the server reports as its own fault.
        let records = rows.chunks_exact(n_cols).take(n_rows);
        if n_rows >= BATCH_MIN_ROWS {
            let result = self.score_batch(records, out, &mut buffers.matrix);
            if buffers.matrix.capacity() > KEEP_MATRIX_CELLS {
                buffers.matrix = Vec::new();
            }
            return result;
        }
        buffers.features.resize(self.artifact.n_features(), 0.0);
        buffers.proba.resize(self.info.classes.len(), 0.0);
        for (row, record) in records.enumerate() {
            self.artifact
                .score_record(record, &mut buffers.features, &mut buffers.proba)
                .map_err(|err| self.row_error(row, err))?;
            out.push(self.artifact.predict_class(&buffers.proba), &buffers.proba);
        }
        Ok(())
    }

    fn score_batch<'r>(
        &self,
        records: impl ExactSizeIterator<Item = &'r [RawValue<'r>]>,
        out: &mut ScoreBuffer,
        matrix: &mut Vec<f32>,
    ) -> Result<(), RowError> {
        let n_features = self.artifact.n_features().max(1);
        // Sized by records already decoded, so bounded by the request's own size.
        matrix.clear();
        matrix.resize(records.len().saturating_mul(n_features), 0.0);
        for (row, (record, features)) in
            records.zip(matrix.chunks_exact_mut(n_features)).enumerate()
        {
            self.artifact
                .pipeline()
                .transform_row(record, features)
                .map_err(|err| self.row_error(row, TrainError::Data(err)))?;
        }
        let n_rows = matrix.len() / n_features;
        let x = ArrayView2::from_shape((n_rows, n_features), matrix.as_slice()).map_err(|err| {
            RowError {
                row: None,
                field: None,
                problem: format!("cannot shape the feature matrix: {err}"),
            }
        })?;
        let proba = self.artifact.forest().predict_proba(x).map_err(|err| {
            let row = match &err {
                TrainError::NonFinite { row, .. } => *row,
                _ => 0,
            };
            self.row_error(row, err)
        })?;
        for p in proba.rows() {
            match p.as_slice() {
                Some(p) => out.push(self.artifact.predict_class(p), p),
                None => {
                    let p = p.to_vec();
                    out.push(self.artifact.predict_class(&p), &p);
                }
            }
        }
        Ok(())
    }

    /// Words a scoring failure as the client's problem in one row and field.
    fn row_error(&self, row: usize, err: TrainError) -> RowError {
        match err {
            TrainError::Data(DataError::BadValue {
                column,
                value,
                problem,
            }) => RowError::cell(
                row,
                column,
                format!("{problem} (got `{}`)", shorten(&value)),
            ),
            // Only a JSON number too large for the forest's 32-bit features gets here.
            TrainError::NonFinite { column, .. } => {
                let feature = self
                    .artifact
                    .metadata()
                    .feature_names
                    .get(column)
                    .cloned()
                    .unwrap_or_else(|| format!("feature {column}"));
                RowError::cell(
                    row,
                    feature,
                    "the value is too large for the model (beyond ±3.4e38)",
                )
            }
            other => RowError {
                row: Some(row),
                field: None,
                problem: other.to_string(),
            },
        }
    }
}

impl Scorer for ArtifactScorer {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn score(
        &self,
        rows: &[RawValue<'_>],
        n_rows: usize,
        out: &mut ScoreBuffer,
    ) -> Result<(), RowError> {
        BUFFERS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffers) => self.score_rows(rows, n_rows, out, &mut buffers),
            // Re-entered on this thread (cannot happen today): use fresh buffers.
            Err(_) => self.score_rows(rows, n_rows, out, &mut Buffers::default()),
        })
    }

    /// Exact TreeSHAP per raw input column through the same pipeline as scoring: several rows
    /// side by side in the kernel's lanes ([`ModelExplainer::explain_records`]), one row alone;
    /// both give the same bits for a row.
    fn explain(
        &self,
        rows: &[RawValue<'_>],
        n_rows: usize,
        out: &mut ExplainBuffer,
    ) -> Result<(), ExplainRefusal> {
        let explainer = self
            .explainer
            .as_ref()
            .map_err(|reason| ExplainRefusal::Unavailable(reason.clone()))?;
        EXPLANATION.with(|cell| match cell.try_borrow_mut() {
            Ok(mut explanation) => {
                self.explain_rows(explainer, rows, n_rows, out, &mut explanation)
            }
            Err(_) => self.explain_rows(explainer, rows, n_rows, out, &mut Explanation::default()),
        })
    }
}

impl ArtifactScorer {
    fn explain_rows(
        &self,
        explainer: &ModelExplainer,
        rows: &[RawValue<'_>],
        n_rows: usize,
        out: &mut ExplainBuffer,
        explanation: &mut Explanation,
    ) -> Result<(), ExplainRefusal> {
        let n_cols = self.info.input_columns.len().max(1);
        // A length mismatch explains fewer rows, which the server reports as its own fault.
        let whole = (rows.len() / n_cols).min(n_rows) * n_cols;
        let records = rows.get(..whole).unwrap_or_default();
        let width = explainer.n_columns() * explainer.n_outputs();
        if whole / n_cols >= 2 && width > 0 {
            // Side by side in the kernel's lanes, bit-identical to one record at a time; a row
            // it cannot explain is found (and named) by the one-at-a-time path below.
            let contributions = &mut explanation.contributions;
            if explainer.explain_records(records, contributions).is_ok()
                && contributions.len() == whole / n_cols * width
            {
                for row in contributions.chunks_exact(width) {
                    out.push(explainer.base(), row);
                }
                return Ok(());
            }
        }
        for (row, record) in records.chunks_exact(n_cols).enumerate() {
            explainer
                .explain_record(record, explanation)
                .map_err(|err| ExplainRefusal::Row(self.row_error(row, err)))?;
            out.push(&explanation.base, &explanation.contributions);
        }
        Ok(())
    }
}

/// The [`LoadFn`] for finbeh artifacts: [`ModelArtifact::read`], whose error names the failing
/// check (unreadable file, not an artifact, SHA-256 mismatch, newer format, golden mismatch).
pub fn artifact_loader() -> LoadFn {
    Arc::new(|path: &Path| {
        ArtifactScorer::read(path)
            .map(|scorer| Arc::new(scorer) as Arc<dyn Scorer>)
            .map_err(|err| match err {
                // The path is listed next to the reason already.
                TrainError::ArtifactIo { source, .. } => crate::model::describe_io(&source),
                other => other.to_string(),
            })
    })
}
