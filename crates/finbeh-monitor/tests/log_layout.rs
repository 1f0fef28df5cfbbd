//! Layout 4 of the prediction log (typed input blocks next to `predictions`): a committed
//! layout-3 log migrates and reads identically, blocks written by the writer read as the rows'
//! JSON does (also after retention), exports are unchanged, and read-only readers leave an old
//! layout untouched.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{T0, age_model};
use finbeh_config::MonitorSettings;
use finbeh_data::{ColumnKind, InputColumn, RawValue};
use finbeh_monitor::{
    ExportFormat, ExportRequest, LabelQuery, LogIdentity, LogPeriod, LoggedInputs,
    PREDICTION_LOG_SCHEMA_VERSION, PredictionLog, PredictionLogParams, export_log,
    labelled_metrics, read_logged_inputs,
};
use finbeh_serve::{ModelInfo, PredictionRecord, PredictionSink};

const LAYOUT_3_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/prediction-log-v3.sqlite"
);

fn copy_layout_3(dir: &Path) -> PathBuf {
    let db = dir.join("v3.sqlite");
    std::fs::copy(LAYOUT_3_FIXTURE, &db).unwrap();
    db
}

fn all_time() -> LogPeriod {
    LogPeriod {
        since_ms: 0,
        until_ms: i64::MAX,
    }
}

/// The fake model's columns, and one it never logs (read as nulls).
fn asked_columns() -> Vec<InputColumn> {
    let mut columns = age_model().input_columns;
    columns.push(InputColumn {
        name: "Joined".into(),
        kind: ColumnKind::Date,
    });
    columns.push(InputColumn {
        name: "Member".into(),
        kind: ColumnKind::Boolean,
    });
    columns
}

fn text(t: &str) -> RawValue<'static> {
    RawValue::Text(t.to_owned().into())
}

/// A second model: other column order, a date and a boolean column, no `City`.
fn wide_model() -> Arc<ModelInfo> {
    let mut info = age_model();
    info.name = "wide".into();
    info.input_columns = vec![
        InputColumn {
            name: "Member".into(),
            kind: ColumnKind::Boolean,
        },
        InputColumn {
            name: "Joined".into(),
            kind: ColumnKind::Date,
        },
        InputColumn {
            name: "Age".into(),
            kind: ColumnKind::Numeric,
        },
    ];
    Arc::new(info)
}

fn scored(
    unix_ms: i64,
    model: &Arc<ModelInfo>,
    inputs: Vec<RawValue<'static>>,
    positives: &[f64],
) -> PredictionRecord {
    PredictionRecord {
        unix_ms,
        request_id: format!("req-{unix_ms}"),
        route: "/score",
        model: Arc::clone(model),
        latency_ms: 1.5,
        status: 200,
        error_code: None,
        inputs,
        predicted: positives.iter().map(|&p| usize::from(p >= 0.5)).collect(),
        probabilities: positives.iter().flat_map(|&p| [1.0 - p, p]).collect(),
    }
}

/// Records with every kind of cell: whole and fractional numbers, -0, tiny, NaN (a null),
/// missing, text with quotes and non-ASCII, numbers as text, booleans in a numeric column,
/// dates, refused and failed requests, and two models.
fn varied_records() -> Vec<PredictionRecord> {
    let age = Arc::new(age_model());
    let wide = wide_model();
    let mut records = Vec::new();
    for i in 0..40_i64 {
        let t = T0 + i * 1_000;
        records.push(scored(
            t,
            &age,
            vec![
                RawValue::Number(i as f64),
                text(["Oslo", "Z\"ü\\rich", "Bergen"][(i % 3) as usize]),
                RawValue::Number(0.1 * i as f64),
                RawValue::Missing,
                RawValue::Number(-0.0),
                text("Oslo"),
                RawValue::Number(1e-7),
                RawValue::Number(f64::NAN),
                text("12.5"),
                RawValue::Bool(true),
                RawValue::Bool(false),
                RawValue::Number(42.0),
            ],
            &[0.25, 0.75, 0.5, 0.1, 0.9, 0.3],
        ));
        records.push(scored(
            t + 1,
            &wide,
            vec![
                RawValue::Bool(i % 2 == 0),
                text("2024-01-31"),
                RawValue::Number(30.0 + i as f64),
                text("yes"),
                text("31/01/2024"),
                RawValue::Missing,
            ],
            &[0.6, 0.4],
        ));
        records.push(PredictionRecord {
            unix_ms: t + 2,
            ..PredictionRecord::refused(Arc::clone(&age), format!("bad-{i}"), 400, "invalid_input")
        });
        if i % 10 == 0 {
            records.push(PredictionRecord {
                unix_ms: t + 3,
                ..PredictionRecord::refused(Arc::clone(&age), format!("oops-{i}"), 503, "not_ready")
            });
        }
    }
    records
}

fn log_params(path: &Path, edit: impl FnOnce(&mut MonitorSettings)) -> PredictionLogParams {
    let mut settings = MonitorSettings {
        enabled: true,
        database_path: path.to_path_buf(),
        retention_days: 36_500,
        ..MonitorSettings::default()
    };
    edit(&mut settings);
    PredictionLogParams(settings)
}

fn identity() -> LogIdentity {
    LogIdentity {
        endpoint: "churn".into(),
        deployment: "blue".into(),
    }
}

