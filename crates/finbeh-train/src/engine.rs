//! The flat inference layout: every tree's nodes in one array, children adjacent.
//!
//! A leaf points to itself with threshold +inf, so a row walks exactly `depth` steps with no
//! branch on "is this a leaf" (`idx = left + (x > threshold)`), and a block of rows walks one
//! tree at a time (tree-major) so the tree's nodes stay in L1 while many independent row walks
//! overlap in the CPU.

use crate::binning::{bin_of_eytzinger, eytzinger};
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
        let n_values = total
            .checked_mul(n_outputs)
            .filter(|&n| n <= isize::MAX as usize / 4)
            .ok_or_else(|| TrainError::Decode {
                reason: format!("{total} nodes × {n_outputs} outputs overflow the value table"),
            })?;
        let mut forest = Self {
            nodes: Vec::with_capacity(total),
            values: Vec::with_capacity(n_values),
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
        if let Some(c) = &self.compiled
            && c.accumulate_rows(rows, self.n_features, self.n_outputs, acc)
        {
            return;
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
/// Heap slots per compiled tree: internal slots are `1..1024`, leaves `1024..2048` at depth 10.
const COMPILED_SLOTS: usize = 1 << COMPILED_MAX_DEPTH;
/// Pass-through node: bin 255 is never exceeded, so the walk always goes left.
const PASS: u8 = 0xFF;
/// Rows binned together in the batch path; each test's outcome for them is one `u64` mask.
const LANES: usize = 64;
/// Rows walked in lock-step: enough independent walks to hide the two dependent loads of a
/// step (measured: 16 beats 8 by ~30% and 32 by ~15%). Divides `LANES`; one u16 of a test mask
/// per group.
const GROUP: usize = 16;
/// Test-table entries: any u16 test index is in bounds without a check (a check would pin the
/// order of the loads). Only the first `n_tests` entries are written or read, so the untouched
/// rest costs address space, not cache.
const TABLE_ENTRIES: usize = 1 << 16;

/// One tree as a perfect binary tree in implicit (heap) order over binned features: the root is
/// slot 1, the children of slot `i` are `2i` (left) and `2i + 1` (right), so a step is
/// `i = 2i + went_right`. Shallow leaves are padded with pass-through nodes down to the tree's
/// depth, so every row walks exactly `depth` steps. Fixed-size arrays indexed by masked values
/// and u8 features let the compiler drop bounds checks in the walk.
#[derive(Debug, Clone, PartialEq)]
struct CompiledTree {
    depth: u32,
    /// Split feature per heap slot (single-row walk).
    features: Box<[u8; COMPILED_SLOTS]>,
    /// Split bin per heap slot (go right when the row's bin exceeds it; 255 = pass-through).
    bins: Box<[u8; COMPILED_SLOTS]>,
    /// Per heap slot, the index of its test `(feature, bin)` in the batch test table (batch walk).
    tests: Box<[u16; COMPILED_SLOTS]>,
    /// Per output, the value of each leaf (heap slot minus `2^depth`), as f32 like the model's
    /// leaf values: widened to f64 per add (exact, so the sums are the same), 4 KiB rather than
    /// 8 KiB a tree (measured: the row path ~8 % faster, the batch path unchanged).
    leaves: Vec<Box<[f32; COMPILED_SLOTS]>>,
}

/// The fast layout: rows are first binned against each feature's sorted distinct thresholds
/// (`bin = #thresholds < x`, so `bin > k ⇔ x > thresholds[k]`: exactly the float test), then
/// walked on bins. Used when every tree has depth <= 10, there are at most 256 features, at
/// most 255 distinct thresholds per feature and the layout's memory is within budget (see
/// [`COMPILED_MAX_RATIO`]) — true for forests trained with the defaults.
///
/// The batch walk goes further: for a block of 64 rows it tabulates every distinct test of the
/// forest once (`(feature f, bin k)` → mask of the rows with `bin_f > k`, built from per-bin
/// row masks with one running AND per threshold), so a step of the walk is two loads (the slot's
/// test index, that test's u64 mask) instead of extracting and comparing.
#[derive(Debug, Clone, PartialEq)]
struct Compiled {
    /// Per feature, sorted distinct thresholds padded with +inf, in Eytzinger order (see
    /// [`eytzinger`]).
    cuts: Vec<[f32; 256]>,
    /// Per feature, its first test index and number of distinct thresholds; the test of
    /// `(f, k)` is `first + k`.
    tests_of: Vec<(usize, usize)>,
    /// Distinct tests plus one (the last, never true, for pass-through slots): at most
    /// 256 × 255 + 1, so a test index fits in u16.
    n_tests: usize,
    trees: Vec<CompiledTree>,
}

/// A compiled layout up to this size is built whatever the flat layout's size.
const COMPILED_FREE_BYTES: usize = 64 << 20;
/// Beyond [`COMPILED_FREE_BYTES`], the compiled layout may take at most this many times the
/// flat layout's memory. It costs a fixed ~4 KiB + 4 KiB per output for every tree, so without
/// this a decoded file of tiny trees would cost about a thousand times its own size.
const COMPILED_MAX_RATIO: usize = 4;

/// Memory of the compiled layout of `forest` (saturating).
fn compiled_bytes(forest: &FlatForest) -> usize {
    let per_tree = forest
        .n_outputs
        .saturating_mul(COMPILED_SLOTS * size_of::<f32>())
        .saturating_add(COMPILED_SLOTS * (2 * size_of::<u8>() + size_of::<u16>()));
    forest.roots.len().saturating_mul(per_tree)
}

impl Compiled {
    fn build(forest: &FlatForest) -> Option<Self> {
        if forest.n_features > 256 || forest.depths.iter().any(|&d| d > COMPILED_MAX_DEPTH) {
            return None;
        }
        let flat_bytes = forest.nodes.len() * size_of::<Node>() + forest.values.len() * 4;
        let compiled = compiled_bytes(forest);
        if compiled > COMPILED_FREE_BYTES && compiled / COMPILED_MAX_RATIO > flat_bytes {
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
        let mut tests_of = Vec::with_capacity(cuts.len());
        let mut n_tests = 0;
        for c in &cuts {
            tests_of.push((n_tests, c.len()));
            n_tests += c.len();
        }
        let pass_test = u16::try_from(n_tests).ok()?;
        n_tests += 1;
        let searchable = cuts
            .iter()
            .map(|c| {
                let mut p = [f32::INFINITY; 256];
                p[..c.len()].copy_from_slice(c);
                eytzinger(&p)
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
                    tests: Box::new([pass_test; COMPILED_SLOTS]),
                    leaves: vec![Box::new([0.0; COMPILED_SLOTS]); k],
                };
                let first_leaf = 1usize << depth;
                // (flat node, heap slot, level)
                let mut stack = vec![(root as usize, 1usize, 0u32)];
                while let Some((id, slot, level)) = stack.pop() {
                    let n = forest.nodes[id];
                    if level == depth {
                        let leaf = slot - first_leaf;
                        for (o, out) in tree.leaves.iter_mut().enumerate() {
                            out[leaf] = forest.values[id * k + o];
                        }
                    } else if n.left as usize == id {
                        // Shallow leaf: pass through to the leftmost slot at full depth.
                        stack.push((id, 2 * slot, level + 1));
                    } else {
                        let f = n.feature as usize;
                        let bin = cuts[f].partition_point(|&c| c < n.threshold);
                        tree.features[slot] = f as u8;
                        tree.bins[slot] = bin as u8;
                        // < pass_test <= u16::MAX
                        tree.tests[slot] = (tests_of[f].0 + bin) as u16;
                        stack.push((n.left as usize, 2 * slot, level + 1));
                        stack.push((n.left as usize + 1, 2 * slot + 1, level + 1));
                    }
                }
                tree
            })
            .collect();
        Some(Self {
            cuts: searchable,
            tests_of,
            n_tests,
            trees,
        })
    }

    /// One row, no allocation: binned into a stack array, then walked tree by tree.
    fn accumulate_row(&self, row: &[f32], acc: &mut [f64]) {
        let mut binned = [0u8; 256];
        for ((d, &x), cuts) in binned.iter_mut().zip(row).zip(&self.cuts) {
            *d = bin_of_eytzinger(cuts, x);
        }
        for tree in &self.trees {
            let mut i = 1usize;
            for _ in 0..tree.depth {
                let slot = i & (COMPILED_SLOTS - 1);
                let go_right = binned[usize::from(tree.features[slot])] > tree.bins[slot];
                i = 2 * i + usize::from(go_right);
            }
            let leaf = i.wrapping_sub(1usize << tree.depth) & (COMPILED_SLOTS - 1);
            for (a, values) in acc.iter_mut().zip(&tree.leaves) {
                *a += f64::from(values[leaf]);
            }
        }
    }

    /// Consecutive validated rows (row-major, `nf` columns) in blocks of [`LANES`]: per block,
    /// bin, tabulate the tests, then walk tree by tree (the tree stays in L1 for the block),
    /// adding each tree's leaf to each row's sums in tree order — the order of the row path.
    /// Returns false (and leaves `acc` untouched) only if the table cannot be allocated as a
    /// fixed-size array, which does not happen; the caller then uses the float walk.
    #[must_use]
    fn accumulate_rows(&self, rows: &[f32], nf: usize, k: usize, acc: &mut [f64]) -> bool {
        // Column-major bins of the block: `bins[f * LANES + r]`.
        let mut bins = vec![0u8; nf * LANES];
        // Per test, the mask of rows going right: `table[t]` bit `r` is row `r` of the block.
        // Reused per thread: a fresh 512 KiB zeroed table per call cost more than a 1024-row
        // chunk's binning. Entries past the pass-through test are never read.
        let mut table = match TEST_TABLE.take() {
            Some(table) => table,
            None => {
                let Ok(table) = <Box<[u64; TABLE_ENTRIES]>>::try_from(
                    vec![0u64; TABLE_ENTRIES].into_boxed_slice(),
                ) else {
                    return false;
                };
                table
            }
        };
        // The pass-through test (last) is all zero: never true.
        table[(self.n_tests - 1) & (TABLE_ENTRIES - 1)] = 0;
        let mut rows_elsewhere = [0u64; 256];
        let mut slots = [0usize; LANES];
        for (block, block_acc) in rows.chunks(LANES * nf).zip(acc.chunks_mut(LANES * k)) {
            let m = block.len() / nf;
            if m == 0 {
                continue;
            }
            // A feature at a time: one cut table, the rows' values `nf` apart.
            for (f, (cuts, column)) in self
                .cuts
                .iter()
                .zip(bins.chunks_exact_mut(LANES))
                .enumerate()
            {
                for (bin, &x) in column.iter_mut().zip(block[f..].iter().step_by(nf)) {
                    *bin = bin_of_eytzinger(cuts, x);
                }
            }
            let live = u64::MAX >> (LANES - m);
            for (column, &(first, n)) in bins.chunks(LANES).zip(&self.tests_of) {
                // Per bin, the rows not in it (each row clears its bit in its own bin's mask),
                // then a running AND: after bin k, `right` = rows with bin > k.
                rows_elsewhere[..=n].fill(u64::MAX);
                for (r, &b) in column[..m].iter().enumerate() {
                    rows_elsewhere[usize::from(b)] ^= 1 << r;
                }
                let mut right = live;
                for (entry, &elsewhere) in table[first..first + n].iter_mut().zip(&rows_elsewhere) {
                    right &= elsewhere;
                    *entry = right;
                }
            }
            for tree in &self.trees {
                let top = tree_top_levels(tree, &table);
                // `i & leaf_mask` = `i - 2^depth` for a slot `i` at full depth, and < 1024.
                let leaf_mask = ((1usize << tree.depth) - 1) & (COMPILED_SLOTS - 1);
                if let [values] = tree.leaves.as_slice() {
                    // One output: each group's walk adds its rows' leaves itself.
                    for (g, group_acc) in block_acc[..m].chunks_mut(GROUP).enumerate() {
                        let live = group_acc.len();
                        walk_group(tree, &table, g, live, &top, Some((values, group_acc)));
                    }
                } else {
                    for (g, group_slots) in slots
                        .chunks_exact_mut(GROUP)
                        .enumerate()
                        .take(m.div_ceil(GROUP))
                    {
                        let live = (m - g * GROUP).min(GROUP);
                        group_slots.copy_from_slice(&walk_group(tree, &table, g, live, &top, None));
                    }
                    for (r, &i) in slots[..m].iter().enumerate() {
                        let leaf = i & leaf_mask;
                        for (a, values) in
                            block_acc[r * k..(r + 1) * k].iter_mut().zip(&tree.leaves)
                        {
                            *a += f64::from(values[leaf]);
                        }
                    }
                }
            }
        }
        TEST_TABLE.set(Some(table));
        true
    }
}

thread_local! {
    /// The batch walk's test table, kept between calls on this thread (see
    /// [`Compiled::accumulate_rows`]).
    static TEST_TABLE: std::cell::Cell<Option<Box<[u64; TABLE_ENTRIES]>>> =
        const { std::cell::Cell::new(None) };
}

/// Levels of a tree decided for a whole block at once by [`tree_top_levels`]: the top nodes
/// are few, so their tests are cheaper as 64-row mask operations than as per-row steps.
const TOP_LEVELS: u32 = 6;
/// Levels below [`TOP_LEVELS`] walked row by row: at most 4 for trees of depth <= 10.
const REST_LEVELS: u32 = COMPILED_MAX_DEPTH - TOP_LEVELS;

/// `SPREAD[b]` has byte `k` equal to bit `k` of `b` (0 or 1): eight rows' went-right bits,
/// one per byte lane.
static SPREAD: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        while k < 8 {
            table[b] |= ((b as u64 >> k) & 1) << (8 * k);
            k += 1;
        }
        b += 1;
    }
    table
};

