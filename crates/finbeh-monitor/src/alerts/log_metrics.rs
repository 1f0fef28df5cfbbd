//! The alert metrics computed from logged rows rather than per-minute aggregates: the drift
//! share and the feature-attribution NDCG of a window's newest rows (at most
//! `[monitor.alerts.log_metrics]` `max_rows`) against the artifact's reference, each value
//! reused for `interval_s` so an evaluation every tick stays cheap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use finbeh_config::AlertMetric;
use finbeh_data::DataValidParams;
use rusqlite::OptionalExtension;

use super::evaluate::WindowSource;
use super::params::AlertValidParams;
use crate::attribution::{AttributionValidParams, TrainingImportance};
use crate::drift::DriftValidParams;
use crate::error::MonitorError;
use crate::log_drift::{LogDriftInput, choose_model, drift_from_log};
use crate::log_read::{LogPeriod, logged_model, open_read_only, read_logged_inputs};
use crate::windows::{MetricsReader, TrafficFilter, WindowStats};

/// A cached value's key: (metric name, window minutes).
type CacheKey = (&'static str, u64);
/// A cached value: (computed for `until_ms`, value).
type Computed = (i64, Option<f64>);

/// Computes `drift_share` and `feature_attribution_ndcg` over a prediction log, cached.
#[derive(Debug)]
pub struct LogMetrics {
    log: PathBuf,
    model: Option<PathBuf>,
    model_search: Option<PathBuf>,
    data: DataValidParams,
    drift: DriftValidParams,
    attribution: AttributionValidParams,
    interval_ms: i64,
    max_rows: usize,
    cache: Mutex<BTreeMap<CacheKey, Computed>>,
    /// The training importance of the model last explained (name, version).
    training: Mutex<Option<((String, String), TrainingImportance)>>,
}

/// Where a [`LogMetrics`] finds its model: `--model`, else the artifact the log names, looked
/// for under `search` (as `monitor drift --since` does).
#[derive(Debug, Clone, Default)]
pub struct ModelLocation {
    /// An explicit artifact.
    pub model: Option<PathBuf>,
    /// A file or directory searched for the artifact the log names.
    pub search: Option<PathBuf>,
}

impl LogMetrics {
    /// Log metrics over `log` (the first prediction log).
    pub fn new(
        log: &Path,
        model: ModelLocation,
        data: &DataValidParams,
        drift: &DriftValidParams,
        attribution: &AttributionValidParams,
        alerts: &AlertValidParams,
    ) -> Self {
        Self {
            log: log.to_path_buf(),
            model: model.model,
            model_search: model.search,
            data: data.clone(),
            drift: drift.clone(),
            attribution: attribution.clone(),
            interval_ms: i64::try_from(alerts.log_metric_interval().as_millis())
                .unwrap_or(i64::MAX),
            max_rows: alerts.log_metric_max_rows(),
            cache: Mutex::new(BTreeMap::new()),
            training: Mutex::new(None),
        }
    }

    /// The metric over the window of `length` ending at `until_ms`: the cached value when it is
    /// younger than the interval, else computed now. A window without rows, or a model that
    /// cannot be found or explained, is "no data" (logged), so the other rules still evaluate.
    pub fn value(&self, metric: AlertMetric, until_ms: i64, length: Duration) -> Option<f64> {
        let name = match metric {
            AlertMetric::DriftShare => "drift_share",
            AlertMetric::FeatureAttributionNdcg => "feature_attribution_ndcg",
            _ => return None,
        };
        let key = (name, length.as_secs() / 60);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&(at, value)) = cache.get(&key)
            && until_ms.saturating_sub(at) < self.interval_ms
            && until_ms >= at
        {
            return value;
        }
        let value = match self.compute(metric, until_ms, length) {
            Ok(value) => value,
            Err(MonitorError::NoLoggedRows { .. }) => None,
            Err(error) => {
                tracing::warn!(metric = name, %error, "alerts: a log metric has no value");
                None
            }
        };
        cache.insert(key, (until_ms, value));
        value
    }

    fn compute(
        &self,
        metric: AlertMetric,
        until_ms: i64,
        length: Duration,
    ) -> Result<Option<f64>, MonitorError> {
        let period = self.newest_rows(LogPeriod::last(length, until_ms.saturating_sub(1)))?;
        if metric == AlertMetric::DriftShare {
            let input = LogDriftInput {
                log: &self.log,
                period,
                model: self.model.as_deref(),
                model_search: self.model_search.as_deref(),
                reference: None,
            };
            let report = drift_from_log(&input, &self.data, &self.drift)?;
            return Ok(Some(report.drift.drifted_share));
        }
        let logged = match &self.model {
            Some(_) => None,
            None => logged_model(&self.log, period)?,
        };
        let (artifact, _) = choose_model(
            self.model.as_deref(),
            self.model_search.as_deref(),
            logged.as_ref(),
        )?;
        let inputs = read_logged_inputs(&self.log, period, artifact.input_columns())?;
        if inputs.rows == 0 {
            return Ok(None);
        }
        let explainer = artifact.explainer()?;
        let id = (
            artifact.metadata().model_name.clone(),
            artifact.metadata().model_version.clone(),
        );
        let mut training = self.training.lock().unwrap_or_else(PoisonError::into_inner);
        let importance = match training.as_ref() {
            Some((known, importance)) if *known == id => importance.clone(),
            _ => {
                let importance = TrainingImportance::new(&artifact, &explainer, &self.attribution)?;
                *training = Some((id, importance.clone()));
                importance
            }
        };
        let report = importance.compare(&artifact, &explainer, &inputs, &self.attribution)?;
        Ok(report.ndcg)
    }

    /// `period` narrowed to its newest `max_rows` logged rows (bounded work on a busy window).
    fn newest_rows(&self, period: LogPeriod) -> Result<LogPeriod, MonitorError> {
        let connection = open_read_only(&self.log)?;
        let offset = i64::try_from(self.max_rows).unwrap_or(i64::MAX);
        let cut: Option<i64> = connection
            .query_row(
                "SELECT time_ms FROM predictions WHERE time_ms >= ?1 AND time_ms < ?2 \
                 ORDER BY time_ms DESC LIMIT 1 OFFSET ?3",
                [period.since_ms, period.until_ms, offset],
                |row| row.get(0),
            )
            .optional()
            .map_err(|source| MonitorError::Database {
                path: self.log.clone(),
                action: "find a window's newest rows",
                source,
            })?;
        Ok(match cut {
            Some(time) => LogPeriod {
                since_ms: time.saturating_add(1).max(period.since_ms),
                until_ms: period.until_ms,
            },
            None => period,
        })
    }
}

