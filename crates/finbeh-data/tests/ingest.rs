//! Bad input, lenient mode, schema inference, targets and leakage.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;

use finbeh_data::{
    DataError, DataParams, LeakageKind, Role, Severity, ValueKind, generate_banking_csv,
    load_dataset,
};

fn csv_file(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(content)
        .unwrap();
    path
}

fn params(target: &str) -> finbeh_data::DataValidParams {
    DataParams::default().with_target(target).check().unwrap()
}

const GOOD: &str = "amount,kind,opened,y\n1.5,a,1/2/2020,0\n2.5,b,3/4/2021,1\n3.5,a,5/6/2022,0\n4.5,b,7/8/2023,1\n";

#[test]
fn missing_file_is_an_io_error_naming_the_file() {
    let err = load_dataset("/nonexistent/finbeh/data.csv", &params("y")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/finbeh/data.csv"));
}

#[test]
fn empty_file_and_header_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = csv_file(&dir, "empty.csv", b"");
    let err = load_dataset(&empty, &params("y")).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err}");
    let header_only = csv_file(&dir, "h.csv", b"a,y\n");
    let err = load_dataset(&header_only, &params("y")).unwrap_err();
    assert!(err.to_string().contains("no data rows"), "{err}");
}

#[test]
fn bad_headers() {
    let dir = tempfile::tempdir().unwrap();
    let blank = csv_file(&dir, "b.csv", b"a,,y\n1,2,0\n");
    let err = load_dataset(&blank, &params("y")).unwrap_err();
    assert!(
        matches!(err, DataError::BadHeader { .. }) && err.to_string().contains("column 2"),
        "{err}"
    );
    let dup = csv_file(&dir, "d.csv", b"a,b,a,y\n1,2,3,0\n");
    let err = load_dataset(&dup, &params("y")).unwrap_err();
    assert!(err.to_string().contains("`a` appears twice"), "{err}");
}

fn located(err: DataError) -> (u64, String, String) {
    match err {
        DataError::Located {
            row, column, value, ..
        } => (row, column, value),
        other => panic!("expected a located error, got {other}"),
    }
}

#[test]
fn ragged_row_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = csv_file(&dir, "r.csv", format!("{GOOD}5.5,a,1/1/2020\n").as_bytes());
    let (row, column, value) = located(load_dataset(&path, &params("y")).unwrap_err());
    assert_eq!((row, column.as_str()), (6, "*"));
    assert_eq!(value, "5.5,a,1/1/2020");
}

#[test]
fn unparseable_number_and_date_after_the_inference_sample() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("amount,opened,y\n");
    for i in 0..10_050 {
        let amount = if i == 10_020 {
            "12abc".to_string()
        } else {
            format!("{i}.25")
        };
        text.push_str(&format!("{amount},1/2/2020,{}\n", i % 2));
    }
    let path = csv_file(&dir, "n.csv", text.as_bytes());
    let (row, column, value) = located(load_dataset(&path, &params("y")).unwrap_err());
    assert_eq!(
        (row, column.as_str(), value.as_str()),
        (10_022, "amount", "12abc")
    );

    // One stray value among many in the sample does not turn the column into text.
    let mut text = String::from("amount,y\n");
    for i in 0..500 {
        let amount = if i == 100 {
            "n/a?".to_string()
        } else {
            format!("{i}")
        };
        text.push_str(&format!("{amount},{}\n", i % 2));
    }
    let path = csv_file(&dir, "stray.csv", text.as_bytes());
    let (row, column, value) = located(load_dataset(&path, &params("y")).unwrap_err());
    assert_eq!(
        (row, column.as_str(), value.as_str()),
        (102, "amount", "n/a?")
    );

    // A bad date inside the sample: forcing the kind keeps the column a date and reports the row.
    let path = csv_file(
        &dir,
        "d.csv",
        format!("{GOOD}5.5,a,12/32/2023,1\n").as_bytes(),
    );
    let mut p = DataParams::default().with_target("y");
    p.date = vec!["opened".into()];
    let err = load_dataset(&path, &p.check().unwrap()).unwrap_err();
    assert!(err.to_string().contains("M/D/YYYY"), "{err}");
    let (row, column, value) = located(err);
    assert_eq!(
        (row, column.as_str(), value.as_str()),
        (6, "opened", "12/32/2023")
    );
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = GOOD.as_bytes().to_vec();
    bytes.extend_from_slice(b"5.5,\xff\xfe,1/1/2020,1\n");
    let path = csv_file(&dir, "u.csv", &bytes);
    let (row, column, _) = located(load_dataset(&path, &params("y")).unwrap_err());
    assert_eq!((row, column.as_str()), (6, "kind"));
}

