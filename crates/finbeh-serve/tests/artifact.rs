//! The server over a REAL finbeh artifact, trained here on generated banking data: every request
//! form, categorical and date columns, unseen categories, nulls, bad values, swagger, loading.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::Router;
use axum::http::StatusCode;
use common::{get, score, send};
use finbeh_config::ModelSettings;
use finbeh_data::{ColumnKind, DataParams, generate_banking_csv, load_dataset};
use finbeh_serve::{AppState, ArtifactScorer, ServeError, ServerParams, app, artifact_loader};
use finbeh_train::{ModelArtifact, TrainingJob};
use serde_json::{Map, Value, json};

/// One small model trained once per test binary: 600 generated rows, 8 shallow trees.
fn artifact_path() -> &'static Path {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_dir, path) = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("bank.csv");
        generate_banking_csv(std::fs::File::create(&csv).unwrap(), 600, 7).unwrap();
        let params = DataParams::default()
            .with_target("Anomaly")
            .check()
            .unwrap();
        let data = load_dataset(&csv, &params).unwrap();
        let model = ModelSettings {
            name: "bank-anomaly".into(),
            version: "3".into(),
            n_estimators: 8,
            max_depth: 5,
            n_jobs: 1,
            ..ModelSettings::default()
        };
        let job = TrainingJob {
            data_params: &params,
            model: &model,
            test_file: None,
            data_file_name: Some("bank.csv".into()),
            progress: false,
        };
        let outcome = job.run(&data).unwrap();
        let path = dir.path().join("model.finbeh");
        outcome.artifact.write(&path).unwrap();
        (dir, path)
    });
    path
}

fn artifact() -> ModelArtifact {
    ModelArtifact::read(artifact_path()).unwrap()
}

fn served() -> (Router, AppState) {
    let state = AppState::new(ServerParams::default().check().unwrap(), artifact_loader());
    state.load(Some(artifact_path()), None).unwrap();
    (app(state.clone()), state)
}

