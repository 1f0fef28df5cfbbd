//! Exact path-dependent TreeSHAP of one tree, in O(nodes × q) per row, without a branch on the
//! tree's shape.
//!
//! Lundberg et al. (2018) define, for a leaf `l` with value `v` and the distinct features `j`
//! on its path, a *one fraction* `o_j` (1 when the row follows every split on `j` along the
//! path, else 0) and a *zero fraction* `z_j` (the product of the cover ratios of those splits).
//! The path-dependent expectation of the leaf given the known features `S` is
//! `v Π_{j∈S} o_j Π_{j∉S} z_j`, and the Shapley value of feature `i` from that leaf is
//! `v (o_i − z_i) Σ_S |S|!(d−|S|−1)!/d! Π_{j∈S} o_j Π_{j∉S∪{i}} z_j`
//! `= v (o_i − z_i) ∫_0^1 Π_{j≠i} (t o_j + (1 − t) z_j) dt` (Beta integral), a polynomial of
//! degree `d − 1 ≤ depth − 1`, so a Gauss–Legendre rule with `⌈depth / 2⌉` points gives it exactly
//! (the idea of Linear TreeShap, Yu et al. 2022). Algorithm 2's values, without its O(depth²)
//! path bookkeeping per leaf. Inner nodes and leaves are kept apart, each in preorder:
//!
//! - down, over the inner nodes: `P_n(t_q) = Π_j (t_q o_j + (1 − t_q) z_j)` over the features on
//!   the path to `n`, from its parent's (a repeated feature's earlier factor is divided out);
//! - the leaves, in any order: `v P` goes to the parent's subtree sum `S`, and the edge into the
//!   leaf is credited `(o − z) Σ_q w_q v P(t_q) / f(t_q)`, minus the same sum with the weight of
//!   the earlier edge on the feature (those leaves' last split on it is this one);
//! - up, over the inner nodes in reverse preorder: each sum `S_n` is complete, is credited the
//!   same way and goes to the parent's.
//!
//! A node without an earlier edge on its feature points at a neutral entry whose factor is
//! exactly 1 and whose weight is exactly 0, so every node takes the same operations: no branch
//! depends on the tree's shape, which matters for a row explained alone (one lane), and the
//! lanes of rows explained together stay in lock-step. Credits are kept per feature and
//! quadrature point and summed over the points (times their weights) once per tree. Per node the
//! tree stores `z`, `1 / z` and the `q` reciprocals `1 / (t_q + (1 − t_q) z)`.

// The kernels index fixed-size `[[f64; L]; Q]` blocks by point and lane, the form that
// vectorizes over the lanes.
#![allow(clippy::needless_range_loop)]

use super::forest_shap::MAX_EXPLAINED_DEPTH;
use super::quadrature::GaussLegendre;
use crate::error::{Result, TrainError};
use crate::tree::{LEAF, PreorderTree};

/// The edge into a node (inner node or leaf).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Edge {
    /// Product of the cover ratios of every split on `feature` down to this node.
    zero_fraction: f64,
    /// `1 / zero_fraction`; 0 for the neutral entry.
    inv_zero_fraction: f64,
    /// 1.0 for a right child, 0.0 for a left one (the root: 0.0).
    right: f64,
    /// Index of the parent among the inner nodes.
    parent: u32,
    /// Index, among the inner nodes, of the nearest ancestor reached through a split on
    /// `feature`, or of the neutral entry (one past the inner nodes) if there is none.
    previous: u32,
    /// Feature of the parent's split.
    feature: u16,
}

/// An inner node: the edge into it and its own split.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Inner {
    edge: Edge,
    /// Rows with `x[split] <= threshold` go left (the forest's own rule).
    threshold: f32,
    split: u16,
}

/// A leaf: the edge into it and where its outputs start in `ShapTree::values`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Leaf {
    edge: Edge,
    value: u32,
}

/// One tree laid out for explanation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapTree {
    /// Inner nodes in preorder (the root first), then the neutral entry. Empty when the tree
    /// is a single leaf.
    inner: Vec<Inner>,
    /// Leaves in preorder.
    leaves: Vec<Leaf>,
    values: Vec<f64>,
    /// The tree's expected output over its training cover, per output.
    expected: Vec<f64>,
    /// The distinct features split on, ascending.
    features: Vec<u16>,
    depth: usize,
    /// Quadrature points of [`Self::prepare`].
    q: usize,
    /// The rule of [`Self::prepare`]: points `t`, `1 − t`, `1 / (1 − t)` and weights.
    points: Vec<f64>,
    one_minus_points: Vec<f64>,
    inv_one_minus_points: Vec<f64>,
    weights: Vec<f64>,
    /// `(inner + 1) × q` and `leaves × q`: `1 / (t + (1 − t) z)`, the reciprocal of the factor
    /// of a followed edge (1 for the neutral entry).
    inner_inv_hot: Vec<f64>,
    leaf_inv_hot: Vec<f64>,
}