#[test]
fn missing_target_and_single_class_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = csv_file(&dir, "g.csv", GOOD.as_bytes());
    let err = load_dataset(&path, &params("label")).unwrap_err();
    assert!(
        matches!(err, DataError::MissingTarget { .. })
            && err.to_string().contains("amount, kind, opened, y"),
        "{err}"
    );
    let no_target = DataParams::default().check().unwrap();
    assert!(matches!(
        load_dataset(&path, &no_target).unwrap_err(),
        DataError::NoTarget
    ));
    let single = csv_file(&dir, "s.csv", b"a,y\n1,yes\n2,yes\n");
    let err = load_dataset(&single, &params("y")).unwrap_err();
    assert!(
        matches!(err, DataError::BadTarget { .. })
            && err.to_string().contains("single class \"yes\""),
        "{err}"
    );
    let missing_label = csv_file(&dir, "m.csv", b"a,y\n1,0\n2,\n3,1\n");
    let (row, column, _) = located(load_dataset(&missing_label, &params("y")).unwrap_err());
    assert_eq!((row, column.as_str()), (3, "y"));
}

#[test]
fn unknown_column_in_settings_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = csv_file(&dir, "g.csv", GOOD.as_bytes());
    let mut p = DataParams::default().with_target("y");
    p.ignore = vec!["nope".into()];
    let err = load_dataset(&path, &p.check().unwrap()).unwrap_err();
    assert!(
        matches!(&err, DataError::UnknownColumn { field, column, .. } if field == "ignore" && column == "nope"),
        "{err}"
    );
}

