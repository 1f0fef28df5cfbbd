//! Monitoring of a finbeh model. Built so far: the `drift` and `labels` subcommands.
//!
//! `drift` measures drift of every model input column of a current CSV against a reference CSV
//! (the training file; artifacts store no reference sample yet), both read with the artifact's
//! schema and the `[data]` settings, deciding with `[monitor.drift]` (`--config`, `finbeh.toml`,
//! `FINBEH__MONITOR__DRIFT__*`). `--json` prints the drift report as one JSON object; without
//! it, a table and a summary line. Exits 0 whether or not drift was found.
//!
//! `labels` writes ground-truth labels (CSV `request_id,row,label`) to the prediction log at
//! `monitor.database_path` (or `--database`), all or nothing, and says how many matched a
//! logged prediction; a label sent again for the same request id and row replaces the first.
//!
//! `cargo run --release --example monitor -- drift --model ART --current CSV [--reference CSV] [--json] [--config FILE]`
//! `cargo run --release --example monitor -- labels --file CSV [--database DB] [--json] [--config FILE]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use finbeh_config::Loader;
use finbeh_data::DataParams;
use finbeh_monitor::{DriftParams, drift_from_csv, import_labels};

/// Monitoring of a finbeh model.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drift of a current CSV against a reference CSV, column by column.
    Drift {
        /// The `.finbeh` model artifact.
        #[arg(long)]
        model: PathBuf,
        /// CSV of current raw records.
        #[arg(long)]
        current: PathBuf,
        /// CSV of reference raw records (the training file); required for now.
        #[arg(long)]
        reference: Option<PathBuf>,
        /// Print the drift report as one JSON object.
        #[arg(long)]
        json: bool,
        /// TOML settings file (default: ./finbeh.toml when present); FINBEH__* env vars apply.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write ground-truth labels (CSV: request_id,row,label) to the prediction log.
    Labels {
        /// The labels CSV file.
        #[arg(long)]
        file: PathBuf,
        /// The prediction log (default: monitor.database_path).
        #[arg(long)]
        database: Option<PathBuf>,
        /// Print the counts as one JSON object.
        #[arg(long)]
        json: bool,
        /// TOML settings file (default: ./finbeh.toml when present); FINBEH__* env vars apply.
        #[arg(long)]
        config: Option<PathBuf>,
    },
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
    match Args::parse().command {
        Command::Drift {
            model,
            current,
            reference,
            json,
            config,
        } => {
            let settings = load(config)?;
            let data = DataParams::from(settings.data()).check()?;
            let drift = DriftParams::from(&settings.monitor().drift).check()?;
            let result = drift_from_csv(&model, reference.as_deref(), &current, &data, &drift)?;
            if json {
                println!("{}", serde_json::to_string(&result.report)?);
            } else {
                print!("{}", result.table());
            }
        }
        Command::Labels {
            file,
            database,
            json,
            config,
        } => {
            let settings = load(config)?;
            let database = database.unwrap_or_else(|| settings.monitor().database_path.clone());
            let import = import_labels(&database, &file)?;
            if json {
                println!("{}", serde_json::to_string(&import)?);
            } else {
                println!(
                    "{}: {} labels ({} new, {} replaced); {} match a logged prediction, {} do not",
                    file.display(),
                    import.received,
                    import.new,
                    import.replaced,
                    import.matched,
                    import.unmatched
                );
                if !import.classes_checked {
                    println!("classes not checked: the log records no model yet");
                }
            }
        }
    }
    Ok(())
}

fn load(config: Option<PathBuf>) -> anyhow::Result<finbeh_config::ValidSettings> {
    Ok(Loader::new()
        .file(config.as_deref())
        .env_from_process()
        .load()?)
}
