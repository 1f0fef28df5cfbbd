//! Exact path-dependent TreeSHAP of one tree, with per-row work only where the row decides it.
//!
//! Lundberg et al. (2018) define, for a leaf `l` with value `v` and the `d` distinct features
//! on its path, a *zero fraction* `z_j` (the product of the cover ratios of the splits on `j`)
//! and a *one fraction* `o_j` (1 when the row follows every split on `j` along the path, else
//! 0). The leaf's Shapley value for feature `i` is
//! `v (o_i − z_i) ∫_0^1 Π_{j≠i} (t o_j + (1 − t) z_j) dt` (Algorithm 2's sum over subsets as a
//! Beta integral). With `H` the *hot* features (`o = 1`, `h` of them), `C` the cold ones and
//! `e_m` the elementary symmetric polynomials of the hot `z`, expanding the product gives
//!
//! - every cold feature the same value, `−v Z_C Σ_{m≤h} β(d, m) e_{h−m}(z_H)`,
//! - a hot feature `i`, `v (1 − z_i) Z_C Σ_{m<h} β(d, m) e_{h−1−m}(z_{H∖i})`,
//!
//! with `Z_C = Π_{j∈C} z_j` and `β(d, m) = m! (d − 1 − m)! / d!`. So a row costs, per leaf,
//! `O(h²)` for its hot features only (few, except near the row's own path), and one number for
//! all of its cold ones. Those are not added per leaf: a feature turns cold at the first split
//! the row disagrees with, so a pass up the tree sums the leaves' cold values per subtree and
//! hands each sum to the feature of the edge where it turned cold. No table grows with the
//! tree beyond one `z` and one feature id per leaf and path feature (Fast TreeSHAP v2's
//! per-leaf subset tables would take `2^d` values per leaf instead).
//!
//! All terms of `e_m` and `Z_C` are products of cover ratios in `(0, 1]`, so nothing overflows
//! and nothing cancels but the hot feature's deflation `e_m(z_{H∖i}) = e_m(z_H) − z_i e_{m−1}(..)`,
//! whose error does not grow (`z_i ≤ 1`) and stays at rounding level in absolute terms.

use crate::error::{Result, TrainError};
use crate::tree::{LEAF, PreorderTree};

/// No node / no feature.
const NONE: u32 = u32::MAX;

/// Bits of a path's distinct features, in order of first appearance from the root (bit `b` is
/// the `b`-th distinct feature). Trees are explained up to `MAX_EXPLAINED_DEPTH` = 128 levels,
/// so a path has at most 128 distinct features.
type PathMask = u128;
/// Bits a [`PathMask`] holds.
pub(crate) const PATH_MASK_BITS: usize = PathMask::BITS as usize;

#[derive(Debug, Clone, Copy, PartialEq)]
struct ShapNode {
    /// Split feature, or `NONE` for a leaf.
    feature: u32,
    /// Rows with `x[feature] <= threshold` go left (the forest's own rule).
    threshold: f32,
    /// Right child (the left one is the next node in preorder); for a leaf, its index in
    /// `ShapTree::leaves`.
    right: u32,
    /// Bit of the split feature among the distinct features of the path to this node.
    bit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ShapLeaf {
    /// First of its `distinct` entries in `ShapTree::zero` and `ShapTree::features`.
    start: u32,
    /// Distinct features on its path.
    distinct: u32,
    /// First of its `n_outputs` values in `ShapTree::values`.
    value: u32,
    /// Every value is 0: the leaf adds nothing for any row.
    zero: bool,
}

/// One tree laid out for explanation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapTree {
    nodes: Vec<ShapNode>,
    leaves: Vec<ShapLeaf>,
    /// Per leaf, per path feature (by bit): its zero fraction `z`.
    zero: Vec<f64>,
    /// Per leaf, per path feature (by bit): its feature index.
    features: Vec<u32>,
    values: Vec<f64>,
    n_outputs: usize,
    /// The tree's expected output over its training cover, per output.
    expected: Vec<f64>,
    depth: usize,
    /// The most distinct features on one path.
    max_distinct: usize,
}

/// `β(d, m) = m! (d − 1 − m)! / d! = ∫_0^1 t^m (1 − t)^(d−1−m) dt` for `0 ≤ m < d ≤ max`: the
/// Shapley weight of a coalition of `m` among `d` players, summed over the coalitions' orders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BetaTable {
    /// Row `d` (`d` entries) starts at `d (d − 1) / 2`.
    values: Vec<f64>,
}

