//! `drift_from_csv`: a real artifact trained on generated banking data, a current file with
//! exactly one numeric input column shifted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod common;

use common::{data_params, shift_columns};
use finbeh_data::ColumnKind;
use finbeh_monitor::{DriftParams, DriftValidParams, MonitorError, drift_from_csv};
use finbeh_train::ModelArtifact;
use serde_json::Value;

fn drift_params() -> DriftValidParams {
    DriftParams::default().check().unwrap()
}

fn reference_and_model(dir: &Path) -> (PathBuf, PathBuf) {
    common::reference_and_model(dir, 400)
}

fn shift_column(reference: &Path, column: &str, out: &Path) {
    shift_columns(reference, &[column], out);
}

#[test]
fn exactly_the_shifted_numeric_column_is_flagged_and_the_json_has_the_issue_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, model) = reference_and_model(dir.path());
    let artifact = ModelArtifact::read(&model).unwrap();
    let inputs = artifact.input_columns();
    let shifted = inputs
        .iter()
        .find(|c| c.kind == ColumnKind::Numeric)
        .expect("the banking model reads a numeric column")
        .name
        .clone();
    let current = dir.path().join("current.csv");
    shift_column(&reference, &shifted, &current);

    let result = drift_from_csv(
        &model,
        Some(&reference),
        &current,
        &data_params(),
        &drift_params(),
    )
    .unwrap();
    let flagged: Vec<&str> = result
        .report
        .features
        .iter()
        .filter(|f| f.drifted)
        .map(|f| f.column.as_str())
        .collect();
    assert_eq!(flagged, [shifted.as_str()]);
    assert_eq!(result.report.features.len(), inputs.len());
    assert_eq!(result.deciding.len(), inputs.len());
    assert!(result.table().contains(&shifted));

    let json: Value = serde_json::to_value(&result.report).unwrap();
    assert_eq!(json["dataset_drift"], Value::Bool(false));
    let share = json["drifted_share"].as_f64().unwrap();
    assert!((share - 1.0 / inputs.len() as f64).abs() < 1e-12);
    let features = json["features"].as_array().unwrap();
    for (feature, input) in features.iter().zip(inputs) {
        assert_eq!(feature["column"], Value::String(input.name.clone()));
        for key in [
            "kind",
            "psi",
            "jensen_shannon",
            "null_rate",
            "out_of_range_rate",
        ] {
            assert!(feature.get(key).is_some(), "{key} missing in {feature}");
        }
        assert!(feature["drifted"].is_boolean());
        // Dates are compared as day numbers, so they carry the numeric statistics.
        let numeric = matches!(input.kind, ColumnKind::Numeric | ColumnKind::Date);
        let expected_kind = if numeric {
            "numeric"
        } else {
            feature["kind"].as_str().unwrap()
        };
        assert_eq!(feature["kind"], Value::String(expected_kind.into()));
        for key in ["ks_statistic", "ks_p_value", "wasserstein_norm"] {
            assert_eq!(feature.get(key).is_some(), numeric, "{key} in {feature}");
        }
    }
    assert!(inputs.iter().any(|c| c.kind == ColumnKind::Date));
    assert!(inputs.iter().any(|c| c.kind == ColumnKind::Categorical));
}

#[test]
fn without_a_reference_the_error_says_to_pass_the_training_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.finbeh");
    let current = dir.path().join("current.csv");
    let error =
        drift_from_csv(&model, None, &current, &data_params(), &drift_params()).unwrap_err();
    assert!(matches!(error, MonitorError::NoReference { .. }), "{error}");
    assert!(
        error.to_string().contains(
            "the artifact has no reference sample yet; pass --reference CSV (the training file)"
        ),
        "{error}"
    );
}

#[test]
fn a_current_file_without_a_model_column_is_an_error_naming_the_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, model) = reference_and_model(dir.path());
    let artifact = ModelArtifact::read(&model).unwrap();
    let column = artifact.input_columns()[0].name.clone();
    let current = dir.path().join("current.csv");
    std::fs::write(&current, "unrelated\n1\n").unwrap();
    let error = drift_from_csv(
        &model,
        Some(&reference),
        &current,
        &data_params(),
        &drift_params(),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("current.csv") && message.contains(&column),
        "{message}"
    );
}
