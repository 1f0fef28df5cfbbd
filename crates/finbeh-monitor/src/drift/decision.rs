//! Which statistic decides whether a column drifted, and at what threshold (Evidently's rule).

use finbeh_config::DriftSettings;

use crate::MonitorError;

/// `[monitor.drift]` as the drift analysis takes it, before [`DriftParams::check`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DriftParams(pub DriftSettings);

impl From<&DriftSettings> for DriftParams {
    /// The `[monitor.drift]` section of the validated configuration.
    fn from(settings: &DriftSettings) -> Self {
        DriftParams(settings.clone())
    }
}

impl DriftParams {
    /// Validates with finbeh-config's `[monitor.drift]` rules.
    ///
    /// # Errors
    /// [`MonitorError::Settings`] naming each bad `monitor.drift.*` key.
    pub fn check(self) -> Result<DriftValidParams, MonitorError> {
        self.0.check()?;
        Ok(DriftValidParams(self.0))
    }
}

/// `[monitor.drift]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftValidParams(DriftSettings);

impl DriftValidParams {
    /// The validated settings.
    pub fn settings(&self) -> &DriftSettings {
        &self.0
    }

    /// The statistic that decides drift for a column of `kind` with `reference_rows` reference
    /// values and `distinct` distinct values in both samples together, and its threshold (the
    /// column's override when set).
    pub fn decide(
        &self,
        column: &str,
        kind: ColumnKind,
        reference_rows: usize,
        distinct: usize,
    ) -> (Method, f64) {
        let settings = &self.0;
        let numeric = kind == ColumnKind::Numeric
            && u64::try_from(distinct).unwrap_or(u64::MAX) > settings.categorical_max_distinct;
        let small = u64::try_from(reference_rows).unwrap_or(u64::MAX)
            <= settings.p_value_max_reference_rows;
        let (method, default) = match (numeric, small) {
            (true, true) => (Method::Ks, settings.ks_p_value),
            (true, false) => (Method::WassersteinNorm, settings.wasserstein_norm),
            (false, true) => (Method::ChiSquare, settings.chi2_p_value),
            (false, false) => (Method::JensenShannon, settings.jensen_shannon),
        };
        let threshold = settings
            .column_thresholds
            .get(column)
            .copied()
            .unwrap_or(default);
        (method, threshold)
    }

    /// Whether the dataset drifted: the drifted share is at least `dataset_drift_share`.
    pub fn dataset_drifted(&self, drifted_share: f64) -> bool {
        drifted_share >= self.0.dataset_drift_share
    }
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Numbers.
    Numeric,
    /// Categories (strings).
    Categorical,
    /// `true` / `false`.
    Boolean,
}

/// A statistic that can decide drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// KS p-value; drift when `p ≤ threshold`.
    Ks,
    /// Chi-square p-value; drift when `p ≤ threshold`.
    ChiSquare,
    /// Normalised Wasserstein distance; drift when `≥ threshold`.
    WassersteinNorm,
    /// Jensen–Shannon distance; drift when `≥ threshold`.
    JensenShannon,
}

impl Method {
    /// The report field that holds this statistic (`ks_p_value`, `chi2_p_value`,
    /// `wasserstein_norm`, `jensen_shannon`).
    pub fn field(self) -> &'static str {
        match self {
            Method::Ks => "ks_p_value",
            Method::ChiSquare => "chi2_p_value",
            Method::WassersteinNorm => "wasserstein_norm",
            Method::JensenShannon => "jensen_shannon",
        }
    }

    /// Whether `value` of this statistic means drift at `threshold`.
    pub fn drifted(self, value: f64, threshold: f64) -> bool {
        match self {
            Method::Ks | Method::ChiSquare => value <= threshold,
            Method::WassersteinNorm | Method::JensenShannon => value >= threshold,
        }
    }
}
