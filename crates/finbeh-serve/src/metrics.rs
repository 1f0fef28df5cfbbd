//! Request metrics kept in atomics (no lock on the request path), rendered as Prometheus text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;

use crate::sink::PredictionSink;

/// Routes metrics are labelled with; any other path counts as `other` (bounded cardinality).
pub(crate) const ROUTES: [&str; 8] = [
    "/",
    "/health/live",
    "/health/ready",
    "/score",
    "/swagger.json",
    "/metrics",
    "other",
    "/labels",
];

/// The route label index of a request path.
pub(crate) fn route_index(path: &str) -> usize {
    match path {
        "/" => 0,
        "/health/live" => 1,
        "/health/ready" => 2,
        "/score" => 3,
        "/swagger.json" => 4,
        "/metrics" => 5,
        "/labels" => 7,
        _ => 6,
    }
}

/// Status codes the server answers; anything else is counted under its class in `OTHER_STATUS`.
const STATUSES: [u16; 15] = [
    200, 202, 400, 401, 404, 405, 408, 413, 415, 429, 431, 500, 503, 504, 0,
];
const OTHER_STATUS: usize = STATUSES.len() - 1;

fn status_index(status: StatusCode) -> usize {
    let code = status.as_u16();
    STATUSES
        .iter()
        .position(|&s| s == code)
        .unwrap_or(OTHER_STATUS)
}

/// Upper bounds (seconds) of the latency histogram buckets; `+Inf` is implied.
const BUCKETS: [f64; 15] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
];
const BUCKET_NANOS: [u64; 15] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
];

#[derive(Default)]
struct Histogram {
    /// Non-cumulative counts; the last slot is the `+Inf` overflow.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// Every counter the server keeps.
#[derive(Default)]
pub(crate) struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; ROUTES.len()],
    latency: [Histogram; ROUTES.len()],
    rows_scored: AtomicU64,
    reload_success: AtomicU64,
    reload_failure: AtomicU64,
    /// Scoring requests currently admitted (also the 429 gate).
    pub(crate) in_flight: AtomicUsize,
    /// Client connections open now (also the `max_connections` gate).
    pub(crate) open_connections: AtomicUsize,
    connections_refused: AtomicU64,
    connections_timed_out: AtomicU64,
    accept_errors: AtomicU64,
}