/// The first `levels` steps of every row of a block, as masks: bit `r` of `went_right[l]` says
/// whether row `r` went right at level `l`.
struct TopLevels {
    levels: u32,
    went_right: [u64; TOP_LEVELS as usize],
}

/// Walks the top `min(depth, TOP_LEVELS)` levels of `tree` for all 64 rows of a block with mask
/// operations: a node's reach mask splits into its children's by the node's test mask (the
/// right child's is `reach & test`, the left child's the rest of `reach`).
#[inline]
fn tree_top_levels(tree: &CompiledTree, table: &[u64; TABLE_ENTRIES]) -> TopLevels {
    let levels = tree.depth.min(TOP_LEVELS);
    let mut went_right = [0u64; TOP_LEVELS as usize];
    // Reach mask per heap slot above level TOP_LEVELS.
    let mut reach = [0u64; 1 << TOP_LEVELS];
    reach[1] = u64::MAX;
    for (l, right_at_level) in went_right.iter_mut().enumerate().take(levels as usize) {
        for slot in (1usize << l)..(2usize << l) {
            let slot = slot & ((1 << TOP_LEVELS) - 1);
            let right = reach[slot] & table[usize::from(tree.tests[slot])];
            *right_at_level |= right;
            if 2 * slot + 1 < (1 << TOP_LEVELS) {
                // The rest of the reach (`right` is part of it): one operation, not two.
                reach[2 * slot] = reach[slot] ^ right;
                reach[2 * slot + 1] = right;
            }
        }
    }
    TopLevels { levels, went_right }
}

