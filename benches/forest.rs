//! Forest training and prediction, with linfa-trees' `DecisionTree` as the baseline.
//!
//! Run: `cargo bench --bench forest`. Data is synthetic (seeded, 12 features, binary), so the
//! bench needs no files; the peer comparison on the shared CSVs lives in docs/performance.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use finbeh::train::{MaxFeatures, RandomForest, RandomForestParams};
use linfa::ParamGuard;
use linfa::traits::{Fit, Predict};
use ndarray::{Array1, Array2};

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

fn bench_fit(c: &mut Criterion) {
    let (x, y) = synthetic(20_000, 1);
    let mut group = c.benchmark_group("fit_20k_x_12");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let forest = RandomForestParams::new()
        .progress(false)
        .check()
        .expect("valid");
    group.bench_function("finbeh_forest_100_trees_depth_10", |b| {
        b.iter(|| RandomForest::fit(&forest, x.view(), &y).expect("fit"))
    });
    let single = RandomForestParams::new()
        .n_estimators(1)
        .bootstrap(false)
        .max_features(MaxFeatures::All)
        .n_jobs(1)
        .progress(false)
        .check()
        .expect("valid");
    group.bench_function("finbeh_single_tree_depth_10", |b| {
        b.iter(|| RandomForest::fit(&single, x.view(), &y).expect("fit"))
    });
    let dataset = linfa::Dataset::new(x.clone(), Array1::from(y.clone()));
    let linfa_params = linfa_trees::DecisionTree::params()
        .max_depth(Some(10))
        .min_weight_split(5.0)
        .min_weight_leaf(2.0);
    group.bench_function("linfa_trees_decision_tree_depth_10", |b| {
        b.iter(|| linfa_params.fit(&dataset).expect("fit"))
    });
    group.finish();
}

fn bench_predict(c: &mut Criterion) {
    let (x, y) = synthetic(20_000, 2);
    let (xt, _) = synthetic(20_000, 3);
    let params = RandomForestParams::new()
        .progress(false)
        .check()
        .expect("valid");
    let forest = RandomForest::fit(&params, x.view(), &y).expect("fit");
    let mut group = c.benchmark_group("predict_20k_rows");
    group.throughput(Throughput::Elements(xt.nrows() as u64));
    group.bench_function("finbeh_forest_batch", |b| {
        b.iter(|| forest.predict_proba(black_box(xt.view())).expect("predict"))
    });
    group.bench_function("finbeh_forest_row_by_row", |b| {
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
    });
    let tree = linfa_trees::DecisionTree::params()
        .max_depth(Some(10))
        .fit(&linfa::Dataset::new(x.clone(), Array1::from(y.clone())))
        .expect("fit");
    group.bench_function("linfa_trees_decision_tree", |b| {
        b.iter(|| -> Array1<usize> { tree.predict(black_box(&xt)) })
    });
    group.finish();
}

criterion_group!(benches, bench_fit, bench_predict);
criterion_main!(benches);
