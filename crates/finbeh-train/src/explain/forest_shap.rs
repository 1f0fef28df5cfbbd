//! TreeSHAP of the whole forest: the mean of its trees' values, per engineered feature.

use std::cell::RefCell;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::quadrature::GaussLegendre;
use super::shap_tree::{ShapScratch, ShapTree};
use crate::error::{Result, TrainError};
use crate::forest::{RandomForest, check_row};

/// Deepest tree explained: the quadrature needs `⌈depth / 2⌉` points per node, so a forged
/// artifact of chain-like trees cannot make one row cost millions of operations per node.
pub const MAX_EXPLAINED_DEPTH: usize = 128;

thread_local! {
    static SCRATCH: RefCell<ShapScratch> = RefCell::new(ShapScratch::default());
}

/// Exact path-dependent TreeSHAP values of a [`RandomForest`]'s probabilities.
///
/// Outputs: a binary forest explains the positive class's probability (one output); a
/// multi-class forest explains every class (one output per class). For every row,
/// `base[c] + Σ_f phi[f][c]` equals the served probability of output `c` up to rounding
/// (about 1e-15).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeShap {
    trees: Vec<ShapTree>,
    rule: GaussLegendre,
    n_features: usize,
    n_outputs: usize,
    base: Vec<f64>,
}

impl TreeShap {
    /// Builds the explainer from a forest and each tree's node cover (per tree, one training
    /// cover per node in the forest's canonical preorder).
    pub fn new(forest: &RandomForest, cover: &[Vec<f64>]) -> Result<Self> {
        let trees = forest.preorder_trees();
        if cover.len() != trees.len() {
            return Err(TrainError::InvalidCover {
                reason: format!(
                    "cover for {} trees, the forest has {}",
                    cover.len(),
                    trees.len()
                ),
            });
        }
        let n_outputs = forest.n_outputs();
        let shap_trees = trees
            .iter()
            .zip(cover)
            .enumerate()
            .map(|(t, (tree, cover))| {
                ShapTree::new(tree, cover, n_outputs).map_err(|e| match e {
                    TrainError::InvalidCover { reason } => TrainError::InvalidCover {
                        reason: format!("tree {t}: {reason}"),
                    },
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_trees(shap_trees, forest.n_features(), n_outputs)
    }

    pub(crate) fn from_trees(
        trees: Vec<ShapTree>,
        n_features: usize,
        n_outputs: usize,
    ) -> Result<Self> {
        let depth = trees.iter().map(ShapTree::depth).max().unwrap_or(0);
        if depth > MAX_EXPLAINED_DEPTH {
            return Err(TrainError::InvalidCover {
                reason: format!(
                    "a tree is {depth} levels deep; explanations support at most {MAX_EXPLAINED_DEPTH}"
                ),
            });
        }
        let n_trees = trees.len().max(1) as f64;
        let mut base = vec![0.0; n_outputs];
        for tree in &trees {
            for (b, e) in base.iter_mut().zip(tree.expected()) {
                *b += e;
            }
        }
        for b in &mut base {
            *b /= n_trees;
        }
        Ok(Self {
            trees,
            rule: GaussLegendre::new(depth.div_ceil(2)),
            n_features,
            n_outputs,
            base,
        })
    }

    /// Outputs explained: 1 for a binary forest (the positive class), else one per class.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Number of engineered features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The expected output over the training cover, per output (the mean of the trees').
    pub fn base(&self) -> &[f64] {
        &self.base
    }

    /// SHAP values of one row (finite, `n_features` long) into `phi` (`n_features × n_outputs`,
    /// feature-major). No allocation once the thread's buffers have grown.
    pub fn explain_row(&self, row: &[f32], phi: &mut [f64]) -> Result<()> {
        let len = self.n_features * self.n_outputs;
        if phi.len() != len {
            return Err(TrainError::LengthMismatch {
                what: "SHAP values vs features × outputs",
                expected: len,
                got: phi.len(),
            });
        }
        check_row(row, self.n_features)?;
        phi.fill(0.0);
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            for tree in &self.trees {
                tree.explain(row, &self.rule, self.n_outputs, &mut scratch, phi);
            }
        });
        let n_trees = self.trees.len().max(1) as f64;
        for p in phi.iter_mut() {
            *p /= n_trees;
        }
        Ok(())
    }

    /// SHAP values of every row: `rows × (n_features · n_outputs)`, parallel over rows on the
    /// current rayon pool, each row bit-identical to [`Self::explain_row`].
    pub fn explain_rows(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f64>> {
        let len = self.n_features * self.n_outputs;
        let n = x.nrows();
        let mut out = Array2::<f64>::zeros((n, len));
        let results: Vec<Result<()>> = out
            .outer_iter_mut()
            .into_par_iter()
            .zip(x.outer_iter().into_par_iter())
            .enumerate()
            .map(|(r, (mut phi, row))| {
                let phi = phi.as_slice_mut().ok_or(TrainError::LengthMismatch {
                    what: "contiguous SHAP row",
                    expected: len,
                    got: 0,
                })?;
                let result = match row.as_slice() {
                    Some(row) => self.explain_row(row, phi),
                    None => self.explain_row(&row.to_vec(), phi),
                };
                result.map_err(|e| match e {
                    TrainError::NonFinite { column, value, .. } => TrainError::NonFinite {
                        row: r,
                        column,
                        value,
                    },
                    other => other,
                })
            })
            .collect();
        results.into_iter().collect::<Result<()>>()?;
        Ok(out)
    }
}
