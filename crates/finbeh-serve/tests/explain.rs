//! `/score` with `"explain"`: exact TreeSHAP per raw input column on a real trained artifact,
//! in every object form, and the refusals (bad option values, an artifact without node cover).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::Router;
use axum::http::StatusCode;
use common::score;
use finbeh_serve::{AppState, ServerParams, app, artifact_loader};
use finbeh_train::ModelArtifact;
use serde_json::{Value, json};

fn mixed_path() -> &'static Path {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_dir, path) = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = common::train_mixed_artifact(dir.path());
        (dir, path)
    });
    path
}

fn served(path: &Path) -> Router {
    let state = AppState::new(ServerParams::default().check().unwrap(), artifact_loader());
    state.load(Some(path), None).unwrap();
    app(state)
}

const COLUMNS: [&str; 5] = ["income", "age", "segment", "has_card", "opened"];

fn records() -> Vec<Value> {
    vec![
        json!({"income": 1200, "age": 30, "segment": "retail", "has_card": true, "opened": "2015-03-04"}),
        json!({"income": 4800.5, "age": 71, "segment": "business", "has_card": false, "opened": "2019-11-28"}),
        json!({"income": null, "age": 44, "segment": "never-seen", "has_card": null, "opened": null}),
    ]
}

/// Checks one answer's explanations: one per row, every column once (or `top`), sorted by
/// |contribution|, values as sent, and base + Σ = the row's probability within 1e-9.
fn check(answer: &Value, sent: &[Value], top: Option<usize>) {
    let probabilities = answer["probabilities"].as_array().unwrap();
    let explanations = answer["explanations"].as_array().unwrap();
    assert_eq!(explanations.len(), sent.len(), "{answer}");
    for ((explanation, p), record) in explanations.iter().zip(probabilities).zip(sent) {
        let contributions = explanation["contributions"].as_array().unwrap();
        assert_eq!(
            contributions.len(),
            top.unwrap_or(COLUMNS.len()).min(COLUMNS.len())
        );
        let sizes: Vec<f64> = contributions
            .iter()
            .map(|c| c["contribution"].as_f64().unwrap().abs())
            .collect();
        assert!(
            sizes.windows(2).all(|w| w[0] >= w[1]),
            "not sorted: {sizes:?}"
        );
        for c in contributions {
            let column = c["column"].as_str().unwrap();
            assert_eq!(c["value"], record[column], "value of {column}");
        }
        if top.is_none() {
            let sum: f64 = explanation["base"].as_f64().unwrap()
                + contributions
                    .iter()
                    .map(|c| c["contribution"].as_f64().unwrap())
                    .sum::<f64>();
            let p = p.as_f64().unwrap();
            assert!((sum - p).abs() < 1e-9, "base + Σ = {sum}, probability {p}");
        }
    }
}

