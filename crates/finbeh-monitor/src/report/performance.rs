//! The report's performance section: per step, CBPE's label-free estimate of the served
//! positive-class probabilities (with the reference band) and the metric realized on the
//! step's labelled rows.

use std::path::Path;

use finbeh_train::ModelArtifact;
use serde::{Deserialize, Serialize};

use crate::error::MonitorError;
use crate::estimate::{EstimateValidParams, PerformanceEstimator, PerformanceMetric};
use crate::label_metrics::{LabelQuery, MetricsWindow, labelled_metrics};
use crate::log_read::{LogPeriod, open_read_only};

/// The metrics the report charts, estimate against realized.
pub const REPORT_PERFORMANCE_METRICS: [PerformanceMetric; 2] =
    [PerformanceMetric::Accuracy, PerformanceMetric::RocAuc];

/// One step of a metric: the estimate with its band, and the realized value where labelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformancePoint {
    /// Start of the step, milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// Scored rows of the step the estimate is computed on.
    pub rows: u64,
    /// CBPE's estimate; `None` where undefined (e.g. a step without rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<f64>,
    /// The band's lower end (mean − `band_sigmas` σ over the reference chunks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    /// The band's upper end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    /// Whether the estimate is outside the band.
    #[serde(default)]
    pub alert: bool,
    /// The metric on the step's labelled rows; `None` without labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realized: Option<f64>,
    /// Labelled rows of the step.
    #[serde(default)]
    pub labelled: u64,
    /// Share of the step's predictions without a usable label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlabelled_share: Option<f64>,
}

/// One metric over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceSeries {
    /// Which metric.
    pub metric: PerformanceMetric,
    /// One point per report step with rows or labels, in time order.
    pub points: Vec<PerformancePoint>,
}

/// Labelled metrics against the label-free estimate, over the report's steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceSection {
    /// The model estimated (name and version).
    pub model: String,
    /// Its decision threshold.
    pub threshold: f64,
    /// Rows per reference chunk the band was computed over (a step with far fewer rows has a
    /// noisier estimate than the band suggests).
    pub chunk_rows: u64,
    /// One series per metric of [`REPORT_PERFORMANCE_METRICS`].
    pub series: Vec<PerformanceSeries>,
}

/// Estimates and realized values of the first log over `period` in steps of `step_ms`.
pub(crate) fn performance(
    log: &Path,
    artifact: &ModelArtifact,
    params: &EstimateValidParams,
    period: LogPeriod,
    step_ms: i64,
) -> Result<PerformanceSection, MonitorError> {
    let estimator = PerformanceEstimator::from_artifact(params, artifact)?;
    let labelled = labelled_metrics(
        log,
        &LabelQuery {
            since_ms: period.since_ms,
            until_ms: period.until_ms,
            step_ms,
        },
    )?;
    let served = served_probabilities(log, period, step_ms, labelled.steps.len())?;
    let mut series: Vec<PerformanceSeries> = REPORT_PERFORMANCE_METRICS
        .iter()
        .map(|&metric| PerformanceSeries {
            metric,
            points: Vec::new(),
        })
        .collect();
    for (window, probabilities) in labelled.steps.iter().zip(&served) {
        if probabilities.is_empty() && window.labelled == 0 {
            continue;
        }
        let estimate = if probabilities.is_empty() {
            None
        } else {
            Some(estimator.estimate(probabilities, None)?)
        };
        for line in &mut series {
            let metric = estimate.as_ref().and_then(|e| e.metric(line.metric));
            let band = estimator.band(line.metric);
            line.points.push(PerformancePoint {
                start_ms: window.start_ms,
                rows: probabilities.len() as u64,
                estimate: metric.and_then(|m| m.estimate),
                lower: band.map(|b| b.0),
                upper: band.map(|b| b.1),
                alert: metric.is_some_and(|m| m.alert),
                realized: realized(window, line.metric),
                labelled: window.labelled,
                unlabelled_share: window.unlabelled_share,
            });
        }
    }
    let metadata = artifact.metadata();
    Ok(PerformanceSection {
        model: format!("{} {}", metadata.model_name, metadata.model_version),
        threshold: estimator.threshold(),
        chunk_rows: estimator.chunk_rows() as u64,
        series,
    })
}

fn realized(window: &MetricsWindow, metric: PerformanceMetric) -> Option<f64> {
    match metric {
        PerformanceMetric::Accuracy => window.accuracy.value,
        PerformanceMetric::Precision => window.precision.value,
        PerformanceMetric::Recall => window.recall.value,
        PerformanceMetric::F1 => window.f1.value,
        PerformanceMetric::RocAuc => window.roc_auc.value,
    }
}

/// The served positive-class probabilities (binary rows answered 200) of each step.
fn served_probabilities(
    log: &Path,
    period: LogPeriod,
    step_ms: i64,
    steps: usize,
) -> Result<Vec<Vec<f64>>, MonitorError> {
    let fail = |action: &'static str| {
        move |source| MonitorError::Database {
            path: log.to_path_buf(),
            action,
            source,
        }
    };
    let connection = open_read_only(log)?;
    let mut statement = connection
        .prepare(
            "SELECT time_ms, probabilities FROM predictions \
             WHERE time_ms >= ?1 AND time_ms < ?2 AND http_status = 200 \
             AND row_index IS NOT NULL",
        )
        .map_err(fail("read the served probabilities"))?;
    let mut rows = statement
        .query([period.since_ms, period.until_ms])
        .map_err(fail("read the served probabilities"))?;
    let mut served = vec![Vec::new(); steps];
    while let Some(row) = rows.next().map_err(fail("read a served probability"))? {
        let time_ms: i64 = row.get(0).map_err(fail("read a served probability"))?;
        let text: Option<String> = row.get(1).map_err(fail("read a served probability"))?;
        let positive = text
            .as_deref()
            .and_then(|t| serde_json::from_str::<Vec<f64>>(t).ok())
            .filter(|p| p.len() == 2)
            .map(|p| p[1])
            .filter(|p| p.is_finite() && (0.0..=1.0).contains(p));
        let step = usize::try_from((time_ms - period.since_ms) / step_ms.max(1)).unwrap_or(0);
        if let (Some(p), Some(bucket)) = (positive, served.get_mut(step)) {
            bucket.push(p);
        }
    }
    Ok(served)
}
