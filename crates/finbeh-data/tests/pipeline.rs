//! The fitted pipeline: one-by-one = batch, unseen categories, raw value rules, serde, profile.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

use finbeh_data::{
    ColumnKind, ColumnProfile, DataError, DataParams, DatasetProfile, DateDifference,
    FeatureOrigin, FittedPipeline, LoadedDataset, RawValue, fit_pipeline, generate_banking_csv,
    load_dataset, stratified_split,
};
use proptest::prelude::*;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

/// Every row: transform_row(raw_record(row)) must equal the batch row bit for bit.
fn assert_row_equals_batch(p: &FittedPipeline, data: &LoadedDataset, rows: &[usize]) {
    let batch = p.transform_table(&data.table, Some(rows)).unwrap();
    let mut out = vec![f32::NAN; p.n_features()];
    for (i, &r) in rows.iter().enumerate() {
        let record = p.raw_record(&data.table, r).unwrap();
        p.transform_row(&record, &mut out).unwrap();
        let expected: Vec<u32> = batch.row(i).iter().map(|x| x.to_bits()).collect();
        let got: Vec<u32> = out.iter().map(|x| x.to_bits()).collect();
        assert_eq!(got, expected, "row {r}: {record:?}");
    }
    assert!(batch.iter().all(|x| x.is_finite()));
}

#[test]
fn one_by_one_equals_batch_on_generated_data_with_missing_values_and_a_date_difference() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = Vec::new();
    generate_banking_csv(&mut raw, 3000, 21).unwrap();
    // Blank out some cells (numeric, categorical, date) to exercise imputation.
    let text = String::from_utf8(raw).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields: Vec<&str> = line.split(',').collect();
        if i > 0 {
            for (col, every) in [(3usize, 7usize), (6, 11), (14, 13), (10, 17), (11, 5)] {
                if i % every == 0 {
                    fields[col] = "";
                }
            }
        }
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    let path = write(&dir, "bank.csv", &out);
    let mut params = DataParams::default().with_target("Anomaly");
    params.date_differences = vec![DateDifference {
        name: "account_age_days".into(),
        start: "Date_Of_Account_Opening".into(),
        end: "Transaction_Date".into(),
    }];
    let params = params.check().unwrap();
    let data = load_dataset(&path, &params).unwrap();
    assert!(!data.report.has_errors(), "{}", data.report);
    let (train, test) = stratified_split(&data.y, 0.3, 1);
    let p = fit_pipeline(&data.table, &data.schema, &train, &params).unwrap();
    assert!(p.feature_names().iter().any(|n| n == "Age__missing"));
    assert!(p.feature_names().iter().any(|n| n == "account_age_days"));
    assert!(p.feature_names().iter().any(|n| n == "City=Boston"));
    assert_row_equals_batch(&p, &data, &test);
    assert_row_equals_batch(&p, &data, &train[..500]);
    let all = p.transform_table(&data.table, None).unwrap();
    assert_eq!(all.dim(), (3000, p.n_features()));
    assert_feature_origins(&p);
}

/// Every feature names the raw column(s) it comes from: by its name's prefix, and a date
/// difference by its two dates.
fn assert_feature_origins(p: &FittedPipeline) {
    let origins = p.feature_origins();
    assert_eq!(origins.len(), p.n_features());
    let column = |i: usize| p.input_columns()[i].name.as_str();
    for (name, origin) in p.feature_names().iter().zip(&origins) {
        match *origin {
            FeatureOrigin::Column(c) => {
                let rest = name
                    .strip_prefix(column(c))
                    .unwrap_or_else(|| panic!("feature `{name}` attributed to `{}`", column(c)));
                assert!(
                    rest.is_empty() || rest.starts_with('=') || rest.starts_with("__"),
                    "feature `{name}` attributed to `{}`",
                    column(c)
                );
            }
            FeatureOrigin::DateDifference { start, end } => {
                assert!(name.starts_with("account_age_days"), "{name}");
                assert_eq!(
                    (column(start), column(end)),
                    ("Date_Of_Account_Opening", "Transaction_Date")
                );
            }
        }
    }
    assert!(
        origins
            .iter()
            .any(|o| matches!(o, FeatureOrigin::DateDifference { .. }))
    );
}

