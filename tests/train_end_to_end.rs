//! End to end: generated data → training job → artifact file → read back → batch scoring of the
//! raw CSV equals the stored golden set and the one-record path.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::borrow::Cow;
use std::path::Path;

use finbeh::config::ModelSettings;
use finbeh::data::{
    DataParams, DataValidParams, LoadedDataset, RawValue, generate_banking_csv, load_dataset,
    load_records,
};
use finbeh::train::{GoldenKind, ModelArtifact, TrainingJob, TrainingOutcome};

fn small_model(seed: u64) -> ModelSettings {
    ModelSettings {
        n_estimators: 12,
        max_depth: 6,
        random_state: seed,
        golden_set_size: 40,
        ..ModelSettings::default()
    }
}

fn load(dir: &Path, rows: u64) -> (std::path::PathBuf, DataValidParams, LoadedDataset) {
    let path = dir.join("bank.csv");
    generate_banking_csv(std::fs::File::create(&path).unwrap(), rows, 5).unwrap();
    let params = DataParams::default()
        .with_target("Anomaly")
        .check()
        .unwrap();
    let data = load_dataset(&path, &params).unwrap();
    (path, params, data)
}

fn train(params: &DataValidParams, data: &LoadedDataset, model: &ModelSettings) -> TrainingOutcome {
    TrainingJob {
        data_params: params,
        model,
        test_file: None,
        data_file_name: Some("bank.csv".into()),
        progress: false,
    }
    .run(data)
    .unwrap()
}

#[test]
fn train_write_read_and_score_the_raw_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, params, data) = load(dir.path(), 3_000);
    let outcome = train(&params, &data, &small_model(42));
    assert_eq!(outcome.summary.rows + outcome.summary.test_rows, 3_000);
    assert!(outcome.summary.roc_auc > 0.7, "{:?}", outcome.summary);

    let path = dir.path().join("model.finbeh");
    outcome.artifact.write(&path).unwrap();
    let artifact = ModelArtifact::read(&path).unwrap();
    assert_eq!(artifact, outcome.artifact);
    let golden = &artifact.metadata().golden_set;
    assert_eq!(golden.len(), 40);
    assert_eq!(
        golden
            .iter()
            .filter(|g| g.kind == GoldenKind::HeldOut)
            .count(),
        38
    );

    // The predict path: the raw CSV (with its extra columns) read with the fitted schema.
    let (table, labels) = load_records(
        &csv,
        artifact.pipeline(),
        Some(("Anomaly", artifact.classes())),
        &params,
    )
    .unwrap();
    assert_eq!(table.n_rows(), 3_000);
    assert_eq!(labels.unwrap(), data.y);
    let proba = artifact.score_table(&table).unwrap();
    let mut features = vec![0.0; artifact.n_features()];
    let mut one = vec![0.0; 2];
    for row in (0..3_000).step_by(97) {
        let record = artifact.pipeline().raw_record(&table, row).unwrap();
        artifact
            .score_record(&record, &mut features, &mut one)
            .unwrap();
        for (a, b) in one.iter().zip(proba.row(row)) {
            assert_eq!(a.to_bits(), b.to_bits(), "row {row}");
        }
    }
    // Every held-out golden record is a row of the file: the batch path reproduces its bits.
    let first = artifact.pipeline().raw_record(&table, 0).unwrap();
    assert_eq!(first.len(), artifact.input_columns().len());
    let mut matched = 0;
    for g in golden.iter().filter(|g| g.kind == GoldenKind::HeldOut) {
        let record: Vec<RawValue<'_>> = g
            .record
            .iter()
            .map(|v| match v {
                serde_json::Value::Null => RawValue::Missing,
                serde_json::Value::Bool(b) => RawValue::Bool(*b),
                serde_json::Value::Number(n) => RawValue::Number(n.as_f64().unwrap()),
                serde_json::Value::String(s) => RawValue::Text(Cow::Borrowed(s)),
                other => panic!("unexpected {other}"),
            })
            .collect();
        if let Some(row) = (0..table.n_rows())
            .find(|&r| artifact.pipeline().raw_record(&table, r).unwrap() == record)
        {
            let bits: Vec<String> = proba
                .row(row)
                .iter()
                .map(|p| format!("{:016x}", p.to_bits()))
                .collect();
            assert_eq!(bits, g.expected);
            matched += 1;
        }
    }
    assert_eq!(matched, 38);
}

#[test]
fn missing_input_columns_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, params, data) = load(dir.path(), 800);
    let artifact = train(&params, &data, &small_model(1)).artifact;
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "Age,Unrelated\n30,x\n").unwrap();
    let err = load_records(&bad, artifact.pipeline(), None, &params)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.csv") && err.contains("Transaction_Amount"),
        "{err}"
    );
    assert!(!err.contains("Age,"), "{err}");
}

#[test]
fn the_whole_job_is_reproducible_with_a_seed_and_changes_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let (_, params, data) = load(dir.path(), 1_500);
    let a = train(&params, &data, &small_model(7));
    let b = train(&params, &data, &small_model(7));
    let c = train(&params, &data, &small_model(8));
    assert_eq!(a.artifact.forest(), b.artifact.forest());
    assert_eq!(a.artifact.pipeline(), b.artifact.pipeline());
    assert_eq!(
        a.artifact.metadata().golden_set,
        b.artifact.metadata().golden_set
    );
    assert_eq!(
        a.artifact.metadata().evaluation,
        b.artifact.metadata().evaluation
    );
    assert_eq!(
        a.artifact.metadata().importances,
        b.artifact.metadata().importances
    );
    assert_ne!(a.artifact.forest(), c.artifact.forest());
}

#[test]
fn a_searched_model_with_a_best_f1_threshold_records_both() {
    let dir = tempfile::tempdir().unwrap();
    let (_, params, data) = load(dir.path(), 1_500);
    let model = ModelSettings {
        search_iterations: 2,
        threshold: finbeh::config::ThresholdRule::BestF1,
        ..small_model(3)
    };
    let outcome = train(&params, &data, &model);
    let m = outcome.artifact.metadata();
    let search = m.search.as_ref().unwrap();
    assert_eq!(search.trials_run, 2);
    assert_eq!(m.training.params, search.best_params);
    let t = m.threshold.as_ref().unwrap();
    assert!(t.chosen_on.contains("out-of-fold"), "{}", t.chosen_on);
    assert_eq!(outcome.summary.threshold, Some(t.value));
}