/// Walks the first `live` rows of group `g` (rows `16g..16g + 16` of a block) down `tree` from
/// the slots `top` reached; returns their heap slots at full depth (then zeros). The group, the
/// number of lanes (16, or 8 or 4 for a block's last rows) and the number of levels left are
/// constants of the walk ([`walk_group_rest`]), so the lanes' bit shifts are immediates, the
/// slots' ranges are known (no bounds check, no index mask in a step) and a partial group walks
/// no more than 3 dead lanes past 4 live ones. With `leaf` (one output: its leaf values and the
/// group's `live` sums), each row's leaf is also added to its sum.
#[inline(always)]
fn walk_group(
    tree: &CompiledTree,
    table: &[u64; TABLE_ENTRIES],
    g: usize,
    live: usize,
    top: &TopLevels,
    leaf: LeafAdd<'_>,
) -> [usize; GROUP] {
    let rest = tree.depth - top.levels;
    match g & 3 {
        0 => walk_group_lanes::<0>(tree, table, live, top, rest, leaf),
        1 => walk_group_lanes::<1>(tree, table, live, top, rest, leaf),
        2 => walk_group_lanes::<2>(tree, table, live, top, rest, leaf),
        _ => walk_group_lanes::<3>(tree, table, live, top, rest, leaf),
    }
}

