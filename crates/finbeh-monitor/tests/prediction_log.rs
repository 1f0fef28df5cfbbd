//! The prediction log behind a real router: lost-row accounting under both backpressure
//! policies, `/metrics`, sampling, retention and the layout version.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use finbeh_config::{Backpressure, MonitorSettings};
use finbeh_monitor::{
    LogIdentity, MonitorError, PREDICTION_LOG_SCHEMA_VERSION, PredictionLog, PredictionLogParams,
};
use finbeh_serve::{AppState, ModelInfo, PredictionSink, ServerParams, app};
use rusqlite::Connection;
use tower::ServiceExt;

mod common;
use common::{copy_v1_fixture, open_log, server_with};

fn server(dir: &Path) -> AppState {
    server_with(dir, ServerParams::default())
}

/// Request `i`: 1..=3 rows; every 10th is refused (a text `Age`).
fn body(i: usize) -> (String, usize, bool) {
    if i % 10 == 9 {
        return (r#"{"data": [["old", "Oslo"]]}"#.to_owned(), 1, false);
    }
    let n = 1 + i % 3;
    let rows: Vec<String> = (0..n)
        .map(|r| format!("[{}, \"c{r}\"]", (i + r) % 100))
        .collect();
    (format!(r#"{{"data": [{}]}}"#, rows.join(",")), n, true)
}

async fn post(router: &Router, body: String, id: String) -> u16 {
    let request = Request::post("/score")
        .header("content-type", "application/json")
        .header("x-request-id", id)
        .body(Body::from(body))
        .unwrap();
    router
        .clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn get_text(router: &Router, path: &str) -> String {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn block_policy_under_load_logs_every_answered_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log/monitor.sqlite"); // the parent is created
    let state = server(dir.path());
    // A small channel so that the writer falls behind and senders really wait.
    let log = open_log(&db, |p| p.channel_capacity = 4);
    state.set_prediction_sink(log.clone()).unwrap();
    let router = app(state);
    let n_requests = 2_000;
    let (ok_rows, refused) = runtime().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..n_requests {
            let router = router.clone();
            tasks.push(tokio::spawn(async move {
                let (body, rows, valid) = body(i);
                let status = post(&router, body, format!("req-{i}")).await;
                (status, rows, valid)
            }));
        }
        let (mut ok_rows, mut refused) = (0i64, 0i64);
        for task in tasks {
            let (status, rows, valid) = task.await.unwrap();
            assert_eq!(status, if valid { 200 } else { 400 });
            if valid {
                ok_rows += rows as i64;
            } else {
                refused += 1;
            }
        }
        (ok_rows, refused)
    });
    let totals = log.close().unwrap();
    assert_eq!(totals.dropped, 0);
    assert_eq!(totals.failed, 0);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM predictions WHERE http_status = 200"
        ),
        ok_rows
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM predictions WHERE http_status = 400 \
             AND error_code = 'invalid_input' AND row_index IS NULL"
        ),
        refused
    );
    assert_eq!(totals.written as i64, ok_rows + refused);
    // Every row carries what /score had: identity, model, inputs and outputs.
    let connection = Connection::open(&db).unwrap();
    let row: String = connection
        .query_row(
            "SELECT json_array(endpoint, deployment, model_name, model_version, inputs, \
             predicted_class, probabilities) FROM predictions \
             WHERE request_id = 'req-4' AND row_index = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        row,
        r#"["churn","blue","age","7","{\"Age\":5,\"City\":\"c1\"}","no","[0.95,0.05]"]"#
    );
}

#[test]
fn drop_policy_counts_every_dropped_row_and_metrics_show_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("monitor.sqlite");
    let state = server(dir.path());
    let log = open_log(&db, |p| {
        p.channel_capacity = 1;
        p.backpressure = Backpressure::Drop;
        p.batch_interval_ms = 1;
    });
    state.set_prediction_sink(log.clone()).unwrap();
    let router = app(state);
    // Another connection holds the write lock, so the writer stalls in its first commit and
    // the one-slot channel fills.
    let blocker = Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (sent_rows, metrics) = runtime().block_on(async {
        let mut sent_rows = 0u64;
        let mut i = 0;
        while log.totals().dropped < 5 {
            assert!(i < 100_000, "nothing was dropped after {i} requests");
            let (body, rows, _) = body(i % 9); // valid ones only
            assert_eq!(post(&router, body, format!("r{i}")).await, 200);
            sent_rows += rows as u64;
            i += 1;
        }
        (sent_rows, get_text(&router, "/metrics").await)
    });
    blocker.execute_batch("COMMIT").unwrap();
    let totals = log.close().unwrap();
    assert_eq!(totals.failed, 0);
    assert!(totals.dropped >= 5);
    let in_db = count(&db, "SELECT count(*) FROM predictions") as u64;
    assert_eq!(
        in_db + totals.dropped,
        sent_rows,
        "every row is logged or counted"
    );
    assert_eq!(in_db, totals.written);
    // /metrics showed the count as it was then (>= 5), as a valid counter.
    let shown: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("finbeh_monitor_dropped_rows_total "))
        .expect("the dropped counter is exported")
        .parse()
        .unwrap();
    assert!(shown >= 5 && shown <= totals.dropped, "shown {shown}");
    assert!(metrics.contains("# TYPE finbeh_monitor_dropped_rows_total counter\n"));
    assert!(metrics.contains("\nfinbeh_monitor_failed_rows_total 0\n"));
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(
            !name.is_empty() && value.parse::<f64>().is_ok(),
            "bad line {line:?}"
        );
    }
}

