//! Exact path-dependent TreeSHAP of one tree, in O(nodes × q) per row, in one preorder pass.
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
//! path bookkeeping per leaf, in one pass over the nodes in preorder with a stack of the path
//! (at most `depth + 1` entries, so everything a row touches besides the tree stays in L1):
//!
//! - entering node `n` (edge on feature `i`) computes `P_n(t_q) = Π_j (t_q o_j + (1 − t_q) z_j)`
//!   over the features on its path from its parent's (a repeated feature's old factor is
//!   divided out; the earlier edge is an ancestor, so its `o` is on the stack);
//! - a node's subtree ends when the next node in preorder is not deeper: its sum `S_n` of
//!   `v P` over the leaves below is added to its parent's, and the edge is credited
//!   `(o − z) Σ_q w_q S_n(t_q) / f_n(t_q)`, minus the same sum with the weight of the earlier
//!   edge on `i` (those leaves' last split on `i` is this one, not the earlier one).
//!
//! The credits are kept per feature and quadrature point and summed over the points (times
//! their weights) once per tree. Per node the tree stores only `z`, `1 / z` and the `q`
//! reciprocals `1 / (t_q + (1 − t_q) z)`; the rest is a few products per point.

use super::forest_shap::MAX_EXPLAINED_DEPTH;
use super::quadrature::GaussLegendre;
use crate::error::{Result, TrainError};
use crate::tree::{LEAF, PreorderTree};

/// No earlier edge on the same feature / no node.
const NONE: u16 = u16::MAX;

#[derive(Debug, Clone, Copy, PartialEq)]
struct ShapNode {
    /// Rows with `x[feature] <= threshold` go left (the forest's own rule).
    threshold: f32,
    /// Split feature, or `LEAF`.
    feature: u16,
    /// Feature of the split that leads here (`LEAF` for the root).
    edge_feature: u16,
    /// Levels below the root.
    depth: u16,
    /// Depth of the nearest ancestor reached through a split on `edge_feature` (its place on
    /// the stack), or `NONE` if this is the first split on it along the path.
    previous: u16,
    /// First output value of a leaf in `ShapTree::values` (leaves only).
    value: u32,
    /// Product of the cover ratios of every split on `edge_feature` down to this node.
    zero_fraction: f64,
    /// `1 / zero_fraction`.
    inv_zero_fraction: f64,
}

/// One tree laid out for explanation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapTree {
    nodes: Vec<ShapNode>,
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
    /// `nodes × q`: `1 / (t + (1 − t) z)`, the reciprocal of the factor of a followed edge.
    inv_hot: Vec<f64>,
}

/// Reusable per-thread buffers of [`ShapTree::explain`], sized for the deepest tree seen.
#[derive(Debug, Default)]
pub(crate) struct ShapScratch {
    /// `P(t)` of each node on the path (`(depth + 1) × q × lanes`).
    products: Vec<f64>,
    /// Subtree sums of `v P(t)` of each node on the path (`(depth + 1) × outputs × q × lanes`).
    sums: Vec<f64>,
    /// `o` of the edge into each node on the path, 1.0 or 0.0 (`(depth + 1) × lanes`).
    hot: Vec<f64>,
    /// 1.0 when the row goes left at each node on the path, else 0.0 (`(depth + 1) × lanes`).
    left: Vec<f64>,
    /// Node index of each entry of the path.
    path: Vec<u32>,
    /// Credits per feature, output and point (`features × outputs × q × lanes`).
    credits: Vec<f64>,
}

