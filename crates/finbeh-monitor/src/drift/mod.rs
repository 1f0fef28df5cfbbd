//! Drift and data quality of current data against a reference sample, column by column.

mod binning;
mod chi2;
mod decision;
mod divergence;
mod ks;
mod quality;
mod report;
mod wasserstein;

use std::collections::BTreeMap;

pub use binning::{
    BinnedShares, RANGE_BINNING_MIN_DISTINCT, category_bins, fill_empty_bins, numeric_bins,
};
pub use chi2::chi2_p_value;
pub use decision::{ColumnKind, DriftParams, DriftValidParams, Method};
pub use divergence::{jensen_shannon, psi};
pub use ks::{KS_EXACT_MAX_N, KsTest, ks_2samp};
pub use quality::{Quality, category_quality, numeric_quality};
pub use report::{DRIFT_REPORT_VERSION, DriftReport, FeatureDrift};
pub use wasserstein::{MIN_REFERENCE_STD, population_std, wasserstein_distance, wasserstein_norm};

use crate::MonitorError;

/// One column's values in one sample.
#[derive(Debug, Clone, Copy)]
pub enum ColumnSample<'a> {
    /// Numbers; NaN is a null. Infinities are refused.
    Numeric(&'a [f64]),
    /// Categories; `None` is a null.
    Categorical(&'a [Option<&'a str>]),
    /// Booleans; `None` is a null.
    Boolean(&'a [Option<bool>]),
}

impl ColumnSample<'_> {
    pub(crate) fn kind(&self) -> ColumnKind {
        match self {
            ColumnSample::Numeric(_) => ColumnKind::Numeric,
            ColumnSample::Categorical(_) => ColumnKind::Categorical,
            ColumnSample::Boolean(_) => ColumnKind::Boolean,
        }
    }
}

/// Every statistic of one column, current against reference, and whether it drifted by the
/// statistic [`DriftValidParams::decide`] picks. Nulls are left out of the statistics and
/// counted in the null rate.
///
/// # Errors
/// [`MonitorError::KindMismatch`] when the samples hold different kinds,
/// [`MonitorError::EmptySample`] when either sample has no non-null value,
/// [`MonitorError::NonFinite`] for an infinity in a numeric sample.
pub fn feature_drift(
    column: &str,
    reference: ColumnSample<'_>,
    current: ColumnSample<'_>,
    params: &DriftValidParams,
) -> Result<FeatureDrift, MonitorError> {
    match (reference, current) {
        (ColumnSample::Numeric(reference), ColumnSample::Numeric(current)) => {
            numeric_drift(column, reference, current, params)
        }
        (ColumnSample::Categorical(reference), ColumnSample::Categorical(current)) => {
            category_drift(column, ColumnKind::Categorical, reference, current, params)
        }
        (ColumnSample::Boolean(reference), ColumnSample::Boolean(current)) => {
            let text = |values: &[Option<bool>]| -> Vec<Option<&'static str>> {
                values
                    .iter()
                    .map(|v| v.map(|b| if b { "true" } else { "false" }))
                    .collect()
            };
            category_drift(
                column,
                ColumnKind::Boolean,
                &text(reference),
                &text(current),
                params,
            )
        }
        (reference, current) => Err(MonitorError::KindMismatch {
            column: column.to_owned(),
            reference: reference.kind(),
            current: current.kind(),
        }),
    }
}

/// The non-null values of a numeric sample, refusing infinities and an empty result.
fn non_null(column: &str, sample: &'static str, values: &[f64]) -> Result<Vec<f64>, MonitorError> {
    if let Some(index) = values.iter().position(|v| v.is_infinite()) {
        return Err(MonitorError::NonFinite {
            column: column.to_owned(),
            sample,
            index,
        });
    }
    let kept: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if kept.is_empty() {
        return Err(empty(column, sample));
    }
    Ok(kept)
}

fn empty(column: &str, sample: &'static str) -> MonitorError {
    MonitorError::EmptySample {
        column: column.to_owned(),
        sample,
    }
}

