//! The monitor report: one self-contained HTML page (inline SVG charts, no script, no network
//! fetch) and its versioned JSON twin, over a period of one or several prediction logs.

mod alert_timeline;
mod charts;
mod page;
mod performance;

pub use alert_timeline::{AlertTimeline, FiringInterval, RuleTimeline};
pub use performance::{
    PerformancePoint, PerformanceSection, PerformanceSeries, REPORT_PERFORMANCE_METRICS,
};

use std::path::{Path, PathBuf};

use finbeh_data::DataValidParams;
use serde::{Deserialize, Serialize};

use crate::alerts::AlertValidParams;
use crate::attribution::{AttributionReport, AttributionValidParams, attribution_report};
use crate::drift::DriftValidParams;
use crate::error::MonitorError;
use crate::estimate::EstimateValidParams;
use crate::log_drift::{LogDriftInput, LogDriftParts, LogDriftReport, log_drift_parts};
use crate::log_read::{LogPeriod, open_read_only};
use crate::windows::{MINUTE_MS, MetricsReader, TrafficFilter, WindowStats};

/// Version of the report's JSON twin. Bump it when a field changes meaning or goes away; old
/// versions' fixtures stay in `tests/fixtures/` and must keep parsing.
pub const MONITOR_REPORT_VERSION: u32 = 1;

/// Most points of a time series in the report, whatever the period: the step grows instead, so
/// the page's size does not depend on the log's.
pub const MAX_REPORT_POINTS: usize = 240;

/// Bins of the score distribution over [0, 1].
pub const SCORE_BINS: usize = 20;

/// One point of the report's time series: a step of the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Start of the step, milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// Requests answered.
    pub requests: u64,
    /// Requests per second over the step.
    pub throughput_rps: f64,
    /// Share of requests answered with a status of 400 or more.
    pub error_rate: f64,
    /// Latency percentiles in milliseconds (`None` without requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<f64>,
    /// 99th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
}

impl SeriesPoint {
    fn new(stats: &WindowStats) -> Self {
        let latency = stats.latency_ms.as_ref();
        Self {
            start_ms: stats.start_ms,
            requests: stats.requests,
            throughput_rps: stats.throughput_rps,
            error_rate: stats.error_rate,
            latency_p50_ms: latency.map(|l| l.p50),
            latency_p95_ms: latency.map(|l| l.p95),
            latency_p99_ms: latency.map(|l| l.p99),
        }
    }
}

/// Whole-period figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportSummary {
    /// Requests answered.
    pub requests: u64,
    /// Rows scored.
    pub rows: u64,
    /// Share of requests answered with a status of 400 or more.
    pub error_rate: f64,
    /// Mean requests per second.
    pub throughput_rps: f64,
    /// Latency p50 / p95 / p99 / max in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<[f64; 4]>,
    /// Share of binary rows predicted positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_rate: Option<f64>,
}

/// Score distribution: share of rows per probability bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreDistribution {
    /// Bin edges over [0, 1] ([`SCORE_BINS`] + 1).
    pub edges: Vec<f64>,
    /// Logged rows' shares.
    pub production: Vec<f64>,
    /// The reference rows' shares, scored by the artifact, when a reference was scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Vec<f64>>,
}

/// A section the report could not draw, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeftOut {
    /// The section.
    pub section: String,
    /// Why, in words.
    pub reason: String,
}

/// The JSON twin of the HTML page: every figure the page draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    /// [`MONITOR_REPORT_VERSION`].
    pub version: u32,
    /// When the report was made, milliseconds since the Unix epoch.
    pub generated_ms: i64,
    /// The period, `[since_ms, until_ms)`.
    pub since_ms: i64,
    /// End of the period (excluded).
    pub until_ms: i64,
    /// The prediction logs read (replicas are merged).
    pub logs: Vec<PathBuf>,
    /// Whole-period figures.
    pub summary: ReportSummary,
    /// Length of one series step, milliseconds.
    pub step_ms: i64,
    /// Time series over the period (at most [`MAX_REPORT_POINTS`]).
    pub series: Vec<SeriesPoint>,
    /// Drift and data quality over the period (the first log's rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<LogDriftReport>,
    /// Score distribution, production against the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<ScoreDistribution>,
    /// Labelled metrics against the label-free (CBPE) estimate, per step (the first log's
    /// rows and labels). Absent from version-1 reports written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<PerformanceSection>,
    /// The alert rules replayed over the period (all logs merged). Absent from version-1
    /// reports written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertTimeline>,
    /// Global importance (mean |contribution| per input column) of training and production,
    /// and feature-attribution drift (the first log's rows). Absent from version-1 reports
    /// written before it existed, and for artifacts that cannot be explained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<AttributionReport>,
    /// Sections left out, with their reasons.
    pub left_out: Vec<LeftOut>,
}

