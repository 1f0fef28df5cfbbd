//! The label-free performance estimate (confidence-based performance estimation, as NannyML's
//! CBPE) from the artifact's calibration.

mod confusion;
mod estimator;
mod params;

pub use confusion::{Confusion, expected_roc_auc, realized_roc_auc};
pub use estimator::{
    DEFAULT_REFERENCE_CHUNKS, MIN_REFERENCE_CHUNKS, MetricEstimate, PERFORMANCE_ESTIMATE_VERSION,
    PerformanceEstimate, PerformanceEstimator, PerformanceMetric, estimate_performance,
};
pub use params::{EstimateParams, EstimateValidParams};
