//! Drift over the prediction log: generated banking rows scored by a real artifact and logged
//! through `PredictionLog`, then read back by `drift_from_log`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

mod common;

use common::{data_params, log_rows, reference_and_model, shift_columns};
use finbeh_data::{ColumnKind, generate_banking_csv};
use finbeh_monitor::{DriftParams, LogDriftInput, LogPeriod, ReferenceSource, drift_from_log};
use finbeh_train::ModelArtifact;

const OLD_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../finbeh-train/tests/fixtures/model-v1.2.0.finbeh"
);

/// Format 1.3.0: carries a reference sample of raw training records.
const SAMPLE_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../finbeh-train/tests/fixtures/model-v1.3.0.finbeh"
);

fn generate(path: &Path, rows: u64, seed: u64) {
    generate_banking_csv(std::fs::File::create(path).unwrap(), rows, seed).unwrap();
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The last 30 minutes (retention keeps 30 days, so the log's times must be recent).
fn period() -> LogPeriod {
    LogPeriod::parse_since("30m", now_ms()).unwrap()
}

/// A minute ago: inside [`period`].
fn recent() -> i64 {
    now_ms() - 60_000
}

#[test]
fn an_old_artifact_without_a_reference_sample_falls_back_to_its_profile_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, log) = (
        dir.path().join("current.csv"),
        dir.path().join("log.sqlite"),
    );
    generate(&csv, 600, 21);
    let artifact = ModelArtifact::read(OLD_MODEL).unwrap();
    log_rows(&log, &artifact, &csv, 3, &|_| recent(), 1);

    // No --model: the artifact the log names, found where the server would look.
    let input = LogDriftInput {
        log: &log,
        period: period(),
        model: None,
        model_search: Some(Path::new(OLD_MODEL)),
        reference: None,
    };
    let report = drift_from_log(
        &input,
        &data_params(),
        &DriftParams::default().check().unwrap(),
    )
    .unwrap();
    assert!(report.model.chosen_by.contains("the model the log names"));
    assert_eq!(report.reference.source, ReferenceSource::TrainingProfile);
    assert!(
        report.reference.note.contains("fell back"),
        "{}",
        report.reference.note
    );
    assert!(
        report.reference.note.contains("1.2.0"),
        "{}",
        report.reference.note
    );
    assert_eq!(report.rows, 600);
    assert!((report.type_error_rate - 3.0 / 603.0).abs() < 1e-12);
    assert_eq!(report.drift.features.len(), artifact.input_columns().len());
    for feature in &report.drift.features {
        assert!(feature.ks_statistic.is_none() && feature.wasserstein_norm.is_none());
        assert!(feature.psi.is_some() && feature.jensen_shannon.is_some());
        assert!(!feature.drifted, "{feature:?}");
    }
    assert!(report.prediction_drift.is_none());
    assert!(report.prediction_drift_note.contains("no reference sample"));

    let json = serde_json::to_value(&report).unwrap();
    for key in ["dataset_drift", "drifted_share", "features", "reference"] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert!(json.get("prediction_drift").is_none());

    // A period with nothing in it says so.
    let empty = LogDriftInput {
        period: LogPeriod {
            since_ms: 1_000,
            until_ms: 2_000,
        },
        model: Some(Path::new(OLD_MODEL)),
        ..input
    };
    let error = drift_from_log(
        &empty,
        &data_params(),
        &DriftParams::default().check().unwrap(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("no scored row"), "{error}");
}

#[test]
fn exactly_the_two_shifted_features_of_a_logged_period_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, model) = reference_and_model(dir.path(), 3_000);
    let artifact = ModelArtifact::read(&model).unwrap();
    let numeric: Vec<&str> = artifact
        .input_columns()
        .iter()
        .filter(|c| c.kind == ColumnKind::Numeric)
        .map(|c| c.name.as_str())
        .take(2)
        .collect();
    assert_eq!(
        numeric.len(),
        2,
        "the banking model reads two numeric columns"
    );
    let (fresh, current) = (dir.path().join("fresh.csv"), dir.path().join("current.csv"));
    generate(&fresh, 2_000, 99);
    shift_columns(&fresh, &numeric, &current);
    let log = dir.path().join("log.sqlite");
    // An earlier period of unshifted traffic, outside the one asked about.
    log_rows(&log, &artifact, &fresh, 0, &|_| now_ms() - 7_200_000, 1);
    log_rows(&log, &artifact, &current, 0, &|_| recent(), 1);

    let params = DriftParams::default().check().unwrap();
    for reference in [Some(reference.as_path()), None] {
        let input = LogDriftInput {
            log: &log,
            period: period(),
            model: Some(&model),
            model_search: None,
            reference,
        };
        let report = drift_from_log(&input, &data_params(), &params).unwrap();
        assert_eq!(report.rows, 2_000);
        assert_eq!(report.model.chosen_by, "--model");
        let flagged: Vec<&str> = report
            .drift
            .features
            .iter()
            .filter(|f| f.drifted)
            .map(|f| f.column.as_str())
            .collect();
        assert_eq!(flagged, numeric, "reference {reference:?}");
        if reference.is_some() {
            assert_eq!(report.reference.source, ReferenceSource::Csv);
            let prediction = report.prediction_drift.as_ref().expect("prediction drift");
            assert_eq!(prediction.column, "positive_probability");
            assert!(prediction.ks_statistic.is_some());
        }
    }
}

#[test]
fn an_artifact_with_a_reference_sample_is_compared_with_it_and_its_held_out_scores() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, log) = (
        dir.path().join("current.csv"),
        dir.path().join("log.sqlite"),
    );
    generate(&csv, 600, 21);
    let artifact = ModelArtifact::read(SAMPLE_MODEL).unwrap();
    let sample = artifact
        .reference_sample()
        .expect("a 1.3.0 artifact carries a sample");
    log_rows(&log, &artifact, &csv, 0, &|_| recent(), 1);
    let input = LogDriftInput {
        log: &log,
        period: period(),
        model: Some(Path::new(SAMPLE_MODEL)),
        model_search: None,
        reference: None,
    };
    let report = drift_from_log(
        &input,
        &data_params(),
        &DriftParams::default().check().unwrap(),
    )
    .unwrap();
    assert_eq!(report.reference.source, ReferenceSource::ArtifactSample);
    assert_eq!(report.reference.rows, sample.n_rows());
    assert!(
        report.reference.note.contains("reference sample"),
        "{}",
        report.reference.note
    );
    let numeric = report
        .drift
        .features
        .iter()
        .find(|f| f.kind == finbeh_monitor::ColumnKind::Numeric)
        .expect("a numeric column");
    assert!(numeric.ks_statistic.is_some() && numeric.wasserstein_norm.is_some());
    let prediction = report.prediction_drift.as_ref().expect("prediction drift");
    assert!(prediction.ks_p_value.is_some(), "{prediction:?}");
    assert!(report.prediction_drift_note.contains("held-out rows"));
}
