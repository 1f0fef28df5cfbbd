//! Drift benchmark: drift and data quality of 1,000,000 current rows × 20 features (16 numeric,
//! 4 categorical) against a 10,000-row reference sample, the sizes issue 10 sets.
//!
//! `cargo bench --bench drift` (figures in docs/performance.md).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use finbeh_data::Rng;
use finbeh_monitor::{ColumnSample, DriftParams, DriftReport, feature_drift};

const REFERENCE_ROWS: usize = 10_000;
const CURRENT_ROWS: usize = 1_000_000;
const NUMERIC: usize = 16;
const CATEGORICAL: usize = 4;
const CATEGORIES: [&str; 5] = ["branch", "online", "atm", "phone", "pos"];

struct Columns {
    numeric: Vec<Vec<f64>>,
    categorical: Vec<Vec<Option<&'static str>>>,
}

fn columns(rows: usize, seed: u64, shift: f64) -> Columns {
    let mut rng = Rng::seed_from_u64(seed);
    Columns {
        numeric: (0..NUMERIC)
            .map(|i| {
                (0..rows)
                    .map(|_| {
                        (rng.gen_f64() + rng.gen_f64() + rng.gen_f64() + shift) * (i + 1) as f64
                    })
                    .collect()
            })
            .collect(),
        categorical: (0..CATEGORICAL)
            .map(|_| {
                (0..rows)
                    .map(|_| Some(CATEGORIES[(rng.gen_f64() * rng.gen_f64() * 5.0) as usize]))
                    .collect()
            })
            .collect(),
    }
}

fn report(reference: &Columns, current: &Columns) -> DriftReport {
    let params = DriftParams::default()
        .check()
        .expect("default drift settings");
    let numeric = reference
        .numeric
        .iter()
        .zip(&current.numeric)
        .map(|(r, c)| (ColumnSample::Numeric(r), ColumnSample::Numeric(c)));
    let categorical = reference
        .categorical
        .iter()
        .zip(&current.categorical)
        .map(|(r, c)| (ColumnSample::Categorical(r), ColumnSample::Categorical(c)));
    let features = numeric
        .chain(categorical)
        .enumerate()
        .map(|(i, (r, c))| feature_drift(&format!("f{i}"), r, c, &params).expect("drift"))
        .collect();
    DriftReport::new(features, &params)
}

fn drift(c: &mut Criterion) {
    let reference = columns(REFERENCE_ROWS, 1, 0.0);
    let current = columns(CURRENT_ROWS, 2, 0.05);
    let mut group = c.benchmark_group("drift");
    group.sample_size(10);
    group.bench_function("report_1m_rows_20_features", |b| {
        b.iter(|| black_box(report(&reference, &current)))
    });
    group.finish();
}

criterion_group!(benches, drift);
criterion_main!(benches);
