//! Train a model from a CSV file and write the verified artifact `DIR/model.finbeh` plus
//! `DIR/report.json`. Refuses (exit 1, report printed) when the validation report has errors.
//! The last line printed is one JSON object with the headline figures.
//!
//! `cargo run --release --example train -- --data PATH [--test PATH] [--target COL] [--config PATH] --out DIR [--search N]`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use finbeh_config::Loader;
use finbeh_data::{DataParams, load_dataset};
use finbeh_train::{ARTIFACT_EXTENSION, TrainingJob};

/// Train a finbeh model.
#[derive(Parser)]
struct Args {
    /// Training CSV file.
    #[arg(long)]
    data: PathBuf,
    /// Evaluate on this CSV file instead of a held-out split.
    #[arg(long)]
    test: Option<PathBuf>,
    /// Target column (overrides data.target).
    #[arg(long)]
    target: Option<String>,
    /// TOML settings file (default: ./finbeh.toml when present).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Random-search iterations (overrides model.search_iterations).
    #[arg(long)]
    search: Option<usize>,
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
    let mut data_params = DataParams::from(settings.data());
    if let Some(target) = args.target {
        data_params = data_params.with_target(target);
    }
    let data_params = data_params.check()?;
    let mut model = settings.model().clone();
    model.search_iterations = args.search.unwrap_or(model.search_iterations);

    let data = load_dataset(&args.data, &data_params)?;
    if data.report.has_errors() {
        println!("{}", data.report);
        eprintln!("error: the validation report has errors; not training");
        return Ok(false);
    }
    let job = TrainingJob {
        data_params: &data_params,
        model: &model,
        test_file: args.test,
        data_file_name: args
            .data
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        progress: true,
    };
    let outcome = job.run(&data)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join(format!("model.{ARTIFACT_EXTENSION}"));
    let bytes = outcome.artifact.write(&path)?;
    let report = serde_json::json!({
        "summary": outcome.summary,
        "evaluation": outcome.artifact.metadata().evaluation,
        "threshold": outcome.artifact.metadata().threshold,
        "search": outcome.search,
        "training": outcome.artifact.metadata().training,
        "validation": data.report,
    });
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    let s = &outcome.summary;
    let metadata = outcome.artifact.metadata();
    println!(
        "trained {} trees on {} rows x {} features in {:.2}s; test {} {:.4}, accuracy {:.4}",
        outcome.artifact.forest().n_trees(),
        s.rows,
        s.features,
        s.fit_seconds,
        metadata
            .evaluation
            .as_ref()
            .map_or("ROC AUC", |e| e.roc_auc_name()),
        s.roc_auc,
        s.accuracy
    );
    println!("the model scores the {}", metadata.probability_meaning());
    for warning in metadata.evaluation_warnings() {
        println!("WARNING: {warning}");
    }
    println!(
        "{}",
        serde_json::json!({
            "fit_seconds": s.fit_seconds, "total_seconds": s.total_seconds, "rows": s.rows,
            "test_rows": s.test_rows, "features": s.features, "roc_auc": s.roc_auc,
            "accuracy": s.accuracy, "threshold": s.threshold,
            "artifact": path.display().to_string(), "artifact_bytes": bytes,
        })
    );
    Ok(true)
}
