//! Confidence-based performance estimation (NannyML's CBPE) of a binary model: the reference
//! band from the artifact's held-out pairs, then the estimate (and, where labels exist, the
//! realized value) of each metric over a window of served probabilities.
//!
//! The band is NannyML's: mean ± 3σ of each metric's *realized* value over reference chunks (the
//! held-out pairs are labelled). A band of the chunks' *estimates* would leave out label noise:
//! on 500-row chunks its σ was 0.005 for accuracy against 0.012 for the realized value, so an
//! undrifted window's estimate left it (4σ) on generated data, and its realized value routinely
//! would.

use finbeh_train::{Calibration, ModelArtifact};
use serde::{Deserialize, Serialize};

use super::confusion::{Confusion, expected_roc_auc, realized_roc_auc};
use super::params::EstimateValidParams;
use crate::error::MonitorError;

/// Version of [`PerformanceEstimate`]'s serialized form.
pub const PERFORMANCE_ESTIMATE_VERSION: u32 = 1;
/// Reference chunks when `monitor.estimate.chunk_rows` is 0 (NannyML's default chunker).
pub const DEFAULT_REFERENCE_CHUNKS: usize = 10;
/// Fewest reference chunks a band is computed from.
pub const MIN_REFERENCE_CHUNKS: usize = 2;

/// The metrics estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PerformanceMetric {
    /// (TP + TN) / rows.
    Accuracy,
    /// TP / (TP + FP).
    Precision,
    /// TP / (TP + FN).
    Recall,
    /// Harmonic mean of precision and recall.
    F1,
    /// Area under the ROC curve of the served probability.
    RocAuc,
}

impl PerformanceMetric {
    /// Every metric, in report order.
    pub const ALL: [Self; 5] = [
        Self::Accuracy,
        Self::Precision,
        Self::Recall,
        Self::F1,
        Self::RocAuc,
    ];

    /// The metric's name in reports (`accuracy`, `precision`, `recall`, `f1`, `roc_auc`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::Precision => "precision",
            Self::Recall => "recall",
            Self::F1 => "f1",
            Self::RocAuc => "roc_auc",
        }
    }
}

/// The five metrics of one chunk, each `None` where undefined (no predicted positives for
/// precision, one class only for ROC AUC, ...).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct MetricValues([Option<f64>; 5]);

impl MetricValues {
    fn from_confusion(m: &Confusion, roc_auc: Option<f64>) -> Self {
        Self([m.accuracy(), m.precision(), m.recall(), m.f1(), roc_auc])
    }
}

/// The estimate of one metric over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricEstimate {
    /// Which metric.
    pub metric: PerformanceMetric,
    /// CBPE's estimate from the calibrated probabilities; `None` where undefined.
    pub estimate: Option<f64>,
    /// The band's lower end: mean − `band_sigmas` × σ of the metric's realized value over the
    /// reference chunks, at least 0; `None` when fewer than two reference chunks define it.
    pub lower: Option<f64>,
    /// The band's upper end (at most 1).
    pub upper: Option<f64>,
    /// Whether the estimate is outside the band.
    pub alert: bool,
    /// The metric on the window's labelled rows; `None` without labels or where undefined.
    pub realized: Option<f64>,
    /// Labelled rows the realized value is computed on.
    pub labelled: usize,
}

/// CBPE's result for one window (or chunk) of served probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceEstimate {
    /// [`PERFORMANCE_ESTIMATE_VERSION`].
    pub version: u32,
    /// Rows in the window.
    pub rows: usize,
    /// Rows with a label.
    pub labelled: usize,
    /// The expected confusion matrix (calibrated probabilities at the decision threshold).
    pub expected_confusion: Confusion,
    /// One entry per metric, in [`PerformanceMetric::ALL`] order.
    pub metrics: Vec<MetricEstimate>,
}

impl PerformanceEstimate {
    /// The entry of `metric`.
    pub fn metric(&self, metric: PerformanceMetric) -> Option<&MetricEstimate> {
        self.metrics.iter().find(|m| m.metric == metric)
    }
}

/// Mean ± `sigmas` × (population) standard deviation of the defined values, clamped to [0, 1].
fn band(values: impl Iterator<Item = Option<f64>>, sigmas: f64) -> Option<(f64, f64)> {
    let defined: Vec<f64> = values.flatten().collect();
    if defined.len() < MIN_REFERENCE_CHUNKS {
        return None;
    }
    let n = defined.len() as f64;
    let mean = defined.iter().sum::<f64>() / n;
    let var = defined.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    Some(((mean - sigmas * sd).max(0.0), (mean + sigmas * sd).min(1.0)))
}

