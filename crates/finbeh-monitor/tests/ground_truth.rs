//! Ground truth: labels from a CSV file and from `POST /labels`, the join to logged
//! predictions, and labelled metrics against hand-computed values.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use finbeh_data::RawValue;
use finbeh_monitor::{LabelQuery, MonitorError, import_labels, labelled_metrics};
use finbeh_serve::{
    AppState, LabelRecord, LabelSink, ModelInfo, PredictionRecord, PredictionSink, ServerParams,
    app,
};
use rusqlite::Connection;
use tower::ServiceExt;

mod common;
use common::{age_model, copy_v1_fixture, open_log, server_with};

const ONE_LABEL: &str = r#"{"labels": [{"request_id": "r1", "row": 0, "label": "no"}]}"#;

fn model() -> Arc<ModelInfo> {
    Arc::new(age_model())
}

/// One request of one row scored at `unix_ms` with P(yes) = `p` (threshold 0.5).
fn scored(id: &str, unix_ms: i64, p: f64) -> PredictionRecord {
    let mut record = PredictionRecord::refused(model(), id.into(), 200, "none");
    record.unix_ms = unix_ms;
    record.error_code = None;
    record.inputs = vec![RawValue::Number(40.0), RawValue::Text("Oslo".into())];
    record.predicted = vec![usize::from(p >= 0.5)];
    record.probabilities = vec![1.0 - p, p];
    record
}

/// Seven logged rows in two minutes (ids, P(yes)), and a refused request.
fn hand_made_log(db: &Path) {
    let log = open_log(db, |p| p.retention_days = 36_500);
    for (id, minute, p) in [
        ("a", 0, 0.9),
        ("b", 0, 0.8),
        ("c", 0, 0.3),
        ("d", 1, 0.2),
        ("e", 1, 0.6),
        ("f", 1, 0.4),
        ("g", 1, 0.7),
    ] {
        log.record(scored(id, 1_000_000 + minute * 60_000, p));
    }
    log.record(PredictionRecord::refused(
        model(),
        "refused".into(),
        400,
        "invalid_input",
    ));
    log.close().unwrap();
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn labels_join_their_rows_and_metrics_match_hand_computed_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    hand_made_log(&db);
    // b first labelled "yes", then corrected to "no" (replaced); x and row 1 of a are not
    // logged; f stays unlabelled.
    let first = write(
        dir.path(),
        "first.csv",
        "request_id,row,label\na,0,yes\nb,0,yes\nx,0,no\na,1,no\n",
    );
    let import = import_labels(&db, &first).unwrap();
    assert_eq!((import.received, import.new, import.replaced), (4, 4, 0));
    assert_eq!((import.matched, import.unmatched), (2, 2));
    assert!(import.classes_checked);
    let second = write(
        dir.path(),
        "second.csv",
        "label,row,request_id\nno,0,b\nyes,0,c\nno,0,d\nyes,0,e\n",
    );
    let import = import_labels(&db, &second).unwrap();
    assert_eq!((import.new, import.replaced, import.matched), (3, 1, 4));
    // A label with the wrong class text can only come in by hand; the join must not use it.
    Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO labels (request_id, row_index, label, received_ms) VALUES ('g', 0, 'Yes', 0)",
            [],
        )
        .unwrap();

    let metrics = labelled_metrics(
        &db,
        &LabelQuery {
            since_ms: 1_000_000,
            until_ms: 1_120_000,
            step_ms: 60_000,
        },
    )
    .unwrap();
    // Labelled: a (0.9, yes) TP, b (0.8, no) FP, c (0.3, yes) FN, d (0.2, no) TN,
    // e (0.6, yes) TP. f unlabelled, g's label invalid; the refused request is no prediction.
    let all = &metrics.overall;
    assert_eq!(
        (all.predictions, all.labelled, all.invalid_labels),
        (7, 5, 1)
    );
    assert_eq!(all.unlabelled_share, Some(2.0 / 7.0));
    assert_eq!(all.positive_class.as_deref(), Some("yes"));
    assert_eq!((all.accuracy.value, all.accuracy.count), (Some(0.6), 5));
    assert_eq!(
        (all.precision.value, all.precision.count),
        (Some(2.0 / 3.0), 3)
    );
    assert_eq!((all.recall.value, all.recall.count), (Some(2.0 / 3.0), 3));
    assert!((all.f1.value.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    // Positive scores 0.9, 0.3, 0.6 against negatives 0.8, 0.2: 4 of 6 pairs ordered right.
    assert!((all.roc_auc.value.unwrap() - 4.0 / 6.0).abs() < 1e-12);

    assert_eq!(metrics.steps.len(), 2);
    let first_minute = &metrics.steps[0];
    assert_eq!(
        (first_minute.start_ms, first_minute.end_ms),
        (1_000_000, 1_060_000)
    );
    assert_eq!((first_minute.predictions, first_minute.labelled), (3, 3));
    // a TP, b FP, c FN: precision 1/2, recall 1/2, accuracy 1/3; AUC: 0.9 > 0.8, 0.3 < 0.8.
    assert_eq!(first_minute.precision.value, Some(0.5));
    assert_eq!(first_minute.recall.value, Some(0.5));
    assert_eq!(first_minute.accuracy.value, Some(1.0 / 3.0));
    assert_eq!(first_minute.roc_auc.value, Some(0.5));
    let second_minute = &metrics.steps[1];
    assert_eq!((second_minute.predictions, second_minute.labelled), (4, 2));
    assert_eq!(second_minute.unlabelled_share, Some(0.5));
    // d TN, e TP: everything right.
    assert_eq!(second_minute.accuracy.value, Some(1.0));
    assert_eq!(second_minute.roc_auc.value, Some(1.0));
    // The JSON form carries its version.
    let json = serde_json::to_value(&metrics).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["overall"]["roc_auc"]["count"], 5);
}

