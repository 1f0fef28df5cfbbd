//! A read-only view of a fitted forest's trees, for code that walks them itself (explainers):
//! each node's children, split feature and threshold, training cover, and each leaf's values.

use crate::tree::{LEAF, PreorderTree};

/// One node of a [`TreeView`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NodeView {
    /// An internal node: rows with `x[feature] <= threshold` go to `left`, the others to `right`
    /// (node indices within the same tree).
    Split {
        /// Feature index (column of the pipeline's output).
        feature: usize,
        /// Split threshold.
        threshold: f32,
        /// Left child.
        left: usize,
        /// Right child.
        right: usize,
    },
    /// A leaf; its values are [`TreeView::leaf_values`].
    Leaf,
}

/// One tree: nodes in preorder (node 0 is the root, a split's left child follows it).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeView {
    nodes: Vec<NodeView>,
    /// Per node: start of its leaf values in `values` (leaves only).
    value_at: Vec<usize>,
    values: Vec<f32>,
    cover: Option<Vec<f64>>,
    n_outputs: usize,
}

impl TreeView {
    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }
    /// Every node, in preorder.
    pub fn nodes(&self) -> &[NodeView] {
        &self.nodes
    }
    /// Node `node` (`None` past the end).
    pub fn node(&self, node: usize) -> Option<NodeView> {
        self.nodes.get(node).copied()
    }
    /// Training cover of `node`: the summed weights (bootstrap count × class weight) of the
    /// training rows that reached it, scikit-learn's `weighted_n_node_samples`. `None` when the
    /// forest carries no cover (artifacts before format 1.3.0).
    pub fn cover(&self, node: usize) -> Option<f64> {
        self.cover.as_ref()?.get(node).copied()
    }
    /// A leaf's class distribution as stored: binary models one value, P(class 1); multi-class
    /// models one probability per class. `None` for a split or past the end.
    pub fn leaf_values(&self, node: usize) -> Option<&[f32]> {
        match self.nodes.get(node)? {
            NodeView::Leaf => {
                let start = *self.value_at.get(node)?;
                self.values.get(start..start + self.n_outputs)
            }
            NodeView::Split { .. } => None,
        }
    }
}

/// Every tree of a forest (see [`crate::RandomForest::view`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ForestView {
    trees: Vec<TreeView>,
    n_classes: usize,
}

impl ForestView {
    /// Builds the view of preorder trees; `cover` holds every node of every tree in order (its
    /// length is checked by the decoder, and a mismatch leaves the view without cover).
    pub(crate) fn new(trees: &[PreorderTree], cover: Option<&[f64]>, n_classes: usize) -> Self {
        let n_outputs = if n_classes == 2 { 1 } else { n_classes };
        let total: usize = trees.iter().map(|t| t.nodes.len()).sum();
        let cover = cover.filter(|c| c.len() == total);
        let mut offset = 0;
        let views = trees
            .iter()
            .map(|tree| {
                let n = tree.nodes.len();
                let view = tree_view(
                    tree,
                    n_outputs,
                    cover.map(|c| c[offset..offset + n].to_vec()),
                );
                offset += n;
                view
            })
            .collect();
        Self {
            trees: views,
            n_classes,
        }
    }
    /// The trees, in the forest's order (the forest's probability is their mean).
    pub fn trees(&self) -> &[TreeView] {
        &self.trees
    }
    /// Number of classes; binary leaves hold one value (P(class 1)), others one per class.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }
    /// Whether every node carries its training cover.
    pub fn has_cover(&self) -> bool {
        self.trees.iter().all(|t| t.cover.is_some())
    }
}

/// Resolves the preorder's implicit children: a split's left child is the next node, its right
/// child follows the left subtree. Subtree sizes come from a reverse pass (a complete preorder
/// tree, as every decoded or fitted tree is, read backwards shows each split after both subtrees).
fn tree_view(tree: &PreorderTree, n_outputs: usize, cover: Option<Vec<f64>>) -> TreeView {
    let n = tree.nodes.len();
    let mut nodes = vec![NodeView::Leaf; n];
    let mut value_at = vec![0; n];
    let mut leaf = 0;
    for (i, node) in tree.nodes.iter().enumerate() {
        if node.feature == LEAF {
            value_at[i] = leaf * n_outputs;
            leaf += 1;
        }
    }
    let mut sizes: Vec<usize> = Vec::new();
    for (i, node) in tree.nodes.iter().enumerate().rev() {
        if node.feature == LEAF {
            sizes.push(1);
        } else {
            let left_size = sizes.pop().unwrap_or(0);
            let right_size = sizes.pop().unwrap_or(0);
            nodes[i] = NodeView::Split {
                feature: usize::from(node.feature),
                threshold: node.threshold,
                left: i + 1,
                right: i + 1 + left_size,
            };
            sizes.push(1 + left_size + right_size);
        }
    }
    TreeView {
        nodes,
        value_at,
        values: tree.leaf_values.clone(),
        cover,
        n_outputs,
    }
}
