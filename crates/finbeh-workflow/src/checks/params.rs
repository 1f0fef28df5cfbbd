//! `[testing.deployments]` validated once: [`DeploymentCheckParams`] → `check()` →
//! [`DeploymentCheckValidParams`].

use std::time::Duration;

use finbeh_config::DeploymentChecksSettings;

use crate::error::Result;

/// finbeh-config's `[testing.deployments]` section as written; validate with
/// [`DeploymentCheckParams::check`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeploymentCheckParams(pub DeploymentChecksSettings);

impl From<&DeploymentChecksSettings> for DeploymentCheckParams {
    fn from(settings: &DeploymentChecksSettings) -> Self {
        Self(settings.clone())
    }
}

impl DeploymentCheckParams {
    /// Runs finbeh-config's `[testing.deployments]` rules.
    ///
    /// # Errors
    /// [`WorkflowError::Settings`](crate::WorkflowError::Settings) listing every problem.
    pub fn check(self) -> Result<DeploymentCheckValidParams> {
        self.0.check()?;
        Ok(DeploymentCheckValidParams(self.0))
    }
}

/// Checked `[testing.deployments]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentCheckValidParams(DeploymentChecksSettings);

impl DeploymentCheckValidParams {
    /// Scoring requests timed by the latency check (at least 1).
    pub fn latency_requests(&self) -> usize {
        self.0.latency_requests
    }

    /// The p99 latency bound.
    pub fn max_p99(&self) -> Duration {
        Duration::from_millis(self.0.max_p99_ms)
    }

    /// Longest wait for one answer.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.0.request_timeout_ms)
    }
}
