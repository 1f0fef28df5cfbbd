//! Forest hyperparameters, validated once (linfa's `ParamGuard` pattern).

use serde::{Deserialize, Serialize};

pub use finbeh_config::{ClassWeight, Criterion, MaxFeatures};

use crate::error::{Result, TrainError};

/// Validated random-forest hyperparameters; obtained from `RandomForestParams` through
/// [`linfa::ParamGuard::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForestValidParams {
    pub(crate) n_estimators: usize,
    pub(crate) max_depth: Option<usize>,
    pub(crate) min_samples_split: usize,
    pub(crate) min_samples_leaf: usize,
    pub(crate) min_impurity_decrease: f64,
    pub(crate) max_features: MaxFeatures,
    pub(crate) criterion: Criterion,
    pub(crate) class_weight: ClassWeight,
    pub(crate) bootstrap: bool,
    pub(crate) oob_score: bool,
    pub(crate) max_bins: usize,
    pub(crate) seed: u64,
    pub(crate) n_jobs: usize,
    pub(crate) progress: bool,
}

impl Default for RandomForestValidParams {
    /// The original project's settings: 100 trees, depth 10, split 5, leaf 2, sqrt features.
    fn default() -> Self {
        Self {
            n_estimators: 100,
            max_depth: Some(10),
            min_samples_split: 5,
            min_samples_leaf: 2,
            min_impurity_decrease: 0.0,
            max_features: MaxFeatures::Sqrt,
            criterion: Criterion::Gini,
            class_weight: ClassWeight::None,
            bootstrap: true,
            oob_score: false,
            max_bins: 255,
            seed: 42,
            n_jobs: 0,
            progress: true,
        }
    }
}

impl RandomForestValidParams {
    /// Number of trees.
    pub fn n_estimators(&self) -> usize {
        self.n_estimators
    }
    /// Maximum depth (`None` = grow until the other limits stop).
    pub fn max_depth(&self) -> Option<usize> {
        self.max_depth
    }
    /// Minimum distinct samples a node needs to be split.
    pub fn min_samples_split(&self) -> usize {
        self.min_samples_split
    }
    /// Minimum distinct samples in each child of a split.
    pub fn min_samples_leaf(&self) -> usize {
        self.min_samples_leaf
    }
    /// Minimum weighted impurity decrease for a split (scikit-learn's definition).
    pub fn min_impurity_decrease(&self) -> f64 {
        self.min_impurity_decrease
    }
    /// Split candidates per node.
    pub fn max_features(&self) -> MaxFeatures {
        self.max_features
    }
    /// Impurity criterion.
    pub fn criterion(&self) -> Criterion {
        self.criterion
    }
    /// Class weighting.
    pub fn class_weight(&self) -> ClassWeight {
        self.class_weight
    }
    /// Whether each tree sees a bootstrap sample.
    pub fn bootstrap(&self) -> bool {
        self.bootstrap
    }
    /// Whether the out-of-bag score is computed.
    pub fn oob_score(&self) -> bool {
        self.oob_score
    }
    /// Maximum histogram bins per feature.
    pub fn max_bins(&self) -> usize {
        self.max_bins
    }
    /// Random seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Training threads (0 = all cores).
    pub fn n_jobs(&self) -> usize {
        self.n_jobs
    }
    /// Whether a progress bar is drawn (only when stderr is a terminal).
    pub fn progress(&self) -> bool {
        self.progress
    }

    /// Checks every setting (also re-run by `fit`, since deserialized values skip `check`).
    pub(crate) fn validate(&self) -> Result<()> {
        fn bad(
            name: &'static str,
            value: impl std::fmt::Debug,
            reason: &'static str,
        ) -> TrainError {
            TrainError::InvalidParameter {
                name,
                value: format!("{value:?}"),
                reason,
            }
        }
        if self.n_estimators == 0 {
            return Err(bad("n_estimators", self.n_estimators, "must be at least 1"));
        }
        if self.max_depth == Some(0) {
            return Err(bad(
                "max_depth",
                self.max_depth,
                "must be at least 1 (or None)",
            ));
        }
        if self.min_samples_split < 2 {
            return Err(bad(
                "min_samples_split",
                self.min_samples_split,
                "must be at least 2",
            ));
        }
        if self.min_samples_leaf == 0 {
            return Err(bad(
                "min_samples_leaf",
                self.min_samples_leaf,
                "must be at least 1",
            ));
        }
        if !(self.min_impurity_decrease.is_finite() && self.min_impurity_decrease >= 0.0) {
            return Err(bad(
                "min_impurity_decrease",
                self.min_impurity_decrease,
                "must be a finite number >= 0",
            ));
        }
        if let MaxFeatures::Fraction(f) = self.max_features
            && !(f.is_finite() && f > 0.0 && f <= 1.0)
        {
            return Err(bad(
                "max_features",
                self.max_features,
                "fraction must be in (0, 1]",
            ));
        }
        if !(2..=255).contains(&self.max_bins) {
            return Err(bad("max_bins", self.max_bins, "must be in 2..=255"));
        }
        if self.oob_score && !self.bootstrap {
            return Err(bad(
                "oob_score",
                self.oob_score,
                "needs bootstrap = true (without bootstrap no sample is out of bag)",
            ));
        }
        Ok(())
    }
}

