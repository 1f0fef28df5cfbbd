//! The crate's one error type.

use std::path::PathBuf;

/// Everything finbeh-monitor can fail with: its settings, the prediction log's stores, and the
/// drift statistics' inputs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// `[monitor]` settings that finbeh-config's rules refuse; every problem is listed.
    #[error(transparent)]
    Settings(#[from] finbeh_config::ConfigError),
    /// A SQLite operation on the prediction log failed.
    #[error("prediction log {}: cannot {action}: {source}", .path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What was being done (`open`, `create the tables`, ...).
        action: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database was written by a build with another table layout.
    #[error(
        "prediction log {}: table layout version {found}, but this build reads version {expected}; \
         move the file aside or point monitor.database_path elsewhere",
        .path.display()
    )]
    SchemaVersion {
        /// The database file.
        path: PathBuf,
        /// The version found in its `meta` table.
        found: String,
        /// The version this build writes and reads.
        expected: u32,
    },
    /// The file is a SQLite database but not a prediction log (a `predictions` table without
    /// a `meta` version).
    #[error(
        "prediction log {}: has a `predictions` table but no layout version in `meta`; it was \
         not written by finbeh",
        .path.display()
    )]
    NotAPredictionLog {
        /// The database file.
        path: PathBuf,
    },
    /// A labels file holds a bad label; nothing of the file was written.
    #[error("{}: line {line}, column {column}: {problem}", .file.display())]
    Labels {
        /// The labels CSV file.
        file: PathBuf,
        /// The line (1 is the header).
        line: u64,
        /// `request_id`, `row`, `label`, or `header` / `labels` for the file's shape.
        column: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A labels file could not be opened.
    #[error("cannot read labels file {}: {source}", .file.display())]
    LabelsFile {
        /// The labels CSV file.
        file: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A labelled-metrics query that cannot be answered (an empty range, a bad step).
    #[error("labelled metrics: {0}")]
    MetricQuery(String),
    /// The writer thread could not be started.
    #[error("cannot start the prediction-log writer thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// The writer thread panicked; its last batch may be lost.
    #[error("the prediction-log writer thread panicked")]
    WriterPanicked,
    /// A statistic was asked about a sample with no values.
    #[error("column {column:?}: the {sample} sample has no values, so drift cannot be measured")]
    EmptySample {
        /// The column.
        column: String,
        /// `reference` or `current`.
        sample: &'static str,
    },
    /// A numeric sample holds NaN or an infinity (nulls are counted before statistics run).
    #[error("column {column:?}: the {sample} sample holds a non-finite value at position {index}")]
    NonFinite {
        /// The column.
        column: String,
        /// `reference` or `current`.
        sample: &'static str,
        /// Position of the value in the sample.
        index: usize,
    },
    /// The reference and current samples of a column hold different kinds of values.
    #[error(
        "column {column:?}: the reference holds {reference:?} values but the current holds {current:?}"
    )]
    KindMismatch {
        /// The column.
        column: String,
        /// Kind in the reference.
        reference: crate::ColumnKind,
        /// Kind in the current data.
        current: crate::ColumnKind,
    },
    /// `monitor drift` without `--reference`: the artifact stores no reference sample yet.
    #[error(
        "{}: the artifact has no reference sample yet; pass --reference CSV (the training file)",
        .model.display()
    )]
    NoReference {
        /// The model artifact.
        model: PathBuf,
    },
    /// The model artifact could not be read.
    #[error(transparent)]
    Artifact(#[from] finbeh_train::TrainError),
    /// A CSV file could not be read with the model's schema.
    #[error(transparent)]
    Data(#[from] finbeh_data::DataError),
    /// A model input column was not read from a CSV file.
    #[error("{}: model input column {column:?} was not read", .file.display())]
    ColumnNotRead {
        /// The CSV file.
        file: PathBuf,
        /// The column.
        column: String,
    },
}
