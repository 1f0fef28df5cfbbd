//! Ingestion benchmark: load + fit + transform of 100k generated banking rows.
//!
//! `cargo bench --bench ingest`; compare with `benches/python/ingest_pandas.py` (see docs/performance.md).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use finbeh_data::{DataParams, fit_pipeline, generate_banking_csv, load_dataset};

const ROWS: u64 = 100_000;

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bank.csv");
    generate_banking_csv(std::fs::File::create(&path).expect("create csv"), ROWS, 7)
        .expect("generate");
    let params = DataParams::default()
        .with_target("Anomaly")
        .check()
        .expect("valid params");

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.bench_function("load_100k", |b| {
        b.iter(|| black_box(load_dataset(&path, &params).expect("load")))
    });
    group.bench_function("load_fit_transform_100k", |b| {
        b.iter(|| {
            let data = load_dataset(&path, &params).expect("load");
            let rows = data.all_rows();
            let pipeline = fit_pipeline(&data.table, &data.schema, &rows, &params).expect("fit");
            black_box(
                pipeline
                    .transform_table(&data.table, None)
                    .expect("transform"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
