//! One deployment's process: finbeh-serve on a loopback port, without keys (the router checks
//! them), dying with its daemon.

use std::path::Path;

use finbeh_config::ValidSettings;
use finbeh_serve::{AppState, ServerParams, artifact_loader, run};

use crate::error::{DeployError, Result};

/// Serves `model` on `127.0.0.1:port` until SIGTERM (what the daemon's `serve-deployment`
/// children run). With `parent_pid`, the process asks the kernel for SIGTERM when its parent
/// dies (Linux) and exits at once if the parent is already gone, so a killed daemon leaves no
/// orphan behind.
pub fn serve_deployment(
    settings: &ValidSettings,
    model: &Path,
    port: u16,
    parent_pid: Option<u32>,
) -> Result<()> {
    serve_deployment_with(settings, model, port, parent_pid, |_| Ok(()))
}

/// [`serve_deployment`], with `attach` called on the loaded server's state before it listens:
/// how a caller above finbeh-deploy plugs in a prediction log (`AppState::set_prediction_sink`,
/// `set_label_sink`) without finbeh-deploy naming finbeh-monitor. `attach` returns a guard
/// (e.g. the log) that lives until the server has stopped.
pub fn serve_deployment_with<G>(
    settings: &ValidSettings,
    model: &Path,
    port: u16,
    parent_pid: Option<u32>,
    attach: impl FnOnce(&AppState) -> Result<G>,
) -> Result<()> {
    if let Some(parent) = parent_pid {
        die_with_parent(parent)?;
    }
    let mut params = ServerParams::from(settings.serve());
    params.host = "127.0.0.1".to_owned();
    params.port = port;
    params.model_path = Some(model.to_path_buf());
    params.primary_key = None;
    params.secondary_key = None;
    let config = params.check().map_err(serve_error)?;
    let state = AppState::new(config.clone(), artifact_loader());
    state.load(config.model_path(), None).map_err(serve_error)?;
    let guard = attach(&state)?;
    let served = run(config, state).map_err(serve_error);
    drop(guard);
    served
}

/// The server's error with its whole source chain (the OS reason of a failed bind, ...).
fn serve_error(error: finbeh_serve::ServeError) -> DeployError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    DeployError::service(
        "serving the deployment",
        None,
        crate::error::ServiceError::new("ServeFailed", message),
    )
}

#[cfg(target_os = "linux")]
fn die_with_parent(parent: u32) -> Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM)).map_err(
        |e| {
            DeployError::io(
                "setting the parent death signal of",
                "this process",
                e.into(),
            )
        },
    )?;
    let still_there = rustix::process::getppid()
        .is_some_and(|pid| u32::try_from(pid.as_raw_nonzero().get()).ok() == Some(parent));
    if still_there {
        Ok(())
    } else {
        Err(DeployError::NotRunning {
            endpoint: "daemon".to_owned(),
            reason: format!("the parent process {parent} is gone"),
        })
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_parent: u32) -> Result<()> {
    Ok(())
}
