//! Monitoring of a finbeh model. Built so far: the `drift`, `alerts` and `prometheus-rules`
//! subcommands.
//!
//! `drift` measures drift of every model input column of a current CSV against a reference CSV
//! (the training file; artifacts store no reference sample yet), both read with the artifact's
//! schema and the `[data]` settings, deciding with `[monitor.drift]` (`--config`, `finbeh.toml`,
//! `FINBEH__MONITOR__DRIFT__*`). `--json` prints the drift report as one JSON object; without
//! it, a table and a summary line. Exits 0 whether or not drift was found.
//!
//! `alerts` evaluates the `[monitor.alerts]` rules over the prediction log (several replicas'
//! databases with `--database` repeated) now, sends new events to the sinks, keeps the rules'
//! state in `monitor.alerts.state_path`, and prints the events and every rule's phase
//! (`--json`: one object). `prometheus-rules` writes the same rules as a Prometheus rule file.
//!
//! `cargo run --release --example monitor -- drift --model ART --current CSV [--reference CSV] [--json] [--config FILE]`
//! `cargo run --release --example monitor -- alerts [--database DB]... [--json] [--config FILE]`
//! `cargo run --release --example monitor -- prometheus-rules --out FILE [--config FILE]`
//! `cargo run --release --example monitor -- export --format jsonl|csv|azureml [--since 24h] --out DIR [--database DB]... [--config FILE]`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use finbeh_config::{Loader, ValidSettings};
use finbeh_data::DataParams;
use finbeh_monitor::{
    AlertEvaluator, AlertParams, AlertSinks, MetricsReader, TrafficFilter, now_ms, prometheus_rules,
};
use finbeh_monitor::{DriftParams, drift_from_csv};
use finbeh_monitor::{ExportFormat, ExportRequest, azure_source_prefix, export_log, parse_since};

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
    /// Evaluate [monitor.alerts] rules over the prediction log now; print firing and resolved.
    Alerts {
        /// Prediction logs to read as one endpoint (repeat for replicas; default:
        /// monitor.database_path).
        #[arg(long = "database")]
        databases: Vec<PathBuf>,
        /// Print the evaluation as one JSON object.
        #[arg(long)]
        json: bool,
        /// TOML settings file (default: ./finbeh.toml when present); FINBEH__* env vars apply.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Export the prediction log as JSONL, CSV, or Azure ML's data-collector layout.
    Export {
        /// `jsonl`, `csv` or `azureml`.
        #[arg(long)]
        format: ExportFormat,
        /// Rows logged since: a duration back from now (30m, 24h, 7d) or an RFC 3339 UTC time.
        #[arg(long, default_value = "24h")]
        since: String,
        /// The directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// Prediction logs, one per replica (default: monitor.database_path).
        #[arg(long = "database")]
        databases: Vec<PathBuf>,
        /// TOML settings file (default: ./finbeh.toml when present); FINBEH__* env vars apply.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write [monitor.alerts] rules as a Prometheus rule file over the server's /metrics.
    PrometheusRules {
        /// The rule file to write (YAML).
        #[arg(long)]
        out: PathBuf,
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
        } => drift(
            &model,
            reference.as_deref(),
            &current,
            json,
            config.as_deref(),
        ),
        Command::Alerts {
            databases,
            json,
            config,
        } => alerts(databases, json, config.as_deref()),
        Command::PrometheusRules { out, config } => prometheus(&out, config.as_deref()),
        Command::Export {
            format,
            since,
            out,
            databases,
            config,
        } => export(format, &since, out, databases, config.as_deref()),
    }
}

fn export(
    format: ExportFormat,
    since: &str,
    out_dir: PathBuf,
    mut databases: Vec<PathBuf>,
    config: Option<&Path>,
) -> anyhow::Result<()> {
    let settings = load_settings(config)?;
    if databases.is_empty() {
        databases.push(settings.monitor().database_path.clone());
    }
    let now = now_ms();
    let azure = &settings.deploy().azure;
    let summary = export_log(&ExportRequest {
        databases,
        since_ms: parse_since(since, now)?,
        until_ms: now,
        format,
        out_dir,
        azure_source_prefix: azure_source_prefix(
            azure.subscription_id.as_deref(),
            azure.resource_group.as_deref(),
            azure.workspace_name.as_deref(),
        ),
    })?;
    eprintln!(
        "exported {} logged rows as {} lines into {} files",
        summary.rows,
        summary.lines,
        summary.files.len()
    );
    Ok(())
}

fn load_settings(config: Option<&Path>) -> anyhow::Result<ValidSettings> {
    Ok(Loader::new().file(config).env_from_process().load()?)
}

fn drift(
    model: &Path,
    reference: Option<&Path>,
    current: &Path,
    json: bool,
    config: Option<&Path>,
) -> anyhow::Result<()> {
    let settings = load_settings(config)?;
    let data = DataParams::from(settings.data()).check()?;
    let drift = DriftParams::from(&settings.monitor().drift).check()?;
    let result = drift_from_csv(model, reference, current, &data, &drift)?;
    if json {
        println!("{}", serde_json::to_string(&result.report)?);
    } else {
        print!("{}", result.table());
    }
    Ok(())
}

fn alerts(mut databases: Vec<PathBuf>, json: bool, config: Option<&Path>) -> anyhow::Result<()> {
    let settings = load_settings(config)?;
    let params = AlertParams::from(&settings.monitor().alerts).check()?;
    if databases.is_empty() {
        databases.push(settings.monitor().database_path.clone());
    }
    let reader = MetricsReader::open(&databases)?;
    let mut evaluator = AlertEvaluator::open(&params, &settings.deploy().azure.endpoint_name)?;
    let evaluation = evaluator.evaluate(now_ms(), &(&reader, &TrafficFilter::default()))?;
    let sinks = AlertSinks::new(&params)?;
    sinks.deliver(&evaluation.events)?;
    evaluator.save()?;
    sinks.close()?;
    if json {
        println!("{}", serde_json::to_string(&evaluation)?);
    } else {
        print!("{}", evaluation.text());
    }
    Ok(())
}

fn prometheus(out: &Path, config: Option<&Path>) -> anyhow::Result<()> {
    let settings = load_settings(config)?;
    let params = AlertParams::from(&settings.monitor().alerts).check()?;
    let (yaml, skipped) = prometheus_rules(params.rules());
    std::fs::write(out, yaml).with_context(|| format!("cannot write {}", out.display()))?;
    for (rule, reason) in skipped {
        eprintln!("left out {rule}: {reason}");
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}
