//! The alert metrics read from the prediction log rather than the minute aggregates: rows
//! dropped under `backpressure = "drop"` (persisted per minute, read by the serve-side loop
//! and `monitor alerts` alike), the drift share and the feature-attribution NDCG of a window's
//! rows (cached per interval); each fires, then resolves.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::time::Duration;

mod common;

use common::{data_params, log_rows, open_log, record, reference_and_model, set_to_median};
use finbeh_config::{
    AlertComparison, AlertLogMetricSettings, AlertMetric, AlertRule, AlertSettings, Backpressure,
};
use finbeh_monitor::{
    AlertEvaluator, AlertParams, AlertStatus, AlertValidParams, AttributionParams, DriftParams,
    LogMetrics, LogSource, MetricsReader, ModelLocation, TrafficFilter, now_ms,
};
use finbeh_serve::PredictionSink;
use finbeh_train::ModelArtifact;
use rusqlite::Connection;

const MINUTE: i64 = 60_000;

use common::alert_rule as rule;

fn params(dir: &Path, rules: Vec<AlertRule>) -> AlertValidParams {
    AlertParams(AlertSettings {
        rules,
        state_path: dir.join("state.json"),
        log_metrics: AlertLogMetricSettings {
            interval_s: 60,
            max_rows: 10_000,
        },
        ..AlertSettings::default()
    })
    .check()
    .unwrap()
}

fn events(evaluation: &finbeh_monitor::Evaluation) -> Vec<(String, AlertStatus)> {
    evaluation
        .events
        .iter()
        .map(|e| (e.rule.clone(), e.status))
        .collect()
}

#[test]
fn dropped_rows_are_persisted_per_minute_and_a_rule_on_them_fires_then_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("monitor.sqlite");
    let log = open_log(&db, |p| {
        p.channel_capacity = 1;
        p.backpressure = Backpressure::Drop;
        p.batch_interval_ms = 1;
    });
    // Another connection holds the write lock: the writer stalls and the one-slot channel
    // fills, so records are dropped.
    let blocker = Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let start = now_ms();
    let mut i = 0;
    while log.totals().dropped < 5 {
        assert!(i < 100_000, "nothing was dropped after {i} records");
        log.record(record(start, 1.0, 200, &[(1, 0.9)]));
        i += 1;
    }
    blocker.execute_batch("COMMIT").unwrap();
    let totals = log.close().unwrap();
    assert!(totals.dropped >= 5);
    let end = now_ms();

    let reader = MetricsReader::open(&[&db]).unwrap();
    let window = Duration::from_secs(300);
    assert_eq!(
        reader.dropped_rows(end + 1, window).unwrap(),
        Some(totals.dropped)
    );
    // Ten minutes later the 5-minute window holds none.
    assert_eq!(
        reader.dropped_rows(end + 10 * MINUTE, window).unwrap(),
        Some(0)
    );

    let alerts = params(
        dir.path(),
        vec![rule(
            "RowsDropped",
            AlertMetric::DroppedRows,
            AlertComparison::Above,
            0.0,
        )],
    );
    let mut evaluator = AlertEvaluator::open(&alerts, "churn").unwrap();
    let source = (&reader, &TrafficFilter::default());
    let fired = evaluator.evaluate(end + 1, &source).unwrap();
    assert_eq!(
        events(&fired),
        [("RowsDropped".to_owned(), AlertStatus::Firing)]
    );
    assert_eq!(fired.rules[0].value, Some(totals.dropped as f64));
    let resolved = evaluator.evaluate(end + 10 * MINUTE, &source).unwrap();
    assert_eq!(
        events(&resolved),
        [("RowsDropped".to_owned(), AlertStatus::Resolved)]
    );
    assert_eq!(resolved.rules[0].value, Some(0.0));
}

#[test]
fn a_log_written_before_the_dropped_rows_table_has_no_data_for_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::copy_v1_fixture(dir.path());
    let reader = MetricsReader::open(&[&db]).unwrap();
    assert_eq!(
        reader
            .dropped_rows(now_ms(), Duration::from_secs(300))
            .unwrap(),
        None
    );
}

#[test]
fn drift_share_and_attribution_ndcg_fire_on_changed_traffic_and_resolve_on_training_like_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, model) = reference_and_model(dir.path(), 600);
    let artifact = ModelArtifact::read(&model).unwrap();
    // The two columns the model leans on most, held at their median: their distributions
    // drift, and their contributions shrink, so production ranks the columns differently.
    let changed = dir.path().join("changed.csv");
    set_to_median(
        &reference,
        &["Account_Balance_After_Transaction", "Transaction_Amount"],
        &changed,
    );
    let log = dir.path().join("log.sqlite");
    let now = now_ms();
    let changed_at = now - 30 * MINUTE;
    log_rows(&log, &artifact, &changed, 0, &|_| changed_at, 1);
    log_rows(&log, &artifact, &reference, 0, &|_| now - 2 * MINUTE, 1);

    let alerts = params(
        dir.path(),
        vec![
            rule(
                "InputsDrifted",
                AlertMetric::DriftShare,
                AlertComparison::Above,
                0.05,
            ),
            rule(
                "AttributionsDrifted",
                AlertMetric::FeatureAttributionNdcg,
                AlertComparison::Below,
                0.995,
            ),
        ],
    );
    let metrics = LogMetrics::new(
        &log,
        ModelLocation {
            model: Some(model),
            search: None,
        },
        &data_params(),
        &DriftParams::default().check().unwrap(),
        &AttributionParams::default().check().unwrap(),
        &alerts,
    );
    let source = LogSource::new(MetricsReader::open(&[&log]).unwrap(), Some(metrics));
    let mut evaluator = AlertEvaluator::open(&alerts, "bank").unwrap();

    let fired = evaluator.evaluate(changed_at + MINUTE, &source).unwrap();
    assert_eq!(
        events(&fired),
        [
            ("InputsDrifted".to_owned(), AlertStatus::Firing),
            ("AttributionsDrifted".to_owned(), AlertStatus::Firing)
        ]
    );
    let share = fired.rules[0].value.unwrap();
    let columns = artifact.input_columns().len() as f64;
    assert!((share - 2.0 / columns).abs() < 1e-12, "{share}");
    let ndcg = fired.rules[1].value.unwrap();
    assert!(ndcg < 0.995, "{ndcg}");

    // Within the interval the cached values are reused (even for a later window).
    let cached = evaluator
        .evaluate(changed_at + MINUTE + 1_000, &source)
        .unwrap();
    assert!(cached.events.is_empty());
    assert_eq!(cached.rules[0].value, Some(share));

    let resolved = evaluator.evaluate(now, &source).unwrap();
    assert_eq!(
        events(&resolved),
        [
            ("InputsDrifted".to_owned(), AlertStatus::Resolved),
            ("AttributionsDrifted".to_owned(), AlertStatus::Resolved)
        ]
    );
    assert_eq!(resolved.rules[0].value, Some(0.0));
    assert_eq!(resolved.rules[1].value, Some(1.0));

    // Without log metrics (or with a window holding no row) the rules have no data.
    let bare = LogSource::new(MetricsReader::open(&[&log]).unwrap(), None);
    let evaluation = AlertEvaluator::open(&alerts, "bank")
        .unwrap()
        .evaluate(now, &bare)
        .unwrap();
    assert!(evaluation.rules.iter().all(|r| r.value.is_none()));
}
