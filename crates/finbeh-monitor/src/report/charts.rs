//! The report's charts: SVG drawn with `plotters` (SVG backend, no system font: text is written
//! as SVG `<text>` and the browser's sans-serif draws it).

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Colours: blue, orange, red for p50/p95/p99 and production/reference/drifted.
const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const RED: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(150, 150, 150);
const FONT: &str = "sans-serif";

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A white canvas with a plane over `x` × `y`, `y_area` pixels left for the y labels.
fn plane<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    y_area: u32,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, 'b>, String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())
}

/// How an axis reads its values.
type Format<'f> = &'f dyn Fn(&f64) -> String;

/// Axes with light grid lines; `y_labels == 0` draws no y labels or horizontal lines.
fn axes(
    chart: &mut Chart<'_, '_>,
    (x_desc, x_format): (&str, Format<'_>),
    (y_desc, y_format, y_labels): (&str, Format<'_>, usize),
) -> Result<(), String> {
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(6)
        .y_labels(y_labels)
        .x_label_formatter(x_format)
        .y_label_formatter(y_format)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 12))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08));
    if y_labels == 0 {
        mesh.disable_y_mesh();
    }
    mesh.draw().map_err(|e| e.to_string())
}

fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.2))
        .label_font((FONT, 12))
        .draw()
        .map_err(|e| e.to_string())
}

/// One line of a time-series chart.
pub(crate) struct Line<'a> {
    pub(crate) name: &'a str,
    pub(crate) points: Vec<(f64, f64)>,
    pub(crate) colour: usize,
}

fn colour(index: usize) -> RGBColor {
    [BLUE, ORANGE, RED, GREY][index % 4]
}

