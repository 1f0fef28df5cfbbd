//! What an evaluation produces: alert events and each rule's current status.

use std::collections::BTreeMap;

use finbeh_config::{AlertComparison, AlertMetric, AlertRule, AlertSeverity, AlertWindow};
use serde::{Deserialize, Serialize};

/// Whether an alert event starts or ends an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The condition held for the rule's `for` and the alert fired.
    Firing,
    /// A firing alert's condition cleared.
    Resolved,
}

/// One alert event (written to the JSONL file as one line; the webhook sends it in
/// Alertmanager's form).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEvent {
    /// `firing` or `resolved`.
    pub status: AlertStatus,
    /// The rule's name (`alertname`).
    pub rule: String,
    /// The rule's severity.
    pub severity: AlertSeverity,
    /// The metric measured.
    pub metric: AlertMetric,
    /// Its window.
    pub window: AlertWindow,
    /// The comparison.
    pub comparison: AlertComparison,
    /// The threshold.
    pub threshold: f64,
    /// The metric's value at this evaluation (`None` without data, e.g. no requests).
    pub value: Option<f64>,
    /// When the alert started firing, milliseconds since the Unix epoch.
    pub starts_at_ms: i64,
    /// When it resolved (resolved events only).
    pub ends_at_ms: Option<i64>,
    /// When this event was produced.
    pub evaluated_at_ms: i64,
    /// Labels: `alertname`, `severity`, `metric`, `window`, `service`.
    pub labels: BTreeMap<String, String>,
    /// Annotations: `summary`, `description`.
    pub annotations: BTreeMap<String, String>,
    /// Alertmanager's fingerprint of the labels (FNV-1a 64, 16 hex digits).
    pub fingerprint: String,
}

/// A rule's status after an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulePhase {
    /// The condition does not hold.
    Inactive,
    /// The condition holds, for less than `for` (or the rule is cooling down).
    Pending,
    /// The alert fired and its condition still holds.
    Firing,
}

/// One rule as the last evaluation saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleStatus {
    /// The rule's name.
    pub rule: String,
    /// Its phase.
    pub phase: RulePhase,
    /// The metric's value (`None` without data).
    pub value: Option<f64>,
    /// Since when the condition has held (pending or firing).
    pub active_since_ms: Option<i64>,
}

/// The labels of a rule's alerts.
pub(crate) fn labels(rule: &AlertRule, service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("alertname".to_owned(), rule.name.clone()),
        (
            "severity".to_owned(),
            severity_name(rule.severity).to_owned(),
        ),
        ("metric".to_owned(), metric_name(rule.metric).to_owned()),
        ("window".to_owned(), rule.window.name().to_owned()),
        ("service".to_owned(), service.to_owned()),
    ])
}

/// Prometheus's label-set fingerprint (as Alertmanager shows it): FNV-1a 64 over each
/// name and value, sorted by name, each followed by the byte 255.
pub(crate) fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in labels {
        for byte in name.bytes().chain([255]).chain(value.bytes()).chain([255]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// A metric's settings name (`latency_p95_ms`).
pub fn metric_name(metric: AlertMetric) -> &'static str {
    match metric {
        AlertMetric::LatencyAvgMs => "latency_avg_ms",
        AlertMetric::LatencyP50Ms => "latency_p50_ms",
        AlertMetric::LatencyP95Ms => "latency_p95_ms",
        AlertMetric::LatencyP99Ms => "latency_p99_ms",
        AlertMetric::LatencyMaxMs => "latency_max_ms",
        AlertMetric::ErrorRate => "error_rate",
        AlertMetric::ServerErrorRate => "server_error_rate",
        AlertMetric::Requests => "requests",
        AlertMetric::ThroughputRps => "throughput_rps",
        AlertMetric::PositiveRate => "positive_rate",
        AlertMetric::MeanProbability => "mean_probability",
        AlertMetric::DroppedRows => "dropped_rows",
        AlertMetric::DriftShare => "drift_share",
        AlertMetric::FeatureAttributionNdcg => "feature_attribution_ndcg",
    }
}

/// A severity's settings name (`warning`).
pub fn severity_name(severity: AlertSeverity) -> &'static str {
    match severity {
        AlertSeverity::Info => "info",
        AlertSeverity::Warning => "warning",
        AlertSeverity::Critical => "critical",
    }
}