/// Reusable per-thread buffers of [`ShapTree::explain`], sized for the largest tree seen.
#[derive(Debug, Default)]
pub(crate) struct ShapScratch {
    /// `P(t)` of each inner node (`(inner + 1) × q × lanes`).
    products: Vec<f64>,
    /// Subtree sums of `v P(t)` of each inner node (`inner × outputs × q × lanes`).
    sums: Vec<f64>,
    /// `o` of the edge into each inner node, 1.0 or 0.0 (`(inner + 1) × lanes`; the neutral
    /// entry's is 1).
    hot: Vec<f64>,
    /// 1.0 when the row goes left at each inner node, else 0.0 (`inner × lanes`).
    left: Vec<f64>,
    /// Credits per feature, output and point (`features × outputs × q × lanes`).
    credits: Vec<f64>,
}

/// The weight of an edge before the point's quadrature weight: `(o − z) / f(t)`, i.e.
/// `−1 / (1 − t)` when the row did not follow it and `(1 − z) / (t + (1 − t) z)` when it did
/// (exactly 0 for the neutral entry, whose `z` is 1 and `o` is 1).
#[inline(always)]
fn edge_weight<const Q: usize, const L: usize>(
    cold_weight: &[f64; Q],
    inv_hot: &[f64; Q],
    zero_fraction: f64,
    o: &[f64; L],
) -> [[f64; L]; Q] {
    let mut w = [[0.0; L]; Q];
    let one_minus_z = 1.0 - zero_fraction;
    for j in 0..Q {
        let step = one_minus_z * inv_hot[j] - cold_weight[j];
        for r in 0..L {
            w[j][r] = cold_weight[j] + o[r] * step;
        }
    }
    w
}

/// What the explanation of one tree reads, for `Q` points and `L` lanes.
struct Pass<'a, const Q: usize, const L: usize> {
    t: [f64; Q],
    omt: [f64; Q],
    inv_omt: [f64; Q],
    cold_weight: [f64; Q],
    inner: &'a [Inner],
    inner_inv_hot: &'a [[f64; Q]],
    /// Index of the neutral entry.
    neutral: usize,
}

