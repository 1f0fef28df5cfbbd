//! Explanation speed: trains finbeh's forest with the original settings (100 trees, depth 10,
//! split 5, leaf 2, sqrt features, seed 42) on TRAIN, explains the first `--rows` rows of TEST
//! with exact TreeSHAP on `--threads` threads, and prints one JSON line: rows, seconds,
//! rows_per_second, the largest |base + Σ phi − probability| over the explained rows, and the
//! mean time to explain one row alone on one thread (`single_row_us`, what a 1-row request
//! pays), over the first `--single` rows.
//! The peer is `benches/python/treeshap_peer.py`; `scripts/bench_explain.sh` runs both.
//!
//! `cargo run --release --example explain_bench -- --train CSV --test CSV [--target label] [--rows 10000] [--threads 2]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use finbeh_config::ModelSettings;
use finbeh_data::{DataParams, load_dataset, load_records};
use finbeh_train::TrainingJob;
use ndarray::{Axis, Slice};

/// Time exact TreeSHAP explanations of a freshly trained forest.
#[derive(Parser)]
struct Args {
    /// Training CSV (numeric features and the target).
    #[arg(long)]
    train: PathBuf,
    /// Test CSV, same columns.
    #[arg(long)]
    test: PathBuf,
    /// Target column.
    #[arg(long, default_value = "label")]
    target: String,
    /// Test rows explained (the first ones).
    #[arg(long, default_value_t = 10_000)]
    rows: usize,
    /// Threads explaining.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Rows explained one at a time on this thread for `single_row_us`.
    #[arg(long, default_value_t = 1_000)]
    single: usize,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    let args = Args::parse();
    let params = DataParams::default().with_target(&args.target).check()?;
    let data = load_dataset(&args.train, &params)?;
    let model = ModelSettings::default();
    let job = TrainingJob {
        data_params: &params,
        model: &model,
        test_file: Some(args.test.clone()),
        data_file_name: None,
        progress: false,
    };
    let artifact = job.run(&data)?.artifact;
    let explainer = artifact.explainer()?;
    let (table, _) = load_records(&args.test, artifact.pipeline(), None, &params)?;
    let x = artifact.pipeline().transform_table(&table, None)?;
    let x = x.slice_axis(Axis(0), Slice::from(0..args.rows.min(x.nrows())));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()?;
    let started = Instant::now();
    let phi = pool.install(|| explainer.tree_shap().explain_rows(x))?;
    let seconds = started.elapsed().as_secs_f64();
    let proba = artifact.forest().predict_proba(x)?;
    let base = explainer.base()[0];
    let error = phi
        .outer_iter()
        .zip(proba.outer_iter())
        .map(|(phi, p)| (base + phi.sum() - p[1]).abs())
        .fold(0.0, f64::max);
    let rows = phi.nrows();
    let nodes = artifact.forest().n_nodes();
    let single = args.single.min(rows);
    let mut one = vec![0.0; phi.ncols()];
    let started = Instant::now();
    for row in x.outer_iter().take(single) {
        let row = row.to_vec();
        explainer.tree_shap().explain_row(&row, &mut one)?;
    }
    let single_row_us = started.elapsed().as_secs_f64() * 1e6 / single.max(1) as f64;
    println!(
        "{}",
        serde_json::json!({
            "explainer": "finbeh TreeShap (exact, path-dependent)",
            "trees": artifact.forest().n_trees(), "nodes": nodes, "threads": args.threads,
            "rows": rows, "seconds": seconds, "rows_per_second": rows as f64 / seconds,
            "single_row_us": single_row_us,
            "max_local_accuracy_error": error,
        })
    );
    anyhow::ensure!(error < 1e-9, "local accuracy error {error} above 1e-9");
    Ok(())
}
