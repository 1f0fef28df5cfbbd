//! Reading `minute_stats` from one or several prediction logs (replicas) as one endpoint.

use std::path::Path;
use std::time::Duration;

use rusqlite::params;

use super::aggregate::Aggregate;
use super::minute_store::{MINUTE_MS, minute_of, read_aggregate};
use super::stats::WindowStats;
use crate::error::MonitorError;
use crate::log_store::LogStore;

/// Most points a time series may have (bounds its memory and the queries it runs).
pub const MAX_SERIES_POINTS: usize = 100_000;

/// The rolling windows the monitor reports: 1 minute, 5 minutes, 1 hour and 24 hours.
pub const STANDARD_WINDOWS: [(&str, Duration); 4] = [
    ("1m", Duration::from_secs(60)),
    ("5m", Duration::from_secs(300)),
    ("1h", Duration::from_secs(3_600)),
    ("24h", Duration::from_secs(86_400)),
];

/// Which traffic a query counts; `None` matches every value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficFilter {
    /// Only this endpoint.
    pub endpoint: Option<String>,
    /// Only this deployment.
    pub deployment: Option<String>,
    /// Only this model version.
    pub model_version: Option<String>,
}

/// One or several prediction logs read together: replicas of one endpoint each write their own
/// database, and their minutes are merged (histograms too) as if one server had written them.
pub struct MetricsReader {
    logs: Vec<LogStore>,
}

impl std::fmt::Debug for MetricsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&Path> = self.logs.iter().map(LogStore::path).collect();
        f.debug_struct("MetricsReader")
            .field("paths", &paths)
            .finish()
    }
}

impl MetricsReader {
    /// Opens every database (a version 1 log is migrated, as the writer would).
    ///
    /// # Errors
    /// [`MonitorError::NoDatabase`] for a missing file or an empty list, and the errors of
    /// opening a prediction log.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Self, MonitorError> {
        let logs = LogStore::open_existing(paths)?;
        Ok(Self { logs })
    }

    /// The databases read.
    pub fn paths(&self) -> Vec<&Path> {
        self.logs.iter().map(LogStore::path).collect()
    }

    pub(crate) fn logs(&self) -> &[LogStore] {
        &self.logs
    }

    /// Every minute whose start is in `[since_ms, until_ms)`, merged over all databases.
    ///
    /// # Errors
    /// [`MonitorError::Database`], or [`MonitorError::CorruptMinute`] naming the file and minute.
    pub fn aggregate(
        &self,
        since_ms: i64,
        until_ms: i64,
        filter: &TrafficFilter,
    ) -> Result<Aggregate, MonitorError> {
        let mut total = Aggregate::new();
        for log in &self.logs {
            let fail = |source| MonitorError::Database {
                path: log.path().to_path_buf(),
                action: "read minute_stats",
                source,
            };
            let mut select = log
                .connection()
                .prepare_cached(
                    "SELECT requests, status_counts, rows_scored, binary_rows, positives, \
                     probability_sum, latency_sum_ms, latency_max_ms, latency_histogram, minute_ms \
                     FROM minute_stats WHERE minute_ms >= ?1 AND minute_ms < ?2 \
                     AND (?3 IS NULL OR endpoint = ?3) AND (?4 IS NULL OR deployment = ?4) \
                     AND (?5 IS NULL OR model_version = ?5)",
                )
                .map_err(fail)?;
            let mut rows = select
                .query(params![
                    since_ms,
                    until_ms,
                    filter.endpoint,
                    filter.deployment,
                    filter.model_version
                ])
                .map_err(fail)?;
            while let Some(row) = rows.next().map_err(fail)? {
                let minute_ms: i64 = row.get(9).map_err(fail)?;
                match read_aggregate(row).map_err(fail)? {
                    Ok(minute) => total.merge(&minute),
                    Err(error) => {
                        return Err(MonitorError::CorruptMinute {
                            path: log.path().to_path_buf(),
                            minute_ms,
                            detail: error.0,
                        });
                    }
                }
            }
        }
        Ok(total)
    }

    /// The rolling window of `length` (whole minutes, at least one) that ends at `until_ms`:
    /// the minute holding `until_ms - 1` and the minutes before it, so a window reaches back
    /// `length` from the end of its last minute. Its rates are over the time it covers up to
    /// `until_ms` (a partial last minute counts for the part that has passed).
    ///
    /// # Errors
    /// As [`aggregate`](Self::aggregate).
    pub fn window(
        &self,
        until_ms: i64,
        length: Duration,
        filter: &TrafficFilter,
    ) -> Result<WindowStats, MonitorError> {
        let start_ms = window_start(until_ms, length);
        let aggregate = self.aggregate(start_ms, until_ms, filter)?;
        Ok(WindowStats::new(&aggregate, start_ms, until_ms))
    }

    /// The four [`STANDARD_WINDOWS`] ending at `until_ms`, with their names.
    ///
    /// # Errors
    /// As [`aggregate`](Self::aggregate).
    pub fn standard_windows(
        &self,
        until_ms: i64,
        filter: &TrafficFilter,
    ) -> Result<Vec<(&'static str, WindowStats)>, MonitorError> {
        STANDARD_WINDOWS
            .iter()
            .map(|(name, length)| Ok((*name, self.window(until_ms, *length, filter)?)))
            .collect()
    }

    /// A time series for charts: one point per `step` (whole minutes, at least one) from the
    /// minute holding `since_ms` up to `until_ms`, each over its own step (the last one up to
    /// `until_ms`). Steps without traffic are points with zero requests.
    ///
    /// # Errors
    /// [`MonitorError::TooManyPoints`] beyond [`MAX_SERIES_POINTS`], and as
    /// [`aggregate`](Self::aggregate).
    pub fn series(
        &self,
        since_ms: i64,
        until_ms: i64,
        step: Duration,
        filter: &TrafficFilter,
    ) -> Result<Vec<WindowStats>, MonitorError> {
        let step_ms = whole_minutes_ms(step);
        let first = minute_of(since_ms);
        let span = until_ms.saturating_sub(first).max(0);
        let points = usize::try_from(ceil_div(span, step_ms)).unwrap_or(usize::MAX);
        if points > MAX_SERIES_POINTS {
            return Err(MonitorError::TooManyPoints {
                points,
                max: MAX_SERIES_POINTS,
            });
        }
        let mut series = Vec::with_capacity(points);
        let mut start = first;
        while start < until_ms {
            let end = start.saturating_add(step_ms).min(until_ms);
            let aggregate = self.aggregate(start, end, filter)?;
            series.push(WindowStats::new(&aggregate, start, end));
            start = start.saturating_add(step_ms);
        }
        Ok(series)
    }
}

/// A duration in whole minutes (rounded up), at least one, in milliseconds.
fn whole_minutes_ms(length: Duration) -> i64 {
    let ms = i64::try_from(length.as_millis()).unwrap_or(i64::MAX);
    ceil_div(ms, MINUTE_MS).max(1).saturating_mul(MINUTE_MS)
}

/// The first minute of the window of `length` whose last minute holds `until_ms - 1`.
pub(crate) fn window_start(until_ms: i64, length: Duration) -> i64 {
    let last_minute = minute_of(until_ms.saturating_sub(1));
    last_minute
        .saturating_add(MINUTE_MS)
        .saturating_sub(whole_minutes_ms(length))
}

/// `a / b` rounded up, for `a >= 0` and `b > 0`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}
