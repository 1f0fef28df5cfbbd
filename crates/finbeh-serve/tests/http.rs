//! Contract tests of the HTTP interface, driven through `app()` without a socket.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use finbeh_config::{Secret, ServeSettings};
use finbeh_serve::{AppState, ServerParams, app};
use serde_json::{Value, json};

fn assert_probabilities(answer: &Answer, expected: &[f64]) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let json = answer.json();
    let got: Vec<f64> = json["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(got.len(), expected.len(), "{json}");
    for (g, e) in got.iter().zip(expected) {
        assert!(
            (g - e).abs() < 1e-12,
            "probability {g} != expected {e} in {json}"
        );
    }
    let predictions: Vec<Value> = expected
        .iter()
        .map(|&p| json!(u8::from(p >= 0.5)))
        .collect();
    assert_eq!(json["predictions"], Value::Array(predictions));
    assert_eq!(json["model"], json!({"name": "churn", "version": "1.0.0"}));
}

fn two_rows() -> [f64; 2] {
    [
        expected_probability(1200.0, 30.0, true),
        expected_probability(300.0, 61.0, false),
    ]
}

const RECORD0: &str =
    r#"{"income": 1200, "age": 30, "segment": "retail", "has_card": true, "opened": "2020-01-02"}"#;
// Same kind of record, keys in another order, a null (missing) date.
const RECORD1: &str =
    r#"{"opened": null, "has_card": false, "segment": "premium", "age": 61, "income": 300}"#;

#[tokio::test]
async fn every_request_form_scores_the_same_rows() {
    let (app, _state, _dir) = binary_app();
    let expected = two_rows();
    let forms = [
        r#"{"data": [[1200, 30, "retail", true, "2020-01-02"], [300, 61, "premium", false, null]]}"#
            .to_owned(),
        format!(r#"{{"data": [{RECORD0}, {RECORD1}]}}"#),
        format!("[{RECORD0}, {RECORD1}]"),
        format!(r#"{{"dataframe_records": [{RECORD0}, {RECORD1}]}}"#),
        r#"{"input_data": {"columns": ["age", "income", "opened", "segment", "has_card"],
            "index": [7, 8],
            "data": [[30, 1200, "2020-01-02", "retail", true], [61, 300, null, "premium", false]]}}"#
            .to_owned(),
        r#"{"dataframe_split": {"columns": ["segment", "has_card", "opened", "income", "age"],
            "data": [["retail", true, "2020-01-02", 1200, 30], ["premium", false, null, 300, 61]]}}"#
            .to_owned(),
        r#"{"dataframe_split": {"data": [[1200, 30, "retail", true, "2020-01-02"], [300, 61, "premium", false, null]]}}"#
            .to_owned(),
    ];
    for form in &forms {
        let answer = score(&app, form).await;
        assert_probabilities(&answer, &expected);
    }
    // One bare record.
    let answer = score(&app, RECORD1).await;
    assert_probabilities(&answer, &expected[1..]);
}

