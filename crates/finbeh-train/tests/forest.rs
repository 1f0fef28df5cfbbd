//! Forest behaviour: reproducibility, batch/row identity, linfa cross-check, OOB, importances,
//! serde, errors.

mod common;

use finbeh_train::{
    ClassWeight, Criterion, MaxFeatures, PermutationScoring, RandomForest, RandomForestParams,
    ThresholdRule, TrainError, evaluate,
};
use linfa::ParamGuard;
use linfa::traits::{Fit, Predict};
use ndarray::{Array1, Array2, Axis, Slice};

fn small_params() -> RandomForestParams {
    RandomForestParams::new().n_estimators(20).progress(false)
}

fn assert_batch_equals_rows(forest: &RandomForest, x: &Array2<f32>) {
    let batch = forest.predict_proba(x.view()).expect("batch prediction");
    let mut out = vec![0.0; forest.n_classes()];
    for (r, row) in x.outer_iter().enumerate() {
        forest
            .predict_proba_row(row.as_slice().expect("contiguous row"), &mut out)
            .expect("row prediction");
        for (c, &p) in out.iter().enumerate() {
            assert_eq!(p.to_bits(), batch[[r, c]].to_bits(), "row {r} class {c}");
        }
    }
}

#[test]
fn same_seed_same_forest_whatever_the_thread_count() {
    let (x, y) = common::binary(3_000, 6, 1);
    let fits: Vec<(String, Array2<f64>)> = [1, 2, 4]
        .into_iter()
        .map(|threads| {
            let p = small_params()
                .n_jobs(threads)
                .oob_score(true)
                .check()
                .unwrap();
            let f = RandomForest::fit(&p, x.view(), &y).unwrap();
            // The thread count is a parameter; neutralise it so only the trees are compared.
            let json = serde_json::to_string(&f)
                .unwrap()
                .replace(&format!("\"n_jobs\":{threads}"), "\"n_jobs\":_");
            (json, f.predict_proba(x.view()).unwrap())
        })
        .collect();
    for (json, proba) in &fits[1..] {
        assert_eq!(json, &fits[0].0);
        assert_eq!(proba, &fits[0].1);
    }
    let other = RandomForest::fit(&small_params().seed(7).check().unwrap(), x.view(), &y).unwrap();
    assert_ne!(other.predict_proba(x.view()).unwrap(), fits[0].1);
}

#[test]
fn batch_is_bit_identical_to_row_path_binary_multiclass_and_deep() {
    let (x, y) = common::binary(2_000, 5, 2);
    let f = RandomForest::fit(&small_params().check().unwrap(), x.view(), &y).unwrap();
    assert_batch_equals_rows(&f, &x);
    // A batch of one chunk is scored on the caller's thread: same bits.
    assert_batch_equals_rows(&f, &x.slice_axis(Axis(0), Slice::from(0..100)).to_owned());

    // Deeper than the compiled layout takes: exercises the generic batch walk.
    let deep = small_params()
        .max_depth(None)
        .min_samples_leaf(1)
        .min_samples_split(2);
    let f = RandomForest::fit(&deep.check().unwrap(), x.view(), &y).unwrap();
    assert_batch_equals_rows(&f, &x);

    let (x3, y3) = common::three_class(1_500, 3);
    let f = RandomForest::fit(&small_params().check().unwrap(), x3.view(), &y3).unwrap();
    assert_eq!(f.n_classes(), 3);
    assert_batch_equals_rows(&f, &x3);

    // A non-contiguous view (every other row) predicts the same as its copy.
    let strided = x.slice_axis(Axis(0), Slice::new(0, None, 2));
    let f = RandomForest::fit(&small_params().check().unwrap(), x.view(), &y).unwrap();
    assert_eq!(
        f.predict_proba(strided).unwrap(),
        f.predict_proba(strided.to_owned().view()).unwrap()
    );
}