#[test]
fn a_window_without_both_classes_has_no_auc_and_no_labels_no_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    hand_made_log(&db);
    let labels = write(dir.path(), "l.csv", "request_id,row,label\na,0,yes\n");
    import_labels(&db, &labels).unwrap();
    let query = |since_ms, until_ms| LabelQuery {
        since_ms,
        until_ms,
        step_ms: 60_000,
    };
    let one = labelled_metrics(&db, &query(1_000_000, 1_060_000)).unwrap();
    assert_eq!(one.overall.accuracy.value, Some(1.0));
    assert_eq!(one.overall.recall.value, Some(1.0));
    assert_eq!(one.overall.roc_auc.value, None);
    let none = labelled_metrics(&db, &query(1_060_000, 1_120_000)).unwrap();
    assert_eq!((none.overall.predictions, none.overall.labelled), (4, 0));
    assert_eq!(none.overall.unlabelled_share, Some(1.0));
    assert_eq!(none.overall.accuracy.value, None);
    let error = labelled_metrics(&db, &query(5, 5)).unwrap_err();
    assert!(matches!(error, MonitorError::MetricQuery(_)), "{error}");
    let error = labelled_metrics(
        &db,
        &LabelQuery {
            since_ms: 0,
            until_ms: i64::MAX,
            step_ms: 1,
        },
    )
    .unwrap_err();
    assert!(error.to_string().contains("wider step"), "{error}");
}

#[test]
fn a_bad_labels_file_names_file_line_and_column_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    hand_made_log(&db);
    for (text, line, column, says) in [
        (
            "request_id,row,label\na,0,yes\nb,0,maybe\n",
            3,
            "label",
            "\"maybe\"",
        ),
        (
            "request_id,row,label\na,0,yes\nb,-1,no\n",
            3,
            "row",
            "\"-1\"",
        ),
        ("request_id,label\na,yes\n", 1, "header", "`row`"),
        (
            "request_id,row,label\na,0,yes\n,0,no\n",
            3,
            "request_id",
            "empty",
        ),
    ] {
        let file = write(dir.path(), "bad.csv", text);
        let error = import_labels(&db, &file).unwrap_err();
        let MonitorError::Labels {
            line: l, column: c, ..
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!((*l, *c), (line, column), "{error}");
        let message = error.to_string();
        assert!(
            message.contains("bad.csv") && message.contains(says),
            "{message}"
        );
    }
    let count: i64 = Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM labels", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 0, "a refused file writes nothing");
    let error = import_labels(&db, &dir.path().join("missing.csv")).unwrap_err();
    assert!(error.to_string().contains("missing.csv"), "{error}");
}

fn server(dir: &Path, keys: bool) -> AppState {
    let mut params = ServerParams::default();
    if keys {
        params.primary_key = Some(finbeh_config::Secret::new("k".into()));
    }
    server_with(dir, params)
}