#[test]
fn without_a_log_metrics_have_no_log_counters() {
    let dir = tempfile::tempdir().unwrap();
    let router = app(server(dir.path()));
    let metrics = runtime().block_on(get_text(&router, "/metrics"));
    assert!(!metrics.contains("finbeh_monitor_"));
}

#[test]
fn sample_rate_keeps_its_share_of_requests_with_all_their_rows() {
    for (rate, low, high) in [(0.0, 0, 0), (0.3, 240, 360), (1.0, 1_000, 1_000)] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("monitor.sqlite");
        let state = server(dir.path());
        let log = open_log(&db, |p| p.sample_rate = rate);
        state.set_prediction_sink(log.clone()).unwrap();
        let router = app(state);
        runtime().block_on(async {
            for i in 0..1_000 {
                post(
                    &router,
                    r#"{"data": [[1, "a"], [2, "b"]]}"#.into(),
                    format!("s{i}"),
                )
                .await;
            }
        });
        let totals = log.close().unwrap();
        assert_eq!(totals.dropped, 0);
        let requests = count(&db, "SELECT count(DISTINCT request_id) FROM predictions");
        assert!((low..=high).contains(&requests), "rate {rate}: {requests}");
        // A sampled request keeps both its rows.
        assert_eq!(count(&db, "SELECT count(*) FROM predictions"), 2 * requests);
    }
}

fn insert_rows(db: &Path, ages_ms: &[i64]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let connection = Connection::open(db).unwrap();
    for (i, age) in ages_ms.iter().enumerate() {
        connection
            .execute(
                "INSERT INTO predictions (time_ms, request_id, row_index, endpoint, deployment, \
                 route, model_name, model_version, latency_ms, http_status) \
                 VALUES (?1, ?2, 0, 'e', 'd', '/score', 'm', '1', 0.1, 200)",
                rusqlite::params![now - age, format!("old-{i}")],
            )
            .unwrap();
    }
}

#[test]
fn retention_deletes_by_age_then_keeps_the_newest_rows() {
    const DAY_MS: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("monitor.sqlite");
    open_log(&db, |_| {}).close().unwrap(); // creates the tables
    // Oldest first: 3 rows beyond 30 days, then 6 recent ones.
    insert_rows(
        &db,
        &[
            40 * DAY_MS,
            35 * DAY_MS,
            31 * DAY_MS,
            29 * DAY_MS,
            5 * DAY_MS,
            4 * DAY_MS,
            3 * DAY_MS,
            2 * DAY_MS,
            1_000,
        ],
    );
    // Retention runs when the log opens.
    let log = open_log(&db, |p| {
        p.retention_days = 30;
        p.retention_max_rows = 4;
    });
    let totals = log.close().unwrap();
    assert_eq!(totals.retention_deleted, 5);
    let kept: Vec<String> = Connection::open(&db)
        .unwrap()
        .prepare("SELECT request_id FROM predictions ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kept, ["old-5", "old-6", "old-7", "old-8"]);
}

#[test]
fn retention_runs_again_when_the_log_closes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("monitor.sqlite");
    let state = server(dir.path());
    let log = open_log(&db, |p| p.retention_max_rows = 10);
    state.set_prediction_sink(log.clone()).unwrap();
    let router = app(state);
    runtime().block_on(async {
        for i in 0..30 {
            post(&router, r#"{"data": [[1, "a"]]}"#.into(), format!("k{i}")).await;
        }
    });
    let totals = log.close().unwrap();
    assert_eq!(totals.written, 30);
    assert_eq!(totals.retention_deleted, 20);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM predictions WHERE request_id = 'k29'"
        ),
        1
    );
    assert_eq!(count(&db, "SELECT count(*) FROM predictions"), 10);
}

