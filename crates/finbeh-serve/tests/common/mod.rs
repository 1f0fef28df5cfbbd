//! Test-only fake models and helpers to drive `app()` without a socket.
// Helpers are shared by several test binaries (each uses a subset) and may unwrap like tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use finbeh_data::{ColumnKind, InputColumn, RawValue};
use finbeh_serve::{AppState, LoadFn, ModelInfo, RowError, ScoreBuffer, Scorer, ServerParams, app};
use tower::ServiceExt;

pub mod net;

pub const WEIGHTS: [f64; 2] = [0.002, -0.05];
pub const BIAS: f64 = 0.5;
pub const CARD_WEIGHT: f64 = 0.75;

pub fn columns() -> Vec<InputColumn> {
    let col = |name: &str, kind| InputColumn {
        name: name.into(),
        kind,
    };
    vec![
        col("income", ColumnKind::Numeric),
        col("age", ColumnKind::Numeric),
        col("segment", ColumnKind::Categorical),
        col("has_card", ColumnKind::Boolean),
        col("opened", ColumnKind::Date),
    ]
}

/// Logistic model over the numeric columns (+ the boolean); categorical and date are read as
/// text. The segment `"panic"` panics and `"unreadable"` is refused, to test the server's guards.
pub struct FakeScorer {
    pub info: ModelInfo,
    pub gate: Option<Gate>,
}

/// Holds scoring requests until opened, announcing each arrival.
#[derive(Clone)]
pub struct Gate {
    pub open: Arc<(Mutex<bool>, Condvar)>,
    pub arrived: Arc<Mutex<mpsc::Sender<()>>>,
}

impl Gate {
    pub fn new() -> (Self, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel();
        (
            Self {
                open: Arc::new((Mutex::new(false), Condvar::new())),
                arrived: Arc::new(Mutex::new(tx)),
            },
            rx,
        )
    }
    pub fn release(&self) {
        let (lock, cvar) = &*self.open;
        *lock.lock().unwrap() = true;
        cvar.notify_all();
    }
    fn wait(&self) {
        self.arrived.lock().unwrap().send(()).unwrap();
        let (lock, cvar) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = cvar.wait(open).unwrap();
        }
    }
}

/// Expected P(positive) of the fake model, computed independently of the server.
pub fn expected_probability(income: f64, age: f64, has_card: bool) -> f64 {
    let z =
        BIAS + WEIGHTS[0] * income + WEIGHTS[1] * age + if has_card { CARD_WEIGHT } else { 0.0 };
    1.0 / (1.0 + (-z).exp())
}

impl Scorer for FakeScorer {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn score(
        &self,
        rows: &[RawValue<'_>],
        n_rows: usize,
        out: &mut ScoreBuffer,
    ) -> Result<(), RowError> {
        if let Some(gate) = &self.gate {
            gate.wait();
        }
        let n_cols = self.info.input_columns.len();
        assert_eq!(
            rows.len(),
            n_rows * n_cols,
            "server passed a wrong row slice"
        );
        for (row, values) in rows.chunks(n_cols).enumerate() {
            let number = |v: &RawValue<'_>| match v {
                RawValue::Number(x) => *x,
                RawValue::Missing => 0.0, // imputation
                other => panic!("server passed a non-number to a numeric column: {other:?}"),
            };
            let has_card = match &values[3] {
                RawValue::Bool(b) => *b,
                RawValue::Number(x) => *x != 0.0,
                RawValue::Text(t) => matches!(t.as_ref(), "yes" | "true" | "1"),
                RawValue::Missing => false,
            };
            if let RawValue::Text(segment) = &values[2] {
                if segment == "panic" {
                    panic!("fake scorer asked to panic");
                }
                if segment == "unreadable" {
                    return Err(RowError::cell(
                        row,
                        "segment",
                        "label `unreadable` cannot be read",
                    ));
                }
            }
            let p = expected_probability(number(&values[0]), number(&values[1]), has_card);
            let classes = self.info.classes.len();
            if classes == 2 {
                out.push(usize::from(p >= 0.5), &[1.0 - p, p]);
            } else {
                // Spread over three classes: low, mid, high.
                let probs = [(1.0 - p) * 0.5, 0.5, p * 0.5];
                let best = if p < 0.5 { 0 } else { 2 };
                out.push(best, &probs[..classes.min(3)]);
            }
        }
        Ok(())
    }
}

/// A training-file column the fake model does not read (like an id): requests may carry it.
pub const IGNORED_COLUMN: &str = "customer_id";