/// A time-series chart (x in milliseconds since the epoch, labelled `HH:MM` UTC, or
/// `MM-DD HH:MM` over more than a day).
pub(crate) fn time_series(
    y_label: &str,
    lines: &[Line<'_>],
    (width, height): (u32, u32),
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
        let (x_min, x_max) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let (x_min, x_max) = if x_min < x_max {
            (x_min, x_max)
        } else {
            (x_min.min(0.0), x_min.max(0.0) + 60_000.0)
        };
        let y_max = lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .filter(|y| y.is_finite())
            .fold(0.0_f64, f64::max);
        let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
        let over_a_day = x_max - x_min > 86_400_000.0;
        let mut chart = plane(&root, 60, x_min..x_max, 0.0..y_max)?;
        axes(
            &mut chart,
            ("time (UTC)", &|x| clock(*x, over_a_day)),
            (y_label, &|y| short_number(*y), 5),
        )?;
        for line in lines {
            let style = colour(line.colour).stroke_width(2);
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied().filter(|p| p.1.is_finite()),
                    style,
                ))
                .map_err(|e| e.to_string())?
                .label(line.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
        if lines.len() > 1 {
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Side-by-side bars of two share vectors over the same bins (`edges` has one more entry).
pub(crate) fn paired_histogram(
    edges: &[f64],
    first: (&str, &[f64]),
    second: Option<(&str, &[f64])>,
    (width, height): (u32, u32),
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let y_max = first
            .1
            .iter()
            .chain(second.map_or(&[][..], |s| s.1))
            .fold(0.0_f64, |a, &b| a.max(b));
        let y_max = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
        let (x_min, x_max) = (
            edges.first().copied().unwrap_or(0.0),
            edges.last().copied().unwrap_or(1.0),
        );
        let mut chart = plane(&root, 60, x_min..x_max, 0.0..y_max)?;
        axes(
            &mut chart,
            ("positive-class probability", &|x| format!("{x:.1}")),
            ("share of rows", &|y| format!("{:.0} %", y * 100.0), 5),
        )?;
        let series: Vec<(&str, &[f64], RGBColor)> = std::iter::once((first.0, first.1, BLUE))
            .chain(second.map(|(name, shares)| (name, shares, ORANGE)))
            .collect();
        let parts = series.len() as f64;
        for (index, (name, shares, colour)) in series.iter().enumerate() {
            let colour = *colour;
            let bars = edges.windows(2).zip(shares.iter()).map(|(bin, &share)| {
                let width = (bin[1] - bin[0]) / parts;
                let left = bin[0] + width * index as f64;
                Rectangle::new([(left, 0.0), (left + width * 0.9, share)], colour.filled())
            });
            chart
                .draw_series(bars)
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperMiddle)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Pixels left of the plane for row labels of these lengths (4 to 40 characters).
fn label_width<'l>(labels: impl Iterator<Item = &'l str>) -> u32 {
    labels
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40) as u32
        * 7
        + 16
}

/// A row's label (at most 40 characters), right-aligned just left of `(x, y)`.
fn row_label(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    label: &str,
    (x, y): (i32, i32),
) -> Result<(), String> {
    let label: String = label.chars().take(40).collect();
    let style = TextStyle::from((FONT, 12).into_font()).color(&BLACK).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Right,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    root.draw(&Text::new(label, (x - 6, y), style))
        .map_err(|e| e.to_string())
}

/// One row of a horizontal bar chart: a label and one value per series.
pub(crate) struct BarRow<'a> {
    pub(crate) label: &'a str,
    pub(crate) values: Vec<f64>,
    /// Draw the first series' bar in red (a drifted column).
    pub(crate) flagged: bool,
}

/// Horizontal bars, one group per row (labels on the left), an optional dashed threshold line.
pub(crate) fn horizontal_bars(
    series: &[&str],
    rows: &[BarRow<'_>],
    threshold: Option<f64>,
    x_label: &str,
    width: u32,
) -> Result<String, String> {
    let row_px = 16 + 10 * series.len() as u32;
    let height = 70 + row_px * rows.len().max(1) as u32;
    let label_px = label_width(rows.iter().map(|r| r.label));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let x_max = rows
            .iter()
            .flat_map(|r| r.values.iter().copied())
            .chain(threshold)
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        let x_max = if x_max > 0.0 { x_max * 1.1 } else { 1.0 };
        let n = rows.len().max(1) as f64;
        let mut chart = plane(&root, label_px, 0.0..x_max, 0.0..n)?;
        axes(
            &mut chart,
            (x_label, &|x| short_number(*x)),
            ("", &|_| String::new(), 0),
        )?;
        let parts = series.len().max(1) as f64;
        for (s, name) in series.iter().enumerate() {
            let base = colour(s);
            let bars = rows.iter().enumerate().map(|(i, row)| {
                // Row 0 at the top.
                let top = n - i as f64 - 0.1;
                let height = 0.8 / parts;
                let y1 = top - height * s as f64;
                let value = row
                    .values
                    .get(s)
                    .copied()
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0);
                let fill = if s == 0 && row.flagged { RED } else { base };
                Rectangle::new([(0.0, y1 - height * 0.9), (value, y1)], fill.filled())
            });
            let drawn = chart.draw_series(bars).map_err(|e| e.to_string())?;
            if series.len() > 1 {
                drawn.label(*name).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], base.filled())
                });
            }
        }
        if let Some(threshold) = threshold {
            chart
                .draw_series(DashedLineSeries::new(
                    [(threshold, 0.0), (threshold, n)],
                    6,
                    4,
                    BLACK.mix(0.6).stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
        }
        for (i, row) in rows.iter().enumerate() {
            row_label(
                &root,
                row.label,
                chart.backend_coord(&(0.0, n - i as f64 - 0.5)),
            )?;
        }
        if series.len() > 1 {
            legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// An estimate over time against its band and the realized values.
pub(crate) struct BandChart<'a> {
    pub(crate) y_label: &'a str,
    /// The period, milliseconds since the epoch.
    pub(crate) x: (f64, f64),
    /// Lower and upper end of the band, constant over the period.
    pub(crate) band: Option<(f64, f64)>,
    /// Estimate per step, and whether it is outside the band.
    pub(crate) estimate: Vec<(f64, f64, bool)>,
    /// Realized value per labelled step.
    pub(crate) realized: Vec<(f64, f64)>,
}

/// The estimate as a blue line (red dots outside the band), the band shaded, the realized
/// values as orange dots; y over the values' range within [0, 1].
pub(crate) fn band_chart(
    spec: &BandChart<'_>,
    (width, height): (u32, u32),
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let (x_min, x_max) = if spec.x.0 < spec.x.1 {
            spec.x
        } else {
            (spec.x.0, spec.x.0 + 60_000.0)
        };
        let ys = spec
            .estimate
            .iter()
            .map(|p| p.1)
            .chain(spec.realized.iter().map(|p| p.1))
            .chain(spec.band.iter().flat_map(|b| [b.0, b.1]))
            .filter(|y| y.is_finite());
        let (y_lo, y_hi) = ys.fold((1.0_f64, 0.0_f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let (y_lo, y_hi) = if y_lo <= y_hi {
            let pad = ((y_hi - y_lo) * 0.15).max(0.02);
            ((y_lo - pad).max(0.0), (y_hi + pad).min(1.0))
        } else {
            (0.0, 1.0)
        };
        let over_a_day = x_max - x_min > 86_400_000.0;
        let mut chart = plane(&root, 60, x_min..x_max, y_lo..y_hi)?;
        axes(
            &mut chart,
            ("time (UTC)", &|x| clock(*x, over_a_day)),
            (spec.y_label, &|y| format!("{y:.2}"), 5),
        )?;
        if let Some((lower, upper)) = spec.band {
            let fill = BLUE.mix(0.15);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x_min, lower), (x_max, upper)],
                    fill.filled(),
                )))
                .map_err(|e| e.to_string())?
                .label("reference band")
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], fill.filled()));
        }
        let line = BLUE.stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                spec.estimate.iter().map(|p| (p.0, p.1)),
                line,
            ))
            .map_err(|e| e.to_string())?
            .label("estimate (CBPE, no labels)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], line));
        let outside: Vec<(f64, f64)> = spec
            .estimate
            .iter()
            .filter(|p| p.2)
            .map(|p| (p.0, p.1))
            .collect();
        if !outside.is_empty() {
            chart
                .draw_series(outside.iter().map(|&p| Circle::new(p, 3, RED.filled())))
                .map_err(|e| e.to_string())?
                .label("estimate outside the band")
                .legend(|(x, y)| Circle::new((x + 8, y), 3, RED.filled()));
        }
        chart
            .draw_series(
                spec.realized
                    .iter()
                    .map(|&p| Circle::new(p, 3, ORANGE.filled())),
            )
            .map_err(|e| e.to_string())?
            .label("realized (labelled rows)")
            .legend(|(x, y)| Circle::new((x + 8, y), 3, ORANGE.filled()));
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// One row of the alerts timeline: a rule, its severity, and when it fired.
pub(crate) struct TimelineRow<'a> {
    pub(crate) label: &'a str,
    pub(crate) severity: &'a str,
    pub(crate) firing: Vec<(f64, f64)>,
}

