//! Each drift statistic, the deciding rule and data quality against values worked out by hand.

#![allow(clippy::unwrap_used)]

use finbeh_config::DriftSettings;
use finbeh_monitor::{
    BinnedShares, ColumnKind, ColumnSample, DriftParams, DriftValidParams, Method, MonitorError,
    category_bins, category_quality, chi2_p_value, feature_drift, fill_empty_bins, jensen_shannon,
    ks_2samp, numeric_bins, numeric_quality, population_std, psi, wasserstein_distance,
    wasserstein_norm,
};

fn near(ours: f64, expected: f64) {
    assert!(
        (ours - expected).abs() < 1e-12,
        "got {ours}, expected {expected}"
    );
}

fn params() -> DriftValidParams {
    DriftParams::default().check().unwrap()
}

#[test]
fn ks_statistic_and_exact_p_value() {
    // ECDF gaps at 2, 3 and 4 are all 1/2; the exact p-value counts the 54 of the C(8,4) = 70
    // lattice paths that reach |x − y| ≥ 2.
    let ks = ks_2samp(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]).unwrap();
    near(ks.statistic, 0.5);
    near(ks.p_value, 54.0 / 70.0);
    // Identical samples: D = 0, p = 1.
    let same = ks_2samp(&[1.0, 2.0], &[2.0, 1.0]).unwrap();
    near(same.statistic, 0.0);
    near(same.p_value, 1.0);
    // Fully separated samples of 2 and 3 (unequal sizes): D = 1, and only the 2 of C(5,2) = 10
    // paths along the edges reach it.
    let apart = ks_2samp(&[0.0, 1.0], &[5.0, 6.0, 7.0]).unwrap();
    near(apart.statistic, 1.0);
    near(apart.p_value, 0.2);
    assert!(ks_2samp(&[], &[1.0]).is_none());
}

#[test]
fn wasserstein_is_the_area_between_the_cdfs() {
    near(
        wasserstein_distance(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]).unwrap(),
        5.0,
    );
    // Half the reference mass moves by 2: area 1.
    near(wasserstein_distance(&[0.0, 2.0], &[2.0, 2.0]).unwrap(), 1.0);
    // std([0, 2]) = 1 (population), so the normalised distance equals the distance.
    near(population_std(&[0.0, 2.0]).unwrap(), 1.0);
    near(wasserstein_norm(&[0.0, 2.0], &[1.0, 3.0]).unwrap(), 1.0);
    // A constant reference divides by Evidently's floor of 0.001.
    near(wasserstein_norm(&[4.0, 4.0], &[5.0, 5.0]).unwrap(), 1000.0);
}

#[test]
fn psi_and_jensen_shannon_on_two_bins() {
    let bins = category_bins(&[2, 2], &[1, 3]).unwrap();
    assert_eq!(bins.reference, vec![0.5, 0.5]);
    assert_eq!(bins.current, vec![0.25, 0.75]);
    // 0.25·ln 2 − 0.25·ln(2/3) = 0.25·ln 3.
    near(psi(&bins), 0.25 * 3.0_f64.ln());
    // Disjoint distributions: JS distance is √ln 2; identical ones: 0.
    let disjoint = BinnedShares {
        reference: vec![1.0, 0.0],
        current: vec![0.0, 1.0],
    };
    near(jensen_shannon(&disjoint), 2.0_f64.ln().sqrt());
    near(
        jensen_shannon(&category_bins(&[3, 1], &[6, 2]).unwrap()),
        0.0,
    );
}

#[test]
fn empty_bins_are_filled_as_evidently_does() {
    let mut shares = vec![0.5, 0.0, 0.5];
    fill_empty_bins(&mut shares);
    assert_eq!(shares, vec![0.5, 1e-4, 0.5]);
    let mut tiny = vec![0.99995, 0.0, 0.00005];
    fill_empty_bins(&mut tiny);
    near(tiny[1], 0.00005 / 1e6);
    // PSI stays finite when a bin is empty on one side: 0.5·ln(0.5/1e-4) + (1e-4 − 0.5)·ln(1e-4/0.5)
    // + 0 for the shared bin.
    let bins = category_bins(&[1, 1, 0], &[0, 1, 1]).unwrap();
    let edge = (0.5 - 1e-4) * (0.5_f64 / 1e-4).ln();
    near(psi(&bins), 2.0 * edge);
}

