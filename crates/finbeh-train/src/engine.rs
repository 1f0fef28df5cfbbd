//! The flat inference layout: every tree's nodes in one array, children adjacent.
//!
//! A leaf points to itself with threshold +inf, so a row walks exactly `depth` steps with no
//! branch on "is this a leaf" (`idx = left + (x > threshold)`), and a block of rows walks one
//! tree at a time (tree-major) so the tree's nodes stay in L1 while many independent row walks
//! overlap in the CPU.

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
        };
        for (t, tree) in trees.iter().enumerate() {
            forest.push_tree(t, tree)?;
        }
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
        for t in 0..self.roots.len() {
            let leaf = self.leaf_of(t, row);
            self.add_leaf(leaf, acc);
        }
    }

    /// Same sums as [`Self::accumulate_row`] for consecutive rows `rows` (row-major, validated),
    /// bit-identical: per row the trees are added in the same order.
    pub(crate) fn accumulate_rows(&self, rows: &[f32], acc: &mut [f64]) {
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
