//! The monitor report over a large generated log: one self-contained page under 2 MB (no
//! script, no external resource), its JSON twin, and sections without data left out with their
//! reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod common;

use std::sync::Arc;

use common::{artifact_model, data_params, log_rows, owned_values, reference_and_model, write_log};
use finbeh_config::{
    AlertComparison, AlertMetric, AlertRule, AlertSettings, AlertSeverity, AlertWindow,
};
use finbeh_data::{generate_banking_csv, load_records};
use finbeh_monitor::{
    AlertParams, AlertValidParams, AttributionParams, DriftParams, EstimateParams,
    EstimateValidParams, LogPeriod, MAX_REPORT_POINTS, MINUTE_MS, MONITOR_REPORT_VERSION,
    MonitorReport, PerformanceMetric, ReportInput, build_report, import_labels, minute_of, now_ms,
};
use finbeh_serve::PredictionRecord;
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
    let estimate = EstimateParams::default().check().unwrap();
    let alerts = AlertParams::default().check().unwrap();
    let attribution = AttributionParams::default().check().unwrap();
    let input = ReportInput {
        logs: &logs,
        period: LogPeriod::parse_since("4d", now).unwrap(),
        now_ms: now,
        model: Some(Path::new(OLD_MODEL)),
        model_search: None,
        reference: None,
        estimate: Some(&estimate),
        alerts: Some(&alerts),
        attribution: Some(&attribution),
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
    ] {
        assert!(left_out.contains(&section), "{left_out:?}");
    }
    // The 1.2.0 artifact has no calibration: the estimate is left out and says why.
    assert!(report.performance.is_none());
    let why = &report
        .left_out
        .iter()
        .find(|l| l.section == "labelled metrics against the label-free estimate")
        .unwrap()
        .reason;
    assert!(why.contains("1.3.0"), "{why}");
    // Nor node cover: global importance is left out with a sentence that says why.
    assert!(report.attribution.is_none());
    let why = &report
        .left_out
        .iter()
        .find(|l| l.section == "global importance and feature-attribution drift")
        .unwrap()
        .reason;
    assert!(
        why.contains("format 1.2.0") && why.contains("no node cover") && why.contains("1.3.0"),
        "{why}"
    );
    // The default rules replayed over the period: one timeline row per rule.
    let timeline = report.alerts.as_ref().expect("alerts timeline");
    assert_eq!(timeline.rules.len(), alerts.rules().len());

    let html_path = dir.path().join("out").join("report.html");
    let json_path = report.write(&html_path).unwrap();
    assert_eq!(json_path, html_path.with_extension("json"));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.len() < 2 * 1024 * 1024, "{} bytes", html.len());
    assert!(html.starts_with("<!DOCTYPE html>"));
    for forbidden in ["<script", " src=", " href=", "url(", "@import"] {
        assert!(!html.contains(forbidden), "the page holds {forbidden}");
    }
    // Seven charts: latency, throughput, error rate, scores, drift, data quality, alerts.
    assert_eq!(html.matches("<svg").count(), 7);
    assert!(html.contains("Left out") && html.contains("Alerts timeline"));
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
        estimate: None,
        alerts: None,
        attribution: None,
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

/// One hour of traffic from a model trained on generated rows (one row a request, every 12 s,
/// request ids `q<n>`), latency 200 ms during minutes 20 to 34 and 1 ms otherwise; the first
/// 30 minutes labelled, each minute's first row with the class the model did not predict.
/// Returns the log, the artifact and the first minute.
fn labelled_hour(dir: &Path) -> (PathBuf, PathBuf, i64) {
    let (_, model) = reference_and_model(dir, 600);
    let artifact = ModelArtifact::read(&model).unwrap();
    let csv = dir.join("traffic.csv");
    generate_banking_csv(std::fs::File::create(&csv).unwrap(), 300, 5).unwrap();
    let (table, _) = load_records(&csv, artifact.pipeline(), None, &data_params()).unwrap();
    let info = artifact_model(&artifact);
    let start = minute_of(now_ms()) - 61 * MINUTE_MS;
    let mut features = vec![0f32; artifact.n_features()];
    let mut proba = vec![0f64; artifact.classes().len()];
    let mut records = Vec::new();
    let mut labels = String::from("request_id,row,label\n");
    for n in 0..table.n_rows() {
        let raw = artifact.pipeline().raw_record(&table, n).unwrap();
        artifact
            .score_record(&raw, &mut features, &mut proba)
            .unwrap();
        let predicted = artifact.predict_class(&proba);
        let minute = n / 5;
        records.push(PredictionRecord {
            unix_ms: start + n as i64 * 12_000,
            request_id: format!("q{n}"),
            route: "/score",
            model: Arc::clone(&info),
            latency_ms: if (20..35).contains(&minute) {
                200.0
            } else {
                1.0
            },
            status: 200,
            error_code: None,
            inputs: owned_values(&raw),
            predicted: vec![predicted],
            probabilities: proba.clone(),
        });
        if minute < 30 {
            let class = if n % 5 == 0 { 1 - predicted } else { predicted };
            labels.push_str(&format!("q{n},0,{}\n", artifact.classes()[class]));
        }
    }
    let log = dir.join("labelled.sqlite");
    write_log(&log, records);
    let file = dir.join("labels.csv");
    std::fs::write(&file, labels).unwrap();
    assert_eq!(import_labels(&log, &file).unwrap().matched, 150);
    (log, model, start)
}

