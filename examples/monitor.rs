//! Monitoring of a finbeh model: the `drift`, `health` and `report` subcommands.
//!
//! `drift --current CSV` measures drift of every model input column of a current CSV against a
//! reference CSV (the training file), both read with the artifact's schema and the `[data]`
//! settings, deciding with `[monitor.drift]` (`--config`, `finbeh.toml`,
//! `FINBEH__MONITOR__DRIFT__*`). `drift --since 1h` reads the period's logged inputs from the
//! prediction log (`monitor.database_path`, or `--log`) instead, with the model from `--model`,
//! else the artifact the log names (searched in `serve.model_path`, else `model.output_dir`),
//! against `--reference CSV`, else the artifact's binned training profile; it adds prediction
//! drift and the type-error rate. `--json` prints the report as one JSON object; without it, a
//! table and a summary line. Exits 0 whether or not drift was found.
//!
//! `cargo run --release --example monitor -- drift --model ART --current CSV [--reference CSV] [--json] [--config FILE]`
//! `cargo run --release --example monitor -- drift --since 1h [--model ART] [--reference CSV] [--log DB] [--json]`
//!
//! `report [--since 24h] --out PATH.html [--log DB]... [--model ART] [--reference CSV]` writes
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

use clap::{Parser, Subcommand};
use finbeh_config::{Loader, ValidSettings};
use finbeh_data::{DataParams, DataValidParams};
use finbeh_monitor::{
    DriftParams, DriftValidParams, GoldenRecord, HealthTarget, LogDriftInput, LogPeriod,
    ReportInput, build_report, check_health, drift_from_csv, drift_from_log, now_ms,
};
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
        /// Prediction logs, one per replica, merged (default: monitor.database_path).
        #[arg(long = "log")]
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
    #[arg(long, requires = "since")]
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
            let now = now_ms();
            let input = ReportInput {
                logs: &logs,
                period: LogPeriod::parse_since(&since, now)?,
                now_ms: now,
                model: model.as_deref(),
                model_search: search.as_deref(),
                reference: reference.as_deref(),
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
        let spinner = spinner("reading the prediction log");
        let report = drift_from_log(&input, &data, &drift)?;
        spinner.inspect(ProgressBar::finish_and_clear);
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print!("{}", report.table());
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
