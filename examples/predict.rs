//! Batch scoring of raw records with a model artifact: the CSV must hold the model's input
//! columns (extra columns, e.g. the target, are ignored) and is read with the `[data]` settings
//! (`--config`, `finbeh.toml`, `FINBEH__DATA__*`), so a `;`-delimited file is read as at training.
//!
//! Writes CSV (to `--out`, else stdout): the id columns (`data.id` and id-like names, or
//! `--keep COL,...`), `prediction`, and the probabilities named after their class
//! (`probability_<positive class>` for a binary model, `probability_<class>` for each class of a
//! multi-class one). Timings go to stderr, the last line as JSON: `rows`, `seconds` and
//! `rows_per_second` time the scoring only (feature pipeline + forest, parallel over row
//! chunks); `read_seconds` (CSV read) and `write_seconds` are reported separately.
//!
//! With `--explain`, each row also gets `base` and one `contribution_<column>` per raw input
//! column (exact TreeSHAP of the written probability; per class for a multi-class model); an
//! artifact without node cover (format before 1.3.0) is refused with the reason.
//!
//! `cargo run --release --example predict -- --model PATH --data CSV [--out CSV] [--config PATH] [--keep COL,...] [--explain]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use finbeh_config::Loader;
use finbeh_data::{DataParams, KeepColumns};
use finbeh_train::{ModelArtifact, predict_csv, predict_csv_explained};

/// Score a CSV file of raw records.
#[derive(Parser)]
struct Args {
    /// The `.finbeh` model artifact.
    #[arg(long)]
    model: PathBuf,
    /// CSV of raw records.
    #[arg(long)]
    data: PathBuf,
    /// Write predictions here (CSV); default: stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// TOML settings file (default: ./finbeh.toml when present); FINBEH__DATA__* env vars apply.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Columns copied to the output (default: the id columns).
    #[arg(long, value_delimiter = ',')]
    keep: Option<Vec<String>>,
    /// Also write each row's explanation: `base` and `contribution_<column>` per input column.
    #[arg(long)]
    explain: bool,
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
    let settings = Loader::new()
        .file(args.config.as_deref())
        .env_from_process()
        .load()?;
    let params = DataParams::from(settings.data()).check()?;
    let keep = args.keep.map_or(KeepColumns::Ids, KeepColumns::Listed);
    let artifact = ModelArtifact::read(&args.model)?;
    let predict = if args.explain {
        predict_csv_explained
    } else {
        predict_csv
    };
    let run = predict(&artifact, &args.data, &params, &keep, args.out.as_deref())?;
    let (rows, seconds) = (run.rows, run.score_seconds);
    eprintln!(
        "scored {rows} rows in {seconds:.3}s (CSV read {:.3}s and write {:.3}s not included)",
        run.read_seconds, run.write_seconds
    );
    eprintln!(
        "{}",
        serde_json::json!({
            "rows": rows, "seconds": seconds, "rows_per_second": rows as f64 / seconds.max(1e-9),
            "read_seconds": run.read_seconds, "write_seconds": run.write_seconds,
            "explain_seconds": run.explain_seconds,
            "model": args.model.display().to_string(),
        })
    );
    Ok(())
}
