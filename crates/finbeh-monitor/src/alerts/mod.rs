//! Alerts over the live windows: rules from `[monitor.alerts]`, a persisted evaluator, and the
//! sinks (the log, a JSONL file, an Alertmanager webhook); and the same rules as a Prometheus
//! rule file.

mod alertmanager;
mod evaluate;
mod event;
mod live;
mod log_metrics;
mod params;
mod prometheus;
mod sinks;
mod text;
mod webhook;

pub use alertmanager::{WebhookAlert, WebhookPayload, rfc3339};
pub use evaluate::{
    ALERT_STATE_VERSION, AlertEvaluator, Evaluation, WindowSource, is_log_metric, metric_value,
};
pub use event::{AlertEvent, AlertStatus, RulePhase, RuleStatus, metric_name, severity_name};
pub use live::AlertLoop;
pub use log_metrics::{LogMetrics, LogSource, ModelLocation};
pub use params::{AlertParams, AlertValidParams};
pub use prometheus::prometheus_rules;
pub use sinks::AlertSinks;
pub use webhook::{Webhook, WebhookTotals};
