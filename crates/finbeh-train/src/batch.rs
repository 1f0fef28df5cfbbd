//! Batch scoring of a CSV file of raw records into a CSV of predictions.
//!
//! Output columns: the kept input columns (ids by default, see [`KeepColumns`]), `prediction`
//! (the decided class label), then the probabilities, each named after its class: a binary
//! model writes one, `probability_<positive class>`; a multi-class model writes
//! `probability_<class>` for every class, in the artifact's class order.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use finbeh_data::{DataValidParams, KeepColumns, load_records, read_kept_columns};

use crate::artifact::ModelArtifact;
use crate::error::{Result, TrainError};

/// Name of the decided-class column.
pub const PREDICTION_COLUMN: &str = "prediction";

/// What a batch run wrote, with its timings.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSummary {
    /// Rows scored (one per record).
    pub rows: usize,
    /// The output header.
    pub columns: Vec<String>,
    /// Seconds to read the records (and the kept columns).
    pub read_seconds: f64,
    /// Seconds to score them (feature pipeline + forest, parallel over row chunks).
    pub score_seconds: f64,
    /// Seconds to explain them (0 without explanations).
    pub explain_seconds: f64,
    /// Seconds to write the CSV.
    pub write_seconds: f64,
}

/// The class index of each probability column, and its name.
pub fn probability_columns(artifact: &ModelArtifact) -> Vec<(usize, String)> {
    let classes = artifact.classes();
    let name = |c: &String| format!("probability_{c}");
    match classes {
        [_, positive] => vec![(1, name(positive))],
        all => all.iter().map(name).enumerate().collect(),
    }
}

/// Name of the explanations' base-value column (binary models; `base_<class>` per class for a
/// multi-class model).
pub const BASE_COLUMN: &str = "base";

/// The explanation columns of [`predict_csv_explained`]: `base` then `contribution_<column>`
/// per raw input column (binary: the positive class), or per class `base_<class>` and
/// `contribution_<column>_<class>` (multi-class), in the explainer's output order.
pub fn explanation_columns(artifact: &ModelArtifact) -> Vec<String> {
    let columns = artifact.input_columns();
    match artifact.classes() {
        [_, _] => std::iter::once(BASE_COLUMN.to_string())
            .chain(columns.iter().map(|c| format!("contribution_{}", c.name)))
            .collect(),
        classes => {
            let mut names: Vec<String> = classes
                .iter()
                .map(|k| format!("{BASE_COLUMN}_{k}"))
                .collect();
            for c in columns {
                names.extend(
                    classes
                        .iter()
                        .map(|k| format!("contribution_{}_{k}", c.name)),
                );
            }
            names
        }
    }
}

/// Score the records of `input` (read with `params`: delimiter, `data.id`, ...) and write the
/// predictions as CSV to `out`, or to stdout when `out` is `None`.
pub fn predict_csv(
    artifact: &ModelArtifact,
    input: &Path,
    params: &DataValidParams,
    keep: &KeepColumns,
    out: Option<&Path>,
) -> Result<BatchSummary> {
    predict(artifact, input, params, keep, out, false)
}

/// [`predict_csv`] with each row's explanation beside its prediction
/// ([`explanation_columns`]): exact TreeSHAP per raw input column, `base + Σ contributions` =
/// the probability written. Refuses an artifact without node cover (formats before 1.3.0)
/// with [`TrainError::NoNodeCover`] before reading the input.
pub fn predict_csv_explained(
    artifact: &ModelArtifact,
    input: &Path,
    params: &DataValidParams,
    keep: &KeepColumns,
    out: Option<&Path>,
) -> Result<BatchSummary> {
    predict(artifact, input, params, keep, out, true)
}

fn predict(
    artifact: &ModelArtifact,
    input: &Path,
    params: &DataValidParams,
    keep: &KeepColumns,
    out: Option<&Path>,
    explain: bool,
) -> Result<BatchSummary> {
    let explainer = explain.then(|| artifact.explainer()).transpose()?;
    let read_start = Instant::now();
    let (table, _) = load_records(input, artifact.pipeline(), None, params)?;
    let kept = read_kept_columns(input, keep, params)?;
    let read_seconds = read_start.elapsed().as_secs_f64();
    if !kept.names.is_empty() && kept.n_rows() != table.n_rows() {
        return Err(TrainError::LengthMismatch {
            what: "kept columns' rows vs scored records",
            expected: table.n_rows(),
            got: kept.n_rows(),
        });
    }
    let probabilities = probability_columns(artifact);
    let mut columns = kept.names.clone();
    columns.push(PREDICTION_COLUMN.to_string());
    columns.extend(probabilities.iter().map(|(_, name)| name.clone()));
    if explainer.is_some() {
        columns.extend(explanation_columns(artifact));
    }
    if let Some(clash) = kept
        .names
        .iter()
        .find(|k| columns.iter().filter(|c| c == k).count() > 1)
    {
        return Err(TrainError::KeptColumnClash {
            column: clash.clone(),
        });
    }

    let score_start = Instant::now();
    let proba = artifact.score_table(&table)?;
    let decided = artifact.predict_classes(proba.view());
    let score_seconds = score_start.elapsed().as_secs_f64();
    let explain_start = Instant::now();
    let explained = explainer
        .as_ref()
        .map(|e| e.explain_table(&table).map(|c| (e.base().to_vec(), c)))
        .transpose()?;
    let explain_seconds = explain_start.elapsed().as_secs_f64();

    let write_start = Instant::now();
    let target = out.map_or_else(|| "stdout".to_string(), |p| p.display().to_string());
    let io_error = |source: std::io::Error| TrainError::PredictionsIo {
        target: target.clone(),
        source,
    };
    let sink: Box<dyn Write> = match out {
        Some(path) => Box::new(File::create(path).map_err(io_error)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = csv::Writer::from_writer(BufWriter::new(sink));
    let csv_error = |e: csv::Error| io_error(e.into());
    writer.write_record(&columns).map_err(csv_error)?;
    let labels = artifact.classes();
    let mut record: Vec<String> = Vec::with_capacity(columns.len());
    for (row, (class, p)) in decided.iter().zip(proba.outer_iter()).enumerate() {
        record.clear();
        record.extend(
            kept.values
                .iter()
                .map(|v| v.get(row).cloned().unwrap_or_default()),
        );
        record.push(labels.get(*class).cloned().unwrap_or_default());
        record.extend(
            probabilities
                .iter()
                .map(|&(c, _)| p.get(c).copied().unwrap_or(f64::NAN).to_string()),
        );
        if let Some((base, contributions)) = &explained {
            record.extend(base.iter().map(f64::to_string));
            record.extend(contributions.row(row).iter().map(f64::to_string));
        }
        writer.write_record(&record).map_err(csv_error)?;
    }
    writer
        .into_inner()
        .map_err(|e| io_error(e.into_error()))?
        .flush()
        .map_err(io_error)?;
    Ok(BatchSummary {
        rows: table.n_rows(),
        columns,
        read_seconds,
        score_seconds,
        explain_seconds,
        write_seconds: write_start.elapsed().as_secs_f64(),
    })
}
