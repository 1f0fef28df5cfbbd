//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading, validating or transforming data.
///
/// Row numbers in [`DataError::Located`] are 1-based physical line numbers of the file
/// (the header is line 1, the first data record line 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// `[data]` settings break finbeh-config's rules (every problem is listed).
    #[error(transparent)]
    Settings(#[from] finbeh_config::ConfigError),
    /// A `[data]` setting is invalid.
    #[error("setting `data.{field}`: {problem}")]
    InvalidSetting {
        /// The setting's name, without the `data.` prefix.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A setting names a column that the file does not have.
    #[error("setting `data.{field}` names column `{column}`, which is not in {file}")]
    UnknownColumn {
        /// The setting's name.
        field: String,
        /// The column it names.
        column: String,
        /// The data file.
        file: PathBuf,
    },
    /// The file could not be opened or read.
    #[error("cannot read {file}")]
    Io {
        /// The data file.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file has no header or no data records.
    #[error("{file}: {problem}")]
    Empty {
        /// The data file.
        file: PathBuf,
        /// "file is empty" or "header but no data rows".
        problem: String,
    },
    /// The header line is unusable (empty or duplicate column names).
    #[error("{file}: bad header: {problem}")]
    BadHeader {
        /// The data file.
        file: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A problem in one cell (or one record) of the file.
    #[error("{file}, line {row}, column `{column}`: {problem} (value {value:?})")]
    Located {
        /// The data file.
        file: PathBuf,
        /// 1-based physical line number in the file (the header is line 1).
        row: u64,
        /// Column name (`*` when the whole record is at fault, e.g. a ragged row).
        column: String,
        /// The offending value (or record): at most 80 characters, personal data as `***`.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// Input columns of a fitted pipeline are not in a file of records to score.
    #[error("{file} lacks the model's input column(s): {missing}")]
    MissingInputColumns {
        /// The data file.
        file: PathBuf,
        /// The missing column names, comma-separated.
        missing: String,
    },
    /// Columns asked to be copied through (`--keep`) are not in the file.
    #[error("{file} lacks the column(s) to keep: {missing} (columns: {available})")]
    MissingKeptColumns {
        /// The data file.
        file: PathBuf,
        /// The missing column names, comma-separated.
        missing: String,
        /// The file's column names, comma separated.
        available: String,
    },
    /// The target column is not in the file.
    #[error("target column `{target}` is not in {file} (columns: {available})")]
    MissingTarget {
        /// The requested target.
        target: String,
        /// The data file.
        file: PathBuf,
        /// The file's column names, comma separated.
        available: String,
    },
    /// No target was configured.
    #[error("no target column: set `data.target` or pass --target COLUMN")]
    NoTarget,
    /// The target column is unusable as a class label.
    #[error("target `{target}`: {problem}")]
    BadTarget {
        /// The target's name.
        target: String,
        /// What is wrong (single class, too many classes, ...).
        problem: String,
    },
    /// No feature column is left after excluding ids, personal data and ignored columns.
    #[error(
        "no feature columns left after excluding the target, ids, personal data and ignored columns"
    )]
    NoFeatures,
    /// A fit or profile was asked for on an empty row selection.
    #[error("no rows selected to {what}")]
    NoRows {
        /// What the rows were for.
        what: &'static str,
    },
    /// A raw value handed to the fitted pipeline is unusable.
    #[error("column `{column}`: {problem} (value {value:?})")]
    BadValue {
        /// The input column.
        column: String,
        /// The offending value.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// A raw record or output buffer has the wrong length.
    #[error("{what}: expected {expected} values, got {got}")]
    Arity {
        /// Which buffer ("record", "output row").
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The actual length.
        got: usize,
    },
    /// A table does not fit the fitted pipeline (column missing or of another kind).
    #[error("table does not fit the pipeline: {problem}")]
    TableMismatch {
        /// What does not fit.
        problem: String,
    },
    /// A row index is outside the table.
    #[error("row index {row} is out of range for a table of {n_rows} rows")]
    RowOutOfRange {
        /// The requested row.
        row: usize,
        /// The table's row count.
        n_rows: usize,
    },
    /// The reject-file writer failed.
    #[error("{file}: CSV error")]
    Csv {
        /// The file being read or written.
        file: PathBuf,
        /// The underlying error.
        source: csv::Error,
    },
    /// Writing synthetic data failed.
    #[error("cannot write generated data")]
    Generate(#[source] std::io::Error),
    /// A `[data]` TOML table could not be parsed.
    #[error("cannot parse [data] settings")]
    Toml(#[from] toml::de::Error),
    /// JSON serialization of a report or profile failed.
    #[error("JSON serialization failed")]
    Json(#[from] serde_json::Error),
}
