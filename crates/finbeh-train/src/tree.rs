//! Growing one histogram tree on the binned matrix.
//!
//! Rows of the node live in a contiguous range of one index array that is partitioned in place
//! (no row copies). Per-node class histograms are built either for the drawn candidate features
//! only (few candidates: cheaper than histogramming everything), or for all features with the
//! sibling-subtraction trick (many candidates: build the smaller child, the larger is
//! parent − smaller).

use crate::binning::BinnedMatrix;
use crate::params::Criterion;
use finbeh_data::Rng;

/// Impurities at or below this are pure (scikit-learn's EPSILON test).
const PURE_EPSILON: f64 = f64::EPSILON;
/// Marks a leaf in [`TreeNode::feature`].
pub(crate) const LEAF: u16 = u16::MAX;

/// Tree-growing limits resolved against the data.
pub(crate) struct TreeConfig {
    pub(crate) max_depth: usize,
    pub(crate) min_samples_split: usize,
    pub(crate) min_samples_leaf: usize,
    pub(crate) min_impurity_decrease: f64,
    pub(crate) max_features: usize,
    pub(crate) criterion: Criterion,
    pub(crate) n_classes: usize,
}

/// A node of a tree in preorder (root, left subtree, right subtree).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TreeNode {
    /// Split feature, or [`LEAF`].
    pub(crate) feature: u16,
    /// Rows with `x[feature] <= threshold` go left (unused for leaves).
    pub(crate) threshold: f32,
}

/// A fitted tree in canonical preorder form, the input of the inference layout and the encoding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreorderTree {
    pub(crate) nodes: Vec<TreeNode>,
    /// `n_outputs` values per leaf, leaves in preorder.
    pub(crate) leaf_values: Vec<f32>,
}

/// Output of [`grow_tree`].
pub(crate) struct GrownTree {
    pub(crate) tree: PreorderTree,
    /// Training cover per node, in the tree's preorder: the summed row weights (bootstrap
    /// count × class weight) that reached it, scikit-learn's `weighted_n_node_samples`.
    pub(crate) cover: Vec<f64>,
    /// Unnormalised weighted impurity decrease per feature.
    pub(crate) importances: Vec<f64>,
}

#[derive(Clone, Copy)]
struct BuildNode {
    feature: u16,
    bin: u8,
    /// Index of the left child (right = left + 1), or of the leaf's values for leaves.
    left: u32,
}

struct Task {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    totals: Vec<f64>,
    hist: Option<Vec<f64>>,
}

/// In-bag rows with their weights and labels, kept in node order.
struct NodeRows {
    rows: Vec<u32>,
    weights: Vec<f64>,
    labels: Vec<u16>,
}

#[derive(Clone, Copy)]
struct RowsView<'a> {
    rows: &'a [u32],
    weights: &'a [f64],
    labels: &'a [u16],
}

impl NodeRows {
    fn view(&self, range: std::ops::Range<usize>) -> RowsView<'_> {
        RowsView {
            rows: &self.rows[range.clone()],
            weights: &self.weights[range.clone()],
            labels: &self.labels[range],
        }
    }

    /// Moves the rows of `range` satisfying `goes_left` first (branch-free Lomuto: always swap,
    /// advance on true); returns the split point.
    fn partition(
        &mut self,
        range: std::ops::Range<usize>,
        goes_left: impl Fn(u32) -> bool,
    ) -> usize {
        let mut j = range.start;
        for i in range {
            let r = self.rows[i];
            let left = goes_left(r);
            self.rows.swap(i, j);
            self.weights.swap(i, j);
            self.labels.swap(i, j);
            j += usize::from(left);
        }
        j
    }
}

struct BestSplit {
    feature: usize,
    bin: u8,
    cost: f64,
    left: Vec<f64>,
    left_n: usize,
}

