//! Random and mutated JSON thrown at `/score` never gets a 5xx: at the fake scorer, and at the
//! real `ArtifactScorer` over a trained artifact with numeric, categorical, boolean and date
//! inputs, with random but well-formed records (wrong types, extreme numbers, unseen
//! categories, odd dates, huge strings).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::sync::OnceLock;

use axum::Router;
use axum::http::StatusCode;
use common::*;
use finbeh_data::{ColumnKind, InputColumn};
use finbeh_serve::{AppState, ServerParams, app, artifact_loader};
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
) -> Result<Answer, TestCaseError> {
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
    Ok(answer)
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

/// The real scorer over a model trained once per test binary (see [`train_mixed_artifact`]).
struct ArtifactApp {
    _dir: tempfile::TempDir,
    app: Router,
    columns: Vec<InputColumn>,
}

fn artifact_app() -> &'static ArtifactApp {
    static APP: OnceLock<ArtifactApp> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = train_mixed_artifact(dir.path());
        let state = AppState::new(ServerParams::default().check().unwrap(), artifact_loader());
        state.load(Some(&path), None).unwrap();
        let columns = state.scorer().unwrap().info().input_columns.clone();
        for kind in [
            ColumnKind::Numeric,
            ColumnKind::Categorical,
            ColumnKind::Boolean,
            ColumnKind::Date,
        ] {
            assert!(
                columns.iter().any(|c| c.kind == kind),
                "the model has no {kind:?} input"
            );
        }
        ArtifactApp {
            _dir: dir,
            app: app(state),
            columns,
        }
    })
}

const SEGMENTS: [&str; 3] = ["retail", "premium", "business"];

fn extreme_number() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(f64::MAX),
        json!(-f64::MAX),
        json!(3.5e38),
        json!(-3.5e38),
        json!(1e300),
        json!(1e-320),
        json!(-0.0),
        json!(0),
        json!(i64::MIN),
        json!(u64::MAX),
    ])
}

fn wrong_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!([1, 2])),
        Just(json!({"value": 1})),
        Just(json!([])),
        any::<bool>().prop_map(Value::Bool),
        "[a-z]{1,8}".prop_map(Value::String),
    ]
}

/// Up to 200 000 copies of one character (multi-byte ones too).
fn huge_string() -> impl Strategy<Value = Value> {
    (1usize..200_000, any::<char>())
        .prop_map(|(n, c)| Value::String(std::iter::repeat_n(c, n).collect()))
}

fn valid_date() -> impl Strategy<Value = Value> {
    (1u32..=9999, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| Value::String(format!("{y:04}-{m:02}-{d:02}")))
}

/// A cell well formed for a column of `kind`, or deliberately not.
fn random_cell(kind: ColumnKind) -> BoxedStrategy<Value> {
    let finite = any::<f64>()
        .prop_filter("JSON numbers are finite", |f| f.is_finite())
        .prop_map(|f| json!(f));
    let text = ".{0,24}".prop_map(Value::String);
    match kind {
        ColumnKind::Numeric => prop_oneof![
            4 => finite,
            2 => extreme_number(),
            1 => prop::sample::select(vec![
                json!("42"), json!(" 7 "), json!("1e400"), json!("-0"), json!("NaN"), json!("inf"),
            ]),
            1 => wrong_type(),
            1 => Just(Value::Null),
            1 => huge_string(),
        ]
        .boxed(),
        ColumnKind::Categorical => prop_oneof![
            4 => prop::sample::select(SEGMENTS.to_vec()).prop_map(|s| json!(s)),
            2 => text,
            1 => huge_string(),
            1 => extreme_number(),
            1 => wrong_type(),
            1 => Just(Value::Null),
        ]
        .boxed(),
        ColumnKind::Boolean => prop_oneof![
            4 => prop::sample::select(vec![
                json!(true), json!(false), json!("yes"), json!("no"), json!("1"), json!(0), json!(1),
            ]),
            1 => prop::sample::select(vec![
                json!(2), json!(-1), json!(0.5), json!("maybe"), json!("TRUE"), json!(" yes "),
            ]),
            1 => wrong_type(),
            1 => Just(Value::Null),
            1 => huge_string(),
        ]
        .boxed(),
        ColumnKind::Date => prop_oneof![
            4 => valid_date(),
            2 => prop::sample::select(vec![
                json!("0000-01-01"), json!("0001-01-01"), json!("9999-12-31"),
                json!("10000-01-01"), json!("2020-02-30"), json!("2021-02-29"),
                json!("2024-02-29"), json!("2020-13-01"), json!("1970-01-01T25:61:00"),
                json!("2020-01-02T00:00:00Z"), json!("2020-1-2"), json!("02/01/2020"),
                json!("31.12.1999"), json!(""), json!(" "), json!("-2020-01-01"),
            ]),
            1 => text,
            1 => extreme_number(),
            1 => wrong_type(),
            1 => Just(Value::Null),
            1 => huge_string(),
        ]
        .boxed(),
    }
}

