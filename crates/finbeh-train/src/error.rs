//! The crate's single error type.

/// Everything that can go wrong while training, predicting, evaluating or decoding a forest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
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
    #[error("cannot create the training thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// An error reported by linfa.
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}

/// Result alias for this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
