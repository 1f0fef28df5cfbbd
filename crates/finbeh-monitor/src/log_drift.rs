//! Drift over the prediction log: the logged raw inputs of a period against a reference (a CSV,
//! else the artifact's reference sample, else its binned training profile), and prediction drift
//! of the positive-class probability.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use finbeh_data::{DataValidParams, RawValue, load_records};
use finbeh_train::{ModelArtifact, ReferenceSample};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::csv_drift::{Values, table_values};
use crate::drift::{ColumnSample, DriftReport, DriftValidParams, FeatureDrift, feature_drift};

use crate::error::MonitorError;
use crate::log_read::{
    LogPeriod, LoggedInputs, LoggedValues, logged_model, read_logged_inputs, values_from_texts,
};
use crate::profile_drift::profile_feature_drift;

/// Name of the prediction-drift entry (the positive-class probability).
pub const PREDICTION_COLUMN: &str = "positive_probability";

/// Where the reference of a drift-over-the-log report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceSource {
    /// `--reference CSV`.
    Csv,
    /// The artifact's reference sample of raw training records (format 1.3.0 and later).
    ArtifactSample,
    /// The artifact's binned training profile (artifacts without a reference sample): only the
    /// statistics bins allow (PSI, Jensen–Shannon, chi-square on bins).
    TrainingProfile,
}

/// The reference used, and what that means for the statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceUsed {
    /// Its source.
    pub source: ReferenceSource,
    /// The CSV file, for [`ReferenceSource::Csv`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Reference rows.
    pub rows: usize,
    /// What the source implies (the fallback, in words).
    pub note: String,
}

/// The model whose schema read the log, and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelUsed {
    /// The artifact file.
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `--model`, or the artifact the log names found at `path`.
    pub chosen_by: String,
}

/// `monitor drift --since D --json`: the drift report's fields (`dataset_drift`,
/// `drifted_share`, `features`) with prediction drift next to them and what was compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogDriftReport {
    /// Feature drift, exactly the shape of `monitor drift --json` over CSV files.
    #[serde(flatten)]
    pub drift: DriftReport,
    /// Drift of the positive-class probability; absent with its reason in
    /// `prediction_drift_note` when it cannot be measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_drift: Option<FeatureDrift>,
    /// Why prediction drift is absent (or how it was measured).
    pub prediction_drift_note: String,
    /// Logged requests refused for their input / (scored rows + those requests).
    pub type_error_rate: f64,
    /// Scored rows of the period.
    pub rows: usize,
    /// The period, milliseconds since the Unix epoch, `[since_ms, until_ms)`.
    pub since_ms: i64,
    /// End of the period (excluded).
    pub until_ms: i64,
    /// The reference compared with.
    pub reference: ReferenceUsed,
    /// The model whose schema read the log.
    pub model: ModelUsed,
}

/// What [`drift_from_log`] reads.
#[derive(Debug, Clone, Copy)]
pub struct LogDriftInput<'a> {
    /// The prediction log (`monitor.database_path`).
    pub log: &'a Path,
    /// The period.
    pub period: LogPeriod,
    /// `--model`: the artifact to read the log with.
    pub model: Option<&'a Path>,
    /// Where to look for the artifact the log names without `--model` (a file or a
    /// directory searched like `AZUREML_MODEL_DIR`: `serve.model_path`, else
    /// `model.output_dir`).
    pub model_search: Option<&'a Path>,
    /// `--reference CSV`: overrides the artifact's reference.
    pub reference: Option<&'a Path>,
}

