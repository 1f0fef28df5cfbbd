//! Alert rules over windows: every metric, `for`, deduplication, resolve, cool-down, the state
//! file across restarts, and the JSONL sink.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use finbeh_config::{AlertComparison, AlertMetric, AlertRule, AlertSettings};
use finbeh_monitor::{
    AlertEvaluator, AlertParams, AlertSinks, AlertStatus, AlertValidParams, LatencySummary,
    MonitorError, RulePhase, WindowSource, WindowStats,
};

const T0: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;

/// A source that answers every window with the stats it holds now, and records the lengths
/// asked for.
struct Fixed {
    stats: RefCell<WindowStats>,
    asked: RefCell<Vec<Duration>>,
}

impl WindowSource for Fixed {
    fn window(&self, _until_ms: i64, length: Duration) -> Result<WindowStats, MonitorError> {
        self.asked.borrow_mut().push(length);
        Ok(self.stats.borrow().clone())
    }
}

fn stats(requests: u64) -> WindowStats {
    WindowStats {
        start_ms: T0,
        end_ms: T0 + 300_000,
        requests,
        requests_by_status: BTreeMap::new(),
        errors: 0,
        error_rate: 0.0,
        server_error_rate: 0.0,
        error_rate_by_status: BTreeMap::new(),
        throughput_rps: 0.0,
        latency_ms: None,
        rows: 0,
        positive_rate: None,
        mean_probability: None,
    }
}

use common::alert_rule as rule;

fn params(dir: &Path, rules: Vec<AlertRule>) -> AlertValidParams {
    AlertParams(AlertSettings {
        state_path: dir.join("state.json"),
        jsonl_path: Some(dir.join("alerts.jsonl")),
        rules,
        ..AlertSettings::default()
    })
    .check()
    .unwrap()
}

/// Events of one evaluation as (rule, status).
fn run(evaluator: &mut AlertEvaluator, now: i64, source: &Fixed) -> Vec<(String, AlertStatus)> {
    evaluator
        .evaluate(now, source)
        .unwrap()
        .events
        .into_iter()
        .map(|e| (e.rule, e.status))
        .collect()
}

#[test]
fn every_metric_and_comparison_fires_on_its_value_and_only_then() {
    let mut firing = stats(100);
    firing.latency_ms = Some(LatencySummary {
        avg: 10.0,
        p50: 20.0,
        p95: 30.0,
        p99: 40.0,
        max: 50.0,
    });
    firing.error_rate = 0.2;
    firing.server_error_rate = 0.1;
    firing.throughput_rps = 7.0;
    firing.positive_rate = Some(0.3);
    firing.mean_probability = Some(0.4);
    use AlertComparison::{Above, AtLeast, AtMost, Below};
    use AlertMetric::*;
    // (metric, its value above; rates stay within [0, 1] at 1.5 times)
    let cases = [
        (LatencyAvgMs, 10.0),
        (LatencyP50Ms, 20.0),
        (LatencyP95Ms, 30.0),
        (LatencyP99Ms, 40.0),
        (LatencyMaxMs, 50.0),
        (ErrorRate, 0.2),
        (ServerErrorRate, 0.1),
        (Requests, 100.0),
        (ThroughputRps, 7.0),
        (PositiveRate, 0.3),
        (MeanProbability, 0.4),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (metric, value)) in cases.into_iter().enumerate() {
        // Each comparison on both sides of its boundary: [(threshold, fires)].
        for (comparison, checks) in [
            (Above, [(value * 0.5, true), (value, false)]),
            (AtLeast, [(value, true), (value * 1.5, false)]),
            (Below, [(value * 1.5, true), (value, false)]),
            (AtMost, [(value, true), (value * 0.5, false)]),
        ] {
            for (threshold, fires) in checks {
                let name = format!("R{i}");
                let params = params(dir.path(), vec![rule(&name, metric, comparison, threshold)]);
                let mut evaluator = AlertEvaluator::open(&params, "churn").unwrap();
                let source = Fixed {
                    stats: RefCell::new(firing.clone()),
                    asked: RefCell::default(),
                };
                let events = run(&mut evaluator, T0, &source);
                let expected = if fires {
                    vec![(name, AlertStatus::Firing)]
                } else {
                    vec![]
                };
                assert_eq!(events, expected, "{metric:?} {comparison:?} {threshold}");
                assert_eq!(*source.asked.borrow(), vec![Duration::from_secs(300)]);
            }
        }
    }
    // Without data (no requests) no rule holds, not even `latency < x` or `error_rate <= x`.
    let empty = Fixed {
        stats: RefCell::new(stats(0)),
        asked: RefCell::default(),
    };
    for metric in [
        LatencyP99Ms,
        ErrorRate,
        ServerErrorRate,
        PositiveRate,
        MeanProbability,
    ] {
        let params = params(dir.path(), vec![rule("Empty", metric, AtMost, 1.0)]);
        let mut evaluator = AlertEvaluator::open(&params, "churn").unwrap();
        assert!(run(&mut evaluator, T0, &empty).is_empty(), "{metric:?}");
    }
    // But a count rule does: zero requests is a value.
    let params = params(dir.path(), vec![rule("NoTraffic", Requests, Below, 1.0)]);
    let mut evaluator = AlertEvaluator::open(&params, "churn").unwrap();
    assert_eq!(run(&mut evaluator, T0, &empty).len(), 1);
}