fn column_names(artifact: &ModelArtifact) -> Vec<String> {
    artifact
        .input_columns()
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

/// Golden records (raw values in column order) and their P(positive) stored at training time.
fn golden(artifact: &ModelArtifact) -> Vec<(Vec<Value>, f64)> {
    artifact
        .metadata()
        .golden_set
        .iter()
        .map(|g| {
            let bits = u64::from_str_radix(&g.expected[1], 16).unwrap();
            (g.record.clone(), f64::from_bits(bits))
        })
        .collect()
}

fn named(names: &[String], values: &[Value]) -> Value {
    let map: Map<String, Value> = names.iter().cloned().zip(values.iter().cloned()).collect();
    Value::Object(map)
}

/// The probability tokens exactly as the server wrote them (no float parsing in between).
fn probability_tokens(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    let start = text.find(r#""probabilities":["#).unwrap() + r#""probabilities":["#.len();
    let end = start + text[start..].find(']').unwrap();
    text[start..end].split(',').map(str::to_owned).collect()
}

fn assert_golden(body: &[u8], expected: &[f64]) {
    let got: Vec<f64> = probability_tokens(body)
        .iter()
        .map(|t| t.parse::<f64>().unwrap())
        .collect();
    let got_bits: Vec<u64> = got.iter().map(|p| p.to_bits()).collect();
    let expected_bits: Vec<u64> = expected.iter().map(|p| p.to_bits()).collect();
    assert_eq!(got_bits, expected_bits, "{got:?} vs {expected:?}");
}

#[tokio::test]
async fn every_request_form_reproduces_the_golden_set_bit_for_bit() {
    let artifact = artifact();
    let names = column_names(&artifact);
    let golden = golden(&artifact);
    let records: Vec<Vec<Value>> = golden.iter().map(|(r, _)| r.clone()).collect();
    let expected: Vec<f64> = golden.iter().map(|(_, p)| *p).collect();
    let objects: Vec<Value> = records.iter().map(|r| named(&names, r)).collect();
    // The same rows with the columns in reverse order, for the split forms.
    let reversed_names: Vec<String> = names.iter().rev().cloned().collect();
    let reversed_rows: Vec<Vec<Value>> = records
        .iter()
        .map(|r| r.iter().rev().cloned().collect())
        .collect();
    let forms = [
        json!({"data": records}),
        json!({"data": objects}),
        json!(objects),
        json!({"dataframe_records": objects}),
        json!({"input_data": {"columns": reversed_names, "index": (0..records.len()).collect::<Vec<_>>(), "data": reversed_rows}}),
        json!({"dataframe_split": {"columns": reversed_names, "data": reversed_rows}}),
        json!({"dataframe_split": {"data": records}}),
    ];
    let (app, _state) = served();
    for form in &forms {
        let answer = score(&app, &form.to_string()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert_golden(&answer.body, &expected);
        let json = answer.json();
        assert_eq!(
            json["model"],
            json!({"name": "bank-anomaly", "version": "3"})
        );
        // Binary labels "-1"/"1" come back as numbers, decided at the artifact's threshold on
        // P(Anomaly = -1), the positive (minority) class.
        let threshold = artifact.threshold().unwrap();
        for (prediction, p) in json["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&expected)
        {
            assert_eq!(prediction, &json!(if *p >= threshold { -1 } else { 1 }));
        }
    }
    // One bare record.
    let answer = score(&app, &objects[0].to_string()).await;
    assert_golden(&answer.body, &expected[..1]);
}

#[tokio::test]
async fn a_batch_and_its_rows_one_by_one_give_identical_floats() {
    let artifact = artifact();
    let records: Vec<Vec<Value>> = golden(&artifact).into_iter().map(|(r, _)| r).collect();
    let (app, _state) = served();
    let batch = score(&app, &json!({"data": records}).to_string()).await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text());
    let batch_tokens = probability_tokens(&batch.body);
    assert_eq!(batch_tokens.len(), records.len());
    for (record, batch_token) in records.iter().zip(&batch_tokens) {
        let single = score(&app, &json!({"data": [record]}).to_string()).await;
        assert_eq!(probability_tokens(&single.body), vec![batch_token.clone()]);
    }
}

#[tokio::test]
async fn unseen_categories_and_nulls_are_scored() {
    let artifact = artifact();
    let names = column_names(&artifact);
    let columns = artifact.input_columns();
    let (record, _) = golden(&artifact).into_iter().next().unwrap();
    let (app, _state) = served();

    let mut unseen = record.clone();
    let mut nulls = record.clone();
    for (i, column) in columns.iter().enumerate() {
        if column.kind == ColumnKind::Categorical {
            unseen[i] = json!("a category never seen in training");
        }
        if i % 2 == 0 {
            nulls[i] = Value::Null; // imputed by the pipeline
        }
    }
    for record in [unseen, nulls] {
        let answer = score(&app, &json!({"data": [named(&names, &record)]}).to_string()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let p = probability_tokens(&answer.body)[0].parse::<f64>().unwrap();
        assert!((0.0..=1.0).contains(&p));
    }

    // The all-missing golden record is every column null.
    let all_null = vec![Value::Null; names.len()];
    let stored = golden(&artifact)
        .into_iter()
        .find(|(r, _)| r.iter().all(Value::is_null))
        .unwrap()
        .1;
    let answer = score(&app, &json!({"data": [all_null]}).to_string()).await;
    assert_golden(&answer.body, &[stored]);
}

#[tokio::test]
async fn a_bad_date_is_a_400_naming_the_row_and_the_field() {
    let artifact = artifact();
    let names = column_names(&artifact);
    let date = artifact
        .input_columns()
        .iter()
        .position(|c| c.kind == ColumnKind::Date)
        .unwrap();
    let (record, _) = golden(&artifact).into_iter().next().unwrap();
    let mut bad = record.clone();
    bad[date] = json!("31/31/2023");
    let (app, _state) = served();
    let bodies = [
        json!({"data": [record.clone(), bad.clone()]}),
        json!({"dataframe_records": [named(&names, &record), named(&names, &bad)]}),
    ];
    for body in bodies {
        let answer = score(&app, &body.to_string()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
        assert_eq!(answer.error_code(), "invalid_input");
        let detail = &answer.json()["error"]["details"][0];
        assert_eq!(detail["row"], 1);
        assert_eq!(detail["field"], json!(names[date]));
        let problem = detail["problem"].as_str().unwrap();
        assert!(
            problem.contains("31/31/2023") && problem.contains("date"),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn a_number_too_large_for_the_model_is_a_400() {
    let artifact = artifact();
    let numeric = artifact
        .input_columns()
        .iter()
        .position(|c| c.kind == ColumnKind::Numeric)
        .unwrap();
    let (mut record, _) = golden(&artifact).into_iter().next().unwrap();
    record[numeric] = json!(1e300);
    let (app, _state) = served();
    let answer = score(&app, &json!({"data": [record]}).to_string()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    let detail = &answer.json()["error"]["details"][0];
    assert_eq!(detail["row"], 0);
    assert!(detail["field"].is_string(), "{detail}");
}

#[tokio::test]
async fn swagger_lists_the_artifacts_input_columns_and_types() {
    let artifact = artifact();
    let (app, _state) = served();
    let swagger = send(&app, get("/swagger.json")).await.json();
    assert_eq!(
        swagger["components"]["schemas"]["ScoreResponse"]["properties"]["probabilities"]["description"],
        "Per row, the probability that Anomaly = -1 (the positive class)."
    );
    let record = &swagger["components"]["schemas"]["Record"];
    let properties = record["properties"].as_object().unwrap();
    let names: Vec<&String> = properties.keys().collect();
    let mut expected: Vec<&String> = artifact.input_columns().iter().map(|c| &c.name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);
    assert_eq!(
        record["required"],
        json!(column_names(&artifact)),
        "required lists the columns in model order"
    );
    let positional = swagger["components"]["schemas"]["PositionalRow"]["items"]
        .as_array()
        .unwrap();
    assert_eq!(positional.len(), artifact.input_columns().len());
    for (column, item) in artifact.input_columns().iter().zip(positional) {
        let property = &properties[&column.name];
        assert_eq!(property, item);
        match column.kind {
            ColumnKind::Numeric => assert_eq!(property["type"], "number"),
            ColumnKind::Date => {
                assert_eq!(
                    (&property["type"], &property["format"]),
                    (&json!("string"), &json!("date"))
                );
            }
            ColumnKind::Categorical | ColumnKind::Boolean => assert!(property["oneOf"].is_array()),
        }
    }
    let ready = send(&app, get("/health/ready")).await.json();
    assert_eq!(ready["model"]["name"], "bank-anomaly");
}

#[test]
fn a_corrupt_or_foreign_file_is_refused_naming_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(artifact_path()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(dir.path().join("a-corrupt.finbeh"), &bytes).unwrap();
    std::fs::write(
        dir.path().join("b-foreign.finbeh"),
        b"{\"not\": \"a model\"}",
    )
    .unwrap();
    let state = AppState::new(ServerParams::default().check().unwrap(), artifact_loader());
    match state.load(None, Some(dir.path())) {
        Err(ServeError::NoModelLoaded { tried }) => {
            assert_eq!(tried.len(), 2);
            assert!(tried[0].reason.contains("SHA-256"), "{}", tried[0].reason);
            assert!(
                tried[1].reason.contains("not a finbeh model artifact"),
                "{}",
                tried[1].reason
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!state.is_ready());

    // A good file next to them is found and served.
    std::fs::copy(artifact_path(), dir.path().join("c-good.finbeh")).unwrap();
    assert_eq!(
        state.load(None, Some(dir.path())).unwrap(),
        dir.path().join("c-good.finbeh")
    );
    let scorer = ArtifactScorer::read(artifact_path()).unwrap();
    assert_eq!(scorer.artifact().metadata().model_version, "3");
}
