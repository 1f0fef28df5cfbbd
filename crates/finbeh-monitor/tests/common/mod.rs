//! Helpers shared by the prediction-log tests: a fake two-column model, a server over it, a
//! log, and a copy of the committed layout-1 fixture.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses some of them

use std::path::{Path, PathBuf};
use std::sync::Arc;

use finbeh_config::MonitorSettings;
use finbeh_data::{ColumnKind, InputColumn, RawValue};
use finbeh_monitor::{LogIdentity, PredictionLog, PredictionLogParams};
use finbeh_serve::{AppState, LoadFn, ModelInfo, RowError, ScoreBuffer, Scorer, ServerParams};

/// The fake model: `Age` (numeric) and `City` (categorical), classes `no`/`yes`.
pub fn age_model() -> ModelInfo {
    ModelInfo {
        name: "age".into(),
        version: "7".into(),
        input_columns: vec![
            InputColumn {
                name: "Age".into(),
                kind: ColumnKind::Numeric,
            },
            InputColumn {
                name: "City".into(),
                kind: ColumnKind::Categorical,
            },
        ],
        classes: vec!["no".into(), "yes".into()],
        target: Some("Churn".into()),
        ignored_columns: vec![],
    }
}

/// P(yes) = the row's `Age` / 100.
pub struct AgeScorer(ModelInfo);

impl Scorer for AgeScorer {
    fn info(&self) -> &ModelInfo {
        &self.0
    }
    fn score(
        &self,
        rows: &[RawValue<'_>],
        n_rows: usize,
        out: &mut ScoreBuffer,
    ) -> Result<(), RowError> {
        for row in rows.chunks_exact(2).take(n_rows) {
            let p = match row[0] {
                RawValue::Number(age) => (age / 100.0).clamp(0.0, 1.0),
                _ => 0.5,
            };
            out.push(usize::from(p >= 0.5), &[1.0 - p, p]);
        }
        Ok(())
    }
}

/// A ready server over [`AgeScorer`] with `params`.
pub fn server_with(dir: &Path, params: ServerParams) -> AppState {
    let loader: LoadFn = Arc::new(|_path| Ok(Arc::new(AgeScorer(age_model())) as Arc<dyn Scorer>));
    let state = AppState::new(params.check().unwrap(), loader);
    std::fs::write(dir.join("model.finbeh"), b"").unwrap();
    state.load(None, Some(dir)).unwrap();
    state
}

/// Opens a log at `path` with `[monitor]` defaults changed by `edit`.
pub fn open_log(path: &Path, edit: impl FnOnce(&mut PredictionLogParams)) -> Arc<PredictionLog> {
    let mut params = PredictionLogParams(MonitorSettings {
        enabled: true,
        database_path: path.to_path_buf(),
        ..MonitorSettings::default()
    });
    edit(&mut params);
    let identity = LogIdentity {
        endpoint: "churn".into(),
        deployment: "blue".into(),
    };
    Arc::new(PredictionLog::open(&params.check().unwrap(), identity).unwrap())
}

/// A copy of the committed log written by layout version 1, in `dir`.
pub fn copy_v1_fixture(dir: &Path) -> PathBuf {
    let db = dir.join("v1.sqlite");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/prediction-log-v1.sqlite"
        ),
        &db,
    )
    .unwrap();
    db
}