impl Metrics {
    /// Records one finished request.
    pub(crate) fn record(&self, route: usize, status: StatusCode, elapsed: Duration) {
        if let Some(row) = self.requests.get(route)
            && let Some(counter) = row.get(status_index(status))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(histogram) = self.latency.get(route) {
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            let slot = BUCKET_NANOS
                .iter()
                .position(|&bound| nanos <= bound)
                .unwrap_or(BUCKETS.len());
            if let Some(bucket) = histogram.buckets.get(slot) {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
            histogram.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
            histogram.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_rows_scored(&self, rows: usize) {
        self.rows_scored.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// A connection refused: over `max_connections`, or every worker's queue full.
    pub(crate) fn count_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed because its header-read or keep-alive time ran out.
    pub(crate) fn count_timed_out(&self) {
        self.connections_timed_out.fetch_add(1, Ordering::Relaxed);
    }

    /// An accept that failed for a reason other than one client's (such as no descriptor left).
    pub(crate) fn count_accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_reload(&self, success: bool) {
        let counter = if success {
            &self.reload_success
        } else {
            &self.reload_failure
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition format 0.0.4.
    pub(crate) fn render(&self, model: Option<(&str, &str)>) -> String {
        let mut out = String::with_capacity(4096);
        // `write!` into a String cannot fail; the results are ignored on purpose.
        out.push_str(
            "# HELP finbeh_http_requests_total HTTP requests answered, by route and status code.\n",
        );
        out.push_str("# TYPE finbeh_http_requests_total counter\n");
        for (route, row) in ROUTES.iter().zip(&self.requests) {
            for (status, counter) in STATUSES.iter().zip(row) {
                let value = counter.load(Ordering::Relaxed);
                if value == 0 {
                    continue;
                }
                let status = if *status == 0 {
                    "other".to_owned()
                } else {
                    status.to_string()
                };
                let _ = writeln!(
                    out,
                    "finbeh_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {value}"
                );
            }
        }

        out.push_str("# HELP finbeh_http_request_duration_seconds Time from request received to response ready, by route.\n");
        out.push_str("# TYPE finbeh_http_request_duration_seconds histogram\n");
        for (route, histogram) in ROUTES.iter().zip(&self.latency) {
            let count = histogram.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let mut cumulative = 0u64;
            for (bound, bucket) in BUCKETS.iter().zip(&histogram.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "finbeh_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            // Buckets are read one by one while requests go on; keep +Inf == count consistent.
            let overflow = histogram
                .buckets
                .last()
                .map_or(0, |b| b.load(Ordering::Relaxed));
            let total = (cumulative + overflow).max(count);
            let _ = writeln!(
                out,
                "finbeh_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
            );
            let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "finbeh_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "finbeh_http_request_duration_seconds_count{{route=\"{route}\"}} {total}"
            );
        }

        out.push_str("# HELP finbeh_rows_scored_total Rows scored successfully.\n");
        out.push_str("# TYPE finbeh_rows_scored_total counter\n");
        let _ = writeln!(
            out,
            "finbeh_rows_scored_total {}",
            self.rows_scored.load(Ordering::Relaxed)
        );

        out.push_str(
            "# HELP finbeh_score_requests_in_flight Scoring requests being processed now.\n",
        );
        out.push_str("# TYPE finbeh_score_requests_in_flight gauge\n");
        let _ = writeln!(
            out,
            "finbeh_score_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );

        for (name, kind, help, value) in [
            (
                "finbeh_open_connections",
                "gauge",
                "Client connections open now.",
                self.open_connections.load(Ordering::Relaxed) as u64,
            ),
            (
                "finbeh_connections_refused_total",
                "counter",
                "Connections refused at once: over max_connections, or every worker queue full.",
                self.connections_refused.load(Ordering::Relaxed),
            ),
            (
                "finbeh_connections_timed_out_total",
                "counter",
                "Connections closed because a request head or the next request did not come in time.",
                self.connections_timed_out.load(Ordering::Relaxed),
            ),
            (
                "finbeh_accept_errors_total",
                "counter",
                "Failed accepts that paused the accept loop (such as no file descriptor left).",
                self.accept_errors.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }

        out.push_str("# HELP finbeh_model_reloads_total Model reloads attempted, by result.\n");
        out.push_str("# TYPE finbeh_model_reloads_total counter\n");
        let _ = writeln!(
            out,
            "finbeh_model_reloads_total{{result=\"success\"}} {}",
            self.reload_success.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "finbeh_model_reloads_total{{result=\"failure\"}} {}",
            self.reload_failure.load(Ordering::Relaxed)
        );

        out.push_str("# HELP finbeh_model_info The model being served (always 1).\n");
        out.push_str("# TYPE finbeh_model_info gauge\n");
        if let Some((name, version)) = model {
            let _ = writeln!(
                out,
                "finbeh_model_info{{name=\"{}\",version=\"{}\"}} 1",
                LabelValue(name),
                LabelValue(version)
            );
        }
        out
    }
}

/// Appends the prediction log's loss counters (only when a log is attached).
pub(crate) fn render_prediction_log(out: &mut String, sink: &dyn PredictionSink) {
    for (name, help, value) in [
        (
            "finbeh_monitor_dropped_rows_total",
            "Prediction-log rows dropped before the writer: channel full under the drop policy, or the log closed.",
            sink.dropped_rows(),
        ),
        (
            "finbeh_monitor_failed_rows_total",
            "Prediction-log rows the writer could not write (database errors, logged).",
            sink.failed_rows(),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
}

/// Escapes a label value as the exposition format requires (`\\`, `\"`, `\n`).
struct LabelValue<'a>(&'a str);

impl std::fmt::Display for LabelValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}
