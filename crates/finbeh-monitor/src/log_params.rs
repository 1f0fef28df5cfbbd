//! Prediction-log settings, validated once (`PredictionLogParams` → `check()` →
//! `PredictionLogConfig`). They are finbeh-config's `[monitor]` section itself.

use std::path::Path;
use std::time::Duration;

use finbeh_config::{Backpressure, MonitorSettings};

use crate::error::MonitorError;

/// The `[monitor]` settings as written by a user; validate with [`PredictionLogParams::check`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PredictionLogParams(pub MonitorSettings);

impl std::ops::Deref for PredictionLogParams {
    type Target = MonitorSettings;
    fn deref(&self) -> &MonitorSettings {
        &self.0
    }
}

impl std::ops::DerefMut for PredictionLogParams {
    fn deref_mut(&mut self) -> &mut MonitorSettings {
        &mut self.0
    }
}

impl From<&MonitorSettings> for PredictionLogParams {
    fn from(settings: &MonitorSettings) -> Self {
        Self(settings.clone())
    }
}

impl PredictionLogParams {
    /// Validates the settings with finbeh-config's `[monitor]` rules.
    ///
    /// # Errors
    /// [`MonitorError::Settings`] listing every `[monitor]` problem.
    pub fn check(self) -> Result<PredictionLogConfig, MonitorError> {
        self.0.check()?;
        Ok(PredictionLogConfig(self))
    }
}

/// Validated prediction-log settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionLogConfig(PredictionLogParams);

impl PredictionLogConfig {
    /// Whether `serve` logs (`monitor.enabled`).
    pub fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// The SQLite file (`monitor.database_path`).
    pub fn database_path(&self) -> &Path {
        &self.0.database_path
    }

    /// Share of requests logged, in [0, 1].
    pub fn sample_rate(&self) -> f64 {
        self.0.sample_rate
    }

    /// What happens when the channel is full.
    pub fn backpressure(&self) -> Backpressure {
        self.0.backpressure
    }

    /// Longest a record waits before its batch is committed.
    pub fn batch_interval(&self) -> Duration {
        Duration::from_millis(self.0.batch_interval_ms)
    }

    /// Requests the channel holds.
    pub fn channel_capacity(&self) -> usize {
        self.0.channel_capacity
    }

    /// Rows older than this are deleted, in milliseconds (validated to fit an `i64`).
    pub(crate) fn retention_age_ms(&self) -> i64 {
        i64::try_from(self.0.retention_days)
            .ok()
            .and_then(|days| days.checked_mul(86_400_000))
            .unwrap_or(i64::MAX)
    }

    /// Rows kept at most (validated to fit an `i64`).
    pub(crate) fn retention_max_rows(&self) -> i64 {
        i64::try_from(self.0.retention_max_rows).unwrap_or(i64::MAX)
    }
}