#[test]
fn lenient_mode_rejects_bad_rows_with_reasons_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{GOOD}oops,a,1/1/2020,1\n5.5,b\n6.5,a,2/30/2020,0\n7.5,b,1/1/2020,1\n");
    let path = csv_file(&dir, "l.csv", text.as_bytes());
    let reject_path = dir.path().join("rejects.csv");
    let mut p = DataParams::default().with_target("y");
    p.numeric = vec!["amount".into()];
    p.date = vec!["opened".into()];
    p.lenient = true;
    p.reject_path = Some(reject_path.clone());
    let data = load_dataset(&path, &p.check().unwrap()).unwrap();
    assert_eq!(data.rejected_rows, 3);
    assert_eq!(data.report.rows_rejected, 3);
    assert_eq!(data.report.rows_read, 8);
    assert_eq!(data.table.n_rows(), 5);
    assert!(
        data.report
            .issues_of(Severity::Warning)
            .any(|i| i.message.contains("3 bad rows"))
    );
    let rejects = std::fs::read_to_string(&reject_path).unwrap();
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "line,reason,amount,kind,opened,y");
    assert!(
        lines[1].starts_with("6,")
            && lines[1].contains("not a number")
            && lines[1].ends_with("oops,a,1/1/2020,1"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("7,") && lines[2].contains("ragged"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("8,") && lines[3].contains("2/30/2020"),
        "{}",
        lines[3]
    );
    assert_eq!(lines.len(), 4);
}

#[test]
fn schema_inference_dates_ids_pii_high_cardinality() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "Customer_ID,email,First_Name,iso,us,eu,slash,dot,stamp,code,free,flag,amount,y\n",
    );
    for i in 0..200u32 {
        let d = 1 + i % 28;
        let m = 1 + i % 12;
        text.push_str(&format!(
            "{i},p{i}@x.com,N{n},2023-{m:02}-{d:02},{m}/{d}/2023,{d}/{m}/2023,2023/{m:02}/{d:02},{d}.{m}.2023,2023-{m:02}-{d:02}T10:00:00,c{c},t{i},{flag},{amt},{y}\n",
            n = i % 7,
            c = i % 5,
            flag = if i % 3 == 0 { "yes" } else { "no" },
            amt = f64::from(i) * 1.5,
            y = i % 2
        ));
    }
    let path = csv_file(&dir, "s.csv", text.as_bytes());
    let data = load_dataset(&path, &params("y")).unwrap();
    let col = |n: &str| data.schema.column(n).unwrap().clone();
    assert_eq!(col("Customer_ID").role, Role::Id);
    assert_eq!(col("email").role, Role::PersonalData);
    assert_eq!(col("First_Name").role, Role::PersonalData);
    use finbeh_data::DateFormat::*;
    for (name, format) in [
        ("iso", Iso),
        ("us", MonthDayYear),
        ("eu", DayMonthYear),
        ("slash", YearMonthDaySlash),
        ("dot", DayMonthYearDot),
        ("stamp", Iso),
    ] {
        assert_eq!(col(name).kind, ValueKind::Date { format }, "{name}");
        assert_eq!(col(name).role, Role::Feature, "{name}");
    }
    assert_eq!(col("code").kind, ValueKind::Categorical);
    assert_eq!(col("free").kind, ValueKind::Text);
    assert_eq!(col("free").role, Role::Id, "all-unique text is an id");
    assert_eq!(col("flag").kind, ValueKind::Boolean);
    assert_eq!(col("amount").kind, ValueKind::Numeric);
    assert!(
        data.report
            .issues_of(Severity::Note)
            .any(|i| i.column.as_deref() == Some("email"))
    );

    // High-cardinality but repeated text is ignored with a warning; include_pii keeps e-mail.
    let mut text = String::from("city,email,y\n");
    for i in 0..300u32 {
        text.push_str(&format!("town{},a{}@b.org,{}\n", i % 120, i % 3, i % 2));
    }
    let path = csv_file(&dir, "h.csv", text.as_bytes());
    let mut p = DataParams::default().with_target("y");
    p.include_pii = true;
    let data = load_dataset(&path, &p.check().unwrap()).unwrap();
    assert_eq!(data.schema.column("city").unwrap().kind, ValueKind::Text);
    assert_eq!(data.schema.column("city").unwrap().role, Role::Ignored);
    assert!(
        data.report
            .issues_of(Severity::Warning)
            .any(|i| i.column.as_deref() == Some("city"))
    );
    assert_eq!(data.schema.column("email").unwrap().role, Role::Feature);
}

#[test]
fn positive_class_rules() {
    let dir = tempfile::tempdir().unwrap();
    let load = |labels: &[&str], positive: Option<&str>| {
        let mut text = String::from("a,y\n");
        for (i, l) in labels.iter().enumerate() {
            text.push_str(&format!("{i},{l}\n"));
        }
        let path = csv_file(&dir, "p.csv", text.as_bytes());
        let mut p = DataParams::default().with_target("y");
        p.positive_class = positive.map(str::to_string);
        load_dataset(&path, &p.check().unwrap()).map(|d| (d.classes, d.y))
    };
    // {-1, 1} has no natural positive: the minority class is positive, whichever it is.
    assert_eq!(load(&["1", "-1", "1"], None).unwrap().0, ["1", "-1"]);
    assert_eq!(load(&["-1", "1", "-1"], None).unwrap().0, ["-1", "1"]);
    assert_eq!(load(&["0", "1", "1"], None).unwrap().0, ["0", "1"]);
    assert_eq!(load(&["Yes", "No", "No"], None).unwrap().0, ["No", "Yes"]);
    assert_eq!(load(&["true", "false"], None).unwrap().0, ["false", "true"]);
    let (classes, y) = load(&["ok", "fraud", "ok", "ok"], None).unwrap();
    assert_eq!(classes, ["ok", "fraud"]);
    assert_eq!(y, [0, 1, 0, 0]);
    assert_eq!(load(&["1", "-1", "1"], Some("-1")).unwrap().0, ["1", "-1"]);
    let err = load(&["1", "0"], Some("2")).unwrap_err();
    assert!(
        matches!(&err, DataError::InvalidSetting { field, .. } if field == "positive_class"),
        "{err}"
    );
    assert_eq!(
        load(&["b", "a", "c", "a"], None).unwrap().0,
        ["a", "b", "c"]
    );
}

