//! The configured alert rules as a Prometheus rule file over finbeh-serve's `/metrics`
//! (`finbeh_http_requests_total`, `finbeh_http_request_duration_seconds`), for teams that
//! already run Prometheus and Alertmanager.

use std::fmt::Write as _;

use finbeh_config::{AlertMetric, AlertRule};

use super::event::{metric_name, severity_name};

/// The rule group's name in the file.
pub const RULE_GROUP: &str = "finbeh";

/// The rule file (YAML), and the rules left out with the reason (metrics that `/metrics` does
/// not export: the positive rate, the mean probability, the drift share and the
/// feature-attribution NDCG are computed from the prediction log only; a drift statistic per
/// scrape would cost far more than a scrape should).
pub fn prometheus_rules(rules: &[AlertRule]) -> (String, Vec<(String, &'static str)>) {
    let mut out = String::new();
    let mut skipped = Vec::new();
    out.push_str(
        "# Written by `monitor prometheus-rules` from [monitor.alerts] rules; check with\n\
         # `promtool check rules`. Latency quantiles come from finbeh-serve's bucketed histogram\n\
         # (finer than its buckets they interpolate); cool-downs have no Prometheus equivalent:\n\
         # set Alertmanager's repeat_interval instead.\n",
    );
    let _ = writeln!(out, "groups:\n  - name: {RULE_GROUP}\n    rules:");
    let mut written = 0;
    for rule in rules {
        let Some(query) = promql(rule.metric, rule.window.name()) else {
            skipped.push((
                rule.name.clone(),
                "its metric is in the prediction log only, not in /metrics",
            ));
            continue;
        };
        written += 1;
        let expr = format!("{query} {} {}", rule.comparison.symbol(), rule.threshold);
        let summary = format!(
            "{} over {} is {{{{ $value }}}} ({} {})",
            metric_name(rule.metric),
            rule.window.name(),
            rule.comparison.symbol(),
            rule.threshold
        );
        let _ = writeln!(out, "      - alert: {}", rule.name);
        let _ = writeln!(out, "        expr: {}", quoted(&expr));
        if rule.for_minutes > 0 {
            let _ = writeln!(out, "        for: {}m", rule.for_minutes);
        }
        let _ = writeln!(out, "        labels:");
        let _ = writeln!(out, "          severity: {}", severity_name(rule.severity));
        let _ = writeln!(out, "          metric: {}", metric_name(rule.metric));
        let _ = writeln!(out, "          window: {}", quoted(rule.window.name()));
        let _ = writeln!(out, "        annotations:");
        let _ = writeln!(out, "          summary: {}", quoted(&summary));
    }
    if written == 0 {
        // A group needs at least one rule to be useful, and `rules: []` states it plainly.
        out.truncate(out.trim_end().len() - "rules:".len());
        out.push_str("rules: []\n");
    }
    for (name, reason) in &skipped {
        let _ = writeln!(out, "# left out: {name}: {reason}");
    }
    (out, skipped)
}

/// The PromQL of a metric over a window; `None` for metrics `/metrics` does not export.
fn promql(metric: AlertMetric, window: &str) -> Option<String> {
    let score = "route=\"/score\"";
    let requests = format!("sum(rate(finbeh_http_requests_total{{{score}}}[{window}]))");
    let quantile = |q: &str| {
        format!(
            "histogram_quantile({q}, sum by (le) (rate(finbeh_http_request_duration_seconds_bucket{{{score}}}[{window}]))) * 1000"
        )
    };
    let errors = |statuses: &str| {
        format!(
            "sum(rate(finbeh_http_requests_total{{{score},status=~\"{statuses}\"}}[{window}])) / {requests}"
        )
    };
    Some(match metric {
        AlertMetric::LatencyAvgMs => format!(
            "sum(rate(finbeh_http_request_duration_seconds_sum{{{score}}}[{window}])) / sum(rate(finbeh_http_request_duration_seconds_count{{{score}}}[{window}])) * 1000"
        ),
        AlertMetric::LatencyP50Ms => quantile("0.5"),
        AlertMetric::LatencyP95Ms => quantile("0.95"),
        AlertMetric::LatencyP99Ms => quantile("0.99"),
        AlertMetric::LatencyMaxMs => quantile("1"),
        AlertMetric::ErrorRate => errors("4..|5.."),
        AlertMetric::ServerErrorRate => errors("5.."),
        AlertMetric::Requests => {
            format!("sum(increase(finbeh_http_requests_total{{{score}}}[{window}]))")
        }
        AlertMetric::ThroughputRps => requests,
        AlertMetric::DroppedRows => {
            format!("sum(increase(finbeh_monitor_dropped_rows_total[{window}]))")
        }
        AlertMetric::PositiveRate
        | AlertMetric::MeanProbability
        | AlertMetric::DriftShare
        | AlertMetric::FeatureAttributionNdcg => return None,
    })
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}
