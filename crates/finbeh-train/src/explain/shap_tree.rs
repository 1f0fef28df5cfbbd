//! Exact path-dependent TreeSHAP of one tree, in O(nodes × q) per row.
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
//! path bookkeeping per leaf:
//!
//! - a pass down in preorder keeps, per node, `P(t_q) = Π_j (t_q o_j + (1 − t_q) z_j)` over the
//!   features on the path (a repeated feature's old factor is divided out);
//! - a pass up in reverse preorder sums `v P` over each subtree; the edge into node `n` on
//!   feature `i` receives `(o − z) Σ_q w_q S_n(t_q) / f_n(t_q)` for the leaves below it whose
//!   *last* split on `i` it is: the sums of deeper edges on `i` are subtracted with this edge's
//!   factor.

use super::quadrature::GaussLegendre;
use crate::error::{Result, TrainError};
use crate::tree::{LEAF, PreorderTree};

/// No ancestor edge on the same feature / no incoming edge.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq)]
struct ShapNode {
    /// Split feature, or `NONE` for a leaf.
    feature: u32,
    /// Rows with `x[feature] <= threshold` go left (the forest's own rule).
    threshold: f32,
    /// Right child (the left one is the next node in preorder).
    right: u32,
    /// Feature of the split that leads here (`NONE` for the root).
    edge_feature: u32,
    /// Nearest ancestor node reached through a split on `edge_feature` (`NONE` if this is the
    /// first split on it along the path).
    previous: u32,
    /// Product of the cover ratios of every split on `edge_feature` down to this node.
    zero_fraction: f64,
    /// First output value of a leaf in `ShapTree::values` (leaves only).
    value: u32,
}

/// Per-node, per-point precomputed fields of [`ShapTree::prepare`], each `q` long.
/// `(1 − t) z`: the factor of a feature the row did not follow (`t + cold` when it did).
const COLD: usize = 0;
/// `1 / cold`.
const INV_COLD: usize = 1;
/// `1 / (t + cold) − 1 / cold`, so the reciprocal is `INV_COLD + o·INV_STEP`.
const INV_STEP: usize = 2;
/// `(1 − z) w / (t + cold) − cold_weight`: the edge's SHAP weight is
/// `cold_weight + o·WEIGHT_STEP`.
const WEIGHT_STEP: usize = 3;
const TABLE_FIELDS: usize = 4;

/// One tree laid out for explanation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapTree {
    nodes: Vec<ShapNode>,
    values: Vec<f64>,
    /// The tree's expected output over its training cover, per output.
    expected: Vec<f64>,
    depth: usize,
    /// Quadrature points of [`Self::prepare`].
    q: usize,
    points: Vec<f64>,
    /// `nodes × TABLE_FIELDS × q`.
    table: Vec<f64>,
    /// `−w / (1 − t)`: an edge's SHAP weight when the row did not follow it (`(0 − z) w / cold`),
    /// the same for every node.
    cold_weight: Vec<f64>,
}