#[test]
fn categories_absent_from_both_samples_are_not_bins() {
    let bins = category_bins(&[1, 0, 3], &[2, 0, 2]).unwrap();
    assert_eq!(bins.reference.len(), 2);
    assert!(category_bins(&[0, 0], &[1, 1]).is_none());
}

#[test]
fn sturges_bins_over_both_samples() {
    // 30 distinct values (> 20): range binning. n = 60: ⌈log2 60 + 1⌉ = 7 equal bins over
    // [0, 29]; each bin holds its share, the last bin is closed.
    let reference: Vec<f64> = (0..30).map(f64::from).collect();
    let bins = numeric_bins(&reference, &reference).unwrap();
    assert_eq!(bins.reference.len(), 7);
    // Edges 0, 4.142.., 8.285.., ...: bin 0 holds 0..=4 (5 values), the last 25..=29 (5).
    near(bins.reference[0], 5.0 / 30.0);
    near(bins.reference[6], 5.0 / 30.0);
    near(bins.reference.iter().sum::<f64>(), 1.0);
    // 20 distinct values or fewer: one bin per value of either sample.
    let few = numeric_bins(&[1.0, 1.0, 2.0], &[2.0, 3.0]).unwrap();
    assert_eq!(few.reference, vec![2.0 / 3.0, 1.0 / 3.0, 0.0]);
    assert_eq!(few.current, vec![0.0, 0.5, 0.5]);
}

#[test]
fn chi_square_p_value() {
    // Expected [50, 50], observed [40, 60]: χ² = 4 on 1 degree of freedom, p = erfc(√2).
    near(
        chi2_p_value(&[50, 50], &[40, 60]).unwrap(),
        0.045_500_263_896_358_4,
    );
    // Scaled expectation: the same shares at other sizes give p = 1.
    near(chi2_p_value(&[10, 30], &[20, 60]).unwrap(), 1.0);
    // A category the reference never saw: p = 0; a single category: p = 1.
    near(chi2_p_value(&[5, 0], &[5, 1]).unwrap(), 0.0);
    near(chi2_p_value(&[7], &[3]).unwrap(), 1.0);
    assert!(chi2_p_value(&[0, 0], &[1, 2]).is_none());
}

#[test]
fn data_quality_rates() {
    let quality = numeric_quality(&[0.0, 10.0], &[f64::NAN, -1.0, 5.0, 11.0]).unwrap();
    near(quality.null_rate, 0.25);
    near(quality.out_of_range_rate, 2.0 / 3.0);
    let all_null = numeric_quality(&[0.0], &[f64::NAN]).unwrap();
    near(all_null.out_of_range_rate, 0.0);
    let categories = category_quality(10, 2, 4).unwrap();
    near(categories.null_rate, 0.2);
    near(categories.out_of_range_rate, 0.5);
}

#[test]
fn categorical_column_quality_counts_unknown_categories() {
    let reference = [Some("a"), Some("b"), Some("a")];
    let current = [Some("a"), None, Some("c"), Some("c")];
    let feature = feature_drift(
        "colour",
        ColumnSample::Categorical(&reference),
        ColumnSample::Categorical(&current),
        &params(),
    )
    .unwrap();
    near(feature.null_rate, 0.25);
    near(feature.out_of_range_rate, 2.0 / 3.0);
    // "c" is new: chi-square decides (3 reference rows) with p = 0.
    near(feature.chi2_p_value.unwrap(), 0.0);
    assert!(feature.drifted);
    assert!(feature.ks_statistic.is_none() && feature.wasserstein_norm.is_none());
}

