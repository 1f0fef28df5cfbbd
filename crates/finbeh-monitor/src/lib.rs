//! Monitoring for finbeh endpoints.
//!
//! Built so far: **drift statistics and data quality** of current data against a reference
//! sample ([`feature_drift`], [`DriftReport`]), as pure functions over values, thresholds from
//! `[monitor.drift]`. Not built yet: the prediction log, live metrics, alerts, ground truth,
//! label-free performance estimation and the HTML report, and reading the reference sample from
//! an artifact or a CSV.
//!
//! ```
//! use finbeh_monitor::{ColumnSample, DriftParams, DriftReport, feature_drift};
//!
//! # fn main() -> Result<(), finbeh_monitor::MonitorError> {
//! let params = DriftParams::default().check()?;
//! let reference: Vec<f64> = (0..500).map(|i| f64::from(i % 50)).collect();
//! let current: Vec<f64> = reference.iter().map(|v| v + 25.0).collect();
//! let feature = feature_drift(
//!     "income",
//!     ColumnSample::Numeric(&reference),
//!     ColumnSample::Numeric(&current),
//!     &params,
//! )?;
//! // 500 reference rows: the KS p-value decides, and a shift by half the range is drift.
//! assert!(feature.drifted);
//! let report = DriftReport::new(vec![feature], &params);
//! assert!(report.dataset_drift);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod drift;
mod error;

pub use drift::{
    BinnedShares, ColumnKind, ColumnSample, DRIFT_REPORT_VERSION, DriftParams, DriftReport,
    DriftValidParams, FeatureDrift, KS_EXACT_MAX_N, KsTest, MIN_REFERENCE_STD, Method, Quality,
    RANGE_BINNING_MIN_DISTINCT, category_bins, category_quality, chi2_p_value, feature_drift,
    fill_empty_bins, jensen_shannon, ks_2samp, numeric_bins, numeric_quality, population_std, psi,
    wasserstein_distance, wasserstein_norm,
};
pub use error::MonitorError;
