//! Alertmanager's webhook payload, version "4", so existing webhook receivers read finbeh's
//! alerts unchanged.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::event::{AlertEvent, AlertStatus};

/// Alertmanager's "no end time yet" for a firing alert.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The webhook body (`version` "4").
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// Always `"4"`.
    pub version: &'static str,
    /// Identifies the group: `{}:{alertname="..."}`.
    pub group_key: String,
    /// Alerts left out of `alerts` (always 0: one alert per payload).
    pub truncated_alerts: u64,
    /// `firing` or `resolved`.
    pub status: AlertStatus,
    /// `monitor.alerts.webhook_receiver`.
    pub receiver: String,
    /// The labels grouped by (`alertname`).
    pub group_labels: BTreeMap<String, String>,
    /// Labels shared by every alert.
    pub common_labels: BTreeMap<String, String>,
    /// Annotations shared by every alert.
    pub common_annotations: BTreeMap<String, String>,
    /// `monitor.alerts.external_url`.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<WebhookAlert>,
}

/// One alert of a webhook payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: AlertStatus,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339 start.
    pub starts_at: String,
    /// RFC 3339 end (`0001-01-01T00:00:00Z` while firing).
    pub ends_at: String,
    /// Where the alert comes from.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// The labels' fingerprint.
    pub fingerprint: String,
}

impl WebhookPayload {
    /// The payload of one alert event, grouped by `alertname`.
    pub fn new(event: &AlertEvent, receiver: &str, external_url: &str) -> Self {
        let group_labels = BTreeMap::from([("alertname".to_owned(), event.rule.clone())]);
        let group_key = format!("{{}}:{{alertname={:?}}}", event.rule);
        let base = external_url.trim_end_matches('/');
        Self {
            version: "4",
            group_key,
            truncated_alerts: 0,
            status: event.status,
            receiver: receiver.to_owned(),
            group_labels,
            common_labels: event.labels.clone(),
            common_annotations: event.annotations.clone(),
            external_url: external_url.to_owned(),
            alerts: vec![WebhookAlert {
                status: event.status,
                labels: event.labels.clone(),
                annotations: event.annotations.clone(),
                starts_at: rfc3339(event.starts_at_ms),
                ends_at: event
                    .ends_at_ms
                    .map_or_else(|| ZERO_TIME.to_owned(), rfc3339),
                generator_url: format!("{base}/metrics"),
                fingerprint: event.fingerprint.clone(),
            }],
        }
    }
}

/// Milliseconds since the Unix epoch as an RFC 3339 UTC time with milliseconds.
pub fn rfc3339(unix_ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(unix_ms).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}
