//! The finbeh model artifact as the server's [`Scorer`], and the [`LoadFn`] that reads it.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use finbeh_data::{DataError, RawValue};
use finbeh_train::{ModelArtifact, TrainError};

use crate::error::RowError;
use crate::model::{LoadFn, ModelInfo, ScoreBuffer, Scorer};
use crate::request::shorten;

/// A verified [`ModelArtifact`] serving requests: each record goes through the artifact's own
/// feature pipeline and forest ([`ModelArtifact::score_record`], the path its golden set was
/// verified with), so a batch row and the same row alone give bit-identical probabilities.
#[derive(Debug)]
pub struct ArtifactScorer {
    artifact: ModelArtifact,
    info: ModelInfo,
}

/// Feature and probability buffers reused by every request on a thread (no allocation per
/// record once warm).
#[derive(Default)]
struct Buffers {
    features: Vec<f32>,
    proba: Vec<f64>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

impl ArtifactScorer {
    /// Serves `artifact` (already verified by [`ModelArtifact::read`] or built in memory).
    pub fn new(artifact: ModelArtifact) -> Self {
        let metadata = artifact.metadata();
        let info = ModelInfo {
            name: metadata.model_name.clone(),
            version: metadata.model_version.clone(),
            input_columns: artifact.input_columns().to_vec(),
            classes: artifact.classes().to_vec(),
        };
        Self { artifact, info }
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
        buffers.features.resize(self.artifact.n_features(), 0.0);
        buffers.proba.resize(self.info.classes.len(), 0.0);
        // A length mismatch pushes fewer rows, which the server reports as its own fault.
        for (row, record) in rows.chunks_exact(n_cols).take(n_rows).enumerate() {
            self.artifact
                .score_record(record, &mut buffers.features, &mut buffers.proba)
                .map_err(|err| self.row_error(row, err))?;
            out.push(self.artifact.predict_class(&buffers.proba), &buffers.proba);
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