/// Picks the artifact: `explicit` when given, else the first artifact under `search` whose name
/// and version are the newest logged row's.
///
/// # Errors
/// [`MonitorError::Artifact`] for an explicit file that cannot be read;
/// [`MonitorError::ModelNotFound`] when no artifact matching the log was found.
pub fn choose_model(
    explicit: Option<&Path>,
    search: Option<&Path>,
    logged: Option<&(String, String)>,
) -> Result<(ModelArtifact, ModelUsed), MonitorError> {
    let used = |artifact: &ModelArtifact, path: &Path, chosen_by: String| ModelUsed {
        path: path.to_path_buf(),
        name: artifact.metadata().model_name.clone(),
        version: artifact.metadata().model_version.clone(),
        chosen_by,
    };
    if let Some(path) = explicit {
        let artifact = ModelArtifact::read(path)?;
        let chosen = used(&artifact, path, "--model".to_owned());
        return Ok((artifact, chosen));
    }
    let (name, version) = logged.cloned().unwrap_or_default();
    let mut tried = Vec::new();
    if let Some(root) = search {
        let candidates = finbeh_serve::resolve_model_paths(Some(root), None).unwrap_or_default();
        for path in candidates {
            match ModelArtifact::read(&path) {
                Ok(artifact)
                    if artifact.metadata().model_name == name
                        && artifact.metadata().model_version == version =>
                {
                    let chosen = used(
                        &artifact,
                        &path,
                        format!("the model the log names ({name} {version})"),
                    );
                    return Ok((artifact, chosen));
                }
                Ok(artifact) => tried.push(format!(
                    "{}: {} {}",
                    path.display(),
                    artifact.metadata().model_name,
                    artifact.metadata().model_version
                )),
                Err(error) => tried.push(format!("{}: {error}", path.display())),
            }
        }
    }
    Err(MonitorError::ModelNotFound {
        name,
        version,
        tried,
    })
}

/// Drift of the logged inputs of `input.period` against the reference, per model input column,
/// plus prediction drift and the type-error rate.
///
/// The reference is `input.reference` (a CSV read with the model's schema) when given, else the
/// artifact's reference sample (format 1.3.0 and later), else its binned training profile (only
/// PSI, Jensen–Shannon and chi-square on its bins; the report says so in `reference.note`).
///
/// # Errors
/// The errors of [`choose_model`] and [`read_logged_inputs`]; [`MonitorError::NoLoggedRows`]
/// when the period holds no scored row; [`MonitorError::Data`] for a reference CSV that cannot
/// be read; the errors of [`feature_drift`].
pub fn drift_from_log(
    input: &LogDriftInput<'_>,
    data: &DataValidParams,
    params: &DriftValidParams,
) -> Result<LogDriftReport, MonitorError> {
    Ok(log_drift_parts(input, data, params)?.report)
}

/// [`drift_from_log`]'s report with the probabilities it compared, for the monitor report's
/// score distribution.
pub(crate) struct LogDriftParts {
    pub(crate) report: LogDriftReport,
    /// Logged positive-class probabilities of the period (binary models).
    pub(crate) production: Vec<f64>,
    /// The artifact's positive-class probabilities of the reference rows, when scored.
    pub(crate) reference: Option<Vec<f64>>,
    /// The artifact compared with (the report's label-free estimate uses its calibration).
    pub(crate) artifact: ModelArtifact,
    /// The period's logged inputs (probabilities moved to `production`): explained for global
    /// importance and feature-attribution drift.
    pub(crate) logged: LoggedInputs,
}

pub(crate) fn log_drift_parts(
    input: &LogDriftInput<'_>,
    data: &DataValidParams,
    params: &DriftValidParams,
) -> Result<LogDriftParts, MonitorError> {
    let logged_model = if input.model.is_none() {
        logged_model(input.log, input.period)?
    } else {
        None
    };
    let (artifact, model) = choose_model(input.model, input.model_search, logged_model.as_ref())?;
    let mut logged = read_logged_inputs(input.log, input.period, artifact.input_columns())?;
    if logged.rows == 0 {
        return Err(MonitorError::NoLoggedRows {
            path: input.log.to_path_buf(),
            since_ms: input.period.since_ms,
        });
    }
    let (features, prediction, reference) = match (input.reference, artifact.reference_sample()) {
        (Some(csv), _) => against_csv(&artifact, csv, &logged, data, params)?,
        (None, Some(sample)) => against_sample(&artifact, sample, &logged, params)?,
        (None, None) => against_profile(&artifact, &logged, params)?,
    };
    let Prediction {
        drift: prediction_drift,
        note: prediction_drift_note,
        reference_scores,
    } = prediction;
    let report = LogDriftReport {
        drift: DriftReport::new(features, params),
        prediction_drift,
        prediction_drift_note,
        type_error_rate: logged.type_error_rate(),
        rows: logged.rows,
        since_ms: input.period.since_ms,
        until_ms: input.period.until_ms,
        reference,
        model,
    };
    Ok(LogDriftParts {
        report,
        production: std::mem::take(&mut logged.positive_probability),
        reference: reference_scores,
        artifact,
        logged,
    })
}

