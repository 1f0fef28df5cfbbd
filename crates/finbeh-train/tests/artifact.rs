//! The model artifact: round trip, committed fixture, and every refusal.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::borrow::Cow;

use finbeh_data::{
    DataParams, DatasetProfile, RawValue, fit_pipeline, generate_banking_csv, load_dataset,
    stratified_split,
};
use finbeh_train::{
    ARTIFACT_FORMAT_VERSION, ArtifactParts, DecisionThreshold, GoldenInput, GoldenKind,
    ModelArtifact, RandomForest, RandomForestParams, ThresholdRule, TrainError, TrainingSummary,
};
use linfa::ParamGuard;
use mutate::train_fixture;

mod mutate;

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
        target: Some("Anomaly".into()),
        threshold: Some(DecisionThreshold {
            value: 0.5,
            rule: ThresholdRule::Fixed { value: 0.5 },
            chosen_on: "fixed".into(),
        }),
        ignored_columns: Vec::new(),
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
        reference_sample: None,
        calibration: None,
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
    assert_eq!(back.metadata().format_version, ARTIFACT_FORMAT_VERSION);
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

// ---------------------------------------------------------------------------------------------
// The committed fixture and the refusals.

/// One committed fixture per format version; each must load in every later version.
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model-v1.0.0.finbeh"
);
const FIXTURE_V1_1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model-v1.1.0.finbeh"
);
const FIXTURE_V1_2: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model-v1.2.0.finbeh"
);
const FIXTURE_V1_3: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model-v1.3.0.finbeh"
);

