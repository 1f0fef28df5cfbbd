//! The drift report: its JSON shape, its version, and the shifted-two-features acceptance case.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use finbeh_config::DriftSettings;
use finbeh_monitor::{
    ColumnKind, ColumnSample, DRIFT_REPORT_VERSION, DriftParams, DriftReport, FeatureDrift,
    feature_drift,
};
use serde_json::Value;

const V1: &str = include_str!("fixtures/drift_report_v1.json");

/// splitmix64: a seeded, dependency-free generator, so the data is the same on every run.
struct Seeded(u64);

impl Seeded {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1_u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn category(&mut self, shares: &[f64]) -> &'static str {
        const NAMES: [&str; 4] = ["a", "b", "c", "d"];
        let mut draw = self.uniform();
        for (name, share) in NAMES.iter().zip(shares) {
            if draw < *share {
                return name;
            }
            draw -= share;
        }
        NAMES[shares.len() - 1]
    }
}

const ROWS: usize = 10_000;
const NUMERIC: usize = 16;
const CATEGORICAL: usize = 4;
const SHIFTED_NUMERIC: usize = 3;
const SHIFTED_CATEGORICAL: usize = 2;
const SHARES: [f64; 3] = [0.5, 0.3, 0.2];
const SHIFTED_SHARES: [f64; 3] = [0.3, 0.3, 0.4];

fn numeric_column(rng: &mut Seeded, shift: f64, scale: f64) -> Vec<f64> {
    (0..ROWS).map(|_| (rng.normal() + shift) * scale).collect()
}

fn categorical_column(rng: &mut Seeded, shares: &[f64]) -> Vec<Option<&'static str>> {
    (0..ROWS).map(|_| Some(rng.category(shares))).collect()
}

/// 20 features (16 numeric, 4 categorical), 10,000 reference and 10,000 current rows; numeric
/// feature 3 moves by half a standard deviation and categorical feature 2 changes its shares.
fn shifted_two_report(settings: DriftSettings) -> DriftReport {
    let params = DriftParams(settings).check().unwrap();
    let mut rng = Seeded(20_261_202);
    let mut features = Vec::new();
    for index in 0..NUMERIC {
        let scale = 1.0 + index as f64;
        let reference = numeric_column(&mut rng, 0.0, scale);
        let shift = if index == SHIFTED_NUMERIC { 0.5 } else { 0.0 };
        let current = numeric_column(&mut rng, shift, scale);
        let name = format!("num_{index}");
        features.push(
            feature_drift(
                &name,
                ColumnSample::Numeric(&reference),
                ColumnSample::Numeric(&current),
                &params,
            )
            .unwrap(),
        );
    }
    for index in 0..CATEGORICAL {
        let reference = categorical_column(&mut rng, &SHARES);
        let shares = if index == SHIFTED_CATEGORICAL {
            &SHIFTED_SHARES
        } else {
            &SHARES
        };
        let current = categorical_column(&mut rng, shares);
        let name = format!("cat_{index}");
        features.push(
            feature_drift(
                &name,
                ColumnSample::Categorical(&reference),
                ColumnSample::Categorical(&current),
                &params,
            )
            .unwrap(),
        );
    }
    DriftReport::new(features, &params)
}

#[test]
fn exactly_the_two_shifted_features_are_flagged() {
    let report = shifted_two_report(DriftSettings::default());
    let flagged: Vec<&str> = report
        .features
        .iter()
        .filter(|feature| feature.drifted)
        .map(|feature| feature.column.as_str())
        .collect();
    assert_eq!(flagged, ["num_3", "cat_2"], "{report:#?}");
    assert_eq!(report.drifted_share, 2.0 / 20.0);
    assert!(!report.dataset_drift);
    // With 10,000 reference rows the distances decide, not the p-values.
    let numeric: Vec<&FeatureDrift> = report
        .features
        .iter()
        .filter(|feature| feature.kind == ColumnKind::Numeric)
        .collect();
    assert!(numeric.iter().all(|f| f.wasserstein_norm.is_some()));
}

/// The reason for Evidently's rule: at 10,000 rows a p-value flags unshifted columns by
/// chance, so letting KS and chi-square decide here flags more than the two shifted features.
#[test]
fn p_values_deciding_at_10000_rows_would_flag_unshifted_features() {
    let report = shifted_two_report(DriftSettings {
        p_value_max_reference_rows: 10_000,
        ..DriftSettings::default()
    });
    let flagged = report.features.iter().filter(|f| f.drifted).count();
    assert!(flagged > 2, "{report:#?}");
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn json_has_the_documented_shape_with_inapplicable_fields_left_out() {
    let report = shifted_two_report(DriftSettings::default());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        keys(&json),
        BTreeSet::from(["version", "dataset_drift", "drifted_share", "features"])
    );
    assert_eq!(json["version"], DRIFT_REPORT_VERSION);
    let features = json["features"].as_array().unwrap();
    let numeric = features.iter().find(|f| f["kind"] == "numeric").unwrap();
    assert_eq!(
        keys(numeric),
        BTreeSet::from([
            "column",
            "kind",
            "ks_statistic",
            "ks_p_value",
            "wasserstein_norm",
            "psi",
            "jensen_shannon",
            "null_rate",
            "out_of_range_rate",
            "drifted",
        ])
    );
    let categorical = features
        .iter()
        .find(|f| f["kind"] == "categorical")
        .unwrap();
    assert_eq!(
        keys(categorical),
        BTreeSet::from([
            "column",
            "kind",
            "psi",
            "jensen_shannon",
            "chi2_p_value",
            "null_rate",
            "out_of_range_rate",
            "drifted",
        ])
    );
}

#[test]
fn version_1_report_still_parses_and_round_trips() {
    let report: DriftReport = serde_json::from_str(V1).unwrap();
    assert_eq!(report.version, 1);
    assert_eq!(report.features.len(), 2);
    assert_eq!(report.features[1].kind, ColumnKind::Categorical);
    assert!(report.features[1].ks_statistic.is_none());
    let again: Value = serde_json::to_value(&report).unwrap();
    assert_eq!(again, serde_json::from_str::<Value>(V1).unwrap());
}
