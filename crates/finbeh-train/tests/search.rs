//! Cross-validation and random search.

mod common;

use std::time::Duration;

use finbeh_train::{
    Fold, IntRange, RandomForestParams, RandomSearchParams, SearchSpace, TrainError,
    cross_validate, random_search,
};
use linfa::ParamGuard;

/// Interleaved k folds (row i goes to fold i % k): stratified enough for balanced synthetic data.
fn folds(n: usize, k: usize) -> Vec<Fold> {
    (0..k)
        .map(|f| {
            let (test, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % k == f);
            (train, test)
        })
        .collect()
}

fn tiny_space() -> SearchSpace {
    SearchSpace {
        n_estimators: IntRange { min: 5, max: 15 },
        ..SearchSpace::default()
    }
}

#[test]
fn cross_validation_reports_each_fold_and_mean_std() {
    let (x, y) = common::binary(1_500, 4, 20);
    let p = RandomForestParams::new()
        .n_estimators(15)
        .progress(false)
        .check()
        .unwrap();
    let report = cross_validate(&p, x.view(), &y, &folds(1_500, 3)).unwrap();
    assert_eq!(report.folds.len(), 3);
    assert!(
        report
            .folds
            .iter()
            .all(|f| f.test_rows == 500 && f.train_rows == 1_000)
    );
    let mean = report.folds.iter().map(|f| f.roc_auc).sum::<f64>() / 3.0;
    assert!((report.mean_roc_auc - mean).abs() < 1e-12);
    let var = report
        .folds
        .iter()
        .map(|f| (f.roc_auc - mean).powi(2))
        .sum::<f64>()
        / 3.0;
    assert!((report.std_roc_auc - var.sqrt()).abs() < 1e-12);
    assert!(report.mean_roc_auc > 0.9, "{report:?}");
}

#[test]
fn bad_folds_are_named() {
    let (x, y) = common::binary(100, 2, 21);
    let p = RandomForestParams::new()
        .n_estimators(3)
        .progress(false)
        .check()
        .unwrap();
    let bad = vec![(vec![0, 1, 2], vec![3, 400])];
    match cross_validate(&p, x.view(), &y, &bad) {
        Err(TrainError::InvalidFold { fold: 0, reason }) => assert!(reason.contains("400")),
        other => panic!("{other:?}"),
    }
    let empty = vec![(vec![0, 1], vec![])];
    assert!(matches!(
        cross_validate(&p, x.view(), &y, &empty),
        Err(TrainError::InvalidFold { fold: 0, .. })
    ));
}

#[test]
fn random_search_is_deterministic_for_a_seed_and_reports_the_best() {
    let (x, y) = common::binary(900, 4, 22);
    let f = folds(900, 3);
    let params = RandomSearchParams::new()
        .n_iter(4)
        .seed(3)
        .space(tiny_space())
        .check()
        .unwrap();
    let a = random_search(&params, x.view(), &y, &f).unwrap();
    let b = random_search(&params, x.view(), &y, &f).unwrap();
    assert_eq!(a.trials.len(), 4);
    assert!(!a.stopped_by_time_budget);
    for (ta, tb) in a.trials.iter().zip(&b.trials) {
        assert_eq!(ta.params, tb.params);
        assert_eq!(ta.cv, tb.cv);
    }
    let best = a
        .trials
        .iter()
        .map(|t| t.cv.mean_roc_auc)
        .fold(f64::MIN, f64::max);
    assert_eq!(a.best_mean_roc_auc, best);
    assert_eq!(a.best_params, a.trials[a.best_index].params);
    for t in &a.trials {
        let p = &t.params;
        assert!((5..=15).contains(&p.n_estimators()));
        assert!((3..=20).contains(&p.max_depth().unwrap()));
        assert!((2..=20).contains(&p.min_samples_split()));
        assert!((1..=20).contains(&p.min_samples_leaf()));
    }
    // Another seed draws other candidates.
    let other = RandomSearchParams::new()
        .n_iter(4)
        .seed(4)
        .space(tiny_space())
        .check()
        .unwrap();
    let c = random_search(&other, x.view(), &y, &f).unwrap();
    assert_ne!(
        c.trials.iter().map(|t| &t.params).collect::<Vec<_>>(),
        a.trials.iter().map(|t| &t.params).collect::<Vec<_>>()
    );
    let json = serde_json::to_string(&a).unwrap();
    assert!(json.contains("best_mean_roc_auc"));
}

#[test]
fn time_budget_stops_the_search_after_at_least_one_trial() {
    let (x, y) = common::binary(600, 3, 23);
    let params = RandomSearchParams::new()
        .n_iter(50)
        .time_budget(Some(Duration::from_nanos(1)))
        .space(tiny_space())
        .check()
        .unwrap();
    let r = random_search(&params, x.view(), &y, &folds(600, 2)).unwrap();
    assert_eq!(r.trials.len(), 1);
    assert!(r.stopped_by_time_budget);
}

#[test]
fn search_settings_are_validated_by_name() {
    let err = RandomSearchParams::new().n_iter(0).check().unwrap_err();
    assert!(err.to_string().contains("`n_iter`"), "{err}");
    let err = RandomSearchParams::new()
        .space(SearchSpace {
            min_samples_leaf: IntRange { min: 9, max: 3 },
            ..SearchSpace::default()
        })
        .check()
        .unwrap_err();
    assert!(
        err.to_string().contains("`space.min_samples_leaf` = 9..=3"),
        "{err}"
    );
}