/// For a one-output forest, the tree's leaf values and a group's sums (one per live row).
type LeafAdd<'a> = Option<(&'a [f32; COMPILED_SLOTS], &'a mut [f64])>;

#[inline(always)]
fn walk_group_lanes<const G: usize>(
    tree: &CompiledTree,
    table: &[u64; TABLE_ENTRIES],
    live: usize,
    top: &TopLevels,
    rest: u32,
    leaf: LeafAdd<'_>,
) -> [usize; GROUP] {
    match live {
        0..=4 => walk_group_in::<G, 4>(tree, table, top, rest, leaf),
        5..=8 => walk_group_in::<G, 8>(tree, table, top, rest, leaf),
        _ => walk_group_in::<G, GROUP>(tree, table, top, rest, leaf),
    }
}

#[inline(always)]
fn walk_group_in<const G: usize, const N: usize>(
    tree: &CompiledTree,
    table: &[u64; TABLE_ENTRIES],
    top: &TopLevels,
    rest: u32,
    leaf: LeafAdd<'_>,
) -> [usize; GROUP] {
    match rest {
        0 => walk_group_rest::<G, N, 0>(tree, table, top, leaf),
        1 => walk_group_rest::<G, N, 1>(tree, table, top, leaf),
        2 => walk_group_rest::<G, N, 2>(tree, table, top, leaf),
        3 => walk_group_rest::<G, N, 3>(tree, table, top, leaf),
        _ => walk_group_rest::<G, N, REST_LEVELS>(tree, table, top, leaf),
    }
}

