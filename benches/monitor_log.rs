//! Speed and memory of the monitor over a large prediction log: 1,000,000 logged rows × 20
//! features (16 numeric, 4 categorical), against the artifact's 10,000-row reference sample.
//!
//! Each task runs in its own child process, so its peak RSS (`VmHWM`) is its own:
//! - `drift`: drift over the log (`drift_from_log`, every statistic and prediction drift);
//! - `quality`: data quality over the log (null, out-of-range and type-error rates);
//! - `report`: the whole HTML report and its JSON twin (`build_report` + `write`), with the
//!   attribution section that `monitor report` draws by default for a format-1.3.0 artifact;
//! - `attribution`: drift over the log plus global importance and feature-attribution drift
//!   (`drift_from_log_with_attribution`, default `[monitor.attribution]`: 1,000 rows explained
//!   per side); its time minus `drift`'s is what explaining costs.
//!
//! Side by side, each task reads two copies of the same log: `blocks` (layout 4, the inputs'
//! typed blocks) and `json` (the same file with its blocks deleted, so the reader parses every
//! row's JSON as layout 3 did). `ROUNDS` rounds (default 3) alternate the two; the medians and
//! their ratio are printed last, with the load average before and after.
//!
//! The logs, the model and the CSVs for Evidently are generated once into
//! `target/monitor-bench/` (about 1.1 GB; delete the directory when done).
//!
//! `cargo bench --bench monitor_log` (figures in docs/performance.md);
//! `benches/python/drift_vs_evidently.sh` runs this and Evidently side by side.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use finbeh_config::{ModelSettings, MonitorSettings};
use finbeh_data::{DataParams, DataValidParams, Rng, load_dataset, load_records};
use finbeh_monitor::{
    AttributionParams, BATCH_LOG_ROWS_PER_REQUEST, DriftParams, LogDriftInput, LogIdentity,
    LogPeriod, LoggedValues, PredictionLog, PredictionLogParams, ReportInput, build_report,
    category_quality, drift_from_log, drift_from_log_with_attribution, log_batch_scores, now_ms,
    numeric_quality, read_logged_inputs,
};
use finbeh_train::{ModelArtifact, TrainingJob};

const REFERENCE_ROWS: usize = 10_000;
const LOGGED_ROWS: usize = 1_000_000;
const NUMERIC: usize = 16;
const CATEGORICAL: usize = 4;
const CATEGORIES: [&str; 5] = ["branch", "online", "atm", "phone", "pos"];

/// Writes `rows` rows of 20 features and a label; `shift` moves the first two numeric columns.
fn write_csv(path: &Path, rows: usize, seed: u64, shift: f64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let header: Vec<String> = (0..NUMERIC)
        .map(|i| format!("f{i}"))
        .chain((0..CATEGORICAL).map(|i| format!("c{i}")))
        .chain(std::iter::once("label".to_owned()))
        .collect();
    writeln!(out, "{}", header.join(","))?;
    let mut rng = Rng::seed_from_u64(seed);
    for _ in 0..rows {
        let mut sum = 0.0;
        for i in 0..NUMERIC {
            let moved = if i < 2 { shift } else { 0.0 };
            let value = (rng.gen_f64() + rng.gen_f64() + rng.gen_f64() + moved) * (i + 1) as f64;
            sum += value / (i + 1) as f64;
            write!(out, "{value:.4},")?;
        }
        for _ in 0..CATEGORICAL {
            write!(
                out,
                "{},",
                CATEGORIES[(rng.gen_f64() * rng.gen_f64() * 5.0) as usize]
            )?;
        }
        let label = u8::from(sum / NUMERIC as f64 + 0.3 * (rng.gen_f64() - 0.5) > 1.55);
        writeln!(out, "{label}")?;
    }
    out.flush()
}

fn data_params() -> DataValidParams {
    DataParams::default()
        .with_target("label")
        .check()
        .expect("bench data settings")
}

struct Files {
    dir: PathBuf,
    model: PathBuf,
    log: PathBuf,
    /// The same log without its input blocks (read from the rows' JSON).
    json_log: PathBuf,
}

fn files() -> Files {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/monitor-bench");
    Files {
        model: dir.join("model.finbeh"),
        log: dir.join("log.sqlite"),
        json_log: dir.join("log-json.sqlite"),
        dir,
    }
}

