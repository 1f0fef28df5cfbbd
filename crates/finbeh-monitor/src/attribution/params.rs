//! `[monitor.attribution]`, validated once (`AttributionParams` → `check()` →
//! `AttributionValidParams`).

use finbeh_config::AttributionSettings;

use crate::error::MonitorError;

/// The `[monitor.attribution]` settings as written; validate with [`AttributionParams::check`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttributionParams(pub AttributionSettings);

impl From<&AttributionSettings> for AttributionParams {
    fn from(settings: &AttributionSettings) -> Self {
        Self(settings.clone())
    }
}

impl AttributionParams {
    /// Validates the settings with finbeh-config's `[monitor.attribution]` rules.
    ///
    /// # Errors
    /// [`MonitorError::Settings`] listing every problem.
    pub fn check(self) -> Result<AttributionValidParams, MonitorError> {
        self.0.check()?;
        Ok(AttributionValidParams(self.0))
    }
}

/// Validated `[monitor.attribution]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionValidParams(AttributionSettings);

impl AttributionValidParams {
    /// Rows explained per side.
    pub fn sample_rows(&self) -> usize {
        self.0.sample_rows
    }

    /// Seed of the row samples.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }

    /// NDCG below this is feature-attribution drift.
    pub fn ndcg_threshold(&self) -> f64 {
        self.0.ndcg_threshold
    }

    /// Columns the NDCG sums over (0: all).
    pub fn top_k(&self) -> usize {
        self.0.top_k
    }
}
