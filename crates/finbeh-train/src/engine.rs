//! The flat inference layout: every tree's nodes in one array, children adjacent.
//!
//! A leaf points to itself with threshold +inf, so a row walks exactly `depth` steps with no
//! branch on "is this a leaf" (`idx = left + (x > threshold)`), and a block of rows walks one
//! tree at a time (tree-major) so the tree's nodes stay in L1 while many independent row walks
//! overlap in the CPU.

use crate::binning::bin_of;
use crate::error::{Result, TrainError};
use crate::tree::{LEAF, PreorderTree, TreeNode};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    threshold: f32,
    feature: u32,
    left: u32,
}

/// Rows walked together in the batch path.
const BLOCK: usize = 64;

/// Inference layout of a whole forest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FlatForest {
    nodes: Vec<Node>,
    /// `n_outputs` values per node (meaningful for leaves only).
    values: Vec<f32>,
    roots: Vec<u32>,
    depths: Vec<u32>,
    n_outputs: usize,
    n_features: usize,
    /// Fast batch layout, when the forest fits it (see [`Compiled`]).
    compiled: Option<Compiled>,
}

impl FlatForest {
    /// Lays out preorder trees. Errors when a tree is malformed (only possible for decoded input).
    pub(crate) fn from_trees(
        trees: &[PreorderTree],
        n_outputs: usize,
        n_features: usize,
    ) -> Result<Self> {
        let total: usize = trees.iter().map(|t| t.nodes.len()).sum();
        if total > u32::MAX as usize / 2 {
            return Err(TrainError::Decode {
                reason: format!("{total} nodes exceed the supported 2^31"),
            });
        }
        let mut forest = Self {
            nodes: Vec::with_capacity(total),
            values: Vec::with_capacity(total * n_outputs),
            roots: Vec::with_capacity(trees.len()),
            depths: Vec::with_capacity(trees.len()),
            n_outputs,
            n_features,
            compiled: None,
        };
        for (t, tree) in trees.iter().enumerate() {
            forest.push_tree(t, tree)?;
        }
        forest.compiled = Compiled::build(&forest);
        Ok(forest)
    }

    fn alloc(&mut self) -> usize {
        self.nodes.push(Node {
            threshold: f32::INFINITY,
            feature: 0,
            left: 0,
        });
        self.values.extend(std::iter::repeat_n(0.0, self.n_outputs));
        self.nodes.len() - 1
    }

    fn push_tree(&mut self, t: usize, tree: &PreorderTree) -> Result<()> {
        let malformed = |reason: String| TrainError::Decode {
            reason: format!("tree {t}: {reason}"),
        };
        let root = self.alloc();
        let mut pending = vec![(root, 0u32)];
        let mut max_depth = 0u32;
        let mut leaf = 0usize;
        for (i, &TreeNode { feature, threshold }) in tree.nodes.iter().enumerate() {
            let Some((slot, depth)) = pending.pop() else {
                return Err(malformed(format!("node {i} follows a complete tree")));
            };
            if feature == LEAF {
                let k = self.n_outputs;
                let src = tree
                    .leaf_values
                    .get(leaf * k..(leaf + 1) * k)
                    .ok_or_else(|| malformed(format!("leaf {leaf} has no values")))?;
                self.values[slot * k..(slot + 1) * k].copy_from_slice(src);
                self.nodes[slot] = Node {
                    threshold: f32::INFINITY,
                    feature: 0,
                    left: slot as u32,
                };
                leaf += 1;
                max_depth = max_depth.max(depth);
            } else {
                if usize::from(feature) >= self.n_features {
                    return Err(malformed(format!(
                        "node {i} splits on feature {feature}, model has {}",
                        self.n_features
                    )));
                }
                if !threshold.is_finite() {
                    return Err(malformed(format!("node {i} has threshold {threshold}")));
                }
                let left = self.alloc();
                self.alloc();
                self.nodes[slot] = Node {
                    threshold,
                    feature: u32::from(feature),
                    left: left as u32,
                };
                pending.push((left + 1, depth + 1));
                pending.push((left, depth + 1));
            }
        }
        if !pending.is_empty() {
            return Err(malformed("truncated: subtrees missing".into()));
        }
        if leaf * self.n_outputs != tree.leaf_values.len() {
            return Err(malformed("more leaf values than leaves".into()));
        }
        self.roots.push(root as u32);
        self.depths.push(max_depth);
        Ok(())
    }