/// Copies the log and deletes the copy's input blocks, unless already there.
fn prepare_json_log(files: &Files) -> Result<(), Box<dyn std::error::Error>> {
    if files.json_log.exists() {
        return Ok(());
    }
    let partial = files.dir.join("log-json.partial");
    std::fs::copy(&files.log, &partial)?;
    let connection = rusqlite::Connection::open(&partial)?;
    connection.execute("DELETE FROM input_blocks", [])?;
    connection.execute_batch("VACUUM")?;
    drop(connection);
    std::fs::rename(&partial, &files.json_log)?;
    Ok(())
}

/// The 1-, 5- and 15-minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Generates the reference CSV, trains the model (its reference sample is the 10,000 rows),
/// writes the current CSV and logs its 1,000,000 scored rows, unless already there.
fn prepare(files: &Files) -> Result<(), Box<dyn std::error::Error>> {
    if files.log.exists() && files.model.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&files.dir)?;
    let reference = files.dir.join("reference.csv");
    let current = files.dir.join("current.csv");
    let started = Instant::now();
    write_csv(&reference, REFERENCE_ROWS, 1, 0.0)?;
    write_csv(&current, LOGGED_ROWS, 2, 0.5)?;
    let params = data_params();
    let data = load_dataset(&reference, &params)?;
    let model_settings = ModelSettings {
        n_estimators: 20,
        max_depth: 8,
        reference_sample_rows: REFERENCE_ROWS,
        ..ModelSettings::default()
    };
    let job = TrainingJob {
        data_params: &params,
        model: &model_settings,
        test_file: None,
        data_file_name: Some("reference.csv".into()),
        progress: false,
    };
    let artifact = job.run(&data)?.artifact;
    artifact.write(&files.model)?;
    let (table, _) = load_records(&current, artifact.pipeline(), None, &params)?;
    let log_params = PredictionLogParams(MonitorSettings {
        enabled: true,
        database_path: files.log.clone(),
        ..MonitorSettings::default()
    });
    let identity = LogIdentity {
        endpoint: "bench".into(),
        deployment: "blue".into(),
    };
    let log = PredictionLog::open(&log_params.check()?, identity)?;
    // Spread over the last 23 hours.
    let now = now_ms();
    let span = 23 * 3_600_000_i64;
    let requests = (LOGGED_ROWS / BATCH_LOG_ROWS_PER_REQUEST) as i64;
    log_batch_scores(&log, &artifact, &table, &|n| {
        now - span + span * n as i64 / requests
    })?;
    let totals = log.close()?;
    eprintln!(
        "generated {} logged rows, the model and the CSVs in {:.1} s",
        totals.written,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Peak resident set size of this process, in MB (`VmHWM`).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User + system CPU time of this process so far, in seconds (`/proc/self/stat`, 100 ticks/s).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// Runs one task in this process over `log` and prints `task seconds peak_mb detail`.
fn run_task(task: &str, log: &Path, files: &Files) -> Result<(), Box<dyn std::error::Error>> {
    let period = LogPeriod::parse_since("24h", now_ms())?;
    let data = data_params();
    let drift = DriftParams::default().check()?;
    let input = || LogDriftInput {
        log,
        period,
        model: Some(&files.model),
        model_search: None,
        reference: None,
    };
    let started = Instant::now();
    let detail = match task {
        "drift" => {
            let report = drift_from_log(&input(), &data, &drift)?;
            let flagged: Vec<&str> = report
                .drift
                .features
                .iter()
                .filter(|f| f.drifted)
                .map(|f| f.column.as_str())
                .collect();
            format!("{} rows, drifted: {flagged:?}", report.rows)
        }
        "quality" => {
            let artifact = ModelArtifact::read(&files.model)?;
            let sample = artifact
                .reference_sample()
                .ok_or("the bench model has no reference sample")?;
            let logged = read_logged_inputs(log, period, artifact.input_columns())?;
            let mut worst = 0.0_f64;
            for (name, values) in &logged.columns {
                let cells = sample.column_named(name).ok_or("sample column")?;
                let quality = match values {
                    LoggedValues::Numeric(current) => {
                        let reference: Vec<f64> = cells
                            .iter()
                            .filter_map(|c| c.as_deref().and_then(|t| t.parse().ok()))
                            .collect();
                        numeric_quality(&reference, current)
                    }
                    LoggedValues::Categorical { codes, labels } => {
                        let known: std::collections::HashSet<&str> =
                            cells.iter().filter_map(|c| c.as_deref()).collect();
                        let nulls = codes.iter().filter(|c| c.is_none()).count();
                        let outside = codes
                            .iter()
                            .flatten()
                            .filter(|&&c| !known.contains(labels[c as usize].as_str()))
                            .count();
                        category_quality(codes.len(), nulls, outside)
                    }
                    LoggedValues::Boolean(values) => category_quality(
                        values.len(),
                        values.iter().filter(|v| v.is_none()).count(),
                        0,
                    ),
                };
                if let Some(q) = quality {
                    worst = worst.max(q.null_rate + q.out_of_range_rate);
                }
            }
            format!(
                "{} rows, type-error rate {:.4}, worst null + out-of-range {worst:.4}",
                logged.rows,
                logged.type_error_rate()
            )
        }
        "report" => {
            let logs = vec![log.to_path_buf()];
            let attribution = AttributionParams::default().check()?;
            let input = ReportInput {
                logs: &logs,
                period,
                now_ms: now_ms(),
                model: Some(&files.model),
                model_search: None,
                reference: None,
                estimate: None,
                alerts: None,
                attribution: Some(&attribution),
            };
            let report = build_report(&input, &data, &drift)?;
            if report.attribution.is_none() {
                return Err("the report has no attribution section".into());
            }
            let html = files.dir.join("report.html");
            report.write(&html)?;
            format!("{} bytes of HTML", std::fs::metadata(&html)?.len())
        }
        "attribution" => {
            let attribution = AttributionParams::default().check()?;
            let result = drift_from_log_with_attribution(&input(), &data, &drift, &attribution)?;
            let explained = result
                .feature_attribution_drift
                .ok_or("the bench model could not be explained")?;
            format!(
                "{} rows, {} + {} explained, NDCG {:?}, attribution drift: {}",
                result.report.rows,
                explained.training_rows,
                explained.production_rows,
                explained.ndcg,
                explained.drifted
            )
        }
        other => return Err(format!("unknown task {other}").into()),
    };
    println!(
        "{task:<8} {:>6.2} s  {:>6.2} s CPU  {:>6.0} MB peak RSS  {detail}",
        started.elapsed().as_secs_f64(),
        cpu_seconds(),
        peak_rss_mb()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = files();
    let args: Vec<String> = std::env::args().collect();
    if let Some(index) = args.iter().position(|a| a == "--task") {
        let task = args.get(index + 1).ok_or("--task needs a name")?;
        let log = match args.get(index + 2).map(String::as_str) {
            Some("json") => &files.json_log,
            _ => &files.log,
        };
        return run_task(task, log, &files);
    }
    prepare(&files)?;
    prepare_json_log(&files)?;
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    println!(
        "monitor over {LOGGED_ROWS} logged rows x {} features, reference sample {REFERENCE_ROWS} rows; {rounds} rounds; load average {}",
        NUMERIC + CATEGORICAL,
        load_average()
    );
    let me = std::env::current_exe()?;
    let tasks = ["drift", "quality", "report", "attribution"];
    let variants = ["blocks", "json"];
    let mut seconds: Vec<Vec<f64>> = vec![Vec::new(); tasks.len() * variants.len()];
    for _ in 0..rounds {
        for (t, task) in tasks.iter().enumerate() {
            for (v, variant) in variants.iter().enumerate() {
                let output = std::process::Command::new(&me)
                    .args(["--task", task, variant])
                    .output()?;
                if !output.status.success() {
                    std::io::stderr().write_all(&output.stderr)?;
                    return Err(format!("task {task} ({variant}) failed").into());
                }
                let line = String::from_utf8_lossy(&output.stdout);
                let line = line.trim();
                println!("{variant:<6} {line}");
                if let Some(s) = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                    seconds[t * variants.len() + v].push(s);
                }
            }
        }
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "median wall seconds (blocks / json, ratio); load average {}",
        load_average()
    );
    for (t, task) in tasks.iter().enumerate() {
        let blocks = median(&seconds[t * variants.len()]);
        let json = median(&seconds[t * variants.len() + 1]);
        println!(
            "median {task:<8} {blocks:>6.2} s  {json:>6.2} s  {:>5.1}x",
            json / blocks
        );
    }
    Ok(())
}