/// Unvalidated random-forest hyperparameters with builder setters.
///
/// `Default` is the original project's model: 100 trees, `max_depth` 10, `min_samples_split` 5,
/// `min_samples_leaf` 2, `max_features` sqrt, gini, bootstrap, seed 42, all cores.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RandomForestParams(RandomForestValidParams);

impl RandomForestParams {
    /// The defaults (same as `Default`).
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of trees.
    pub fn n_estimators(mut self, n: usize) -> Self {
        self.0.n_estimators = n;
        self
    }
    /// Maximum depth (`None` = unlimited).
    pub fn max_depth(mut self, depth: Option<usize>) -> Self {
        self.0.max_depth = depth;
        self
    }
    /// Minimum distinct samples to split a node.
    pub fn min_samples_split(mut self, n: usize) -> Self {
        self.0.min_samples_split = n;
        self
    }
    /// Minimum distinct samples per leaf.
    pub fn min_samples_leaf(mut self, n: usize) -> Self {
        self.0.min_samples_leaf = n;
        self
    }
    /// Minimum weighted impurity decrease of a split.
    pub fn min_impurity_decrease(mut self, v: f64) -> Self {
        self.0.min_impurity_decrease = v;
        self
    }
    /// Split candidates per node.
    pub fn max_features(mut self, m: MaxFeatures) -> Self {
        self.0.max_features = m;
        self
    }
    /// Impurity criterion.
    pub fn criterion(mut self, c: Criterion) -> Self {
        self.0.criterion = c;
        self
    }
    /// Class weighting.
    pub fn class_weight(mut self, w: ClassWeight) -> Self {
        self.0.class_weight = w;
        self
    }
    /// Bootstrap sampling on/off.
    pub fn bootstrap(mut self, on: bool) -> Self {
        self.0.bootstrap = on;
        self
    }
    /// Compute the out-of-bag score.
    pub fn oob_score(mut self, on: bool) -> Self {
        self.0.oob_score = on;
        self
    }
    /// Maximum histogram bins per feature (2..=255, as `model.max_bins`).
    pub fn max_bins(mut self, n: usize) -> Self {
        self.0.max_bins = n;
        self
    }
    /// Random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Training threads (0 = all cores).
    pub fn n_jobs(mut self, n: usize) -> Self {
        self.0.n_jobs = n;
        self
    }
    /// Draw a progress bar while training (only when stderr is a terminal).
    pub fn progress(mut self, on: bool) -> Self {
        self.0.progress = on;
        self
    }
}

impl From<RandomForestValidParams> for RandomForestParams {
    fn from(valid: RandomForestValidParams) -> Self {
        Self(valid)
    }
}

impl linfa::ParamGuard for RandomForestParams {
    type Checked = RandomForestValidParams;
    type Error = TrainError;

    fn check_ref(&self) -> Result<&Self::Checked> {
        self.0.validate()?;
        Ok(&self.0)
    }

    fn check(self) -> Result<Self::Checked> {
        self.0.validate()?;
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::ParamGuard;

    #[test]
    fn max_features_resolution_matches_sklearn() {
        assert_eq!(MaxFeatures::Sqrt.resolve(12), 3);
        assert_eq!(MaxFeatures::Log2.resolve(12), 3);
        assert_eq!(MaxFeatures::Fraction(0.5).resolve(12), 6);
        assert_eq!(MaxFeatures::Fraction(0.01).resolve(12), 1);
        assert_eq!(MaxFeatures::All.resolve(12), 12);
        assert_eq!(MaxFeatures::Sqrt.resolve(1), 1);
    }

    #[test]
    fn each_invalid_parameter_is_named_with_its_value() {
        let cases: Vec<(RandomForestParams, &str, &str)> = vec![
            (
                RandomForestParams::new().n_estimators(0),
                "n_estimators",
                "0",
            ),
            (
                RandomForestParams::new().max_depth(Some(0)),
                "max_depth",
                "Some(0)",
            ),
            (
                RandomForestParams::new().min_samples_split(1),
                "min_samples_split",
                "1",
            ),
            (
                RandomForestParams::new().min_samples_leaf(0),
                "min_samples_leaf",
                "0",
            ),
            (
                RandomForestParams::new().min_impurity_decrease(-0.5),
                "min_impurity_decrease",
                "-0.5",
            ),
            (
                RandomForestParams::new().max_features(MaxFeatures::Fraction(1.5)),
                "max_features",
                "1.5",
            ),
            (RandomForestParams::new().max_bins(1), "max_bins", "1"),
            (RandomForestParams::new().max_bins(300), "max_bins", "300"),
            (
                RandomForestParams::new().bootstrap(false).oob_score(true),
                "oob_score",
                "true",
            ),
        ];
        for (params, name, value) in cases {
            let err = params.check_ref().unwrap_err().to_string();
            assert!(err.contains(&format!("`{name}`")), "{err}");
            assert!(err.contains(value), "{err}");
        }
    }

    #[test]
    fn defaults_are_the_original_settings_and_valid() {
        let p = RandomForestParams::default().check().unwrap();
        assert_eq!(p.n_estimators(), 100);
        assert_eq!(p.max_depth(), Some(10));
        assert_eq!(p.min_samples_split(), 5);
        assert_eq!(p.min_samples_leaf(), 2);
        assert_eq!(p.max_features(), MaxFeatures::Sqrt);
        assert_eq!(p.seed(), 42);
    }
}