#[test]
fn for_dedup_resolve_and_cooldown_follow_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut slow = rule("Slow", AlertMetric::ErrorRate, AlertComparison::Above, 0.05);
    slow.for_minutes = 5;
    slow.cooldown_minutes = 10;
    let params = params(dir.path(), vec![slow]);
    let mut evaluator = AlertEvaluator::open(&params, "churn").unwrap();
    let bad = {
        let mut s = stats(100);
        s.error_rate = 0.5;
        s
    };
    let source = Fixed {
        stats: RefCell::new(bad.clone()),
        asked: RefCell::default(),
    };
    let firing = vec![("Slow".to_owned(), AlertStatus::Firing)];
    let resolved = vec![("Slow".to_owned(), AlertStatus::Resolved)];

    // Pending for 5 minutes, then firing.
    assert!(run(&mut evaluator, T0, &source).is_empty());
    let evaluation = evaluator.evaluate(T0 + 4 * MINUTE, &source).unwrap();
    assert!(evaluation.events.is_empty());
    assert_eq!(evaluation.rules[0].phase, RulePhase::Pending);
    assert_eq!(evaluation.rules[0].active_since_ms, Some(T0));
    let evaluation = evaluator.evaluate(T0 + 5 * MINUTE, &source).unwrap();
    assert_eq!(evaluation.events.len(), 1);
    let event = &evaluation.events[0];
    assert_eq!(event.status, AlertStatus::Firing);
    assert_eq!(event.starts_at_ms, T0);
    assert_eq!(event.value, Some(0.5));
    assert_eq!(event.labels["alertname"], "Slow");
    assert_eq!(event.labels["severity"], "warning");
    assert_eq!(event.fingerprint.len(), 16);

    // Deduplicated while it holds, across a restart too (state saved and read back).
    assert!(run(&mut evaluator, T0 + 6 * MINUTE, &source).is_empty());
    evaluator.save().unwrap();
    let mut evaluator = AlertEvaluator::open(&params, "churn").unwrap();
    assert!(run(&mut evaluator, T0 + 7 * MINUTE, &source).is_empty());

    // Resolved once when it clears.
    *source.stats.borrow_mut() = stats(100);
    let evaluation = evaluator.evaluate(T0 + 8 * MINUTE, &source).unwrap();
    assert_eq!(evaluation.events[0].status, AlertStatus::Resolved);
    assert_eq!(evaluation.events[0].starts_at_ms, T0);
    assert_eq!(evaluation.events[0].ends_at_ms, Some(T0 + 8 * MINUTE));
    assert!(run(&mut evaluator, T0 + 9 * MINUTE, &source).is_empty());

    // Holds again at once: the `for` restarts, and the cool-down (10 min from the resolve at
    // minute 8) keeps it pending until minute 18 although `for` is met at minute 15.
    *source.stats.borrow_mut() = bad;
    assert!(run(&mut evaluator, T0 + 10 * MINUTE, &source).is_empty());
    assert!(run(&mut evaluator, T0 + 15 * MINUTE, &source).is_empty());
    assert!(run(&mut evaluator, T0 + 17 * MINUTE, &source).is_empty());
    assert_eq!(run(&mut evaluator, T0 + 18 * MINUTE, &source), firing);
    *source.stats.borrow_mut() = stats(100);
    assert_eq!(run(&mut evaluator, T0 + 19 * MINUTE, &source), resolved);
}