/// What [`build_report`] reads.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// Prediction logs (one per replica; the first one's rows give drift and scores).
    pub logs: &'a [PathBuf],
    /// The period.
    pub period: LogPeriod,
    /// Now, milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// `--model`, as for drift over the log.
    pub model: Option<&'a Path>,
    /// Where to look for the artifact the log names.
    pub model_search: Option<&'a Path>,
    /// `--reference CSV`.
    pub reference: Option<&'a Path>,
    /// `[monitor.estimate]`, validated: the performance section needs it (`None` leaves the
    /// section out).
    pub estimate: Option<&'a EstimateValidParams>,
    /// `[monitor.alerts]`, validated: the alerts timeline replays its rules (`None` leaves
    /// the timeline out).
    pub alerts: Option<&'a AlertValidParams>,
    /// `[monitor.attribution]`, validated: global importance and feature-attribution drift
    /// need it (`None` leaves the section out).
    pub attribution: Option<&'a AttributionValidParams>,
}

/// Reads the period from the logs: live metrics from the per-minute aggregates (merged across
/// logs), drift, data quality, the score distribution and labelled metrics against CBPE's
/// label-free estimate from the first log's rows and labels, and the alerts timeline by
/// replaying the configured rules over the merged aggregates. A section
/// whose data is missing is left out with its reason, never drawn from made-up data.
///
/// # Errors
/// The errors of opening the logs ([`MonitorError::NoDatabase`], ...) and reading their
/// minutes. Drift errors (no model found, no rows) leave the drift sections out instead.
pub fn build_report(
    input: &ReportInput<'_>,
    data: &DataValidParams,
    params: &DriftValidParams,
) -> Result<MonitorReport, MonitorError> {
    let reader = MetricsReader::open(input.logs)?;
    let filter = TrafficFilter::default();
    let period = traffic_span(input.logs, input.period)?.unwrap_or(input.period);
    let whole = reader.aggregate(period.since_ms, period.until_ms, &filter)?;
    let whole = WindowStats::new(&whole, period.since_ms, period.until_ms);
    let minutes = (period.until_ms - period.since_ms).max(1) as f64 / MINUTE_MS as f64;
    let step_minutes = (minutes / MAX_REPORT_POINTS as f64).ceil().max(1.0) as u64;
    let step = std::time::Duration::from_secs(step_minutes * 60);
    let series: Vec<SeriesPoint> = reader
        .series(period.since_ms, period.until_ms, step, &filter)?
        .iter()
        .map(SeriesPoint::new)
        .collect();
    let step_ms = i64::try_from(step_minutes).unwrap_or(i64::MAX / MINUTE_MS) * MINUTE_MS;
    let mut left_out = Vec::new();
    let performance_section = "labelled metrics against the label-free estimate";
    let attribution_section = "global importance and feature-attribution drift";
    let mut attribution = None;
    let (drift, scores, performance) = match input.logs.first() {
        Some(log) => {
            let drift_input = LogDriftInput {
                log,
                period: input.period,
                model: input.model,
                model_search: input.model_search,
                reference: input.reference,
            };
            match log_drift_parts(&drift_input, data, params) {
                Ok(parts) => {
                    let scores = (!parts.production.is_empty()).then(|| ScoreDistribution {
                        edges: (0..=SCORE_BINS)
                            .map(|i| i as f64 / SCORE_BINS as f64)
                            .collect(),
                        production: score_shares(&parts.production),
                        reference: parts.reference.as_deref().map(score_shares),
                    });
                    if scores.as_ref().is_some_and(|s| s.reference.is_none()) {
                        left_out.push(LeftOut {
                            section: "training scores in the score distribution".to_owned(),
                            reason: parts.report.prediction_drift_note.clone(),
                        });
                    }
                    let performance = match input.estimate {
                        Some(estimate) => match performance::performance(
                            log,
                            &parts.artifact,
                            estimate,
                            period,
                            step_ms,
                        ) {
                            Ok(section) => Some(section),
                            Err(error) => {
                                left_out.push(LeftOut {
                                    section: performance_section.to_owned(),
                                    reason: error.to_string(),
                                });
                                None
                            }
                        },
                        None => {
                            left_out.push(LeftOut {
                                section: performance_section.to_owned(),
                                reason: "no [monitor.estimate] parameters were given".to_owned(),
                            });
                            None
                        }
                    };
                    attribution = attribution_section_of(&parts, input.attribution, &mut left_out);
                    (Some(parts.report), scores, performance)
                }
                Err(error) => {
                    for section in [
                        "drift per feature",
                        "data quality",
                        "score distribution",
                        performance_section,
                        attribution_section,
                    ] {
                        left_out.push(LeftOut {
                            section: section.to_owned(),
                            reason: error.to_string(),
                        });
                    }
                    (None, None, None)
                }
            }
        }
        None => (None, None, None),
    };
    let alerts = match input.alerts {
        Some(rules) if !rules.rules().is_empty() => {
            Some(alert_timeline::replay(&reader, rules, period, step_ms)?)
        }
        Some(_) => {
            left_out.push(LeftOut {
                section: "alerts timeline".to_owned(),
                reason: "[monitor.alerts] configures no rule".to_owned(),
            });
            None
        }
        None => {
            left_out.push(LeftOut {
                section: "alerts timeline".to_owned(),
                reason: "no [monitor.alerts] parameters were given".to_owned(),
            });
            None
        }
    };
    let latency = whole
        .latency_ms
        .as_ref()
        .map(|l| [l.p50, l.p95, l.p99, l.max]);
    Ok(MonitorReport {
        version: MONITOR_REPORT_VERSION,
        generated_ms: input.now_ms,
        since_ms: period.since_ms,
        until_ms: period.until_ms,
        logs: input.logs.to_vec(),
        summary: ReportSummary {
            requests: whole.requests,
            rows: whole.rows,
            error_rate: whole.error_rate,
            throughput_rps: whole.throughput_rps,
            latency_ms: latency,
            positive_rate: whole.positive_rate,
        },
        step_ms,
        series,
        drift,
        scores,
        performance,
        alerts,
        attribution,
        left_out,
    })
}