#[test]
fn multiclass_probabilities_sum_to_one_and_predict_well() {
    let (x, y) = common::three_class(3_000, 4);
    let (xt, yt) = common::three_class(1_000, 5);
    let f = RandomForest::fit(&small_params().check().unwrap(), x.view(), &y).unwrap();
    let proba = f.predict_proba(xt.view()).unwrap();
    for row in proba.outer_iter() {
        // Leaf values are stored as f32: sums are 1 up to f32 rounding.
        assert!((row.sum() - 1.0).abs() < 1e-6);
    }
    let report = evaluate(&yt, proba.view(), ThresholdRule::default()).unwrap();
    assert!(report.accuracy > 0.9, "{report:?}");
    assert!(report.roc_auc > 0.95, "{report:?}");
    let pred = f.predict(xt.view()).unwrap();
    assert_eq!(pred.len(), 1_000);
}

#[test]
fn single_tree_scores_like_linfa_decision_tree() {
    let (x, y) = common::binary(4_000, 6, 6);
    let (xt, yt) = common::binary(2_000, 6, 7);
    let depth = 6;
    let linfa_tree = linfa_trees::DecisionTree::params()
        .max_depth(Some(depth))
        .min_weight_split(2.0)
        .min_weight_leaf(1.0)
        .fit(&linfa::Dataset::new(x.clone(), Array1::from(y.clone())))
        .unwrap();
    let linfa_pred: Array1<usize> = linfa_tree.predict(&xt);
    let linfa_acc = finbeh_train::accuracy(&yt, linfa_pred.as_slice().unwrap()).unwrap();

    let params = RandomForestParams::new()
        .n_estimators(1)
        .bootstrap(false)
        .max_features(MaxFeatures::All)
        .max_depth(Some(depth))
        .min_samples_split(2)
        .min_samples_leaf(1)
        .progress(false)
        .check()
        .unwrap();
    let ours = params
        .fit(&linfa::Dataset::new(x.clone(), Array1::from(y.clone())))
        .unwrap();
    // linfa's trait method (the inherent `predict` returns a Result).
    let our_pred: Array1<usize> = Predict::predict(&ours, &xt);
    let our_acc = finbeh_train::accuracy(&yt, our_pred.as_slice().unwrap()).unwrap();
    assert!(
        (our_acc - linfa_acc).abs() < 0.02,
        "finbeh {our_acc} vs linfa {linfa_acc}"
    );
    assert!(our_acc > 0.85, "{our_acc}");
}

#[test]
fn oob_score_tracks_held_out_accuracy() {
    let (x, y) = common::binary(4_000, 6, 8);
    let (xt, yt) = common::binary(2_000, 6, 9);
    let p = small_params()
        .n_estimators(40)
        .oob_score(true)
        .check()
        .unwrap();
    let f = RandomForest::fit(&p, x.view(), &y).unwrap();
    let oob = f.oob_score().unwrap();
    assert!(oob.n_scored > 3_900, "{oob:?}");
    let test_acc =
        finbeh_train::accuracy(&yt, f.predict(xt.view()).unwrap().as_slice().unwrap()).unwrap();
    assert!(
        (oob.accuracy - test_acc).abs() < 0.03,
        "{oob:?} vs {test_acc}"
    );
    let auc = oob.roc_auc.unwrap();
    assert!(auc > 0.9 && auc <= 1.0, "{oob:?}");
}