/// [`walk_group`] for the first `N` lanes of group `G` with `REST` levels left below the top
/// levels. A step is two
/// dependent loads (the slot's test, the test's mask), a shift by a constant, a mask and an
/// add: the slot after the top levels is < 128 (masked so the compiler knows it), so after
/// `REST <= 4` steps it is < 2048 and every step's slot < 1024 indexes `tests` unchecked, as
/// the u16 test index does the 2^16-entry table.
#[inline(always)]
fn walk_group_rest<const G: usize, const N: usize, const REST: u32>(
    tree: &CompiledTree,
    table: &[u64; TABLE_ENTRIES],
    top: &TopLevels,
    leaf: LeafAdd<'_>,
) -> [usize; GROUP] {
    let tests = &*tree.tests;
    // Slots after the top levels, eight lanes per u64 (one byte each, <= 2^(TOP_LEVELS+1) - 1):
    // per level, shift every lane's slot left and add the lane's went-right bit.
    let mut packed = [0x0101_0101_0101_0101u64; GROUP / 8];
    // Below REST > 0 levels, the top levels were all TOP_LEVELS: a constant count, unrolled.
    let levels = if REST == 0 { top.levels } else { TOP_LEVELS };
    for &right in &top.went_right[..levels as usize] {
        let bits = (right >> (G * GROUP)) as usize;
        for (h, p) in packed.iter_mut().enumerate().take(N.div_ceil(8)) {
            *p = (*p << 1) + SPREAD[(bits >> (8 * h)) & 0xFF];
        }
    }
    let mut i = [0usize; GROUP];
    for (lane, i) in i.iter_mut().enumerate().take(N) {
        *i = usize::from(packed[lane / 8].to_le_bytes()[lane % 8] & 0x7F);
    }
    // Unrolled by hand (a `for` over `REST` is not always unrolled, and then the slots'
    // ranges are lost and every step gets bounds checks).
    if REST >= 1 {
        i = walk_level::<G, N>(tests, table, i);
    }
    if REST >= 2 {
        i = walk_level::<G, N>(tests, table, i);
    }
    if REST >= 3 {
        i = walk_level::<G, N>(tests, table, i);
    }
    if REST >= 4 {
        i = walk_level::<G, N>(tests, table, i);
    }
    if let Some((values, acc)) = leaf {
        // `i & leaf_mask` = `i - 2^depth`; below the top levels the depth is a constant.
        let leaf_mask = if REST == 0 {
            (1usize << top.levels) - 1
        } else {
            (1 << (TOP_LEVELS + REST)) - 1
        } & (COMPILED_SLOTS - 1);
        // The slots are still in registers: no round trip through the returned array. A whole
        // group (the usual case) adds without a bounds check per row.
        if let Ok(acc) = <&mut [f64; N]>::try_from(&mut *acc) {
            for (a, &i) in acc.iter_mut().zip(&i) {
                *a += f64::from(values[i & leaf_mask]);
            }
        } else {
            for (a, &i) in acc.iter_mut().zip(&i).take(N) {
                *a += f64::from(values[i & leaf_mask]);
            }
        }
    }
    i
}

