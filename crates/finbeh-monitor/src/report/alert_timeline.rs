//! The report's alerts timeline: the configured rules replayed over the period's per-minute
//! aggregates, so the timeline exists whether or not a JSONL event file was configured, and
//! says what the rules say of the period now (not what a past configuration said then).

use serde::{Deserialize, Serialize};

use crate::alerts::{AlertEvaluator, AlertStatus, AlertValidParams, metric_name, severity_name};
use crate::error::MonitorError;
use crate::log_read::LogPeriod;
use crate::windows::{MetricsReader, TrafficFilter};

/// One stretch of time during which a rule fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiringInterval {
    /// When the alert fired, milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// When it resolved; `None` when still firing at the end of the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
}

/// One rule's row of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleTimeline {
    /// The rule's name.
    pub rule: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// What it measures (e.g. `latency_p95_ms`), its window, comparison and threshold, in
    /// words.
    pub condition: String,
    /// When it fired, in time order.
    pub firing: Vec<FiringInterval>,
}

/// The alerts timeline over the report's period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTimeline {
    /// How the events were obtained.
    pub source: String,
    /// Time between two evaluations of the replay, milliseconds.
    pub evaluated_every_ms: i64,
    /// One row per configured rule, in configuration order.
    pub rules: Vec<RuleTimeline>,
}

/// Replays `params`' rules over `period`, evaluating them at the end of every `step_ms` (each
/// rule over its own window of the merged per-minute aggregates), from an inactive start.
pub(crate) fn replay(
    reader: &MetricsReader,
    params: &AlertValidParams,
    period: LogPeriod,
    step_ms: i64,
) -> Result<AlertTimeline, MonitorError> {
    let step_ms = step_ms.max(60_000);
    let mut evaluator = AlertEvaluator::replay(params, "report");
    let mut rules: Vec<RuleTimeline> = params
        .rules()
        .iter()
        .map(|rule| RuleTimeline {
            rule: rule.name.clone(),
            severity: severity_name(rule.severity).to_owned(),
            condition: format!(
                "{} over {} {} {}",
                metric_name(rule.metric),
                rule.window.name(),
                rule.comparison.symbol(),
                rule.threshold
            ),
            firing: Vec::new(),
        })
        .collect();
    let filter = TrafficFilter::default();
    let mut at = period.since_ms.saturating_add(step_ms);
    loop {
        let now = at.min(period.until_ms);
        let evaluation = evaluator.evaluate(now, &(reader, &filter))?;
        for event in &evaluation.events {
            let Some(row) = rules.iter_mut().find(|r| r.rule == event.rule) else {
                continue;
            };
            match event.status {
                AlertStatus::Firing => row.firing.push(FiringInterval {
                    start_ms: event.evaluated_at_ms,
                    end_ms: None,
                }),
                AlertStatus::Resolved => {
                    if let Some(open) = row.firing.last_mut().filter(|i| i.end_ms.is_none()) {
                        open.end_ms = event.ends_at_ms;
                    }
                }
            }
        }
        if now >= period.until_ms {
            break;
        }
        at = at.saturating_add(step_ms);
    }
    Ok(AlertTimeline {
        source: format!(
            "the configured [monitor.alerts] rules replayed over the period's per-minute \
             aggregates, evaluated every {} min from an inactive start (not the JSONL event \
             file, which exists only where the alert loop ran with monitor.alerts.jsonl_path)",
            step_ms / 60_000
        ),
        evaluated_every_ms: step_ms,
        rules,
    })
}
