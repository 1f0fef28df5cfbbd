//! Alert settings, validated once (`AlertParams` → `check()` → `AlertValidParams`). They are
//! finbeh-config's `[monitor.alerts]` section itself.

use std::path::Path;
use std::time::Duration;

use finbeh_config::{AlertRule, AlertSettings};

use crate::error::MonitorError;

/// The `[monitor.alerts]` settings as written by a user; validate with [`AlertParams::check`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertParams(pub AlertSettings);

impl std::ops::Deref for AlertParams {
    type Target = AlertSettings;
    fn deref(&self) -> &AlertSettings {
        &self.0
    }
}

impl std::ops::DerefMut for AlertParams {
    fn deref_mut(&mut self) -> &mut AlertSettings {
        &mut self.0
    }
}

impl From<&AlertSettings> for AlertParams {
    fn from(settings: &AlertSettings) -> Self {
        Self(settings.clone())
    }
}

impl AlertParams {
    /// Validates the settings with finbeh-config's `[monitor.alerts]` rules.
    ///
    /// # Errors
    /// [`MonitorError::Settings`] listing every problem.
    pub fn check(self) -> Result<AlertValidParams, MonitorError> {
        self.0.check()?;
        Ok(AlertValidParams(self.0))
    }
}

/// Validated alert settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertValidParams(AlertSettings);

impl AlertValidParams {
    /// The rules.
    pub fn rules(&self) -> &[AlertRule] {
        &self.0.rules
    }

    /// How often `serve` evaluates the rules; `None` when it does not (0).
    pub fn evaluation_interval(&self) -> Option<Duration> {
        (self.0.evaluation_interval_s > 0)
            .then(|| Duration::from_secs(self.0.evaluation_interval_s))
    }

    /// The rule state file.
    pub fn state_path(&self) -> &Path {
        &self.0.state_path
    }

    /// The JSONL alerts file, when set.
    pub fn jsonl_path(&self) -> Option<&Path> {
        self.0.jsonl_path.as_deref()
    }

    /// The webhook URL, when set (validated `http://` or `https://`).
    pub fn webhook_url(&self) -> Option<&str> {
        self.0.webhook_url.as_deref()
    }

    /// The `receiver` of webhook payloads.
    pub fn receiver(&self) -> &str {
        &self.0.webhook_receiver
    }

    /// The `externalURL` of webhook payloads.
    pub fn external_url(&self) -> &str {
        &self.0.external_url
    }

    /// Attempts per payload.
    pub fn max_attempts(&self) -> u32 {
        self.0.webhook_max_attempts
    }

    /// Wait before the first retry.
    pub fn initial_backoff(&self) -> Duration {
        Duration::from_millis(self.0.webhook_initial_backoff_ms)
    }

    /// Longest wait between retries.
    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.0.webhook_max_backoff_ms)
    }

    /// Time allowed for one request.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.0.webhook_timeout_ms)
    }

    /// Payloads the webhook queue holds.
    pub fn queue_capacity(&self) -> usize {
        self.0.webhook_queue_capacity
    }

    /// The PEM file of roots an https webhook trusts, when set.
    pub fn webhook_ca_file(&self) -> Option<&Path> {
        self.0.webhook_tls.ca_file.as_deref()
    }

    /// How long a log metric's value is reused (`[monitor.alerts.log_metrics]`).
    pub fn log_metric_interval(&self) -> Duration {
        Duration::from_secs(self.0.log_metrics.interval_s)
    }

    /// Most of a window's newest rows a log metric reads.
    pub fn log_metric_max_rows(&self) -> usize {
        self.0.log_metrics.max_rows
    }
}
