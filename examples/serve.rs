//! Serve a finbeh model artifact over HTTP with Azure ML's scoring contract.
//!
//! `cargo run --release --example serve -- --model PATH [--host H] [--port P] [--config FILE]`
//!
//! Without `--model`, `serve.model_path` is used, else `model.output_dir` when it holds an
//! artifact, else the directory in `AZUREML_MODEL_DIR` is searched for a `.finbeh` file. Keys: `serve.primary_key` / `FINBEH__SERVE__PRIMARY_KEY` (and
//! the secondary); none means no auth. SIGHUP reloads the model; SIGTERM drains and exits.
//! With `monitor.enabled = true` (`FINBEH__MONITOR__ENABLED=true`) every scored request is
//! recorded in the prediction log at `monitor.database_path` (see docs/monitoring.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use finbeh_config::{Loader, init_logging};
use finbeh_data::DataParams;
use finbeh_monitor::{AlertLoop, AlertParams, LogIdentity, PredictionLog, PredictionLogParams};
use finbeh_monitor::{AttributionParams, DriftParams, LogMetrics, ModelLocation};
use finbeh_serve::{
    AZUREML_MODEL_DIR_ENV, AppState, ServerParams, artifact_loader, model_path_or_output_dir, run,
};

/// Serve a model artifact.
#[derive(Parser)]
struct Args {
    /// Artifact file, or a directory to search (overrides serve.model_path and AZUREML_MODEL_DIR).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Address to listen on (overrides serve.host; default 127.0.0.1).
    #[arg(long)]
    host: Option<String>,
    /// Port (overrides serve.port; default 5001).
    #[arg(long)]
    port: Option<u16>,
    /// TOML settings file (default: ./finbeh.toml when present); FINBEH__SERVE__* env vars apply.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let started = Instant::now();
    match try_main(started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn try_main(started: Instant) -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Loader::new()
        .file(args.config.as_deref())
        .env_from_process()
        .load()?;
    init_logging(settings.logging())?;
    let mut params = ServerParams::from(settings.serve());
    if let Some(host) = args.host {
        params.host = host;
    }
    if let Some(port) = args.port {
        params.port = port;
    }
    params.model_path = match args.model {
        Some(model) => Some(model),
        None => {
            model_path_or_output_dir(params.model_path.as_deref(), &settings.model().output_dir)
        }
    };
    let config = params.check()?;

    let state = AppState::new(config.clone(), artifact_loader());
    let azureml_model_dir = std::env::var_os(AZUREML_MODEL_DIR_ENV).map(PathBuf::from);
    let path = state.load(config.model_path(), azureml_model_dir.as_deref())?;
    let log_config = PredictionLogParams::from(settings.monitor()).check()?;
    let prediction_log = if log_config.enabled() {
        let azure = &settings.deploy().azure;
        let identity = LogIdentity {
            endpoint: azure.endpoint_name.clone(),
            deployment: azure.deployment_name.clone(),
        };
        let log = Arc::new(PredictionLog::open(&log_config, identity)?);
        state.set_prediction_sink(Arc::clone(&log) as _)?;
        state.set_label_sink(Arc::clone(&log) as _)?;
        tracing::info!(
            database = %log.path().display(),
            sample_rate = log_config.sample_rate(),
            backpressure = ?log_config.backpressure(),
            "prediction log on: every scored request is recorded; POST /labels takes ground truth"
        );
        Some(log)
    } else {
        None
    };
    tracing::info!(
        model = %path.display(),
        since_start_ms = started.elapsed().as_secs_f64() * 1e3,
        "ready: model verified, starting to listen"
    );
    let mut alert_loop = alerts_while_serving(&settings, prediction_log.as_deref(), &path)?;
    run(config, state)?;
    if let Some(alerts) = alert_loop.as_mut() {
        alerts.stop();
    }
    if let Some(log) = prediction_log {
        let totals = log.close()?;
        tracing::info!(?totals, "prediction log closed");
    }
    Ok(())
}

/// With a prediction log and `monitor.alerts.evaluation_interval_s` > 0, the alert rules are
/// evaluated over the log on a background thread (docs/monitoring.md, Alerts); rules on
/// `drift_share` and `feature_attribution_ndcg` compare the log with the served artifact.
fn alerts_while_serving(
    settings: &finbeh_config::ValidSettings,
    log: Option<&PredictionLog>,
    model: &Path,
) -> anyhow::Result<Option<AlertLoop>> {
    let params = AlertParams::from(&settings.monitor().alerts).check()?;
    let (Some(log), Some(interval)) = (log, params.evaluation_interval()) else {
        return Ok(None);
    };
    let service = &settings.deploy().azure.endpoint_name;
    let monitor = settings.monitor();
    let log_metrics = LogMetrics::new(
        log.path(),
        ModelLocation {
            model: Some(model.to_path_buf()),
            search: None,
        },
        &DataParams::from(settings.data()).check()?,
        &DriftParams::from(&monitor.drift).check()?,
        &AttributionParams::from(&monitor.attribution).check()?,
        &params,
    );
    let databases = [log.path().to_path_buf()];
    let alerts = AlertLoop::start_with(&params, &databases, service, interval, Some(log_metrics))?;
    tracing::info!(
        rules = params.rules().len(),
        every_s = interval.as_secs(),
        "alerts: evaluating the rules over the prediction log"
    );
    Ok(Some(alerts))
}