fn current_fixture_path() -> String {
    format!(
        "{}/tests/fixtures/model-v{ARTIFACT_FORMAT_VERSION}.finbeh",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Writes the committed fixture. Run by hand ONCE per format version:
/// `cargo test -p finbeh-train --test artifact -- --ignored write_fixture`
#[test]
#[ignore = "writes the committed fixture; run by hand only when a new format version is introduced"]
fn write_fixture() {
    train_fixture().write(current_fixture_path()).unwrap();
}

#[test]
fn the_committed_v1_0_fixture_loads_and_reproduces_its_golden_set() {
    let artifact = check_fixture(FIXTURE, "1.0.0");
    // 1.0.0 had no list of ignored columns: it reads as empty.
    assert!(artifact.metadata().ignored_columns.is_empty());
}

#[test]
fn the_committed_v1_1_fixture_loads_and_lists_the_columns_it_ignores() {
    let artifact = check_fixture(FIXTURE_V1_1, "1.1.0");
    let ignored = &artifact.metadata().ignored_columns;
    for column in ["Customer_ID", "Email", "Anomaly"] {
        assert!(ignored.iter().any(|c| c == column), "{column}: {ignored:?}");
    }
    assert!(
        !artifact
            .input_columns()
            .iter()
            .any(|c| ignored.contains(&c.name))
    );
}

#[test]
fn the_committed_v1_2_fixture_names_its_target_and_scores_the_anomaly() {
    let artifact = check_fixture(FIXTURE_V1_2, "1.2.0");
    let m = artifact.metadata();
    assert_eq!(m.target.as_deref(), Some("Anomaly"));
    assert_eq!(m.positive_class.as_deref(), Some("-1"));
    assert_eq!(m.probability_meaning(), "probability that Anomaly = -1");
}

#[test]
fn the_committed_v1_3_fixture_carries_cover_reference_sample_and_calibration() {
    let artifact = check_fixture(FIXTURE_V1_3, "1.3.0");
    let forest = artifact.forest();
    let cover = forest.node_cover().unwrap();
    assert_eq!(cover.len(), forest.n_nodes());
    let view = forest.view();
    assert!(view.has_cover());
    for tree in view.trees() {
        // A split's cover is its children's (weights add up), and every node has some.
        for (i, node) in tree.nodes().iter().enumerate() {
            let c = tree.cover(i).unwrap();
            assert!(c > 0.0);
            if let finbeh_train::NodeView::Split { left, right, .. } = *node {
                let sum = tree.cover(left).unwrap() + tree.cover(right).unwrap();
                assert!((c - sum).abs() <= 1e-9 * c, "node {i}: {c} vs {sum}");
            } else {
                assert_eq!(tree.leaf_values(i).unwrap().len(), 1);
            }
        }
    }
    // 5 trees on a bootstrap of the 1 200 training rows: each root covers 1 200 draws.
    assert_eq!(view.trees()[0].cover(0), Some(1_200.0));

    let sample = artifact.reference_sample().unwrap();
    let names: Vec<&str> = artifact
        .input_columns()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(sample.columns(), names);
    assert_eq!(sample.n_rows(), 40);
    assert_eq!(sample.drawn_from(), 1_500);
    assert_eq!(sample.labels().len(), 40);
    assert!(sample.held_out().iter().any(|&h| h) && sample.held_out().iter().any(|&h| !h));
    assert!(sample.row(0).unwrap().iter().any(Option::is_some));

    let calibration = artifact.calibration().unwrap();
    assert_eq!(calibration.fitted_on(), 300);
    assert_eq!(calibration.probabilities().len(), 40);
    let map = calibration.map();
    assert!(map.n_points() >= 1);
    assert!(map.y().windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(
        artifact.monitoring_summary()[0],
        "reference: 40 raw records (10 held out) sampled from 1500 loaded rows, seed 42"
    );
}

#[test]
fn fixtures_before_1_3_have_no_cover_sample_or_calibration() {
    for (path, version) in [
        (FIXTURE, "1.0.0"),
        (FIXTURE_V1_1, "1.1.0"),
        (FIXTURE_V1_2, "1.2.0"),
    ] {
        let artifact = check_fixture(path, version);
        assert!(artifact.forest().node_cover().is_none(), "{version}");
        assert!(!artifact.forest().view().has_cover(), "{version}");
        assert_eq!(artifact.forest().view().trees()[0].cover(0), None);
        assert!(artifact.reference_sample().is_none(), "{version}");
        assert!(artifact.calibration().is_none(), "{version}");
        assert!(
            artifact.monitoring_summary()[2].contains("before format 1.3.0"),
            "{version}"
        );
    }
}

#[test]
fn older_fixtures_read_without_a_target() {
    for (path, version) in [(FIXTURE, "1.0.0"), (FIXTURE_V1_1, "1.1.0")] {
        let artifact = check_fixture(path, version);
        assert_eq!(artifact.metadata().target, None);
        // They were written when a {-1, 1} target's positive class was 1.
        assert_eq!(
            artifact.metadata().probability_meaning(),
            "probability of class \"1\""
        );
    }
}

fn check_fixture(path: &str, version: &str) -> ModelArtifact {
    let artifact = ModelArtifact::read(path).unwrap();
    let m = artifact.metadata();
    assert_eq!(m.format_version, version);
    assert_eq!(m.writer.crate_name, "finbeh-train");
    assert_eq!(m.model_name, "fixture");
    assert_eq!(m.classes.len(), 2);
    assert!(m.golden_set.len() >= 32);
    for kind in [
        GoldenKind::HeldOut,
        GoldenKind::AllMissing,
        GoldenKind::UnseenCategory,
    ] {
        assert!(m.golden_set.iter().any(|g| g.kind == kind), "{kind:?}");
    }
    let kinds: Vec<_> = artifact.input_columns().iter().map(|c| c.kind).collect();
    for kind in [
        finbeh_data::ColumnKind::Categorical,
        finbeh_data::ColumnKind::Date,
        finbeh_data::ColumnKind::Numeric,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} input missing");
    }
    assert_eq!(artifact.forest().n_trees(), 5);
    assert!(m.evaluation.is_some() && m.importances.permutation.is_some());
    // Re-scoring gives the stored bits (from_bytes already checked; this is the public path).
    let mut features = vec![0.0; artifact.n_features()];
    let mut proba = vec![0.0; 2];
    for g in &m.golden_set {
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
        artifact
            .score_record(&record, &mut features, &mut proba)
            .unwrap();
        let bits: Vec<String> = proba
            .iter()
            .map(|p| format!("{:016x}", p.to_bits()))
            .collect();
        assert_eq!(bits, g.expected);
    }
    artifact
}

/// Re-encodes `bytes` with a modified header and a recomputed checksum.
fn with_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    use sha2::Digest;
    let header_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let mut header: serde_json::Value =
        serde_json::from_slice(&bytes[12..12 + header_len]).unwrap();
    edit(&mut header);
    let new_header = serde_json::to_vec(&header).unwrap();
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(&(new_header.len() as u32).to_le_bytes());
    out.extend_from_slice(&new_header);
    out.extend_from_slice(&bytes[12 + header_len..bytes.len() - 32]);
    let sum = sha2::Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

fn fixture_bytes() -> Vec<u8> {
    std::fs::read(FIXTURE).unwrap()
}

#[test]
fn re_encoding_an_unchanged_header_still_loads() {
    ModelArtifact::from_bytes(&with_header(&fixture_bytes(), |_| {})).unwrap();
}

#[test]
fn a_flipped_byte_is_refused_as_corrupt() {
    let mut bytes = fixture_bytes();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let err = ModelArtifact::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, TrainError::ArtifactCorrupt { .. }), "{err}");
    assert!(err.to_string().contains("corrupt or was modified"), "{err}");
}