#[test]
fn informative_feature_ranks_first_in_both_importances() {
    let (x, y) = common::binary(3_000, 5, 10);
    let (xt, yt) = common::binary(1_000, 5, 11);
    let f = RandomForest::fit(&small_params().check().unwrap(), x.view(), &y).unwrap();
    let imp = f.impurity_importances();
    assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    let top = (0..imp.len())
        .max_by(|&a, &b| imp[a].total_cmp(&imp[b]))
        .unwrap();
    assert_eq!(top, 0, "{imp:?}");

    let perm = f
        .permutation_importances(xt.view(), &yt, PermutationScoring::RocAuc, 3, 5)
        .unwrap();
    let top = (0..5)
        .max_by(|&a, &b| perm.mean[a].total_cmp(&perm.mean[b]))
        .unwrap();
    assert_eq!(top, 0, "{perm:?}");
    assert!(perm.mean[0] > 0.05);
    // Seeded: the same call gives the same numbers.
    let again = f
        .permutation_importances(xt.view(), &yt, PermutationScoring::RocAuc, 3, 5)
        .unwrap();
    assert_eq!(perm, again);
    let acc = f
        .permutation_importances(xt.view(), &yt, PermutationScoring::Accuracy, 1, 5)
        .unwrap();
    assert!(acc.mean[0] > acc.mean[4]);
}

#[test]
fn every_option_trains_and_predicts_sensibly() {
    let (x, y) = common::binary(2_000, 6, 12);
    let (xt, yt) = common::binary(1_000, 6, 13);
    let variants = [
        small_params().criterion(Criterion::Entropy),
        small_params().class_weight(ClassWeight::Balanced),
        small_params().class_weight(ClassWeight::BalancedSubsample),
        small_params().bootstrap(false),
        small_params().max_features(MaxFeatures::Log2),
        small_params().max_features(MaxFeatures::Fraction(0.5)),
        small_params().max_features(MaxFeatures::All),
        small_params().max_bins(16),
        small_params().min_impurity_decrease(0.001),
    ];
    for v in variants {
        let p = v.check().unwrap();
        let f = RandomForest::fit(&p, x.view(), &y).unwrap();
        let proba = f.predict_proba(xt.view()).unwrap();
        let auc = finbeh_train::roc_auc(&yt, &proba.column(1).to_vec()).unwrap();
        assert!(auc > 0.9, "{p:?}: {auc}");
    }
    // A large min_impurity_decrease leaves single-leaf trees predicting the base rate.
    let p = small_params().min_impurity_decrease(10.0).check().unwrap();
    let f = RandomForest::fit(&p, x.view(), &y).unwrap();
    assert_eq!(f.n_nodes(), 20);
    assert!(f.impurity_importances().iter().all(|&v| v == 0.0));
}

/// Bytes of the serialized forest's node cover.
fn back_cover_len(json: &str) -> usize {
    let value: serde_json::Value = serde_json::from_str(json).expect("forest JSON");
    let text = value["node_cover"].as_str().expect("node_cover in base64");
    text.len() / 4 * 3 - text.bytes().filter(|&b| b == b'=').count()
}

#[test]
fn serde_round_trip_is_exact_and_compact() {
    let (x, y) = common::binary(20_000, 12, 14);
    let p = RandomForestParams::new()
        .min_samples_leaf(1)
        .min_samples_split(2)
        .progress(false)
        .check()
        .unwrap();
    let f = RandomForest::fit(&p, x.view(), &y).unwrap();
    assert_eq!(f.n_trees(), 100);
    // 6 bytes per node plus a 4-byte count per tree in binary formats.
    assert_eq!(f.serialized_size_hint(), f.n_nodes() * 6 + 400);
    let json = serde_json::to_string(&f).unwrap();
    let base64_len = |bytes: usize| bytes.div_ceil(3) * 4;
    // The node cover (format 1.3.0): 8 bytes per node.
    let cover = base64_len(f.n_nodes() * 8);
    let overhead = json.len() - base64_len(f.serialized_size_hint()) - cover;
    assert!(
        overhead < 4_000,
        "{overhead} bytes besides the trees and their cover"
    );
    // Worst case for 100 trees of depth 10: every tree full (2047 nodes).
    let full = overhead + base64_len(100 * (2047 * 6 + 4)) + base64_len(100 * 2047 * 8);
    assert!(full <= 4_000_000, "{full} bytes");
    assert_eq!(back_cover_len(&json), f.n_nodes() * 8);
    let back: RandomForest = serde_json::from_str(&json).unwrap();
    assert_eq!(back.impurity_importances(), f.impurity_importances());
    assert_eq!(back.params(), f.params());
    assert!(back == f, "round trip changed the forest");
    assert_eq!(back.node_cover(), f.node_cover());
    let xs = x.slice_axis(Axis(0), Slice::from(..500)).to_owned();
    let a = f.predict_proba(xs.view()).unwrap();
    let b = back.predict_proba(xs.view()).unwrap();
    assert!(
        a.iter()
            .zip(b.iter())
            .all(|(p, q)| p.to_bits() == q.to_bits())
    );
}

