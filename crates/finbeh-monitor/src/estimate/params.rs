//! `[monitor.estimate]` as the estimator's parameters, validated once.

use finbeh_config::EstimateSettings;

use crate::error::MonitorError;

/// Parameters of the label-free performance estimate: a newtype over finbeh-config's
/// `[monitor.estimate]` section (fields through [`EstimateParams::0`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EstimateParams(pub EstimateSettings);

impl From<&EstimateSettings> for EstimateParams {
    /// The `[monitor.estimate]` section of the validated configuration.
    fn from(settings: &EstimateSettings) -> Self {
        Self(settings.clone())
    }
}

impl EstimateParams {
    /// Validates with finbeh-config's `[monitor.estimate]` rules.
    ///
    /// # Errors
    /// [`MonitorError::Settings`] naming each bad `monitor.estimate.*` key.
    pub fn check(self) -> Result<EstimateValidParams, MonitorError> {
        self.0.check()?;
        Ok(EstimateValidParams(self.0))
    }
}

/// `[monitor.estimate]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateValidParams(EstimateSettings);

impl EstimateValidParams {
    /// The validated settings.
    pub fn settings(&self) -> &EstimateSettings {
        &self.0
    }
}
