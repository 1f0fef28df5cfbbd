//! The configured alert rules as a Prometheus rule file: `promtool check rules` accepts it
//! (promtool comes from Debian's `prometheus` package; `.ci/run` installs it).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::process::Command;

use finbeh_config::{AlertComparison, AlertMetric, AlertRule, AlertSeverity, AlertWindow};
use finbeh_monitor::prometheus_rules;

fn promtool_check(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("finbeh-rules.yml");
    std::fs::write(&file, yaml).unwrap();
    let output = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .expect("promtool is needed: apt-get install prometheus (.ci/run does)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn the_default_rules_and_every_metric_pass_promtool() {
    let mut rules = AlertRule::defaults();
    let metrics = [
        AlertMetric::LatencyAvgMs,
        AlertMetric::LatencyP50Ms,
        AlertMetric::LatencyMaxMs,
        AlertMetric::Requests,
        AlertMetric::ThroughputRps,
        AlertMetric::PositiveRate,
        AlertMetric::MeanProbability,
        AlertMetric::DroppedRows,
        AlertMetric::DriftShare,
        AlertMetric::FeatureAttributionNdcg,
    ];
    let comparisons = [
        AlertComparison::AtLeast,
        AlertComparison::Below,
        AlertComparison::AtMost,
    ];
    let windows = [
        AlertWindow::OneMinute,
        AlertWindow::OneHour,
        AlertWindow::OneDay,
    ];
    for (i, metric) in metrics.into_iter().enumerate() {
        rules.push(AlertRule {
            name: format!("Extra_{i}"),
            metric,
            window: windows[i % 3],
            comparison: comparisons[i % 3],
            threshold: 0.5,
            severity: AlertSeverity::Info,
            for_minutes: 10,
            cooldown_minutes: 0,
        });
    }
    let (yaml, skipped) = prometheus_rules(&rules);
    let (ok, text) = promtool_check(&yaml);
    assert!(ok, "promtool refused the file:\n{text}\n{yaml}");
    assert!(text.contains("SUCCESS: 10 rules found"), "{text}");
    assert_eq!(
        skipped
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>(),
        ["Extra_5", "Extra_6", "Extra_8", "Extra_9"]
    );
    // Dropped rows are exported by /metrics, so they map to PromQL.
    assert!(
        yaml.contains("expr: \"sum(increase(finbeh_monitor_dropped_rows_total[1h])) < 0.5\""),
        "{yaml}"
    );
    assert!(yaml.contains(
        "expr: \"histogram_quantile(0.95, sum by (le) (rate(finbeh_http_request_duration_seconds_bucket{route=\\\"/score\\\"}[5m]))) * 1000 > 5000\""
    ), "{yaml}");
    assert!(yaml.contains("        for: 5m\n"), "{yaml}");
    assert!(yaml.contains("          severity: critical\n"), "{yaml}");
}

#[test]
fn promtool_refuses_a_broken_file_so_the_check_above_means_something() {
    let (yaml, _) = prometheus_rules(&AlertRule::defaults());
    let broken = yaml.replace("sum by (le)", "sum by (le");
    assert!(!promtool_check(&broken).0);
}

#[test]
fn only_log_metrics_give_an_empty_but_valid_group() {
    let rule = AlertRule {
        name: "FewPositives".into(),
        metric: AlertMetric::PositiveRate,
        window: AlertWindow::OneHour,
        comparison: AlertComparison::Below,
        threshold: 0.01,
        severity: AlertSeverity::Warning,
        for_minutes: 0,
        cooldown_minutes: 0,
    };
    let (yaml, skipped) = prometheus_rules(&[rule]);
    assert_eq!(skipped.len(), 1);
    let (ok, text) = promtool_check(&yaml);
    assert!(ok, "{text}\n{yaml}");
}