#[test]
fn the_layout_version_is_written_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("monitor.sqlite");
    open_log(&db, |_| {}).close().unwrap();
    let connection = Connection::open(&db).unwrap();
    let version: String = connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, PREDICTION_LOG_SCHEMA_VERSION.to_string());
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    connection
        .execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    drop(connection);
    let mut params = PredictionLogParams(MonitorSettings {
        database_path: db.clone(),
        ..MonitorSettings::default()
    });
    let identity = LogIdentity {
        endpoint: "e".into(),
        deployment: "d".into(),
    };
    let error =
        PredictionLog::open(&params.clone().check().unwrap(), identity.clone()).unwrap_err();
    assert!(
        matches!(error, MonitorError::SchemaVersion { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("version 99") && message.contains("monitor.sqlite"),
        "{message}"
    );

    // A foreign `predictions` table is refused, not appended to.
    let other = dir.path().join("other.sqlite");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE predictions (x INTEGER)")
        .unwrap();
    params.database_path = other;
    let error = PredictionLog::open(&params.check().unwrap(), identity).unwrap_err();
    assert!(
        matches!(error, MonitorError::NotAPredictionLog { .. }),
        "{error}"
    );
}

#[test]
fn a_bad_setting_is_refused_naming_it() {
    let params = PredictionLogParams(MonitorSettings {
        sample_rate: 1.5,
        channel_capacity: 0,
        ..MonitorSettings::default()
    });
    let message = params.check().unwrap_err().to_string();
    assert!(message.contains("monitor.sample_rate"), "{message}");
    assert!(message.contains("monitor.channel_capacity"), "{message}");
}

#[test]
fn a_closed_log_counts_later_records_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("monitor.sqlite");
    let log = open_log(&db, |_| {});
    log.close().unwrap();
    let model = ModelInfo {
        name: "m".into(),
        version: "1".into(),
        input_columns: vec![],
        classes: vec![],
        target: None,
        ignored_columns: vec![],
    };
    log.record(finbeh_serve::PredictionRecord::refused(
        Arc::new(model),
        "late".into(),
        400,
        "invalid_input",
    ));
    assert_eq!(log.dropped_rows(), 1);
}

/// request_id, row_index, inputs, probabilities, http_status, error_code
type LoggedRow = (
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
);

/// A log written by layout version 1 (committed in `tests/fixtures`) opens, keeps its rows and
/// takes new ones.
#[test]
fn a_version_1_log_opens_and_takes_new_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_v1_fixture(dir.path());
    let state = server(dir.path());
    // Retention by age off in effect: the fixture's rows must not age out of the test.
    let log = open_log(&db, |p| p.retention_days = 36_500);
    state.set_prediction_sink(log.clone()).unwrap();
    let router = app(state);
    runtime().block_on(post(
        &router,
        r#"{"data": [[1, "a"]]}"#.into(),
        "new".into(),
    ));
    assert_eq!(log.close().unwrap().written, 1);
    let connection = Connection::open(&db).unwrap();
    let old: Vec<LoggedRow> = connection
        .prepare(
            "SELECT request_id, row_index, inputs, probabilities, http_status, error_code \
                 FROM predictions ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(old.len(), 4);
    assert_eq!(
        old[1],
        (
            "fixture-1".to_owned(),
            Some(1),
            Some(r#"{"Age":70,"City":"Bergen"}"#.to_owned()),
            Some("[0.30000000000000004,0.7]".to_owned()),
            200,
            None
        )
    );
    assert_eq!(
        old[2],
        (
            "fixture-2".to_owned(),
            None,
            None,
            None,
            400,
            Some("invalid_input".to_owned())
        )
    );
    assert_eq!(old[3].0, "new");
}

#[test]
fn monitor_settings_come_from_the_environment_by_name() {
    let settings = finbeh_config::Loader::new()
        .env([
            ("FINBEH__MONITOR__ENABLED", "true"),
            ("FINBEH__MONITOR__BACKPRESSURE", "drop"),
            ("FINBEH__MONITOR__SAMPLE_RATE", "0.25"),
        ])
        .load()
        .unwrap();
    let config = PredictionLogParams::from(settings.monitor())
        .check()
        .unwrap();
    assert!(config.enabled());
    assert_eq!(config.backpressure(), Backpressure::Drop);
    assert_eq!(config.sample_rate(), 0.25);
    let error = finbeh_config::Loader::new()
        .env([("FINBEH__MONITOR__BACKPRESSURE", "wait")])
        .load()
        .unwrap_err()
        .to_string();
    assert!(error.contains("monitor.backpressure"), "{error}");
}

/// A request without `x-request-id` is logged under the id the server answered with.
#[test]
fn a_generated_request_id_is_the_one_logged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("monitor.sqlite");
    let state = server(dir.path());
    let log = open_log(&db, |_| {});
    state.set_prediction_sink(log.clone()).unwrap();
    let router = app(state);
    let request = Request::post("/score")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"data": [[1, "a"]]}"#))
        .unwrap();
    let response = runtime().block_on(router.oneshot(request)).unwrap();
    let answered = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    log.close().unwrap();
    let logged: String = Connection::open(&db)
        .unwrap()
        .query_row("SELECT request_id FROM predictions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(logged, answered);
}
