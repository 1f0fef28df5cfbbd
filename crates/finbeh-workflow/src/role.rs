//! The roles a finbeh example binary plays inside the local endpoint it started: the endpoint
//! daemon (`daemon`) and its deployment processes (`serve-deployment`). The `deploy` and the
//! `workflow_runner` examples both start the endpoint as themselves, so both take these hidden
//! subcommands and hand them here: whichever binary started (or restored) the endpoint, its
//! deployments behave the same way.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use finbeh_config::ValidSettings;
use finbeh_deploy::{SelfCommand, run_daemon};

use crate::deployment::serve_endpoint_deployment;
use crate::error::{Result, WorkflowError};

/// A hidden subcommand of an example binary that starts the local endpoint as itself.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum EndpointRole {
    /// The endpoint daemon: the router, the control API and the supervised deployments.
    #[command(hide = true)]
    Daemon,
    /// One deployment process (what the daemon starts per deployment).
    #[command(hide = true)]
    ServeDeployment {
        /// The deployment's name (`blue`, `green`).
        #[arg(long)]
        name: String,
        /// Its loopback port.
        #[arg(long)]
        port: u16,
        /// The artifact it serves.
        #[arg(long)]
        model: PathBuf,
        /// The daemon's pid: the process dies with it.
        #[arg(long)]
        parent_pid: Option<u32>,
    },
}

/// How the running binary starts itself again in a role: its own path, with `--config FILE`
/// when it was given one (the roles read the same settings).
///
/// # Errors
/// The path of the running executable cannot be read.
pub fn self_command(config: Option<&Path>) -> Result<SelfCommand> {
    let mut leading_args = Vec::new();
    if let Some(config) = config {
        leading_args.extend([OsString::from("--config"), config.as_os_str().to_owned()]);
    }
    let program = std::env::current_exe().map_err(|source| WorkflowError::Io {
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    Ok(SelfCommand {
        program,
        leading_args,
    })
}

/// Plays `role` until it is stopped: the endpoint daemon (which starts `command` again as
/// `serve-deployment` for each deployment), or one deployment process, which records its
/// requests and labels in a prediction log when `monitor.enabled`
/// ([`serve_endpoint_deployment`]).
///
/// # Errors
/// The daemon's errors ([`finbeh_deploy::run_daemon`]), or the deployment's
/// ([`serve_endpoint_deployment`]).
pub fn run_endpoint_role(
    settings: &ValidSettings,
    role: &EndpointRole,
    command: SelfCommand,
) -> Result<()> {
    match role {
        EndpointRole::Daemon => {
            let runtime = tokio::runtime::Runtime::new().map_err(WorkflowError::Runtime)?;
            runtime.block_on(run_daemon(settings, command))?;
        }
        EndpointRole::ServeDeployment {
            name,
            port,
            model,
            parent_pid,
        } => {
            tracing::info!(
                deployment = %name,
                port,
                logged = settings.monitor().enabled,
                "deployment starting"
            );
            serve_endpoint_deployment(settings, name, model, *port, *parent_pid)?;
        }
    }
    Ok(())
}
