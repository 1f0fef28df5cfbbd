//! Random and mutated JSON thrown at `/score` never gets a 5xx.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use axum::Router;
use axum::http::StatusCode;
use common::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("NaN".to_owned()),
            Just("inf".to_owned()),
            Just("-Infinity".to_owned()),
            Just("12".to_owned()),
            Just("income".to_owned()),
            Just("data".to_owned()),
            Just("panic-not".to_owned()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("data".to_owned()),
                        Just("columns".to_owned()),
                        Just("index".to_owned()),
                        Just("input_data".to_owned()),
                        Just("dataframe_split".to_owned()),
                        Just("dataframe_records".to_owned()),
                        Just("income".to_owned()),
                        Just("age".to_owned()),
                        Just("segment".to_owned()),
                        Just("has_card".to_owned()),
                        Just("opened".to_owned()),
                        "[a-z]{1,6}",
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Rows close to valid (per-column plausible cells, sometimes a random one or a wrong
/// length), so many requests reach the scorer.
fn plausible_row() -> impl Strategy<Value = Value> {
    let cell = |plausible: Vec<Value>| prop_oneof![5 => prop::sample::select(plausible), 1 => arbitrary_json()];
    let numeric = || {
        cell(vec![
            json!(null),
            json!(1200),
            json!(-3.5e10),
            json!("42"),
            json!(" 7 "),
        ])
    };
    (
        numeric(),
        numeric(),
        cell(vec![
            json!("retail"),
            json!("panic-not"),
            json!(3),
            json!(null),
        ]),
        cell(vec![json!(true), json!("yes"), json!(0), json!(null)]),
        cell(vec![json!("2020-01-02"), json!(null)]),
        0usize..8,
    )
        .prop_map(|(a, b, c, d, e, shape)| {
            let mut row = vec![a, b, c, d, e];
            match shape {
                0 => {
                    row.pop();
                }
                1 => row.push(json!(1)),
                _ => {}
            }
            Value::Array(row)
        })
}

fn valid_bodies() -> Vec<String> {
    let record = r#"{"income": 1200, "age": 30, "segment": "retail", "has_card": true, "opened": "2020-01-02"}"#;
    vec![
        r#"{"data": [[1200, 30, "retail", true, "2020-01-02"], [300, 61, "premium", false, null]]}"#
            .to_owned(),
        format!(r#"{{"data": [{record}]}}"#),
        record.to_owned(),
        format!("[{record}, {record}]"),
        format!(r#"{{"dataframe_records": [{record}]}}"#),
        r#"{"input_data": {"columns": ["age", "income", "opened", "segment", "has_card"], "index": [0], "data": [[30, 1200, "2020-01-02", "retail", true]]}}"#.to_owned(),
        r#"{"dataframe_split": {"columns": ["income", "age", "segment", "has_card", "opened"], "data": [[1, 2, "a", "no", null]]}}"#.to_owned(),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    ReplaceValue(usize, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop::sample::select(b"{}[],:\"\\ 0-e.ntfx".to_vec())
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), arbitrary_json()).prop_map(|(i, v)| Mutation::ReplaceValue(i, v)),
    ]
}

/// Replaces the `n`-th node (in pre-order) of `value` with `with`.
fn replace_nth(value: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *value = with.clone();
        return true;
    }
    *n -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|v| replace_nth(v, n, with)),
        Value::Object(map) => map.values_mut().any(|v| replace_nth(v, n, with)),
        _ => false,
    }
}

fn apply(body: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = body.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(i, b) => {
                if let Some(byte) = bytes.get_mut(i % len) {
                    *byte ^= b | 1;
                }
            }
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), *b),
            Mutation::Delete(i) => {
                if !bytes.is_empty() {
                    bytes.remove(i % len);
                }
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::ReplaceValue(i, v) => {
                if let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes) {
                    let mut n = i % 64;
                    replace_nth(&mut doc, &mut n, v);
                    bytes = serde_json::to_vec(&doc).unwrap();
                }
            }
        }
    }
    bytes
}

fn check(
    runtime: &tokio::runtime::Runtime,
    app: &Router,
    body: Vec<u8>,
) -> Result<(), TestCaseError> {
    let answer = runtime.block_on(send(app, post_json(body.clone())));
    prop_assert!(
        !answer.status.is_server_error(),
        "{} for body {:?}: {}",
        answer.status,
        String::from_utf8_lossy(&body),
        answer.text()
    );
    if answer.status != StatusCode::OK {
        // Every refusal is the JSON error envelope.
        let json: Value = serde_json::from_slice(&answer.body).unwrap();
        prop_assert!(json["error"]["code"].is_string());
    }
    Ok(())
}

fn setup() -> (tokio::runtime::Runtime, Router, tempfile::TempDir) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (app, _state, dir) = binary_app();
    (runtime, app, dir)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_json_never_gets_a_5xx(value in arbitrary_json()) {
        let (runtime, app, _dir) = setup();
        check(&runtime, &app, serde_json::to_vec(&value).unwrap())?;
    }

    #[test]
    fn mutated_valid_bodies_never_get_a_5xx(
        which in 0usize..7,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let (runtime, app, _dir) = setup();
        let bodies = valid_bodies();
        check(&runtime, &app, apply(&bodies[which % bodies.len()], &mutations))?;
    }

    #[test]
    fn wrapped_random_rows_never_get_a_5xx(
        rows in prop::collection::vec(prop_oneof![arbitrary_json(), plausible_row(), plausible_row()], 0..5),
    ) {
        let (runtime, app, _dir) = setup();
        for wrapped in [
            json!({"data": rows}),
            json!({"dataframe_records": rows}),
            json!({"input_data": {"columns": ["income", "age", "segment", "has_card", "opened"], "data": rows}}),
            json!({"dataframe_split": {"data": rows}}),
        ] {
            check(&runtime, &app, serde_json::to_vec(&wrapped).unwrap())?;
        }
    }
}
