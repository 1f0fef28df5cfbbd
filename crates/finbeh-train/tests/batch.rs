//! Batch scoring of a CSV file into a CSV of predictions: the `[data]` settings are honoured
//! (a `;`-delimited file), ids are carried through, probability columns are named after their
//! class, and without an output file the CSV goes to stdout.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use finbeh_config::ModelSettings;
use finbeh_data::{
    DataError, DataParams, DataValidParams, KeepColumns, load_dataset, load_records,
};
use finbeh_train::{ModelArtifact, TrainError, TrainingJob, predict_csv};

/// 400 `;`-delimited records with a `Customer_ID`; `amount` tells the classes apart.
fn semicolon_csv(dir: &Path, classes: &[&str]) -> PathBuf {
    let mut text = String::from("Customer_ID;amount;channel;outcome\n");
    for i in 0..400u32 {
        let class = classes[(i as usize * 7 / 3) % classes.len()];
        let position = classes.iter().position(|c| *c == class).unwrap() as u32;
        let amount = f64::from(position * 40 + (i * 37) % 90) + 0.5;
        let channel = ["web", "branch", "phone"][(i % 3) as usize];
        text.push_str(&format!("C{:04};{amount};{channel};{class}\n", 1000 + i));
    }
    let path = dir.join(format!("records_{}.csv", classes.len()));
    std::fs::write(&path, text).unwrap();
    path
}

fn semicolon_params() -> DataValidParams {
    semicolon_params_with(Some("yes"))
}

fn semicolon_params_with(positive_class: Option<&str>) -> DataValidParams {
    let mut p = DataParams::default().with_target("outcome");
    p.delimiter = ';';
    p.positive_class = positive_class.map(String::from);
    p.check().unwrap()
}

fn train(path: &Path, params: &DataValidParams) -> ModelArtifact {
    let data = load_dataset(path, params).unwrap();
    let model = ModelSettings {
        n_estimators: 5,
        max_depth: 4,
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

fn read_output(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn a_semicolon_file_is_scored_with_its_ids_and_a_named_probability() {
    let dir = tempfile::tempdir().unwrap();
    let input = semicolon_csv(dir.path(), &["no", "yes"]);
    let params = semicolon_params();
    let artifact = train(&input, &params);
    let out = dir.path().join("predictions.csv");
    let run = predict_csv(&artifact, &input, &params, &KeepColumns::Ids, Some(&out)).unwrap();
    assert_eq!(run.rows, 400);

    let (header, rows) = read_output(&out);
    assert_eq!(header, ["Customer_ID", "prediction", "probability_yes"]);
    assert_eq!(run.columns, header);
    assert_eq!(rows.len(), 400);
    let (table, _) = load_records(&input, artifact.pipeline(), None, &params).unwrap();
    let proba = artifact.score_table(&table).unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], format!("C{:04}", 1000 + i));
        assert!(row[1] == "yes" || row[1] == "no", "{row:?}");
        assert_eq!(row[2].parse::<f64>().unwrap(), proba[[i, 1]], "row {i}");
    }

    // The same file read with the default `,` delimiter has none of the model's columns.
    let comma = DataParams::default().check().unwrap();
    let err = predict_csv(&artifact, &input, &comma, &KeepColumns::Ids, Some(&out)).unwrap_err();
    assert!(
        matches!(err, TrainError::Data(DataError::MissingInputColumns { .. })),
        "{err}"
    );
}

#[test]
fn multi_class_models_name_one_probability_column_per_class() {
    let dir = tempfile::tempdir().unwrap();
    let input = semicolon_csv(dir.path(), &["low", "mid", "high"]);
    let params = semicolon_params_with(None);
    let artifact = train(&input, &params);
    let out = dir.path().join("predictions.csv");
    let keep = KeepColumns::Listed(vec!["channel".into(), "Customer_ID".into()]);
    predict_csv(&artifact, &input, &params, &keep, Some(&out)).unwrap();
    let (header, rows) = read_output(&out);
    let mut expected = vec![
        "channel".to_string(),
        "Customer_ID".into(),
        "prediction".into(),
    ];
    expected.extend(
        artifact
            .classes()
            .iter()
            .map(|c| format!("probability_{c}")),
    );
    assert_eq!(header, expected);
    assert_eq!(header.len(), 6);
    assert_eq!((rows[0][0].as_str(), rows[0][1].as_str()), ("web", "C1000"));
    let sum: f64 = rows[0][3..].iter().map(|p| p.parse::<f64>().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-9, "{sum}");
}

#[test]
fn kept_columns_must_exist_and_must_not_clash_with_the_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let input = semicolon_csv(dir.path(), &["no", "yes"]);
    let params = semicolon_params();
    let artifact = train(&input, &params);
    let out = dir.path().join("predictions.csv");
    let keep = KeepColumns::Listed(vec!["Customer_ID".into(), "Account".into()]);
    let err = predict_csv(&artifact, &input, &params, &keep, Some(&out)).unwrap_err();
    assert!(
        err.to_string()
            .contains("lacks the column(s) to keep: Account"),
        "{err}"
    );

    let clashing = dir.path().join("clash.csv");
    let text = std::fs::read_to_string(&input)
        .unwrap()
        .replacen("Customer_ID", "prediction", 1);
    std::fs::write(&clashing, text).unwrap();
    let keep = KeepColumns::Listed(vec!["prediction".into()]);
    let err = predict_csv(&artifact, &clashing, &params, &keep, Some(&out)).unwrap_err();
    assert!(
        matches!(&err, TrainError::KeptColumnClash { column } if column == "prediction"),
        "{err}"
    );
}

/// Set in the child process the stdout test starts.
const CHILD_DIR: &str = "FINBEH_BATCH_TEST_DIR";

#[test]
fn without_an_output_file_the_predictions_go_to_stdout() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let dir = PathBuf::from(dir);
        let artifact = ModelArtifact::read(dir.join("model.finbeh")).unwrap();
        let input = dir.join("records_2.csv");
        predict_csv(
            &artifact,
            &input,
            &semicolon_params(),
            &KeepColumns::Ids,
            None,
        )
        .unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = semicolon_csv(dir.path(), &["no", "yes"]);
    train(&input, &semicolon_params())
        .write(dir.path().join("model.finbeh"))
        .unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "without_an_output_file_the_predictions_go_to_stdout",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    // libtest writes its own lines around the test's output.
    let start = stdout
        .find("Customer_ID,")
        .unwrap_or_else(|| panic!("{stdout}"));
    let csv_lines: Vec<&str> = stdout[start..]
        .lines()
        .take_while(|l| l.starts_with('C'))
        .collect();
    assert_eq!(csv_lines[0], "Customer_ID,prediction,probability_yes");
    assert_eq!(csv_lines.len(), 401, "{stdout}");
    assert!(csv_lines[1].starts_with("C1000,"), "{stdout}");
}
