//! The report's HTML page: inline CSS and SVG, no script, no external resource.

use std::fmt::Write as _;

use super::MonitorReport;
use super::charts::{
    BandChart, BarRow, Line, TimelineRow, band_chart, horizontal_bars, paired_histogram,
    time_series, timeline,
};
use crate::error::MonitorError;

const CSS: &str = "
body{font-family:sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 32px}
header h1{margin:0 0 6px;font-size:22px}
header p{margin:2px 0;font-size:13px;color:#c9ceda}
main{max-width:1216px;margin:0 auto;padding:16px}
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-bottom:16px}
.tile{background:#fff;border-radius:6px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.tile b{display:block;font-size:22px;margin-top:4px}
.tile span{font-size:12px;color:#5b6375;text-transform:uppercase;letter-spacing:.04em}
.tile.bad b{color:#d62728}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-bottom:16px}
section{background:#fff;border-radius:6px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08);margin-bottom:16px}
.grid section{margin-bottom:0}
section h2{font-size:16px;margin:4px 0 8px}
section p.note{font-size:12px;color:#5b6375;margin:6px 0}
svg{display:block;max-width:100%;height:auto}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{text-align:right;padding:3px 8px;border-bottom:1px solid #e6e8ee}
th:first-child,td:first-child{text-align:left}
tr.drifted td{color:#d62728;font-weight:bold}
ul.left-out{font-size:13px;margin:4px 0;padding-left:20px}
";

/// Half-width and full-width chart sizes, in pixels (the page is 1216 px wide at most).
const HALF: (u32, u32) = (560, 280);
const FULL: u32 = 1150;

pub(super) fn render(report: &MonitorReport) -> Result<String, MonitorError> {
    let chart = |name: &str| {
        let name = name.to_owned();
        move |problem: String| MonitorError::Chart {
            chart: name,
            problem,
        }
    };
    let mut html = String::with_capacity(256 * 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(
        html,
        "<title>finbeh monitor report {}</title><style>{CSS}</style></head><body>",
        escape(&utc(report.since_ms))
    );
    header(&mut html, report);
    html.push_str("<main>");
    tiles(&mut html, report);

    let series = &report.series;
    let over_time = |pick: &dyn Fn(&super::SeriesPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        series
            .iter()
            .filter_map(|p| pick(p).map(|v| (p.start_ms as f64, v)))
            .collect()
    };
    html.push_str("<div class=\"grid\">");
    let latency = time_series(
        "latency (ms)",
        &[
            Line {
                name: "p50",
                points: over_time(&|p| p.latency_p50_ms),
                colour: 0,
            },
            Line {
                name: "p95",
                points: over_time(&|p| p.latency_p95_ms),
                colour: 1,
            },
            Line {
                name: "p99",
                points: over_time(&|p| p.latency_p99_ms),
                colour: 2,
            },
        ],
        HALF,
    )
    .map_err(chart("latency"))?;
    card(
        &mut html,
        "Latency percentiles",
        &latency,
        &step_note(report),
    );
    let throughput = time_series(
        "requests per second",
        &[Line {
            name: "throughput",
            points: over_time(&|p| Some(p.throughput_rps)),
            colour: 0,
        }],
        HALF,
    )
    .map_err(chart("throughput"))?;
    card(&mut html, "Throughput", &throughput, &step_note(report));
    let errors = time_series(
        "error rate (%)",
        &[Line {
            name: "errors",
            points: over_time(&|p| (p.requests > 0).then_some(p.error_rate * 100.0)),
            colour: 2,
        }],
        HALF,
    )
    .map_err(chart("error rate"))?;
    card(
        &mut html,
        "Error rate",
        &errors,
        "Share of requests answered with a status of 400 or more.",
    );
    match &report.scores {
        Some(scores) => {
            let svg = paired_histogram(
                &scores.edges,
                ("production", &scores.production),
                scores.reference.as_deref().map(|r| ("reference", r)),
                HALF,
            )
            .map_err(chart("score distribution"))?;
            let note = match &scores.reference {
                Some(_) => {
                    "Logged positive-class probabilities against the artifact's scores of \
                            the reference rows."
                }
                None => {
                    "Logged positive-class probabilities; no reference was scored (see \
                         \"Left out\")."
                }
            };
            card(&mut html, "Score distribution", &svg, note);
        }
        None => card(
            &mut html,
            "Score distribution",
            "",
            "Not drawn: see \"Left out\" below.",
        ),
    }
    html.push_str("</div>");

    if let Some(performance) = &report.performance {
        performance_cards(&mut html, report, performance)?;
    }
    if let Some(alerts) = &report.alerts {
        alerts_card(&mut html, report, alerts)?;
    }
    if let Some(drift) = &report.drift {
        let rows: Vec<BarRow<'_>> = drift
            .drift
            .features
            .iter()
            .chain(&drift.prediction_drift)
            .map(|f| BarRow {
                label: &f.column,
                values: vec![f.jensen_shannon.unwrap_or(0.0)],
                flagged: f.drifted,
            })
            .collect();
        let svg = horizontal_bars(
            &["Jensen-Shannon"],
            &rows,
            Some(0.1),
            "Jensen-Shannon distance (dashed: 0.1)",
            FULL,
        )
        .map_err(chart("drift per feature"))?;
        let drifted = drift.drift.features.iter().filter(|f| f.drifted).count();
        let note = format!(
            "{drifted} of {} columns drifted (share {:.2}; dataset drift: {}). Red: the deciding \
             statistic crossed its threshold. Reference: {}. Model: {} {} ({}).",
            drift.drift.features.len(),
            drift.drift.drifted_share,
            if drift.drift.dataset_drift {
                "yes"
            } else {
                "no"
            },
            drift.reference.note,
            drift.model.name,
            drift.model.version,
            drift.model.chosen_by
        );
        html.push_str("<section><h2>Drift per feature</h2>");
        html.push_str(&svg);
        let _ = write!(html, "<p class=\"note\">{}</p>", escape(&note));
        drift_table(&mut html, drift);
        html.push_str("</section>");

        let quality: Vec<BarRow<'_>> = drift
            .drift
            .features
            .iter()
            .map(|f| BarRow {
                label: &f.column,
                values: vec![f.null_rate * 100.0, f.out_of_range_rate * 100.0],
                flagged: false,
            })
            .collect();
        let svg = horizontal_bars(
            &["null rate", "out-of-range rate"],
            &quality,
            None,
            "% of rows",
            FULL,
        )
        .map_err(chart("data quality"))?;
        let note = format!(
            "Type-error rate (requests refused for their input): {:.3} %. Out of range: outside \
             the reference's min/max or category set.",
            drift.type_error_rate * 100.0
        );
        card(&mut html, "Data quality", &svg, &note);
    }

    if let Some(attribution) = &report.attribution {
        attribution_card(&mut html, attribution)?;
    }

    if !report.left_out.is_empty() {
        html.push_str("<section><h2>Left out</h2><ul class=\"left-out\">");
        for left in &report.left_out {
            let _ = write!(
                html,
                "<li><b>{}</b>: {}</li>",
                escape(&left.section),
                escape(&left.reason)
            );
        }
        html.push_str("</ul></section>");
    }
    html.push_str("</main></body></html>\n");
    Ok(html)
}

fn header(html: &mut String, report: &MonitorReport) {
    let logs: Vec<String> = report
        .logs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let _ = write!(
        html,
        "<header><h1>finbeh monitor report</h1><p>{} to {} &middot; {} &middot; report version \
         {} &middot; generated {}</p></header>",
        escape(&utc(report.since_ms)),
        escape(&utc(report.until_ms)),
        escape(&logs.join(", ")),
        report.version,
        escape(&utc(report.generated_ms))
    );
}

fn tiles(html: &mut String, report: &MonitorReport) {
    let s = &report.summary;
    html.push_str("<div class=\"tiles\">");
    let mut tile = |label: &str, value: String, bad: bool| {
        let _ = write!(
            html,
            "<div class=\"tile{}\"><span>{}</span><b>{}</b></div>",
            if bad { " bad" } else { "" },
            escape(label),
            escape(&value)
        );
    };
    tile("requests", s.requests.to_string(), false);
    tile("rows scored", s.rows.to_string(), false);
    tile(
        "error rate",
        format!("{:.2} %", s.error_rate * 100.0),
        s.error_rate > 0.05,
    );
    tile(
        "throughput",
        format!("{:.1} req/s", s.throughput_rps),
        false,
    );
    let [p50, p95, p99, max] = s.latency_ms.unwrap_or([f64::NAN; 4]);
    tile(
        "latency p50 / p95",
        format!("{p50:.2} / {p95:.2} ms"),
        false,
    );
    tile(
        "latency p99 / max",
        format!("{p99:.2} / {max:.2} ms"),
        false,
    );
    tile(
        "positive rate",
        s.positive_rate
            .map_or_else(|| "-".to_owned(), |r| format!("{:.2} %", r * 100.0)),
        false,
    );
    match &report.drift {
        Some(drift) => tile(
            "drifted columns",
            format!(
                "{} of {}",
                drift.drift.features.iter().filter(|f| f.drifted).count(),
                drift.drift.features.len()
            ),
            drift.drift.dataset_drift,
        ),
        None => tile("drifted columns", "-".to_owned(), false),
    }
    html.push_str("</div>");
}

fn performance_cards(
    html: &mut String,
    report: &MonitorReport,
    performance: &super::PerformanceSection,
) -> Result<(), MonitorError> {
    for series in &performance.series {
        let name = series.metric.name();
        let title = match series.metric {
            crate::PerformanceMetric::RocAuc => "ROC AUC",
            _ => "Accuracy",
        };
        let band = series.points.iter().find_map(|p| p.lower.zip(p.upper));
        let spec = BandChart {
            y_label: name,
            x: (report.since_ms as f64, report.until_ms as f64),
            band,
            estimate: series
                .points
                .iter()
                .filter_map(|p| p.estimate.map(|e| (p.start_ms as f64, e, p.alert)))
                .collect(),
            realized: series
                .points
                .iter()
                .filter_map(|p| p.realized.map(|r| (p.start_ms as f64, r)))
                .collect(),
        };
        let svg = band_chart(&spec, (FULL, 300)).map_err(|problem| MonitorError::Chart {
            chart: format!("{name} against its estimate"),
            problem,
        })?;
        let labelled: u64 = series.points.iter().map(|p| p.labelled).sum();
        let rows: u64 = series.points.iter().map(|p| p.rows).sum();
        let realized = series
            .points
            .iter()
            .filter(|p| p.realized.is_some())
            .count();
        let note = format!(
            "Blue: CBPE's estimate from the served probabilities alone (model {}, threshold \
             {:.3}); shaded: its reference band (the metric's spread over reference chunks of \
             {} rows; a step with fewer rows varies more). Orange: the metric on the step's \
             labelled rows ({realized} of {} steps labelled, {labelled} labelled of {rows} \
             rows). {}",
            performance.model,
            performance.threshold,
            performance.chunk_rows,
            series.points.len(),
            step_note(report)
        );
        card(
            html,
            &format!("{title}: realized against the label-free estimate"),
            &svg,
            &note,
        );
    }
    Ok(())
}

fn alerts_card(
    html: &mut String,
    report: &MonitorReport,
    alerts: &super::AlertTimeline,
) -> Result<(), MonitorError> {
    let labels: Vec<String> = alerts
        .rules
        .iter()
        .map(|r| format!("{} ({})", r.rule, r.severity))
        .collect();
    let rows: Vec<TimelineRow<'_>> = alerts
        .rules
        .iter()
        .zip(&labels)
        .map(|(rule, label)| TimelineRow {
            label,
            severity: &rule.severity,
            firing: rule
                .firing
                .iter()
                .map(|i| {
                    (
                        i.start_ms as f64,
                        i.end_ms.unwrap_or(report.until_ms) as f64,
                    )
                })
                .collect(),
        })
        .collect();
    let svg = timeline(
        &rows,
        (report.since_ms as f64, report.until_ms as f64),
        FULL,
    )
    .map_err(|problem| MonitorError::Chart {
        chart: "alerts timeline".to_owned(),
        problem,
    })?;
    let fired = alerts.rules.iter().filter(|r| !r.firing.is_empty()).count();
    let conditions: Vec<String> = alerts
        .rules
        .iter()
        .map(|r| format!("{}: {}", r.rule, r.condition))
        .collect();
    let note = format!(
        "{fired} of {} rules fired. Bars: firing (red critical, orange warning, blue info). \
         Source: {}. Rules: {}.",
        alerts.rules.len(),
        alerts.source,
        conditions.join("; ")
    );
    card(html, "Alerts timeline", &svg, &note);
    Ok(())
}

fn card(html: &mut String, title: &str, svg: &str, note: &str) {
    let _ = write!(
        html,
        "<section><h2>{}</h2>{svg}<p class=\"note\">{}</p></section>",
        escape(title),
        escape(note)
    );
}

/// Most columns in the global-importance chart (the table lists them all).
const ATTRIBUTION_CHART_COLUMNS: usize = 15;

/// Global importance side by side (chart and table, columns by training importance) and the
/// feature-attribution-drift verdict.
fn attribution_card(
    html: &mut String,
    attribution: &crate::AttributionReport,
) -> Result<(), MonitorError> {
    let mut order: Vec<&crate::ColumnImportance> = attribution.columns.iter().collect();
    order.sort_by(|a, b| b.training.total_cmp(&a.training));
    let rank = |pick: fn(&crate::ColumnImportance) -> f64| {
        let mut by: Vec<&crate::ColumnImportance> = attribution.columns.iter().collect();
        by.sort_by(|a, b| pick(b).total_cmp(&pick(a)));
        move |column: &str| {
            by.iter()
                .position(|c| c.column == column)
                .map_or(0, |i| i + 1)
        }
    };
    let (training_rank, production_rank) = (rank(|c| c.training), rank(|c| c.production));
    // The chart keeps the columns that matter on either side, the table every column.
    let rows: Vec<BarRow<'_>> = order
        .iter()
        .filter(|c| c.training > 0.0 || c.production > 0.0)
        .take(ATTRIBUTION_CHART_COLUMNS)
        .map(|c| BarRow {
            label: &c.column,
            values: vec![c.training, c.production],
            flagged: false,
        })
        .collect();
    let svg = horizontal_bars(
        &["training", "production"],
        &rows,
        None,
        "mean |contribution| to the probability",
        FULL,
    )
    .map_err(|problem| MonitorError::Chart {
        chart: "global importance".to_owned(),
        problem,
    })?;
    let verdict = match attribution.ndcg {
        Some(ndcg) => format!(
            "NDCG {ndcg:.4} against the threshold {} over the top {} columns: {}.",
            attribution.threshold,
            attribution.top_k,
            if attribution.drifted {
                "feature-attribution drift"
            } else {
                "no feature-attribution drift"
            }
        ),
        None => "NDCG not defined: every column has a training importance of 0.".to_owned(),
    };
    let note = format!(
        "{verdict} Mean |contribution| per raw input column from exact TreeSHAP, for {} rows of \
         the artifact's {} (training) and {} of the period's {} logged rows (production), both \
         samples drawn with seed {}. The chart shows the {} columns the model leans on most in \
         training; the table lists every column. NDCG ranks the columns by production \
         importance and weighs each by its training importance (Azure ML's feature-attribution \
         drift); 1 means the same ranking.",
        attribution.training_rows,
        attribution.training_sample,
        attribution.production_rows,
        attribution.production_rows_logged,
        attribution.seed,
        rows.len()
    );
    let _ = write!(
        html,
        "<section><h2>Global importance and feature-attribution drift</h2>{svg}\
         <p class=\"note\">{}</p><table><tr><th>column</th><th>training</th>\
         <th>training rank</th><th>production</th><th>production rank</th></tr>",
        escape(&note)
    );
    for c in order {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.5}</td><td>{}</td><td>{:.5}</td><td>{}</td></tr>",
            escape(&c.column),
            c.training,
            training_rank(&c.column),
            c.production,
            production_rank(&c.column)
        );
    }
    html.push_str("</table></section>");
    Ok(())
}

fn step_note(report: &MonitorReport) -> String {
    format!(
        "One point per {} min, {} points.",
        report.step_ms / 60_000,
        report.series.len()
    )
}

fn drift_table(html: &mut String, drift: &crate::LogDriftReport) {
    html.push_str(
        "<table><tr><th>column</th><th>kind</th><th>KS p</th><th>Wasserstein (norm.)</th>\
         <th>PSI</th><th>Jensen-Shannon</th><th>chi-square p</th><th>null</th>\
         <th>out of range</th><th>drifted</th></tr>",
    );
    let number = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
    for f in drift.drift.features.iter().chain(&drift.prediction_drift) {
        let _ = write!(
            html,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{:.2} %</td><td>{:.2} %</td><td>{}</td></tr>",
            if f.drifted { " class=\"drifted\"" } else { "" },
            escape(&f.column),
            format!("{:?}", f.kind).to_lowercase(),
            number(f.ks_p_value),
            number(f.wasserstein_norm),
            number(f.psi),
            number(f.jensen_shannon),
            number(f.chi2_p_value),
            f.null_rate * 100.0,
            f.out_of_range_rate * 100.0,
            if f.drifted { "yes" } else { "no" }
        );
    }
    html.push_str("</table>");
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc(ms: i64) -> String {
    let days = i32::try_from(ms.div_euclid(86_400_000)).unwrap_or(0);
    let (year, month, day) = finbeh_data::civil_from_days(days);
    let minute_of_day = ms.rem_euclid(86_400_000) / 60_000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}