#[derive(Debug, Clone)]
struct Cell {
    num: Option<i32>,
    cat: Option<u8>,
    day: Option<u16>,
    flag: Option<bool>,
}

fn cell() -> impl Strategy<Value = Cell> {
    (
        proptest::option::weighted(0.8, -1000i32..1000),
        proptest::option::weighted(0.8, 0u8..12),
        proptest::option::weighted(0.8, 0u16..3000),
        proptest::option::weighted(0.8, any::<bool>()),
    )
        .prop_map(|(num, cat, day, flag)| Cell {
            num,
            cat,
            day,
            flag,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random tables (missing everywhere, categories only seen in the second half, dates):
    /// the pipeline is fitted on the first half and applied to all rows both ways.
    #[test]
    fn random_tables_one_by_one_equals_batch(cells in proptest::collection::vec(cell(), 8..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("num,cat,day,flag,y\n");
        let half = cells.len() / 2;
        for (i, c) in cells.iter().enumerate() {
            let num = c.num.map(|n| format!("{}", f64::from(n) / 8.0)).unwrap_or_default();
            // Categories 8..12 appear only after the training half: unseen at transform time.
            let cat = c.cat.map(|k| if i < half { k % 8 } else { k }).map(|k| format!("c{k}")).unwrap_or_default();
            let day = c.day.map(|d| {
                let (y, m, dd) = finbeh_data::civil_from_days(18_000 + i32::from(d));
                format!("{m}/{dd}/{y}")
            }).unwrap_or_default();
            let flag = c.flag.map(|f| if f { "yes" } else { "no" }).unwrap_or("");
            text.push_str(&format!("{num},{cat},{day},{flag},{}\n", i % 2));
        }
        let path = write(&dir, "r.csv", &text);
        let mut p = DataParams::default().with_target("y");
        p.numeric = vec!["num".into()];
        p.categorical = vec!["cat".into()];
        p.date = vec!["day".into()];
        p.boolean = vec!["flag".into()];
        let params = p.check().unwrap();
        let data = load_dataset(&path, &params).unwrap();
        let train: Vec<usize> = (0..half).collect();
        let pipeline = fit_pipeline(&data.table, &data.schema, &train, &params).unwrap();
        let all: Vec<usize> = (0..cells.len()).collect();
        assert_row_equals_batch(&pipeline, &data, &all);
    }
}

fn small() -> (tempfile::TempDir, LoadedDataset, FittedPipeline) {
    let dir = tempfile::tempdir().unwrap();
    let text = "amount,grade,opened,member,y\n10,2,2023-01-02,yes,0\n20,3,2023-02-03,no,1\n,2,,,0\n40,A,2023-04-05,yes,1\n";
    let path = write(&dir, "s.csv", text);
    let mut p = DataParams::default().with_target("y");
    p.categorical = vec!["grade".into()];
    let params = p.check().unwrap();
    let data = load_dataset(&path, &params).unwrap();
    let pipeline = fit_pipeline(&data.table, &data.schema, &[0, 1, 2], &params).unwrap();
    (dir, data, pipeline)
}

#[test]
fn layout_imputation_and_unseen_categories() {
    let (_dir, _data, p) = small();
    let names: Vec<&str> = p.feature_names().iter().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "amount",
            "amount__missing",
            "grade=2",
            "grade=3",
            "opened__days_before_reference",
            "opened__weekday",
            "opened__month",
            "opened__missing",
            "member",
            "member__missing"
        ]
    );
    let kinds: Vec<ColumnKind> = p.input_columns().iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ColumnKind::Numeric,
            ColumnKind::Categorical,
            ColumnKind::Date,
            ColumnKind::Boolean
        ]
    );
    let mut out = vec![0.0; p.n_features()];
    // JSON number 2 matches category "2"; numbers as text; ISO date; bool.
    let rec = [
        RawValue::Text("15".into()),
        RawValue::Number(2.0),
        RawValue::Text("2023-02-03".into()),
        RawValue::Bool(true),
    ];
    p.transform_row(&rec, &mut out).unwrap();
    // Reference = latest training date 2023-02-03 (Friday, weekday 4).
    assert_eq!(out, [15.0, 0.0, 1.0, 0.0, 0.0, 4.0, 2.0, 0.0, 1.0, 0.0]);
    // Missing everywhere: medians/modes plus indicators; "A" was never seen in training: all zeros.
    let rec = [
        RawValue::Missing,
        RawValue::Text("A".into()),
        RawValue::Missing,
        RawValue::Missing,
    ];
    p.transform_row(&rec, &mut out).unwrap();
    assert_eq!(&out[..4], &[15.0, 1.0, 0.0, 0.0]);
    assert_eq!(out[7], 1.0);
    assert_eq!(out[9], 1.0);
    let rec = [
        RawValue::Number(1.0),
        RawValue::Missing,
        RawValue::Missing,
        RawValue::Missing,
    ];
    p.transform_row(&rec, &mut out).unwrap();
    assert_eq!(
        &out[2..4],
        &[1.0, 0.0],
        "missing category takes the most frequent (\"2\")"
    );
}

