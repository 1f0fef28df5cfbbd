//! Explanations of real trained artifacts: local accuracy on every golden record, the batch
//! explanation equals the one-record explanation bit for bit, `predict_csv_explained` writes
//! `base` and `contribution_<column>` columns that add up to the probability, global importance,
//! and artifacts without node cover are refused with the reason.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use finbeh_config::ModelSettings;
use finbeh_data::{
    DataParams, DataValidParams, DateDifference, KeepColumns, RawValue, generate_banking_csv,
    load_dataset, load_records,
};
use finbeh_train::{
    Explanation, ModelArtifact, TrainError, TrainingJob, explanation_columns,
    mean_abs_contributions, predict_csv_explained,
};

fn banking(dir: &Path, rows: u64, classes: usize) -> (PathBuf, DataValidParams) {
    let csv = dir.join("bank.csv");
    generate_banking_csv(std::fs::File::create(&csv).unwrap(), rows, 11).unwrap();
    let mut params = if classes == 2 {
        DataParams::default().with_target("Anomaly")
    } else {
        DataParams::default().with_target("Loan_Type")
    };
    params.date_differences = vec![DateDifference {
        name: "account_age_days".into(),
        start: "Date_Of_Account_Opening".into(),
        end: "Transaction_Date".into(),
    }];
    (csv, params.check().unwrap())
}

fn train(csv: &Path, params: &DataValidParams) -> ModelArtifact {
    let data = load_dataset(csv, params).unwrap();
    let model = ModelSettings {
        n_estimators: 12,
        max_depth: 7,
        n_jobs: 1,
        ..ModelSettings::default()
    };
    TrainingJob {
        data_params: params,
        model: &model,
        test_file: None,
        data_file_name: None,
        progress: false,
    }
    .run(&data)
    .unwrap()
    .artifact
}

fn raw(value: &serde_json::Value) -> RawValue<'_> {
    match value {
        serde_json::Value::Null => RawValue::Missing,
        serde_json::Value::Bool(b) => RawValue::Bool(*b),
        serde_json::Value::Number(n) => RawValue::Number(n.as_f64().unwrap()),
        serde_json::Value::String(s) => RawValue::Text(s.as_str().into()),
        other => panic!("golden cell {other}"),
    }
}

/// base + Σ contributions = the golden record's stored probability, per output, within 1e-9.
fn assert_local_accuracy_on_golden_set(artifact: &ModelArtifact) {
    let explainer = artifact.explainer().unwrap();
    let k = explainer.n_outputs();
    let mut explanation = Explanation::default();
    let golden = &artifact.metadata().golden_set;
    assert!(golden.len() >= 32);
    for (i, g) in golden.iter().enumerate() {
        let record: Vec<RawValue<'_>> = g.record.iter().map(raw).collect();
        explainer.explain_record(&record, &mut explanation).unwrap();
        let expected: Vec<f64> = g
            .expected
            .iter()
            .map(|bits| f64::from_bits(u64::from_str_radix(bits, 16).unwrap()))
            .collect();
        for o in 0..k {
            let served = if k == 1 { expected[1] } else { expected[o] };
            let sum: f64 = explanation.base[o]
                + explanation
                    .contributions
                    .iter()
                    .skip(o)
                    .step_by(k)
                    .sum::<f64>();
            assert!(
                (sum - served).abs() < 1e-9,
                "golden record {i} output {o}: base + Σ = {sum}, served {served}"
            );
        }
    }
}

#[test]
fn local_accuracy_on_every_golden_record_binary_and_multi_class() {
    let dir = tempfile::tempdir().unwrap();
    for classes in [2, 3] {
        let (csv, params) = banking(dir.path(), 600, classes);
        let artifact = train(&csv, &params);
        assert_eq!(
            artifact.explainer().unwrap().n_outputs(),
            if classes == 2 {
                1
            } else {
                artifact.classes().len()
            }
        );
        assert_local_accuracy_on_golden_set(&artifact);
        // The artifact read back from its bytes explains the same (cover survives the file).
        let read = ModelArtifact::from_bytes(&artifact.to_bytes().unwrap()).unwrap();
        assert_local_accuracy_on_golden_set(&read);
    }
}

