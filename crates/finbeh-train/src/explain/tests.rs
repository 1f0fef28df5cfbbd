//! Exactness: the quadrature TreeSHAP against brute-force Shapley values over every subset of
//! features under the same path-dependent expectation, on small random trees with cover.

use super::forest_shap::TreeShap;
use super::quadrature::GaussLegendre;
use super::shap_tree::{ShapScratch, ShapTree};
use crate::tree::{LEAF, PreorderTree, TreeNode};
use finbeh_data::Rng;

/// A random tree (preorder) over `nf` features, with a cover per node that splits its parent's
/// cover between the children, and `k` values per leaf.
fn random_tree(rng: &mut Rng, nf: usize, max_depth: usize, k: usize) -> (PreorderTree, Vec<f64>) {
    let mut tree = PreorderTree {
        nodes: Vec::new(),
        leaf_values: Vec::new(),
    };
    let mut cover = Vec::new();
    grow(rng, nf, max_depth, k, 1000.0, &mut tree, &mut cover);
    (tree, cover)
}

fn grow(
    rng: &mut Rng,
    nf: usize,
    depth_left: usize,
    k: usize,
    node_cover: f64,
    tree: &mut PreorderTree,
    cover: &mut Vec<f64>,
) {
    cover.push(node_cover);
    if depth_left == 0 || rng.gen_below(5) == 0 {
        tree.nodes.push(TreeNode {
            feature: LEAF,
            threshold: 0.0,
        });
        for _ in 0..k {
            tree.leaf_values.push(rng.gen_below(1000) as f32 / 1000.0);
        }
        return;
    }
    let feature = rng.gen_below(nf as u64) as u16;
    // Thresholds on a coarse grid so rows tie with them too.
    let threshold = rng.gen_below(5) as f32 * 0.25;
    tree.nodes.push(TreeNode { feature, threshold });
    let share = (1 + rng.gen_below(9)) as f64 / 10.0;
    grow(rng, nf, depth_left - 1, k, node_cover * share, tree, cover);
    grow(
        rng,
        nf,
        depth_left - 1,
        k,
        node_cover * (1.0 - share),
        tree,
        cover,
    );
}

/// The path-dependent expectation of the tree given the features in `known` (a bit set).
fn expectation(tree: &PreorderTree, cover: &[f64], row: &[f32], known: u32, k: usize) -> Vec<f64> {
    // Walk the preorder recursively: returns (values, next node index, next leaf index).
    fn walk(
        tree: &PreorderTree,
        cover: &[f64],
        row: &[f32],
        known: u32,
        k: usize,
        node: usize,
        leaf: usize,
    ) -> (Vec<f64>, usize, usize) {
        let n = tree.nodes[node];
        if n.feature == LEAF {
            let v = tree.leaf_values[leaf * k..leaf * k + k]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            return (v, node + 1, leaf + 1);
        }
        let left = node + 1;
        let (lv, right, leaf) = walk(tree, cover, row, known, k, left, leaf);
        let (rv, next, leaf) = walk(tree, cover, row, known, k, right, leaf);
        let f = usize::from(n.feature);
        let v = if known & (1 << f) != 0 {
            if row[f] <= n.threshold { lv } else { rv }
        } else {
            let (wl, wr) = (cover[left] / cover[node], cover[right] / cover[node]);
            lv.iter().zip(&rv).map(|(l, r)| wl * l + wr * r).collect()
        };
        (v, next, leaf)
    }
    walk(tree, cover, row, known, k, 0, 0).0
}

