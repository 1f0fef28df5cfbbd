//! The alert evaluator: each rule's condition over its window, a state machine per rule
//! (inactive → pending → firing after `for`, deduplicated while it holds, resolved when it
//! clears, no new firing within the cool-down), and the state file that carries it across runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use finbeh_config::{AlertMetric, AlertRule};
use serde::{Deserialize, Serialize};

use super::event::{
    AlertEvent, AlertStatus, RulePhase, RuleStatus, fingerprint, labels, metric_name,
};
use super::params::AlertValidParams;
use crate::error::MonitorError;
use crate::windows::{MetricsReader, TrafficFilter, WindowStats};

/// Version of the alert state file's layout (a compatibility promise, as the log's).
pub const ALERT_STATE_VERSION: u32 = 1;

/// Where an evaluation reads its windows from.
pub trait WindowSource {
    /// The window of `length` ending at `until_ms`.
    ///
    /// # Errors
    /// Whatever reading the metrics fails with.
    fn window(&self, until_ms: i64, length: Duration) -> Result<WindowStats, MonitorError>;

    /// A metric that is not in the window's aggregates ([`is_log_metric`]: dropped rows, the
    /// drift share, the feature-attribution NDCG) over the window of `length` ending at
    /// `until_ms`; `None` when this source cannot tell (then no rule on it holds).
    ///
    /// # Errors
    /// Whatever reading the log fails with.
    fn log_metric(
        &self,
        metric: AlertMetric,
        until_ms: i64,
        length: Duration,
    ) -> Result<Option<f64>, MonitorError> {
        let _ = (metric, until_ms, length);
        Ok(None)
    }
}

impl WindowSource for (&MetricsReader, &TrafficFilter) {
    fn window(&self, until_ms: i64, length: Duration) -> Result<WindowStats, MonitorError> {
        self.0.window(until_ms, length, self.1)
    }

    fn log_metric(
        &self,
        metric: AlertMetric,
        until_ms: i64,
        length: Duration,
    ) -> Result<Option<f64>, MonitorError> {
        match metric {
            AlertMetric::DroppedRows => Ok(self
                .0
                .dropped_rows(until_ms, length)?
                .map(|rows| rows as f64)),
            _ => Ok(None),
        }
    }
}

/// Whether a metric is read through [`WindowSource::log_metric`] rather than from the window's
/// aggregates.
pub fn is_log_metric(metric: AlertMetric) -> bool {
    matches!(
        metric,
        AlertMetric::DroppedRows | AlertMetric::DriftShare | AlertMetric::FeatureAttributionNdcg
    )
}

/// A metric's value in a window; `None` when the window has no data for it (no requests, or
/// no binary rows), and then no rule on it holds.
pub fn metric_value(metric: AlertMetric, stats: &WindowStats) -> Option<f64> {
    let has_requests = stats.requests > 0;
    match metric {
        AlertMetric::LatencyAvgMs => stats.latency_ms.map(|l| l.avg),
        AlertMetric::LatencyP50Ms => stats.latency_ms.map(|l| l.p50),
        AlertMetric::LatencyP95Ms => stats.latency_ms.map(|l| l.p95),
        AlertMetric::LatencyP99Ms => stats.latency_ms.map(|l| l.p99),
        AlertMetric::LatencyMaxMs => stats.latency_ms.map(|l| l.max),
        AlertMetric::ErrorRate => has_requests.then_some(stats.error_rate),
        AlertMetric::ServerErrorRate => has_requests.then_some(stats.server_error_rate),
        AlertMetric::Requests => Some(stats.requests as f64),
        AlertMetric::ThroughputRps => Some(stats.throughput_rps),
        AlertMetric::PositiveRate => stats.positive_rate,
        AlertMetric::MeanProbability => stats.mean_probability,
        AlertMetric::DroppedRows
        | AlertMetric::DriftShare
        | AlertMetric::FeatureAttributionNdcg => None,
    }
}

