//! finbeh-train: a fast histogram random forest on a numeric matrix, honest evaluation
//! (metrics, decision-threshold rules, calibration), cross-validation, a budgeted random
//! search, the training orchestration ([`TrainingJob`]) and the versioned, checksummed model
//! artifact ([`ModelArtifact`], format in `docs/model-format.md`) that re-scores its golden set
//! on every load.
//!
//! Data contract: features are an `ndarray::ArrayView2<f32>` (rows × features, finite; the
//! finbeh-data pipeline imputes), labels are class indices `0..n_classes` (binary: class 1 is the
//! positive class). Multi-class works throughout.
//!
//! - [`RandomForestParams`] → [`linfa::ParamGuard::check`] → [`RandomForestValidParams`] →
//!   [`RandomForest::fit`] (or linfa's [`linfa::traits::Fit`] on a `Dataset`).
//! - [`RandomForest::predict_proba`] (batch, parallel) and [`RandomForest::predict_proba_row`]
//!   (one row, no allocation) give bit-identical probabilities.
//! - [`evaluate`] builds an [`EvaluationReport`]; [`cross_validate`] and [`random_search`] take
//!   the folds as input.
//! - A fitted forest serializes with serde into a compact, versioned form (trees as packed
//!   little-endian bytes; base64 in JSON).
//! - [`TrainingJob::run`] turns a `finbeh_data::LoadedDataset` and `[model]` settings into a
//!   verified [`ModelArtifact`]; [`ModelArtifact::score_record`] is the one scoring path
//!   (raw record → pipeline → forest) used by golden verification, batch prediction and serving;
//!   [`predict_csv`] scores a CSV file into a CSV of predictions (ids carried through).
//! - For monitoring and explanation (format 1.3.0): [`RandomForest::view`] exposes every tree
//!   with its node cover ([`ForestView`]); [`ModelArtifact::reference_sample`] is a seeded
//!   sample of raw training records ([`ReferenceSample`]); [`ModelArtifact::calibration`] the
//!   isotonic map of a binary model's probability ([`IsotonicCalibration`], [`Calibration`]).
//!
//! ```
//! use finbeh_train::{RandomForest, RandomForestParams, ThresholdRule, evaluate};
//! use linfa::ParamGuard;
//! use ndarray::Array2;
//!
//! // Class 1 when feature 0 is above 0.5; feature 1 is noise.
//! let x = Array2::from_shape_fn((400, 2), |(r, c)| ((r * (7 + 13 * c)) % 100) as f32 / 100.0);
//! let y: Vec<usize> = x.column(0).iter().map(|&v| usize::from(v > 0.5)).collect();
//!
//! let params = RandomForestParams::new().n_estimators(20).n_jobs(1).progress(false).check()?;
//! let forest = RandomForest::fit(&params, x.view(), &y)?;
//! let proba = forest.predict_proba(x.view())?;
//! let report = evaluate(&y, proba.view(), ThresholdRule::Fixed { value: 0.5 })?;
//! assert!(report.accuracy > 0.95);
//! assert!(forest.impurity_importances()[0] > forest.impurity_importances()[1]);
//! # Ok::<(), finbeh_train::TrainError>(())
//! ```

#![deny(missing_docs)]

mod artifact;
mod batch;
mod binning;
mod codec;
mod engine;
mod error;
mod forest;
mod importance;
mod job;
mod linfa_impl;
mod metrics;
mod params;
mod search;
mod settings;
mod threshold_wire;
mod tree;
mod verdict;

mod calibration;
mod forest_view;
mod reference;

mod explain;
pub use explain::{
    ColumnContribution, Explanation, GlobalImportance, MAX_EXPLAINED_DEPTH, ModelExplainer,
    TreeShap, mean_abs_contributions,
};

pub use artifact::{
    ARTIFACT_EXTENSION, ARTIFACT_FORMAT_VERSION, ARTIFACT_MAGIC, ArtifactMetadata, ArtifactParts,
    DecisionThreshold, GoldenInput, GoldenKind, GoldenRecord, Importances, ModelArtifact,
    SearchSummary, TrainingSummary, UNSEEN_CATEGORY, WriterInfo, positive_probability_meaning,
    rfc3339_utc,
};
pub use batch::{
    BASE_COLUMN, BatchSummary, PREDICTION_COLUMN, explanation_columns, predict_csv,
    predict_csv_explained, probability_columns,
};
pub use error::{Result, TrainError};
pub use finbeh_config::ThresholdRule;
pub use forest::{FOREST_FORMAT_VERSION, OobScore, RandomForest};
pub use importance::{PermutationImportances, PermutationScoring};
pub use job::{TrainingJob, TrainingOutcome, TrainingRunSummary, golden_inputs};
pub use metrics::{
    BinaryMetrics, CALIBRATION_BINS, CalibrationBin, ConfusionMatrix, EVALUATION_REPORT_VERSION,
    EvaluationReport, LOG_LOSS_EPS, accuracy, average_precision, binary_log_loss, brier_score,
    calibration_table, choose_threshold, evaluate, log_loss, macro_ovr_roc_auc, roc_auc,
    roc_auc_of_proba,
};
pub use params::{
    ClassWeight, Criterion, MaxFeatures, RandomForestParams, RandomForestValidParams,
};
pub use search::{
    CrossValidationReport, Fold, FoldScore, IntRange, RandomSearchParams, RandomSearchValidParams,
    SearchReport, SearchSpace, Trial, cross_validate, random_search,
};
pub use verdict::ONE_CLASS_SHARE;

pub use calibration::{CALIBRATION_FORMAT_VERSION, Calibration, IsotonicCalibration};
pub use forest_view::{ForestView, NodeView, TreeView};
pub use reference::{REFERENCE_SAMPLE_FORMAT_VERSION, ReferenceSample, SampleSource};
