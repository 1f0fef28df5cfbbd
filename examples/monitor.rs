//! Monitoring of a finbeh model: `drift`, `report`, `health`, `alerts`, `export`,
//! `prometheus-rules` and `labels`.
//!
//! `drift --current CSV` measures drift of every model input column of a current CSV against a
//! reference CSV (the training file), both read with the artifact's schema and the `[data]`
//! settings, deciding with `[monitor.drift]` (`--config`, `finbeh.toml`,
//! `FINBEH__MONITOR__DRIFT__*`). `drift --since 1h` reads the period's logged inputs from the
//! prediction log (`monitor.database_path`, or `--database`) instead, with the model from `--model`,
//! else the artifact the log names (searched in `serve.model_path`, else `model.output_dir`),
//! against `--reference CSV`, else the artifact's binned training profile; it adds prediction
//! drift, the type-error rate and feature-attribution drift (`[monitor.attribution]`; the
//! `feature_attribution_drift` key). `--json` prints the report as one JSON object; without it,
//! a table and a summary line. Exits 0 whether or not drift was found.
//!
//! `alerts` evaluates the `[monitor.alerts]` rules over the prediction log (several replicas'
//! databases with `--database` repeated) now, sends new events to the sinks, keeps the rules'
//! state in `monitor.alerts.state_path`, and prints the events and every rule's phase
//! (`--json`: one object); rules on `drift_share` and `feature_attribution_ndcg` read the first
//! database with `--model` (else the artifact the log names). `prometheus-rules` writes the same
//! rules as a Prometheus rule file.
//!
//! `labels` writes ground-truth labels (CSV `request_id,row,label`) to the prediction log at
//! `monitor.database_path` (or `--database`), all or nothing, and says how many matched a
//! logged prediction; a label sent again for the same request id and row replaces the first.
//!
//! `cargo run --release --example monitor -- drift --model ART --current CSV [--reference CSV] [--json] [--config FILE]`
//! `cargo run --release --example monitor -- labels --file CSV [--database DB] [--json] [--config FILE]`
//! `cargo run --release --example monitor -- alerts [--database DB]... [--model ART] [--json] [--config FILE]`
//! `cargo run --release --example monitor -- prometheus-rules --out FILE [--config FILE]`
//! `cargo run --release --example monitor -- export --format jsonl|csv|azureml [--since 24h] --out DIR [--database DB]... [--config FILE]`
//! `cargo run --release --example monitor -- drift --since 1h [--model ART] [--reference CSV] [--database DB] [--json]`
//!
//! `report [--since 24h] --out PATH.html [--database DB]... [--model ART] [--reference CSV]` writes
//! one self-contained HTML page and its JSON twin `PATH.json` over the period of the logs
//! (several replicas' logs are merged).
//!
//! `health --url URL [--key K] [--model ART] [--json]` probes liveness, readiness,
//! `/swagger.json` and one scored golden record (the artifact's, else one built from the
//! swagger document), each timed; exits 2 when a probe fails.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use finbeh_config::{Loader, ValidSettings};
use finbeh_data::{DataParams, DataValidParams};
use finbeh_monitor::{
    AlertEvaluator, AlertParams, AlertSinks, EstimateParams, MetricsReader, prometheus_rules,
};
use finbeh_monitor::{
    AttributionParams, LogMetrics, LogSource, ModelLocation, drift_from_log_with_attribution,
};
use finbeh_monitor::{
    DriftParams, DriftValidParams, GoldenRecord, HealthTarget, LogDriftInput, LogPeriod,
    ReportInput, build_report, check_health, drift_from_csv, import_labels, now_ms,
};
use finbeh_monitor::{ExportFormat, ExportRequest, azure_source_prefix, export_log, parse_since};
use finbeh_serve::model_path_or_output_dir;
use finbeh_train::ModelArtifact;
use indicatif::ProgressBar;

