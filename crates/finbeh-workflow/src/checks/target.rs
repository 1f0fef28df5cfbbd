//! The deployment target whose endpoint `test_deployments` and `troubleshoot` read (never
//! create, start or change).

use std::path::Path;

use finbeh_config::{DeployTarget, ValidSettings};
use finbeh_deploy::{AzureParams, AzureTarget, LocalTarget, SelfCommand};

use crate::checks::{CheckReport, run_target_checks};
use crate::error::{Result, WorkflowError};
use crate::troubleshoot::{TroubleshootOptions, TroubleshootReport, troubleshoot_target};

/// The local endpoint or the Azure ML one, as `deploy.target` (or `--target`) names it.
#[derive(Debug)]
pub enum EndpointTarget {
    /// The local endpoint daemon's endpoint (`[deploy.local]`).
    Local(LocalTarget),
    /// The Azure ML managed online endpoint (`[deploy.azure]`).
    Azure(AzureTarget),
}

impl EndpointTarget {
    /// The target's client. A local endpoint that is not running is reported by the checks,
    /// not started.
    ///
    /// # Errors
    /// `[deploy.azure]` settings that cannot reach Azure (missing workspace, credential).
    pub fn open(settings: &ValidSettings, target: DeployTarget) -> Result<Self> {
        if target == DeployTarget::Azure {
            let params = AzureParams::new(settings.deploy().azure.clone()).check()?;
            return Ok(Self::Azure(AzureTarget::new(params)?));
        }
        // The daemon command is never run: nothing here starts an endpoint.
        let program = std::env::current_exe().map_err(|source| WorkflowError::Io {
            path: "the running program".into(),
            source,
        })?;
        let command = SelfCommand {
            program,
            leading_args: Vec::new(),
        };
        Ok(Self::Local(LocalTarget::new(settings, command)))
    }

    /// [`run_target_checks`] on this target.
    pub async fn run_checks(&self, settings: &ValidSettings, model: &Path) -> CheckReport {
        match self {
            Self::Local(local) => run_target_checks(settings, model, local).await,
            Self::Azure(azure) => run_target_checks(settings, model, azure).await,
        }
    }

    /// [`troubleshoot_target`] on this target.
    pub async fn troubleshoot(
        &self,
        settings: &ValidSettings,
        options: &TroubleshootOptions,
    ) -> TroubleshootReport {
        match self {
            Self::Local(local) => troubleshoot_target(settings, options, local).await,
            Self::Azure(azure) => troubleshoot_target(settings, options, azure).await,
        }
    }
}
