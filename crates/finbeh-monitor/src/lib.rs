//! Monitoring for finbeh endpoints.
//!
//! Built so far:
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
//! [`drift_from_log`] reads a period's logged inputs back ([`read_logged_inputs`]) and compares
//! them with a reference CSV or, failing that, the artifact's binned training profile
//! ([`profile_feature_drift`]), with prediction drift and the type-error rate.
//!
//! **Ground truth.** Labels arrive later, from a CSV file ([`import_labels`], `monitor labels`)
//! or from the server's `POST /labels` (the log is finbeh-serve's `LabelSink` too), into the
//! log's `labels` table; [`labelled_metrics`] joins them to the logged predictions over a time
//! range and computes accuracy, precision, recall, F1 and ROC AUC, overall and per step.
//!
//! **The label-free performance estimate** ([`PerformanceEstimator`], NannyML's CBPE): accuracy,
//! precision, recall, F1 and ROC AUC of a binary model expected from its served probabilities
//! through the artifact's isotonic calibration, against a band from the artifact's held-out
//! pairs, with the realized values where labels exist.
//!
//! **Live metrics.** The writer keeps per-minute aggregates with HDR latency histograms in the
//! same database (`minute_stats`); [`MetricsReader`] merges them, across several replicas'
//! databases too, into rolling windows ([`STANDARD_WINDOWS`]: 1 min, 5 min, 1 h, 24 h) and time
//! series of [`WindowStats`].
//!
//! **Alerts.** [`AlertEvaluator`] evaluates `[monitor.alerts]` rules over the windows (pending,
//! firing after `for`, deduplicated, resolved, cool-down; state kept in a file), and
//! [`AlertSinks`] hands events to the log, a JSONL file and an Alertmanager webhook;
//! [`prometheus_rules`] writes the same rules for Prometheus. [`export_log`] writes the log as
//! JSONL, CSV or Azure ML's data-collector layout.
//!
//! **The health checker**, [`check_health`]: liveness, readiness, `/swagger.json` and one
//! scored golden record of a finbeh server or an Azure ML scoring URI, each timed.
//!
//! **The report**, [`build_report`] → [`MonitorReport::write`]: one self-contained HTML page
//! with SVG charts (`plotters`) and its versioned JSON twin.
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

mod estimate;
mod log_drift;
mod log_read;
mod profile_drift;

mod batch_log;
mod health;
mod report;

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

pub use estimate::{
    Confusion, DEFAULT_REFERENCE_CHUNKS, EstimateParams, EstimateValidParams, MIN_REFERENCE_CHUNKS,
    MetricEstimate, PERFORMANCE_ESTIMATE_VERSION, PerformanceEstimate, PerformanceEstimator,
    PerformanceMetric, estimate_performance, expected_roc_auc, realized_roc_auc,
};
pub use label_import::{LabelImport, import_labels};
pub use label_metrics::{
    LABELLED_METRICS_VERSION, LabelQuery, LabelledMetrics, MAX_METRIC_STEPS, Metric, MetricsWindow,
    labelled_metrics,
};
pub use log_drift::{
    LogDriftInput, LogDriftReport, ModelUsed, PREDICTION_COLUMN, ReferenceSource, ReferenceUsed,
    choose_model, drift_from_log,
};
pub use log_read::{
    LogPeriod, LoggedInputs, LoggedValues, REFUSED_INPUT_CODE, logged_model, read_logged_inputs,
};
pub use profile_drift::profile_feature_drift;

pub use batch_log::{BATCH_LOG_ROWS_PER_REQUEST, log_batch_scores};
pub use health::{
    GoldenRecord, HEALTH_REPORT_VERSION, HealthReport, HealthTarget, Probe, Verdict, check_health,
};
pub use report::{
    AlertTimeline, FiringInterval, LeftOut, MAX_REPORT_POINTS, MONITOR_REPORT_VERSION,
    MonitorReport, PerformancePoint, PerformanceSection, PerformanceSeries,
    REPORT_PERFORMANCE_METRICS, ReportInput, ReportSummary, RuleTimeline, SCORE_BINS,
    ScoreDistribution, SeriesPoint, build_report,
};

mod time_spec;
mod windows;

mod export;
pub use export::{
    ExportFormat, ExportRequest, ExportSummary, MAX_CSV_INPUT_COLUMNS, azure_source_prefix,
    export_log,
};

mod alerts;
pub use alerts::{
    ALERT_STATE_VERSION, AlertEvaluator, AlertEvent, AlertLoop, AlertParams, AlertSinks,
    AlertStatus, AlertValidParams, Evaluation, RulePhase, RuleStatus, Webhook, WebhookAlert,
    WebhookPayload, WebhookTotals, WindowSource, metric_name, metric_value, prometheus_rules,
    rfc3339, severity_name,
};
pub use time_spec::{now_ms, parse_since};
pub use windows::{
    Aggregate, LATENCY_HIGHEST_US, LATENCY_SIGNIFICANT_DIGITS, LatencySummary, MAX_SERIES_POINTS,
    MINUTE_MS, MetricsReader, MinuteKey, STANDARD_WINDOWS, TrafficFilter, WindowStats, minute_of,
};

mod recent_errors;
pub use recent_errors::{LoggedError, MAX_RECENT_ERRORS, recent_errors};
