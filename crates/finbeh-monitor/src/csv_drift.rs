//! Drift of a current CSV against a reference CSV, both read with a model artifact's fitted
//! schema: one [`FeatureDrift`] per model input column.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use finbeh_data::{Column, DataValidParams, Table, load_records};
use finbeh_train::ModelArtifact;

use crate::MonitorError;
use crate::drift::{
    ColumnSample, DriftReport, DriftValidParams, FeatureDrift, Method, feature_drift,
};

/// The report of [`drift_from_csv`], with the statistic that decided each column (not part of
/// the JSON report, whose shape is versioned).
#[derive(Debug, Clone, PartialEq)]
pub struct CsvDrift {
    /// The report `monitor drift --json` prints.
    pub report: DriftReport,
    /// One entry per `report.features` entry, in the same order.
    pub deciding: Vec<DecidingStatistic>,
}

/// The statistic that decided whether one column drifted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecidingStatistic {
    /// Which statistic.
    pub method: Method,
    /// Its value (`None` when it could not be computed, e.g. chi-square over one category).
    pub value: Option<f64>,
    /// The threshold it was compared with.
    pub threshold: f64,
}

/// Drift of every model input column of `current` against `reference`, both CSV files read with
/// the artifact's fitted schema and the `[data]` settings. Date columns are compared as day
/// numbers (numeric statistics); nulls count towards the null rate only.
///
/// # Errors
/// [`MonitorError::NoReference`] without `reference` (artifacts store no reference sample yet),
/// [`MonitorError::Artifact`] when the model cannot be read, [`MonitorError::Data`] for a file
/// that cannot be read with the model's schema (naming file, line, column), and the errors of
/// [`feature_drift`] (e.g. a column with no values).
pub fn drift_from_csv(
    model: &Path,
    reference: Option<&Path>,
    current: &Path,
    data: &DataValidParams,
    drift: &DriftValidParams,
) -> Result<CsvDrift, MonitorError> {
    let reference = reference.ok_or_else(|| MonitorError::NoReference {
        model: model.to_path_buf(),
    })?;
    let artifact = ModelArtifact::read(model)?;
    let pipeline = artifact.pipeline();
    let (reference_table, _) = load_records(reference, pipeline, None, data)?;
    let (current_table, _) = load_records(current, pipeline, None, data)?;
    let mut features = Vec::with_capacity(pipeline.input_columns().len());
    let mut deciding = Vec::with_capacity(features.capacity());
    for input in pipeline.input_columns() {
        let name = input.name.as_str();
        let reference_values = table_values(&reference_table, reference, name)?;
        let current_values = table_values(&current_table, current, name)?;
        let feature = feature_drift(
            name,
            reference_values.sample(),
            current_values.sample(),
            drift,
        )?;
        deciding.push(deciding_statistic(
            &feature,
            &reference_values,
            &current_values,
            drift,
        ));
        features.push(feature);
    }
    Ok(CsvDrift {
        report: DriftReport::new(features, drift),
        deciding,
    })
}

/// One column's values as the drift statistics take them.
pub(crate) enum Values<'t> {
    Numeric(Cow<'t, [f64]>),
    Categorical(Vec<Option<&'t str>>),
    Boolean(Vec<Option<bool>>),
}

impl Values<'_> {
    pub(crate) fn sample(&self) -> ColumnSample<'_> {
        match self {
            Values::Numeric(values) => ColumnSample::Numeric(values),
            Values::Categorical(values) => ColumnSample::Categorical(values),
            Values::Boolean(values) => ColumnSample::Boolean(values),
        }
    }

    /// How many values are not null, and the distinct non-null values.
    fn non_null_and_distinct(&self) -> (usize, BTreeSet<DistinctKey<'_>>) {
        let keys: Vec<DistinctKey<'_>> = match self {
            Values::Numeric(values) => values
                .iter()
                .filter(|v| !v.is_nan())
                .map(|v| DistinctKey::Number(v.to_bits()))
                .collect(),
            Values::Categorical(values) => values
                .iter()
                .flatten()
                .map(|v| DistinctKey::Text(v))
                .collect(),
            Values::Boolean(values) => values
                .iter()
                .flatten()
                .map(|&v| DistinctKey::Bool(v))
                .collect(),
        };
        (keys.len(), keys.into_iter().collect())
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum DistinctKey<'a> {
    Number(u64),
    Text(&'a str),
    Bool(bool),
}

/// The values of input column `name` of `table` (read from `file`).
pub(crate) fn table_values<'t>(
    table: &'t Table,
    file: &Path,
    name: &str,
) -> Result<Values<'t>, MonitorError> {
    let not_read = || MonitorError::ColumnNotRead {
        file: PathBuf::from(file),
        column: name.to_owned(),
    };
    Ok(match table.column_by_name(name).ok_or_else(not_read)? {
        Column::Numeric(values) => Values::Numeric(Cow::Borrowed(values)),
        // Days since 1970-01-01; i32::MIN marks a missing date.
        Column::Date(days) => Values::Numeric(Cow::Owned(
            days.iter()
                .map(|&d| {
                    if d == i32::MIN {
                        f64::NAN
                    } else {
                        f64::from(d)
                    }
                })
                .collect(),
        )),
        // u32::MAX marks a missing category.
        Column::Categorical { codes, labels } => Values::Categorical(
            codes
                .iter()
                .map(|&code| labels.get(usize::try_from(code).ok()?).map(String::as_str))
                .collect(),
        ),
        // 0 / 1, and 2 marks a missing boolean.
        Column::Boolean(values) => Values::Boolean(
            values
                .iter()
                .map(|&v| match v {
                    0 => Some(false),
                    1 => Some(true),
                    _ => None,
                })
                .collect(),
        ),
        _ => return Err(not_read()),
    })
}

/// The statistic [`DriftValidParams::decide`] picked for `feature`, from the same inputs
/// [`feature_drift`] gave it: non-null reference rows and distinct values of both samples.
fn deciding_statistic(
    feature: &FeatureDrift,
    reference: &Values<'_>,
    current: &Values<'_>,
    params: &DriftValidParams,
) -> DecidingStatistic {
    let (reference_rows, mut distinct) = reference.non_null_and_distinct();
    distinct.extend(current.non_null_and_distinct().1);
    let (method, threshold) = params.decide(
        &feature.column,
        feature.kind,
        reference_rows,
        distinct.len(),
    );
    let value = match method {
        Method::Ks => feature.ks_p_value,
        Method::ChiSquare => feature.chi2_p_value,
        Method::WassersteinNorm => feature.wasserstein_norm,
        Method::JensenShannon => feature.jensen_shannon,
    };
    DecidingStatistic {
        method,
        value,
        threshold,
    }
}
