//! CSV input that used to lose rows or mislead: stray quotes (strict and lenient), error excerpts
//! with personal data masked, numbers beyond `f32`, mostly-numeric columns, thousands separators.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::PathBuf;

use finbeh_data::{
    DataError, DataParams, RawValue, Severity, ValueKind, fit_pipeline, load_dataset, load_records,
};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// 5,000 data rows (lines 2..=5001) with e-mail addresses; line 4,001 opens a quote in `kind`
/// that never closes.
fn stray_quote_file() -> String {
    let mut text = String::from("amount,kind,email,y\n");
    for row in 0..5_000u32 {
        let line = row + 2;
        let kind = if line == 4_001 {
            "\"b"
        } else {
            ["a", "b"][(row % 2) as usize]
        };
        writeln!(
            text,
            "{}.5,{kind},user{row}@example.com,{}",
            row % 89,
            row % 2
        )
        .unwrap();
    }
    text
}

#[test]
fn lenient_mode_rejects_only_the_stray_quote_line_and_counts_truly() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "stray.csv", &stray_quote_file());
    let reject_path = dir.path().join("rejects.csv");
    let mut p = DataParams::default().with_target("y");
    p.lenient = true;
    p.reject_path = Some(reject_path.clone());
    let data = load_dataset(&path, &p.check().unwrap()).unwrap();

    assert_eq!(data.report.lines_read, 5_001);
    assert_eq!(data.report.rows_read, 5_000);
    assert_eq!(data.report.rows_rejected, 1);
    assert_eq!(data.report.rows_loaded, 4_999);
    assert_eq!(data.table.n_rows(), 4_999);
    assert!(
        data.report
            .to_string()
            .contains("lines: 5001, rows read: 5000, loaded: 4999, rejected: 1")
    );

    let rejects = std::fs::read_to_string(&reject_path).unwrap();
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines.len(), 2, "{rejects:.2000}");
    assert_eq!(lines[0], "line,reason,amount,kind,email,y");
    assert!(lines[1].starts_with("4001,"), "{}", lines[1]);
    assert!(lines[1].contains("unterminated quote"), "{}", lines[1]);
    assert!(
        lines[1].contains("data.max_quoted_field_lines = 100"),
        "{}",
        lines[1]
    );
    // The rejected line's own fields, the open field running to the end of that line.
    assert!(
        lines[1].ends_with(",83.5,\"b,user3999@example.com,1\""),
        "{}",
        lines[1]
    );
}

#[test]
fn strict_mode_names_the_stray_quote_line_in_a_short_masked_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "stray.csv", &stray_quote_file());
    let params = DataParams::default().with_target("y").check().unwrap();
    let err = load_dataset(&path, &params).unwrap_err();
    let DataError::Located {
        row,
        ref column,
        ref value,
        ref problem,
        ..
    } = err
    else {
        panic!("expected a located error, got {err}");
    };
    assert_eq!((row, column.as_str()), (4_001, "kind"));
    assert!(problem.contains("unterminated quote"), "{problem}");
    // The open field runs over the e-mail column: it is masked with it.
    assert_eq!(value, "83.5,***");
    let message = err.to_string();
    assert!(message.len() < 400 && !message.contains('\n'), "{message}");
}

#[test]
fn error_excerpts_are_short_and_mask_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let long = "z".repeat(5_000);
    let text = format!(
        "amount,email,y\n1.5,a@example.com,0\n2.5,b@example.com,1\n{long},c@example.com,0\n3.5,ann@example.com,1,extra\n"
    );
    let path = write(&dir, "bad.csv", &text);
    let mut p = DataParams::default().with_target("y");
    p.numeric = vec!["amount".into()];
    let params = p.check().unwrap();
    let err = load_dataset(&path, &params).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("line 4, column `amount`"), "{message}");
    assert!(
        message.len() < 300,
        "{} bytes: {message:.300}",
        message.len()
    );
    assert!(message.contains("(5000 bytes)"), "{message}");

    // A ragged row quotes the record with the e-mail column masked.
    let text =
        "amount,email,y\n1.5,a@example.com,0\n2.5,b@example.com,1\n3.5,ann@example.com,1,extra\n";
    let path = write(&dir, "ragged.csv", text);
    let err = load_dataset(&path, &params).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("line 4, column `*`"), "{message}");
    assert!(message.contains("\"3.5,***,1,extra\""), "{message}");
    assert!(!message.contains("ann@"), "{message}");
}