/// The windows of one or several prediction logs, with the log metrics of the first.
#[derive(Debug)]
pub struct LogSource {
    reader: MetricsReader,
    filter: TrafficFilter,
    log_metrics: Option<LogMetrics>,
}

impl LogSource {
    /// Windows from `reader` (all traffic); `log_metrics` computes `drift_share` and
    /// `feature_attribution_ndcg` (without it, rules on them have no data).
    pub fn new(reader: MetricsReader, log_metrics: Option<LogMetrics>) -> Self {
        Self {
            reader,
            filter: TrafficFilter::default(),
            log_metrics,
        }
    }
}

impl WindowSource for LogSource {
    fn window(&self, until_ms: i64, length: Duration) -> Result<WindowStats, MonitorError> {
        self.reader.window(until_ms, length, &self.filter)
    }

    fn log_metric(
        &self,
        metric: AlertMetric,
        until_ms: i64,
        length: Duration,
    ) -> Result<Option<f64>, MonitorError> {
        match (metric, &self.log_metrics) {
            (AlertMetric::DriftShare | AlertMetric::FeatureAttributionNdcg, Some(metrics)) => {
                Ok(metrics.value(metric, until_ms, length))
            }
            _ => (&self.reader, &self.filter).log_metric(metric, until_ms, length),
        }
    }
}