    pub(crate) fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Back to canonical preorder (for encoding).
    pub(crate) fn to_trees(&self) -> Vec<PreorderTree> {
        let k = self.n_outputs;
        self.roots
            .iter()
            .map(|&root| {
                let mut nodes = Vec::new();
                let mut leaf_values = Vec::new();
                let mut dfs = vec![root as usize];
                while let Some(id) = dfs.pop() {
                    let n = self.nodes[id];
                    if n.left as usize == id {
                        nodes.push(TreeNode {
                            feature: LEAF,
                            threshold: 0.0,
                        });
                        leaf_values.extend_from_slice(&self.values[id * k..(id + 1) * k]);
                    } else {
                        nodes.push(TreeNode {
                            feature: n.feature as u16,
                            threshold: n.threshold,
                        });
                        dfs.push(n.left as usize + 1);
                        dfs.push(n.left as usize);
                    }
                }
                PreorderTree { nodes, leaf_values }
            })
            .collect()
    }

    /// Leaf node reached by `row` in tree `t`.
    #[inline]
    pub(crate) fn leaf_of(&self, t: usize, row: &[f32]) -> usize {
        let mut idx = self.roots[t] as usize;
        for _ in 0..self.depths[t] {
            let n = self.nodes[idx];
            idx = n.left as usize + usize::from(row[n.feature as usize] > n.threshold);
        }
        idx
    }

    /// Adds tree `t`'s leaf values for leaf node `leaf` to `acc`.
    #[inline]
    pub(crate) fn add_leaf(&self, leaf: usize, acc: &mut [f64]) {
        let k = self.n_outputs;
        for (a, &v) in acc.iter_mut().zip(&self.values[leaf * k..(leaf + 1) * k]) {
            *a += f64::from(v);
        }
    }

    /// Sums all trees' outputs for one (validated) row into `acc` (len `n_outputs`), in tree order.
    pub(crate) fn accumulate_row(&self, row: &[f32], acc: &mut [f64]) {
        match &self.compiled {
            Some(c) => c.accumulate_row(row, acc),
            None => self.accumulate_row_float(row, acc),
        }
    }

    /// The float walk over the flat layout (reference for the compiled walk).
    fn accumulate_row_float(&self, row: &[f32], acc: &mut [f64]) {
        for t in 0..self.roots.len() {
            let leaf = self.leaf_of(t, row);
            self.add_leaf(leaf, acc);
        }
    }

    /// Same sums as [`Self::accumulate_row`] for consecutive rows `rows` (row-major, validated),
    /// bit-identical: per row the trees are added in the same order.
    pub(crate) fn accumulate_rows(&self, rows: &[f32], acc: &mut [f64]) {
        if let Some(c) = &self.compiled {
            return match c.width {
                16 => c.accumulate_rows::<16>(rows, self.n_features, self.n_outputs, acc),
                32 => c.accumulate_rows::<32>(rows, self.n_features, self.n_outputs, acc),
                64 => c.accumulate_rows::<64>(rows, self.n_features, self.n_outputs, acc),
                128 => c.accumulate_rows::<128>(rows, self.n_features, self.n_outputs, acc),
                _ => c.accumulate_rows::<256>(rows, self.n_features, self.n_outputs, acc),
            };
        }
        let nf = self.n_features;
        let k = self.n_outputs;
        let mut idx = [0usize; BLOCK];
        for (block, block_acc) in rows.chunks(BLOCK * nf).zip(acc.chunks_mut(BLOCK * k)) {
            let m = block.len() / nf;
            let idx = &mut idx[..m];
            for t in 0..self.roots.len() {
                idx.fill(self.roots[t] as usize);
                for _ in 0..self.depths[t] {
                    for (r, i) in idx.iter_mut().enumerate() {
                        let n = self.nodes[*i];
                        *i = n.left as usize
                            + usize::from(block[r * nf + n.feature as usize] > n.threshold);
                    }
                }
                for (r, &leaf) in idx.iter().enumerate() {
                    self.add_leaf(leaf, &mut block_acc[r * k..(r + 1) * k]);
                }
            }
        }
    }

