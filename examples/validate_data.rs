//! Load a CSV file, infer its schema and print the validation report; exits 1 when the file
//! cannot be loaded or the report has errors (e.g. leakage).
//!
//! `cargo run --release --example validate_data -- --data FILE [--target COL] [--config FILE] [--json] [--fit]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use finbeh_config::Loader;
use finbeh_data::{DataParams, fit_pipeline, load_dataset};

/// Validate a data file.
#[derive(Parser)]
struct Args {
    /// The CSV file (overrides data.path).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Target column (overrides data.target).
    #[arg(long)]
    target: Option<String>,
    /// TOML settings file (default: ./finbeh.toml when present); FINBEH__DATA__* env vars apply.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also fit the feature pipeline on all rows and transform them, printing timings.
    #[arg(long)]
    fit: bool,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn try_main() -> anyhow::Result<bool> {
    let args = Args::parse();
    let settings = Loader::new()
        .file(args.config.as_deref())
        .env_from_process()
        .load()?;
    let mut params = DataParams::from(settings.data());
    if let Some(target) = args.target {
        params = params.with_target(target);
    }
    let data_path = args
        .data
        .or_else(|| params.path.clone())
        .context("no data file: pass --data or set data.path")?;
    let params = params.check()?;

    let start = Instant::now();
    let data = load_dataset(&data_path, &params)?;
    let loaded = start.elapsed();
    if args.json {
        println!("{}", data.report.to_json()?);
    } else {
        println!("{}", data.report);
    }
    if args.fit {
        let rows = data.all_rows();
        let fit_start = Instant::now();
        let pipeline = fit_pipeline(&data.table, &data.schema, &rows, &params)?;
        let fitted = fit_start.elapsed();
        let x = pipeline.transform_table(&data.table, None)?;
        let total = start.elapsed();
        eprintln!(
            "timing: load {:.2} s, fit {:.2} s, transform {:.2} s, total {:.2} s; matrix {} x {} f32 = {:.1} MB; table {:.1} MB",
            loaded.as_secs_f64(),
            fitted.as_secs_f64(),
            (total - loaded - fitted).as_secs_f64(),
            total.as_secs_f64(),
            x.nrows(),
            x.ncols(),
            (x.len() * 4) as f64 / 1e6,
            data.table.heap_bytes() as f64 / 1e6
        );
    }
    Ok(!data.report.has_errors())
}