impl<const Q: usize, const L: usize> Pass<'_, Q, L> {
    /// `o` of `edge` (whether the row followed every split on its feature down to it) and its
    /// node's `P(t)` from its parent's.
    #[inline(always)]
    fn enter(
        &self,
        edge: &Edge,
        products: &[[[f64; L]; Q]],
        hot: &[[f64; L]],
        left: &[[f64; L]],
    ) -> ([f64; L], [[f64; L]; Q]) {
        let parent = edge.parent as usize;
        let previous = edge.previous as usize;
        let (side, earlier_o) = (&left[parent], &hot[previous]);
        // |left − right| is 1 when the row took this side, else 0.
        let o: [f64; L] = std::array::from_fn(|r| (side[r] - edge.right).abs() * earlier_o[r]);
        let mut p = products[parent];
        let z = edge.zero_fraction;
        if L > 1 && previous == self.neutral {
            // The neutral entry's factor is exactly 1 and its `o` is 1, so skipping them gives
            // the same bits as the branchless path below (which a lone row takes: the branch
            // would be taken unpredictably, once per node, with no other lane to share it).
            for j in 0..Q {
                let cold = self.omt[j] * z;
                for r in 0..L {
                    p[j][r] *= cold + o[r] * self.t[j];
                }
            }
            return (o, p);
        }
        let earlier = &self.inner[previous].edge;
        let earlier_inv_hot = &self.inner_inv_hot[previous];
        for j in 0..Q {
            // This edge's factor, times the reciprocal of the feature's earlier factor on the
            // path (exactly 1 for the neutral entry).
            let cold = self.omt[j] * z;
            let inv_cold = self.inv_omt[j] * earlier.inv_zero_fraction;
            let inv_step = earlier_inv_hot[j] - inv_cold;
            for r in 0..L {
                p[j][r] *= (cold + o[r] * self.t[j]) * (inv_cold + earlier_o[r] * inv_step);
            }
        }
        (o, p)
    }

    /// The credit weight of `edge` (its own minus the earlier edge's on the feature).
    #[inline(always)]
    fn weight(
        &self,
        edge: &Edge,
        inv_hot: &[f64; Q],
        o: &[f64; L],
        hot: &[[f64; L]],
    ) -> [[f64; L]; Q] {
        let previous = edge.previous as usize;
        let mut weight = edge_weight::<Q, L>(&self.cold_weight, inv_hot, edge.zero_fraction, o);
        if L > 1 && previous == self.neutral {
            // The neutral entry's weight is exactly 0: `w − 0` is `w`, bit for bit.
            return weight;
        }
        let earlier = edge_weight::<Q, L>(
            &self.cold_weight,
            &self.inner_inv_hot[previous],
            self.inner[previous].edge.zero_fraction,
            &hot[previous],
        );
        for j in 0..Q {
            for r in 0..L {
                weight[j][r] -= earlier[j][r];
            }
        }
        weight
    }
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
        if n >= u32::MAX as usize {
            return Err(bad(format!("{n} nodes exceed the supported 2^32 − 1")));
        }
        // Parents first (preorder): the left child follows its parent, the right child follows
        // the left subtree.
        let mut parent = vec![u32::MAX; n];
        let mut is_right = vec![false; n];
        let mut pending: Vec<(u32, bool)> = Vec::new();
        for (i, node) in tree.nodes.iter().enumerate() {
            match pending.pop() {
                Some((p, right)) => {
                    parent[i] = p;
                    is_right[i] = right;
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
        // Per node: depth, the feature of the edge into it, its zero fraction and the index of
        // the inner node it is (inner nodes are numbered in preorder).
        let mut depth = vec![0usize; n];
        let mut edge_feature = vec![LEAF; n];
        let mut zero = vec![1.0f64; n];
        let mut inner_index = vec![u32::MAX; n];
        let n_inner = tree
            .nodes
            .iter()
            .filter(|node| node.feature != LEAF)
            .count();
        let neutral = n_inner as u32;
        let mut inner = Vec::with_capacity(n_inner + 1);
        let mut leaves = Vec::with_capacity(n - n_inner);
        let mut values = Vec::new();
        for (i, node) in tree.nodes.iter().enumerate() {
            let mut edge = Edge {
                zero_fraction: 1.0,
                inv_zero_fraction: 1.0,
                right: 0.0,
                parent: 0,
                previous: neutral,
                feature: LEAF,
            };
            let p = parent[i];
            if p != u32::MAX {
                let p = p as usize;
                depth[i] = depth[p] + 1;
                if depth[i] > MAX_EXPLAINED_DEPTH {
                    return Err(bad(format!(
                        "a tree is more than {MAX_EXPLAINED_DEPTH} levels deep; explanations \
                         support at most {MAX_EXPLAINED_DEPTH}"
                    )));
                }
                let feature = tree.nodes[p].feature;
                edge_feature[i] = feature;
                let mut a = p;
                while a != 0 && edge_feature[a] != feature {
                    a = parent[a] as usize;
                }
                let ratio = cover[i] / cover[p];
                zero[i] = if a != 0 {
                    edge.previous = inner_index[a];
                    ratio * zero[a]
                } else {
                    ratio
                };
                edge.zero_fraction = zero[i];
                edge.inv_zero_fraction = 1.0 / zero[i];
                edge.right = if is_right[i] { 1.0 } else { 0.0 };
                edge.parent = inner_index[p];
                edge.feature = feature;
            }
            if node.feature == LEAF {
                let leaf = leaves.len();
                let src = tree
                    .leaf_values
                    .get(leaf * n_outputs..(leaf + 1) * n_outputs)
                    .ok_or_else(|| bad(format!("leaf {leaf} has no values")))?;
                let value = u32::try_from(values.len())
                    .map_err(|_| bad("more than 2^32 leaf values".into()))?;
                values.extend(src.iter().map(|&v| f64::from(v)));
                leaves.push(Leaf { edge, value });
            } else {
                inner_index[i] = inner.len() as u32;
                inner.push(Inner {
                    edge,
                    threshold: node.threshold,
                    split: node.feature,
                });
            }
        }
        // Expected output over the cover: each leaf weighted by the product of the cover ratios
        // on its path (the empty coalition of the path-dependent expectation).
        let mut expected = vec![0.0; n_outputs];
        let mut weight = vec![1.0f64; n];
        for i in 1..n {
            let p = parent[i] as usize;
            weight[i] = weight[p] * (cover[i] / cover[p]);
        }
        let leaf_weights = tree
            .nodes
            .iter()
            .zip(&weight)
            .filter(|(node, _)| node.feature == LEAF);
        for ((_, w), leaf) in leaf_weights.zip(&leaves) {
            let v = &values[leaf.value as usize..leaf.value as usize + n_outputs];
            for (e, v) in expected.iter_mut().zip(v) {
                *e += w * v;
            }
        }
        let mut features: Vec<u16> = inner.iter().map(|node| node.split).collect();
        features.sort_unstable();
        features.dedup();
        if n_inner == 0 {
            // A single leaf: nothing to explain, no neutral entry.
            inner.clear();
        } else {
            // The neutral entry: z = 1 and o = 1 make its weight exactly 0, 1 / z = 0 and a hot
            // reciprocal of 1 make the factor it divides out exactly 1.
            inner.push(Inner {
                edge: Edge {
                    zero_fraction: 1.0,
                    inv_zero_fraction: 0.0,
                    right: 0.0,
                    parent: 0,
                    previous: neutral,
                    feature: LEAF,
                },
                threshold: f32::INFINITY,
                split: LEAF,
            });
        }
        Ok(Self {
            depth: depth.into_iter().max().unwrap_or(0),
            inner,
            leaves,
            values,
            expected,
            features,
            q: 0,
            points: Vec::new(),
            one_minus_points: Vec::new(),
            inv_one_minus_points: Vec::new(),
            weights: Vec::new(),
            inner_inv_hot: Vec::new(),
            leaf_inv_hot: Vec::new(),
        })
    }

    /// Depth of the deepest leaf.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// The tree's expected output over its training cover, per output.
    pub(crate) fn expected(&self) -> &[f64] {
        &self.expected
    }

    /// Stores the rule and, per node and point, the reciprocal of the factor of a followed
    /// edge, so explaining a row takes no division. `rule` must integrate polynomials of
    /// degree `depth − 1` exactly.
    pub(crate) fn prepare(&mut self, rule: &GaussLegendre) {
        self.q = rule.len();
        self.points = rule.nodes.clone();
        self.one_minus_points = rule.nodes.iter().map(|t| 1.0 - t).collect();
        self.inv_one_minus_points = rule.nodes.iter().map(|t| 1.0 / (1.0 - t)).collect();
        self.weights = rule.weights.clone();
        let reciprocals = |edges: &mut dyn Iterator<Item = &Edge>| -> Vec<f64> {
            let mut out = Vec::new();
            for edge in edges {
                let z = edge.zero_fraction;
                out.extend(rule.nodes.iter().map(|t| 1.0 / (t + (1.0 - t) * z)));
            }
            out
        };
        self.inner_inv_hot = reciprocals(&mut self.inner.iter().map(|node| &node.edge));
        if let Some(neutral) = self.inner_inv_hot.rchunks_mut(self.q.max(1)).next() {
            neutral.fill(1.0);
        }
        self.leaf_inv_hot = reciprocals(&mut self.leaves.iter().map(|leaf| &leaf.edge));
    }

    /// Adds this tree's SHAP values of `L` rows (`rows`: `L × nf`, row-major) to `phi`
    /// (`L × features × outputs`). The rows are explained in lock-step, one lane each, with
    /// the same operations per lane whatever `L`, so a row's values do not depend on the rows
    /// beside it. [`Self::prepare`] must have run with `Q` points.
    pub(crate) fn explain<const Q: usize, const L: usize>(
        &self,
        rows: &[f32],
        n_outputs: usize,
        scratch: &mut ShapScratch,
        phi: &mut [f64],
    ) {
        debug_assert_eq!(self.q, Q, "prepared for another number of points");
        let (Ok(t), Ok(omt), Ok(inv_omt), Ok(w)) = (
            <[f64; Q]>::try_from(&self.points[..]),
            <[f64; Q]>::try_from(&self.one_minus_points[..]),
            <[f64; Q]>::try_from(&self.inv_one_minus_points[..]),
            <[f64; Q]>::try_from(&self.weights[..]),
        ) else {
            return;
        };
        let inner_inv_hot = self.inner_inv_hot.as_chunks::<Q>().0;
        let leaf_inv_hot = self.leaf_inv_hot.as_chunks::<Q>().0;
        // Inner nodes and the neutral entry; a single leaf credits nothing.
        let entries = self.inner.len();
        if entries < 2 || inner_inv_hot.len() != entries || leaf_inv_hot.len() != self.leaves.len()
        {
            return;
        }
        let n_inner = entries - 1;
        let pass = Pass::<Q, L> {
            t,
            omt,
            inv_omt,
            // An edge the row did not follow weighs −1 / (1 − t) whatever its node.
            cold_weight: inv_omt.map(|x| -x),
            inner: &self.inner,
            inner_inv_hot,
            neutral: n_inner,
        };
        let k = n_outputs.max(1);
        let nf = rows.len() / L;
        let len = phi.len() / L;
        let block = Q * L;
        scratch.products.resize(entries * block, 0.0);
        scratch.sums.resize(n_inner * k * block, 0.0);
        scratch.hot.resize(entries * L, 0.0);
        scratch.left.resize(entries * L, 0.0);
        let credit_len = (len / k) * k * block;
        if scratch.credits.len() < credit_len {
            scratch.credits.resize(credit_len, 0.0);
        }
        let products = scratch.products[..entries * block].as_chunks_mut::<L>().0;
        let products = products.as_chunks_mut::<Q>().0;
        let sums = scratch.sums[..n_inner * k * block].as_chunks_mut::<L>().0;
        let sums = sums.as_chunks_mut::<Q>().0;
        let hot = scratch.hot[..entries * L].as_chunks_mut::<L>().0;
        let left = scratch.left[..entries * L].as_chunks_mut::<L>().0;
        let credits = scratch.credits[..credit_len].as_chunks_mut::<L>().0;
        let credits = credits.as_chunks_mut::<Q>().0;
        for &f in &self.features {
            let f = usize::from(f);
            for c in &mut credits[f * k..f * k + k] {
                *c = [[0.0; L]; Q];
            }
        }
        for s in sums.iter_mut() {
            *s = [[0.0; L]; Q];
        }
        hot[n_inner] = [1.0; L];
        let goes_left = |node: &Inner| -> [f64; L] {
            let f = usize::from(node.split);
            std::array::from_fn(|r| {
                if rows[r * nf + f] <= node.threshold {
                    1.0
                } else {
                    0.0
                }
            })
        };

        // Down over the inner nodes (parents first).
        products[0] = [[1.0; L]; Q];
        hot[0] = [1.0; L];
        left[0] = goes_left(&self.inner[0]);
        for (i, node) in self.inner[..n_inner].iter().enumerate().skip(1) {
            let (o, p) = pass.enter(&node.edge, products, hot, left);
            products[i] = p;
            hot[i] = o;
            left[i] = goes_left(node);
        }
        // The leaves: v P to the parent's sum, and the edge's credit.
        for (leaf, inv_hot) in self.leaves.iter().zip(leaf_inv_hot) {
            let edge = &leaf.edge;
            let (o, p) = pass.enter(edge, products, hot, left);
            let weight = pass.weight(edge, inv_hot, &o, hot);
            let f = usize::from(edge.feature);
            let parent = edge.parent as usize;
            let v = &self.values[leaf.value as usize..leaf.value as usize + k];
            let into = &mut sums[parent * k..parent * k + k];
            for ((into, credit), &v) in into.iter_mut().zip(&mut credits[f * k..f * k + k]).zip(v) {
                for j in 0..Q {
                    for r in 0..L {
                        let s = v * p[j][r];
                        into[j][r] += s;
                        credit[j][r] += s * weight[j][r];
                    }
                }
            }
        }
        // Up over the inner nodes (children first): each subtree sum is complete.
        for i in (1..n_inner).rev() {
            let edge = &self.inner[i].edge;
            let weight = pass.weight(edge, &inner_inv_hot[i], &hot[i], hot);
            let f = usize::from(edge.feature);
            let parent = edge.parent as usize;
            let (upper, lower) = sums.split_at_mut(i * k);
            let into = &mut upper[parent * k..parent * k + k];
            for ((into, credit), s) in into
                .iter_mut()
                .zip(&mut credits[f * k..f * k + k])
                .zip(&lower[..k])
            {
                for j in 0..Q {
                    for r in 0..L {
                        into[j][r] += s[j][r];
                        credit[j][r] += s[j][r] * weight[j][r];
                    }
                }
            }
        }
        // Σ over the points, times their weights, once per feature of the tree.
        for &f in &self.features {
            let f = usize::from(f);
            for (c, credit) in credits[f * k..f * k + k].iter().enumerate() {
                for r in 0..L {
                    let mut sum = 0.0;
                    for j in 0..Q {
                        sum += w[j] * credit[j][r];
                    }
                    phi[r * len + f * k + c] += sum;
                }
            }
        }
    }
}