fn generated(dir: &tempfile::TempDir, rows: u64, seed: u64) -> PathBuf {
    let path = dir.path().join(format!("bank_{rows}_{seed}.csv"));
    generate_banking_csv(std::fs::File::create(&path).unwrap(), rows, seed).unwrap();
    path
}

#[test]
fn derived_target_source_used_as_feature_is_leakage() {
    let dir = tempfile::tempdir().unwrap();
    let path = generated(&dir, 3000, 5);
    let toml = r#"
        [data]
        target = "HighAmount"
        [data.derive.HighAmount]
        from = "Transaction_Amount"
        rule = "quantile_at_least"
        value = 0.95
    "#;
    let p = DataParams::from_toml_str(toml).unwrap().check().unwrap();
    let data = load_dataset(&path, &p).unwrap();
    assert!(data.report.has_errors());
    let kinds: Vec<LeakageKind> = data
        .report
        .leakage
        .iter()
        .filter(|l| l.column == "Transaction_Amount")
        .map(|l| l.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            LeakageKind::DerivedTargetSource,
            LeakageKind::NearPerfectSeparation
        ]
    );
    assert_eq!(data.y.iter().filter(|&&c| c == 1).count(), 150);

    // Ignoring the source clears both findings: no other column reveals HighAmount alone.
    let mut ignored = DataParams::from_toml_str(toml).unwrap();
    ignored.ignore = vec!["Transaction_Amount".into()];
    let data = load_dataset(&path, &ignored.check().unwrap()).unwrap();
    assert!(!data.report.has_errors(), "{}", data.report);

    // Allowing it turns the errors into warnings.
    let mut allowed = DataParams::from_toml_str(toml).unwrap();
    allowed.allow_leakage = vec!["Transaction_Amount".into()];
    let data = load_dataset(&path, &allowed.check().unwrap()).unwrap();
    assert!(!data.report.has_errors());
    assert!(data.report.leakage.iter().all(|l| l.allowed));
    assert_eq!(
        data.report
            .issues_of(Severity::Warning)
            .filter(|i| i.message.contains("leakage"))
            .count(),
        2
    );
}

#[test]
fn near_perfect_single_feature_is_leakage() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("noise,score,tier,y\n");
    for i in 0..400u32 {
        let y = u32::from(i % 4 == 0);
        // `score` separates the classes except for one row; `tier` is a categorical copy of y.
        let score = if i == 8 {
            0.05
        } else {
            f64::from(y) + f64::from(i % 10) / 100.0
        };
        text.push_str(&format!(
            "{},{score},{},{}\n",
            (i * 7919) % 101,
            if y == 1 { "gold" } else { "basic" },
            y
        ));
    }
    let path = csv_file(&dir, "leak.csv", text.as_bytes());
    let data = load_dataset(&path, &params("y")).unwrap();
    let flagged: Vec<&str> = data
        .report
        .leakage
        .iter()
        .map(|l| l.column.as_str())
        .collect();
    assert!(
        flagged.contains(&"score") && flagged.contains(&"tier") && !flagged.contains(&"noise"),
        "{flagged:?}"
    );
    assert!(data.report.has_errors());
    let mut p = DataParams::default().with_target("y");
    p.allow_leakage = vec!["score".into(), "tier".into()];
    assert!(
        !load_dataset(&path, &p.check().unwrap())
            .unwrap()
            .report
            .has_errors()
    );
    let mut p = DataParams::default().with_target("y");
    (p.leakage_warn_auc, p.leakage_error_auc) = (1.0, 1.0);
    let data = load_dataset(&path, &p.check().unwrap()).unwrap();
    assert_eq!(
        data.report
            .leakage
            .iter()
            .map(|l| (l.column.as_str(), l.kind))
            .collect::<Vec<_>>(),
        [
            ("tier", LeakageKind::NearPerfectSeparation),
            // "gold" is all of class 1 and none of class 0.
            ("tier", LeakageKind::SingleValueSignature)
        ]
    );
}