impl BetaTable {
    /// Every `β(d, m)` for `d ≤ max`.
    pub(crate) fn new(max: usize) -> Self {
        let mut values = Vec::with_capacity(max * (max + 1) / 2);
        for d in 1..=max {
            // β(d, 0) = 1/d; β(d, m + 1) = β(d, m) (m + 1) / (d − 1 − m).
            let mut b = 1.0 / d as f64;
            for m in 0..d {
                values.push(b);
                if m + 1 < d {
                    b *= (m + 1) as f64 / (d - 1 - m) as f64;
                }
            }
        }
        Self { values }
    }

    /// `β(d, ·)`, `d` values.
    fn row(&self, d: usize) -> &[f64] {
        let start = d * d.saturating_sub(1) / 2;
        &self.values[start..start + d]
    }

    /// The largest `d` held.
    fn max(&self) -> usize {
        // n = max (max + 1) / 2 ⇒ max = ⌊√(2n)⌋.
        let n = self.values.len();
        let mut max = ((2 * n) as f64).sqrt() as usize;
        while max * (max + 1) / 2 > n {
            max -= 1;
        }
        max
    }
}

/// Reusable per-thread buffers of [`ShapTree::explain`].
#[derive(Debug, Default)]
pub(crate) struct ShapScratch {
    /// Down pass: the path features the row disagreed with, per node.
    cold: Vec<PathMask>,
    /// Down pass: the feature that turns cold on the edge into the node (first disagreement on
    /// it along the path), or `NONE`.
    turns_cold: Vec<u32>,
    /// Up pass: per node and output, the sum of its leaves' cold values.
    sums: Vec<f64>,
    /// A leaf's hot zero fractions, then `e_0..e_h` of them.
    hot: Vec<f64>,
    elementary: Vec<f64>,
    hot_features: Vec<u32>,
}