async fn post(
    router: &axum::Router,
    path: &str,
    content_type: &str,
    body: &str,
    id: &str,
) -> (u16, serde_json::Value) {
    let request = Request::post(path)
        .header("content-type", content_type)
        .header("x-request-id", id)
        .header("authorization", "Bearer k")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn post_labels_takes_json_and_csv_checks_classes_and_joins() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    let state = server(dir.path(), true);
    let log = open_log(&db, |_| {});
    state.set_prediction_sink(log.clone()).unwrap();
    state.set_label_sink(log.clone()).unwrap();
    let router = app(state);
    let scored = post(
        &router,
        "/score",
        "application/json",
        r#"{"data": [[80, "Oslo"], [10, "Bergen"]]}"#,
        "r1",
    )
    .await;
    assert_eq!(scored.0, 200);

    let (status, body) = post(&router, "/labels", "application/json", ONE_LABEL, "l1").await;
    assert_eq!((status, body["received"].as_u64()), (202, Some(1)));
    let (status, _) = post(
        &router,
        "/labels",
        "text/csv",
        "request_id,row,label\nr1,1,no\n",
        "l2",
    )
    .await;
    assert_eq!(status, 202);

    let (status, body) = post(
        &router,
        "/labels",
        "application/json",
        r#"{"labels": [{"request_id": "r1", "row": 0, "label": "No"}, {"request_id": "r1", "row": "0", "label": "no"}]}"#,
        "l3",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_labels");
    assert_eq!(body["error"]["details"][0]["field"], "row");
    assert_eq!(body["error"]["details"][0]["row"], 1);
    let (status, body) = post(
        &router,
        "/labels",
        "text/csv",
        "request_id,row,label\nr1,0,No\n",
        "l4",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let detail = &body["error"]["details"][0];
    assert_eq!(
        (detail["row"].as_u64(), detail["field"].as_str()),
        (Some(2), Some("label"))
    );
    assert!(
        detail["problem"].as_str().unwrap().contains("\"No\""),
        "{body}"
    );
    // A quoted request id over two lines: the bad label is on line 4, not the third record + 1.
    let (status, body) = post(
        &router,
        "/labels",
        "text/csv",
        "request_id,row,label\n\"r\n1\",0,no\nr1,1,No\n",
        "l4b",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["row"], 4, "{body}");
    let (status, body) = post(&router, "/labels", "text/plain", "x", "l5").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, _) = post(
        &router,
        "/labels",
        "application/json",
        r#"{"labels": []}"#,
        "l6",
    )
    .await;
    assert_eq!(status, 400);

    let unauthorized = Request::post("/labels")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"labels": []}"#))
        .unwrap();
    let response = router.clone().oneshot(unauthorized).await.unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let request = Request::get("/metrics").body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let metrics = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(
        metrics.contains(r#"finbeh_http_requests_total{route="/labels",status="202"} 2"#),
        "{metrics}"
    );

    let totals = log.close().unwrap();
    assert_eq!((totals.labels_written, totals.labels_failed), (2, 0));
    // The server's answer for row 0 (Age 80) was "yes", for row 1 "no": both labelled "no".
    let metrics = labelled_metrics(
        &db,
        &LabelQuery {
            since_ms: 0,
            until_ms: i64::MAX / 2,
            step_ms: i64::MAX / 4,
        },
    )
    .unwrap();
    assert_eq!(
        (metrics.overall.labelled, metrics.overall.accuracy.value),
        (2, Some(0.5))
    );
    assert_eq!(metrics.overall.precision.value, Some(0.0));
    assert_eq!(metrics.overall.recall.value, None);
}

#[tokio::test]
async fn without_a_label_sink_labels_are_404_and_swagger_documents_the_route() {
    let dir = tempfile::tempdir().unwrap();
    let router = app(server(dir.path(), false));
    let (status, body) = post(&router, "/labels", "application/json", ONE_LABEL, "l1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("labels_not_enabled"))
    );
    let request = Request::get("/swagger.json").body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let swagger: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let labels = &swagger["paths"]["/labels"]["post"];
    assert!(
        labels["requestBody"]["content"]["text/csv"].is_object(),
        "{labels}"
    );
    assert_eq!(
        swagger["components"]["schemas"]["LabelsRequest"]["properties"]["labels"]["items"]["properties"]
            ["label"]["oneOf"][0]["enum"],
        serde_json::json!(["no", "yes"])
    );
}

#[test]
fn a_full_or_closed_log_refuses_labels_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir.path().join("log.sqlite"), |_| {});
    log.close().unwrap();
    let label = LabelRecord {
        request_id: "r".into(),
        row: 0,
        label: "no".into(),
    };
    let error = log.record_labels(vec![label], 0).unwrap_err();
    assert!(error.to_string().contains("closed"), "{error}");
    assert_eq!(log.dropped_rows(), 0);
}

/// A log written by layout version 1 (committed in `tests/fixtures`) gains the labels tables
/// at open (an additive step to version 2, then `minute_stats` for version 3 and the input
/// blocks for version 4), keeps its rows,
/// and takes labels; it records no model's classes, so they are not checked.
#[test]
fn a_version_1_log_migrates_and_takes_labels() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_v1_fixture(dir.path());
    let labels = write(
        dir.path(),
        "l.csv",
        "request_id,row,label\nfixture-1,1,anything\nfixture-2,0,no\n",
    );
    let import = import_labels(&db, &labels).unwrap();
    assert!(!import.classes_checked);
    // fixture-2 was refused (no scored row 0): it does not match.
    assert_eq!((import.matched, import.unmatched), (1, 1));
    let connection = Connection::open(&db).unwrap();
    let version: String = connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "4");
    let minutes: i64 = connection
        .query_row("SELECT count(*) FROM minute_stats", [], |r| r.get(0))
        .unwrap();
    assert_eq!(minutes, 1);
    let rows: i64 = connection
        .query_row("SELECT count(*) FROM predictions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 3);
}
