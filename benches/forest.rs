//! Tree and forest training and prediction against linfa-trees, like with like:
//!
//! - one tree on one thread against linfa-trees' `DecisionTree` (same depth, split and leaf
//!   minimums, every feature at every split, no bootstrap);
//! - a forest against a forest: `BAGGED_TREES` trees on bootstrap samples with every feature at
//!   every split, finbeh's on one thread against the same number of linfa-trees trees on
//!   bootstrap samples (what linfa-ensemble's `EnsembleLearner` does), also on one thread;
//!   finbeh on every core is listed beside them, labelled so.
//!
//! finbeh's default forest (100 trees, `max_features` sqrt, every core) has its own group: no
//! linfa model matches it.
//!
//! Run: `cargo bench --bench forest` (add `-- --quick` for a short run). Data is synthetic
//! (seeded, 12 features, binary), so the bench needs no files.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use finbeh::train::{MaxFeatures, RandomForest, RandomForestParams, RandomForestValidParams};
use linfa::ParamGuard;
use linfa::traits::{Fit, Predict};
use linfa_trees::{DecisionTree, DecisionTreeParams};
use ndarray::{Array1, Array2, Axis};

/// Trees in the forest-against-forest groups.
const BAGGED_TREES: usize = 20;
const ROWS: usize = 20_000;

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform features; class 1 when a noisy mix of three of them is large.
fn synthetic(n: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut s = seed;
    let mut unit = move || (splitmix(&mut s) >> 40) as f32 / (1u64 << 24) as f32;
    let x = Array2::from_shape_fn((n, 12), |_| unit());
    let y = (0..n)
        .map(|r| {
            let noise = (unit() - 0.5) * 0.4;
            usize::from(x[[r, 0]] + 0.5 * x[[r, 3]] - 0.3 * x[[r, 7]] + noise > 0.6)
        })
        .collect();
    (x, y)
}

/// finbeh trees with linfa-trees' semantics: depth 10, split 5, leaf 2, every feature.
fn finbeh_params(trees: usize, bootstrap: bool, threads: usize) -> RandomForestValidParams {
    RandomForestParams::new()
        .n_estimators(trees)
        .bootstrap(bootstrap)
        .max_features(MaxFeatures::All)
        .n_jobs(threads)
        .progress(false)
        .check()
        .expect("valid")
}

fn linfa_params() -> DecisionTreeParams<f32, usize> {
    DecisionTree::params()
        .max_depth(Some(10))
        .min_weight_split(5.0)
        .min_weight_leaf(2.0)
}

/// `trees` linfa-trees trees, each on its own bootstrap sample (seeded).
fn linfa_bagged_fit(x: &Array2<f32>, y: &[usize], trees: usize) -> Vec<DecisionTree<f32, usize>> {
    let mut state = 7;
    (0..trees)
        .map(|_| {
            let rows: Vec<usize> = (0..x.nrows())
                .map(|_| (splitmix(&mut state) % x.nrows() as u64) as usize)
                .collect();
            let sample = linfa::Dataset::new(
                x.select(Axis(0), &rows),
                Array1::from_iter(rows.iter().map(|&r| y[r])),
            );
            linfa_params().fit(&sample).expect("fit")
        })
        .collect()
}

/// Majority vote of the bagged trees (binary).
fn linfa_bagged_predict(trees: &[DecisionTree<f32, usize>], x: &Array2<f32>) -> Array1<usize> {
    let mut votes = Array1::<usize>::zeros(x.nrows());
    for tree in trees {
        votes += &tree.predict(x);
    }
    votes.mapv(|v| usize::from(2 * v > trees.len()))
}

/// A one-thread pool: finbeh's batch prediction runs on the current rayon pool.
fn one_thread_pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
}

fn slow_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group
}

