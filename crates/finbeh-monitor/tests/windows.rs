//! Per-minute aggregates and the windows merged from them: across replica databases, on
//! hand-computed data, and after migrating a version 1 or version 2 log.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::time::Duration;

use finbeh_monitor::{
    LATENCY_HIGHEST_US, LATENCY_SIGNIFICANT_DIGITS, MetricsReader, TrafficFilter,
};
use finbeh_serve::PredictionRecord;
use hdrhistogram::Histogram;

mod common;
use common::{T0, record, write_log};

#[test]
fn histograms_merged_across_two_replica_databases_equal_one_histogram_of_all_values() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, both) = (
        dir.path().join("replica-a.sqlite"),
        dir.path().join("replica-b.sqlite"),
        dir.path().join("one-server.sqlite"),
    );
    // Latencies spread over five decades, over three minutes, split unevenly between replicas.
    let all: Vec<PredictionRecord> = (0..3_000u32)
        .map(|i| {
            let latency = 0.01 * f64::from(1 + (i * 7_919) % 100_000) / 3.0;
            let status = if i % 17 == 0 { 500 } else { 200 };
            record(
                T0 + i64::from(i) * 60,
                latency,
                status,
                &[(usize::from(i % 3 == 0), 0.25)],
            )
        })
        .collect();
    let (to_a, to_b): (Vec<_>, Vec<_>) = all.iter().cloned().partition(|r| r.unix_ms % 7 < 3);
    assert!(!to_a.is_empty() && !to_b.is_empty());
    write_log(&a, to_a);
    write_log(&b, to_b);
    write_log(&both, all.clone());

    let mut expected =
        Histogram::<u64>::new_with_bounds(1, LATENCY_HIGHEST_US, LATENCY_SIGNIFICANT_DIGITS)
            .unwrap();
    for r in &all {
        expected
            .record((r.latency_ms * 1_000.0).round() as u64)
            .unwrap();
    }
    let filter = TrafficFilter::default();
    let merged = MetricsReader::open(&[&a, &b])
        .unwrap()
        .aggregate(T0, T0 + 600_000, &filter)
        .unwrap();
    let single = MetricsReader::open(&[&both])
        .unwrap()
        .aggregate(T0, T0 + 600_000, &filter)
        .unwrap();
    assert_eq!(merged.latency_us, expected);
    assert_eq!(merged.requests, 3_000);
    assert_eq!(merged.statuses, single.statuses);
    assert_eq!(merged.rows, single.rows);
    assert_eq!(merged.positives, single.positives);
    assert_eq!(merged.latency_us, single.latency_us);
    assert_eq!(merged.latency_max_ms, single.latency_max_ms);
    for q in [0.5, 0.95, 0.99, 1.0] {
        assert_eq!(
            merged.latency_us.value_at_quantile(q),
            expected.value_at_quantile(q)
        );
    }
    // The windows report the replicas as one endpoint.
    let reader = MetricsReader::open(&[&a, &b]).unwrap();
    let window = reader
        .window(T0 + 180_000, Duration::from_secs(300), &filter)
        .unwrap();
    assert_eq!(window.requests, 3_000);
}