/// A cell a client may legitimately send for a column of `kind`.
fn valid_cell(kind: ColumnKind) -> BoxedStrategy<Value> {
    match kind {
        ColumnKind::Numeric => {
            prop_oneof![(-1e6f64..1e6).prop_map(|f| json!(f)), Just(Value::Null)].boxed()
        }
        ColumnKind::Categorical => prop::sample::select(SEGMENTS.to_vec())
            .prop_map(|s| json!(s))
            .boxed(),
        ColumnKind::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
        ColumnKind::Date => valid_date().boxed(),
    }
}

fn rows(
    columns: &[InputColumn],
    cell: fn(ColumnKind) -> BoxedStrategy<Value>,
) -> impl Strategy<Value = Vec<Vec<Value>>> {
    let record: Vec<BoxedStrategy<Value>> = columns.iter().map(|c| cell(c.kind)).collect();
    prop::collection::vec(record, 1..4)
}

/// The rows in one of the request forms: positional, named records or `input_data` split.
fn request(columns: &[InputColumn], rows: &[Vec<Value>], form: usize) -> Vec<u8> {
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let body = match form % 3 {
        0 => json!({"data": rows}),
        1 => {
            let records: Vec<Map<String, Value>> = rows
                .iter()
                .map(|row| {
                    names
                        .iter()
                        .map(|n| n.to_string())
                        .zip(row.iter().cloned())
                        .collect()
                })
                .collect();
            json!({"dataframe_records": records})
        }
        _ => json!({"input_data": {"columns": names, "data": rows}}),
    };
    serde_json::to_vec(&body).unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_well_formed_records_never_get_a_5xx_from_the_real_scorer(
        rows in rows(&artifact_app().columns, random_cell),
        form in 0usize..3,
    ) {
        let served = artifact_app();
        let runtime = current_thread();
        let answer = check(&runtime, &served.app, request(&served.columns, &rows, form))?;
        if answer.status == StatusCode::OK {
            let json = answer.json();
            let probabilities = json["probabilities"].as_array().unwrap();
            prop_assert_eq!(probabilities.len(), rows.len());
            for p in probabilities {
                let p = p.as_f64().unwrap();
                prop_assert!((0.0..=1.0).contains(&p), "probability {}", p);
            }
        }
    }

    #[test]
    fn valid_records_are_scored_by_the_real_scorer(
        rows in rows(&artifact_app().columns, valid_cell),
        form in 0usize..3,
    ) {
        let served = artifact_app();
        let runtime = current_thread();
        let answer = runtime.block_on(send(&served.app, post_json(request(&served.columns, &rows, form))));
        prop_assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        prop_assert_eq!(answer.json()["predictions"].as_array().unwrap().len(), rows.len());
    }
}