/// Reusable per-thread buffers of [`ShapTree::explain`].
#[derive(Debug, Default)]
pub(crate) struct ShapScratch {
    /// Down pass: `P(t_q)` per node (`nodes × q`).
    products: Vec<f64>,
    /// Up pass: subtree sums of `v P(t_q)` per node (`nodes × outputs × q`).
    sums: Vec<f64>,
    /// 1.0 when the row followed every split on the node's edge feature down to it, else 0.0
    /// (`nodes × lanes`).
    hot: Vec<f64>,
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
        let mut nodes: Vec<ShapNode> = Vec::with_capacity(n);
        let mut depths = vec![0usize; n];
        let mut values = Vec::new();
        let mut leaf = 0usize;
        for (i, node) in tree.nodes.iter().enumerate() {
            let mut this = ShapNode {
                feature: NONE,
                threshold: f32::INFINITY,
                right: right[i],
                edge_feature: NONE,
                previous: NONE,
                zero_fraction: 1.0,
                value: NONE,
            };
            let p = parent[i];
            if p != NONE {
                let p = p as usize;
                depths[i] = depths[p] + 1;
                this.edge_feature = nodes[p].feature;
                let mut a = p;
                while a != 0 && nodes[a].edge_feature != this.edge_feature {
                    a = parent[a] as usize;
                }
                let ratio = cover[i] / cover[p];
                if a != 0 {
                    this.previous = a as u32;
                    this.zero_fraction = ratio * nodes[a].zero_fraction;
                } else {
                    this.zero_fraction = ratio;
                }
            }
            if node.feature == LEAF {
                let src = tree
                    .leaf_values
                    .get(leaf * n_outputs..(leaf + 1) * n_outputs)
                    .ok_or_else(|| bad(format!("leaf {leaf} has no values")))?;
                this.value = values.len() as u32;
                values.extend(src.iter().map(|&v| f64::from(v)));
                leaf += 1;
            } else {
                this.feature = u32::from(node.feature);
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
            if node.feature == NONE {
                let v = &values[node.value as usize..node.value as usize + n_outputs];
                for (e, v) in expected.iter_mut().zip(v) {
                    *e += w * v;
                }
            }
        }
        Ok(Self {
            nodes,
            values,
            expected,
            depth: depths.into_iter().max().unwrap_or(0),
            q: 0,
            points: Vec::new(),
            table: Vec::new(),
            cold_weight: Vec::new(),
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

    /// Precomputes, per node and quadrature point, everything of its edge that does not depend
    /// on the row (the factors, their reciprocals and the edge's SHAP weight when followed), so
    /// explaining a row takes no division. `rule` must integrate polynomials of degree
    /// `depth − 1` exactly.
    pub(crate) fn prepare(&mut self, rule: &GaussLegendre) {
        let q = rule.len();
        self.q = q;
        self.points = rule.nodes.clone();
        self.table = vec![0.0; self.nodes.len() * q * TABLE_FIELDS];
        self.cold_weight = rule
            .nodes
            .iter()
            .zip(&rule.weights)
            .map(|(t, w)| -w / (1.0 - t))
            .collect();
        for (node, entry) in self
            .nodes
            .iter()
            .zip(self.table.chunks_mut(q * TABLE_FIELDS))
        {
            let z = node.zero_fraction;
            for (j, (t, w)) in rule.nodes.iter().zip(&rule.weights).enumerate() {
                let cold = (1.0 - t) * z;
                let hot = t + cold;
                entry[COLD * q + j] = cold;
                entry[INV_COLD * q + j] = 1.0 / cold;
                entry[INV_STEP * q + j] = 1.0 / hot - 1.0 / cold;
                entry[WEIGHT_STEP * q + j] = (1.0 - z) * w / hot - (-w / (1.0 - t));
            }
        }
    }

    /// Adds this tree's SHAP values of `L` rows (`rows`: `L × nf`, row-major) to `phi`
    /// (`L × features × outputs`). The rows are explained in lock-step, one lane each, with
    /// the same operations per lane whatever `L`, so a row's values do not depend on the rows
    /// beside it. [`Self::prepare`] must have run.
    pub(crate) fn explain<const Q: usize, const L: usize>(
        &self,
        rows: &[f32],
        n_outputs: usize,
        scratch: &mut ShapScratch,
        phi: &mut [f64],
    ) {
        debug_assert_eq!(self.q, Q, "prepared for another number of points");
        let n = self.nodes.len();
        let q = Q;
        let k = n_outputs;
        let nf = rows.len() / L;
        let len = phi.len() / L;
        let stride = q * TABLE_FIELDS;
        let field = |node: usize, f: usize| {
            let at = node * stride + f * q;
            &self.table[at..at + q]
        };
        scratch.products.resize(n * q * L, 0.0);
        scratch.sums.resize(n * k * q * L, 0.0);
        scratch.hot.resize(n * L, 0.0);
        let products = &mut scratch.products[..n * q * L];
        let sums = &mut scratch.sums[..n * k * q * L];
        let hot = &mut scratch.hot[..n * L];
        let (qs, kqs) = (q * L, k * q * L);

        // Down: P(t) of every node, the product of one factor per feature on its path; a
        // factor is `cold + o·t` (o = 1 when the row followed every split on the feature).
        products[..qs].fill(1.0);
        hot[..L].fill(1.0);
        let mut left = [0.0f64; L];
        for (i, node) in self.nodes.iter().enumerate() {
            if node.feature == NONE {
                continue;
            }
            let f = node.feature as usize;
            for (r, l) in left.iter_mut().enumerate() {
                *l = f64::from(u8::from(rows[r * nf + f] <= node.threshold));
            }
            for (child, is_left) in [(i + 1, true), (node.right as usize, false)] {
                let c = &self.nodes[child];
                let mut o = [0.0f64; L];
                for r in 0..L {
                    o[r] = if is_left { left[r] } else { 1.0 - left[r] };
                }
                if c.previous != NONE {
                    let previous = &hot[c.previous as usize * L..c.previous as usize * L + L];
                    for r in 0..L {
                        o[r] *= previous[r];
                    }
                }
                hot[child * L..child * L + L].copy_from_slice(&o);
                let (head, tail) = products.split_at_mut(child * qs);
                let parent_p = &head[i * qs..i * qs + qs];
                let p = &mut tail[..qs];
                let (cold, t) = (field(child, COLD), &self.points[..]);
                if c.previous == NONE {
                    for j in 0..q {
                        for r in 0..L {
                            p[j * L + r] = parent_p[j * L + r] * (cold[j] + o[r] * t[j]);
                        }
                    }
                } else {
                    // The feature's earlier factor on this path is replaced by this one.
                    let pr = c.previous as usize;
                    let (inv_cold, inv_step) = (field(pr, INV_COLD), field(pr, INV_STEP));
                    let previous = &hot[pr * L..pr * L + L];
                    for j in 0..q {
                        for r in 0..L {
                            let undo = inv_cold[j] + previous[r] * inv_step[j];
                            p[j * L + r] = parent_p[j * L + r] * (cold[j] + o[r] * t[j]) * undo;
                        }
                    }
                }
            }
        }
        // Up: subtree sums of v P(t), and each edge's share of them: Σ_j S_j·weight_j with
        // weight = cold_weight + o·(hot_weight − cold_weight).
        for i in (1..n).rev() {
            let node = &self.nodes[i];
            if node.feature == NONE {
                let v = &self.values[node.value as usize..node.value as usize + k];
                let (p, s) = (
                    &products[i * qs..i * qs + qs],
                    &mut sums[i * kqs..i * kqs + kqs],
                );
                for (c, &vc) in v.iter().enumerate() {
                    for x in 0..qs {
                        s[c * qs + x] = vc * p[x];
                    }
                }
            } else {
                let (l, r) = ((i + 1) * kqs, node.right as usize * kqs);
                for x in 0..kqs {
                    sums[i * kqs + x] = sums[l + x] + sums[r + x];
                }
            }
            let feature = node.edge_feature as usize;
            let subtree = &sums[i * kqs..i * kqs + kqs];
            let mut edges = [(i, 1.0), (i, 0.0)];
            if node.previous != NONE {
                // Leaves whose last split on the feature is deeper belong to the deeper edge:
                // subtract them with the weight of the earlier one.
                edges[1] = (node.previous as usize, -1.0);
            }
            for &(edge, sign) in &edges[..1 + usize::from(node.previous != NONE)] {
                let (step, o) = (field(edge, WEIGHT_STEP), &hot[edge * L..edge * L + L]);
                for c in 0..k {
                    let mut acc = [0.0f64; L];
                    for j in 0..q {
                        for r in 0..L {
                            let weight = self.cold_weight[j] + o[r] * step[j];
                            acc[r] += subtree[(c * q + j) * L + r] * weight;
                        }
                    }
                    for r in 0..L {
                        phi[r * len + feature * k + c] += sign * acc[r];
                    }
                }
            }
        }
    }
}
