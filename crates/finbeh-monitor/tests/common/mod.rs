//! Helpers shared by the integration tests: a fake two-column model, a server over it, a log,
//! a copy of the committed layout-1 fixture, prediction logs written directly, and a small
//! artifact trained on generated banking rows.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses some of them

use std::path::{Path, PathBuf};
use std::sync::Arc;

use finbeh_config::MonitorSettings;
use finbeh_data::{
    ColumnKind, DataParams, DataValidParams, InputColumn, RawValue, generate_banking_csv,
    load_dataset, load_records,
};
use finbeh_monitor::{LogIdentity, PredictionLog, PredictionLogParams};
use finbeh_serve::{
    AppState, LoadFn, ModelInfo, PredictionRecord, PredictionSink, RowError, ScoreBuffer, Scorer,
    ServerParams,
};
use finbeh_train::{ModelArtifact, TrainingJob};

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

/// A minute boundary (2027-01-15T08:00:00Z).
pub const T0: i64 = 1_800_000_000_000;

/// The model of [`record`]: `m` version 3, `Age` (numeric) and `City` (categorical), classes
/// `no`/`yes`.
pub fn version_3_model() -> Arc<ModelInfo> {
    Arc::new(ModelInfo {
        name: "m".into(),
        version: "3".into(),
        ..age_model()
    })
}

/// A request of model version 3: `rows` are (predicted class index, positive probability);
/// each row's inputs are `{"Age": <index>, "City": "c<index>"}`.
pub fn record(
    unix_ms: i64,
    latency_ms: f64,
    status: u16,
    rows: &[(usize, f64)],
) -> PredictionRecord {
    PredictionRecord {
        unix_ms,
        request_id: format!("r{unix_ms}-{latency_ms}"),
        route: "/score",
        model: version_3_model(),
        latency_ms,
        status,
        error_code: (status != 200).then_some("invalid_input"),
        inputs: (0..rows.len())
            .flat_map(|i| {
                [
                    RawValue::Number(i as f64),
                    RawValue::Text(format!("c{i}").into()),
                ]
            })
            .collect(),
        predicted: rows.iter().map(|&(class, _)| class).collect(),
        probabilities: rows.iter().flat_map(|&(_, p)| [1.0 - p, p]).collect(),
    }
}

/// Writes `records` to a new log at `path` (endpoint `churn`, deployment `blue`).
pub fn write_log(path: &Path, records: Vec<PredictionRecord>) {
    let params = PredictionLogParams(MonitorSettings {
        enabled: true,
        database_path: path.to_path_buf(),
        retention_days: 36_500,
        ..MonitorSettings::default()
    });
    let identity = LogIdentity {
        endpoint: "churn".into(),
        deployment: "blue".into(),
    };
    let log = PredictionLog::open(&params.check().unwrap(), identity).unwrap();
    for record in records {
        log.record(record);
    }
    assert_eq!(log.close().unwrap().failed, 0);
}

pub fn data_params() -> DataValidParams {
    DataParams::default()
        .with_target("Anomaly")
        .check()
        .unwrap()
}

/// Generates `rows` banking rows (seed 11) to `dir/reference.csv` and trains a tiny artifact
/// on them; returns (the CSV, the artifact).
pub fn reference_and_model(dir: &Path, rows: u64) -> (PathBuf, PathBuf) {
    let reference = dir.join("reference.csv");
    generate_banking_csv(std::fs::File::create(&reference).unwrap(), rows, 11).unwrap();
    let params = data_params();
    let data = load_dataset(&reference, &params).unwrap();
    let model_settings = finbeh_config::ModelSettings {
        n_estimators: 4,
        max_depth: 4,
        n_jobs: 1,
        ..finbeh_config::ModelSettings::default()
    };
    let job = TrainingJob {
        data_params: &params,
        model: &model_settings,
        test_file: None,
        data_file_name: Some("reference.csv".into()),
        progress: false,
    };
    let model = dir.join("model.finbeh");
    job.run(&data).unwrap().artifact.write(&model).unwrap();
    (reference, model)
}

/// `source` with every value of the numeric `columns` moved up by twice their range.
pub fn shift_columns(source: &Path, columns: &[&str], out: &Path) {
    let text = std::fs::read_to_string(source).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let names: Vec<&str> = header.split(',').collect();
    let mut rows: Vec<Vec<String>> = lines
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect();
    for column in columns {
        let index = names.iter().position(|name| name == column).unwrap();
        let numbers: Vec<f64> = rows.iter().filter_map(|r| r[index].parse().ok()).collect();
        let (min, max) = numbers
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        for row in &mut rows {
            if let Ok(v) = row[index].parse::<f64>() {
                row[index] = (v + 2.0 * (max - min) + 1.0).to_string();
            }
        }
    }
    let mut shifted = format!("{header}\n");
    for row in rows {
        shifted.push_str(&row.join(","));
        shifted.push('\n');
    }
    std::fs::write(out, shifted).unwrap();
}

