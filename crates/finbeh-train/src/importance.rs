//! Permutation importances on held-out rows.

use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::forest::RandomForest;
use crate::metrics;
use finbeh_data::Rng;

/// What a permutation is scored by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermutationScoring {
    /// ROC AUC (binary: of P(class 1); multi-class: macro one-vs-rest).
    RocAuc,
    /// Accuracy of the argmax class.
    Accuracy,
}

/// Mean and spread of the score drop when one feature's column is shuffled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermutationImportances {
    /// The scoring used.
    pub scoring: PermutationScoring,
    /// Score on the unshuffled rows.
    pub baseline: f64,
    /// Per feature, mean of `baseline − shuffled score` over the repeats.
    pub mean: Vec<f64>,
    /// Per feature, population standard deviation of the drops.
    pub std: Vec<f64>,
    /// Shuffles per feature.
    pub n_repeats: usize,
    /// Seed of the shuffles.
    pub seed: u64,
}

fn score(
    model: &RandomForest,
    x: ArrayView2<'_, f32>,
    y: &[usize],
    scoring: PermutationScoring,
) -> Result<f64> {
    let proba = model.predict_proba(x)?;
    match scoring {
        PermutationScoring::RocAuc => metrics::roc_auc_of_proba(y, proba.view()),
        PermutationScoring::Accuracy => {
            let pred: Vec<usize> = proba
                .outer_iter()
                .map(|p| crate::forest::argmax(&p.to_vec()))
                .collect();
            metrics::accuracy(y, &pred)
        }
    }
}

impl RandomForest {
    /// Permutation importances on held-out `(x, y)`: each feature's column is shuffled
    /// `n_repeats` times (shuffle `r` of feature `f` seeded by `(seed, f, r)` only) and the drop
    /// in `scoring` is recorded.
    pub fn permutation_importances(
        &self,
        x: ArrayView2<'_, f32>,
        y: &[usize],
        scoring: PermutationScoring,
        n_repeats: usize,
        seed: u64,
    ) -> Result<PermutationImportances> {
        if n_repeats == 0 {
            return Err(TrainError::InvalidParameter {
                name: "n_repeats",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        if y.len() != x.nrows() {
            return Err(TrainError::LengthMismatch {
                what: "labels vs feature rows",
                expected: x.nrows(),
                got: y.len(),
            });
        }
        let baseline = score(self, x, y, scoring)?;
        let per_feature: Vec<(f64, f64)> = (0..x.ncols())
            .into_par_iter()
            .map(|f| {
                let mut shuffled = x.to_owned();
                let original: Vec<f32> = x.column(f).to_vec();
                let mut drops = Vec::with_capacity(n_repeats);
                for r in 0..n_repeats {
                    let mut rng = Rng::for_stream(seed ^ (f as u64).rotate_left(32), r as u64);
                    let mut col = original.clone();
                    rng.shuffle(&mut col);
                    shuffled
                        .column_mut(f)
                        .assign(&ndarray::ArrayView1::from(&col));
                    drops.push(baseline - score(self, shuffled.view(), y, scoring)?);
                }
                let mean = drops.iter().sum::<f64>() / n_repeats as f64;
                let var = drops.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n_repeats as f64;
                Ok((mean, var.sqrt()))
            })
            .collect::<Result<_>>()?;
        Ok(PermutationImportances {
            scoring,
            baseline,
            mean: per_feature.iter().map(|p| p.0).collect(),
            std: per_feature.iter().map(|p| p.1).collect(),
            n_repeats,
            seed,
        })
    }
}
