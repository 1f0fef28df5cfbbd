//! The monitor report over a large generated log: one self-contained page under 2 MB (no
//! script, no external resource), its JSON twin, and sections without data left out with their
//! reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod common;

use common::{data_params, log_rows};
use finbeh_data::generate_banking_csv;
use finbeh_monitor::{
    DriftParams, LogPeriod, MAX_REPORT_POINTS, MONITOR_REPORT_VERSION, MonitorReport, ReportInput,
    build_report, now_ms,
};
use finbeh_train::ModelArtifact;

const OLD_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../finbeh-train/tests/fixtures/model-v1.2.0.finbeh"
);

const V1: &str = include_str!("fixtures/monitor_report_v1.json");

/// A log of `rows` generated banking rows (seed `seed`) scored by the 1.2.0 fixture, logged
/// `repeat` times over with the `n`th record at `time_ms(n)`, then `refused` refused requests.
fn logged(
    dir: &Path,
    rows: u64,
    seed: u64,
    refused: usize,
    time_ms: &dyn Fn(usize) -> i64,
    repeat: usize,
) -> Vec<PathBuf> {
    let csv = dir.join("traffic.csv");
    generate_banking_csv(std::fs::File::create(&csv).unwrap(), rows, seed).unwrap();
    let artifact = ModelArtifact::read(OLD_MODEL).unwrap();
    let log = dir.join("log.sqlite");
    log_rows(&log, &artifact, &csv, refused, time_ms, repeat);
    vec![log]
}

#[test]
fn a_large_log_gives_one_self_contained_page_under_2_mb_and_its_json_twin() {
    let dir = tempfile::tempdir().unwrap();
    // 60,000 rows and 400 refused requests spread over three days: 4,320 minutes.
    let now = now_ms();
    let span = 3 * 86_400_000_i64;
    let logs = logged(
        dir.path(),
        2_000,
        3,
        400,
        &|n| now - span + span * n as i64 / 60_400,
        30,
    );
    let input = ReportInput {
        logs: &logs,
        period: LogPeriod::parse_since("4d", now).unwrap(),
        now_ms: now,
        model: Some(Path::new(OLD_MODEL)),
        model_search: None,
        reference: None,
    };
    let report = build_report(
        &input,
        &data_params(),
        &DriftParams::default().check().unwrap(),
    )
    .unwrap();
    assert_eq!(report.version, MONITOR_REPORT_VERSION);
    assert_eq!(report.summary.requests, 60_400);
    assert!(
        report.series.len() <= MAX_REPORT_POINTS,
        "{}",
        report.series.len()
    );
    assert!(
        report.series.len() >= MAX_REPORT_POINTS / 2,
        "{}",
        report.series.len()
    );
    let drift = report.drift.as_ref().expect("drift over the log");
    assert_eq!(drift.rows, 60_000);
    assert!(drift.reference.note.contains("fell back"));
    let left_out: Vec<&str> = report.left_out.iter().map(|l| l.section.as_str()).collect();
    for section in [
        "training scores in the score distribution",
        "labelled metrics against the label-free estimate",
        "alerts timeline",
    ] {
        assert!(left_out.contains(&section), "{left_out:?}");
    }

    let html_path = dir.path().join("out").join("report.html");
    let json_path = report.write(&html_path).unwrap();
    assert_eq!(json_path, html_path.with_extension("json"));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.len() < 2 * 1024 * 1024, "{} bytes", html.len());
    assert!(html.starts_with("<!DOCTYPE html>"));
    for forbidden in ["<script", " src=", " href=", "url(", "@import"] {
        assert!(!html.contains(forbidden), "the page holds {forbidden}");
    }
    // Six charts: latency, throughput, error rate, scores, drift, data quality.
    assert_eq!(html.matches("<svg").count(), 6);
    assert!(html.contains("Left out") && html.contains("alerts timeline"));
    let twin: MonitorReport =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(twin, report);
}

#[test]
fn a_report_without_a_reachable_model_leaves_drift_out_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let logs = logged(dir.path(), 200, 4, 0, &|_| now - 60_000, 1);
    let input = ReportInput {
        logs: &logs,
        period: LogPeriod::parse_since("1h", now).unwrap(),
        now_ms: now,
        model: None,
        model_search: Some(dir.path()),
        reference: None,
    };
    let report = build_report(
        &input,
        &data_params(),
        &DriftParams::default().check().unwrap(),
    )
    .unwrap();
    assert!(report.drift.is_none());
    let reason = &report
        .left_out
        .iter()
        .find(|l| l.section == "drift per feature")
        .expect("drift left out")
        .reason;
    assert!(reason.contains("no such artifact was found"), "{reason}");
    let html = report.html().unwrap();
    assert!(html.contains("drift per feature"));
}

#[test]
fn the_committed_version_1_json_twin_still_parses() {
    let report: MonitorReport = serde_json::from_str(V1).unwrap();
    assert_eq!(report.version, 1);
    assert!(!report.series.is_empty());
    assert!(report.drift.is_some());
    let _: PathBuf = report.logs[0].clone();
}
