//! Batch scoring of raw records with a model artifact: the CSV must hold the model's input
//! columns (extra columns, e.g. the target, are ignored). Writes the decided class and one
//! probability per class. The last line is JSON: `rows`, `seconds` and `rows_per_second` time the
//! scoring only (feature pipeline + forest, parallel over row chunks); `read_seconds` is the CSV
//! read, reported separately.
//!
//! `cargo run --release --example predict -- --model PATH --data CSV [--out CSV]`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use finbeh_data::{DataParams, load_records};
use finbeh_train::ModelArtifact;

/// Score a CSV file of raw records.
#[derive(Parser)]
struct Args {
    /// The `.finbeh` model artifact.
    #[arg(long)]
    model: PathBuf,
    /// CSV of raw records.
    #[arg(long)]
    data: PathBuf,
    /// Write predictions here (CSV).
    #[arg(long)]
    out: Option<PathBuf>,
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
    let artifact = ModelArtifact::read(&args.model)?;
    let read_start = Instant::now();
    let params = DataParams::default().check()?;
    let (table, _) = load_records(&args.data, artifact.pipeline(), None, &params)?;
    let read_seconds = read_start.elapsed().as_secs_f64();

    let start = Instant::now();
    let proba = artifact.score_table(&table)?;
    let classes = artifact.predict_classes(proba.view());
    let seconds = start.elapsed().as_secs_f64();

    if let Some(out) = &args.out {
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut w = std::io::BufWriter::new(file);
        let labels = artifact.classes();
        let header: Vec<String> = labels.iter().map(|c| format!("p_{c}")).collect();
        writeln!(w, "prediction,{}", header.join(","))?;
        for (class, p) in classes.iter().zip(proba.outer_iter()) {
            let ps: Vec<String> = p.iter().map(f64::to_string).collect();
            writeln!(
                w,
                "{},{}",
                labels.get(*class).map_or("?", String::as_str),
                ps.join(",")
            )?;
        }
        w.flush()?;
    }
    let rows = table.n_rows();
    println!("scored {rows} rows in {seconds:.3}s (CSV read {read_seconds:.3}s, not included)");
    println!(
        "{}",
        serde_json::json!({
            "rows": rows, "seconds": seconds, "rows_per_second": rows as f64 / seconds.max(1e-9),
            "read_seconds": read_seconds, "model": args.model.display().to_string(),
        })
    );
    Ok(())
}