/// Clients send whole records: a column the training file had but the model does not read (an
/// id, personal data, the target) is skipped in every named form; an unknown one is still a 400.
#[tokio::test]
async fn columns_the_model_ignores_are_skipped_in_named_forms() {
    let (app, _state, _dir) = binary_app();
    let expected = two_rows();
    let with_id0 = RECORD0.replacen('{', &format!(r#"{{"{IGNORED_COLUMN}": 17, "#), 1);
    let with_id1 = RECORD1.replacen('{', &format!(r#"{{"{IGNORED_COLUMN}": "c-2", "#), 1);
    let forms = [
        format!("[{with_id0}, {with_id1}]"),
        format!(r#"{{"dataframe_records": [{with_id0}, {with_id1}]}}"#),
        format!(
            r#"{{"dataframe_split": {{"columns": ["segment", "{IGNORED_COLUMN}", "has_card", "opened", "income", "age"],
            "data": [["retail", 17, true, "2020-01-02", 1200, 30], ["premium", "c-2", false, null, 300, 61]]}}}}"#
        ),
    ];
    for form in &forms {
        let answer = score(&app, form).await;
        assert_probabilities(&answer, &expected);
    }
    let error = bad_request(&app, &RECORD0.replacen('{', r#"{"customer_idd": 1, "#, 1)).await;
    assert!(
        has_detail(&error, Some(0), Some("customer_idd"), "unknown column"),
        "{error}"
    );
}

#[tokio::test]
async fn numeric_strings_and_nulls_are_accepted() {
    let (app, _state, _dir) = binary_app();
    let answer = score(
        &app,
        r#"{"data": [[" 1200 ", "3e1", "retail", "yes", "2020-01-02"], [null, null, null, null, null]]}"#,
    )
    .await;
    assert_probabilities(
        &answer,
        &[
            expected_probability(1200.0, 30.0, true),
            expected_probability(0.0, 0.0, false),
        ],
    );
}

#[tokio::test]
async fn multiclass_answers_list_per_class_probabilities_and_string_labels() {
    let (state, _dir) = loaded(ServerParams::default(), MULTI, None);
    let app = app(state);
    let answer = score(&app, &format!("[{RECORD0}, {RECORD1}]")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    assert_eq!(json["predictions"], json!(["high", "low"]));
    let rows = json["probabilities"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 3);
        let total: f64 = row.iter().map(|p| p.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
    assert_eq!(json["model"], json!({"name": "tier", "version": "2.0.0"}));
}

#[tokio::test]
async fn health_routes() {
    let (app, _state, _dir) = binary_app();
    let root = send(&app, get("/")).await;
    assert_eq!(
        (root.status, root.text().as_str()),
        (StatusCode::OK, "Healthy")
    );
    let live = send(&app, get("/health/live")).await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json()["status"], "alive");
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::OK);
    let json = ready.json();
    assert_eq!(json["status"], "ready");
    assert_eq!(json["model"]["name"], "churn");
    assert!(
        json["model"]["path"]
            .as_str()
            .unwrap()
            .ends_with("model.finbeh")
    );
    assert_eq!(json["last_failed_load"], Value::Null);
}

#[tokio::test]
async fn not_ready_until_a_model_loads() {
    let state = AppState::new(ServerParams::default().check().unwrap(), loader(None));
    let app = app(state.clone());
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json()["status"], "not_ready");
    assert!(ready.json()["reason"].is_string());
    let answer = score(&app, RECORD0).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.error_code(), "not_ready");
    assert_eq!(
        send(&app, get("/swagger.json")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Liveness does not depend on the model.
    assert_eq!(send(&app, get("/health/live")).await.status, StatusCode::OK);

    // A start-up failure is reported with every path tried.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.finbeh"), "broken: bad checksum").unwrap();
    let err = state.load(None, Some(dir.path())).unwrap_err();
    assert!(err.to_string().contains("a.finbeh"), "{err}");
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let failure = &ready.json()["last_failed_load"];
    assert_eq!(failure["during"], "startup");
    assert!(
        failure["tried"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("checksum")
    );
}

#[tokio::test]
async fn swagger_describes_the_models_columns() {
    let (app, _state, _dir) = binary_app();
    let answer = send(&app, get("/swagger.json")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let doc = answer.json();
    assert_eq!(doc["openapi"], "3.0.3");
    let record = &doc["components"]["schemas"]["Record"];
    assert_eq!(record["properties"]["income"]["type"], "number");
    assert_eq!(record["properties"]["opened"]["format"], "date");
    assert_eq!(
        record["required"],
        json!(["income", "age", "segment", "has_card", "opened"])
    );
    let forms = doc["components"]["schemas"]["ScoreRequest"]["oneOf"]
        .as_array()
        .unwrap();
    assert_eq!(forms.len(), 6);
    let post = &doc["paths"]["/score"]["post"];
    for status in ["200", "400", "413", "415", "429", "431", "503"] {
        assert!(
            post["responses"][status].is_object(),
            "no {status} response"
        );
    }
    // Open server: no security requirement.
    assert!(post.get("security").is_none());

    let (state, _dir) = loaded(keyed_params(), BINARY, None);
    let doc = send(&app_of(state), get("/swagger.json")).await.json();
    assert_eq!(
        doc["paths"]["/score"]["post"]["security"],
        json!([{"bearerAuth": []}])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert!(doc["paths"]["/score"]["post"]["responses"]["401"].is_object());
}

fn app_of(state: AppState) -> axum::Router {
    app(state)
}

const PRIMARY: &str = "primary-key-0123456789abcdef";
const SECONDARY: &str = "secondary-key-0123456789abcdef";

fn keyed_params() -> ServerParams {
    ServerParams(ServeSettings {
        primary_key: Some(Secret::new(PRIMARY.into())),
        secondary_key: Some(Secret::new(SECONDARY.into())),
        ..ServeSettings::default()
    })
}

fn with_auth(value: &str) -> Request<Body> {
    Request::post("/score")
        .header("content-type", "application/json")
        .header("authorization", value)
        .body(Body::from(RECORD0))
        .unwrap()
}

#[tokio::test]
async fn bearer_keys_guard_score() {
    let (state, _dir) = loaded(keyed_params(), BINARY, None);
    let app = app(state);
    for good in [
        format!("Bearer {PRIMARY}"),
        format!("Bearer {SECONDARY}"),
        format!("bearer {PRIMARY}"),
    ] {
        assert_eq!(
            send(&app, with_auth(&good)).await.status,
            StatusCode::OK,
            "{good}"
        );
    }
    let wrong = [
        format!("Bearer {PRIMARY}x"),
        format!("Bearer {}", &PRIMARY[1..]),
        "Bearer ".to_owned(),
        format!("Basic {PRIMARY}"),
        PRIMARY.to_owned(),
    ];
    for bad in &wrong {
        let answer = send(&app, with_auth(bad)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(answer.error_code(), "unauthorized");
        assert!(
            !answer.text().contains(PRIMARY),
            "a key leaked into an answer"
        );
    }
    let missing = score(&app, RECORD0).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    // Probes and docs stay open.
    assert_eq!(
        send(&app, get("/health/ready")).await.status,
        StatusCode::OK
    );
    assert_eq!(send(&app, get("/metrics")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn without_keys_score_is_open() {
    let (app, _state, _dir) = binary_app();
    assert_eq!(
        send(&app, with_auth("Bearer anything")).await.status,
        StatusCode::OK
    );
    assert_eq!(score(&app, RECORD0).await.status, StatusCode::OK);
}

#[tokio::test]
async fn request_id_is_echoed_or_generated_and_exec_time_set() {
    let (app, _state, _dir) = binary_app();
    let request = Request::post("/score")
        .header("content-type", "application/json")
        .header("x-request-id", "abc-123")
        .body(Body::from(RECORD0))
        .unwrap();
    let answer = send(&app, request).await;
    assert_eq!(answer.headers["x-request-id"], "abc-123");
    let exec: f64 = answer.headers["x-ms-run-fn-exec-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(exec >= 0.0);

    let first = score(&app, RECORD0).await.headers["x-request-id"].clone();
    let second = send(&app, get("/health/live")).await.headers["x-request-id"].clone();
    assert!(!first.is_empty());
    assert_ne!(first, second);

    let exactly_100 = "x".repeat(100);
    let request = Request::get("/")
        .header("x-request-id", &exactly_100)
        .body(Body::empty())
        .unwrap();
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["x-request-id"], exactly_100.as_str());

    let request = Request::post("/score")
        .header("content-type", "application/json")
        .header("x-request-id", "y".repeat(101))
        .body(Body::from(RECORD0))
        .unwrap();
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(answer.error_code(), "request_header_fields_too_large");
}

async fn bad_request(app: &axum::Router, body: &str) -> Value {
    let answer = score(app, body).await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{body} -> {}",
        answer.text()
    );
    answer.error_code();
    answer.json()["error"].clone()
}

fn has_detail(error: &Value, row: Option<u64>, field: Option<&str>, problem_part: &str) -> bool {
    error["details"].as_array().unwrap().iter().any(|d| {
        d["row"].as_u64() == row
            && d["field"].as_str() == field
            && d["problem"].as_str().unwrap().contains(problem_part)
    })
}

#[tokio::test]
async fn malformed_json_and_unknown_shapes_are_400() {
    let (app, _state, _dir) = binary_app();
    for body in [
        "",
        "{",
        r#"{"data": [[1,2]"#,
        "nul",
        "\u{feff}\u{feff}{}",
        r#"{"a":1}x"#,
    ] {
        assert_eq!(
            bad_request(&app, body).await["code"],
            "malformed_json",
            "{body:?}"
        );
    }
    for body in [
        "42",
        r#""text""#,
        "null",
        r#"{"data": 5}"#,
        r#"{"data": {"income": 1}}"#,
        r#"{"data": [], "extra": 1}"#,
        r#"{"input_data": [[1]]}"#,
        r#"{"input_data": {"columns": ["income"]}}"#,
        r#"{"dataframe_split": {"data": [[1]], "orient": "split"}}"#,
        r#"{"dataframe_split": {"data": [[1200, 30, "r", true, null]], "index": [1, 2]}}"#,
        r#"{"dataframe_records": {"income": 1}}"#,
    ] {
        assert_eq!(
            bad_request(&app, body).await["code"],
            "unknown_shape",
            "{body}"
        );
    }
}

#[tokio::test]
async fn empty_and_too_many_rows_are_400() {
    let (app, _state, _dir) = binary_app();
    for body in [
        "[]",
        r#"{"data": []}"#,
        r#"{"dataframe_records": []}"#,
        r#"{"input_data": {"data": []}}"#,
    ] {
        assert_eq!(
            bad_request(&app, body).await["code"],
            "empty_data",
            "{body}"
        );
    }
    let params = ServerParams(ServeSettings {
        max_rows_per_request: 2,
        ..ServeSettings::default()
    });
    let (state, _dir) = loaded(params, BINARY, None);
    let app = app_of(state);
    let three = format!("[{RECORD0}, {RECORD0}, {RECORD0}]");
    let error = bad_request(&app, &three).await;
    assert_eq!(error["code"], "too_many_rows");
    assert!(error["message"].as_str().unwrap().contains("at most 2"));
    assert_eq!(
        score(&app, &format!("[{RECORD0}, {RECORD0}]")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn missing_and_unknown_columns_are_each_listed() {
    let (app, _state, _dir) = binary_app();
    let error = bad_request(
        &app,
        r#"[{"income": 1, "age": 2, "segment": "a", "has_card": true, "opened": null},
            {"income": 1, "segment": "a", "has_card": true, "colour": "red", "size": 3}]"#,
    )
    .await;
    assert_eq!(error["code"], "invalid_input");
    assert!(
        has_detail(&error, Some(1), Some("age"), "missing column"),
        "{error}"
    );
    assert!(
        has_detail(&error, Some(1), Some("opened"), "missing column"),
        "{error}"
    );
    assert!(
        has_detail(&error, Some(1), Some("colour"), "unknown column"),
        "{error}"
    );
    assert!(
        has_detail(&error, Some(1), Some("size"), "unknown column"),
        "{error}"
    );
    assert_eq!(error["details"].as_array().unwrap().len(), 4, "{error}");

    let error = bad_request(
        &app,
        r#"{"dataframe_split": {"columns": ["income", "age", "segment", "colour", "age"], "data": [[1, 2, "a", "b", 3]]}}"#,
    )
    .await;
    assert!(
        has_detail(&error, None, Some("colour"), "unknown column"),
        "{error}"
    );
    assert!(has_detail(&error, None, Some("age"), "twice"), "{error}");
    assert!(
        has_detail(&error, None, Some("has_card"), "missing column"),
        "{error}"
    );
    assert!(
        has_detail(&error, None, Some("opened"), "missing column"),
        "{error}"
    );

    let error = bad_request(
        &app,
        r#"{"data": [[1, 2, "a", true], [1, 2, "a", true, null]]}"#,
    )
    .await;
    assert!(
        has_detail(&error, Some(0), None, "expected 5 values"),
        "{error}"
    );
    assert_eq!(error["details"].as_array().unwrap().len(), 1);

    let error = bad_request(
        &app,
        r#"{"input_data": {"columns": ["income", "age", "segment", "has_card", "opened"], "data": [[1, 2, "a", true]]}}"#,
    )
    .await;
    assert!(
        has_detail(&error, Some(0), None, "expected 5 values"),
        "{error}"
    );
}

#[tokio::test]
async fn wrong_types_and_non_finite_numbers_are_400_with_details() {
    let (app, _state, _dir) = binary_app();
    let error = bad_request(
        &app,
        r#"{"data": [
            [{"a": 1}, [1], "retail", true, "2020-01-01"],
            [true, 1, false, true, 20200101],
            ["NaN", "inf", "x", "yes", null],
            ["-Infinity", "12abc", 5, 1, "2020-01-01"]
        ]}"#,
    )
    .await;
    assert_eq!(error["code"], "invalid_input");
    let expect = [
        (0, "income", "got an object"),
        (0, "age", "got an array"),
        (1, "income", "got a boolean"),
        (1, "segment", "got a boolean"),
        (1, "opened", "got a number"),
        (2, "income", "non-finite"),
        (2, "age", "non-finite"),
        (3, "income", "non-finite"),
        (3, "age", "expected a number"),
    ];
    for (row, field, problem) in expect {
        assert!(
            has_detail(&error, Some(row), Some(field), problem),
            "{row} {field} {problem}: {error}"
        );
    }
    assert_eq!(
        error["details"].as_array().unwrap().len(),
        expect.len(),
        "{error}"
    );
    assert_eq!(
        error["message"],
        format!("{} problems in the input", expect.len())
    );
}

#[tokio::test]
async fn problems_beyond_one_hundred_are_counted_not_listed() {
    let (app, _state, _dir) = binary_app();
    let rows: Vec<String> = (0..150)
        .map(|_| r#"[true, 1, "a", true, null]"#.to_owned())
        .collect();
    let error = bad_request(&app, &format!(r#"{{"data": [{}]}}"#, rows.join(","))).await;
    assert_eq!(error["details"].as_array().unwrap().len(), 100);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("150 problems")
    );
}

#[tokio::test]
async fn a_value_the_model_refuses_is_400() {
    let (app, _state, _dir) = binary_app();
    let error = bad_request(
        &app,
        r#"{"data": [[1, 2, "ok", true, null], [1, 2, "unreadable", true, null]]}"#,
    )
    .await;
    assert_eq!(error["code"], "invalid_input");
    assert!(
        has_detail(&error, Some(1), Some("segment"), "cannot be read"),
        "{error}"
    );
}

#[tokio::test]
async fn body_limit_is_413() {
    let params = ServerParams(ServeSettings {
        max_body_bytes: 256,
        ..ServeSettings::default()
    });
    let (state, _dir) = loaded(params, BINARY, None);
    let app = app(state);
    let big = format!("[{}]", [RECORD0; 4].join(","));
    assert!(big.len() > 256);
    let answer = score(&app, &big).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.error_code(), "payload_too_large");
    // Exactly at the limit is accepted (whitespace pads a valid body to 256 bytes).
    let at_limit = format!("{RECORD0:<256}");
    assert_eq!(at_limit.len(), 256);
    assert_eq!(score(&app, &at_limit).await.status, StatusCode::OK);
    let over = format!("{RECORD0:<257}");
    assert_eq!(
        score(&app, &over).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn content_type_must_be_json() {
    let (app, _state, _dir) = binary_app();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let request = Request::post("/score")
            .header("content-type", content_type)
            .body(Body::from(RECORD0))
            .unwrap();
        let answer = send(&app, request).await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert_eq!(answer.error_code(), "unsupported_media_type");
    }
    let no_type = Request::post("/score").body(Body::from(RECORD0)).unwrap();
    assert_eq!(
        send(&app, no_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    for content_type in [
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ] {
        let request = Request::post("/score")
            .header("content-type", content_type)
            .body(Body::from(RECORD0))
            .unwrap();
        assert_eq!(
            send(&app, request).await.status,
            StatusCode::OK,
            "{content_type}"
        );
    }
}

#[tokio::test]
async fn wrong_method_and_unknown_route_are_json() {
    let (app, _state, _dir) = binary_app();
    let answer = send(&app, get("/score")).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.error_code(), "method_not_allowed");
    assert_eq!(answer.headers["allow"], "POST");
    let answer = send(&app, Request::post("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers["allow"], "GET, HEAD");
    let answer = send(&app, get("/nope")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.error_code(), "not_found");
    assert!(answer.headers.contains_key("x-request-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_over_the_concurrency_limit_are_429_immediately() {
    let (gate, arrived) = Gate::new();
    let params = ServerParams(ServeSettings {
        max_concurrent_requests: 2,
        ..ServeSettings::default()
    });
    let (state, _dir) = loaded(params, BINARY, Some(gate.clone()));
    let app = app(state);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { score(&app, RECORD0).await.status })
        })
        .collect();
    for _ in 0..2 {
        arrived
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
    }
    let metrics = send(&app, get("/metrics")).await.text();
    assert!(
        metrics.contains("finbeh_score_requests_in_flight 2"),
        "{metrics}"
    );
    let answer = score(&app, RECORD0).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.error_code(), "too_many_requests");
    gate.release();
    for task in held {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    // Slots were given back, including the rejected request's.
    assert_eq!(score(&app, RECORD0).await.status, StatusCode::OK);
    let metrics = send(&app, get("/metrics")).await.text();
    assert!(
        metrics.contains("finbeh_score_requests_in_flight 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_panicking_scorer_is_500_and_the_server_goes_on() {
    let (app, _state, _dir) = binary_app();
    let answer = score(&app, r#"{"data": [[1, 2, "panic", true, null]]}"#).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.error_code(), "internal_error");
    assert!(answer.headers.contains_key("x-request-id"));
    assert_eq!(score(&app, RECORD0).await.status, StatusCode::OK);
    let metrics = send(&app, get("/metrics")).await.text();
    assert!(
        metrics.contains(r#"finbeh_http_requests_total{route="/score",status="500"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("finbeh_score_requests_in_flight 0"),
        "{metrics}"
    );
}

/// `n` rows of the positional form, in a body past the size scored on the blocking pool.
fn big_batch(n: usize, segment: &str) -> (String, Vec<f64>) {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"[{}.25, {}, "{segment}", {}, "2021-03-04"]"#,
                1000 + i,
                18 + i % 60,
                i % 2 == 0
            )
        })
        .collect();
    let expected = (0..n)
        .map(|i| expected_probability(1000.0 + i as f64 + 0.25, (18 + i % 60) as f64, i % 2 == 0))
        .collect();
    (format!(r#"{{"data": [{}]}}"#, rows.join(", ")), expected)
}

#[tokio::test]
async fn a_big_batch_is_scored_like_a_small_one_and_its_panic_is_a_500() {
    let (app, _state, _dir) = binary_app();
    let (body, expected) = big_batch(3000, "retail");
    assert!(
        body.len() > 128 * 1024,
        "the body must take the blocking path"
    );
    let answer = score(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    let got = json["probabilities"].as_array().unwrap();
    assert_eq!(got.len(), expected.len());
    for (got, expected) in got.iter().zip(&expected) {
        // serde_json's default float parsing may be off by one unit in the last place.
        assert!((got.as_f64().unwrap() - expected).abs() < 1e-12);
    }

    let (body, _) = big_batch(3000, "panic");
    let answer = score(&app, &body).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.error_code(), "internal_error");
    assert_eq!(score(&app, RECORD0).await.status, StatusCode::OK);
}

#[tokio::test]
async fn reload_swaps_models_and_a_broken_file_keeps_the_old_one() {
    let (state, dir) = loaded(ServerParams::default(), BINARY, None);
    let app = app(state.clone());
    let path = dir.path().join("model.finbeh");

    std::fs::write(&path, "churn 1.1.0 0,1").unwrap();
    assert_eq!(state.reload().unwrap(), path);
    assert_eq!(
        score(&app, RECORD0).await.json()["model"]["version"],
        "1.1.0"
    );

    std::fs::write(&path, "broken: golden set mismatch").unwrap();
    let err = state.reload().unwrap_err();
    assert!(err.to_string().contains("golden set mismatch"), "{err}");
    let answer = score(&app, RECORD0).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["model"]["version"], "1.1.0");
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::OK);
    let json = ready.json();
    assert_eq!(json["model"]["version"], "1.1.0");
    let failure = &json["last_failed_load"];
    assert_eq!(failure["during"], "reload");
    assert!(
        failure["tried"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("model.finbeh")
    );
    assert!(
        failure["tried"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("golden set mismatch")
    );

    // A model without enough classes is refused as well.
    std::fs::write(&path, "churn 9.9.9 only").unwrap();
    assert!(state.reload().unwrap_err().to_string().contains("class"));

    std::fs::write(&path, "churn 1.2.0 0,1").unwrap();
    state.reload().unwrap();
    let json = send(&app, get("/health/ready")).await.json();
    assert_eq!(json["model"]["version"], "1.2.0");
    assert_eq!(json["last_failed_load"], Value::Null);
    let metrics = send(&app, get("/metrics")).await.text();
    assert!(
        metrics.contains(r#"finbeh_model_reloads_total{result="success"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"finbeh_model_reloads_total{result="failure"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"finbeh_model_info{name="churn",version="1.2.0"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_panicking_loader_is_a_load_failure() {
    let loader: finbeh_serve::LoadFn = Arc::new(|_| panic!("corrupt"));
    let state = AppState::new(ServerParams::default().check().unwrap(), loader);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.finbeh"), "").unwrap();
    let err = state.load(None, Some(dir.path())).unwrap_err();
    assert!(err.to_string().contains("panicked: corrupt"), "{err}");
    assert!(!state.is_ready());
}
