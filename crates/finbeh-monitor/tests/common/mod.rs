//! Helpers shared by the integration tests: a small artifact trained on generated banking rows.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use finbeh_data::{DataParams, DataValidParams, generate_banking_csv, load_dataset};
use finbeh_train::TrainingJob;

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
