//! finbeh: from a financial-behaviour CSV to a monitored production scoring endpoint.
//!
//! This facade re-exports the workspace's crates; depend on one of them directly when you need
//! only that layer.
//!
//! # Crate topology
//!
//! ```text
//! finbeh-config  <-  finbeh-data  <-  finbeh-train  <-  finbeh-serve
//!                                                   <-  finbeh-monitor, finbeh-deploy
//!                                                   <-  finbeh-workflow (on all of them)
//! ```
//!
//! * [`config`]: typed settings (defaults < TOML file < environment).
//! * [`data`]: CSV ingestion, schema, validation report, feature pipeline, splits, synthetic data.
//! * [`train`]: random forest, metrics, cross-validation, search, the model artifact.
//! * [`serve`]: inference engine and the Azure ML-compatible HTTP scoring server.
//! * [`monitor`]: the prediction log, live metrics windows, drift and data quality, the health
//!   checker and the HTML report (alerts, export and ground truth: not built yet).
//! * [`deploy`]: model registry and deployment targets.
//! * [`workflow`]: the one-command workflow, deployment checks and the troubleshooter.

#![deny(missing_docs)]

pub use finbeh_config as config;
pub use finbeh_data as data;
pub use finbeh_deploy as deploy;
pub use finbeh_monitor as monitor;
pub use finbeh_serve as serve;
pub use finbeh_train as train;
pub use finbeh_workflow as workflow;