/// Weighted impurity `W * impurity(class_weights)`; lower is better.
fn weighted_impurity(criterion: Criterion, class_weights: &[f64]) -> f64 {
    let total: f64 = class_weights.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    match criterion {
        Criterion::Gini => total - class_weights.iter().map(|c| c * c).sum::<f64>() / total,
        Criterion::Entropy => {
            let sum_c_ln_c: f64 = class_weights
                .iter()
                .filter(|&&c| c > 0.0)
                .map(|&c| c * c.ln())
                .sum();
            (total * total.ln() - sum_c_ln_c) / std::f64::consts::LN_2
        }
    }
}

fn impurity(criterion: Criterion, class_weights: &[f64]) -> f64 {
    let total: f64 = class_weights.iter().sum();
    if total <= 0.0 {
        0.0
    } else {
        weighted_impurity(criterion, class_weights) / total
    }
}

struct Grower<'a> {
    data: &'a BinnedMatrix,
    cfg: &'a TreeConfig,
    rng: &'a mut Rng,
    stride: usize,
    full_mode: bool,
    hist_offsets: Vec<usize>,
    hist_len: usize,
    pool: Vec<Vec<f64>>,
    scratch: Vec<f64>,
    feature_order: Vec<usize>,
    right: Vec<f64>,
    left: Vec<f64>,
}

impl Grower<'_> {
    fn take_hist(&mut self) -> Vec<f64> {
        match self.pool.pop() {
            Some(mut h) => {
                h.fill(0.0);
                h
            }
            None => vec![0.0; self.hist_len],
        }
    }

    /// Adds rows to one feature's histogram `h`; returns the bitmap of touched bins.
    fn accumulate(&self, h: &mut [f64], feature: usize, rows: RowsView<'_>) -> [u64; 4] {
        let col = self.data.column(feature);
        let stride = self.stride;
        let nc = self.cfg.n_classes;
        let mut touched = [0u64; 4];
        for ((&r, &w), &y) in rows.rows.iter().zip(rows.weights).zip(rows.labels) {
            let b = usize::from(col[r as usize]);
            let base = b * stride;
            h[base + usize::from(y)] += w;
            h[base + nc] += 1.0;
            touched[b >> 6] |= 1 << (b & 63);
        }
        touched
    }

    fn full_hist(&mut self, rows: RowsView<'_>) -> Vec<f64> {
        let mut h = self.take_hist();
        for f in 0..self.data.n_features {
            let off = self.hist_offsets[f];
            let end = self.hist_offsets[f + 1];
            self.accumulate(&mut h[off..end], f, rows);
        }
        h
    }

    fn is_leaf_by_rules(&self, n: usize, depth: usize, totals: &[f64]) -> bool {
        depth >= self.cfg.max_depth
            || n < self.cfg.min_samples_split
            || n < 2 * self.cfg.min_samples_leaf
            || impurity(self.cfg.criterion, totals) <= PURE_EPSILON
    }

    /// Scans the non-empty bins (ascending) of one feature histogram, updating `best`.
    /// Returns false when the feature is constant in this node.
    fn scan(
        &mut self,
        h: &[f64],
        bins: impl Iterator<Item = usize>,
        feature: usize,
        totals: &[f64],
        n: usize,
        best: &mut Option<BestSplit>,
    ) -> bool {
        let nc = self.cfg.n_classes;
        let stride = self.stride;
        let min_leaf = self.cfg.min_samples_leaf;
        self.left.fill(0.0);
        let mut left_n = 0usize;
        let mut prev: Option<usize> = None;
        let mut non_constant = false;
        for k in bins {
            if let Some(p) = prev {
                non_constant = true;
                let right_n = n - left_n;
                if right_n < min_leaf {
                    break;
                }
                if left_n >= min_leaf {
                    for ((r, t), l) in self.right.iter_mut().zip(totals).zip(&self.left) {
                        *r = t - l;
                    }
                    let cost = weighted_impurity(self.cfg.criterion, &self.left)
                        + weighted_impurity(self.cfg.criterion, &self.right);
                    if best.as_ref().is_none_or(|b| cost < b.cost) {
                        // Threshold in the middle of the empty gap between the two bins.
                        let bin = ((p + k - 1) / 2) as u8;
                        match best {
                            Some(b) => {
                                b.feature = feature;
                                b.bin = bin;
                                b.cost = cost;
                                b.left.copy_from_slice(&self.left);
                                b.left_n = left_n;
                            }
                            None => {
                                *best = Some(BestSplit {
                                    feature,
                                    bin,
                                    cost,
                                    left: self.left.clone(),
                                    left_n,
                                });
                            }
                        }
                    }
                }
            }
            let base = k * stride;
            for c in 0..nc {
                self.left[c] += h[base + c];
            }
            left_n += h[base + nc] as usize;
            prev = Some(k);
        }
        non_constant
    }

    fn find_split(
        &mut self,
        rows: RowsView<'_>,
        totals: &[f64],
        hist: Option<&[f64]>,
    ) -> Option<BestSplit> {
        let nf = self.data.n_features;
        let n = rows.rows.len();
        let mut best = None;
        let mut visited = 0;
        let stride = self.stride;
        for i in 0..nf {
            let j = i + self.rng.below(nf - i);
            self.feature_order.swap(i, j);
            let f = self.feature_order[i];
            let nb = self.data.n_bins(f);
            let non_constant = match hist {
                Some(h) => {
                    let hf = &h[self.hist_offsets[f]..self.hist_offsets[f + 1]];
                    let bins = (0..nb).filter(|&b| hf[b * stride + self.cfg.n_classes] > 0.0);
                    self.scan(hf, bins, f, totals, n, &mut best)
                }
                None => {
                    let mut scratch = std::mem::take(&mut self.scratch);
                    let touched = self.accumulate(&mut scratch, f, rows);
                    let bins = BitIter::new(touched);
                    let non_constant = self.scan(&scratch, bins, f, totals, n, &mut best);
                    // Clear only what was touched: deep nodes have far fewer rows than bins.
                    for b in BitIter::new(touched) {
                        scratch[b * stride..(b + 1) * stride].fill(0.0);
                    }
                    self.scratch = scratch;
                    non_constant
                }
            };
            if non_constant {
                visited += 1;
                if visited >= self.cfg.max_features {
                    break;
                }
            }
        }
        best
    }
}

