//! The `monitor` example as a user runs it. `drift`: one JSON object on stdout with `--json`, a
//! table otherwise, exit 0 whether or not drift was found, a clear error without `--reference`.
//! `labels`: the counts as JSON or a sentence, and a bad file refused naming line and column.
//! Needs the example built (`cargo test` builds examples).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::example_binary;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A real trained artifact over banking data, committed by finbeh-train (an older format
/// version, which must keep loading).
const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crates/finbeh-train/tests/fixtures/model-v1.1.0.finbeh"
);

/// 300 generated banking rows, every column the model reads among them.
fn banking_csv(dir: &Path) -> PathBuf {
    let data = dir.join("bank.csv");
    finbeh_data::generate_banking_csv(std::fs::File::create(&data).unwrap(), 300, 5).unwrap();
    data
}

fn drift(args: &[&Path], flags: &[&str]) -> Output {
    let mut command = Command::new(example_binary("monitor"));
    command.arg("drift");
    for (flag, path) in ["--model", "--current", "--reference"].iter().zip(args) {
        command.arg(flag).arg(path);
    }
    command.args(flags).output().unwrap()
}

#[test]
fn drift_prints_one_json_object_or_a_table_and_refuses_a_missing_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = (banking_csv(dir.path()), PathBuf::from(MODEL));

    let json = drift(&[&model, &data, &data], &["--json"]);
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let stdout = String::from_utf8(json.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["dataset_drift"], serde_json::Value::Bool(false));
    assert_eq!(report["drifted_share"].as_f64(), Some(0.0));
    assert!(!report["features"].as_array().unwrap().is_empty());

    let table = drift(&[&model, &data, &data], &[]);
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.starts_with("column"), "{text}");
    assert!(
        text.contains("columns drifted (share 0.000); dataset drift: no"),
        "{text}"
    );

    let missing = drift(&[&model, &data], &["--json"]);
    assert!(!missing.status.success());
    assert!(missing.stdout.is_empty());
    let stderr = String::from_utf8(missing.stderr).unwrap();
    assert!(
        stderr.contains("the artifact has no reference sample yet; pass --reference CSV"),
        "{stderr}"
    );
}

fn labels(file: &Path, database: &Path, flags: &[&str]) -> Output {
    Command::new(example_binary("monitor"))
        .arg("labels")
        .arg("--file")
        .arg(file)
        .arg("--database")
        .arg(database)
        .args(flags)
        .output()
        .unwrap()
}

#[test]
fn labels_reports_matches_and_refuses_a_bad_file_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    // A prediction log of layout 1 (committed by finbeh-monitor): fixture-1 has rows 0 and 1.
    let database = dir.path().join("log.sqlite");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crates/finbeh-monitor/tests/fixtures/prediction-log-v1.sqlite"
        ),
        &database,
    )
    .unwrap();
    let file = dir.path().join("labels.csv");
    std::fs::write(
        &file,
        "request_id,row,label\nfixture-1,0,no\nunknown,0,no\n",
    )
    .unwrap();

    let json = labels(&file, &database, &["--json"]);
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let counts: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(counts["received"], 2);
    assert_eq!(
        (counts["matched"].as_u64(), counts["unmatched"].as_u64()),
        (Some(1), Some(1))
    );

    let text = labels(&file, &database, &[]);
    assert!(text.status.success());
    let stdout = String::from_utf8(text.stdout).unwrap();
    assert!(
        stdout.contains("2 labels (0 new, 2 replaced); 1 match a logged prediction, 1 do not"),
        "{stdout}"
    );

    std::fs::write(&file, "request_id,row,label\nfixture-1,zero,no\n").unwrap();
    let bad = labels(&file, &database, &[]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.contains("labels.csv: line 2, column row:"),
        "{stderr}"
    );
}

#[test]
fn report_and_drift_take_database_and_still_accept_the_old_log_flag() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sqlite");
    let out = dir.path().join("report.html");
    let run = |args: &[&std::ffi::OsStr]| {
        let output = Command::new(example_binary("monitor"))
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for flag in ["--database", "--log"] {
        let report = run(&[
            "report".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            flag.as_ref(),
            missing.as_os_str(),
        ]);
        let drift = run(&[
            "drift".as_ref(),
            "--since".as_ref(),
            "1h".as_ref(),
            flag.as_ref(),
            missing.as_os_str(),
        ]);
        // Parsed (clap refuses with 2): the run fails on the missing log, naming it.
        for (code, stderr) in [report, drift] {
            assert_eq!(code, Some(1), "{flag}: {stderr}");
            assert!(stderr.contains("missing.sqlite"), "{flag}: {stderr}");
        }
    }
    let help = Command::new(example_binary("monitor"))
        .args(["report", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--database") && !help.contains("--log"),
        "{help}"
    );
}
