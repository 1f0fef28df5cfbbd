//! `monitor drift --since D --json` with feature-attribution drift as one more, optional,
//! top-level key (`feature_attribution_drift`); every other key is [`LogDriftReport`]'s.

use finbeh_data::DataValidParams;
use serde::{Deserialize, Serialize};

use super::importance::{AttributionReport, attribution_report};
use super::params::AttributionValidParams;
use crate::drift::DriftValidParams;
use crate::error::MonitorError;
use crate::log_drift::{LogDriftInput, LogDriftReport, log_drift_parts};

/// Drift over the log and, when the artifact can explain its predictions, feature-attribution
/// drift of the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogDriftWithAttribution {
    /// Exactly `drift_from_log`'s report (its keys at the top level).
    #[serde(flatten)]
    pub report: LogDriftReport,
    /// Global importance of training and production and the NDCG verdict; absent when it
    /// could not be computed (`attribution_note` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_attribution_drift: Option<AttributionReport>,
    /// Why `feature_attribution_drift` is absent (not serialized: the JSON keeps to the
    /// documented keys).
    #[serde(skip)]
    pub attribution_note: Option<String>,
}

/// [`crate::drift_from_log`] plus feature-attribution drift of the rows it read (read once).
/// An artifact that cannot be explained (format before 1.3.0, no node cover) still gives the
/// drift report, with the reason in `attribution_note`.
///
/// # Errors
/// Those of [`crate::drift_from_log`].
pub fn drift_from_log_with_attribution(
    input: &LogDriftInput<'_>,
    data: &DataValidParams,
    params: &DriftValidParams,
    attribution: &AttributionValidParams,
) -> Result<LogDriftWithAttribution, MonitorError> {
    let parts = log_drift_parts(input, data, params)?;
    let (feature_attribution_drift, attribution_note) =
        match attribution_report(&parts.artifact, &parts.logged, attribution) {
            Ok(report) => (Some(report), None),
            Err(error) => (None, Some(error.to_string())),
        };
    Ok(LogDriftWithAttribution {
        report: parts.report,
        feature_attribution_drift,
        attribution_note,
    })
}