/// `source` with every cell of each of `columns` set to that column's median.
pub fn set_to_median(source: &Path, columns: &[&str], out: &Path) {
    let text = std::fs::read_to_string(source).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let names: Vec<&str> = header.split(',').collect();
    let chosen: Vec<usize> = columns
        .iter()
        .map(|c| names.iter().position(|n| n == c).unwrap())
        .collect();
    let rows: Vec<&str> = lines.collect();
    let medians: Vec<String> = chosen
        .iter()
        .map(|&i| {
            let mut values: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.split(',').nth(i).and_then(|c| c.parse().ok()))
                .collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2].to_string()
        })
        .collect();
    let mut written = format!("{header}\n");
    for line in rows {
        let cells: Vec<&str> = line
            .split(',')
            .enumerate()
            .map(|(i, cell)| match chosen.iter().position(|&b| b == i) {
                Some(k) => medians[k].as_str(),
                None => cell,
            })
            .collect();
        written.push_str(&cells.join(","));
        written.push('\n');
    }
    std::fs::write(out, written).unwrap();
}

/// A 5-minute rule that fires at once and has no cool-down.
pub fn alert_rule(
    name: &str,
    metric: finbeh_config::AlertMetric,
    comparison: finbeh_config::AlertComparison,
    threshold: f64,
) -> finbeh_config::AlertRule {
    finbeh_config::AlertRule {
        name: name.to_owned(),
        metric,
        window: finbeh_config::AlertWindow::FiveMinutes,
        comparison,
        threshold,
        severity: finbeh_config::AlertSeverity::Warning,
        for_minutes: 0,
        cooldown_minutes: 0,
    }
}

/// The [`ModelInfo`] finbeh-serve reports for `artifact`.
/// `raw` with its texts owned, for a [`PredictionRecord`]'s inputs.
pub fn owned_values(raw: &[RawValue<'_>]) -> Vec<RawValue<'static>> {
    raw.iter()
        .map(|value| match value {
            RawValue::Missing => RawValue::Missing,
            RawValue::Number(n) => RawValue::Number(*n),
            RawValue::Bool(b) => RawValue::Bool(*b),
            RawValue::Text(t) => RawValue::Text(t.to_string().into()),
        })
        .collect()
}

pub fn artifact_model(artifact: &ModelArtifact) -> Arc<ModelInfo> {
    Arc::new(ModelInfo::of_artifact(artifact))
}

/// Logs every row of `csv` scored by `artifact`, `repeat` times over, the `n`th record at
/// `time_ms(n)`, then `refused` refused requests (at `time_ms` of the next numbers).
pub fn log_rows(
    log: &Path,
    artifact: &ModelArtifact,
    csv: &Path,
    refused: usize,
    time_ms: &dyn Fn(usize) -> i64,
    repeat: usize,
) {
    let params = PredictionLogParams(MonitorSettings {
        enabled: true,
        database_path: log.to_path_buf(),
        ..MonitorSettings::default()
    });
    let identity = LogIdentity {
        endpoint: "bank".into(),
        deployment: "blue".into(),
    };
    let sink = PredictionLog::open(&params.check().unwrap(), identity).unwrap();
    let model = artifact_model(artifact);
    let (table, _) = load_records(csv, artifact.pipeline(), None, &data_params()).unwrap();
    let mut features = vec![0f32; artifact.n_features()];
    let mut proba = vec![0f64; artifact.classes().len()];
    let record = |n: usize, status: u16, error_code| PredictionRecord {
        unix_ms: time_ms(n),
        request_id: "r".into(),
        route: "/score",
        model: Arc::clone(&model),
        latency_ms: 1.0,
        status,
        error_code,
        inputs: Vec::new(),
        predicted: Vec::new(),
        probabilities: Vec::new(),
    };
    // One scored row per record: (inputs, predicted class index, probabilities).
    let mut scored_rows = Vec::with_capacity(table.n_rows());
    for row in 0..table.n_rows() {
        let raw = artifact.pipeline().raw_record(&table, row).unwrap();
        artifact
            .score_record(&raw, &mut features, &mut proba)
            .unwrap();
        let inputs = owned_values(&raw);
        scored_rows.push((inputs, artifact.predict_class(&proba), proba.clone()));
    }
    let mut n = 0;
    for _ in 0..repeat {
        for (inputs, predicted, probabilities) in &scored_rows {
            sink.record(PredictionRecord {
                inputs: inputs.clone(),
                predicted: vec![*predicted],
                probabilities: probabilities.clone(),
                ..record(n, 200, None)
            });
            n += 1;
        }
    }
    for _ in 0..refused {
        sink.record(record(n, 400, Some("invalid_input")));
        n += 1;
    }
    sink.close().unwrap();
}