#[test]
fn a_truncated_file_is_refused() {
    let bytes = fixture_bytes();
    for len in [bytes.len() - 1, bytes.len() / 2, 20] {
        let err = ModelArtifact::from_bytes(&bytes[..len]).unwrap_err();
        assert!(
            matches!(err, TrainError::ArtifactCorrupt { .. }),
            "{len}: {err}"
        );
    }
}

#[test]
fn a_file_that_is_not_an_artifact_is_refused() {
    for bytes in [&b""[..], b"a,b\n1,2\n", b"\x89FBH"] {
        let err = ModelArtifact::from_bytes(bytes).unwrap_err();
        assert!(matches!(err, TrainError::NotAnArtifact { .. }), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let err = ModelArtifact::read(dir.path().join("absent.finbeh")).unwrap_err();
    assert!(matches!(err, TrainError::ArtifactIo { .. }), "{err}");
}

#[test]
fn a_newer_major_format_is_refused_naming_writer_and_reader() {
    let bytes = with_header(&fixture_bytes(), |h| {
        h["format_version"] = "2.0.0".into();
        h["writer"]["crate_version"] = "9.1.0".into();
        // A v2 header may look nothing like v1: only format_version and writer are read.
        h["golden_set"] = serde_json::json!("moved elsewhere in v2");
    });
    let err = ModelArtifact::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::UnsupportedArtifactVersion { found_major: 2, .. }
        ),
        "{err}"
    );
    let msg = err.to_string();
    for part in [
        "2.0.0",
        "finbeh-train 9.1.0",
        env!("CARGO_PKG_VERSION"),
        "1.x",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
}

#[test]
fn a_newer_minor_format_with_extra_fields_still_loads() {
    let bytes = with_header(&fixture_bytes(), |h| {
        h["format_version"] = "1.3.0".into();
        h["field_added_in_1_3"] = serde_json::json!({"anything": [1, 2]});
    });
    ModelArtifact::from_bytes(&bytes).unwrap();
}

#[test]
fn a_golden_mismatch_is_refused_naming_the_record_and_bits() {
    let bytes = with_header(&fixture_bytes(), |h| {
        let cell = &mut h["golden_set"][3]["expected"][1];
        let bits = u64::from_str_radix(cell.as_str().unwrap(), 16).unwrap() ^ 1;
        *cell = format!("{bits:016x}").into();
    });
    let err = ModelArtifact::from_bytes(&bytes).unwrap_err();
    match &err {
        TrainError::GoldenMismatch {
            index,
            class,
            expected,
            got,
            ..
        } => {
            assert_eq!((*index, *class), (3, 1));
            assert_ne!(expected, got);
        }
        other => panic!("expected a golden mismatch, got {other}"),
    }
    assert!(err.to_string().contains("golden record 3"), "{err}");
}

#[test]
fn a_training_run_is_reproducible_with_its_seed() {
    let a = train_fixture();
    let b = train_fixture();
    assert_eq!(a.forest(), b.forest());
    assert_eq!(a.pipeline(), b.pipeline());
    assert_eq!(a.metadata().golden_set, b.metadata().golden_set);
    assert_eq!(a.metadata().evaluation, b.metadata().evaluation);
}