    /// Number of nodes (all trees).
    pub(crate) fn n_nodes(&self) -> usize {
        self.nodes.len()
    }
}

/// Deepest tree the compiled layout takes (perfect trees of 1024 leaves).
const COMPILED_MAX_DEPTH: u32 = 10;
const COMPILED_SLOTS: usize = 1 << COMPILED_MAX_DEPTH;
/// Pass-through node: bin 255 is never exceeded, so the walk always goes left.
const PASS: u8 = 0xFF;

/// One tree as a perfect binary tree in implicit (heap) order over binned features: the node in
/// slot `i` sends a row right when its bin of `features[i]` exceeds `bins[i]`, children of `i` are `2i+1`
/// and `2i+2`, and shallow leaves are padded with pass-through nodes down to the tree's depth.
/// Fixed-size arrays indexed by masked values and u8 features let the compiler drop every
/// bounds check in the walk.
#[derive(Debug, Clone, PartialEq)]
struct CompiledTree {
    depth: u32,
    /// Split feature per heap slot.
    features: Box<[u8; COMPILED_SLOTS]>,
    /// Split bin per heap slot (go right when the row's bin exceeds it; 255 = pass-through).
    bins: Box<[u8; COMPILED_SLOTS]>,
    /// Per output, the value of each leaf slot.
    leaves: Vec<Box<[f32; COMPILED_SLOTS]>>,
}

/// The batch layout: rows are first binned against each feature's sorted distinct thresholds
/// (`bin = #thresholds < x`, so `bin > k ⇔ x > thresholds[k]`: exactly the float test), then
/// walked in u8. Used when every tree has depth <= 10, there are at most 256 features and at
/// most 255 distinct thresholds per feature — true for forests trained with the defaults.
#[derive(Debug, Clone, PartialEq)]
struct Compiled {
    /// Per feature, sorted distinct thresholds padded with +inf.
    cuts: Vec<[f32; 256]>,
    trees: Vec<CompiledTree>,
    /// Row width in the binned buffer: a power of two >= n_features.
    width: usize,
}

impl Compiled {
    fn build(forest: &FlatForest) -> Option<Self> {
        if forest.n_features > 256 || forest.depths.iter().any(|&d| d > COMPILED_MAX_DEPTH) {
            return None;
        }
        let mut cuts = vec![Vec::new(); forest.n_features];
        for (i, n) in forest.nodes.iter().enumerate() {
            if n.left as usize != i {
                cuts[n.feature as usize].push(n.threshold);
            }
        }
        for c in &mut cuts {
            c.sort_by(f32::total_cmp);
            c.dedup();
            if c.len() > 255 {
                return None;
            }
        }
        let padded = cuts
            .iter()
            .map(|c| {
                let mut p = [f32::INFINITY; 256];
                p[..c.len()].copy_from_slice(c);
                p
            })
            .collect();
        let k = forest.n_outputs;
        let trees = forest
            .roots
            .iter()
            .zip(&forest.depths)
            .map(|(&root, &depth)| {
                let mut tree = CompiledTree {
                    depth,
                    features: Box::new([0; COMPILED_SLOTS]),
                    bins: Box::new([PASS; COMPILED_SLOTS]),
                    leaves: vec![Box::new([0.0; COMPILED_SLOTS]); k],
                };
                let first_leaf = (1usize << depth) - 1;
                // (flat node, heap slot, level)
                let mut stack = vec![(root as usize, 0usize, 0u32)];
                while let Some((id, slot, level)) = stack.pop() {
                    let n = forest.nodes[id];
                    if level == depth {
                        let leaf = slot - first_leaf;
                        for (o, out) in tree.leaves.iter_mut().enumerate() {
                            out[leaf] = forest.values[id * k + o];
                        }
                    } else if n.left as usize == id {
                        // Shallow leaf: pass through to the leftmost slot at full depth.
                        stack.push((id, 2 * slot + 1, level + 1));
                    } else {
                        let f = n.feature as usize;
                        tree.features[slot] = f as u8;
                        tree.bins[slot] = cuts[f].partition_point(|&c| c < n.threshold) as u8;
                        stack.push((n.left as usize, 2 * slot + 1, level + 1));
                        stack.push((n.left as usize + 1, 2 * slot + 2, level + 1));
                    }
                }
                tree
            })
            .collect();
        Some(Self {
            cuts: padded,
            trees,
            width: forest.n_features.next_power_of_two().max(16),
        })
    }