/// The report of the last two hours of `log` with `model`.
fn report_of_last_2h(
    log: &Path,
    model: &Path,
    estimate: Option<&EstimateValidParams>,
    alerts: Option<&AlertValidParams>,
) -> MonitorReport {
    let logs = vec![log.to_path_buf()];
    let now = now_ms();
    let input = ReportInput {
        logs: &logs,
        period: LogPeriod::parse_since("2h", now).unwrap(),
        now_ms: now,
        model: Some(model),
        model_search: None,
        reference: None,
        estimate,
        alerts,
        attribution: None,
    };
    let drift = DriftParams::default().check().unwrap();
    build_report(&input, &data_params(), &drift).unwrap()
}

fn latency_rule() -> AlertRule {
    AlertRule {
        name: "SlowScoring".into(),
        metric: AlertMetric::LatencyP95Ms,
        window: AlertWindow::OneMinute,
        comparison: AlertComparison::Above,
        threshold: 100.0,
        severity: AlertSeverity::Warning,
        for_minutes: 0,
        cooldown_minutes: 0,
    }
}

#[test]
fn labelled_steps_get_realized_values_beside_the_estimate_and_its_band() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model, start) = labelled_hour(dir.path());
    let estimate = EstimateParams::default().check().unwrap();
    let report = report_of_last_2h(&log, &model, Some(&estimate), None);
    assert_eq!(report.step_ms, MINUTE_MS);
    let performance = report.performance.as_ref().expect("performance section");
    let accuracy = performance
        .series
        .iter()
        .find(|s| s.metric == PerformanceMetric::Accuracy)
        .unwrap();
    assert_eq!(accuracy.points.len(), 60);
    for point in &accuracy.points {
        let minute = (point.start_ms - start) / MINUTE_MS;
        assert_eq!(point.rows, 5, "minute {minute}");
        let (estimate, lower, upper) = (
            point.estimate.unwrap(),
            point.lower.unwrap(),
            point.upper.unwrap(),
        );
        assert!(
            (0.0..=1.0).contains(&estimate) && lower <= upper,
            "{point:?}"
        );
        assert_eq!(point.alert, estimate < lower || estimate > upper);
        if minute < 30 {
            // Four of five rows labelled with the predicted class.
            assert_eq!(point.realized, Some(0.8), "minute {minute}");
            assert_eq!((point.labelled, point.unlabelled_share), (5, Some(0.0)));
        } else {
            assert_eq!(point.realized, None, "minute {minute}");
            assert_eq!((point.labelled, point.unlabelled_share), (0, Some(1.0)));
        }
    }
    assert!(
        !report
            .left_out
            .iter()
            .any(|l| l.section.starts_with("labelled metrics")),
        "{:?}",
        report.left_out
    );
    let html = report.html().unwrap();
    assert!(html.contains("Accuracy: realized against the label-free estimate"));
    assert!(html.contains("ROC AUC: realized against the label-free estimate"));
    let json = serde_json::to_string(&report).unwrap();
    let twin: MonitorReport = serde_json::from_str(&json).unwrap();
    assert_eq!(twin, report);
}

#[test]
fn a_rule_whose_latency_threshold_is_crossed_for_a_while_fires_then_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model, start) = labelled_hour(dir.path());
    let quiet = AlertRule {
        name: "Errors".into(),
        metric: AlertMetric::ErrorRate,
        threshold: 0.05,
        severity: AlertSeverity::Critical,
        ..latency_rule()
    };
    let alerts = AlertParams(AlertSettings {
        rules: vec![latency_rule(), quiet],
        state_path: dir.path().join("never-written.json"),
        ..AlertSettings::default()
    })
    .check()
    .unwrap();
    let report = report_of_last_2h(&log, &model, None, Some(&alerts));
    let timeline = report.alerts.as_ref().expect("alerts timeline");
    assert_eq!(timeline.evaluated_every_ms, MINUTE_MS);
    let slow = &timeline.rules[0];
    assert_eq!(
        (slow.rule.as_str(), slow.severity.as_str()),
        ("SlowScoring", "warning")
    );
    // Slow during minutes 20..35: fires at the first evaluation after minute 20 (the end of
    // that minute) and resolves at the first one whose minute is fast again.
    assert_eq!(slow.firing.len(), 1, "{:?}", slow.firing);
    assert_eq!(slow.firing[0].start_ms, start + 21 * MINUTE_MS);
    assert_eq!(slow.firing[0].end_ms, Some(start + 36 * MINUTE_MS));
    assert!(
        timeline.rules[1].firing.is_empty(),
        "{:?}",
        timeline.rules[1]
    );
    assert!(!dir.path().join("never-written.json").exists());
    let html = report.html().unwrap();
    assert!(html.contains("Alerts timeline") && html.contains("SlowScoring (warning)"));
}