fn numbers_file(big: &str) -> String {
    let mut text = String::from("amount,kind,y\n");
    for row in 0..40u32 {
        let amount = if row == 30 {
            big.to_string()
        } else {
            format!("{}.25", row * 3)
        };
        writeln!(
            text,
            "{amount},{},{}",
            ["a", "b"][(row % 2) as usize],
            row % 2
        )
        .unwrap();
    }
    text
}

#[test]
fn a_number_beyond_f32_is_a_located_error_in_validation_training_and_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let params = DataParams::default().with_target("y").check().unwrap();
    for big in ["1e39", "-1e308"] {
        // Validation and training both load the file with `load_dataset`.
        let path = write(&dir, "big.csv", &numbers_file(big));
        let err = load_dataset(&path, &params).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("big.csv, line 32, column `amount`")
                && message.contains("32-bit float"),
            "{message}"
        );

        // Prediction reads records with the fitted pipeline.
        let good = write(&dir, "good.csv", &numbers_file("7.5"));
        let data = load_dataset(&good, &params).unwrap();
        let rows = data.all_rows();
        let pipeline = fit_pipeline(&data.table, &data.schema, &rows, &params).unwrap();
        let err = load_records(&path, &pipeline, None, &params).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("big.csv, line 32, column `amount`")
                && message.contains("32-bit float"),
            "{message}"
        );

        // One record (the server's path) names the column.
        let record = vec![
            RawValue::Text(Cow::Borrowed(big)),
            RawValue::Text(Cow::Borrowed("a")),
        ];
        let mut out = vec![0.0f32; pipeline.n_features()];
        let err = pipeline.transform_row(&record, &mut out).unwrap_err();
        assert!(
            err.to_string().contains("column `amount`") && err.to_string().contains("32-bit"),
            "{err}"
        );
    }
}

/// 200 rows; `score` separates the classes, but every 7th value is written `1,234.5` or `inf`.
fn mostly_numeric_file(with_inf: bool) -> String {
    let mut text = String::from("score,kind,y\n");
    for row in 0..200u32 {
        let y = row % 2;
        let score = if row % 7 == 3 {
            if with_inf && row % 2 == 1 {
                "inf".to_string()
            } else {
                format!("\"{},{:03}.5\"", 1 + y, row)
            }
        } else {
            format!("{}.5", 10 * y + row % 5)
        };
        writeln!(text, "{score},{},{y}", ["a", "b", "c"][(row % 3) as usize]).unwrap();
    }
    text
}

#[test]
fn a_mostly_numeric_column_is_explained_with_counts_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "mostly.csv", &mostly_numeric_file(true));
    let params = DataParams::default().with_target("y").check().unwrap();
    let data = load_dataset(&path, &params).unwrap();
    let column = data
        .report
        .columns
        .iter()
        .find(|c| c.name == "score")
        .unwrap();
    assert_ne!(column.kind, ValueKind::Numeric);
    assert!(
        column
            .reason
            .contains("mostly numeric: 171 of 200 sample values are numbers, 29 are not"),
        "{}",
        column.reason
    );
    let warning = data
        .report
        .issues_of(Severity::Warning)
        .find(|i| i.column.as_deref() == Some("score"))
        .expect("a warning for the mostly-numeric column");
    assert!(
        warning.message.contains("\"1,010.5\" (line 12)")
            && warning.message.contains("\"inf\" (line 5)")
            && warning.message.contains("data.thousands_separator"),
        "{}",
        warning.message
    );
}

#[test]
fn a_thousands_separator_makes_grouped_numbers_numeric() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "grouped.csv", &mostly_numeric_file(false));
    let mut p = DataParams::default().with_target("y");
    p.thousands_separator = Some(',');
    let data = load_dataset(&path, &p.check().unwrap()).unwrap();
    let column = data.schema.column("score").unwrap();
    assert_eq!(column.kind, ValueKind::Numeric, "{}", column.reason);
    assert!(
        !data
            .report
            .issues
            .iter()
            .any(|i| i.column.as_deref() == Some("score") && i.severity == Severity::Warning)
    );
    let Some(finbeh_data::Column::Numeric(values)) = data.table.column_by_name("score") else {
        panic!("score is not stored as numbers");
    };
    assert_eq!(values[3], 2_003.5);

    let mut clash = DataParams::default().with_target("y");
    clash.thousands_separator = Some('.');
    let err = clash.check().unwrap_err();
    assert!(
        err.to_string().contains("data.thousands_separator"),
        "{err}"
    );
}
