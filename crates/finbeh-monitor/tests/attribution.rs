//! The monitor's view of explanations: NDCG against hand-computed values, global importance of
//! training and production in the report and in `monitor drift --since --json`, and
//! feature-attribution drift firing when production ranks the columns differently.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

mod common;

use common::{data_params, log_rows, reference_and_model};
use finbeh_monitor::{
    AttributionParams, AttributionValidParams, DriftParams, LogDriftInput, LogPeriod,
    MonitorReport, ReportInput, build_report, drift_from_log_with_attribution, ndcg, now_ms,
};
use finbeh_train::ModelArtifact;

fn attribution_params() -> AttributionValidParams {
    AttributionParams::default().check().unwrap()
}

#[test]
fn ndcg_matches_hand_computed_values() {
    // SageMaker Clarify's college-admission example: training SAT 0.70, GPA 0.50, class rank
    // 0.05; production 0.10, 0.20, 0.70. Production ranks rank, GPA, SAT:
    // DCG = 0.05/log2(2) + 0.50/log2(3) + 0.70/log2(4) = 0.715464876785729,
    // iDCG = 0.70/log2(2) + 0.50/log2(3) + 0.05/log2(4) = 1.040464876785729.
    let training = [0.70, 0.50, 0.05];
    let production = [0.10, 0.20, 0.70];
    let value = ndcg(&training, &production, 0).unwrap();
    assert!((value - 0.687_639_624_122_622_3).abs() < 1e-12, "{value}");
    // Top 2: (0.05 + 0.50/log2(3)) / (0.70 + 0.50/log2(3)).
    let value = ndcg(&training, &production, 2).unwrap();
    assert!((value - 0.359_899_081_829_932).abs() < 1e-12, "{value}");
    // Top 1: 0.05 / 0.70.
    let value = ndcg(&training, &production, 1).unwrap();
    assert!((value - 0.05 / 0.70).abs() < 1e-15, "{value}");
    // The same ranking, whatever the scale, is 1; a tie keeps the columns' order.
    assert_eq!(ndcg(&training, &[7.0, 5.0, 0.5], 0), Some(1.0));
    assert_eq!(ndcg(&[0.5, 0.5], &[1.0, 1.0], 0), Some(1.0));
    // Only two swapped at the bottom: 0.7 + 0.05/log2(3) + 0.5/2 over iDCG.
    let value = ndcg(&training, &[0.3, 0.1, 0.2], 0).unwrap();
    let expected = (0.70 + 0.05 / 3f64.log2() + 0.50 / 2.0) / (0.70 + 0.50 / 3f64.log2() + 0.025);
    assert!((value - expected).abs() < 1e-12, "{value} vs {expected}");
}

struct Logged {
    log: PathBuf,
    model: PathBuf,
    artifact: ModelArtifact,
}

/// A small model on 600 generated rows, and a log of `traffic(reference CSV, dir)`'s rows.
fn logged(dir: &Path, traffic: impl FnOnce(&Path, &ModelArtifact, &Path) -> PathBuf) -> Logged {
    let (reference, model) = reference_and_model(dir, 600);
    let artifact = ModelArtifact::read(&model).unwrap();
    let csv = traffic(&reference, &artifact, dir);
    let log = dir.join("log.sqlite");
    log_rows(&log, &artifact, &csv, 0, &|_| now_ms() - 60_000, 1);
    Logged {
        log,
        model,
        artifact,
    }
}

fn report(logged: &Logged, attribution: Option<&AttributionValidParams>) -> MonitorReport {
    let logs = vec![logged.log.clone()];
    let now = now_ms();
    let input = ReportInput {
        logs: &logs,
        period: LogPeriod::parse_since("1h", now).unwrap(),
        now_ms: now,
        model: Some(&logged.model),
        model_search: None,
        reference: None,
        estimate: None,
        alerts: None,
        attribution,
    };
    build_report(
        &input,
        &data_params(),
        &DriftParams::default().check().unwrap(),
    )
    .unwrap()
}