/// The weight of an edge before the point's quadrature weight: `(o − z) / f(t)`, i.e.
/// `−1 / (1 − t)` when the row did not follow it and `(1 − z) / (t + (1 − t) z)` when it did.
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
        let mut pending: Vec<u32> = Vec::new();
        for (i, node) in tree.nodes.iter().enumerate() {
            match pending.pop() {
                Some(p) => parent[i] = p,
                None if i == 0 => {}
                None => return Err(bad(format!("node {i} follows a complete tree"))),
            }
            if node.feature != LEAF {
                pending.push(i as u32);
                pending.push(i as u32);
            }
        }
        if !pending.is_empty() {
            return Err(bad("truncated tree: subtrees missing".into()));
        }
        let mut nodes: Vec<ShapNode> = Vec::with_capacity(n);
        let mut values = Vec::new();
        let mut leaf = 0usize;
        for (i, node) in tree.nodes.iter().enumerate() {
            let mut this = ShapNode {
                threshold: f32::INFINITY,
                feature: LEAF,
                edge_feature: LEAF,
                depth: 0,
                previous: NONE,
                value: u32::MAX,
                zero_fraction: 1.0,
                inv_zero_fraction: 1.0,
            };
            let p = parent[i];
            if p != u32::MAX {
                let p = p as usize;
                let depth = usize::from(nodes[p].depth) + 1;
                if depth > MAX_EXPLAINED_DEPTH {
                    return Err(bad(format!(
                        "a tree is more than {MAX_EXPLAINED_DEPTH} levels deep; explanations \
                         support at most {MAX_EXPLAINED_DEPTH}"
                    )));
                }
                this.depth = depth as u16;
                this.edge_feature = nodes[p].feature;
                let mut a = p;
                while a != 0 && nodes[a].edge_feature != this.edge_feature {
                    a = parent[a] as usize;
                }
                let ratio = cover[i] / cover[p];
                this.zero_fraction = if a != 0 {
                    this.previous = nodes[a].depth;
                    ratio * nodes[a].zero_fraction
                } else {
                    ratio
                };
                this.inv_zero_fraction = 1.0 / this.zero_fraction;
            }
            if node.feature == LEAF {
                let src = tree
                    .leaf_values
                    .get(leaf * n_outputs..(leaf + 1) * n_outputs)
                    .ok_or_else(|| bad(format!("leaf {leaf} has no values")))?;
                this.value = u32::try_from(values.len())
                    .map_err(|_| bad("more than 2^32 leaf values".into()))?;
                values.extend(src.iter().map(|&v| f64::from(v)));
                leaf += 1;
            } else {
                this.feature = node.feature;
                this.threshold = node.threshold;
            }
            nodes.push(this);
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
            if node.feature == LEAF {
                let v = &values[node.value as usize..node.value as usize + n_outputs];
                for (e, v) in expected.iter_mut().zip(v) {
                    *e += w * v;
                }
            }
        }
        let mut features: Vec<u16> = nodes
            .iter()
            .filter(|node| node.feature != LEAF)
            .map(|node| node.feature)
            .collect();
        features.sort_unstable();
        features.dedup();
        Ok(Self {
            depth: nodes.iter().map(|node| usize::from(node.depth)).max().unwrap_or(0),
            nodes,
            values,
            expected,
            features,
            q: 0,
            points: Vec::new(),
            one_minus_points: Vec::new(),
            inv_one_minus_points: Vec::new(),
            weights: Vec::new(),
            inv_hot: Vec::new(),
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
        self.inv_hot = Vec::with_capacity(self.nodes.len() * self.q);
        for node in &self.nodes {
            let z = node.zero_fraction;
            self.inv_hot
                .extend(rule.nodes.iter().map(|t| 1.0 / (t + (1.0 - t) * z)));
        }
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
        // An edge the row did not follow weighs −1 / (1 − t) whatever its node.
        let cold_weight = inv_omt.map(|x| -x);
        let (inv_hot, _) = self.inv_hot.as_chunks::<Q>();
        let nodes = &self.nodes[..inv_hot.len().min(self.nodes.len())];
        let Some(root) = nodes.first() else {
            return;
        };
        if root.feature == LEAF {
            // A single leaf: no split, nothing to credit.
            return;
        }
        let k = n_outputs.max(1);
        let nf = rows.len() / L;
        let len = phi.len() / L;
        let levels = self.depth + 1;
        let block = Q * L;
        scratch.products.resize(levels * block, 0.0);
        scratch.sums.resize(levels * k * block, 0.0);
        scratch.hot.resize(levels * L, 0.0);
        scratch.left.resize(levels * L, 0.0);
        scratch.path.resize(levels, 0);
        let credit_len = (len / k) * k * block;
        if scratch.credits.len() < credit_len {
            scratch.credits.resize(credit_len, 0.0);
        }
        let products = scratch.products[..levels * block].as_chunks_mut::<L>().0;
        let products = products.as_chunks_mut::<Q>().0;
        let sums = scratch.sums[..levels * k * block].as_chunks_mut::<L>().0;
        let sums = sums.as_chunks_mut::<Q>().0;
        let hot = scratch.hot[..levels * L].as_chunks_mut::<L>().0;
        let left = scratch.left[..levels * L].as_chunks_mut::<L>().0;
        let path = &mut scratch.path[..levels];
        let credits = scratch.credits[..credit_len].as_chunks_mut::<L>().0;
        let credits = credits.as_chunks_mut::<Q>().0;
        for &f in &self.features {
            let f = usize::from(f);
            for c in &mut credits[f * k..f * k + k] {
                *c = [[0.0; L]; Q];
            }
        }
        let goes_left = |node: &ShapNode| -> [f64; L] {
            let f = usize::from(node.feature);
            std::array::from_fn(|r| {
                if rows[r * nf + f] <= node.threshold {
                    1.0
                } else {
                    0.0
                }
            })
        };

        products[0] = [[1.0; L]; Q];
        hot[0] = [1.0; L];
        left[0] = goes_left(root);
        path[0] = 0;
        for s in &mut sums[..k] {
            *s = [[0.0; L]; Q];
        }
        // Deepest entry of the path.
        let mut top = 0usize;
        // Ends the subtree of the path's entry at `depth` (an inner node, not the root): its sum
        // goes to its parent's and its edge is credited.
        let end_subtree = |depth: usize,
                           sums: &mut [[[f64; L]; Q]],
                           hot: &[[f64; L]],
                           path: &[u32],
                           credits: &mut [[[f64; L]; Q]]| {
            let i = path[depth] as usize;
            let node = &nodes[i];
            let mut weight =
                edge_weight::<Q, L>(&cold_weight, &inv_hot[i], node.zero_fraction, &hot[depth]);
            if node.previous != NONE {
                let pd = usize::from(node.previous);
                let a = path[pd] as usize;
                let earlier = edge_weight::<Q, L>(
                    &cold_weight,
                    &inv_hot[a],
                    nodes[a].zero_fraction,
                    &hot[pd],
                );
                for j in 0..Q {
                    for r in 0..L {
                        weight[j][r] -= earlier[j][r];
                    }
                }
            }
            let f = usize::from(node.edge_feature);
            let (upper, lower) = sums.split_at_mut(depth * k);
            let parent = &mut upper[(depth - 1) * k..];
            for c in 0..k {
                let s = &lower[c];
                let (into, credit) = (&mut parent[c], &mut credits[f * k + c]);
                for j in 0..Q {
                    for r in 0..L {
                        into[j][r] += s[j][r];
                        credit[j][r] += s[j][r] * weight[j][r];
                    }
                }
            }
        };

        for (i, node) in nodes.iter().enumerate().skip(1) {
            let depth = usize::from(node.depth);
            while top >= depth {
                end_subtree(top, sums, hot, path, credits);
                top -= 1;
            }
            // The parent is the path's entry at depth − 1; the left child follows it.
            let up = depth - 1;
            let is_left = path[up] as usize + 1 == i;
            let side = &left[up];
            let mut o: [f64; L] =
                std::array::from_fn(|r| if is_left { side[r] } else { 1.0 - side[r] });
            let z = node.zero_fraction;
            let mut p = products[up];
            if node.previous == NONE {
                for j in 0..Q {
                    let cold = omt[j] * z;
                    for r in 0..L {
                        p[j][r] *= cold + o[r] * t[j];
                    }
                }
            } else {
                // The feature's earlier factor on this path is replaced by this one.
                let pd = usize::from(node.previous);
                let a = path[pd] as usize;
                let earlier_o = &hot[pd];
                for r in 0..L {
                    o[r] *= earlier_o[r];
                }
                let inv_zero = nodes[a].inv_zero_fraction;
                let a_inv_hot = &inv_hot[a];
                for j in 0..Q {
                    let cold = omt[j] * z;
                    let inv_cold = inv_omt[j] * inv_zero;
                    let inv_step = a_inv_hot[j] - inv_cold;
                    for r in 0..L {
                        p[j][r] *= (cold + o[r] * t[j]) * (inv_cold + earlier_o[r] * inv_step);
                    }
                }
            }
            if node.feature == LEAF {
                // A leaf's subtree ends at once: v P goes to the parent and credits the edge.
                let mut weight = edge_weight::<Q, L>(&cold_weight, &inv_hot[i], z, &o);
                if node.previous != NONE {
                    let pd = usize::from(node.previous);
                    let a = path[pd] as usize;
                    let earlier = edge_weight::<Q, L>(
                        &cold_weight,
                        &inv_hot[a],
                        nodes[a].zero_fraction,
                        &hot[pd],
                    );
                    for j in 0..Q {
                        for r in 0..L {
                            weight[j][r] -= earlier[j][r];
                        }
                    }
                }
                let f = usize::from(node.edge_feature);
                let v = &self.values[node.value as usize..node.value as usize + k];
                let parent = &mut sums[up * k..up * k + k];
                for ((into, credit), &v) in parent
                    .iter_mut()
                    .zip(&mut credits[f * k..f * k + k])
                    .zip(v)
                {
                    for j in 0..Q {
                        for r in 0..L {
                            let s = v * p[j][r];
                            into[j][r] += s;
                            credit[j][r] += s * weight[j][r];
                        }
                    }
                }
            } else {
                products[depth] = p;
                hot[depth] = o;
                left[depth] = goes_left(node);
                path[depth] = i as u32;
                for s in &mut sums[depth * k..depth * k + k] {
                    *s = [[0.0; L]; Q];
                }
                top = depth;
            }
        }
        while top >= 1 {
            end_subtree(top, sums, hot, path, credits);
            top -= 1;
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
