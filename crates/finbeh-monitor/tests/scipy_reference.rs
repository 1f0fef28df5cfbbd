//! Every drift statistic against SciPy's (and Evidently's) values on the committed fixture
//! written by `benches/python/drift_reference.py`, within 1e-9.

#![allow(clippy::unwrap_used)]

use finbeh_monitor::{
    KS_EXACT_MAX_N, category_bins, chi2_p_value, jensen_shannon, ks_2samp, numeric_bins, psi,
    wasserstein_distance, wasserstein_norm,
};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/drift_scipy_reference.json");
const TOLERANCE: f64 = 1e-9;

fn floats(case: &Value, key: &str) -> Vec<f64> {
    case[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn counts(case: &Value, key: &str) -> Vec<u64> {
    case[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

fn close(name: &str, statistic: &str, ours: f64, case: &Value) {
    let scipy = case[statistic].as_f64().unwrap();
    assert!(
        (ours - scipy).abs() <= TOLERANCE,
        "{name}: {statistic} is {ours}, SciPy says {scipy} (diff {:e})",
        (ours - scipy).abs()
    );
}

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).unwrap()
}

#[test]
fn numeric_statistics_match_scipy() {
    let fixture = fixture();
    let cases = fixture["numeric"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (reference, current) = (floats(case, "reference"), floats(case, "current"));
        let ks = ks_2samp(&reference, &current).unwrap();
        close(name, "ks_statistic", ks.statistic, case);
        if reference.len().max(current.len()) <= KS_EXACT_MAX_N {
            close(name, "ks_p_value", ks.p_value, case);
        }
        close(
            name,
            "wasserstein",
            wasserstein_distance(&reference, &current).unwrap(),
            case,
        );
        close(
            name,
            "wasserstein_norm",
            wasserstein_norm(&reference, &current).unwrap(),
            case,
        );
        let bins = numeric_bins(&reference, &current).unwrap();
        close(name, "psi", psi(&bins), case);
        close(name, "jensen_shannon", jensen_shannon(&bins), case);
    }
}

/// Above 10,000 rows SciPy's p-value uses the finite-n `kstwo`; finbeh uses its limit. The
/// statistic still matches (above); the p-value is within the documented `O(1/√n)` gap.
#[test]
fn asymptotic_ks_p_value_is_near_scipy() {
    let fixture = fixture();
    let case = fixture["numeric"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case["reference"].as_array().unwrap().len() > KS_EXACT_MAX_N)
        .unwrap();
    let ks = ks_2samp(&floats(case, "reference"), &floats(case, "current")).unwrap();
    let scipy = case["ks_p_value"].as_f64().unwrap();
    assert!(
        (ks.p_value - scipy).abs() < 0.02,
        "{} vs {scipy}",
        ks.p_value
    );
}

#[test]
fn categorical_statistics_match_scipy() {
    let fixture = fixture();
    let cases = fixture["categorical"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (reference, current) = (
            counts(case, "reference_counts"),
            counts(case, "current_counts"),
        );
        let bins = category_bins(&reference, &current).unwrap();
        close(name, "psi", psi(&bins), case);
        close(name, "jensen_shannon", jensen_shannon(&bins), case);
        close(
            name,
            "chi2_p_value",
            chi2_p_value(&reference, &current).unwrap(),
            case,
        );
    }
}