/// One level of [`walk_group_rest`]: each lane's step is two dependent loads (the slot's test,
/// the test's mask), a shift by a constant, a mask and an add.
#[inline(always)]
fn walk_level<const G: usize, const N: usize>(
    tests: &[u16; COMPILED_SLOTS],
    table: &[u64; TABLE_ENTRIES],
    mut i: [usize; GROUP],
) -> [usize; GROUP] {
    macro_rules! step {
        ($($lane:literal)*) => {
            $(
                if $lane < N {
                    let slot = i[$lane];
                    let mask = table[usize::from(tests[slot])];
                    i[$lane] = slot + slot + ((mask >> (G * GROUP + $lane)) & 1) as usize;
                }
            )*
        };
    }
    step!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random tree of depth <= `max_depth` over `nf` features, thresholds on a coarse grid so
    /// test rows hit them exactly.
    fn random_tree(state: &mut u64, nf: usize, max_depth: u32, k: usize) -> PreorderTree {
        random_tree_on_grid(state, nf, max_depth, k, 20)
    }

    /// Like [`random_tree`], thresholds among `grid` values spaced 1/4 apart from -2.
    fn random_tree_on_grid(
        state: &mut u64,
        nf: usize,
        max_depth: u32,
        k: usize,
        grid: u64,
    ) -> PreorderTree {
        let mut next = || finbeh_data::splitmix64(state);
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
                    threshold: (next() % grid) as f32 / 4.0 - 2.0,
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
            .map(|_| (finbeh_data::splitmix64(&mut state) % 26) as f32 / 4.0 - 3.0 + 0.0)
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

    /// Many distinct thresholds per feature (a large test table), rows on the threshold grid
    /// and beyond it, row counts that leave partial blocks and partial lane groups.
    #[test]
    fn batch_test_table_matches_float_walk_with_many_thresholds() {
        let (nf, k) = (30, 2);
        let mut state = 7;
        let trees: Vec<_> = (0..40)
            .map(|_| random_tree_on_grid(&mut state, nf, 10, k, 240))
            .collect();
        let forest = FlatForest::from_trees(&trees, k, nf).unwrap();
        let compiled = forest.compiled.as_ref().unwrap();
        assert!(compiled.n_tests > 4096, "{} tests", compiled.n_tests);
        for n in [1, 15, 16, 17, 63, 64, 65, 200] {
            let rows: Vec<f32> = (0..n * nf)
                .map(|_| (finbeh_data::splitmix64(&mut state) % 250) as f32 / 4.0 - 3.0)
                .collect();
            let mut batch = vec![0.0; n * k];
            forest.accumulate_rows(&rows, &mut batch);
            for (r, row) in rows.chunks(nf).enumerate() {
                let mut float = vec![0.0; k];
                forest.accumulate_row_float(row, &mut float);
                for o in 0..k {
                    assert_eq!(
                        float[o].to_bits(),
                        batch[r * k + o].to_bits(),
                        "n {n} row {r}"
                    );
                }
            }
        }
    }

    /// Every depth the compiled layout takes (0..=10, so 0..=4 levels walked row by row below
    /// the block-wide top levels), every number of rows up to two blocks (so every group of a
    /// block, each walked 16 lanes wide or, as a block's last rows, 8 or 4, whole or partial),
    /// each with one output (leaves added inside the group walk) and two (added after it).
    #[test]
    fn batch_walk_matches_float_walk_at_every_depth_and_block_size() {
        let nf = 6;
        let mut state = 21;
        for (depth, k) in (0..=COMPILED_MAX_DEPTH).flat_map(|d| [(d, 1), (d, 2)]) {
            let trees: Vec<_> = (0..8)
                .map(|_| random_tree_on_grid(&mut state, nf, depth, k, 40))
                .collect();
            let forest = FlatForest::from_trees(&trees, k, nf).unwrap();
            assert!(forest.compiled.is_some());
            assert_eq!(forest.depths.iter().max(), Some(&depth));
            let n_max = 2 * LANES + 3;
            let rows: Vec<f32> = (0..n_max * nf)
                .map(|_| (finbeh_data::splitmix64(&mut state) % 48) as f32 / 4.0 - 3.0)
                .collect();
            let float: Vec<f64> = rows
                .chunks(nf)
                .flat_map(|row| {
                    let mut acc = vec![0.0; k];
                    forest.accumulate_row_float(row, &mut acc);
                    acc
                })
                .collect();
            for n in 1..=n_max {
                let mut batch = vec![0.0; n * k];
                forest.accumulate_rows(&rows[..n * nf], &mut batch);
                for (i, (b, f)) in batch.iter().zip(&float).enumerate() {
                    assert_eq!(b.to_bits(), f.to_bits(), "depth {depth} n {n} value {i}");
                }
            }
        }
    }

    /// The per-thread test table is reused across forests: a forest with fewer tests scored
    /// after one with many must not read the other's stale masks (its pass-through entry lands
    /// on a slot the first forest filled).
    #[test]
    fn reused_test_table_is_not_stale_across_forests() {
        let mut state = 11;
        let big: Vec<_> = (0..20)
            .map(|_| random_tree_on_grid(&mut state, 8, 10, 1, 200))
            .collect();
        let small: Vec<_> = (0..5)
            .map(|_| random_tree_on_grid(&mut state, 8, 9, 1, 12))
            .collect();
        let big = FlatForest::from_trees(&big, 1, 8).unwrap();
        let small = FlatForest::from_trees(&small, 1, 8).unwrap();
        // Whole blocks, so the first forest leaves full masks behind.
        let n = 128;
        let rows: Vec<f32> = (0..n * 8)
            .map(|_| (finbeh_data::splitmix64(&mut state) % 220) as f32 / 4.0 - 3.0)
            .collect();
        for forest in [&big, &small, &big, &small] {
            let mut batch = vec![0.0; n];
            forest.accumulate_rows(&rows, &mut batch);
            for (r, row) in rows.chunks(8).enumerate() {
                let mut float = [0.0];
                forest.accumulate_row_float(row, &mut float);
                assert_eq!(float[0].to_bits(), batch[r].to_bits(), "row {r}");
            }
        }
    }

    /// Binning then comparing bins decides exactly like `x <= threshold` on f32: at the
    /// threshold, one ulp either side, at ±0 and at extreme finite values.
    #[test]
    fn binned_tests_decide_like_the_float_comparison_at_the_edges() {
        let ulp_up = |x: f32| f32::from_bits(x.to_bits() + 1);
        let ulp_down = |x: f32| f32::from_bits(x.to_bits() - 1);
        for threshold in [0.5f32, -1.25, 0.0, 1e-30, 3.0e38] {
            // A stump on feature 0 plus a second tree on feature 1 so cuts are shared.
            let stump = |t: f32, f: u16| PreorderTree {
                nodes: vec![
                    TreeNode {
                        feature: f,
                        threshold: t,
                    },
                    TreeNode {
                        feature: LEAF,
                        threshold: 0.0,
                    },
                    TreeNode {
                        feature: LEAF,
                        threshold: 0.0,
                    },
                ],
                leaf_values: vec![0.25, 1.0],
            };
            let trees = [stump(threshold, 0), stump(threshold, 1), stump(0.75, 0)];
            let forest = FlatForest::from_trees(&trees, 1, 2).unwrap();
            assert!(forest.compiled.is_some());
            let mut values = vec![
                threshold,
                ulp_up(threshold),
                -0.0,
                0.0,
                f32::MAX,
                f32::MIN,
                0.75,
                ulp_up(0.75),
            ];
            if threshold > 0.0 {
                values.push(ulp_down(threshold));
            }
            let rows: Vec<f32> = values.iter().flat_map(|&v| [v, v]).collect();
            let mut batch = vec![0.0; values.len()];
            forest.accumulate_rows(&rows, &mut batch);
            for (r, &v) in values.iter().enumerate() {
                let leaf = |t: f32| if v <= t { 0.25 } else { 1.0 };
                let expected = leaf(threshold) + leaf(threshold) + leaf(0.75);
                let mut single = [0.0];
                forest.accumulate_row(&rows[2 * r..2 * r + 2], &mut single);
                assert_eq!(batch[r], expected, "value {v} threshold {threshold}");
                assert_eq!(single[0], expected, "value {v} threshold {threshold}");
            }
        }
    }

    #[test]
    fn forests_outside_the_compiled_limits_use_the_float_walk() {
        check(5, 1, 12, false);
        check(300, 1, 6, false);
    }

    /// Thousands of single-leaf trees (what a forged file can pack: 10 bytes each) would cost
    /// ~8 KiB each compiled, ~500 times their flat size: they take the float walk instead.
    #[test]
    fn the_compiled_layout_is_bounded_relative_to_the_flat_one() {
        let leaf = PreorderTree {
            nodes: vec![TreeNode {
                feature: LEAF,
                threshold: 0.0,
            }],
            leaf_values: vec![0.25],
        };
        let many = vec![leaf.clone(); 9_000];
        let forest = FlatForest::from_trees(&many, 1, 3).unwrap();
        assert!(compiled_bytes(&forest) > COMPILED_FREE_BYTES);
        assert!(forest.compiled.is_none());
        let mut acc = [0.0];
        forest.accumulate_row(&[1.0, 2.0, 3.0], &mut acc);
        assert_eq!(acc[0], 9_000.0 * 0.25);
        // A forest within the free budget stays compiled.
        let few = FlatForest::from_trees(&many[..100], 1, 3).unwrap();
        assert!(few.compiled.is_some());
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