/// Monitoring of a finbeh model.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drift of a current CSV (or of the logged inputs of a period) against a reference,
    /// column by column.
    Drift(DriftArgs),
    /// Writes the report: one self-contained HTML page (SVG charts, no script) and its JSON twin
    /// (PATH.json).
    Report {
        /// The period: a duration back from now (24h, 7d) or an RFC 3339 UTC time.
        #[arg(long, default_value = "24h")]
        since: String,
        /// The HTML page to write; the JSON twin goes beside it with extension .json.
        #[arg(long)]
        out: PathBuf,
        /// Prediction logs, one per replica, merged (repeat for replicas; default:
        /// monitor.database_path).
        // `--log`, the old name, stays as a hidden alias.
        #[arg(long = "database", alias = "log")]
        logs: Vec<PathBuf>,
        /// The model artifact (default: the artifact the log names).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Reference CSV (the training file) for drift and the score distribution.
        #[arg(long)]
        reference: Option<PathBuf>,
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
        /// The model artifact for the drift_share and feature_attribution_ndcg rules (default:
        /// the one the log names, found where `serve` looks).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Print the evaluation as one JSON object.
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
    /// Probes liveness, readiness, /swagger.json and one scored golden record, with timings.
    /// Exits 2 when a probe fails.
    Health {
        /// The server (`http://host:port`) or an Azure ML scoring URI (`https://.../score`).
        #[arg(long)]
        url: String,
        /// Bearer key (the endpoint's primary or secondary key).
        #[arg(long)]
        key: Option<String>,
        /// Artifact whose first golden record is scored and checked (default: a record built
        /// from the server's /swagger.json).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Longest wait for each probe, in seconds.
        #[arg(long, default_value_t = 10)]
        timeout_secs: u64,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct DriftArgs {
    /// The `.finbeh` model artifact (required with --current; with --since, default: the
    /// artifact the log names).
    #[arg(long)]
    model: Option<PathBuf>,
    /// CSV of current raw records.
    #[arg(long, conflicts_with = "since", required_unless_present = "since")]
    current: Option<PathBuf>,
    /// Period of the prediction log to read instead of --current: a duration back from now
    /// (90s, 30m, 1h, 24h, 7d) or an RFC 3339 UTC time.
    #[arg(long)]
    since: Option<String>,
    /// The prediction log (default: monitor.database_path).
    // `--log`, the old name, stays as a hidden alias.
    #[arg(long = "database", alias = "log", requires = "since")]
    log: Option<PathBuf>,
    /// CSV of reference raw records (the training file); required with --current, and with
    /// --since it overrides the artifact's reference.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Print the drift report as one JSON object.
    #[arg(long)]
    json: bool,
    /// TOML settings file (default: ./finbeh.toml when present); FINBEH__* env vars apply.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn try_main() -> anyhow::Result<ExitCode> {
    match Args::parse().command {
        Command::Drift(args) => drift(args)?,
        Command::Report {
            since,
            out,
            logs,
            model,
            reference,
            config,
        } => {
            let (settings, data, drift, search) = load(config.as_deref())?;
            let logs = if logs.is_empty() {
                vec![settings.monitor().database_path.clone()]
            } else {
                logs
            };
            let estimate = EstimateParams::from(&settings.monitor().estimate).check()?;
            let alerts = AlertParams::from(&settings.monitor().alerts).check()?;
            let attribution = AttributionParams::from(&settings.monitor().attribution).check()?;
            let now = now_ms();
            let input = ReportInput {
                logs: &logs,
                period: LogPeriod::parse_since(&since, now)?,
                now_ms: now,
                model: model.as_deref(),
                model_search: search.as_deref(),
                reference: reference.as_deref(),
                estimate: Some(&estimate),
                alerts: Some(&alerts),
                attribution: Some(&attribution),
            };
            let spinner = spinner("reading the prediction log and drawing the report");
            let report = build_report(&input, &data, &drift)?;
            spinner.inspect(ProgressBar::finish_and_clear);
            let json = report.write(&out)?;
            println!("report: {} and {}", out.display(), json.display());
            for left in &report.left_out {
                println!("left out: {}: {}", left.section, left.reason);
            }
        }
        Command::Health {
            url,
            key,
            model,
            timeout_secs,
            json,
        } => return health(&url, key.as_deref(), model.as_deref(), timeout_secs, json),
        Command::Alerts {
            databases,
            model,
            json,
            config,
        } => alerts(databases, model, json, config.as_deref())?,
        Command::PrometheusRules { out, config } => prometheus(&out, config.as_deref())?,
        Command::Export {
            format,
            since,
            out,
            databases,
            config,
        } => export(format, &since, out, databases, config.as_deref())?,
        Command::Labels {
            file,
            database,
            json,
            config,
        } => labels(&file, database, json, config.as_deref())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A spinner on stderr while long monitor work runs, only when stderr is a terminal.
fn spinner(message: &'static str) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner().with_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    })
}

/// Settings, `[data]` and `[monitor.drift]` validated, and where `serve` would find its model.
fn load(
    config: Option<&Path>,
) -> anyhow::Result<(
    ValidSettings,
    DataValidParams,
    DriftValidParams,
    Option<PathBuf>,
)> {
    let settings = Loader::new().file(config).env_from_process().load()?;
    let data = DataParams::from(settings.data()).check()?;
    let drift = DriftParams::from(&settings.monitor().drift).check()?;
    let search = model_path_or_output_dir(
        settings.serve().model_path.as_deref(),
        &settings.model().output_dir,
    );
    Ok((settings, data, drift, search))
}

fn health(
    url: &str,
    key: Option<&str>,
    model: Option<&Path>,
    timeout_secs: u64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let golden = match model {
        Some(path) => GoldenRecord::from_artifact(&ModelArtifact::read(path)?),
        None => None,
    };
    let report = check_health(&HealthTarget {
        url,
        key,
        golden,
        timeout: Duration::from_secs(timeout_secs),
    });
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn drift(args: DriftArgs) -> anyhow::Result<()> {
    let DriftArgs {
        model,
        current,
        since,
        log,
        reference,
        json,
        config,
    } = args;
    let (settings, data, drift, search) = load(config.as_deref())?;
    if let Some(since) = since {
        let input = LogDriftInput {
            log: log.as_deref().unwrap_or(&settings.monitor().database_path),
            period: LogPeriod::parse_since(&since, now_ms())?,
            model: model.as_deref(),
            model_search: search.as_deref(),
            reference: reference.as_deref(),
        };
        let attribution = AttributionParams::from(&settings.monitor().attribution).check()?;
        let spinner = spinner("reading the prediction log and explaining a sample of its rows");
        let result = drift_from_log_with_attribution(&input, &data, &drift, &attribution)?;
        spinner.inspect(ProgressBar::finish_and_clear);
        if json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            print!("{}", result.report.table());
            match (&result.feature_attribution_drift, &result.attribution_note) {
                (Some(a), _) => println!(
                    "feature-attribution drift: {} (NDCG {} < {} over the top {} columns; {} \
                     training and {} production rows explained)",
                    if a.drifted { "yes" } else { "no" },
                    a.ndcg
                        .map_or_else(|| "undefined".to_owned(), |v| format!("{v:.4}")),
                    a.threshold,
                    a.top_k,
                    a.training_rows,
                    a.production_rows
                ),
                (None, Some(note)) => println!("feature-attribution drift not measured: {note}"),
                (None, None) => {}
            }
        }
        if let (true, Some(note)) = (json, &result.attribution_note) {
            eprintln!("feature-attribution drift not measured: {note}");
        }
        return Ok(());
    }
    let (Some(model), Some(current)) = (model, current) else {
        anyhow::bail!("drift --current CSV needs --model ART");
    };
    let result = drift_from_csv(&model, reference.as_deref(), &current, &data, &drift)?;
    if json {
        println!("{}", serde_json::to_string(&result.report)?);
    } else {
        print!("{}", result.table());
    }
    Ok(())
}

fn alerts(
    mut databases: Vec<PathBuf>,
    model: Option<PathBuf>,
    json: bool,
    config: Option<&Path>,
) -> anyhow::Result<()> {
    let (settings, data, drift, search) = load(config)?;
    let params = AlertParams::from(&settings.monitor().alerts).check()?;
    let attribution = AttributionParams::from(&settings.monitor().attribution).check()?;
    if databases.is_empty() {
        databases.push(settings.monitor().database_path.clone());
    }
    let location = ModelLocation { model, search };
    let log_metrics = LogMetrics::new(
        &databases[0],
        location,
        &data,
        &drift,
        &attribution,
        &params,
    );
    let source = LogSource::new(MetricsReader::open(&databases)?, Some(log_metrics));
    let mut evaluator = AlertEvaluator::open(&params, &settings.deploy().azure.endpoint_name)?;
    let evaluation = evaluator.evaluate(now_ms(), &source)?;
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

fn labels(
    file: &Path,
    database: Option<PathBuf>,
    json: bool,
    config: Option<&Path>,
) -> anyhow::Result<()> {
    let settings = load_settings(config)?;
    let database = database.unwrap_or_else(|| settings.monitor().database_path.clone());
    let import = import_labels(&database, file)?;
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
    Ok(())
}

fn load_settings(config: Option<&Path>) -> anyhow::Result<ValidSettings> {
    Ok(Loader::new().file(config).env_from_process().load()?)
}