impl ShapTree {
    /// Lays out a preorder tree with one training cover per node (in preorder).
    pub(crate) fn new(tree: &PreorderTree, cover: &[f64], n_outputs: usize) -> Result<Self> {
        let n = tree.nodes.len();
        let bad = |reason: String| TrainError::InvalidCover { reason };
        if cover.len() != n {
            return Err(bad(format!("{} cover values for {n} nodes", cover.len())));
        }
        if let Some((i, c)) = cover
            .iter()
            .enumerate()
            .find(|(_, c)| !(c.is_finite() && **c > 0.0))
        {
            return Err(bad(format!(
                "node {i} has cover {c}: must be finite and > 0"
            )));
        }
        if n >= NONE as usize {
            return Err(bad(format!("{n} nodes exceed the supported 2^32 − 1")));
        }
        // Parents first (preorder): the left child follows its parent, the right child follows
        // the left subtree.
        let mut parent = vec![NONE; n];
        let mut right = vec![NONE; n];
        let mut pending: Vec<(u32, bool)> = Vec::new();
        for (i, node) in tree.nodes.iter().enumerate() {
            match pending.pop() {
                Some((p, is_right)) => {
                    parent[i] = p;
                    if is_right {
                        right[p as usize] = i as u32;
                    }
                }
                None if i == 0 => {}
                None => return Err(bad(format!("node {i} follows a complete tree"))),
            }
            if node.feature != LEAF {
                pending.push((i as u32, true));
                pending.push((i as u32, false));
            }
        }
        if !pending.is_empty() {
            return Err(bad("truncated tree: subtrees missing".into()));
        }
        // Per node: depth, distinct features on the path to it, and the bit of its own split
        // feature (that of the nearest ancestor splitting on it, else the next free one).
        let mut depth = vec![0usize; n];
        let mut distinct = vec![0usize; n];
        let mut bit = vec![0usize; n];
        for i in 0..n {
            if parent[i] != NONE {
                let p = parent[i] as usize;
                depth[i] = depth[p] + 1;
                // The parent's feature is new on the path iff its bit is the next free one.
                distinct[i] = distinct[p] + usize::from(bit[p] == distinct[p]);
            }
            if tree.nodes[i].feature != LEAF {
                let feature = tree.nodes[i].feature;
                let mut a = parent[i];
                bit[i] = distinct[i];
                while a != NONE {
                    if tree.nodes[a as usize].feature == feature {
                        bit[i] = bit[a as usize];
                        break;
                    }
                    a = parent[a as usize];
                }
            }
        }
        let max_depth = depth.iter().copied().max().unwrap_or(0);
        if max_depth > PATH_MASK_BITS {
            return Err(bad(format!(
                "a tree is {max_depth} levels deep; explanations support at most {PATH_MASK_BITS}"
            )));
        }
        let mut nodes = Vec::with_capacity(n);
        let mut leaves = Vec::new();
        let (mut zero, mut features, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for (i, node) in tree.nodes.iter().enumerate() {
            if node.feature != LEAF {
                nodes.push(ShapNode {
                    feature: u32::from(node.feature),
                    threshold: node.threshold,
                    right: right[i],
                    bit: bit[i] as u32,
                });
                continue;
            }
            let leaf = leaves.len();
            let src = tree
                .leaf_values
                .get(leaf * n_outputs..(leaf + 1) * n_outputs)
                .ok_or_else(|| bad(format!("leaf {leaf} has no values")))?;
            let d = distinct[i];
            let start = zero.len();
            zero.resize(start + d, 1.0);
            features.resize(start + d, NONE);
            // Up the path: each split multiplies its feature's zero fraction by its ratio.
            let (mut c, mut p) = (i, parent[i]);
            while p != NONE {
                let pu = p as usize;
                zero[start + bit[pu]] *= cover[c] / cover[pu];
                features[start + bit[pu]] = u32::from(tree.nodes[pu].feature);
                (c, p) = (pu, parent[pu]);
            }
            leaves.push(ShapLeaf {
                start: start as u32,
                distinct: d as u32,
                value: values.len() as u32,
                zero: src.iter().all(|&v| v == 0.0),
            });
            values.extend(src.iter().map(|&v| f64::from(v)));
            nodes.push(ShapNode {
                feature: NONE,
                threshold: f32::INFINITY,
                right: leaf as u32,
                bit: 0,
            });
        }
        // Expected output over the cover: each leaf weighted by the product of the cover ratios
        // on its path (the empty coalition of the path-dependent expectation).
        let mut expected = vec![0.0; n_outputs];
        let mut weight = vec![1.0f64; n];
        for i in 1..n {
            let p = parent[i] as usize;
            weight[i] = weight[p] * (cover[i] / cover[p]);
        }
        for (node, w) in nodes.iter().zip(&weight) {
            if node.feature == NONE {
                let leaf = &leaves[node.right as usize];
                let v = &values[leaf.value as usize..leaf.value as usize + n_outputs];
                for (e, v) in expected.iter_mut().zip(v) {
                    *e += w * v;
                }
            }
        }
        Ok(Self {
            nodes,
            leaves,
            zero,
            features,
            values,
            n_outputs,
            expected,
            depth: max_depth,
            max_distinct: distinct.into_iter().max().unwrap_or(0),
        })
    }

    /// Depth of the deepest leaf.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// The most distinct features on one root-to-leaf path (the `β` rows it needs).
    pub(crate) fn max_distinct(&self) -> usize {
        self.max_distinct
    }

    /// The tree's expected output over its training cover, per output.
    pub(crate) fn expected(&self) -> &[f64] {
        &self.expected
    }

    /// Adds this tree's SHAP values of one finite row (`n_features` long) to `phi`
    /// (`features × outputs`, feature-major). `beta` must hold rows up to
    /// [`Self::max_distinct`]. The additions to `phi` come in a fixed order, so a row's values
    /// do not depend on anything but the row.
    pub(crate) fn explain(
        &self,
        row: &[f32],
        beta: &BetaTable,
        scratch: &mut ShapScratch,
        phi: &mut [f64],
    ) {
        debug_assert!(beta.max() >= self.max_distinct);
        let n = self.nodes.len();
        let k = self.n_outputs;
        scratch.cold.resize(n, 0);
        scratch.turns_cold.resize(n, NONE);
        scratch.sums.resize(n * k, 0.0);
        let width = self.max_distinct + 1;
        scratch.hot.resize(width, 0.0);
        scratch.elementary.resize(width, 0.0);
        scratch.hot_features.resize(width, NONE);
        let cold = &mut scratch.cold[..n];
        let turns_cold = &mut scratch.turns_cold[..n];

        // Down: which path features each node's path disagrees with, and where each turns cold.
        cold[0] = 0;
        turns_cold[0] = NONE;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.feature == NONE {
                continue;
            }
            let goes_left = row[node.feature as usize] <= node.threshold;
            let bit: PathMask = 1 << node.bit;
            let here = cold[i];
            let first = if here & bit == 0 { node.feature } else { NONE };
            let (agree, disagree) = if goes_left {
                (i + 1, node.right as usize)
            } else {
                (node.right as usize, i + 1)
            };
            cold[agree] = here;
            turns_cold[agree] = NONE;
            cold[disagree] = here | bit;
            turns_cold[disagree] = first;
        }

        // Up: leaves add their hot features' values and leave their cold value in `sums`;
        // inner nodes sum their children's, and an edge where a feature turns cold takes the
        // subtree's sum off that feature.
        for i in (0..n).rev() {
            let node = self.nodes[i];
            if node.feature == NONE {
                let leaf = self.leaves[node.right as usize];
                let sums = &mut scratch.sums[i * k..i * k + k];
                if leaf.zero {
                    sums.fill(0.0);
                    continue;
                }
                let cold_value = self.explain_leaf(
                    leaf,
                    scratch.cold[i],
                    beta,
                    &mut scratch.hot,
                    &mut scratch.elementary,
                    &mut scratch.hot_features,
                    phi,
                );
                let v = &self.values[leaf.value as usize..leaf.value as usize + k];
                for (s, v) in sums.iter_mut().zip(v) {
                    *s = cold_value * v;
                }
            } else {
                let (l, r) = ((i + 1) * k, node.right as usize * k);
                for c in 0..k {
                    scratch.sums[i * k + c] = scratch.sums[l + c] + scratch.sums[r + c];
                }
            }
            let feature = scratch.turns_cold[i];
            if feature != NONE {
                let at = feature as usize * k;
                for c in 0..k {
                    phi[at + c] -= scratch.sums[i * k + c];
                }
            }
        }
    }

