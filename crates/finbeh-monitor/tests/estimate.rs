//! The label-free performance estimate (CBPE): hand-computed expected confusion matrices and
//! ROC AUC on tiny inputs, the reference band, input errors, and the estimate against the truth
//! on generated labelled data with and without concept drift.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use finbeh_config::EstimateSettings;
use finbeh_monitor::{
    Confusion, EstimateParams, EstimateValidParams, MonitorError, PerformanceEstimator,
    PerformanceMetric, expected_roc_auc, realized_roc_auc,
};
use finbeh_train::{Calibration, RandomForest, RandomForestParams};
use linfa::ParamGuard;
use ndarray::Array2;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn params(chunk_rows: usize) -> EstimateValidParams {
    EstimateParams(EstimateSettings {
        chunk_rows,
        ..EstimateSettings::default()
    })
    .check()
    .expect("valid [monitor.estimate]")
}

#[test]
fn expected_confusion_by_hand() {
    // Served = calibrated; threshold 0.5: 0.9 and 0.6 are predicted positive.
    let p = [0.9, 0.6, 0.3, 0.1];
    let m = Confusion::expected(p.iter().map(|&p| (p, p)), 0.5);
    assert!(close(m.tp, 1.5) && close(m.fp, 0.5) && close(m.fn_, 0.4) && close(m.tn, 1.6));
    assert!(close(m.accuracy().unwrap(), 3.1 / 4.0));
    assert!(close(m.precision().unwrap(), 0.75));
    assert!(close(m.recall().unwrap(), 1.5 / 1.9));
    assert!(close(m.f1().unwrap(), 1.5 / (1.5 + 0.5 * 0.9)));
    // Calibration moves the counts, the served probability decides the class: a served 0.6
    // calibrated to 0.2 is a predicted positive that is most likely false.
    let m = Confusion::expected([(0.6, 0.2), (0.4, 0.7)], 0.5);
    assert!(close(m.tp, 0.2) && close(m.fp, 0.8) && close(m.fn_, 0.7) && close(m.tn, 0.3));
    // Nothing predicted positive: precision is undefined, not 0.
    let m = Confusion::expected([(0.1, 0.1), (0.2, 0.2)], 0.5);
    assert_eq!(m.precision(), None);
    assert!(close(m.recall().unwrap(), 0.0));
}

#[test]
fn expected_roc_auc_by_hand() {
    // Ranked 0.9, 0.6, 0.3, 0.1: cumulative expected positives 0.9, 1.5, 1.8, 1.9 and
    // negatives 0.1, 0.5, 1.2, 2.1; trapezoids 0.045 + 0.48 + 1.155 + 1.665 = 3.345 over
    // 1.9 × 2.1 = 3.99 (NannyML's estimate_roc_auc gives the same).
    let pairs = [(0.3, 0.3), (0.9, 0.9), (0.1, 0.1), (0.6, 0.6)];
    assert!(close(expected_roc_auc(&pairs).unwrap(), 3.345 / 3.99));
    // Certain probabilities give the realized ROC AUC of those labels.
    assert!(close(
        expected_roc_auc(&[(0.8, 1.0), (0.2, 0.0)]).unwrap(),
        1.0
    ));
    assert_eq!(expected_roc_auc(&[(0.8, 1.0), (0.2, 1.0)]), None);
}

#[test]
fn realized_roc_auc_counts_ties_half_like_the_trainer() {
    let mut state = 3u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let pairs: Vec<(f64, bool)> = (0..500)
        .map(|_| {
            let s = (next() * 20.0).floor() / 20.0; // many ties
            (s, next() < s)
        })
        .collect();
    let y: Vec<usize> = pairs.iter().map(|p| usize::from(p.1)).collect();
    let s: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let want = finbeh_train::roc_auc(&y, &s).unwrap();
    assert!((realized_roc_auc(&pairs).unwrap() - want).abs() < 1e-12);
}

/// Rows of two uniform features; P(positive) = logistic(8 (x0 + x1 − 1)).
fn generate(n: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut state = seed;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut x = Array2::<f32>::zeros((n, 2));
    let mut y = Vec::with_capacity(n);
    for r in 0..n {
        let (a, b) = (uniform(), uniform());
        x[[r, 0]] = a as f32;
        x[[r, 1]] = b as f32;
        let p = 1.0 / (1.0 + (-8.0 * (a + b - 1.0)).exp());
        y.push(usize::from(uniform() < p));
    }
    (x, y)
}

/// A forest trained on generated rows, its calibration fitted on 5 000 held-out rows, and the
/// estimator with 10 reference chunks of 500.
fn fitted() -> (RandomForest, PerformanceEstimator) {
    let (x, y) = generate(5_000, 1);
    let forest_params = RandomForestParams::new()
        .n_estimators(40)
        .min_samples_leaf(10)
        .n_jobs(1)
        .progress(false)
        .check()
        .unwrap();
    let forest = RandomForest::fit(&forest_params, x.view(), &y).unwrap();
    let (xh, yh) = generate(5_000, 2);
    let p = forest.predict_proba(xh.view()).unwrap().column(1).to_vec();
    let positives: Vec<bool> = yh.iter().map(|&y| y == 1).collect();
    let calibration = Calibration::fit(&p, &positives, 10_000, 42).unwrap();
    let estimator = PerformanceEstimator::new(&params(0), &calibration, 0.5).unwrap();
    assert_eq!(estimator.chunk_rows(), 500);
    assert_eq!(estimator.reference_chunks(), 10);
    (forest, estimator)
}