#[test]
fn the_state_file_is_versioned_and_a_committed_version_1_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(
        dir.path(),
        vec![rule(
            "Slow",
            AlertMetric::LatencyP99Ms,
            AlertComparison::Above,
            5.0,
        )],
    );
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/alert-state-v1.json"
        ),
        params.state_path(),
    )
    .unwrap();
    let mut evaluator = AlertEvaluator::open(&params, "churn").unwrap();
    let mut slow = stats(10);
    slow.latency_ms = Some(LatencySummary {
        avg: 9.0,
        p50: 9.0,
        p95: 9.0,
        p99: 9.0,
        max: 9.0,
    });
    let source = Fixed {
        stats: RefCell::new(slow),
        asked: RefCell::default(),
    };
    // Firing in the file, still holding: not fired again.
    assert!(run(&mut evaluator, T0 + MINUTE, &source).is_empty());

    std::fs::write(params.state_path(), r#"{"version": 7, "rules": {}}"#).unwrap();
    let message = AlertEvaluator::open(&params, "churn")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("state.json") && message.contains("version 7"),
        "{message}"
    );
}

#[test]
fn the_jsonl_sink_appends_one_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(
        dir.path(),
        vec![rule(
            "Busy",
            AlertMetric::Requests,
            AlertComparison::Above,
            5.0,
        )],
    );
    let mut evaluator = AlertEvaluator::open(&params, "churn").unwrap();
    let source = Fixed {
        stats: RefCell::new(stats(10)),
        asked: RefCell::default(),
    };
    let sinks = AlertSinks::new(&params).unwrap();
    sinks
        .deliver(&evaluator.evaluate(T0, &source).unwrap().events)
        .unwrap();
    *source.stats.borrow_mut() = stats(1);
    sinks
        .deliver(&evaluator.evaluate(T0 + MINUTE, &source).unwrap().events)
        .unwrap();
    assert_eq!(sinks.close().unwrap(), None);
    let text = std::fs::read_to_string(params.jsonl_path().unwrap()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["status"], "firing");
    assert_eq!(lines[0]["rule"], "Busy");
    assert_eq!(lines[0]["value"], 10.0);
    assert_eq!(lines[1]["status"], "resolved");
    assert_eq!(lines[1]["ends_at_ms"], T0 + MINUTE);
}

mod common;

#[test]
fn the_serving_loop_evaluates_the_log_in_the_background_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    let now = finbeh_monitor::now_ms();
    common::write_log(
        &db,
        (0..10)
            .map(|i| common::record(now - 500 + i, 1.0, if i < 5 { 500 } else { 200 }, &[]))
            .collect(),
    );
    let params = params(
        dir.path(),
        vec![rule(
            "Errors",
            AlertMetric::ErrorRate,
            AlertComparison::Above,
            0.05,
        )],
    );
    let mut alerts =
        finbeh_monitor::AlertLoop::start(&params, &[db], "churn", Duration::from_secs(1)).unwrap();
    let jsonl = params.jsonl_path().unwrap().to_path_buf();
    // Waits for the first evaluation (one interval), at most 30 s on a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !jsonl.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    alerts.stop();
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let event: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(event["rule"], "Errors");
    assert_eq!(event["status"], "firing");
    assert_eq!(event["value"], 0.5);
    // The state was saved: a new evaluator sees the alert firing.
    let state = std::fs::read_to_string(params.state_path()).unwrap();
    assert!(state.contains("\"firing\""), "{state}");
}
