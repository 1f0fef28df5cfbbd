//! The crate's one error type.

/// Everything finbeh-monitor can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// `[monitor]` settings that break a rule (the problem names the key).
    #[error(transparent)]
    Settings(#[from] finbeh_config::ConfigError),
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
}