#[test]
fn the_estimate_tracks_the_truth_and_concept_drift_leaves_the_band_without_it() {
    let (forest, estimator) = fitted();
    let (x, y) = generate(5_000, 3);
    let served = forest.predict_proba(x.view()).unwrap().column(1).to_vec();
    let labels: Vec<Option<bool>> = y.iter().map(|&y| Some(y == 1)).collect();

    // No concept drift: every chunk's estimate is in its band, and the whole window's estimate
    // is close to the truth.
    for chunk in estimator.estimate_chunks(&served, Some(&labels)).unwrap() {
        assert_eq!(chunk.rows, 500);
        for m in &chunk.metrics {
            assert!(
                !m.alert,
                "{:?}: {:?} outside [{:?}, {:?}]",
                m.metric, m.estimate, m.lower, m.upper
            );
        }
    }
    let window = estimator.estimate(&served, Some(&labels)).unwrap();
    assert_eq!((window.rows, window.labelled), (5_000, 5_000));
    for m in &window.metrics {
        let (estimate, realized) = (m.estimate.unwrap(), m.realized.unwrap());
        let (lower, upper) = (m.lower.unwrap(), m.upper.unwrap());
        assert!(
            (estimate - realized).abs() < 0.02,
            "{:?}: estimate {estimate}, realized {realized}",
            m.metric
        );
        assert!(
            (lower..=upper).contains(&realized),
            "{:?}: realized {realized} outside [{lower}, {upper}]",
            m.metric
        );
        assert_eq!(m.labelled, 5_000);
    }

    // Concept drift: the same inputs, labels flipped where x0 > 0.6. The realized accuracy
    // falls out of the band; the estimate, which sees only the inputs, stays in it.
    let drifted: Vec<Option<bool>> = y
        .iter()
        .zip(x.column(0))
        .map(|(&y, &x0)| Some((y == 1) != (x0 > 0.6)))
        .collect();
    let chunks = estimator.estimate_chunks(&served, Some(&drifted)).unwrap();
    for chunk in &chunks {
        for metric in [PerformanceMetric::Accuracy, PerformanceMetric::RocAuc] {
            let m = chunk.metric(metric).unwrap();
            assert!(!m.alert, "{metric:?}: the estimate followed the labels");
            let realized = m.realized.unwrap();
            assert!(
                realized < m.lower.unwrap(),
                "{metric:?}: realized {realized} still in the band"
            );
        }
    }
}

#[test]
fn a_shifted_input_distribution_moves_the_estimate_out_of_the_band() {
    // Covariate shift towards the decision boundary (x0 + x1 near 1): the model is less sure,
    // so CBPE expects (and the labels confirm) a lower accuracy.
    let (forest, estimator) = fitted();
    let (mut x, _) = generate(2_000, 4);
    for mut row in x.rows_mut() {
        row[1] = 1.0 - row[0] + (row[1] - 0.5) * 0.1;
    }
    let served = forest.predict_proba(x.view()).unwrap().column(1).to_vec();
    let result = estimator.estimate(&served, None).unwrap();
    let accuracy = result.metric(PerformanceMetric::Accuracy).unwrap();
    assert!(accuracy.alert, "{accuracy:?}");
    assert!(accuracy.estimate.unwrap() < accuracy.lower.unwrap());
    assert_eq!((accuracy.realized, accuracy.labelled), (None, 0));
}

#[test]
fn bad_windows_and_too_small_references_are_named() {
    let (_, estimator) = fitted();
    assert!(matches!(
        estimator.estimate(&[0.2, f64::NAN], None),
        Err(MonitorError::InvalidProbability { index: 1, .. })
    ));
    assert!(matches!(
        estimator.estimate(&[0.2, 0.3], Some(&[Some(true)])),
        Err(MonitorError::LabelCount { labels: 1, rows: 2 })
    ));
    assert!(matches!(
        estimator.estimate(&[], None),
        Err(MonitorError::EmptyWindow)
    ));
    let calibration = Calibration::fit(&[0.1, 0.9, 0.4], &[false, true, true], 10, 1).unwrap();
    let err = PerformanceEstimator::new(&params(2), &calibration, 0.5).unwrap_err();
    assert!(
        err.to_string().contains("fewer than 2 reference chunks"),
        "{err}"
    );
    // Old artifacts carry no calibration: a clear refusal, not a guess.
    let old = finbeh_train::ModelArtifact::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../finbeh-train/tests/fixtures/model-v1.2.0.finbeh"
    ))
    .unwrap();
    let err = PerformanceEstimator::from_artifact(&params(0), &old).unwrap_err();
    assert!(err.to_string().contains("predates format 1.3.0"), "{err}");
}

#[test]
fn the_estimate_serializes_with_its_version_and_plain_cell_names() {
    let (_, estimator) = fitted();
    let result = estimator.estimate(&[0.9, 0.1, 0.3], Some(&[Some(true), None, Some(false)]));
    let json = serde_json::to_value(result.unwrap()).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(
        (json["rows"].as_u64(), json["labelled"].as_u64()),
        (Some(3), Some(2))
    );
    for cell in ["tp", "fp", "tn", "fn"] {
        assert!(
            json["expected_confusion"][cell].is_number(),
            "{cell}: {json}"
        );
    }
    assert_eq!(json["metrics"][0]["metric"], "accuracy");
    assert_eq!(json["metrics"][4]["metric"], "roc_auc");
    // Two labelled rows of different classes, both predicted right: realized accuracy 1.
    assert_eq!(json["metrics"][0]["realized"], 1.0);
}
