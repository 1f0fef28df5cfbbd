//! Monitoring for finbeh endpoints.
//!
//! **Built so far: the prediction log.** [`PredictionLog`] records every scored request that
//! finbeh-serve hands it (through finbeh-serve's `PredictionSink` hook) in a SQLite database in
//! WAL mode: a bounded channel takes records off the request thread, and a writer thread commits
//! them in batched transactions (every `monitor.batch_interval_ms`, at most [`MAX_BATCH_ROWS`]
//! rows each), applies
//! retention by age and row count, and counts every row it had to drop. The table layout is
//! versioned ([`PREDICTION_LOG_SCHEMA_VERSION`] in the `meta` table). See `docs/monitoring.md`.
//!
//! **Not built yet** (issue 10): export, live windows and alerts, drift, ground truth and the
//! label-free estimate, the health checker, the report and the `monitor` example.

#![deny(missing_docs)]

mod error;
mod log_params;
mod log_store;
mod log_writer;
mod prediction_log;

pub use error::MonitorError;
pub use log_params::{PredictionLogConfig, PredictionLogParams};
pub use log_store::{LogIdentity, PREDICTION_LOG_SCHEMA_VERSION};
pub use log_writer::MAX_BATCH_ROWS;
pub use prediction_log::{LogTotals, PredictionLog};