/// A fitted estimator: the calibration map, the decision threshold, the chunk size and the
/// reference band of each metric.
///
/// ```
/// use finbeh_monitor::{EstimateParams, PerformanceEstimator, PerformanceMetric};
/// use finbeh_train::Calibration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Held-out rows of a well-calibrated model: a row with probability p is positive with
/// // chance p (here exactly: one in ten rows at 0.1, nine in ten at 0.9, ...).
/// let mut probabilities = Vec::new();
/// let mut positives = Vec::new();
/// for i in 0..2_000 {
///     let p = f64::from(i % 10) / 10.0 + 0.05;
///     probabilities.push(p);
///     positives.push(f64::from(i / 10 % 20) / 20.0 + 0.025 < p);
/// }
/// let calibration = Calibration::fit(&probabilities, &positives, 10_000, 42)?;
/// let params = EstimateParams::default().check()?;
/// let estimator = PerformanceEstimator::new(&params, &calibration, 0.5)?;
///
/// // A production window of confident predictions, no labels yet: the estimated accuracy is
/// // above the reference band (the reference held every confidence level).
/// let window = estimator.estimate(&[0.95, 0.05, 0.95, 0.05], None)?;
/// let accuracy = window.metric(PerformanceMetric::Accuracy).ok_or("no accuracy")?;
/// assert!((accuracy.estimate.ok_or("undefined")? - 0.95).abs() < 1e-9);
/// assert!(accuracy.alert && accuracy.realized.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PerformanceEstimator {
    calibration: Calibration,
    threshold: f64,
    chunk_rows: usize,
    reference_chunks: usize,
    bands: [Option<(f64, f64)>; 5],
}

/// The first probability outside [0, 1] (or NaN), as an error naming `what` and the index.
fn check_probabilities(what: &'static str, probabilities: &[f64]) -> Result<(), MonitorError> {
    match probabilities
        .iter()
        .enumerate()
        .find(|(_, p)| !(p.is_finite() && (0.0..=1.0).contains(*p)))
    {
        Some((index, &value)) => Err(MonitorError::InvalidProbability { what, index, value }),
        None => Ok(()),
    }
}

impl PerformanceEstimator {
    /// Fits the estimator from an artifact: its calibration section and decision threshold.
    ///
    /// # Errors
    /// [`MonitorError::NoCalibration`] for a multi-class model or an artifact before format
    /// 1.3.0; see [`Self::new`].
    pub fn from_artifact(
        params: &EstimateValidParams,
        artifact: &ModelArtifact,
    ) -> Result<Self, MonitorError> {
        let no_calibration = |reason: &str| MonitorError::NoCalibration {
            model: artifact.metadata().model_name.clone(),
            reason: reason.to_owned(),
        };
        let calibration = artifact.calibration().ok_or_else(|| {
            no_calibration(if artifact.classes().len() == 2 {
                "the artifact predates format 1.3.0, which stores the calibration"
            } else {
                "CBPE estimates binary models only"
            })
        })?;
        let threshold = artifact
            .threshold()
            .ok_or_else(|| no_calibration("a binary model needs a decision threshold"))?;
        Self::new(params, calibration, threshold)
    }

    /// Fits the estimator: splits the calibration's held-out pairs into reference chunks of
    /// `chunk_rows` (0: [`DEFAULT_REFERENCE_CHUNKS`] equal chunks; the last chunk takes the
    /// remainder), computes every metric's realized value on each, and keeps mean ±
    /// `band_sigmas` σ per metric.
    ///
    /// # Errors
    /// [`MonitorError::ReferenceTooSmall`] when the pairs make fewer than
    /// [`MIN_REFERENCE_CHUNKS`] chunks; [`MonitorError::InvalidProbability`] for a threshold
    /// outside [0, 1].
    pub fn new(
        params: &EstimateValidParams,
        calibration: &Calibration,
        threshold: f64,
    ) -> Result<Self, MonitorError> {
        check_probabilities("decision threshold", &[threshold])?;
        let settings = params.settings();
        let pairs = calibration.probabilities().len();
        let chunk_rows = match settings.chunk_rows {
            0 => pairs / DEFAULT_REFERENCE_CHUNKS,
            rows => rows,
        };
        let reference_chunks = pairs.checked_div(chunk_rows).unwrap_or(0);
        if reference_chunks < MIN_REFERENCE_CHUNKS {
            return Err(MonitorError::ReferenceTooSmall {
                pairs,
                chunk_rows: settings.chunk_rows,
                min_chunks: MIN_REFERENCE_CHUNKS,
            });
        }
        let mut estimator = Self {
            calibration: calibration.clone(),
            threshold,
            chunk_rows,
            reference_chunks,
            bands: [None; 5],
        };
        let labelled: Vec<(f64, bool)> = calibration
            .probabilities()
            .iter()
            .copied()
            .zip(calibration.positives().iter().copied())
            .collect();
        let per_chunk: Vec<MetricValues> = (0..reference_chunks)
            .map(|c| {
                let end = if c + 1 == reference_chunks {
                    pairs
                } else {
                    (c + 1) * chunk_rows
                };
                estimator.realized(&labelled[c * chunk_rows..end])
            })
            .collect();
        for (i, slot) in estimator.bands.iter_mut().enumerate() {
            *slot = band(per_chunk.iter().map(|v| v.0[i]), settings.band_sigmas);
        }
        Ok(estimator)
    }