/// One rule's remembered state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RuleState {
    phase: RulePhase,
    /// Since when the condition has held.
    active_since_ms: Option<i64>,
    /// When the last firing event was sent.
    fired_at_ms: Option<i64>,
    /// When the last resolved event was sent (starts the cool-down).
    resolved_at_ms: Option<i64>,
}

impl Default for RuleState {
    fn default() -> Self {
        Self {
            phase: RulePhase::Inactive,
            active_since_ms: None,
            fired_at_ms: None,
            resolved_at_ms: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    rules: BTreeMap<String, RuleState>,
}

/// What one evaluation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// When it ran, milliseconds since the Unix epoch.
    pub evaluated_at_ms: i64,
    /// New events only: an alert that keeps firing is not repeated.
    pub events: Vec<AlertEvent>,
    /// Every rule's phase and value now.
    pub rules: Vec<RuleStatus>,
}

/// Evaluates the configured rules, keeping their state in `monitor.alerts.state_path`.
#[derive(Debug)]
pub struct AlertEvaluator {
    params: AlertValidParams,
    service: String,
    states: BTreeMap<String, RuleState>,
}

impl AlertEvaluator {
    /// Reads the state file when it exists (a missing file is a first run). `service` names
    /// what is monitored (the `service` label, e.g. the endpoint).
    ///
    /// # Errors
    /// [`MonitorError::AlertState`] for a state file that cannot be read or was written by
    /// another layout version.
    pub fn open(params: &AlertValidParams, service: &str) -> Result<Self, MonitorError> {
        let path = params.state_path();
        let states = match std::fs::read(path) {
            Ok(bytes) => read_state(path, &bytes)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => {
                return Err(MonitorError::AlertState {
                    path: path.to_path_buf(),
                    detail: error.to_string(),
                });
            }
        };
        Ok(Self {
            params: params.clone(),
            service: service.to_owned(),
            states,
        })
    }

    /// A fresh evaluator that neither reads nor writes the state file: every rule starts
    /// inactive (the report replays the rules over a past period with it).
    pub(crate) fn replay(params: &AlertValidParams, service: &str) -> Self {
        Self {
            params: params.clone(),
            service: service.to_owned(),
            states: BTreeMap::new(),
        }
    }

    /// Evaluates every rule at `now_ms`; returns the new events and each rule's status.
    ///
    /// # Errors
    /// What reading a window fails with.
    pub fn evaluate(
        &mut self,
        now_ms: i64,
        source: &dyn WindowSource,
    ) -> Result<Evaluation, MonitorError> {
        let mut events = Vec::new();
        let mut statuses = Vec::new();
        let mut kept = BTreeMap::new();
        for rule in self.params.rules() {
            let length = Duration::from_secs(rule.window.minutes().saturating_mul(60));
            let value = if is_log_metric(rule.metric) {
                source.log_metric(rule.metric, now_ms, length)?
            } else {
                metric_value(rule.metric, &source.window(now_ms, length)?)
            };
            let holds = value.is_some_and(|v| rule.comparison.holds(v, rule.threshold));
            let mut state = self.states.remove(&rule.name).unwrap_or_default();
            if let Some(status) = step(rule, &mut state, holds, now_ms) {
                events.push(self.event(rule, &state, status, value, now_ms));
            }
            statuses.push(RuleStatus {
                rule: rule.name.clone(),
                phase: state.phase,
                value,
                active_since_ms: state.active_since_ms,
            });
            kept.insert(rule.name.clone(), state);
        }
        // Rules no longer configured are forgotten.
        self.states = kept;
        Ok(Evaluation {
            evaluated_at_ms: now_ms,
            events,
            rules: statuses,
        })
    }

    /// Writes the state file (to a temporary file, then renamed over it, so a crash leaves the
    /// old or the new state, never half of one).
    ///
    /// # Errors
    /// [`MonitorError::AlertState`] naming the file.
    pub fn save(&self) -> Result<(), MonitorError> {
        let path = self.params.state_path();
        let fail = |detail: String| MonitorError::AlertState {
            path: path.to_path_buf(),
            detail,
        };
        let file = StateFile {
            version: ALERT_STATE_VERSION,
            rules: self.states.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| fail(e.to_string()))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
        }
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        std::fs::write(&temporary, text).map_err(|e| fail(e.to_string()))?;
        std::fs::rename(&temporary, path).map_err(|e| fail(e.to_string()))
    }

