//! The monitor's view of explanations: global importance (mean |contribution| per raw input
//! column) of the training reference and of production, and feature-attribution drift, the
//! NDCG of the production ranking against the training one (Azure ML's signal).

mod importance;
mod log;
mod ndcg;
mod params;

pub(crate) use importance::TrainingImportance;
pub use importance::{
    ATTRIBUTION_REPORT_VERSION, AttributionReport, ColumnImportance, attribution_report,
};
pub use log::{LogDriftWithAttribution, drift_from_log_with_attribution};
pub use ndcg::ndcg;
pub use params::{AttributionParams, AttributionValidParams};