#[test]
fn window_maths_on_hand_computed_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    write_log(
        &db,
        vec![
            // Minute 0: three requests, one refused.
            record(T0 + 1_000, 2.0, 200, &[(1, 0.9), (0, 0.2)]),
            record(T0 + 2_000, 4.0, 200, &[(1, 0.7)]),
            record(T0 + 3_000, 6.0, 400, &[]),
            // Minute 1: one request, a server fault.
            record(T0 + 61_000, 100.0, 500, &[]),
            // Minute 5: one request.
            record(T0 + 301_000, 8.0, 200, &[(0, 0.1), (0, 0.3)]),
        ],
    );
    let reader = MetricsReader::open(&[&db]).unwrap();
    let filter = TrafficFilter::default();

    // 1 minute ending at T0 + 60 s: minute 0 only.
    let w = reader
        .window(T0 + 60_000, Duration::from_secs(60), &filter)
        .unwrap();
    assert_eq!((w.start_ms, w.end_ms), (T0, T0 + 60_000));
    assert_eq!(w.requests, 3);
    assert_eq!(w.errors, 1);
    assert!((w.error_rate - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(w.server_error_rate, 0.0);
    assert_eq!(w.error_rate_by_status.get(&400).copied(), Some(1.0 / 3.0));
    assert!((w.throughput_rps - 3.0 / 60.0).abs() < 1e-12);
    let latency = w.latency_ms.unwrap();
    assert!((latency.avg - 4.0).abs() < 1e-12);
    assert_eq!(latency.max, 6.0);
    // HDR keeps 3 significant digits and reports a bucket's highest equivalent value, so a
    // percentile is at most 0.1 % above the true one: 4 ms and 6 ms here.
    for (got, want) in [(latency.p50, 4.0), (latency.p95, 6.0), (latency.p99, 6.0)] {
        assert!(got >= want && got <= want * 1.001, "{got} vs {want}");
    }
    assert_eq!(w.rows, 3);
    assert_eq!(w.positive_rate, Some(2.0 / 3.0));
    assert!((w.mean_probability.unwrap() - 1.8 / 3.0).abs() < 1e-12);

    // 5 minutes ending 30 s into minute 5: minutes 1..=5, 4.5 minutes long.
    let w = reader
        .window(T0 + 330_000, Duration::from_secs(300), &filter)
        .unwrap();
    assert_eq!((w.start_ms, w.end_ms), (T0 + 60_000, T0 + 330_000));
    assert_eq!(w.requests, 2);
    assert_eq!(w.server_error_rate, 0.5);
    assert!((w.throughput_rps - 2.0 / 270.0).abs() < 1e-12);
    let latency = w.latency_ms.unwrap();
    assert!((latency.avg - 54.0).abs() < 1e-12);
    assert_eq!(latency.max, 100.0);
    assert_eq!(w.positive_rate, Some(0.0));
    assert!((w.mean_probability.unwrap() - 0.2).abs() < 1e-12);

    // An hour covers everything; an empty window has no latency and no rates.
    let w = reader
        .window(T0 + 3_600_000, Duration::from_secs(3_600), &filter)
        .unwrap();
    assert_eq!((w.requests, w.rows), (5, 5));
    let empty = reader
        .window(T0 + 240_000, Duration::from_secs(60), &filter)
        .unwrap();
    assert_eq!(empty.requests, 0);
    assert_eq!(empty.latency_ms, None);
    assert_eq!(empty.positive_rate, None);
    assert_eq!(empty.error_rate, 0.0);

    // Two-minute steps from 30 s into minute 0 to minute 5 + 30 s: [0,2) [2,4) [4,5.5).
    let series = reader
        .series(T0 + 30_000, T0 + 330_000, Duration::from_secs(120), &filter)
        .unwrap();
    let points: Vec<(i64, i64, u64)> = series
        .iter()
        .map(|p| (p.start_ms - T0, p.end_ms - T0, p.requests))
        .collect();
    assert_eq!(
        points,
        vec![
            (0, 120_000, 4),
            (120_000, 240_000, 0),
            (240_000, 330_000, 1)
        ]
    );

    // Filters: another endpoint or model version sees nothing.
    let other = TrafficFilter {
        model_version: Some("4".into()),
        ..TrafficFilter::default()
    };
    assert_eq!(
        reader
            .window(T0 + 3_600_000, Duration::from_secs(3_600), &other)
            .unwrap()
            .requests,
        0
    );
    let same = TrafficFilter {
        endpoint: Some("churn".into()),
        deployment: Some("blue".into()),
        model_version: Some("3".into()),
    };
    assert_eq!(
        reader
            .window(T0 + 3_600_000, Duration::from_secs(3_600), &same)
            .unwrap()
            .requests,
        5
    );
}

#[test]
fn a_version_1_log_is_migrated_with_its_minutes_backfilled() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.sqlite");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/prediction-log-v1.sqlite"
        ),
        &db,
    )
    .unwrap();
    let reader = MetricsReader::open(&[&db]).unwrap();
    // The fixture: request fixture-1 (two rows, 200) and fixture-2 (refused, 400), one minute.
    let fixture_ms = 1_796_181_329_327;
    let w = reader
        .window(
            fixture_ms + 1,
            Duration::from_secs(60),
            &TrafficFilter::default(),
        )
        .unwrap();
    assert_eq!(w.requests, 2);
    assert_eq!(w.requests_by_status.get(&200), Some(&1));
    assert_eq!(w.requests_by_status.get(&400), Some(&1));
    assert_eq!(w.rows, 2);
    assert_eq!(w.positive_rate, Some(0.5));
    assert!((w.mean_probability.unwrap() - 0.5).abs() < 1e-12);
    assert!((w.latency_ms.unwrap().max - 0.180335).abs() < 1e-12);
    let version: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Through every step: labels and models (2), minute_stats (3), input blocks (4).
    assert_eq!(version, "4");
}