#[tokio::test]
async fn explanations_are_exact_in_every_object_form() {
    let app = served(mixed_path());
    let rows = records();
    let positional: Vec<Value> = rows
        .iter()
        .map(|r| Value::Array(COLUMNS.iter().map(|c| r[*c].clone()).collect()))
        .collect();
    let bodies = [
        (json!({"data": rows, "explain": true}), None),
        (json!({"explain": true, "dataframe_records": rows}), None),
        (json!({"data": positional, "explain": {"top": 2}}), Some(2)),
        (
            json!({"input_data": {"columns": COLUMNS, "data": positional}, "explain": {"top": 9}}),
            Some(9),
        ),
        (
            json!({"dataframe_split": {"columns": COLUMNS, "data": positional}, "explain": true}),
            None,
        ),
    ];
    for (body, top) in bodies {
        let answer = score(&app, &body.to_string()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        check(&answer.json(), &rows, top);
    }
    // One bare record with `explain` beside its columns.
    let mut one = rows[0].clone();
    one["explain"] = json!(true);
    let answer = score(&app, &one.to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    check(&answer.json(), &rows[..1], None);
    // `false` and no `explain` answer without explanations, with the same probabilities.
    let plain = score(&app, &json!({"data": rows}).to_string()).await.json();
    let off = score(&app, &json!({"data": rows, "explain": false}).to_string())
        .await
        .json();
    assert!(plain.get("explanations").is_none() && off.get("explanations").is_none());
    assert_eq!(plain, off);
    let with = score(&app, &json!({"data": rows, "explain": true}).to_string())
        .await
        .json();
    assert_eq!(plain["probabilities"], with["probabilities"]);
}

#[tokio::test]
async fn the_server_explains_bit_for_bit_like_the_batch_explainer() {
    let app = served(mixed_path());
    let artifact = ModelArtifact::read(mixed_path()).unwrap();
    let explainer = artifact.explainer().unwrap();
    // The golden records, one request of them all.
    let golden = &artifact.metadata().golden_set;
    let rows: Vec<Value> = golden
        .iter()
        .map(|g| {
            let named = COLUMNS
                .iter()
                .map(|c| c.to_string())
                .zip(g.record.iter().cloned());
            Value::Object(named.collect())
        })
        .collect();
    let answer = score(&app, &json!({"data": rows, "explain": true}).to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let answer = answer.json();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("golden.csv");
    let mut text = COLUMNS.join(",") + ",churned\n";
    for r in &rows {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|c| match &r[*c] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        text += &(cells.join(",") + ",0\n");
    }
    std::fs::write(&csv, text).unwrap();
    let params = finbeh_data::DataParams::default()
        .with_target("churned")
        .check()
        .unwrap();
    let (table, _) = finbeh_data::load_records(&csv, artifact.pipeline(), None, &params).unwrap();
    let batch = explainer.explain_table(&table).unwrap();
    for (r, explanation) in answer["explanations"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for c in explanation["contributions"].as_array().unwrap() {
            let column = COLUMNS
                .iter()
                .position(|n| *n == c["column"].as_str().unwrap())
                .unwrap();
            assert_eq!(
                c["contribution"].as_f64().unwrap().to_bits(),
                batch[[r, column]].to_bits(),
                "row {r} column {column}"
            );
        }
    }
}

#[tokio::test]
async fn bad_explain_values_are_400_with_what_is_accepted() {
    let app = served(mixed_path());
    let rows = records();
    for bad in [
        json!("yes"),
        json!(1),
        json!(null),
        json!({"top": 0}),
        json!({"top": -3}),
        json!({"top": 1.5}),
        json!({"top": "2"}),
        json!({"best": 2}),
        json!([true]),
    ] {
        let answer = score(&app, &json!({"data": rows, "explain": bad}).to_string()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.text()
        );
        assert_eq!(answer.error_code(), "invalid_explain", "{bad}");
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("{\"top\": k}"), "{message}");
    }
}

#[tokio::test]
async fn an_artifact_without_node_cover_is_refused_clearly_and_still_scores() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../finbeh-train/tests/fixtures/model-v1.2.0.finbeh"
    );
    let app = served(Path::new(fixture));
    let artifact = ModelArtifact::read(fixture).unwrap();
    let record = Value::Array(artifact.metadata().golden_set[0].record.clone());
    let plain = score(&app, &json!({"data": [record]}).to_string()).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text());
    let answer = score(
        &app,
        &json!({"data": [record], "explain": true}).to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    assert_eq!(answer.error_code(), "explanations_unavailable");
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("node cover") && message.contains("1.2.0"),
        "{message}"
    );
}