pub fn info(name: &str, version: &str, classes: &[&str]) -> ModelInfo {
    ModelInfo {
        name: name.into(),
        version: version.into(),
        input_columns: columns(),
        classes: classes.iter().map(|c| c.to_string()).collect(),
        target: Some("Anomaly".into()),
        ignored_columns: vec![IGNORED_COLUMN.to_string()],
    }
}

/// A loader reading a tiny text "artifact": `name version class,class,...` or `broken: reason`.
pub fn loader(gate: Option<Gate>) -> LoadFn {
    Arc::new(move |path: &Path| {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        let text = text.trim();
        if let Some(reason) = text.strip_prefix("broken:") {
            return Err(format!("checksum mismatch ({})", reason.trim()));
        }
        let mut parts = text.split_whitespace();
        let (Some(name), Some(version), Some(classes)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("not a fake artifact".to_owned());
        };
        let classes: Vec<&str> = classes.split(',').collect();
        Ok(Arc::new(FakeScorer {
            info: info(name, version, &classes),
            gate: gate.clone(),
        }) as Arc<dyn Scorer>)
    })
}

pub const BINARY: &str = "churn 1.0.0 0,1";
pub const MULTI: &str = "tier 2.0.0 low,mid,high";

/// A state loaded from a temporary `model.finbeh` holding `artifact`.
pub fn loaded(
    params: ServerParams,
    artifact: &str,
    gate: Option<Gate>,
) -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.finbeh");
    std::fs::write(&path, artifact).unwrap();
    let state = AppState::new(params.check().unwrap(), loader(gate));
    state.load(Some(&path), None).unwrap();
    (state, dir)
}

pub fn binary_app() -> (Router, AppState, tempfile::TempDir) {
    let (state, dir) = loaded(ServerParams::default(), BINARY, None);
    (app(state.clone()), state, dir)
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }
    /// Asserts the JSON error envelope and returns its `code`.
    pub fn error_code(&self) -> String {
        let json = self.json();
        let error = &json["error"];
        assert!(error["message"].is_string(), "no message in {json}");
        assert!(error["details"].is_array(), "no details in {json}");
        assert_eq!(
            self.headers["content-type"], "application/json",
            "error without JSON content type"
        );
        error["code"].as_str().unwrap().to_owned()
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub fn post_json(body: impl Into<Body>) -> Request<Body> {
    Request::post("/score")
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

pub async fn score(app: &Router, body: &str) -> Answer {
    send(app, post_json(body.to_owned())).await
}

/// The committed finbeh-train fixture: a real trained artifact (banking data: numeric,
/// categorical and date inputs).
pub const BANK_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../finbeh-train/tests/fixtures/model-v1.1.0.finbeh"
);

/// Trains a real artifact over the fake model's columns (numeric `income` and `age`,
/// categorical `segment`, boolean `has_card`, date `opened`) on 400 seeded rows and writes it
/// to `dir/mixed.finbeh`.
pub fn train_mixed_artifact(dir: &Path) -> std::path::PathBuf {
    let csv = dir.join("mixed.csv");
    let mut text = String::from("income,age,segment,has_card,opened,churned\n");
    let mut state = 7u64;
    for _ in 0..400 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut r = state;
        r = (r ^ (r >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        r = (r ^ (r >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        r ^= r >> 31;
        let income = 500 + r % 5000;
        let age = 18 + (r >> 16) % 60;
        let segment = ["retail", "premium", "business"][((r >> 24) % 3) as usize];
        let has_card = (r >> 32) & 1 == 1;
        let opened = format!(
            "20{:02}-{:02}-{:02}",
            10 + (r >> 36) % 12,
            1 + (r >> 42) % 12,
            1 + (r >> 48) % 28
        );
        let noise = (r >> 56).is_multiple_of(5);
        let churned = u8::from((income < 2_000 || segment == "business") ^ has_card ^ noise);
        text.push_str(&format!(
            "{income},{age},{segment},{has_card},{opened},{churned}\n"
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let params = finbeh_data::DataParams::default()
        .with_target("churned")
        .check()
        .unwrap();
    let data = finbeh_data::load_dataset(&csv, &params).unwrap();
    let model = finbeh_config::ModelSettings {
        name: "mixed".into(),
        version: "1".into(),
        n_estimators: 6,
        max_depth: 5,
        n_jobs: 1,
        ..finbeh_config::ModelSettings::default()
    };
    let job = finbeh_train::TrainingJob {
        data_params: &params,
        model: &model,
        test_file: None,
        data_file_name: Some("mixed.csv".into()),
        progress: false,
    };
    let path = dir.join("mixed.finbeh");
    job.run(&data).unwrap().artifact.write(&path).unwrap();
    path
}
