//! The drift report: `monitor drift --json` prints exactly this.

use serde::{Deserialize, Serialize};

use super::decision::{ColumnKind, DriftValidParams};

/// Version of the drift report's JSON. Bump it when a field changes meaning or goes away; old
/// versions' fixtures stay in `tests/fixtures/` and must keep parsing.
pub const DRIFT_REPORT_VERSION: u32 = 1;

/// Drift and data quality of every column, and whether the dataset drifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// [`DRIFT_REPORT_VERSION`] when written.
    pub version: u32,
    /// `drifted_share ≥ monitor.drift.dataset_drift_share`.
    pub dataset_drift: bool,
    /// Drifted columns / columns (0 with no columns).
    pub drifted_share: f64,
    /// One entry per column, in the order given.
    pub features: Vec<FeatureDrift>,
}

impl DriftReport {
    /// The report over `features`, deciding dataset drift with `params`.
    pub fn new(features: Vec<FeatureDrift>, params: &DriftValidParams) -> Self {
        let drifted = features.iter().filter(|feature| feature.drifted).count();
        let drifted_share = if features.is_empty() {
            0.0
        } else {
            drifted as f64 / features.len() as f64
        };
        DriftReport {
            version: DRIFT_REPORT_VERSION,
            dataset_drift: !features.is_empty() && params.dataset_drifted(drifted_share),
            drifted_share,
            features,
        }
    }
}

/// One column's statistics. A statistic that does not apply to the column's kind is `None` and
/// left out of the JSON: KS and Wasserstein are numeric only; chi-square is reported for
/// categorical, boolean and low-cardinality numeric columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// Column name.
    pub column: String,
    /// What the column holds.
    pub kind: ColumnKind,
    /// Two-sample KS statistic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ks_statistic: Option<f64>,
    /// Two-sample KS p-value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ks_p_value: Option<f64>,
    /// Wasserstein distance / reference standard deviation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasserstein_norm: Option<f64>,
    /// Population stability index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    /// Jensen–Shannon distance (natural log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jensen_shannon: Option<f64>,
    /// Chi-square p-value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chi2_p_value: Option<f64>,
    /// Share of current rows that are null.
    pub null_rate: f64,
    /// Share of non-null current rows outside the reference range or category set.
    pub out_of_range_rate: f64,
    /// Whether the deciding statistic crossed its threshold.
    pub drifted: bool,
}