/// Prediction drift, why it is (not) measured, and the reference scores it compared.
struct Prediction {
    drift: Option<FeatureDrift>,
    note: String,
    reference_scores: Option<Vec<f64>>,
}

fn against_csv(
    artifact: &ModelArtifact,
    csv: &Path,
    logged: &LoggedInputs,
    data: &DataValidParams,
    params: &DriftValidParams,
) -> Result<(Vec<FeatureDrift>, Prediction, ReferenceUsed), MonitorError> {
    let (table, _) = load_records(csv, artifact.pipeline(), None, data)?;
    // Columns on both cores: sorting each column's million values dominates.
    let features = logged
        .columns
        .par_iter()
        .map(|(name, current)| {
            let reference = table_values(&table, csv, name)?;
            let current = logged_values(current);
            feature_drift(name, reference.sample(), current.sample(), params)
        })
        .collect::<Result<Vec<_>, MonitorError>>()?;
    let prediction = prediction_drift(artifact, logged, params, || {
        let scores = artifact.score_table(&table)?;
        Ok((
            scores.column(1).to_vec(),
            format!(
                "logged probabilities against the artifact's scores of the {} reference rows",
                table.n_rows()
            ),
        ))
    })?;
    let reference = ReferenceUsed {
        source: ReferenceSource::Csv,
        path: Some(csv.to_path_buf()),
        rows: table.n_rows(),
        note: "--reference CSV: every statistic".to_owned(),
    };
    Ok((features, prediction, reference))
}

fn against_sample(
    artifact: &ModelArtifact,
    sample: &ReferenceSample,
    logged: &LoggedInputs,
    params: &DriftValidParams,
) -> Result<(Vec<FeatureDrift>, Prediction, ReferenceUsed), MonitorError> {
    let features = logged
        .columns
        .par_iter()
        .zip(artifact.input_columns().par_iter())
        .map(|((name, current), input)| {
            let cells =
                sample
                    .column_named(name)
                    .ok_or_else(|| MonitorError::SampleColumnMissing {
                        column: name.clone(),
                    })?;
            let reference = values_from_texts(input.kind, cells.iter().map(Option::as_deref));
            feature_drift(
                name,
                logged_values(&reference).sample(),
                logged_values(current).sample(),
                params,
            )
        })
        .collect::<Result<Vec<_>, MonitorError>>()?;
    let held_out: Vec<usize> = (0..sample.n_rows())
        .filter(|&row| sample.held_out().get(row).copied().unwrap_or(false))
        .collect();
    let prediction = if held_out.is_empty() {
        Prediction::none("the artifact's reference sample holds no held-out row".to_owned())
    } else {
        prediction_drift(artifact, logged, params, || {
            Ok((
                score_sample_rows(artifact, sample, &held_out)?,
                format!(
                    "logged probabilities against the artifact's scores of the {} held-out rows \
                     of its reference sample",
                    held_out.len()
                ),
            ))
        })?
    };
    let reference = ReferenceUsed {
        source: ReferenceSource::ArtifactSample,
        path: None,
        rows: sample.n_rows(),
        note: format!(
            "the artifact's reference sample ({} raw records drawn from {}, seed {}): every \
             statistic",
            sample.n_rows(),
            sample.drawn_from(),
            sample.seed()
        ),
    };
    Ok((features, prediction, reference))
}

