//! Cross-validation on given folds and a budgeted random search over forest hyperparameters.

use std::time::{Duration, Instant};

use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::forest::RandomForest;
use crate::metrics;
use crate::params::{ClassWeight, RandomForestParams, RandomForestValidParams};
use finbeh_data::Rng;

/// Train/test row indices of one fold.
pub type Fold = (Vec<usize>, Vec<usize>);

/// Scores of one fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldScore {
    /// Fold index.
    pub fold: usize,
    /// Training rows.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// ROC AUC on the test rows (binary; multi-class: macro one-vs-rest).
    pub roc_auc: f64,
    /// Accuracy of the argmax class on the test rows.
    pub accuracy: f64,
}

/// Per-fold scores and their mean ± (population) standard deviation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidationReport {
    /// One entry per fold.
    pub folds: Vec<FoldScore>,
    /// Mean ROC AUC.
    pub mean_roc_auc: f64,
    /// Standard deviation of ROC AUC (ddof = 0, like scikit-learn's `std_test_score`).
    pub std_roc_auc: f64,
    /// Mean accuracy.
    pub mean_accuracy: f64,
}

fn check_folds(folds: &[Fold], n_rows: usize) -> Result<()> {
    if folds.is_empty() {
        return Err(TrainError::EmptyInput {
            what: "cross-validation folds",
        });
    }
    for (fold, (train, test)) in folds.iter().enumerate() {
        if train.is_empty() || test.is_empty() {
            return Err(TrainError::InvalidFold {
                fold,
                reason: format!(
                    "{} training and {} test rows: both must be non-empty",
                    train.len(),
                    test.len()
                ),
            });
        }
        if let Some(&bad) = train.iter().chain(test).find(|&&i| i >= n_rows) {
            return Err(TrainError::InvalidFold {
                fold,
                reason: format!("row index {bad} is out of range for {n_rows} rows"),
            });
        }
    }
    Ok(())
}

fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Trains on each fold's training rows and scores its test rows.
pub fn cross_validate(
    params: &RandomForestValidParams,
    x: ArrayView2<'_, f32>,
    y: &[usize],
    folds: &[Fold],
) -> Result<CrossValidationReport> {
    if y.len() != x.nrows() {
        return Err(TrainError::LengthMismatch {
            what: "labels vs feature rows",
            expected: x.nrows(),
            got: y.len(),
        });
    }
    check_folds(folds, x.nrows())?;
    let mut scores = Vec::with_capacity(folds.len());
    for (fold, (train, test)) in folds.iter().enumerate() {
        let x_train = x.select(Axis(0), train);
        let y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
        let x_test = x.select(Axis(0), test);
        let y_test: Vec<usize> = test.iter().map(|&i| y[i]).collect();
        let model = RandomForest::fit(params, x_train.view(), &y_train)?;
        let proba = model.predict_proba(x_test.view())?;
        let pred: Vec<usize> = proba
            .outer_iter()
            .map(|p| crate::forest::argmax(&p.to_vec()))
            .collect();
        scores.push(FoldScore {
            fold,
            train_rows: train.len(),
            test_rows: test.len(),
            roc_auc: metrics::roc_auc_of_proba(&y_test, proba.view())?,
            accuracy: metrics::accuracy(&y_test, &pred)?,
        });
    }
    let (mean_roc_auc, std_roc_auc) = mean_std(scores.iter().map(|s| s.roc_auc));
    let (mean_accuracy, _) = mean_std(scores.iter().map(|s| s.accuracy));
    Ok(CrossValidationReport {
        folds: scores,
        mean_roc_auc,
        std_roc_auc,
        mean_accuracy,
    })
}

/// Inclusive integer range sampled uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntRange {
    /// Smallest value.
    pub min: usize,
    /// Largest value.
    pub max: usize,
}

/// The hyperparameter space of the random search. `Default` is the original project's grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    /// Trees (default 50–200).
    pub n_estimators: IntRange,
    /// Depth (default 3–20).
    pub max_depth: IntRange,
    /// Minimum samples to split (default 2–20).
    pub min_samples_split: IntRange,
    /// Minimum samples per leaf (default 1–20).
    pub min_samples_leaf: IntRange,
    /// Bootstrap choices (default both).
    pub bootstrap: Vec<bool>,
    /// Class-weight choices (default none and balanced).
    pub class_weight: Vec<ClassWeight>,
}

impl Default for SearchSpace {
    fn default() -> Self {
        Self {
            n_estimators: IntRange { min: 50, max: 200 },
            max_depth: IntRange { min: 3, max: 20 },
            min_samples_split: IntRange { min: 2, max: 20 },
            min_samples_leaf: IntRange { min: 1, max: 20 },
            bootstrap: vec![true, false],
            class_weight: vec![ClassWeight::None, ClassWeight::Balanced],
        }
    }
}

/// Unvalidated random-search settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomSearchParams(RandomSearchValidParams);

/// Validated random-search settings; obtained from [`RandomSearchParams::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomSearchValidParams {
    n_iter: usize,
    time_budget_seconds: Option<f64>,
    seed: u64,
    space: SearchSpace,
    base: RandomForestValidParams,
}

impl Default for RandomSearchParams {
    fn default() -> Self {
        Self(RandomSearchValidParams {
            n_iter: 20,
            time_budget_seconds: None,
            seed: 42,
            space: SearchSpace::default(),
            base: RandomForestValidParams {
                progress: false,
                ..RandomForestValidParams::default()
            },
        })
    }
}