#[test]
fn corrupted_serialized_forest_is_refused_with_a_reason() {
    let (x, y) = common::binary(500, 3, 15);
    let f = RandomForest::fit(&small_params().check().unwrap(), x.view(), &y).unwrap();
    let json = serde_json::to_string(&f).unwrap();
    let fewer_features = json.replace("\"n_features\":3", "\"n_features\":1");
    let err = serde_json::from_str::<RandomForest>(&fewer_features).unwrap_err();
    assert!(err.to_string().contains("feature"), "{err}");
    let more_trees = json.replace("\"n_trees\":20", "\"n_trees\":21");
    let err = serde_json::from_str::<RandomForest>(&more_trees).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let newer = json.replace("\"format_version\":1", "\"format_version\":2");
    let err = serde_json::from_str::<RandomForest>(&newer).unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
}

#[test]
fn bad_inputs_are_errors_naming_the_problem() {
    let (mut x, y) = common::binary(200, 3, 16);
    let p = small_params().check().unwrap();
    x[[17, 2]] = f32::NAN;
    match RandomForest::fit(&p, x.view(), &y) {
        Err(TrainError::NonFinite {
            row: 17, column: 2, ..
        }) => {}
        other => panic!("{other:?}"),
    }
    x[[17, 2]] = 0.5;
    assert!(matches!(
        RandomForest::fit(&p, x.view(), &y[..10]),
        Err(TrainError::LengthMismatch { .. })
    ));
    assert!(matches!(
        RandomForest::fit(&p, x.view(), &vec![1; 200]),
        Err(TrainError::SingleClass { class: 1, .. })
    ));
    let f = RandomForest::fit(&p, x.view(), &y).unwrap();
    let wide = Array2::<f32>::zeros((2, 4));
    let err = f.predict_proba(wide.view()).unwrap_err().to_string();
    assert!(err.contains("expects 3 features, got 4"), "{err}");
    let mut inf = Array2::<f32>::zeros((3, 3));
    inf[[2, 1]] = f32::INFINITY;
    assert!(matches!(
        f.predict_proba(inf.view()),
        Err(TrainError::NonFinite {
            row: 2,
            column: 1,
            ..
        })
    ));
    // In a later parallel chunk: the first offending row is still the one reported.
    let mut late = Array2::<f32>::zeros((3_000, 3));
    late[[2_700, 0]] = f32::NAN;
    late[[2_500, 2]] = f32::NAN;
    assert!(matches!(
        f.predict_proba(late.view()),
        Err(TrainError::NonFinite {
            row: 2_500,
            column: 2,
            ..
        })
    ));
    let mut out = [0.0; 3];
    assert!(f.predict_proba_row(&[0.1, 0.2, 0.3], &mut out).is_err());
    let mut out = [0.0; 2];
    assert!(f.predict_proba_row(&[0.1, 0.2], &mut out).is_err());
    assert!(f.predict_proba_row(&[0.1, 0.2, 0.3], &mut out).is_ok());
    let thresholded = f.predict_with_threshold(x.view(), 0.0).unwrap();
    assert!(thresholded.iter().all(|&c| c == 1));
}

