//! Helpers shared by the tests that write prediction logs directly.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;

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
