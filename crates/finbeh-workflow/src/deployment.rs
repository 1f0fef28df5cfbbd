//! The workflow's deployment processes: finbeh-serve behind the local endpoint, with a
//! prediction log per deployment so the monitor sees the endpoint's traffic and labels.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use finbeh_config::{DeploySettings, ValidSettings};
use finbeh_deploy::{DeployError, ServiceError, serve_deployment_with};
use finbeh_monitor::{LogIdentity, PredictionLog, PredictionLogParams};

use crate::error::Result;

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
/// `serve-deployment` children run when the workflow started the endpoint), recording every
/// scored request and every `POST /labels` in [`deployment_log_path`] whatever
/// `monitor.enabled` says: the workflow's report reads these logs.
///
/// # Errors
/// The log cannot be opened, or the errors of [`finbeh_deploy::serve_deployment`].
pub fn serve_monitored_deployment(
    settings: &ValidSettings,
    name: &str,
    model: &Path,
    port: u16,
    parent_pid: Option<u32>,
) -> Result<()> {
    let mut params = PredictionLogParams::from(settings.monitor());
    params.enabled = true;
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