/// Global importance of the period's rows against the reference, or the reason it is left out
/// (an artifact before format 1.3.0 stores no node cover, so nothing can be explained).
fn attribution_section_of(
    parts: &LogDriftParts,
    params: Option<&AttributionValidParams>,
    left_out: &mut Vec<LeftOut>,
) -> Option<AttributionReport> {
    let section = "global importance and feature-attribution drift".to_owned();
    let Some(params) = params else {
        left_out.push(LeftOut {
            section,
            reason: "no [monitor.attribution] parameters were given".to_owned(),
        });
        return None;
    };
    match attribution_report(&parts.artifact, &parts.logged, params) {
        Ok(report) => Some(report),
        Err(error) => {
            let reason = match parts.artifact.forest().node_cover() {
                None => format!(
                    "the model artifact (format {}) stores no node cover, which exact TreeSHAP                      needs: per-column contributions, global importance and feature-attribution                      drift need an artifact of format 1.3.0 or later (retrain with this finbeh)",
                    parts.artifact.metadata().format_version
                ),
                Some(_) => error.to_string(),
            };
            left_out.push(LeftOut { section, reason });
            None
        }
    }
}

/// The first and last logged times within `period` over all logs, as a period (so a long
/// `--since` over a young log does not draw empty hours); `None` when nothing was logged.
fn traffic_span(logs: &[PathBuf], period: LogPeriod) -> Result<Option<LogPeriod>, MonitorError> {
    let mut span: Option<(i64, i64)> = None;
    for log in logs {
        let connection = open_read_only(log)?;
        let found: (Option<i64>, Option<i64>) = connection
            .query_row(
                "SELECT min(time_ms), max(time_ms) FROM predictions \
                 WHERE time_ms >= ?1 AND time_ms < ?2",
                [period.since_ms, period.until_ms],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(|source| MonitorError::Database {
                path: log.clone(),
                action: "read the period's first and last time",
                source,
            })?;
        if let (Some(first), Some(last)) = found {
            span = Some(span.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
        }
    }
    Ok(span.map(|(first, last)| LogPeriod {
        since_ms: crate::windows::minute_of(first),
        until_ms: last.saturating_add(1),
    }))
}

fn score_shares(probabilities: &[f64]) -> Vec<f64> {
    let mut counts = vec![0_u64; SCORE_BINS];
    for &p in probabilities {
        if p.is_finite() {
            let index = ((p * SCORE_BINS as f64) as usize).min(SCORE_BINS - 1);
            counts[index] += 1;
        }
    }
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / total).collect()
}

impl MonitorReport {
    /// Writes the page to `html` and the JSON twin beside it (`html` with extension `json`);
    /// returns the JSON path.
    ///
    /// # Errors
    /// [`MonitorError::Io`] naming the file; [`MonitorError::Chart`] when a chart cannot be drawn.
    pub fn write(&self, html: &Path) -> Result<PathBuf, MonitorError> {
        let page = page::render(self)?;
        let json = html.with_extension("json");
        let write = |path: &Path, bytes: &[u8]| {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|source| MonitorError::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(path, bytes).map_err(|source| MonitorError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        write(html, page.as_bytes())?;
        let text = serde_json::to_vec_pretty(self).map_err(|e| MonitorError::Chart {
            chart: "the JSON twin".to_owned(),
            problem: e.to_string(),
        })?;
        write(&json, &text)?;
        Ok(json)
    }

    /// The page as HTML.
    ///
    /// # Errors
    /// [`MonitorError::Chart`] when a chart cannot be drawn.
    pub fn html(&self) -> Result<String, MonitorError> {
        page::render(self)
    }
}
