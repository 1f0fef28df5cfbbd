//! TreeSHAP of the whole forest: the mean of its trees' values, per engineered feature.

use std::borrow::Cow;
use std::cell::RefCell;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::quadrature::{GaussLegendre, points_for_depth};
use super::shap_tree::{ShapScratch, ShapTree};
use crate::error::{Result, TrainError};
use crate::forest::{RandomForest, check_finite, check_row};

/// Deepest tree explained: the quadrature needs `⌈depth / 2⌉` points per node, so a forged
/// artifact of chain-like trees cannot make one row cost millions of operations per node.
pub const MAX_EXPLAINED_DEPTH: usize = 128;

/// Rows explained together, tree by tree (a tree's nodes and its per-row buffers stay in cache).
const BLOCK_ROWS: usize = 32;
/// Rows of a block walked in lock-step through a tree (one lane each); the rest of a block
/// goes one row at a time. A row's values are the same either way.
const LANES: usize = 8;

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
    /// Quadrature points per node (one of `POINT_COUNTS`).
    points: usize,
    n_features: usize,
    n_outputs: usize,
    base: Vec<f64>,
}

impl TreeShap {
    /// Builds the explainer from a forest and its node cover: every node's training cover,
    /// trees in order, each tree's nodes in canonical preorder (as the artifact stores it).
    pub fn new(forest: &RandomForest, cover: &[f64]) -> Result<Self> {
        let trees = forest.preorder_trees();
        let total: usize = trees.iter().map(|t| t.nodes.len()).sum();
        if cover.len() != total {
            return Err(TrainError::InvalidCover {
                reason: format!("{} cover values, the forest has {total} nodes", cover.len()),
            });
        }
        let n_outputs = forest.n_outputs();
        let mut offset = 0;
        let mut shap_trees = Vec::with_capacity(trees.len());
        for (t, tree) in trees.iter().enumerate() {
            let n = tree.nodes.len();
            let tree_cover = &cover[offset..offset + n];
            offset += n;
            let shap = ShapTree::new(tree, tree_cover, n_outputs).map_err(|e| match e {
                TrainError::InvalidCover { reason } => TrainError::InvalidCover {
                    reason: format!("tree {t}: {reason}"),
                },
                other => other,
            })?;
            shap_trees.push(shap);
        }
        Self::from_trees(shap_trees, forest.n_features(), n_outputs)
    }

    pub(crate) fn from_trees(
        mut trees: Vec<ShapTree>,
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
        let points = points_for_depth(depth).ok_or_else(|| TrainError::InvalidCover {
            reason: format!(
                "a tree is {depth} levels deep; explanations support at most {MAX_EXPLAINED_DEPTH}"
            ),
        })?;
        let rule = GaussLegendre::new(points);
        for tree in &mut trees {
            tree.prepare(&rule);
        }
        Ok(Self {
            points,
            trees,
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
        check_row(row, self.n_features)?;
        self.check_phi(phi.len(), 1)?;
        self.explain_block(row, phi);
        Ok(())
    }

    /// SHAP values of every row: `rows × (n_features · n_outputs)`, parallel over blocks of
    /// rows on the current rayon pool, each row bit-identical to [`Self::explain_row`].
    pub fn explain_rows(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f64>> {
        if x.ncols() != self.n_features {
            return Err(TrainError::ModelShape {
                what: "features",
                expected: self.n_features,
                got: x.ncols(),
            });
        }
        check_finite(x)?;
        let n = x.nrows();
        let len = self.n_features * self.n_outputs;
        let rows: Cow<'_, [f32]> = match x.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(x.iter().copied().collect()),
        };
        let cells = n.checked_mul(len).ok_or(TrainError::LengthMismatch {
            what: "SHAP values (rows × features × outputs overflow)",
            expected: usize::MAX,
            got: n,
        })?;
        let mut out = vec![0.0; cells];
        let nf = self.n_features.max(1);
        out.par_chunks_mut(BLOCK_ROWS * len.max(1))
            .zip(rows.par_chunks(BLOCK_ROWS * nf))
            .for_each(|(phi, block)| self.explain_block(block, phi));
        Array2::from_shape_vec((n, len), out).map_err(|e| TrainError::Linfa(e.into()))
    }

    fn check_phi(&self, got: usize, rows: usize) -> Result<()> {
        let len = self.n_features * self.n_outputs * rows;
        if got != len {
            return Err(TrainError::LengthMismatch {
                what: "SHAP values vs features × outputs",
                expected: len,
                got,
            });
        }
        Ok(())
    }

    /// Validated consecutive rows into their SHAP values. Tree-major over the block, so a tree's
    /// nodes stay in cache while its rows are explained; each row still sums the trees in tree
    /// order, so a row's values do not depend on the block it is in.
    fn explain_block(&self, rows: &[f32], phi: &mut [f64]) {
        let nf = self.n_features.max(1);
        let len = self.n_features * self.n_outputs;
        phi.fill(0.0);
        SCRATCH.with(|scratch| {
            let mut fresh = ShapScratch::default();
            let mut borrowed = scratch.try_borrow_mut();
            let scratch = match &mut borrowed {
                Ok(scratch) => &mut **scratch,
                Err(_) => &mut fresh,
            };
            let lanes_rows = rows.len() / (nf * LANES) * (nf * LANES);
            let lanes_phi = lanes_rows / nf * len;
            let (full, rest) = rows.split_at(lanes_rows);
            let (full_phi, rest_phi) = phi.split_at_mut(lanes_phi);
            for tree in &self.trees {
                let lanes = full
                    .chunks_exact(nf * LANES)
                    .zip(full_phi.chunks_exact_mut(len * LANES));
                for (rows, phi) in lanes {
                    explain_tree::<LANES>(tree, self.points, rows, self.n_outputs, scratch, phi);
                }
                for (row, phi) in rest.chunks_exact(nf).zip(rest_phi.chunks_exact_mut(len)) {
                    explain_tree::<1>(tree, self.points, row, self.n_outputs, scratch, phi);
                }
            }
        });
        let n_trees = self.trees.len().max(1) as f64;
        for p in phi.iter_mut() {
            *p /= n_trees;
        }
    }
}

/// [`ShapTree::explain`] compiled for the forest's number of quadrature points.
pub(crate) fn explain_tree<const L: usize>(
    tree: &ShapTree,
    points: usize,
    rows: &[f32],
    n_outputs: usize,
    scratch: &mut ShapScratch,
    phi: &mut [f64],
) {
    macro_rules! compiled_for {
        ($($q:literal),*) => {
            match points {
                $($q => tree.explain::<$q, L>(rows, n_outputs, scratch, phi),)*
                _ => tree.explain::<64, L>(rows, n_outputs, scratch, phi),
            }
        };
    }
    // Every count of `POINT_COUNTS` but the last, which is the fallback arm.
    compiled_for!(1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 48)
}
