//! The model artifact: round trip, committed fixture, and every refusal.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::borrow::Cow;

use finbeh_data::{
    DataParams, DatasetProfile, RawValue, fit_pipeline, generate_banking_csv, load_dataset,
    stratified_split,
};
use finbeh_train::{
    ArtifactParts, DecisionThreshold, GoldenInput, GoldenKind, ModelArtifact, RandomForest,
    RandomForestParams, ThresholdRule, TrainError, TrainingSummary,
};
use linfa::ParamGuard;

/// A small artifact built by hand from generated banking data (the orchestration has its own
/// tests; this one pins the artifact's own contract).
fn small_artifact() -> ModelArtifact {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.csv");
    generate_banking_csv(std::fs::File::create(&path).unwrap(), 1_500, 11).unwrap();
    let params = DataParams::default()
        .with_target("Anomaly")
        .check()
        .unwrap();
    let data = load_dataset(&path, &params).unwrap();
    let (train, test) = stratified_split(&data.y, 0.2, 42);
    let pipeline = fit_pipeline(&data.table, &data.schema, &train, &params).unwrap();
    let x = pipeline.transform_table(&data.table, Some(&train)).unwrap();
    let y: Vec<usize> = train.iter().map(|&r| data.y[r]).collect();
    let forest_params = RandomForestParams::new()
        .n_estimators(5)
        .max_depth(Some(4))
        .n_jobs(1)
        .progress(false)
        .check()
        .unwrap();
    let forest = RandomForest::fit(&forest_params, x.view(), &y).unwrap();
    let profile = DatasetProfile::compute(&data.table, &pipeline, &train).unwrap();
    let mut golden: Vec<GoldenInput> = test[..8]
        .iter()
        .map(|&r| GoldenInput {
            kind: GoldenKind::HeldOut,
            record: pipeline
                .raw_record(&data.table, r)
                .unwrap()
                .into_iter()
                .map(|v| match v {
                    RawValue::Text(t) => RawValue::Text(Cow::Owned(t.into_owned())),
                    RawValue::Missing => RawValue::Missing,
                    RawValue::Number(x) => RawValue::Number(x),
                    RawValue::Bool(b) => RawValue::Bool(b),
                })
                .collect(),
        })
        .collect();
    golden.push(GoldenInput {
        kind: GoldenKind::AllMissing,
        record: vec![RawValue::Missing; pipeline.input_columns().len()],
    });
    let parts = ArtifactParts {
        model_name: "test-model".into(),
        model_version: "7".into(),
        classes: data.classes.clone(),
        threshold: Some(DecisionThreshold {
            value: 0.5,
            rule: ThresholdRule::Fixed(0.5),
            chosen_on: "fixed".into(),
        }),
        evaluation: None,
        permutation_importances: None,
        search: None,
        training: TrainingSummary {
            data_file: Some("bank.csv".into()),
            evaluated_on: "held-out split".into(),
            train_rows: train.len(),
            test_rows: test.len(),
            n_features: pipeline.n_features(),
            fit_seconds: 0.0,
            params: forest_params,
            n_trees: forest.n_trees(),
            n_nodes: forest.n_nodes(),
            oob: None,
        },
        profile,
    };
    ModelArtifact::build(parts, pipeline, forest, &golden).unwrap()
}

#[test]
fn artifact_round_trips_through_a_file() {
    let artifact = small_artifact();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.finbeh");
    let written = artifact.write(&path).unwrap();
    assert_eq!(written, std::fs::metadata(&path).unwrap().len());
    let back = ModelArtifact::read(&path).unwrap();
    assert_eq!(back, artifact);
    assert_eq!(back.metadata().model_name, "test-model");
    assert_eq!(back.metadata().golden_set.len(), 9);
    assert_eq!(back.metadata().format_version, "1.0.0");
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn score_record_and_score_table_agree_with_golden_bits() {
    let artifact = small_artifact();
    let mut features = vec![0.0; artifact.n_features()];
    let mut proba = vec![0.0; artifact.classes().len()];
    let all_missing = vec![RawValue::Missing; artifact.input_columns().len()];
    artifact
        .score_record(&all_missing, &mut features, &mut proba)
        .unwrap();
    let stored = &artifact.metadata().golden_set[8];
    assert_eq!(stored.kind, GoldenKind::AllMissing);
    let bits: Vec<String> = proba
        .iter()
        .map(|p| format!("{:016x}", p.to_bits()))
        .collect();
    assert_eq!(bits, stored.expected);
    assert!(matches!(
        artifact.score_record(&all_missing[1..], &mut features, &mut proba),
        Err(TrainError::Data(_))
    ));
}
