//! Where alert events go: the log (always), a JSONL file and an Alertmanager webhook (when
//! configured).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use finbeh_config::AlertSeverity;

use super::alertmanager::WebhookPayload;
use super::event::{AlertEvent, AlertStatus};
use super::params::AlertValidParams;
use super::webhook::{Webhook, WebhookTotals};
use crate::error::MonitorError;

/// The configured sinks.
#[derive(Debug)]
pub struct AlertSinks {
    jsonl: Option<PathBuf>,
    webhook: Option<Webhook>,
    receiver: String,
    external_url: String,
}

impl AlertSinks {
    /// The sinks `[monitor.alerts]` names; starts the webhook's delivery thread when set.
    ///
    /// # Errors
    /// As [`Webhook::start`].
    pub fn new(params: &AlertValidParams) -> Result<Self, MonitorError> {
        Ok(Self {
            jsonl: params.jsonl_path().map(Path::to_path_buf),
            webhook: params
                .webhook_url()
                .map(|url| Webhook::start(url, params))
                .transpose()?,
            receiver: params.receiver().to_owned(),
            external_url: params.external_url().to_owned(),
        })
    }

    /// Hands every event to every sink: logged at once, appended to the JSONL file, queued for
    /// the webhook (never waiting for it).
    ///
    /// # Errors
    /// [`MonitorError::AlertFile`] when the JSONL file cannot be written (the other sinks
    /// still get the events).
    pub fn deliver(&self, events: &[AlertEvent]) -> Result<(), MonitorError> {
        for event in events {
            log_event(event);
            if let Some(webhook) = &self.webhook {
                let payload = WebhookPayload::new(event, &self.receiver, &self.external_url);
                if let Ok(body) = serde_json::to_vec(&payload) {
                    webhook.enqueue(body);
                }
            }
        }
        match &self.jsonl {
            Some(path) if !events.is_empty() => append_jsonl(path, events),
            _ => Ok(()),
        }
    }

    /// Waits for the webhook to deliver (or give up on) what is queued.
    ///
    /// # Errors
    /// As [`Webhook::close`].
    pub fn close(&self) -> Result<Option<WebhookTotals>, MonitorError> {
        self.webhook.as_ref().map(Webhook::close).transpose()
    }
}

fn log_event(event: &AlertEvent) {
    let summary = event.annotations.get("summary").map_or("", String::as_str);
    match (event.status, event.severity) {
        (AlertStatus::Resolved, _) => {
            tracing::info!(alert = %event.rule, fingerprint = %event.fingerprint, "alert resolved: {summary}");
        }
        (AlertStatus::Firing, AlertSeverity::Critical) => {
            tracing::error!(alert = %event.rule, severity = "critical", fingerprint = %event.fingerprint, "alert firing: {summary}");
        }
        (AlertStatus::Firing, AlertSeverity::Warning) => {
            tracing::warn!(alert = %event.rule, severity = "warning", fingerprint = %event.fingerprint, "alert firing: {summary}");
        }
        (AlertStatus::Firing, _) => {
            tracing::info!(alert = %event.rule, severity = "info", fingerprint = %event.fingerprint, "alert firing: {summary}");
        }
    }
}

fn append_jsonl(path: &Path, events: &[AlertEvent]) -> Result<(), MonitorError> {
    let fail = |error: std::io::Error| MonitorError::AlertFile {
        path: path.to_path_buf(),
        source: error,
    };
    let mut text = String::new();
    for event in events {
        // An AlertEvent always serializes (string keys, finite or null numbers).
        if let Ok(line) = serde_json::to_string(event) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    // One write per evaluation, so lines of concurrent writers do not interleave.
    file.write_all(text.as_bytes()).map_err(fail)
}