impl RandomSearchParams {
    /// Defaults: 20 trials, no time budget, seed 42, the original grid.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of candidate settings to try.
    pub fn n_iter(mut self, n: usize) -> Self {
        self.0.n_iter = n;
        self
    }
    /// Stop starting new trials once this much time has passed.
    pub fn time_budget(mut self, budget: Option<Duration>) -> Self {
        self.0.time_budget_seconds = budget.map(|d| d.as_secs_f64());
        self
    }
    /// Seed of the candidate draws (each candidate forest keeps the base seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// The space to sample.
    pub fn space(mut self, space: SearchSpace) -> Self {
        self.0.space = space;
        self
    }
    /// Settings not searched (max_features, criterion, seed, n_jobs, …).
    pub fn base(mut self, base: RandomForestValidParams) -> Self {
        self.0.base = base;
        self
    }

    /// Validates the settings.
    pub fn check(self) -> Result<RandomSearchValidParams> {
        let p = self.0;
        let bad = |name, value: String, reason| TrainError::InvalidParameter {
            name,
            value,
            reason,
        };
        if p.n_iter == 0 {
            return Err(bad("n_iter", "0".into(), "must be at least 1"));
        }
        if let Some(t) = p.time_budget_seconds
            && !(t.is_finite() && t > 0.0)
        {
            return Err(bad("time_budget", format!("{t}s"), "must be positive"));
        }
        for (name, r, min) in [
            ("space.n_estimators", p.space.n_estimators, 1),
            ("space.max_depth", p.space.max_depth, 1),
            ("space.min_samples_split", p.space.min_samples_split, 2),
            ("space.min_samples_leaf", p.space.min_samples_leaf, 1),
        ] {
            if r.min > r.max || r.min < min {
                return Err(bad(
                    name,
                    format!("{}..={}", r.min, r.max),
                    "needs min <= max and min at least the parameter's own minimum",
                ));
            }
        }
        if p.space.bootstrap.is_empty() {
            return Err(bad(
                "space.bootstrap",
                "[]".into(),
                "needs at least one choice",
            ));
        }
        if p.space.class_weight.is_empty() {
            return Err(bad(
                "space.class_weight",
                "[]".into(),
                "needs at least one choice",
            ));
        }
        Ok(p)
    }
}

impl RandomSearchValidParams {
    fn sample(&self, rng: &mut Rng) -> Result<RandomForestValidParams> {
        let s = &self.space;
        let mut draw = |r: IntRange| rng.range_inclusive(r.min, r.max);
        let n_estimators = draw(s.n_estimators);
        let max_depth = draw(s.max_depth);
        let min_samples_split = draw(s.min_samples_split);
        let min_samples_leaf = draw(s.min_samples_leaf);
        let bootstrap = s.bootstrap[rng.below(s.bootstrap.len())];
        let class_weight = s.class_weight[rng.below(s.class_weight.len())];
        use linfa::ParamGuard;
        RandomForestParams::from(self.base.clone())
            .n_estimators(n_estimators)
            .max_depth(Some(max_depth))
            .min_samples_split(min_samples_split)
            .min_samples_leaf(min_samples_leaf)
            .bootstrap(bootstrap)
            .oob_score(self.base.oob_score && bootstrap)
            .class_weight(class_weight)
            .check()
    }
}

/// One evaluated candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Draw index.
    pub index: usize,
    /// The candidate's parameters.
    pub params: RandomForestValidParams,
    /// Its cross-validation scores.
    pub cv: CrossValidationReport,
    /// Wall time of its cross-validation.
    pub seconds: f64,
}

/// Outcome of a random search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReport {
    /// Index into `trials` of the best mean CV ROC AUC (first on ties).
    pub best_index: usize,
    /// Parameters of the best trial.
    pub best_params: RandomForestValidParams,
    /// Best trial's mean CV ROC AUC.
    pub best_mean_roc_auc: f64,
    /// Best trial's CV ROC AUC standard deviation.
    pub best_std_roc_auc: f64,
    /// Every evaluated trial, in draw order.
    pub trials: Vec<Trial>,
    /// Trials requested.
    pub n_iter: usize,
    /// True when the time budget ended the search before `n_iter` trials.
    pub stopped_by_time_budget: bool,
}

/// Samples up to `n_iter` candidates (the sequence depends on the seed only) and scores each by
/// cross-validated ROC AUC on `folds`. The time budget is checked before each trial (at least
/// one trial always runs).
pub fn random_search(
    params: &RandomSearchValidParams,
    x: ArrayView2<'_, f32>,
    y: &[usize],
    folds: &[Fold],
) -> Result<SearchReport> {
    // Deserialized settings have not been through `check`.
    let params = &RandomSearchParams(params.clone()).check()?;
    check_folds(folds, x.nrows())?;
    let started = Instant::now();
    let budget = params.time_budget_seconds.map(Duration::from_secs_f64);
    let mut rng = Rng::seed_from_u64(params.seed);
    let mut trials: Vec<Trial> = Vec::with_capacity(params.n_iter);
    let mut stopped_by_time_budget = false;
    for index in 0..params.n_iter {
        if budget.is_some_and(|b| index > 0 && started.elapsed() >= b) {
            stopped_by_time_budget = true;
            break;
        }
        let candidate = params.sample(&mut rng)?;
        let t0 = Instant::now();
        let cv = cross_validate(&candidate, x, y, folds)?;
        trials.push(Trial {
            index,
            params: candidate,
            cv,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    let mut best_index = 0;
    for (i, t) in trials.iter().enumerate() {
        if t.cv.mean_roc_auc > trials[best_index].cv.mean_roc_auc {
            best_index = i;
        }
    }
    let best = &trials[best_index];
    Ok(SearchReport {
        best_index,
        best_params: best.params.clone(),
        best_mean_roc_auc: best.cv.mean_roc_auc,
        best_std_roc_auc: best.cv.std_roc_auc,
        n_iter: params.n_iter,
        stopped_by_time_budget,
        trials,
    })
}
