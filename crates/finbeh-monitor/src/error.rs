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
    /// The label-free estimate needs the artifact's calibration, which this model lacks.
    #[error("model {model:?}: no label-free performance estimate: {reason}")]
    NoCalibration {
        /// The model's name.
        model: String,
        /// Why it has no calibration.
        reason: String,
    },
    /// The calibration's held-out pairs make too few reference chunks for a band.
    #[error(
        "the artifact keeps {pairs} held-out pairs: with monitor.estimate.chunk_rows =          {chunk_rows} that is fewer than {min_chunks} reference chunks; lower chunk_rows (0          splits the pairs in 10) or train with a larger model.reference_sample_rows"
    )]
    ReferenceTooSmall {
        /// Held-out pairs in the artifact.
        pairs: usize,
        /// The configured chunk size (0 = automatic).
        chunk_rows: usize,
        /// Fewest chunks needed.
        min_chunks: usize,
    },
    /// A probability handed to the estimate is not a finite value in [0, 1].
    #[error("{what} at index {index} is {value}: expected a finite value in [0, 1]")]
    InvalidProbability {
        /// Which input.
        what: &'static str,
        /// Its index.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Labels do not line up with the window's rows.
    #[error("{labels} labels for a window of {rows} rows: give one label (or none) per row")]
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Rows in the window.
        rows: usize,
    },
    /// A window without rows has no performance.
    #[error("the window has no scored rows, so there is no performance to estimate")]
    EmptyWindow,
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
    /// The alert state file cannot be read or written.
    #[error("alert state {}: {detail}", .path.display())]
    AlertState {
        /// The state file (`monitor.alerts.state_path`).
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The JSONL alerts file cannot be written.
    #[error("alerts file {}: {source}", .path.display())]
    AlertFile {
        /// The file (`monitor.alerts.jsonl_path`).
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The alert webhook's URL cannot be used.
    #[error("alert webhook {url:?}: {detail}")]
    Webhook {
        /// The URL (`monitor.alerts.webhook_url`).
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// An export file could not be written.
    #[error("export {}: {source}", .path.display())]
    Export {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
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