    fn event(
        &self,
        rule: &AlertRule,
        state: &RuleState,
        status: AlertStatus,
        value: Option<f64>,
        now_ms: i64,
    ) -> AlertEvent {
        let labels = labels(rule, &self.service);
        let shown = value.map_or_else(|| "no data".to_owned(), |v| format!("{v:.6}"));
        let (is, rule_word) = match status {
            AlertStatus::Firing => ("is", ""),
            AlertStatus::Resolved => ("is back to", "rule: "),
        };
        let summary = format!(
            "{} over {} {is} {shown} ({rule_word}{} {})",
            metric_name(rule.metric),
            rule.window.name(),
            rule.comparison.symbol(),
            rule.threshold
        );
        let description = format!(
            "{}: {} over the last {} of {}; the condition must hold {} min before firing, and \
             the alert does not fire again within {} min of resolving.",
            rule.name,
            metric_name(rule.metric),
            rule.window.name(),
            self.service,
            rule.for_minutes,
            rule.cooldown_minutes
        );
        AlertEvent {
            status,
            rule: rule.name.clone(),
            severity: rule.severity,
            metric: rule.metric,
            window: rule.window,
            comparison: rule.comparison,
            threshold: rule.threshold,
            value,
            starts_at_ms: state.active_since_ms.unwrap_or(now_ms),
            ends_at_ms: (status == AlertStatus::Resolved).then_some(now_ms),
            evaluated_at_ms: now_ms,
            fingerprint: fingerprint(&labels),
            labels,
            annotations: BTreeMap::from([
                ("summary".to_owned(), summary),
                ("description".to_owned(), description),
            ]),
        }
    }
}

/// One rule's transition at `now_ms`; returns the event it produces, if any. A resolved event
/// keeps the alert's start in `state.active_since_ms` for the event, then clears it.
fn step(rule: &AlertRule, state: &mut RuleState, holds: bool, now_ms: i64) -> Option<AlertStatus> {
    let minutes_ms = |m: u64| i64::try_from(m.saturating_mul(60_000)).unwrap_or(i64::MAX);
    if !holds {
        let was_firing = state.phase == RulePhase::Firing;
        state.phase = RulePhase::Inactive;
        if was_firing {
            state.resolved_at_ms = Some(now_ms);
            // Kept for the resolved event's startsAt; cleared at the next evaluation.
            return Some(AlertStatus::Resolved);
        }
        state.active_since_ms = None;
        return None;
    }
    match state.phase {
        RulePhase::Firing => None,
        RulePhase::Inactive | RulePhase::Pending => {
            if state.phase == RulePhase::Inactive {
                state.phase = RulePhase::Pending;
                state.active_since_ms = Some(now_ms);
            }
            let since = state.active_since_ms.unwrap_or(now_ms);
            let held_long_enough = now_ms.saturating_sub(since) >= minutes_ms(rule.for_minutes);
            let cooled_down = state.resolved_at_ms.is_none_or(|resolved| {
                now_ms.saturating_sub(resolved) >= minutes_ms(rule.cooldown_minutes)
            });
            if held_long_enough && cooled_down {
                state.phase = RulePhase::Firing;
                state.fired_at_ms = Some(now_ms);
                Some(AlertStatus::Firing)
            } else {
                None
            }
        }
    }
}

fn read_state(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, RuleState>, MonitorError> {
    let fail = |detail: String| MonitorError::AlertState {
        path: path.to_path_buf(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(ALERT_STATE_VERSION)) {
        return Err(fail(format!(
            "layout version {}, but this build reads version {ALERT_STATE_VERSION}; move the file \
             aside (alerts then start from inactive)",
            version.map_or_else(|| "missing".to_owned(), |v| v.to_string())
        )));
    }
    let file: StateFile = serde_json::from_value(value).map_err(|e| fail(e.to_string()))?;
    Ok(file.rules)
}