    /// One row, no allocation: binned into a stack array, then walked tree by tree.
    fn accumulate_row(&self, row: &[f32], acc: &mut [f64]) {
        let mut binned = [0u8; 256];
        for ((d, &x), cuts) in binned.iter_mut().zip(row).zip(&self.cuts) {
            *d = bin_of(cuts, x);
        }
        for tree in &self.trees {
            let mut i = 0usize;
            for _ in 0..tree.depth {
                let slot = i & (COMPILED_SLOTS - 1);
                let go_right = binned[usize::from(tree.features[slot])] > tree.bins[slot];
                i = 2 * i + 1 + usize::from(go_right);
            }
            let leaf = i.wrapping_sub((1usize << tree.depth) - 1) & (COMPILED_SLOTS - 1);
            for (a, values) in acc.iter_mut().zip(&tree.leaves) {
                *a += f64::from(values[leaf]);
            }
        }
    }

    fn accumulate_rows<const W: usize>(&self, rows: &[f32], nf: usize, k: usize, acc: &mut [f64]) {
        let mut binned = [[0u8; W]; BLOCK];
        let mut idx = [0usize; BLOCK];
        for (block, block_acc) in rows.chunks(BLOCK * nf).zip(acc.chunks_mut(BLOCK * k)) {
            let m = block.len() / nf;
            for (dst, row) in binned.iter_mut().zip(block.chunks_exact(nf)) {
                for ((d, &x), cuts) in dst.iter_mut().zip(row).zip(&self.cuts) {
                    *d = bin_of(cuts, x);
                }
            }
            for tree in &self.trees {
                for (g, group) in binned
                    .chunks_exact(GROUP)
                    .enumerate()
                    .take(m.div_ceil(GROUP))
                {
                    let Ok(group) = <&[[u8; W]; GROUP]>::try_from(group) else {
                        continue;
                    };
                    let walked = walk_group(tree, group);
                    let lanes = (m - g * GROUP).min(GROUP);
                    idx[g * GROUP..g * GROUP + lanes].copy_from_slice(&walked[..lanes]);
                }
                let first_leaf = (1usize << tree.depth) - 1;
                if let [values] = tree.leaves.as_slice() {
                    for (a, &i) in block_acc.iter_mut().zip(&idx[..m]) {
                        *a += f64::from(values[i.wrapping_sub(first_leaf) & (COMPILED_SLOTS - 1)]);
                    }
                } else {
                    for (r, &i) in idx[..m].iter().enumerate() {
                        let leaf = i.wrapping_sub(first_leaf) & (COMPILED_SLOTS - 1);
                        for (a, values) in
                            block_acc[r * k..(r + 1) * k].iter_mut().zip(&tree.leaves)
                        {
                            *a += f64::from(values[leaf]);
                        }
                    }
                }
            }
        }
    }
}

/// Rows walked in lock-step: enough independent chains to hide load latency, few enough that
/// their indices stay in registers.
const GROUP: usize = 16;