fn bench_fit(c: &mut Criterion) {
    let (x, y) = synthetic(ROWS, 1);
    let dataset = linfa::Dataset::new(x.clone(), Array1::from(y.clone()));

    let mut group = slow_group(c, "fit_one_tree_20k_x_12");
    let tree = finbeh_params(1, false, 1);
    group.bench_function("finbeh_tree_1_thread", |b| {
        b.iter(|| RandomForest::fit(&tree, x.view(), &y).expect("fit"))
    });
    group.bench_function("linfa_trees_decision_tree_1_thread", |b| {
        b.iter(|| linfa_params().fit(&dataset).expect("fit"))
    });
    group.finish();

    let mut group = slow_group(c, "fit_forest_20k_x_12");
    let bagged_1 = finbeh_params(BAGGED_TREES, true, 1);
    let bagged_all = finbeh_params(BAGGED_TREES, true, 0);
    group.bench_function(
        format!("finbeh_{BAGGED_TREES}_bagged_trees_1_thread"),
        |b| b.iter(|| RandomForest::fit(&bagged_1, x.view(), &y).expect("fit")),
    );
    group.bench_function(
        format!("linfa_trees_{BAGGED_TREES}_bagged_trees_1_thread"),
        |b| b.iter(|| linfa_bagged_fit(&x, &y, BAGGED_TREES)),
    );
    group.bench_function(
        format!("finbeh_{BAGGED_TREES}_bagged_trees_all_threads"),
        |b| b.iter(|| RandomForest::fit(&bagged_all, x.view(), &y).expect("fit")),
    );
    group.finish();

    let mut group = slow_group(c, "fit_default_forest_20k_x_12");
    let default = RandomForestParams::new()
        .progress(false)
        .check()
        .expect("valid");
    group.bench_function("finbeh_100_trees_sqrt_all_threads", |b| {
        b.iter(|| RandomForest::fit(&default, x.view(), &y).expect("fit"))
    });
    group.finish();
}

fn bench_predict(c: &mut Criterion) {
    let (x, y) = synthetic(ROWS, 2);
    let (xt, _) = synthetic(ROWS, 3);
    let rows = Throughput::Elements(xt.nrows() as u64);
    let pool = one_thread_pool();

    let tree = RandomForest::fit(&finbeh_params(1, false, 1), x.view(), &y).expect("fit");
    let linfa_tree = linfa_params()
        .fit(&linfa::Dataset::new(x.clone(), Array1::from(y.clone())))
        .expect("fit");
    let mut group = c.benchmark_group("predict_one_tree_20k_rows");
    group.throughput(rows.clone());
    group.bench_function("finbeh_tree_batch_1_thread", |b| {
        b.iter(|| pool.install(|| tree.predict_proba(black_box(xt.view())).expect("predict")))
    });
    group.bench_function("linfa_trees_decision_tree_1_thread", |b| {
        b.iter(|| -> Array1<usize> { linfa_tree.predict(black_box(&xt)) })
    });
    group.finish();

    let forest =
        RandomForest::fit(&finbeh_params(BAGGED_TREES, true, 0), x.view(), &y).expect("fit");
    let linfa_forest = linfa_bagged_fit(&x, &y, BAGGED_TREES);
    let mut group = c.benchmark_group("predict_forest_20k_rows");
    group.throughput(rows);
    group.bench_function(
        format!("finbeh_{BAGGED_TREES}_bagged_trees_batch_1_thread"),
        |b| {
            b.iter(|| pool.install(|| forest.predict_proba(black_box(xt.view())).expect("predict")))
        },
    );
    group.bench_function(
        format!("finbeh_{BAGGED_TREES}_bagged_trees_row_by_row_1_thread"),
        |b| {
            let mut out = [0.0; 2];
            b.iter(|| {
                for row in xt.outer_iter() {
                    let row = row.as_slice().expect("contiguous");
                    forest
                        .predict_proba_row(black_box(row), &mut out)
                        .expect("predict");
                }
                out
            })
        },
    );
    group.bench_function(
        format!("linfa_trees_{BAGGED_TREES}_bagged_trees_1_thread"),
        |b| b.iter(|| linfa_bagged_predict(&linfa_forest, black_box(&xt))),
    );
    group.bench_function(
        format!("finbeh_{BAGGED_TREES}_bagged_trees_batch_all_threads"),
        |b| b.iter(|| forest.predict_proba(black_box(xt.view())).expect("predict")),
    );
    group.finish();
}

/// What a server does per `/score` request: finbeh's default forest scoring a 1-row and a
/// 100-row batch on the caller's thread (the forest walk of issue 14's 100-row goal).
fn bench_request_sizes(c: &mut Criterion) {
    let (x, y) = synthetic(ROWS, 4);
    let (xt, _) = synthetic(100, 5);
    let default = RandomForestParams::new()
        .progress(false)
        .check()
        .expect("valid");
    let forest = RandomForest::fit(&default, x.view(), &y).expect("fit");
    let mut group = c.benchmark_group("predict_default_forest_request");
    for n in [1, 100] {
        let rows = xt.slice_axis(Axis(0), ndarray::Slice::from(..n));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("finbeh_100_trees_{n}_rows"), |b| {
            b.iter(|| forest.predict_proba(black_box(rows)).expect("predict"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_fit, bench_predict, bench_request_sizes);
criterion_main!(benches);