#[test]
fn the_batch_explanation_of_a_row_equals_its_own_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, params) = banking(dir.path(), 1200, 2);
    let artifact = train(&csv, &params);
    let explainer = artifact.explainer().unwrap();
    let (table, _) = load_records(&csv, artifact.pipeline(), None, &params).unwrap();
    let batch = explainer.explain_table(&table).unwrap();
    assert_eq!(batch.nrows(), table.n_rows());
    let mut explanation = Explanation::default();
    // Records explained side by side (explain_records, as the monitor does) give the same bits.
    let mut records = Vec::new();
    for r in 0..table.n_rows() {
        records.extend(artifact.pipeline().raw_record(&table, r).unwrap());
    }
    let mut side_by_side = Vec::new();
    explainer
        .explain_records(&records, &mut side_by_side)
        .unwrap();
    let batch_bits: Vec<u64> = batch.iter().map(|x| x.to_bits()).collect();
    let side_by_side_bits: Vec<u64> = side_by_side.iter().map(|x| x.to_bits()).collect();
    assert_eq!(side_by_side_bits, batch_bits);
    assert!(
        explainer
            .explain_records(&records[1..], &mut side_by_side)
            .is_err(),
        "a partial record is refused"
    );
    for r in 0..table.n_rows() {
        let record = artifact.pipeline().raw_record(&table, r).unwrap();
        explainer.explain_record(&record, &mut explanation).unwrap();
        let one: Vec<u64> = explanation
            .contributions
            .iter()
            .map(|x| x.to_bits())
            .collect();
        let many: Vec<u64> = batch.row(r).iter().map(|x| x.to_bits()).collect();
        assert_eq!(one, many, "row {r}");
    }
    // Global importance over the same rows: the mean of the absolute contributions.
    let mean = mean_abs_contributions(&explainer, &table).unwrap();
    for (c, m) in mean.iter().enumerate() {
        let expected = batch.column(c).iter().map(|x| x.abs()).sum::<f64>() / batch.nrows() as f64;
        assert!((m - expected).abs() < 1e-12);
    }
    let importance = artifact.global_importance().unwrap();
    assert_eq!(importance.sample, "reference sample");
    assert_eq!(importance.columns.len(), artifact.input_columns().len());
    assert!(importance.mean_abs.iter().any(|m| *m > 0.0));
}

#[test]
fn predict_explained_writes_base_and_contributions_that_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, params) = banking(dir.path(), 800, 2);
    let artifact = train(&csv, &params);
    let out = dir.path().join("explained.csv");
    let run =
        predict_csv_explained(&artifact, &csv, &params, &KeepColumns::Ids, Some(&out)).unwrap();
    let names = explanation_columns(&artifact);
    assert_eq!(names[0], "base");
    assert_eq!(names.len(), 1 + artifact.input_columns().len());
    assert!(run.columns.ends_with(&names), "{:?}", run.columns);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let probability = header
        .iter()
        .position(|h| h.starts_with("probability_"))
        .unwrap();
    let base = header.iter().position(|h| h == "base").unwrap();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.unwrap();
        let number = |i: usize| record[i].parse::<f64>().unwrap();
        let sum: f64 = (base..header.len()).map(number).sum();
        assert!((sum - number(probability)).abs() < 1e-9, "row {rows}");
        rows += 1;
    }
    assert_eq!(rows, run.rows);
}

#[test]
fn artifacts_without_node_cover_are_refused_with_the_reason() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/model-v1.2.0.finbeh"
    );
    let artifact = ModelArtifact::read(fixture).unwrap();
    let err = artifact.explainer().unwrap_err();
    assert!(matches!(err, TrainError::NoNodeCover { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("node cover") && message.contains("1.2.0"),
        "{message}"
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "unused\n1\n").unwrap();
    let params = DataParams::default().check().unwrap();
    let out = dir.path().join("out.csv");
    let err = predict_csv_explained(&artifact, &input, &params, &KeepColumns::Ids, Some(&out))
        .unwrap_err();
    assert!(err.to_string().contains("node cover"), "{err}");
    assert!(!out.exists(), "nothing is written for a refused model");
}