/// Walks `GROUP` binned rows down one compiled tree; returns their heap slots at full depth.
#[inline(always)]
fn walk_group<const W: usize>(tree: &CompiledTree, rows: &[[u8; W]; GROUP]) -> [usize; GROUP] {
    let (features, bins) = (&*tree.features, &*tree.bins);
    let mut idx = [0usize; GROUP];
    for _ in 0..tree.depth {
        for (i, row) in idx.iter_mut().zip(rows) {
            let slot = *i & (COMPILED_SLOTS - 1);
            let feature = usize::from(features[slot]) & (W - 1);
            *i = 2 * *i + 1 + usize::from(row[feature] > bins[slot]);
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random tree of depth <= `max_depth` over `nf` features, thresholds on a coarse grid so
    /// test rows hit them exactly.
    fn random_tree(state: &mut u64, nf: usize, max_depth: u32, k: usize) -> PreorderTree {
        let mut next = || crate::rng::splitmix64(state);
        let mut nodes = Vec::new();
        let mut leaf_values = Vec::new();
        let mut stack = vec![0u32];
        while let Some(depth) = stack.pop() {
            if depth == max_depth || (depth > 1 && next() % 4 == 0) {
                nodes.push(TreeNode {
                    feature: LEAF,
                    threshold: 0.0,
                });
                for _ in 0..k {
                    leaf_values.push((next() % 1000) as f32 / 1000.0);
                }
            } else {
                nodes.push(TreeNode {
                    feature: (next() % nf as u64) as u16,
                    threshold: (next() % 20) as f32 / 4.0 - 2.0,
                });
                stack.push(depth + 1);
                stack.push(depth + 1);
            }
        }
        PreorderTree { nodes, leaf_values }
    }

    fn check(nf: usize, k: usize, max_depth: u32, expect_compiled: bool) {
        let mut state = 99 + nf as u64;
        let trees: Vec<_> = (0..15)
            .map(|_| random_tree(&mut state, nf, max_depth, k))
            .collect();
        let forest = FlatForest::from_trees(&trees, k, nf).unwrap();
        assert_eq!(forest.compiled.is_some(), expect_compiled);
        // Grid values (often equal to thresholds), values beyond them and in between.
        let n = 300;
        let rows: Vec<f32> = (0..n * nf)
            .map(|_| (crate::rng::splitmix64(&mut state) % 26) as f32 / 4.0 - 3.0 + 0.0)
            .collect();
        let mut batch = vec![0.0; n * k];
        forest.accumulate_rows(&rows, &mut batch);
        for (r, row) in rows.chunks(nf).enumerate() {
            let mut float = vec![0.0; k];
            forest.accumulate_row_float(row, &mut float);
            let mut single = vec![0.0; k];
            forest.accumulate_row(row, &mut single);
            for o in 0..k {
                assert_eq!(float[o].to_bits(), batch[r * k + o].to_bits(), "row {r}");
                assert_eq!(float[o].to_bits(), single[o].to_bits(), "row {r}");
            }
        }
        assert_eq!(
            FlatForest::from_trees(&forest.to_trees(), k, nf).unwrap(),
            forest
        );
    }

    #[test]
    fn compiled_walk_matches_float_walk_including_ties_at_thresholds() {
        check(12, 1, 10, true);
        check(3, 3, 7, true);
        check(40, 1, 10, true);
    }

    #[test]
    fn forests_outside_the_compiled_limits_use_the_float_walk() {
        check(5, 1, 12, false);
        check(300, 1, 6, false);
    }

    #[test]
    fn malformed_trees_are_refused() {
        let leaf = TreeNode {
            feature: LEAF,
            threshold: 0.0,
        };
        let split = TreeNode {
            feature: 0,
            threshold: 0.5,
        };
        let truncated = PreorderTree {
            nodes: vec![split, leaf],
            leaf_values: vec![0.5],
        };
        assert!(FlatForest::from_trees(&[truncated], 1, 1).is_err());
        let bad_feature = PreorderTree {
            nodes: vec![split, leaf, leaf],
            leaf_values: vec![0.5, 0.5],
        };
        assert!(FlatForest::from_trees(&[bad_feature], 1, 0).is_err());
        let extra = PreorderTree {
            nodes: vec![leaf, leaf],
            leaf_values: vec![0.5, 0.5],
        };
        assert!(FlatForest::from_trees(&[extra], 1, 1).is_err());
    }
}