#[test]
fn deciding_statistic_follows_evidently() {
    let params = params();
    assert_eq!(
        params.decide("x", ColumnKind::Numeric, 1000, 6).0,
        Method::Ks
    );
    assert_eq!(
        params.decide("x", ColumnKind::Numeric, 1001, 6).0,
        Method::WassersteinNorm
    );
    assert_eq!(
        params.decide("x", ColumnKind::Numeric, 1000, 5).0,
        Method::ChiSquare
    );
    assert_eq!(
        params.decide("x", ColumnKind::Numeric, 1001, 5).0,
        Method::JensenShannon
    );
    assert_eq!(
        params.decide("x", ColumnKind::Boolean, 1000, 2),
        (Method::ChiSquare, 0.05)
    );
    assert_eq!(
        params.decide("x", ColumnKind::Categorical, 5000, 50),
        (Method::JensenShannon, 0.1)
    );
    assert!(Method::Ks.drifted(0.05, 0.05) && !Method::Ks.drifted(0.06, 0.05));
    assert!(Method::JensenShannon.drifted(0.1, 0.1) && !Method::JensenShannon.drifted(0.09, 0.1));
    assert!(params.dataset_drifted(0.5) && !params.dataset_drifted(0.45));
}

#[test]
fn per_column_threshold_overrides_the_method_default() {
    let mut settings = DriftSettings::default();
    settings.column_thresholds.insert("income".into(), 0.3);
    let params = DriftParams(settings).check().unwrap();
    assert_eq!(
        params.decide("income", ColumnKind::Numeric, 5000, 100),
        (Method::WassersteinNorm, 0.3)
    );
    assert_eq!(
        params.decide("age", ColumnKind::Numeric, 5000, 100),
        (Method::WassersteinNorm, 0.1)
    );
}

#[test]
fn bad_drift_settings_are_refused_by_name() {
    let settings = DriftSettings {
        ks_p_value: 2.0,
        ..DriftSettings::default()
    };
    let error = DriftParams(settings).check().unwrap_err();
    assert!(
        error.to_string().contains("monitor.drift.ks_p_value"),
        "{error}"
    );
}

#[test]
fn bad_samples_are_errors_naming_the_column() {
    let params = params();
    let error = feature_drift(
        "income",
        ColumnSample::Numeric(&[1.0, f64::INFINITY]),
        ColumnSample::Numeric(&[1.0]),
        &params,
    )
    .unwrap_err();
    assert!(matches!(error, MonitorError::NonFinite { index: 1, .. }));
    assert!(error.to_string().contains("\"income\""), "{error}");
    let empty = feature_drift(
        "income",
        ColumnSample::Numeric(&[1.0]),
        ColumnSample::Numeric(&[f64::NAN]),
        &params,
    )
    .unwrap_err();
    assert!(
        matches!(
            empty,
            MonitorError::EmptySample {
                sample: "current",
                ..
            }
        ),
        "{empty}"
    );
    let mismatch = feature_drift(
        "flag",
        ColumnSample::Boolean(&[Some(true)]),
        ColumnSample::Numeric(&[1.0]),
        &params,
    )
    .unwrap_err();
    assert!(mismatch.to_string().contains("\"flag\""), "{mismatch}");
}

#[test]
fn low_cardinality_numeric_column_is_decided_by_chi_square() {
    // Values 0 and 1 only (2 distinct ≤ 5): chi-square over the value counts decides, as for a
    // category; reference 50/50, current 40/60 gives p = erfc(√2) ≈ 0.0455 ≤ 0.05.
    let reference: Vec<f64> = (0..100).map(|i| f64::from(i % 2)).collect();
    let current: Vec<f64> = (0..100).map(|i| f64::from(u8::from(i % 10 >= 4))).collect();
    let feature = feature_drift(
        "has_loan",
        ColumnSample::Numeric(&reference),
        ColumnSample::Numeric(&current),
        &params(),
    )
    .unwrap();
    near(feature.chi2_p_value.unwrap(), 0.045_500_263_896_358_4);
    assert!(feature.drifted);
    // KS is still reported for a numeric column, but does not decide (D = 0.1 is not significant).
    assert!(feature.ks_p_value.unwrap() > 0.05);
    // Six distinct values: KS decides and chi-square is not reported.
    let wide: Vec<f64> = (0..100).map(|i| f64::from(i % 6)).collect();
    let feature = feature_drift(
        "tenure",
        ColumnSample::Numeric(&wide),
        ColumnSample::Numeric(&wide),
        &params(),
    )
    .unwrap();
    assert!(feature.chi2_p_value.is_none() && !feature.drifted);
}
