//! Write a synthetic banking CSV (the layout of the "Comprehensive Banking Database").
//!
//! `cargo run --release --example generate_data -- --rows 1000000 --out /tmp/bank.csv --seed 7`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;

/// Generate synthetic financial-behaviour data.
#[derive(Parser)]
struct Args {
    /// Number of data rows.
    #[arg(long)]
    rows: u64,
    /// Output CSV file.
    #[arg(long)]
    out: PathBuf,
    /// Random seed (the output depends only on rows and seed).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    let args = Args::parse();
    let start = Instant::now();
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    finbeh_data::generate_banking_csv(file, args.rows, args.seed)?;
    let bytes = std::fs::metadata(&args.out)?.len();
    println!(
        "wrote {} rows ({:.1} MB) to {} in {:.2} s",
        args.rows,
        bytes as f64 / 1e6,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
