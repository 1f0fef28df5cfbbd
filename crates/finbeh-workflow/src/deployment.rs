//! A deployment process of the local endpoint: finbeh-serve, with a prediction log per
//! deployment when `monitor.enabled`, so the monitor sees the endpoint's traffic and labels.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use finbeh_config::{DeploySettings, ValidSettings};
use finbeh_deploy::{DeployError, ServiceError, serve_deployment, serve_deployment_with};
use finbeh_monitor::{LogIdentity, PredictionLog, PredictionLogParams};

use crate::error::Result;

/// The fix when an endpoint's deployments keep no prediction log: the program that started (or
/// restored) the endpoint read `monitor.enabled = false`, and its daemon starts every deployment
/// with those settings.
pub(crate) const NO_LOG_FIX: &str = "the endpoint was started or restored (`deploy start`) with \
     monitor.enabled = false, finbeh's default outside workflow_runner: set monitor.enabled = true \
     in the config (or FINBEH__MONITOR__ENABLED=true), stop the endpoint \
     (`deploy delete-endpoint`) and run workflow_runner again";

/// The prediction log of deployment `name` of the local endpoint:
/// `deploy.local.state_dir/monitor/<name>.sqlite`.
pub fn deployment_log_path(deploy: &DeploySettings, name: &str) -> PathBuf {
    deploy
        .local
        .state_dir
        .join("monitor")
        .join(format!("{name}.sqlite"))
}

/// Serves `model` as deployment `name` on `127.0.0.1:port` (what the endpoint daemon's
/// `serve-deployment` children run). With `monitor.enabled`, every scored request and every
/// `POST /labels` is recorded in [`deployment_log_path`] (`monitor.database_path` is the `serve`
/// example's single log; an endpoint keeps one per deployment, so that labels join the
/// predictions of the deployment that made them); without it, nothing is logged and
/// `POST /labels` answers 404.
///
/// # Errors
/// The log cannot be opened, or the errors of [`finbeh_deploy::serve_deployment`].
pub fn serve_endpoint_deployment(
    settings: &ValidSettings,
    name: &str,
    model: &Path,
    port: u16,
    parent_pid: Option<u32>,
) -> Result<()> {
    if !settings.monitor().enabled {
        serve_deployment(settings, model, port, parent_pid)?;
        return Ok(());
    }
    let mut params = PredictionLogParams::from(settings.monitor());
    params.database_path = deployment_log_path(settings.deploy(), name);
    let config = params.check()?;
    let identity = LogIdentity {
        endpoint: settings.deploy().local.endpoint_name.clone(),
        deployment: name.to_owned(),
    };
    serve_deployment_with(settings, model, port, parent_pid, |state| {
        let refused = |e: &dyn std::fmt::Display| {
            DeployError::service(
                "opening the deployment's prediction log",
                None,
                ServiceError::new("PredictionLogFailed", e.to_string()),
            )
        };
        let log = Arc::new(PredictionLog::open(&config, identity).map_err(|e| refused(&e))?);
        state
            .set_prediction_sink(Arc::clone(&log) as _)
            .map_err(|e| refused(&e))?;
        state
            .set_label_sink(Arc::clone(&log) as _)
            .map_err(|e| refused(&e))?;
        Ok(log)
    })?;
    Ok(())
}