/// Ascending iterator over the set bits of a 256-bit map.
struct BitIter {
    words: [u64; 4],
    word: usize,
}

impl BitIter {
    fn new(words: [u64; 4]) -> Self {
        Self { words, word: 0 }
    }
}

impl Iterator for BitIter {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        while self.word < 4 {
            let w = self.words[self.word];
            if w != 0 {
                let bit = w.trailing_zeros() as usize;
                self.words[self.word] = w & (w - 1);
                return Some(self.word * 64 + bit);
            }
            self.word += 1;
        }
        None
    }
}

/// Grows one tree on `rows` (distinct in-bag rows) with per-row `weights`
/// (bootstrap count × class weight).
pub(crate) fn grow_tree(
    data: &BinnedMatrix,
    labels: &[u16],
    weights: &[f64],
    rows: Vec<u32>,
    cfg: &TreeConfig,
    rng: &mut Rng,
) -> GrownTree {
    // Weights and labels travel with the row indices, so histogram loops read them in order.
    let mut node_rows = NodeRows {
        weights: rows.iter().map(|&r| weights[r as usize]).collect(),
        labels: rows.iter().map(|&r| labels[r as usize]).collect(),
        rows,
    };
    let nc = cfg.n_classes;
    let stride = nc + 1;
    let nf = data.n_features;
    let mut hist_offsets = Vec::with_capacity(nf + 1);
    let mut acc = 0;
    hist_offsets.push(0);
    for f in 0..nf {
        acc += data.n_bins(f) * stride;
        hist_offsets.push(acc);
    }
    let mut g = Grower {
        data,
        cfg,
        rng,
        stride,
        // Histogramming every feature only pays when most features are drawn anyway.
        full_mode: 2 * cfg.max_features >= nf,
        hist_offsets,
        hist_len: acc,
        pool: Vec::new(),
        scratch: vec![0.0; 256 * stride],
        feature_order: (0..nf).collect(),
        right: vec![0.0; nc],
        left: vec![0.0; nc],
    };
    let n_outputs = if nc == 2 { 1 } else { nc };
    let mut nodes: Vec<BuildNode> = vec![BuildNode {
        feature: LEAF,
        bin: 0,
        left: 0,
    }];
    let mut leaf_values: Vec<f32> = Vec::new();
    // Indexed like `nodes`.
    let mut cover: Vec<f64> = vec![0.0];
    let mut importances = vec![0.0; nf];

    let mut totals = vec![0.0; nc];
    for (&w, &y) in node_rows.weights.iter().zip(&node_rows.labels) {
        totals[usize::from(y)] += w;
    }
    let n_rows = node_rows.rows.len();
    let root_weight: f64 = totals.iter().sum();
    let root_hist = (g.full_mode && !g.is_leaf_by_rules(n_rows, 0, &totals))
        .then(|| g.full_hist(node_rows.view(0..n_rows)));
    let mut stack = vec![Task {
        node: 0,
        start: 0,
        end: n_rows,
        depth: 0,
        totals,
        hist: root_hist,
    }];

    while let Some(task) = stack.pop() {
        let n = task.end - task.start;
        let node_weight: f64 = task.totals.iter().sum();
        cover[task.node] = node_weight;
        let node_impurity = impurity(cfg.criterion, &task.totals);
        let split = if g.is_leaf_by_rules(n, task.depth, &task.totals) {
            None
        } else {
            g.find_split(
                node_rows.view(task.start..task.end),
                &task.totals,
                task.hist.as_deref(),
            )
        };
        let split = split.and_then(|s| {
            let right: Vec<f64> = task
                .totals
                .iter()
                .zip(&s.left)
                .map(|(t, l)| t - l)
                .collect();
            let left_w: f64 = s.left.iter().sum();
            let right_w: f64 = right.iter().sum();
            let child_cost = left_w * impurity(cfg.criterion, &s.left)
                + right_w * impurity(cfg.criterion, &right);
            let decrease = node_weight * node_impurity - child_cost;
            // scikit-learn's rule: (N_t / N) * (impurity - weighted child impurities).
            let improvement = decrease / root_weight;
            (improvement + PURE_EPSILON >= cfg.min_impurity_decrease)
                .then_some((s, right, decrease))
        });
        let Some((split, right_totals, decrease)) = split else {
            nodes[task.node] = BuildNode {
                feature: LEAF,
                bin: 0,
                left: (leaf_values.len() / n_outputs) as u32,
            };
            // A child's totals are its parent's minus its sibling's; with fractional class
            // weights that can leave -1e-15 where 0 is meant. Probabilities are clamped so the
            // decoder's [0, 1] check holds for every forest the trainer writes.
            let probability = |c: f64| (c / node_weight).clamp(0.0, 1.0) as f32;
            if nc == 2 {
                leaf_values.push(probability(task.totals[1]));
            } else {
                leaf_values.extend(task.totals.iter().map(|&c| probability(c)));
            }
            if let Some(h) = task.hist {
                g.pool.push(h);
            }
            continue;
        };
        importances[split.feature] += decrease;

        // Partition rows[start..end]: bin <= split.bin first.
        let col = data.column(split.feature);
        let mid = node_rows.partition(task.start..task.end, |r| col[r as usize] <= split.bin);
        debug_assert_eq!(mid - task.start, split.left_n);

        let left_id = nodes.len();
        nodes[task.node] = BuildNode {
            feature: split.feature as u16,
            bin: split.bin,
            left: left_id as u32,
        };
        nodes.push(nodes[task.node]);
        nodes.push(nodes[task.node]);
        cover.extend([0.0, 0.0]);
        let depth = task.depth + 1;
        let (left_rows, right_rows) = (mid - task.start, task.end - mid);
        let need_left = g.full_mode && !g.is_leaf_by_rules(left_rows, depth, &split.left);
        let need_right = g.full_mode && !g.is_leaf_by_rules(right_rows, depth, &right_totals);
        let (mut left_hist, mut right_hist) = (None, None);
        if let Some(mut parent) = task.hist {
            let left_smaller = left_rows <= right_rows;
            let (small_range, large_range) = if left_smaller {
                (task.start..mid, mid..task.end)
            } else {
                (mid..task.end, task.start..mid)
            };
            let (need_small, need_large) = if left_smaller {
                (need_left, need_right)
            } else {
                (need_right, need_left)
            };
            let (mut small_h, mut large_h) = (None, None);
            if need_large && (need_small || small_range.len() + g.hist_len < large_range.len()) {
                let small = g.full_hist(node_rows.view(small_range.clone()));
                for (p, s) in parent.iter_mut().zip(&small) {
                    *p -= s;
                }
                large_h = Some(parent);
                if need_small {
                    small_h = Some(small);
                } else {
                    g.pool.push(small);
                }
            } else {
                if need_large {
                    large_h = Some(g.full_hist(node_rows.view(large_range.clone())));
                }
                if need_small {
                    small_h = Some(g.full_hist(node_rows.view(small_range.clone())));
                }
                g.pool.push(parent);
            }
            if left_smaller {
                (left_hist, right_hist) = (small_h, large_h);
            } else {
                (left_hist, right_hist) = (large_h, small_h);
            }
        }
        stack.push(Task {
            node: left_id + 1,
            start: mid,
            end: task.end,
            depth,
            totals: right_totals,
            hist: right_hist,
        });
        stack.push(Task {
            node: left_id,
            start: task.start,
            end: mid,
            depth,
            totals: split.left,
            hist: left_hist,
        });
    }

    // Canonical preorder.
    let mut pre_nodes = Vec::with_capacity(nodes.len());
    let mut pre_values = Vec::with_capacity(leaf_values.len());
    let mut pre_cover = Vec::with_capacity(nodes.len());
    let mut dfs = vec![0usize];
    while let Some(id) = dfs.pop() {
        let node = nodes[id];
        pre_cover.push(cover[id]);
        if node.feature == LEAF {
            pre_nodes.push(TreeNode {
                feature: LEAF,
                threshold: 0.0,
            });
            let start = node.left as usize * n_outputs;
            pre_values.extend_from_slice(&leaf_values[start..start + n_outputs]);
        } else {
            let f = usize::from(node.feature);
            pre_nodes.push(TreeNode {
                feature: node.feature,
                threshold: data.edges[f][usize::from(node.bin)],
            });
            dfs.push(node.left as usize + 1);
            dfs.push(node.left as usize);
        }
    }
    GrownTree {
        tree: PreorderTree {
            nodes: pre_nodes,
            leaf_values: pre_values,
        },
        cover: pre_cover,
        importances,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_impurities_by_hand() {
        // Gini of [3, 1]: 1 - (0.75² + 0.25²) = 0.375; times W = 4 → 1.5.
        assert!((weighted_impurity(Criterion::Gini, &[3.0, 1.0]) - 1.5).abs() < 1e-12);
        // Entropy of [2, 2] = 1 bit; times 4 → 4.
        assert!((weighted_impurity(Criterion::Entropy, &[2.0, 2.0]) - 4.0).abs() < 1e-12);
        assert_eq!(impurity(Criterion::Gini, &[5.0, 0.0]), 0.0);
    }

    #[test]
    fn bit_iter_yields_ascending_set_bits() {
        let mut words = [0u64; 4];
        for b in [3usize, 64, 65, 200, 255] {
            words[b >> 6] |= 1 << (b & 63);
        }
        assert_eq!(
            BitIter::new(words).collect::<Vec<_>>(),
            vec![3, 64, 65, 200, 255]
        );
    }
}
