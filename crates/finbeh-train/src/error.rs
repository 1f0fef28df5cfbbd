//! The crate's single error type.

/// Everything that can go wrong while training, predicting, evaluating or decoding a forest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The artifact carries no training cover per tree node, which explanations need.
    #[error(
        "this model artifact (format {format_version}) stores no node cover, which explanations \
         need: retrain the model with this finbeh version (artifact format 1.3.0 or later) to \
         explain its predictions"
    )]
    NoNodeCover {
        /// The artifact's format version.
        format_version: String,
    },
    /// A node cover that cannot explain the forest (wrong length, zero, non-finite, too deep).
    #[error("invalid node cover: {reason}")]
    InvalidCover {
        /// What is wrong, naming the tree and node.
        reason: String,
    },
    /// A hyperparameter or setting is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name as spelled in the builder.
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What the value must satisfy.
        reason: &'static str,
    },
    /// A feature value is NaN or infinite.
    #[error(
        "feature matrix row {row}, column {column}: value {value} is not finite (NaN/inf are not allowed; impute first)"
    )]
    NonFinite {
        /// Row index (0-based).
        row: usize,
        /// Column index (0-based).
        column: usize,
        /// The offending value.
        value: f32,
    },
    /// Two inputs that must have the same length do not.
    #[error("length mismatch: {what}: expected {expected}, got {got}")]
    LengthMismatch {
        /// Which inputs disagree.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// An input has no rows (or no columns).
    #[error("empty input: {what}")]
    EmptyInput {
        /// Which input is empty.
        what: &'static str,
    },
    /// A class label is out of the supported range.
    #[error("label at row {row} is {label}: {reason}")]
    InvalidLabel {
        /// Row index (0-based).
        row: usize,
        /// The offending label.
        label: usize,
        /// What labels must satisfy.
        reason: &'static str,
    },
    /// The labels contain fewer than two distinct classes.
    #[error("{what} contains a single class ({class}); at least two classes are needed")]
    SingleClass {
        /// Which input.
        what: &'static str,
        /// The only class present.
        class: usize,
    },
    /// A class has no samples, so a per-class metric is undefined.
    #[error("{what}: class {class} has no samples, so {metric} is undefined")]
    MissingClass {
        /// Which input.
        what: &'static str,
        /// The absent class.
        class: usize,
        /// The metric that needs it.
        metric: &'static str,
    },
    /// A predicted probability or score is not a finite number in [0, 1].
    #[error("{what} at index {index} is {value}: expected a finite value in [0, 1]")]
    InvalidProbability {
        /// Which input.
        what: &'static str,
        /// Index (row) of the offending value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// The model was trained for a different number of features or classes.
    #[error("model expects {expected} {what}, got {got}")]
    ModelShape {
        /// "features" or "classes".
        what: &'static str,
        /// What the model was trained with.
        expected: usize,
        /// What the input has.
        got: usize,
    },
    /// An operation only defined for binary classification was used on a multi-class model/input.
    #[error("{operation} needs a binary (2-class) problem, got {n_classes} classes")]
    NotBinary {
        /// The operation.
        operation: &'static str,
        /// The number of classes present.
        n_classes: usize,
    },
    /// Cross-validation folds are malformed.
    #[error("fold {fold}: {reason}")]
    InvalidFold {
        /// Fold index (0-based).
        fold: usize,
        /// What is wrong.
        reason: String,
    },
    /// The encoded forest bytes are malformed.
    #[error("cannot decode forest: {reason}")]
    Decode {
        /// What is wrong.
        reason: String,
    },
    /// The training thread pool could not be created.
    #[error("cannot create the training thread pool")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// An error reported by linfa.
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
    /// A setting from finbeh-config that cannot be used (only possible for unvalidated settings).
    #[error("setting `{key}` = {value:?}: {reason}")]
    InvalidSetting {
        /// The settings key, e.g. `model.max_features`.
        key: &'static str,
        /// The offending value.
        value: String,
        /// What the value must be.
        reason: String,
    },
    /// The feature pipeline or a data file failed (bad record, bad value, missing column, ...).
    #[error(transparent)]
    Data(#[from] finbeh_data::DataError),
    /// Predictions could not be written (to a file or to stdout).
    #[error("writing predictions to {target}")]
    PredictionsIo {
        /// The output: a file path or `stdout`.
        target: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A column copied into the predictions is listed twice or has a prediction column's name.
    #[error(
        "column `{column}` would be written twice: it is kept twice, or the predictions have a \
         column of that name (keep a different set of columns with --keep)"
    )]
    KeptColumnClash {
        /// The column.
        column: String,
    },
    /// A model artifact file could not be read or written.
    #[error("model artifact {path}")]
    ArtifactIo {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes do not start with the artifact's magic bytes.
    #[error("not a finbeh model artifact: {reason}")]
    NotAnArtifact {
        /// What was found instead.
        reason: String,
    },
    /// The stored SHA-256 does not match the content: the file is corrupt, truncated or modified.
    #[error(
        "model artifact is corrupt or was modified: {reason} (re-copy the file or retrain; never edit an artifact by hand)"
    )]
    ArtifactCorrupt {
        /// What did not match.
        reason: String,
    },
    /// The artifact was written in a newer major format than this build reads.
    #[error(
        "model artifact format {found} (written by {writer}) is newer than this reader: {reader} reads artifact format {supported_major}.x (up to {supported}); upgrade finbeh to a version that reads format {found_major}.x, or retrain with this version"
    )]
    UnsupportedArtifactVersion {
        /// The artifact's `format_version`.
        found: String,
        /// Its major component.
        found_major: u64,
        /// The writing crate and version as recorded in the header, e.g. `finbeh-train 2.0.0`.
        writer: String,
        /// This reader, e.g. `finbeh-train 0.1.0`.
        reader: String,
        /// The major format version this reader supports.
        supported_major: u64,
        /// The newest format version this reader knows.
        supported: &'static str,
    },
    /// The checksum holds but the content is not a valid artifact of a known format.
    #[error("malformed model artifact: {reason}")]
    MalformedArtifact {
        /// What is wrong.
        reason: String,
    },
    /// Re-scoring a golden record did not reproduce the probabilities stored at training time.
    #[error(
        "model artifact refused: golden record {index} ({kind}) does not reproduce its training-time prediction: class {class} expected probability bits {expected} ({expected_value}), got {got} ({got_value}); the scoring code differs from the code that trained the model"
    )]
    GoldenMismatch {
        /// Index of the record in the golden set.
        index: usize,
        /// What kind of record it is (held-out row, all-missing, unseen category).
        kind: String,
        /// Class index whose probability differs.
        class: usize,
        /// Stored f64 bit pattern (16 hex digits).
        expected: String,
        /// Stored value, for humans.
        expected_value: f64,
        /// Recomputed f64 bit pattern (16 hex digits).
        got: String,
        /// Recomputed value.
        got_value: f64,
    },
    /// A golden record could not be scored at all.
    #[error("model artifact refused: golden record {index} ({kind}) cannot be scored: {reason}")]
    GoldenUnscorable {
        /// Index of the record in the golden set.
        index: usize,
        /// What kind of record it is.
        kind: String,
        /// Why scoring failed.
        reason: String,
    },
    /// A training job could not run as configured.
    #[error("training job: {reason}")]
    Job {
        /// What is wrong.
        reason: String,
    },
    /// Isotonic calibration points that are not a monotone map of [0, 1] onto [0, 1].
    #[error("calibration map: {reason}")]
    InvalidCalibration {
        /// Which point breaks which rule.
        reason: String,
    },
    /// A reference sample that does not fit the model (columns, lengths, labels).
    #[error("reference sample: {reason}")]
    InvalidReferenceSample {
        /// What is wrong.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
