//! What a window reports, computed from a merged [`Aggregate`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::aggregate::Aggregate;

/// Latency of a window's requests, in milliseconds: the exact average and maximum, and
/// percentiles from the merged HDR histogram (within 0.1 %).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Mean latency.
    pub avg: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest latency.
    pub max: f64,
}

/// The metrics of one window (or one point of a time series).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowStats {
    /// Start of the window, milliseconds since the Unix epoch (a minute boundary).
    pub start_ms: i64,
    /// End of the window (exclusive), milliseconds since the Unix epoch.
    pub end_ms: i64,
    /// Scoring requests logged.
    pub requests: u64,
    /// Requests by HTTP status.
    pub requests_by_status: BTreeMap<u16, u64>,
    /// Requests answered with a 4xx or 5xx status.
    pub errors: u64,
    /// `errors / requests` (0 without requests).
    pub error_rate: f64,
    /// Share of requests answered with a 5xx status (server faults).
    pub server_error_rate: f64,
    /// Share of requests by error status (4xx and 5xx only).
    pub error_rate_by_status: BTreeMap<u16, f64>,
    /// Requests per second over the window's duration.
    pub throughput_rps: f64,
    /// Latency; `None` without requests.
    pub latency_ms: Option<LatencySummary>,
    /// Rows scored.
    pub rows: u64,
    /// Share of binary rows predicted positive; `None` without binary rows.
    pub positive_rate: Option<f64>,
    /// Mean positive-class probability of binary rows; `None` without binary rows.
    pub mean_probability: Option<f64>,
}

impl WindowStats {
    /// The metrics of `aggregate`, collected over `[start_ms, end_ms)`.
    pub fn new(aggregate: &Aggregate, start_ms: i64, end_ms: i64) -> Self {
        let requests = aggregate.requests;
        let share = |count: u64| {
            if requests == 0 {
                0.0
            } else {
                count as f64 / requests as f64
            }
        };
        let answered_at_least = |lowest: u16| -> u64 {
            aggregate
                .statuses
                .range(lowest..)
                .map(|(_, count)| count)
                .sum()
        };
        let errors = answered_at_least(400);
        let server_errors = answered_at_least(500);
        let seconds = end_ms.saturating_sub(start_ms) as f64 / 1_000.0;
        let histogram = &aggregate.latency_us;
        let quantile_ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1_000.0;
        let latency_ms = (requests > 0).then(|| LatencySummary {
            avg: aggregate.latency_sum_ms / requests as f64,
            p50: quantile_ms(0.50),
            p95: quantile_ms(0.95),
            p99: quantile_ms(0.99),
            max: aggregate.latency_max_ms,
        });
        let binary = aggregate.binary_rows;
        Self {
            start_ms,
            end_ms,
            requests,
            requests_by_status: aggregate.statuses.clone(),
            errors,
            error_rate: share(errors),
            server_error_rate: share(server_errors),
            error_rate_by_status: aggregate
                .statuses
                .range(400..)
                .map(|(status, count)| (*status, share(*count)))
                .collect(),
            throughput_rps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            latency_ms,
            rows: aggregate.rows,
            positive_rate: (binary > 0).then(|| aggregate.positives as f64 / binary as f64),
            mean_probability: (binary > 0).then(|| aggregate.probability_sum / binary as f64),
        }
    }
}
