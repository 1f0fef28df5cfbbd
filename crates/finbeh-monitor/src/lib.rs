//! Monitoring for finbeh endpoints (prediction log, metrics, alerts, drift, reports): not built yet, so this crate exports nothing.

#![deny(missing_docs)]
