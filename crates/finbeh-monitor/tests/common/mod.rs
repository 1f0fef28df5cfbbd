//! Helpers shared by the integration tests: prediction logs written directly, and a small artifact trained on generated banking rows.
#![allow(clippy::unwrap_used, dead_code)]

use finbeh_config::MonitorSettings;
use finbeh_monitor::{LogIdentity, PredictionLog, PredictionLogParams};
use finbeh_serve::{PredictionRecord, PredictionSink, ScoredRow};

/// A minute boundary (2027-01-15T08:00:00Z).
pub const T0: i64 = 1_800_000_000_000;

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
        model_name: "m".into(),
        model_version: "3".into(),
        latency_ms,
        status,
        error_code: (status != 200).then_some("invalid_input"),
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, &(class, p))| ScoredRow {
                inputs_json: format!(r#"{{"Age":{i},"City":"c{i}"}}"#),
                predicted_class: if class == 1 { "yes" } else { "no" }.to_owned(),
                predicted_index: class,
                probabilities: vec![1.0 - p, p],
            })
            .collect(),
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

use std::path::{Path, PathBuf};

use finbeh_data::{
    DataParams, DataValidParams, RawValue, generate_banking_csv, load_dataset, load_records,
};
use finbeh_train::{ModelArtifact, TrainingJob};

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
    let (table, _) = load_records(csv, artifact.pipeline(), None, &data_params()).unwrap();
    let mut features = vec![0f32; artifact.n_features()];
    let mut proba = vec![0f64; artifact.classes().len()];
    let record = |n: usize, rows: Vec<ScoredRow>, status: u16, error_code| PredictionRecord {
        unix_ms: time_ms(n),
        request_id: "r".into(),
        route: "/score",
        model_name: artifact.metadata().model_name.clone(),
        model_version: artifact.metadata().model_version.clone(),
        latency_ms: 1.0,
        status,
        error_code,
        rows,
    };
    let mut scored_rows = Vec::with_capacity(table.n_rows());
    for row in 0..table.n_rows() {
        let raw = artifact.pipeline().raw_record(&table, row).unwrap();
        artifact
            .score_record(&raw, &mut features, &mut proba)
            .unwrap();
        let inputs: serde_json::Map<String, serde_json::Value> = artifact
            .input_columns()
            .iter()
            .zip(&raw)
            .map(|(column, value)| {
                let value = match value {
                    RawValue::Missing => serde_json::Value::Null,
                    RawValue::Number(n) => serde_json::json!(n),
                    RawValue::Bool(b) => serde_json::Value::Bool(*b),
                    RawValue::Text(t) => serde_json::Value::String(t.to_string()),
                };
                (column.name.clone(), value)
            })
            .collect();
        let scored = ScoredRow {
            inputs_json: serde_json::to_string(&inputs).unwrap(),
            predicted_class: artifact.classes()[artifact.predict_class(&proba)].clone(),
            predicted_index: artifact.predict_class(&proba),
            probabilities: proba.clone(),
        };
        scored_rows.push(scored);
    }
    let mut n = 0;
    for _ in 0..repeat {
        for scored in &scored_rows {
            sink.record(record(n, vec![scored.clone()], 200, None));
            n += 1;
        }
    }
    for _ in 0..refused {
        sink.record(record(n, Vec::new(), 400, Some("invalid_input")));
        n += 1;
    }
    sink.close().unwrap();
}
