//! The crate's error enum and the per-row problem report a client receives.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Everything that can go wrong while configuring, loading or running the server.
///
/// A client's bad request is never a `ServeError`: it is answered with a 4xx JSON error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// `[serve]` settings that finbeh-config's rules refuse; every problem is listed.
    #[error(transparent)]
    Settings(#[from] finbeh_config::ConfigError),
    /// A server setting does not fit this process (such as the open-file limit).
    #[error("invalid server setting `serve.{setting}`: {problem}")]
    InvalidSetting {
        /// The setting's name, as in the configuration file (`serve.<setting>`).
        setting: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// [`AppState::set_prediction_sink`](crate::AppState::set_prediction_sink) was called twice.
    #[error("a prediction sink is already attached to this server; only one can be")]
    PredictionSinkAlreadySet,
    /// [`AppState::set_label_sink`](crate::AppState::set_label_sink) was called twice.
    #[error("a label sink is already attached to this server; only one can be")]
    LabelSinkAlreadySet,
    /// A [`LabelSink`](crate::LabelSink) cannot take labels now (answered 503 to the client).
    #[error("labels cannot be stored now: {0}")]
    LabelsUnavailable(String),
    /// Neither an explicit model path nor `AZUREML_MODEL_DIR` was given.
    #[error(
        "no model to load: pass --model PATH or set AZUREML_MODEL_DIR to a directory holding a .{} artifact",
        finbeh_train::ARTIFACT_EXTENSION
    )]
    NoModelSource,
    /// No candidate path produced a model; each attempt is listed with its reason.
    #[error("no model could be loaded; tried:{}", TriedList(.tried))]
    NoModelLoaded {
        /// Every path tried, in order, with why it failed.
        tried: Vec<TriedPath>,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// The `host:port` that was asked for.
        address: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Any other I/O failure while serving (runtime start, signal handlers, accept loop).
    #[error("server I/O error")]
    Io(#[from] std::io::Error),
}

/// One path tried while looking for a model, and why it did not load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriedPath {
    /// The file or directory that was tried.
    pub path: PathBuf,
    /// Why it produced no model.
    pub reason: String,
}

impl fmt::Display for TriedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

struct TriedList<'a>(&'a [TriedPath]);

impl fmt::Display for TriedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(" (nothing)");
        }
        for tried in self.0 {
            write!(f, "\n  - {tried}")?;
        }
        Ok(())
    }
}

/// A problem with one value of a client's request: which row, which field, what is wrong.
///
/// Returned by [`Scorer::score`](crate::Scorer::score) for values the model cannot read, and
/// listed in the `details` of every 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Zero-based row of the request, when the problem belongs to one row.
    pub row: Option<usize>,
    /// Column (or top-level key) concerned, when there is one.
    pub field: Option<String>,
    /// What is wrong, in words a client can act on.
    pub problem: String,
}

impl RowError {
    /// A problem in one cell (`row`, `field`).
    pub fn cell(row: usize, field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            row: Some(row),
            field: Some(field.into()),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.row, &self.field) {
            (Some(row), Some(field)) => write!(f, "row {row}, field `{field}`: ")?,
            (Some(row), None) => write!(f, "row {row}: ")?,
            (None, Some(field)) => write!(f, "field `{field}`: ")?,
            (None, None) => {}
        }
        f.write_str(&self.problem)
    }
}

impl std::error::Error for RowError {}