/// Writes `records` through the writer, one batch per record so that blocks grow by batches.
fn write(path: &Path, records: Vec<PredictionRecord>, edit: impl FnOnce(&mut MonitorSettings)) {
    let log = PredictionLog::open(&log_params(path, edit).check().unwrap(), identity()).unwrap();
    for record in records {
        log.record(record);
    }
    assert_eq!(log.close().unwrap().failed, 0);
}

fn query(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

/// Equal, NaN included (its nulls), -0 told from 0.
fn same(a: &LoggedInputs, b: &LoggedInputs) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Reads `db` once from its blocks and once with the blocks removed (from the rows' JSON).
fn read_both_ways(db: &Path, dir: &Path) -> (LoggedInputs, LoggedInputs) {
    let logged = query(db, "SELECT count(*) FROM predictions");
    assert_eq!(
        query(db, "SELECT coalesce(sum(rows), 0) FROM input_blocks"),
        logged,
        "the blocks hold every logged row"
    );
    let from_blocks = read_logged_inputs(db, all_time(), &asked_columns()).unwrap();
    let json_only = dir.join("json-only.sqlite");
    std::fs::copy(db, &json_only).unwrap();
    rusqlite::Connection::open(&json_only)
        .unwrap()
        .execute("DELETE FROM input_blocks", [])
        .unwrap();
    let from_json = read_logged_inputs(&json_only, all_time(), &asked_columns()).unwrap();
    (from_blocks, from_json)
}

#[test]
fn blocks_written_by_the_writer_read_as_the_logged_json_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    write(&db, varied_records(), |_| {});
    let (blocks, json) = read_both_ways(&db, dir.path());
    assert_eq!(blocks.rows, 40 * 8);
    assert_eq!(blocks.refused_requests, 40);
    assert!(same(&blocks, &json));
    // A period in the middle reads the same both ways too.
    let period = LogPeriod {
        since_ms: T0 + 10_001,
        until_ms: T0 + 20_001,
    };
    let middle = read_logged_inputs(&db, period, &asked_columns()).unwrap();
    assert_eq!(middle.rows, 2 + 9 * 8 + 6);
    let json_db = dir.path().join("json-only.sqlite");
    assert!(same(
        &middle,
        &read_logged_inputs(&json_db, period, &asked_columns()).unwrap()
    ));
}

#[test]
fn blocks_still_match_the_rows_after_retention_deletes_some() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    write(&db, varied_records(), |_| {});
    // Reopening applies retention: keep the newest 101 rows (a cut inside a block).
    write(&db, Vec::new(), |s| s.retention_max_rows = 101);
    assert_eq!(query(&db, "SELECT count(*) FROM predictions"), 101);
    let (blocks, json) = read_both_ways(&db, dir.path());
    assert!(same(&blocks, &json));
    assert!(blocks.rows > 0);
}

#[test]
fn a_layout_3_log_migrates_to_blocks_and_reads_identically() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_layout_3(dir.path());
    assert_eq!(
        query(
            &db,
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'"
        ),
        3
    );
    let before = read_logged_inputs(&db, all_time(), &asked_columns()).unwrap();
    assert!(before.rows > 0 && before.refused_requests > 0);
    // The writer migrates it (and takes no new rows here).
    write(&db, Vec::new(), |_| {});
    assert_eq!(
        query(
            &db,
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'"
        ),
        i64::from(PREDICTION_LOG_SCHEMA_VERSION)
    );
    let (blocks, json) = read_both_ways(&db, dir.path());
    assert!(same(&blocks, &before));
    assert!(same(&json, &before));
}

fn export(db: &Path, out: &Path, format: ExportFormat) -> Vec<(String, Vec<u8>)> {
    export_log(&ExportRequest {
        databases: vec![db.to_path_buf()],
        since_ms: 0,
        until_ms: i64::MAX,
        format,
        out_dir: out.to_path_buf(),
        azure_source_prefix: String::new(),
    })
    .unwrap();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(out)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// The committed exports were written from the layout-3 fixture by the build before layout 4.
#[test]
fn exports_of_the_layout_3_log_are_byte_identical_after_migration() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_layout_3(dir.path());
    for (format, name) in [(ExportFormat::Jsonl, "jsonl"), (ExportFormat::Csv, "csv")] {
        let files = export(&db, &dir.path().join(name), format);
        assert_eq!(files.len(), 1);
        let expected = std::fs::read(format!(
            "{}/tests/fixtures/prediction-log-v3.export.{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert!(files[0].1 == expected, "{name} export changed");
    }
}

#[test]
fn read_only_readers_leave_a_layout_3_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_layout_3(dir.path());
    let original = std::fs::read(&db).unwrap();
    let labelled = labelled_metrics(
        &db,
        &LabelQuery {
            since_ms: T0,
            until_ms: T0 + 3_600_000,
            step_ms: 600_000,
        },
    )
    .unwrap();
    assert!(labelled.overall.labelled > 0);
    read_logged_inputs(&db, all_time(), &asked_columns()).unwrap();
    assert!(
        std::fs::read(&db).unwrap() == original,
        "a reader changed the file"
    );
    assert_eq!(
        query(
            &db,
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'"
        ),
        3
    );
}
