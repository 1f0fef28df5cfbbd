//! The artifact's reference sample is drawn from the rows the job loaded: training rows and,
//! with a separate test file, that file's rows as the held-out ones; its cells are the raw
//! values of those rows; 0 rows stores none; the same seed draws the same sample.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::HashSet;
use std::path::Path;

use finbeh_data::{DataParams, RawValue, Table, generate_banking_csv, load_dataset, load_records};
use finbeh_train::{ModelArtifact, TrainingJob};

/// A row's raw values as the sample writes them.
fn texts(values: Vec<RawValue<'_>>) -> Vec<Option<String>> {
    values
        .into_iter()
        .map(|v| match v {
            RawValue::Missing => None,
            RawValue::Number(x) => Some(x.to_string()),
            RawValue::Bool(b) => Some(b.to_string()),
            RawValue::Text(t) => Some(t.into_owned()),
        })
        .collect()
}

fn rows_of(artifact: &ModelArtifact, table: &Table) -> HashSet<Vec<Option<String>>> {
    (0..table.n_rows())
        .map(|r| texts(artifact.pipeline().raw_record(table, r).unwrap()))
        .collect()
}

fn train(dir: &Path, rows: usize, test_file: bool) -> ModelArtifact {
    let train = dir.join("train.csv");
    generate_banking_csv(std::fs::File::create(&train).unwrap(), 1_000, 5).unwrap();
    let test = dir.join("test.csv");
    generate_banking_csv(std::fs::File::create(&test).unwrap(), 400, 6).unwrap();
    let data_params = DataParams::default()
        .with_target("Anomaly")
        .check()
        .unwrap();
    let data = load_dataset(&train, &data_params).unwrap();
    let model = finbeh_config::ModelSettings {
        n_estimators: 3,
        max_depth: 3,
        n_jobs: 1,
        reference_sample_rows: rows,
        ..finbeh_config::ModelSettings::default()
    };
    let job = TrainingJob {
        data_params: &data_params,
        model: &model,
        test_file: test_file.then(|| test.clone()),
        data_file_name: None,
        progress: false,
    };
    job.run(&data).unwrap().artifact
}

#[test]
fn with_a_test_file_its_rows_are_the_held_out_ones() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = train(dir.path(), 300, true);
    let sample = artifact.reference_sample().unwrap();
    assert_eq!(sample.drawn_from(), 1_400);
    assert_eq!(sample.n_rows(), 300);

    let data_params = DataParams::default()
        .with_target("Anomaly")
        .check()
        .unwrap();
    let train_table = load_dataset(dir.path().join("train.csv"), &data_params)
        .unwrap()
        .table;
    let (test_table, _) = load_records(
        &dir.path().join("test.csv"),
        artifact.pipeline(),
        None,
        &data_params,
    )
    .unwrap();
    let (train_rows, test_rows) = (
        rows_of(&artifact, &train_table),
        rows_of(&artifact, &test_table),
    );
    let mut held_out = 0;
    for r in 0..sample.n_rows() {
        let row: Vec<Option<String>> = sample
            .row(r)
            .unwrap()
            .into_iter()
            .map(|c| c.map(str::to_owned))
            .collect();
        if sample.held_out()[r] {
            held_out += 1;
            assert!(
                test_rows.contains(&row),
                "held-out row {r} is not a test-file row"
            );
        } else {
            assert!(train_rows.contains(&row), "row {r} is not a training row");
        }
    }
    // 400 of the 1 400 pooled rows are held out: a uniform draw of 300 keeps about 86.
    assert!((60..=115).contains(&held_out), "{held_out} held-out rows");
    // The calibration was fitted on the test file's 400 rows.
    assert_eq!(artifact.calibration().unwrap().fitted_on(), 400);
}

#[test]
fn zero_rows_store_no_sample_and_the_seed_fixes_the_draw() {
    let dir = tempfile::tempdir().unwrap();
    let none = train(dir.path(), 0, false);
    assert!(none.reference_sample().is_none());
    assert_eq!(none.calibration().unwrap().probabilities().len(), 0);
    assert!(none.monitoring_summary()[0].contains("model.reference_sample_rows = 0"));
    // A sample larger than the data keeps every row: 1 000 loaded, split 800 / 200.
    let all = train(dir.path(), 5_000, false);
    let sample = all.reference_sample().unwrap();
    assert_eq!((sample.n_rows(), sample.drawn_from()), (1_000, 1_000));
    assert_eq!(sample.held_out().iter().filter(|&&h| h).count(), 200);
    let again = train(dir.path(), 5_000, false);
    assert_eq!(again.reference_sample(), all.reference_sample());
}