fn severity_colour(severity: &str) -> RGBColor {
    match severity {
        "critical" => RED,
        "warning" => ORANGE,
        _ => BLUE,
    }
}

/// One row per rule over the period (x in milliseconds), a bar where it fired, coloured by
/// severity (red critical, orange warning, blue info).
pub(crate) fn timeline(
    rows: &[TimelineRow<'_>],
    x: (f64, f64),
    width: u32,
) -> Result<String, String> {
    let height = 70 + 26 * rows.len().max(1) as u32;
    let label_px = label_width(rows.iter().map(|r| r.label));
    let (x_min, x_max) = if x.0 < x.1 { x } else { (x.0, x.0 + 60_000.0) };
    let over_a_day = x_max - x_min > 86_400_000.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let n = rows.len().max(1) as f64;
        let mut chart = plane(&root, label_px, x_min..x_max, 0.0..n)?;
        axes(
            &mut chart,
            ("time (UTC)", &|x| clock(*x, over_a_day)),
            ("", &|_| String::new(), 0),
        )?;
        for (i, row) in rows.iter().enumerate() {
            let top = n - i as f64 - 0.15;
            let fill = severity_colour(row.severity);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x_min, top - 0.7), (x_max, top)],
                    BLACK.mix(0.04).filled(),
                )))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(row.firing.iter().map(|&(start, end)| {
                    // At least a visible sliver for an alert shorter than a pixel.
                    let end = end.max(start + (x_max - x_min) / 400.0);
                    Rectangle::new([(start, top - 0.7), (end, top)], fill.filled())
                }))
                .map_err(|e| e.to_string())?;
            row_label(
                &root,
                row.label,
                chart.backend_coord(&(x_min, n - i as f64 - 0.5)),
            )?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// `HH:MM` (UTC) of a time in milliseconds, `MM-DD HH:MM` when `with_day`.
pub(crate) fn clock(ms: f64, with_day: bool) -> String {
    let seconds = (ms / 1000.0).floor() as i64;
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (hour, minute) = (in_day / 3600, in_day % 3600 / 60);
    if with_day {
        let (_, month, day) = finbeh_data::civil_from_days(i32::try_from(days).unwrap_or(0));
        format!("{month:02}-{day:02} {hour:02}:{minute:02}")
    } else {
        format!("{hour:02}:{minute:02}")
    }
}

fn short_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}