/// Shapley values by enumerating every subset of the `nf` features.
fn brute_force(tree: &PreorderTree, cover: &[f64], row: &[f32], nf: usize, k: usize) -> Vec<f64> {
    let mut factorial = vec![1.0f64; nf + 1];
    for i in 1..=nf {
        factorial[i] = factorial[i - 1] * i as f64;
    }
    let mut phi = vec![0.0; nf * k];
    for i in 0..nf {
        for s in 0u32..(1 << nf) {
            if s & (1 << i) != 0 {
                continue;
            }
            let size = s.count_ones() as usize;
            let weight = factorial[size] * factorial[nf - size - 1] / factorial[nf];
            let with = expectation(tree, cover, row, s | (1 << i), k);
            let without = expectation(tree, cover, row, s, k);
            for c in 0..k {
                phi[i * k + c] += weight * (with[c] - without[c]);
            }
        }
    }
    phi
}

fn random_row(rng: &mut Rng, nf: usize) -> Vec<f32> {
    (0..nf)
        .map(|_| rng.gen_below(6) as f32 * 0.25 - 0.125 * rng.gen_below(2) as f32)
        .collect()
}

#[test]
fn matches_brute_force_shapley_values_on_small_random_trees() {
    let mut rng = Rng::seed_from_u64(7);
    for case in 0..300 {
        let nf = 1 + rng.gen_below(6) as usize;
        let k = if case % 3 == 0 { 3 } else { 1 };
        let depth = 1 + rng.gen_below(7) as usize;
        let (tree, cover) = random_tree(&mut rng, nf, depth, k);
        let mut shap = ShapTree::new(&tree, &cover, k).expect("valid tree");
        let points = super::quadrature::points_for_depth(shap.depth()).expect("shallow");
        shap.prepare(&GaussLegendre::new(points));
        let mut scratch = ShapScratch::default();
        for _ in 0..5 {
            let row = random_row(&mut rng, nf);
            let mut phi = vec![0.0; nf * k];
            super::forest_shap::explain_tree::<1>(&shap, points, &row, k, &mut scratch, &mut phi);
            let expected = brute_force(&tree, &cover, &row, nf, k);
            for (i, (a, b)) in phi.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() < 1e-12,
                    "case {case} entry {i}: quadrature {a} vs brute force {b}\nphi {phi:?}\nexpected {expected:?}"
                );
            }
            // Local accuracy of the single tree: base + Σ phi = the full-knowledge expectation.
            let all = expectation(&tree, &cover, &row, (1 << nf) - 1, k);
            for c in 0..k {
                let sum: f64 = shap.expected()[c] + (0..nf).map(|i| phi[i * k + c]).sum::<f64>();
                assert!(
                    (sum - all[c]).abs() < 1e-12,
                    "case {case}: {sum} vs {}",
                    all[c]
                );
            }
            let empty = expectation(&tree, &cover, &row, 0, k);
            for (expected, empty) in shap.expected().iter().zip(&empty) {
                assert!((expected - empty).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn a_forest_is_the_mean_of_its_trees() {
    let mut rng = Rng::seed_from_u64(11);
    let nf = 4;
    let pairs: Vec<(PreorderTree, Vec<f64>)> =
        (0..5).map(|_| random_tree(&mut rng, nf, 5, 1)).collect();
    let trees = pairs
        .iter()
        .map(|(t, c)| ShapTree::new(t, c, 1).expect("valid tree"))
        .collect();
    let forest = TreeShap::from_trees(trees, nf, 1).expect("explainer");
    let row = random_row(&mut rng, nf);
    let mut phi = vec![0.0; nf];
    forest.explain_row(&row, &mut phi).expect("explained");
    let mut expected = vec![0.0; nf];
    for (t, c) in &pairs {
        for (e, b) in expected.iter_mut().zip(brute_force(t, c, &row, nf, 1)) {
            *e += b / pairs.len() as f64;
        }
    }
    for (a, b) in phi.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn bad_cover_is_refused_with_the_node() {
    let mut rng = Rng::seed_from_u64(3);
    let (tree, mut cover) = random_tree(&mut rng, 3, 4, 1);
    let n = cover.len();
    assert!(ShapTree::new(&tree, &cover[..n - 1], 1).is_err());
    cover[n - 1] = 0.0;
    let message = ShapTree::new(&tree, &cover, 1)
        .expect_err("zero cover")
        .to_string();
    assert!(message.contains(&format!("node {}", n - 1)), "{message}");
}

/// Training cover by routing the training rows (unweighted) through each tree, in preorder.
fn counted_cover(forest: &crate::RandomForest, x: ndarray::ArrayView2<'_, f32>) -> Vec<f64> {
    forest
        .preorder_trees()
        .iter()
        .map(|tree| {
            // Right child of each node, from the preorder.
            let n = tree.nodes.len();
            let mut right = vec![0usize; n];
            let mut pending: Vec<(usize, bool)> = Vec::new();
            for (i, node) in tree.nodes.iter().enumerate() {
                if let Some((p, true)) = pending.pop() {
                    right[p] = i;
                }
                if node.feature != LEAF {
                    pending.push((i, true));
                    pending.push((i, false));
                }
            }
            let mut cover = vec![0.0; n];
            for row in x.outer_iter() {
                let mut i = 0;
                loop {
                    cover[i] += 1.0;
                    let node = tree.nodes[i];
                    if node.feature == LEAF {
                        break;
                    }
                    i = if row[usize::from(node.feature)] <= node.threshold {
                        i + 1
                    } else {
                        right[i]
                    };
                }
            }
            cover
        })
        .collect::<Vec<_>>()
        .concat()
}

fn fitted(
    seed: u64,
    n_rows: usize,
    n_classes: usize,
) -> (crate::RandomForest, ndarray::Array2<f32>, Vec<f64>) {
    use linfa::ParamGuard;
    let mut rng = Rng::seed_from_u64(seed);
    let x = ndarray::Array2::from_shape_fn((n_rows, 5), |_| rng.gen_below(40) as f32 / 4.0);
    let y: Vec<usize> = x
        .outer_iter()
        .map(|r| {
            ((r[0] + 2.0 * r[1] * r[3] / 10.0) as usize + rng.gen_below(2) as usize) % n_classes
        })
        .collect();
    let params = crate::RandomForestParams::new()
        .n_estimators(12)
        .max_depth(Some(7))
        .min_samples_leaf(1)
        .min_samples_split(2)
        .bootstrap(false)
        .n_jobs(1)
        .progress(false)
        .check()
        .expect("params");
    let forest = crate::RandomForest::fit(&params, x.view(), &y).expect("fit");
    let cover = counted_cover(&forest, x.view());
    (forest, x, cover)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// base + Σ phi = the forest's probability (positive class; every class when multi-class),
    /// and explaining a batch equals explaining each row alone, bit for bit.
    #[test]
    fn local_accuracy_and_batch_equals_row(seed in 0u64..1_000, n_classes in 2usize..=3) {
        let (forest, x, cover) = fitted(seed, 120, n_classes);
        let shap = TreeShap::new(&forest, &cover).expect("explainer");
        let k = shap.n_outputs();
        let nf = forest.n_features();
        let batch = shap.explain_rows(x.view()).expect("batch");
        let mut proba = vec![0.0; n_classes];
        let mut phi = vec![0.0; nf * k];
        for (r, row) in x.outer_iter().enumerate() {
            let row = row.to_vec();
            forest.predict_proba_row(&row, &mut proba).expect("proba");
            shap.explain_row(&row, &mut phi).expect("explained");
            let batch_row = batch.row(r).to_vec();
            proptest::prop_assert_eq!(&phi, &batch_row);
            for c in 0..k {
                let served = if k == 1 { proba[1] } else { proba[c] };
                let sum = shap.base()[c] + (0..nf).map(|f| phi[f * k + c]).sum::<f64>();
                proptest::prop_assert!((sum - served).abs() < 1e-9, "row {} output {}: {} vs {}", r, c, sum, served);
            }
        }
    }
}
