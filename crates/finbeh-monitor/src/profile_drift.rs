//! Drift of current values against an artifact's binned training profile (artifacts without a
//! reference sample): the statistics bins allow, PSI, Jensen–Shannon and chi-square.
//!
//! Bins are the profile's: a numeric column's quantile edges (a value below the first edge counts
//! in the first bin, above the last in the last bin, and both count as out of range); a
//! categorical column's listed categories plus the pooled rest; a boolean's false and true.
//! Reference counts for chi-square are the profile's shares times its present rows, rounded.
//! Jensen–Shannon decides (threshold `monitor.drift.jensen_shannon` or the column's override).

use finbeh_data::ColumnProfile;

use crate::drift::{
    BinnedShares, ColumnKind, ColumnSample, DriftValidParams, FeatureDrift, Method, chi2_p_value,
    jensen_shannon, psi,
};
use crate::error::MonitorError;

/// Drift of `current` against one column's training `profile` (over `profile_rows` rows).
///
/// # Errors
/// [`MonitorError::KindMismatch`] when the profile and the values hold different kinds,
/// [`MonitorError::EmptySample`] when the current sample or the profile has no value.
pub fn profile_feature_drift(
    column: &str,
    profile: &ColumnProfile,
    profile_rows: usize,
    current: ColumnSample<'_>,
    params: &DriftValidParams,
) -> Result<FeatureDrift, MonitorError> {
    let empty = |sample| MonitorError::EmptySample {
        column: column.to_owned(),
        sample,
    };
    let (kind, reference_shares, current_counts, nulls, outside, missing_rate) =
        match (profile, current) {
            (
                ColumnProfile::Numeric {
                    edges,
                    fractions,
                    missing_rate,
                    ..
                },
                ColumnSample::Numeric(values),
            ) => {
                let (first, last) = match (edges.first(), edges.last()) {
                    (Some(first), Some(last)) if !fractions.is_empty() => (*first, *last),
                    _ => return Err(empty("reference")),
                };
                let bins = fractions.len();
                let mut counts = vec![0_u64; bins];
                let (mut nulls, mut outside) = (0_usize, 0_usize);
                for &value in values.iter() {
                    if value.is_nan() {
                        nulls += 1;
                        continue;
                    }
                    if value < first || value > last {
                        outside += 1;
                    }
                    let index = edges
                        .partition_point(|edge| *edge <= value)
                        .saturating_sub(1)
                        .min(bins - 1);
                    counts[index] += 1;
                }
                (
                    ColumnKind::Numeric,
                    fractions.clone(),
                    counts,
                    nulls,
                    outside,
                    *missing_rate,
                )
            }
            (
                ColumnProfile::Categorical {
                    top,
                    other,
                    missing_rate,
                    ..
                },
                ColumnSample::Categorical(values),
            ) => {
                let mut counts = vec![0_u64; top.len() + 1];
                let (mut nulls, mut outside) = (0_usize, 0_usize);
                for value in values.iter() {
                    let Some(value) = value else {
                        nulls += 1;
                        continue;
                    };
                    match top.iter().position(|(label, _)| label == value) {
                        Some(index) => counts[index] += 1,
                        None => {
                            counts[top.len()] += 1;
                            // With no pooled rest every training category is listed.
                            if *other == 0.0 {
                                outside += 1;
                            }
                        }
                    }
                }
                let mut shares: Vec<f64> = top.iter().map(|(_, share)| *share).collect();
                shares.push(*other);
                (
                    ColumnKind::Categorical,
                    shares,
                    counts,
                    nulls,
                    outside,
                    *missing_rate,
                )
            }
            (
                ColumnProfile::Boolean {
                    true_rate,
                    missing_rate,
                    ..
                },
                ColumnSample::Boolean(values),
            ) => {
                let mut counts = vec![0_u64; 2];
                let mut nulls = 0_usize;
                for value in values.iter() {
                    match value {
                        Some(b) => counts[usize::from(*b)] += 1,
                        None => nulls += 1,
                    }
                }
                (
                    ColumnKind::Boolean,
                    vec![1.0 - true_rate, *true_rate],
                    counts,
                    nulls,
                    0,
                    *missing_rate,
                )
            }
            (profile, current) => {
                return Err(MonitorError::KindMismatch {
                    column: column.to_owned(),
                    reference: profile_kind(profile),
                    current: current.kind(),
                });
            }
        };
    let present: u64 = current_counts.iter().sum();
    if present == 0 {
        return Err(empty("current"));
    }
    let total = nulls + present as usize;
    let reference_present = profile_rows as f64 * (1.0 - missing_rate);
    let reference_counts: Vec<u64> = reference_shares
        .iter()
        .map(|share| (share * reference_present).round() as u64)
        .collect();
    let bins = BinnedShares {
        reference: reference_shares,
        current: current_counts
            .iter()
            .map(|&count| count as f64 / present as f64)
            .collect(),
    };
    let js = jensen_shannon(&bins);
    let threshold = params
        .settings()
        .column_thresholds
        .get(column)
        .copied()
        .unwrap_or(params.settings().jensen_shannon);
    Ok(FeatureDrift {
        column: column.to_owned(),
        kind,
        ks_statistic: None,
        ks_p_value: None,
        wasserstein_norm: None,
        psi: Some(psi(&bins)),
        jensen_shannon: Some(js),
        chi2_p_value: chi2_p_value(&reference_counts, &current_counts),
        null_rate: nulls as f64 / total as f64,
        out_of_range_rate: outside as f64 / present as f64,
        drifted: Method::JensenShannon.drifted(js, threshold),
    })
}

fn profile_kind(profile: &ColumnProfile) -> ColumnKind {
    match profile {
        ColumnProfile::Numeric { .. } => ColumnKind::Numeric,
        ColumnProfile::Categorical { .. } => ColumnKind::Categorical,
        ColumnProfile::Boolean { .. } => ColumnKind::Boolean,
    }
}