#[tokio::test]
async fn swagger_documents_explain_and_explanations() {
    let app = served(mixed_path());
    let swagger = common::send(&app, common::get("/swagger.json"))
        .await
        .json();
    let schemas = &swagger["components"]["schemas"];
    let explain = &schemas["Explain"];
    assert_eq!(explain["oneOf"][0]["type"], "boolean");
    assert_eq!(explain["oneOf"][1]["properties"]["top"]["minimum"], 1);
    for form in schemas["ScoreRequest"]["oneOf"].as_array().unwrap() {
        if form.get("type") == Some(&json!("array")) {
            continue; // a bare list of records has no place for options
        }
        assert_eq!(
            form["properties"]["explain"]["$ref"], "#/components/schemas/Explain",
            "{form}"
        );
    }
    let item = &schemas["ScoreResponse"]["properties"]["explanations"]["items"];
    let fields = &item["properties"]["contributions"]["items"]["required"];
    assert_eq!(fields, &json!(["column", "value", "contribution"]));
}

/// A request explaining many rows is explained off the event loop: a plain request sent
/// after it on the same single-threaded runtime is answered first (it would wait behind the
/// whole explanation if that ran on the loop), and the explanations are still exact.
#[tokio::test(flavor = "current_thread")]
async fn explaining_many_rows_does_not_hold_the_event_loop() {
    let app = served(mixed_path());
    let many: Vec<Value> = records().into_iter().cycle().take(300).collect();
    let heavy_body = json!({"data": many, "explain": true}).to_string();
    let plain_body = json!({"data": records()}).to_string();
    let finished = std::sync::Mutex::new(Vec::new());
    let (heavy, plain) = tokio::join!(
        async {
            let answer = score(&app, &heavy_body).await;
            finished.lock().unwrap().push("heavy");
            answer
        },
        async {
            let answer = score(&app, &plain_body).await;
            finished.lock().unwrap().push("plain");
            answer
        }
    );
    assert_eq!(heavy.status, StatusCode::OK, "{}", heavy.text());
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text());
    assert_eq!(*finished.lock().unwrap(), ["plain", "heavy"]);
    check(&heavy.json(), &many, None);
}

/// A row explained in a request of its own and inside a request of many rows (explained side
/// by side in the kernel's lanes) gets the same explanation, byte for byte.
#[tokio::test]
async fn a_row_alone_and_among_many_gets_the_same_explanation() {
    let app = served(mixed_path());
    let mut many = Vec::new();
    for i in 0..11 {
        let mut r = records()[i % 3].clone();
        r["age"] = json!(20 + 3 * i);
        many.push(r);
    }
    let together = score(&app, &json!({"data": many, "explain": true}).to_string()).await;
    assert_eq!(together.status, StatusCode::OK, "{}", together.text());
    let together = together.json();
    for (i, r) in many.iter().enumerate() {
        let alone = score(&app, &json!({"data": [r], "explain": true}).to_string()).await;
        assert_eq!(alone.status, StatusCode::OK, "{}", alone.text());
        let alone = alone.json();
        assert_eq!(
            alone["explanations"][0].to_string(),
            together["explanations"][i].to_string(),
            "row {i}"
        );
        assert_eq!(alone["probabilities"][0], together["probabilities"][i]);
    }
}

/// 1-row explain requests sent at once (grouped by the explain batcher) get the answers they
/// get one at a time, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_one_row_explanations_match_one_at_a_time() {
    let app = served(mixed_path());
    let bodies: Vec<String> = (0..32)
        .map(|i| {
            let mut r = records()[i % 3].clone();
            r["age"] = json!(19 + 2 * i);
            json!({"data": [r], "explain": true}).to_string()
        })
        .collect();
    let tasks: Vec<_> = bodies
        .iter()
        .map(|body| {
            let (app, body) = (app.clone(), body.clone());
            tokio::spawn(async move { score(&app, &body).await })
        })
        .collect();
    let mut together = Vec::new();
    for task in tasks {
        together.push(task.await.unwrap());
    }
    for (i, (body, answer)) in bodies.iter().zip(together).enumerate() {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let alone = score(&app, body).await;
        assert_eq!(alone.status, StatusCode::OK, "{}", alone.text());
        assert_eq!(alone.body, answer.body, "request {i}");
    }
}