#[test]
fn bad_raw_values_name_the_column_and_value() {
    let (_dir, _data, p) = small();
    let mut out = vec![0.0; p.n_features()];
    let err =
        |rec: &[RawValue<'_>], out: &mut [f32]| p.transform_row(rec, out).unwrap_err().to_string();
    let ok = [
        RawValue::Number(1.0),
        RawValue::Missing,
        RawValue::Missing,
        RawValue::Missing,
    ];
    let e = err(
        &[
            RawValue::Text("1,234".into()),
            RawValue::Missing,
            RawValue::Missing,
            RawValue::Missing,
        ],
        &mut out,
    );
    assert!(e.contains("`amount`") && e.contains("1,234"), "{e}");
    let e = err(
        &[
            RawValue::Number(1.0),
            RawValue::Missing,
            RawValue::Text("03/02/2023x".into()),
            RawValue::Missing,
        ],
        &mut out,
    );
    assert!(e.contains("`opened`") && e.contains("03/02/2023x"), "{e}");
    let e = err(
        &[
            RawValue::Number(1.0),
            RawValue::Missing,
            RawValue::Number(5.0),
            RawValue::Missing,
        ],
        &mut out,
    );
    assert!(e.contains("`opened`"), "{e}");
    let e = err(
        &[
            RawValue::Number(1.0),
            RawValue::Missing,
            RawValue::Missing,
            RawValue::Text("maybe".into()),
        ],
        &mut out,
    );
    assert!(e.contains("`member`") && e.contains("maybe"), "{e}");
    let e = err(&ok[..3], &mut out);
    assert!(e.contains("expected 4 values, got 3"), "{e}");
    let e = err(&ok, &mut out[..3]);
    assert!(e.contains("output row"), "{e}");
    assert!(matches!(
        p.transform_row(
            &[
                RawValue::Number(f64::INFINITY),
                RawValue::Missing,
                RawValue::Missing,
                RawValue::Missing
            ],
            &mut out
        ),
        Err(DataError::BadValue { .. })
    ));
}

#[test]
fn statistics_come_from_training_rows_only() {
    let (_dir, data, p) = small();
    let other_params = DataParams(finbeh_config::DataSettings {
        categorical: vec!["grade".into()],
        ..DataParams::default().0
    })
    .with_target("y")
    .check()
    .unwrap();
    let p_all = fit_pipeline(&data.table, &data.schema, &[0, 1, 2, 3], &other_params).unwrap();
    // Row 3 carries category "A" and amount 40: only the all-rows fit knows them.
    assert!(p_all.feature_names().iter().any(|n| n == "grade=A"));
    assert!(!p.feature_names().iter().any(|n| n == "grade=A"));
    let mut out = vec![0.0; p.n_features()];
    p.transform_row(
        &[
            RawValue::Missing,
            RawValue::Missing,
            RawValue::Missing,
            RawValue::Missing,
        ],
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0], 15.0, "median of 10 and 20");
    assert!(matches!(
        fit_pipeline(&data.table, &data.schema, &[], &other_params),
        Err(DataError::NoRows { .. })
    ));
    assert!(matches!(
        fit_pipeline(&data.table, &data.schema, &[9], &other_params),
        Err(DataError::RowOutOfRange { .. })
    ));
}

