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
    /// A logged row's inputs are not a JSON object of values.
    #[error("prediction log {}: row id {id}: inputs are not a JSON object of values: {problem}", .path.display())]
    BadLogRow {
        /// The database file.
        path: PathBuf,
        /// The row's `id`.
        id: i64,
        /// The JSON parser's message.
        problem: String,
    },
    /// The period holds no scored row.
    #[error(
        "prediction log {}: no scored row since {since_ms} ms after the epoch; widen --since",
        .path.display()
    )]
    NoLoggedRows {
        /// The database file.
        path: PathBuf,
        /// Start of the period.
        since_ms: i64,
    },
    /// No `--model`, and no artifact found whose name and version are the log's.
    #[error(
        "the log names model {name:?} version {version:?}, but no such artifact was found \
         (tried: {}); pass --model",
        if .tried.is_empty() { "nothing: set serve.model_path or model.output_dir".to_owned() } else { .tried.join("; ") }
    )]
    ModelNotFound {
        /// Model name of the newest logged row.
        name: String,
        /// Its version.
        version: String,
        /// Each artifact looked at, and why it was not taken.
        tried: Vec<String>,
    },
    /// A prediction log to read does not exist (or no file was given).
    #[error("prediction log {}: no such file (is monitor.database_path right?)", .path.display())]
    NoDatabase {
        /// The missing file (empty when none was given).
        path: PathBuf,
    },
    /// A stored minute of `minute_stats` cannot be read back.
    #[error("prediction log {}: minute_stats row of minute {minute_ms} is unreadable: {detail}", .path.display())]
    CorruptMinute {
        /// The database file.
        path: PathBuf,
        /// The minute's start, milliseconds since the Unix epoch.
        minute_ms: i64,
        /// What could not be read.
        detail: String,
    },
    /// A time series would have more points than allowed.
    #[error("a time series of {points} points was asked for; at most {max} (use a longer step)")]
    TooManyPoints {
        /// Points asked for.
        points: usize,
        /// The most allowed.
        max: usize,
    },
    /// A `--since`/`--until` value is neither a duration nor an RFC 3339 time.
    #[error(
        "{value:?}: expected a duration such as 30m, 24h or 7d, or an RFC 3339 UTC time such as 2026-01-31T12:00:00Z"
    )]
    BadTime {
        /// The text given.
        value: String,
    },
    /// A report file could not be written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A chart of the report could not be drawn.
    #[error("report chart {chart}: {problem}")]
    Chart {
        /// Which chart.
        chart: String,
        /// What failed.
        problem: String,
    },
    /// The artifact's reference sample lacks a model input column.
    #[error("the artifact's reference sample has no column {column:?}; pass --reference CSV")]
    SampleColumnMissing {
        /// The column.
        column: String,
    },
}