/// Drift of the logged positive-class probabilities against the reference scores `score`
/// gives (with what they are, in words); none for a multi-class model or without logged
/// probabilities.
fn prediction_drift(
    artifact: &ModelArtifact,
    logged: &LoggedInputs,
    params: &DriftValidParams,
    score: impl FnOnce() -> Result<(Vec<f64>, String), MonitorError>,
) -> Result<Prediction, MonitorError> {
    if artifact.classes().len() != 2 {
        return Ok(Prediction::none(not_binary(artifact)));
    }
    if logged.positive_probability.is_empty() {
        return Ok(Prediction::none(
            "no logged row carries a binary probability".to_owned(),
        ));
    }
    let (reference, note) = score()?;
    let drift = feature_drift(
        PREDICTION_COLUMN,
        ColumnSample::Numeric(&reference),
        ColumnSample::Numeric(&logged.positive_probability),
        params,
    )?;
    Ok(Prediction {
        drift: Some(drift),
        note,
        reference_scores: Some(reference),
    })
}

/// The positive-class probability of each of `rows` of the sample, scored by the artifact.
fn score_sample_rows(
    artifact: &ModelArtifact,
    sample: &ReferenceSample,
    rows: &[usize],
) -> Result<Vec<f64>, MonitorError> {
    let mut features = vec![0f32; artifact.n_features()];
    let mut proba = vec![0f64; artifact.classes().len()];
    let mut scores = Vec::with_capacity(rows.len());
    for &row in rows {
        let Some(cells) = sample.row(row) else {
            continue;
        };
        let record: Vec<RawValue<'_>> = cells
            .into_iter()
            .map(|cell| cell.map_or(RawValue::Missing, |text| RawValue::Text(text.into())))
            .collect();
        artifact.score_record(&record, &mut features, &mut proba)?;
        scores.push(proba.get(1).copied().unwrap_or(f64::NAN));
    }
    Ok(scores)
}

fn against_profile(
    artifact: &ModelArtifact,
    logged: &LoggedInputs,
    params: &DriftValidParams,
) -> Result<(Vec<FeatureDrift>, Prediction, ReferenceUsed), MonitorError> {
    let profile = &artifact.metadata().profile;
    let mut features = Vec::with_capacity(logged.columns.len());
    for ((name, current), column) in logged.columns.iter().zip(&profile.columns) {
        let current = logged_values(current);
        features.push(profile_feature_drift(
            name,
            column,
            profile.n_rows,
            current.sample(),
            params,
        )?);
    }
    let reference = ReferenceUsed {
        source: ReferenceSource::TrainingProfile,
        path: None,
        rows: profile.n_rows,
        note: format!(
            "artifact format {} stores no reference sample: fell back to its binned training \
             profile, so only PSI, Jensen-Shannon and chi-square on the profile's bins are \
             computed and Jensen-Shannon decides; pass --reference CSV for KS and Wasserstein",
            artifact.metadata().format_version
        ),
    };
    let prediction = Prediction::none(
        "the artifact stores no reference sample to score, so prediction drift is not measured; \
         pass --reference CSV"
            .to_owned(),
    );
    Ok((features, prediction, reference))
}

impl Prediction {
    fn none(note: String) -> Self {
        Self {
            drift: None,
            note,
            reference_scores: None,
        }
    }
}

fn not_binary(artifact: &ModelArtifact) -> String {
    format!(
        "the model has {} classes; prediction drift is measured on a binary model's positive \
         probability",
        artifact.classes().len()
    )
}

/// A logged column as the drift statistics take it.
fn logged_values(values: &LoggedValues) -> Values<'_> {
    match values {
        LoggedValues::Numeric(values) => Values::Numeric(Cow::Borrowed(values)),
        LoggedValues::Boolean(values) => Values::Boolean(values.clone()),
        LoggedValues::Categorical { codes, labels } => Values::Categorical(
            codes
                .iter()
                .map(|code| {
                    code.and_then(|c| labels.get(c as usize))
                        .map(String::as_str)
                })
                .collect(),
        ),
    }
}
