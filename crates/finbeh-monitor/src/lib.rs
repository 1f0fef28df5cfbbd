//! Monitoring for finbeh endpoints.
//!
//! Built so far, two parts.
//!
//! **The prediction log.** [`PredictionLog`] records every scored request that
//! finbeh-serve hands it (through finbeh-serve's `PredictionSink` hook) in a SQLite database in
//! WAL mode: a bounded channel takes records off the request thread, and a writer thread commits
//! them in batched transactions (every `monitor.batch_interval_ms`, at most [`MAX_BATCH_ROWS`]
//! rows each), applies
//! retention by age and row count, and counts every row it had to drop. The table layout is
//! versioned ([`PREDICTION_LOG_SCHEMA_VERSION`] in the `meta` table). See `docs/monitoring.md`.
//!

//! **Drift statistics and data quality** of current data against a reference
//! sample ([`feature_drift`], [`DriftReport`]), as pure functions over values, thresholds from
//! `[monitor.drift]`; [`drift_from_csv`] reads a reference and a current CSV with a model
//! artifact's schema and reports every input column (the `monitor drift` example).
//!
//! **Ground truth.** Labels arrive later, from a CSV file ([`import_labels`], `monitor labels`)
//! or from the server's `POST /labels` (the log is finbeh-serve's `LabelSink` too), into the
//! log's `labels` table; [`labelled_metrics`] joins them to the logged predictions over a time
//! range and computes accuracy, precision, recall, F1 and ROC AUC, overall and per step.
//!
//! **Not built yet** (issue 10): export, live windows and alerts, prediction drift, a reference
//! sample stored in the artifact, drift over the prediction log, the label-free estimate, the
//! health checker, the report and the other `monitor` subcommands.
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

mod csv_drift;
mod drift;
mod drift_table;
mod error;
mod log_params;
mod log_store;
mod log_writer;
mod prediction_log;

mod label_import;
mod label_metrics;
mod label_store;
mod log_rows;

pub use csv_drift::{CsvDrift, DecidingStatistic, drift_from_csv};
pub use drift::{
    BinnedShares, ColumnKind, ColumnSample, DRIFT_REPORT_VERSION, DriftParams, DriftReport,
    DriftValidParams, FeatureDrift, KS_EXACT_MAX_N, KsTest, MIN_REFERENCE_STD, Method, Quality,
    RANGE_BINNING_MIN_DISTINCT, category_bins, category_quality, chi2_p_value, feature_drift,
    fill_empty_bins, jensen_shannon, ks_2samp, numeric_bins, numeric_quality, population_std, psi,
    wasserstein_distance, wasserstein_norm,
};
pub use error::MonitorError;
pub use log_params::{PredictionLogConfig, PredictionLogParams};
pub use log_store::{LogIdentity, PREDICTION_LOG_SCHEMA_VERSION};
pub use log_writer::MAX_BATCH_ROWS;
pub use prediction_log::{LogTotals, PredictionLog};

pub use label_import::{LabelImport, import_labels};
pub use label_metrics::{
    LABELLED_METRICS_VERSION, LabelQuery, LabelledMetrics, MAX_METRIC_STEPS, Metric, MetricsWindow,
    labelled_metrics,
};
