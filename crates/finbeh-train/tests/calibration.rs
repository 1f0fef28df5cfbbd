//! Isotonic calibration (pool-adjacent-violators): hand-computed fits and the invariants
//! (monotone, in [0, 1], the fitted values' mean over the fit set is the positive rate).

use finbeh_train::{Calibration, IsotonicCalibration, TrainError};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12
}

#[test]
fn one_violation_is_pooled_and_steps_are_interpolated() {
    // Sorted labels 0, 1, 0, 1: the pair (1, 0) violates and pools to 0.5.
    let map = IsotonicCalibration::fit(&[0.4, 0.1, 0.3, 0.2], &[true, false, false, true]).unwrap();
    assert_eq!(map.x(), [0.1, 0.2, 0.3, 0.4]);
    assert_eq!(map.y(), [0.0, 0.5, 0.5, 1.0]);
    assert_eq!(map.apply(0.05), 0.0); // clamped below
    assert_eq!(map.apply(0.1), 0.0);
    assert!(close(map.apply(0.15), 0.25)); // halfway from 0 to 0.5
    assert_eq!(map.apply(0.25), 0.5); // inside the pooled block
    assert!(close(map.apply(0.35), 0.75));
    assert_eq!(map.apply(0.9), 1.0); // clamped above
}

#[test]
fn ties_are_pooled_before_violators() {
    // 0.2 → 1; 0.5 twice → 1 of 2; 0.8 → 0. 1 > 0.5 pools to 2/3, then 0 < 2/3 pools all: 2/4.
    let map = IsotonicCalibration::fit(&[0.5, 0.5, 0.2, 0.8], &[true, false, true, false]).unwrap();
    assert_eq!(map.x(), [0.2, 0.8]);
    assert_eq!(map.y(), [0.5, 0.5]);
    assert_eq!(map.apply(0.0), 0.5);
}

#[test]
fn an_already_monotone_fit_keeps_every_point() {
    // Means per distinct x: 0, 1/3, 2/3, 1 (no violation).
    let p = [0.1, 0.4, 0.4, 0.4, 0.6, 0.6, 0.6, 0.9];
    let y = [false, true, false, false, true, true, false, true];
    let map = IsotonicCalibration::fit(&p, &y).unwrap();
    assert_eq!(map.x(), [0.1, 0.4, 0.6, 0.9]);
    for (got, want) in map.y().iter().zip([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]) {
        assert!(close(*got, want), "{got} vs {want}");
    }
}

#[test]
fn the_fit_is_monotone_bounded_and_preserves_the_mean_on_random_data() {
    let mut state = 7u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for n in [1usize, 2, 17, 500, 5_000] {
        let p: Vec<f64> = (0..n)
            .map(|_| (uniform() * 100.0).round() / 100.0)
            .collect();
        // Roughly calibrated with noise, so the fit has both steps and pooled blocks.
        let y: Vec<bool> = p.iter().map(|&p| uniform() < p).collect();
        let map = IsotonicCalibration::fit(&p, &y).unwrap();
        let fitted: Vec<f64> = p.iter().map(|&p| map.apply(p)).collect();
        let mean_fitted = fitted.iter().sum::<f64>() / n as f64;
        let mean_labels = y.iter().filter(|&&b| b).count() as f64 / n as f64;
        assert!(
            (mean_fitted - mean_labels).abs() < 1e-9,
            "n {n}: {mean_fitted} vs {mean_labels}"
        );
        let mut last = f64::NEG_INFINITY;
        for i in 0..=1_000 {
            let v = map.apply(f64::from(i) / 1_000.0);
            assert!(
                (0.0..=1.0).contains(&v) && v >= last,
                "n {n}: not monotone at {i}"
            );
            last = v;
        }
        assert!(map.x().windows(2).all(|w| w[0] < w[1]));
    }
}

#[test]
fn bad_input_is_refused_by_name() {
    assert!(matches!(
        IsotonicCalibration::fit(&[0.1, f64::NAN], &[true, false]),
        Err(TrainError::InvalidProbability { index: 1, .. })
    ));
    assert!(matches!(
        IsotonicCalibration::fit(&[0.1, 1.5], &[true, false]),
        Err(TrainError::InvalidProbability { index: 1, .. })
    ));
    assert!(matches!(
        IsotonicCalibration::fit(&[0.1], &[true, false]),
        Err(TrainError::LengthMismatch { .. })
    ));
    assert!(matches!(
        IsotonicCalibration::fit(&[], &[]),
        Err(TrainError::EmptyInput { .. })
    ));
}

#[test]
fn the_section_keeps_a_capped_seeded_sample_of_the_pairs() {
    let p: Vec<f64> = (0..1_000).map(|i| f64::from(i) / 1_000.0).collect();
    let y: Vec<bool> = (0..1_000usize).map(|i| i.is_multiple_of(3)).collect();
    let c = Calibration::fit(&p, &y, 100, 5).unwrap();
    assert_eq!(c.fitted_on(), 1_000);
    assert_eq!(c.probabilities().len(), 100);
    assert_eq!(c.positives().len(), 100);
    // Kept pairs are real pairs, in order.
    assert!(c.probabilities().windows(2).all(|w| w[0] < w[1]));
    for (&p, &pos) in c.probabilities().iter().zip(c.positives()) {
        assert_eq!(pos, ((p * 1_000.0).round() as usize).is_multiple_of(3));
    }
    assert_eq!(c, Calibration::fit(&p, &y, 100, 5).unwrap());
    assert_eq!(
        Calibration::fit(&p, &y, 0, 5)
            .unwrap()
            .probabilities()
            .len(),
        0
    );
    // The map is fitted on every pair, not only the kept ones.
    assert_eq!(c.map(), &IsotonicCalibration::fit(&p, &y).unwrap());
}