#[test]
fn serde_round_trip_and_version_check() {
    let (_dir, data, p) = small();
    let json = serde_json::to_string(&p).unwrap();
    let back: FittedPipeline = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    assert_eq!(
        back.transform_table(&data.table, None).unwrap(),
        p.transform_table(&data.table, None).unwrap()
    );
    let future = json.replace("\"format_version\":1", "\"format_version\":99");
    let err = serde_json::from_str::<FittedPipeline>(&future)
        .unwrap_err()
        .to_string();
    assert!(err.contains("format_version 99"), "{err}");
    let broken = json.replace("\"amount__missing\",", "");
    assert!(serde_json::from_str::<FittedPipeline>(&broken).is_err());
}

#[test]
fn raw_record_borrows_text_and_formats_dates() {
    let (_dir, data, p) = small();
    let rec = p.raw_record(&data.table, 0).unwrap();
    assert_eq!(
        rec,
        [
            RawValue::Number(10.0),
            RawValue::Text(Cow::Borrowed("2")),
            RawValue::Text("2023-01-02".into()),
            RawValue::Bool(true)
        ]
    );
    assert!(matches!(
        p.raw_record(&data.table, 99),
        Err(DataError::RowOutOfRange { .. })
    ));
}

#[test]
fn profile_bins_and_frequencies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.csv");
    generate_banking_csv(std::fs::File::create(&path).unwrap(), 4000, 2).unwrap();
    let params = DataParams::default()
        .with_target("Anomaly")
        .check()
        .unwrap();
    let data = load_dataset(&path, &params).unwrap();
    let rows = data.all_rows();
    let p = fit_pipeline(&data.table, &data.schema, &rows, &params).unwrap();
    let profile = DatasetProfile::compute(&data.table, &p, &rows).unwrap();
    assert_eq!(profile.columns.len(), p.input_columns().len());
    for c in &profile.columns {
        match c {
            ColumnProfile::Numeric {
                edges,
                fractions,
                missing_rate,
                ..
            } => {
                assert_eq!(fractions.len() + 1, edges.len());
                assert!((fractions.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                assert!(edges.windows(2).all(|w| w[0] < w[1]));
                assert_eq!(*missing_rate, 0.0);
            }
            ColumnProfile::Categorical {
                name, top, other, ..
            } => {
                assert!(
                    (top.iter().map(|t| t.1).sum::<f64>() + other - 1.0).abs() < 1e-9,
                    "{name}"
                );
            }
            ColumnProfile::Boolean { .. } => {}
        }
    }
    let amount = profile.columns.iter().find_map(|c| match c {
        ColumnProfile::Numeric {
            name, fractions, ..
        } if name == "Transaction_Amount" => Some(fractions.clone()),
        _ => None,
    });
    assert_eq!(amount.unwrap().len(), 10);
    let json = serde_json::to_string(&profile).unwrap();
    assert_eq!(
        serde_json::from_str::<DatasetProfile>(&json).unwrap(),
        profile
    );
}