/// A log of layout version 2 (labels and models, no `minute_stats`) gains `minute_stats` at open
/// (step 3), filled from its rows: the same window as the writer's own minutes, labels kept.
#[test]
fn a_version_2_log_is_migrated_with_its_minutes_backfilled() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v2.sqlite");
    write_log(
        &db,
        vec![
            record(T0 + 1_000, 2.0, 200, &[(1, 0.9), (0, 0.2)]),
            record(T0 + 2_000, 4.0, 400, &[]),
            record(T0 + 3_000, 6.0, 200, &[(1, 0.7)]),
        ],
    );
    let window = |db: &Path| {
        MetricsReader::open(&[db])
            .unwrap()
            .window(
                T0 + 60_000,
                Duration::from_secs(60),
                &TrafficFilter::default(),
            )
            .unwrap()
    };
    let written = window(&db);
    assert_eq!((written.requests, written.rows), (3, 3));
    {
        let connection = rusqlite::Connection::open(&db).unwrap();
        connection
            .execute_batch(
                "INSERT INTO labels (request_id, row_index, label, received_ms) \
                 VALUES ('r', 0, 'yes', 0);
                 DROP TABLE minute_stats;
                 DROP TABLE input_blocks;
                 DROP TABLE input_schemas;
                 UPDATE meta SET value = '2' WHERE key = 'schema_version';",
            )
            .unwrap();
    }
    let migrated = window(&db);
    assert_eq!(migrated.requests, written.requests);
    assert_eq!(migrated.requests_by_status, written.requests_by_status);
    assert_eq!(migrated.rows, written.rows);
    assert_eq!(migrated.positive_rate, written.positive_rate);
    assert_eq!(migrated.mean_probability, written.mean_probability);
    let connection = rusqlite::Connection::open(&db).unwrap();
    let (version, labels): (String, i64) = connection
        .query_row(
            "SELECT (SELECT value FROM meta WHERE key = 'schema_version'), \
             (SELECT count(*) FROM labels)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((version.as_str(), labels), ("4", 1));
}

#[test]
fn a_missing_database_is_named() {
    let message = MetricsReader::open(&[Path::new("/nonexistent/replica.sqlite")])
        .unwrap_err()
        .to_string();
    assert!(message.contains("/nonexistent/replica.sqlite"), "{message}");
}

#[test]
fn retention_by_age_deletes_old_minutes_with_their_rows() {
    use finbeh_config::MonitorSettings;
    use finbeh_monitor::{LogIdentity, PredictionLog, PredictionLogParams};
    use finbeh_serve::PredictionSink;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    let now = finbeh_monitor::now_ms();
    let day = 86_400_000;
    let params = PredictionLogParams(MonitorSettings {
        database_path: db.clone(),
        retention_days: 1,
        ..MonitorSettings::default()
    })
    .check()
    .unwrap();
    let identity = LogIdentity {
        endpoint: "churn".into(),
        deployment: "blue".into(),
    };
    let log = PredictionLog::open(&params, identity).unwrap();
    log.record(record(now - 3 * day, 1.0, 200, &[(0, 0.1)]));
    log.record(record(now - 1_000, 2.0, 200, &[(1, 0.9)]));
    // Closing commits the batch, then applies retention.
    log.close().unwrap();
    let reader = MetricsReader::open(&[&db]).unwrap();
    let filter = TrafficFilter::default();
    let old = reader
        .aggregate(now - 4 * day, now - 2 * day, &filter)
        .unwrap();
    assert_eq!(old.requests, 0);
    let recent = reader
        .window(now, Duration::from_secs(300), &filter)
        .unwrap();
    assert_eq!(recent.requests, 1);
}