fn numeric_drift(
    column: &str,
    reference_all: &[f64],
    current_all: &[f64],
    params: &DriftValidParams,
) -> Result<FeatureDrift, MonitorError> {
    let mut reference = non_null(column, "reference", reference_all)?;
    let mut current = non_null(column, "current", current_all)?;
    let quality =
        numeric_quality(&reference, current_all).ok_or_else(|| empty(column, "current"))?;
    // Sorted once here; every statistic below walks the sorted samples.
    reference.sort_unstable_by(f64::total_cmp);
    current.sort_unstable_by(f64::total_cmp);
    let ks = ks::ks_2samp_sorted(&reference, &current).ok_or_else(|| empty(column, "current"))?;
    let wasserstein = wasserstein::wasserstein_norm_sorted(&reference, &current)
        .ok_or_else(|| empty(column, "current"))?;
    let bins = binning::numeric_bins_sorted(&reference, &current)
        .ok_or_else(|| empty(column, "current"))?;
    let counts = value_counts(
        &reference,
        &current,
        params.settings().categorical_max_distinct,
    );
    let distinct = counts.as_ref().map_or(usize::MAX, Vec::len);
    let (method, threshold) = params.decide(column, ColumnKind::Numeric, reference.len(), distinct);
    let chi2 = match (method, counts) {
        (Method::ChiSquare | Method::JensenShannon, Some(counts)) => {
            let (reference_counts, current_counts): (Vec<u64>, Vec<u64>) =
                counts.into_iter().unzip();
            chi2_p_value(&reference_counts, &current_counts)
        }
        _ => None,
    };
    let (psi_value, js) = (psi(&bins), jensen_shannon(&bins));
    let deciding = match method {
        Method::Ks => ks.p_value,
        Method::WassersteinNorm => wasserstein,
        Method::JensenShannon => js,
        Method::ChiSquare => chi2.unwrap_or(1.0),
    };
    Ok(FeatureDrift {
        column: column.to_owned(),
        kind: ColumnKind::Numeric,
        ks_statistic: Some(ks.statistic),
        ks_p_value: Some(ks.p_value),
        wasserstein_norm: Some(wasserstein),
        psi: Some(psi_value),
        jensen_shannon: Some(js),
        chi2_p_value: chi2,
        null_rate: quality.null_rate,
        out_of_range_rate: quality.out_of_range_rate,
        drifted: method.drifted(deciding, threshold),
    })
}

/// `(reference count, current count)` of every distinct value of either sorted sample, in value
/// order; `None` as soon as there are more than `max_distinct` values (no count is needed then).
fn value_counts(reference: &[f64], current: &[f64], max_distinct: u64) -> Option<Vec<(u64, u64)>> {
    let mut counts: Vec<(u64, u64)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < reference.len() || j < current.len() {
        let value = match (reference.get(i), current.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) | (None, Some(&x)) => x,
            (None, None) => break,
        };
        if u64::try_from(counts.len()).unwrap_or(u64::MAX) >= max_distinct {
            return None;
        }
        let (start_i, start_j) = (i, j);
        while reference.get(i).is_some_and(|&v| v <= value) {
            i += 1;
        }
        while current.get(j).is_some_and(|&v| v <= value) {
            j += 1;
        }
        counts.push(((i - start_i) as u64, (j - start_j) as u64));
    }
    Some(counts)
}

fn category_drift(
    column: &str,
    kind: ColumnKind,
    reference: &[Option<&str>],
    current: &[Option<&str>],
    params: &DriftValidParams,
) -> Result<FeatureDrift, MonitorError> {
    let mut counts: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for value in reference.iter().flatten() {
        counts.entry(value).or_default().0 += 1;
    }
    for value in current.iter().flatten() {
        counts.entry(value).or_default().1 += 1;
    }
    let (reference_counts, current_counts): (Vec<u64>, Vec<u64>) = counts.values().copied().unzip();
    let reference_rows: u64 = reference_counts.iter().sum();
    if reference_rows == 0 {
        return Err(empty(column, "reference"));
    }
    let outside: u64 = counts
        .values()
        .filter(|(reference, _)| *reference == 0)
        .map(|(_, current)| current)
        .sum();
    let nulls = current.iter().filter(|v| v.is_none()).count();
    let quality = category_quality(
        current.len(),
        nulls,
        usize::try_from(outside).unwrap_or(usize::MAX),
    )
    .ok_or_else(|| empty(column, "current"))?;
    let bins = category_bins(&reference_counts, &current_counts)
        .ok_or_else(|| empty(column, "current"))?;
    let chi2 =
        chi2_p_value(&reference_counts, &current_counts).ok_or_else(|| empty(column, "current"))?;
    let (psi_value, js) = (psi(&bins), jensen_shannon(&bins));
    let reference_len = usize::try_from(reference_rows).unwrap_or(usize::MAX);
    let (method, threshold) = params.decide(column, kind, reference_len, counts.len());
    let deciding = match method {
        Method::JensenShannon | Method::WassersteinNorm => js,
        Method::ChiSquare | Method::Ks => chi2,
    };
    Ok(FeatureDrift {
        column: column.to_owned(),
        kind,
        ks_statistic: None,
        ks_p_value: None,
        wasserstein_norm: None,
        psi: Some(psi_value),
        jensen_shannon: Some(js),
        chi2_p_value: Some(chi2),
        null_rate: quality.null_rate,
        out_of_range_rate: quality.out_of_range_rate,
        drifted: method.drifted(deciding, threshold),
    })
}