    /// Expected confusion and metric values of served probabilities (already checked).
    fn expected(&self, served: &[f64]) -> (Confusion, MetricValues) {
        let map = self.calibration.map();
        let pairs: Vec<(f64, f64)> = served.iter().map(|&p| (p, map.apply(p))).collect();
        let confusion = Confusion::expected(pairs.iter().copied(), self.threshold);
        let values = MetricValues::from_confusion(&confusion, expected_roc_auc(&pairs));
        (confusion, values)
    }

    /// Realized metric values of labelled rows (served probability, is positive).
    fn realized(&self, labelled: &[(f64, bool)]) -> MetricValues {
        let confusion = Confusion::realized(labelled.iter().copied(), self.threshold);
        MetricValues::from_confusion(&confusion, realized_roc_auc(labelled))
    }

    /// Estimates every metric over one window of served positive-class probabilities, with
    /// the realized values where `labels` (one per row, `None` = not labelled yet) are given.
    ///
    /// # Errors
    /// [`MonitorError::InvalidProbability`] naming the first probability outside [0, 1];
    /// [`MonitorError::LabelCount`] when `labels` has another length; [`MonitorError::EmptyWindow`]
    /// for a window without rows.
    pub fn estimate(
        &self,
        probabilities: &[f64],
        labels: Option<&[Option<bool>]>,
    ) -> Result<PerformanceEstimate, MonitorError> {
        if probabilities.is_empty() {
            return Err(MonitorError::EmptyWindow);
        }
        check_probabilities("served probability", probabilities)?;
        if let Some(labels) = labels
            && labels.len() != probabilities.len()
        {
            return Err(MonitorError::LabelCount {
                labels: labels.len(),
                rows: probabilities.len(),
            });
        }
        let (expected_confusion, estimates) = self.expected(probabilities);
        let labelled: Vec<(f64, bool)> = labels
            .map(|labels| {
                probabilities
                    .iter()
                    .zip(labels)
                    .filter_map(|(&p, y)| y.map(|y| (p, y)))
                    .collect()
            })
            .unwrap_or_default();
        let realized = (!labelled.is_empty()).then(|| self.realized(&labelled));
        let metrics = PerformanceMetric::ALL
            .iter()
            .enumerate()
            .map(|(i, &metric)| {
                let estimate = estimates.0[i];
                let band = self.bands[i];
                MetricEstimate {
                    metric,
                    estimate,
                    lower: band.map(|b| b.0),
                    upper: band.map(|b| b.1),
                    alert: matches!((estimate, band), (Some(e), Some((lo, hi))) if e < lo || e > hi),
                    realized: realized.and_then(|r| r.0[i]),
                    labelled: labelled.len(),
                }
            })
            .collect();
        Ok(PerformanceEstimate {
            version: PERFORMANCE_ESTIMATE_VERSION,
            rows: probabilities.len(),
            labelled: labelled.len(),
            expected_confusion,
            metrics,
        })
    }

    /// [`Self::estimate`] per chunk of [`Self::chunk_rows`] consecutive rows (the last chunk
    /// takes the remainder when it is under half a chunk, like the reference's).
    ///
    /// # Errors
    /// As [`Self::estimate`].
    pub fn estimate_chunks(
        &self,
        probabilities: &[f64],
        labels: Option<&[Option<bool>]>,
    ) -> Result<Vec<PerformanceEstimate>, MonitorError> {
        if let Some(labels) = labels
            && labels.len() != probabilities.len()
        {
            return Err(MonitorError::LabelCount {
                labels: labels.len(),
                rows: probabilities.len(),
            });
        }
        let n = probabilities.len();
        let size = self.chunk_rows;
        let mut bounds = Vec::new();
        let mut start = 0;
        while start < n {
            let mut end = (start + size).min(n);
            if n - end < size / 2 {
                end = n;
            }
            bounds.push((start, end));
            start = end;
        }
        bounds
            .into_iter()
            .map(|(s, e)| self.estimate(&probabilities[s..e], labels.map(|l| &l[s..e])))
            .collect()
    }

    /// Rows per chunk (reference chunks and [`Self::estimate_chunks`]).
    pub fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }
    /// Reference chunks the band was computed from.
    pub fn reference_chunks(&self) -> usize {
        self.reference_chunks
    }
    /// The decision threshold on the served probability.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }
    /// The band of `metric` (lower, upper), when defined.
    pub fn band(&self, metric: PerformanceMetric) -> Option<(f64, f64)> {
        let i = PerformanceMetric::ALL.iter().position(|&m| m == metric)?;
        self.bands[i]
    }
}

/// Estimates every metric over one window (see [`PerformanceEstimator`]): fits the band from
/// `calibration`'s held-out pairs, then estimates. Fit a [`PerformanceEstimator`] once instead
/// when estimating many windows.
///
/// # Errors
/// As [`PerformanceEstimator::new`] and [`PerformanceEstimator::estimate`].
pub fn estimate_performance(
    params: &EstimateValidParams,
    calibration: &Calibration,
    threshold: f64,
    probabilities: &[f64],
    labels: Option<&[Option<bool>]>,
) -> Result<PerformanceEstimate, MonitorError> {
    PerformanceEstimator::new(params, calibration, threshold)?.estimate(probabilities, labels)
}