/// Class weights make node totals fractional, and a child's totals come from the parent's minus
/// its sibling's: leaf probabilities must still land in [0, 1] so the forest's own decoder (and
/// so the artifact reader) accepts every forest the trainer writes. (Found by `train --search`
/// on the UCI credit-card file: a leaf of -4.6e-15 made the artifact unreadable.)
#[test]
fn weighted_forests_round_trip_through_their_own_decoder() {
    for (seed, weight) in [
        (1, ClassWeight::Balanced),
        (2, ClassWeight::BalancedSubsample),
        (3, ClassWeight::Balanced),
    ] {
        let (x, y) = common::binary(3_000, 8, seed);
        // Imbalance the classes so the balanced weights are far from 1.
        let keep: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 0 || i % 5 == 0).collect();
        let x = x.select(Axis(0), &keep);
        let y: Vec<usize> = keep.iter().map(|&i| y[i]).collect();
        for depth in [Some(4), None] {
            let params = small_params()
                .class_weight(weight)
                .max_depth(depth)
                .min_samples_leaf(1)
                .min_samples_split(2)
                .check()
                .unwrap();
            let forest = RandomForest::fit(&params, x.view(), &y).unwrap();
            let json = serde_json::to_string(&forest).unwrap();
            let back: RandomForest = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("seed {seed}, {weight:?}, depth {depth:?}: {e}"));
            assert_eq!(
                back.predict_proba(x.view()).unwrap(),
                forest.predict_proba(x.view()).unwrap()
            );
        }
    }
}

/// Walks one tree of the view for `row`: the leaf reached.
fn leaf_of(tree: &finbeh_train::TreeView, row: &[f32]) -> usize {
    let mut node = 0;
    while let Some(finbeh_train::NodeView::Split {
        feature,
        threshold,
        left,
        right,
    }) = tree.node(node)
    {
        node = if row[feature] <= threshold {
            left
        } else {
            right
        };
    }
    node
}

#[test]
fn the_view_reproduces_predictions_and_cover_adds_up() {
    for (weights, bootstrap, (x, y)) in [
        (ClassWeight::None, true, common::binary(600, 4, 21)),
        (ClassWeight::Balanced, false, common::binary(600, 4, 22)),
        (ClassWeight::None, true, common::three_class(600, 23)),
    ] {
        let p = small_params()
            .class_weight(weights)
            .bootstrap(bootstrap)
            .check()
            .unwrap();
        let f = RandomForest::fit(&p, x.view(), &y).unwrap();
        let view = f.view();
        assert!(view.has_cover());
        assert_eq!(view.trees().len(), f.n_trees());
        assert_eq!(
            view.trees().iter().map(|t| t.n_nodes()).sum::<usize>(),
            f.n_nodes()
        );
        // Root cover: the bootstrap draws n rows; without it, every row at its class weight
        // (balanced weights sum to n as well).
        for tree in view.trees() {
            let root = tree.cover(0).unwrap();
            assert!(
                (root - 600.0).abs() < 1e-9,
                "{weights:?}: root cover {root}"
            );
            for (i, node) in tree.nodes().iter().enumerate() {
                if let finbeh_train::NodeView::Split { left, right, .. } = *node {
                    let sum = tree.cover(left).unwrap() + tree.cover(right).unwrap();
                    assert!((tree.cover(i).unwrap() - sum).abs() < 1e-9);
                }
            }
        }
        // Averaging the leaves the view reaches gives the forest's probabilities.
        let proba = f.predict_proba(x.view()).unwrap();
        let k = if f.n_classes() == 2 { 1 } else { f.n_classes() };
        for (r, row) in x.outer_iter().enumerate().take(50) {
            let row = row.to_vec();
            let mut acc = vec![0.0f64; k];
            for tree in view.trees() {
                let values = tree.leaf_values(leaf_of(tree, &row)).unwrap();
                for (a, &v) in acc.iter_mut().zip(values) {
                    *a += f64::from(v);
                }
            }
            let last = proba.ncols() - 1;
            let want = if k == 1 {
                proba[[r, 1]]
            } else {
                proba[[r, last]]
            };
            let got = acc[k - 1] / f.n_trees() as f64;
            assert!((got - want).abs() < 1e-12, "row {r}: {got} vs {want}");
        }
    }
}