#[test]
fn generated_data_with_anomaly_target_has_no_leakage_and_real_signal() {
    let dir = tempfile::tempdir().unwrap();
    let path = generated(&dir, 20_000, 11);
    let data = load_dataset(&path, &params("Anomaly")).unwrap();
    assert!(!data.report.has_errors(), "{}", data.report);
    let best = &data.report.strongest_features[0];
    assert!(best.auc > 0.65 && best.auc < 0.95, "{best:?}");
    let anomalous = data
        .report
        .target
        .as_ref()
        .unwrap()
        .classes
        .iter()
        .find(|c| c.label == "-1")
        .unwrap()
        .fraction;
    assert!(
        (0.06..=0.12).contains(&anomalous),
        "anomalous share {anomalous}"
    );
    assert_eq!(data.report.columns.len(), 40);
    assert_eq!(data.report.duplicate_rows, 0);

    let loan = load_dataset(&path, &params("Loan_Status")).unwrap();
    assert!(!loan.report.has_errors());
    assert_eq!(loan.classes, ["Approved", "Closed", "Rejected"]);
    assert!(
        loan.report.strongest_features[0].column == "Interest_Rate",
        "{:?}",
        loan.report.strongest_features
    );
}

#[test]
fn generator_is_deterministic_and_matches_the_banking_layout() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut c = Vec::new();
    generate_banking_csv(&mut a, 500, 3).unwrap();
    generate_banking_csv(&mut b, 500, 3).unwrap();
    generate_banking_csv(&mut c, 500, 4).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let text = String::from_utf8(a).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap().split(',').collect::<Vec<_>>(),
        finbeh_data::BANKING_COLUMNS
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(first.len(), 40);
    assert!(first[8].ends_with("@kag.com"));
    assert!(first[11].split('/').count() == 3 && first[11].len() <= 10);
    assert_eq!(text.lines().count(), 501);
}

#[test]
fn duplicate_rows_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = csv_file(
        &dir,
        "d.csv",
        format!("{GOOD}1.5,a,1/2/2020,0\n1.5,a,1/2/2020,0\n").as_bytes(),
    );
    let data = load_dataset(&path, &params("y")).unwrap();
    assert_eq!(data.report.duplicate_rows, 2);
    let json = data.report.to_json().unwrap();
    assert!(json.contains("\"duplicate_rows\": 2"));
}

/// The default run: the synthetic `Anomaly` target (-1 = anomaly, about 6 %) scores the anomaly.
#[test]
fn the_synthetic_anomaly_target_scores_the_anomaly() {
    let dir = tempfile::tempdir().unwrap();
    let path = generated(&dir, 3000, 42);
    let params = DataParams::default()
        .with_target("Anomaly")
        .check()
        .unwrap();
    let data = load_dataset(&path, &params).unwrap();
    assert_eq!(data.classes, ["1", "-1"]);
    let target = data.report.target.as_ref().unwrap();
    assert_eq!(target.positive_class.as_deref(), Some("-1"));
    assert!(
        target
            .positive_reason
            .as_deref()
            .unwrap()
            .contains("minority"),
        "{target:?}"
    );
    let warnings: Vec<&str> = data
        .report
        .issues
        .iter()
        .map(|i| i.message.as_str())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|m| m.starts_with("imbalanced target: the minority class \"-1\"")),
        "{warnings:?}"
    );
    assert!(
        !warnings.iter().any(|m| m.contains("is the majority")),
        "{warnings:?}"
    );
}