    /// Adds the hot features' values of one leaf to `phi` and returns the value every cold
    /// feature gets, per unit of leaf value (`Z_C Σ_m β(d, m) e_{h−m}`; 0 when none is cold).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn explain_leaf(
        &self,
        leaf: ShapLeaf,
        cold: PathMask,
        beta: &BetaTable,
        hot: &mut [f64],
        elementary: &mut [f64],
        hot_features: &mut [u32],
        phi: &mut [f64],
    ) -> f64 {
        let d = leaf.distinct as usize;
        let start = leaf.start as usize;
        let zero = &self.zero[start..start + d];
        let features = &self.features[start..start + d];
        let beta = beta.row(d);
        let k = self.n_outputs;
        let v = &self.values[leaf.value as usize..leaf.value as usize + k];
        // Z_C and the hot features.
        let mut cold_product = 1.0;
        let mut h = 0;
        for b in 0..d {
            if cold >> b & 1 == 1 {
                cold_product *= zero[b];
            } else {
                hot[h] = zero[b];
                hot_features[h] = features[b];
                h += 1;
            }
        }
        // e_0..e_h of the hot zero fractions.
        elementary[0] = 1.0;
        for j in 0..h {
            let z = hot[j];
            elementary[j + 1] = 0.0;
            for m in (1..=j + 1).rev() {
                elementary[m] += z * elementary[m - 1];
            }
        }
        // A hot feature: deflate e by its factor (g_m = e_m − z g_{m−1}), weigh by β.
        for j in 0..h {
            let z = hot[j];
            let mut g = 1.0;
            let mut sum = beta[h - 1] * g;
            for m in 1..h {
                g = elementary[m] - z * g;
                sum += beta[h - 1 - m] * g;
            }
            let value = (1.0 - z) * cold_product * sum;
            let at = hot_features[j] as usize * k;
            for (p, v) in phi[at..at + k].iter_mut().zip(v) {
                *p += value * v;
            }
        }
        if h == d {
            return 0.0;
        }
        let mut sum = 0.0;
        for m in 0..=h {
            sum += beta[m] * elementary[h - m];
        }
        cold_product * sum
    }
}