#[test]
fn the_report_shows_both_importances_side_by_side_and_training_like_traffic_does_not_drift() {
    let dir = tempfile::tempdir().unwrap();
    let same = logged(dir.path(), |reference, _, _| reference.to_path_buf());
    let params = attribution_params();
    let report = report(&same, Some(&params));
    let attribution = report.attribution.as_ref().expect("attribution section");
    let columns: Vec<&str> = same
        .artifact
        .input_columns()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let shown: Vec<&str> = attribution
        .columns
        .iter()
        .map(|c| c.column.as_str())
        .collect();
    assert_eq!(shown, columns);
    // The log holds the reference rows themselves: the same importances, the same ranking.
    for column in &attribution.columns {
        assert!(
            (column.training - column.production).abs() < 1e-12,
            "{column:?}"
        );
    }
    assert!(attribution.columns.iter().any(|c| c.training > 0.0));
    assert_eq!(attribution.ndcg, Some(1.0));
    assert!(!attribution.drifted);
    assert_eq!(
        (attribution.threshold, attribution.top_k),
        (0.9, columns.len())
    );
    assert_eq!(attribution.training_sample, "reference sample");
    assert_eq!(
        (
            attribution.training_rows,
            attribution.production_rows,
            attribution.production_rows_logged
        ),
        (600, 600, 600)
    );

    let html = report.html().unwrap();
    assert!(html.contains("Global importance and feature-attribution drift"));
    assert!(html.contains("NDCG 1.0000 against the threshold 0.9"));
    assert!(html.contains("<th>training rank</th>"));
    let twin: MonitorReport =
        serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    assert_eq!(twin, report);

    // Without [monitor.attribution] the section is left out, and says so.
    let without = self::report(&same, None);
    assert!(without.attribution.is_none());
    assert!(without.left_out.iter().any(|l| {
        l.section == "global importance and feature-attribution drift"
            && l.reason.contains("[monitor.attribution]")
    }));
}

#[test]
fn production_samples_are_bounded_and_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let same = logged(dir.path(), |reference, _, _| reference.to_path_buf());
    let small = AttributionParams(finbeh_config::AttributionSettings {
        sample_rows: 50,
        ..finbeh_config::AttributionSettings::default()
    })
    .check()
    .unwrap();
    let first = report(&same, Some(&small)).attribution.unwrap();
    assert_eq!((first.training_rows, first.production_rows), (50, 50));
    assert_eq!(first.production_rows_logged, 600);
    let again = report(&same, Some(&small)).attribution.unwrap();
    assert_eq!(first, again);
}

#[test]
fn permuted_production_attributions_fire_the_signal_and_drift_json_gains_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let same = logged(dir.path(), |reference, _, _| reference.to_path_buf());
    let input = LogDriftInput {
        log: &same.log,
        period: LogPeriod::parse_since("1h", now_ms()).unwrap(),
        model: Some(&same.model),
        model_search: None,
        reference: None,
    };
    let params = attribution_params();
    let result = drift_from_log_with_attribution(
        &input,
        &data_params(),
        &DriftParams::default().check().unwrap(),
        &params,
    )
    .unwrap();
    // `monitor drift --since --json`: the documented keys, and one more.
    let json = serde_json::to_value(&result).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut plain: Vec<String> = serde_json::to_value(&result.report)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    plain.push("feature_attribution_drift".to_owned());
    let mut keys: Vec<String> = keys.into_iter().map(str::to_owned).collect();
    keys.sort();
    plain.sort();
    assert_eq!(keys, plain);
    for key in ["dataset_drift", "drifted_share", "features"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let attribution = result.feature_attribution_drift.unwrap();
    assert_eq!(json["feature_attribution_drift"]["ndcg"], 1.0);

    // The model's own training importances, with production's ranking reversed: the columns
    // the model leans on most are ranked last.
    let training: Vec<f64> = attribution.columns.iter().map(|c| c.training).collect();
    let mut order: Vec<usize> = (0..training.len()).collect();
    order.sort_by(|&a, &b| training[b].total_cmp(&training[a]));
    let mut permuted = vec![0.0; training.len()];
    for (rank, &column) in order.iter().enumerate() {
        permuted[order[order.len() - 1 - rank]] = training[column];
    }
    let value = ndcg(&training, &permuted, 0).unwrap();
    assert!(value < params.ndcg_threshold(), "{value}");
    assert_eq!(ndcg(&training, &training, 0), Some(1.0));
}
