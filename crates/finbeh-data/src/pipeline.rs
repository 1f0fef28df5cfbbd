//! The fitted feature pipeline: raw record → `f32` feature row, identical for one record and a batch.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::date::{DateFormat, FIRST_DAY, LAST_DAY, month, parse_date, weekday};
use crate::error::DataError;
use crate::numeric_rows::NumericRows;
use crate::params::DataValidParams;
use crate::raw::{ColumnKind, InputColumn, RawValue};
use crate::schema::{Role, Schema, ValueKind};
use crate::table::{Column, MISSING_BOOL, MISSING_CODE, MISSING_DAY, Table};
use crate::text::{
    NOT_A_NUMBER, TOO_LARGE_FOR_F32, canonical_number, fits_f32, is_missing, parse_bool,
    parse_number,
};

/// Version of the serialized [`FittedPipeline`] layout; bumped on any incompatible change.
pub const PIPELINE_FORMAT_VERSION: u32 = 1;

/// Where one output feature of a [`FittedPipeline`] comes from (indices into
/// [`FittedPipeline::input_columns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureOrigin {
    /// Derived from one input column alone.
    Column(usize),
    /// A date difference (`end − start`) or its missing indicator: derived from two columns.
    DateDifference {
        /// The start date column.
        start: usize,
        /// The end date column.
        end: usize,
    },
}

/// The fitted transformation of one input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub(crate) enum Step {
    /// value (median if missing) [+ missing indicator].
    Numeric { median: f64, indicator: bool },
    /// one-hot over `categories` (sorted); missing → the mode's column; unseen → all zeros.
    Categorical {
        categories: Vec<String>,
        mode: Option<u32>,
        indicator: bool,
    },
    /// 0/1 (mode if missing) [+ missing indicator].
    Boolean { mode: bool, indicator: bool },
    /// days since reference, weekday, month (median date if missing) [+ indicator];
    /// `own_features = false` when the column only feeds a date difference.
    Date {
        format: DateFormat,
        median_day: i32,
        indicator: bool,
        own_features: bool,
    },
}

impl Step {
    fn width(&self) -> usize {
        match self {
            Step::Numeric { indicator, .. } | Step::Boolean { indicator, .. } => {
                1 + usize::from(*indicator)
            }
            Step::Categorical {
                categories,
                indicator,
                ..
            } => categories.len() + usize::from(*indicator),
            Step::Date {
                indicator,
                own_features,
                ..
            } => {
                if *own_features {
                    3 + usize::from(*indicator)
                } else {
                    0
                }
            }
        }
    }
    fn kind(&self) -> ColumnKind {
        match self {
            Step::Numeric { .. } => ColumnKind::Numeric,
            Step::Categorical { .. } => ColumnKind::Categorical,
            Step::Boolean { .. } => ColumnKind::Boolean,
            Step::Date { .. } => ColumnKind::Date,
        }
    }
}

/// Days from one input date column to another (`end − start`), median if either is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DateDiffStep {
    name: String,
    start: usize,
    end: usize,
    median: f64,
    indicator: bool,
}

/// A categorical value resolved against the fitted categories.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cat {
    Missing,
    Unseen,
    Known(u32),
}

/// The feature pipeline fitted on training rows; serialized inside the model artifact.
///
/// Feature layout per input column (in [`FittedPipeline::input_columns`] order), then the date
/// differences: numeric → value (training median if missing) and, when training had missing
/// values, a `__missing` indicator; categorical → one-hot over the training categories (sorted;
/// at most `max_categorical_cardinality`, most frequent first), a missing value counts as the most
/// frequent category, **a category never seen in training gives all zeros**; boolean → 0/1;
/// date → days since the reference date, weekday (0 = Monday), month (1–12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PipelineRepr")]
pub struct FittedPipeline {
    format_version: u32,
    input_columns: Vec<InputColumn>,
    steps: Vec<Step>,
    date_differences: Vec<DateDiffStep>,
    reference_day: i32,
    feature_names: Vec<String>,
    /// The all-numeric shortcut of [`FittedPipeline::transform_row`], derived from `steps` and
    /// `date_differences`.
    #[serde(skip)]
    numeric_rows: Option<NumericRows>,
}

#[derive(Deserialize)]
struct PipelineRepr {
    format_version: u32,
    input_columns: Vec<InputColumn>,
    steps: Vec<Step>,
    date_differences: Vec<DateDiffStep>,
    reference_day: i32,
    feature_names: Vec<String>,
}

impl TryFrom<PipelineRepr> for FittedPipeline {
    type Error = String;
    fn try_from(r: PipelineRepr) -> Result<Self, String> {
        if r.format_version != PIPELINE_FORMAT_VERSION {
            return Err(format!(
                "pipeline format_version {} is not supported (expected {PIPELINE_FORMAT_VERSION})",
                r.format_version
            ));
        }
        if r.steps.len() != r.input_columns.len()
            || r.steps
                .iter()
                .zip(&r.input_columns)
                .any(|(s, c)| s.kind() != c.kind)
        {
            return Err("pipeline steps do not match its input columns".into());
        }
        let width = r
            .steps
            .iter()
            .map(Step::width)
            .chain(
                r.date_differences
                    .iter()
                    .map(|d| 1 + usize::from(d.indicator)),
            )
            .try_fold(0usize, usize::checked_add)
            .ok_or("pipeline feature count overflows")?;
        if width != r.feature_names.len() || width == 0 {
            return Err(format!(
                "pipeline emits {width} features but names {}",
                r.feature_names.len()
            ));
        }
        // Day counts feed calendar arithmetic: keep them to the dates a file can hold.
        let out_of_calendar = |field: &str, day: i32| {
            format!(
                "pipeline {field} {day} is outside 0001-01-01..=9999-12-31 \
                 (days {FIRST_DAY}..={LAST_DAY})"
            )
        };
        if !(FIRST_DAY..=LAST_DAY).contains(&r.reference_day) {
            return Err(out_of_calendar("reference_day", r.reference_day));
        }
        for (step, column) in r.steps.iter().zip(&r.input_columns) {
            if let Step::Date { median_day, .. } = step
                && !(FIRST_DAY..=LAST_DAY).contains(median_day)
            {
                return Err(out_of_calendar(
                    &format!("column `{}`: median_day", column.name),
                    *median_day,
                ));
            }
        }
        let is_date = |i: usize| matches!(r.steps.get(i), Some(Step::Date { .. }));
        if r.date_differences
            .iter()
            .any(|d| !is_date(d.start) || !is_date(d.end))
        {
            return Err("a date difference refers to a non-date input".into());
        }
        for s in &r.steps {
            if let Step::Categorical {
                categories, mode, ..
            } = s
                && (mode.is_some_and(|m| m as usize >= categories.len())
                    || categories.windows(2).any(|w| w[0] >= w[1]))
            {
                return Err("categorical step has unsorted categories or a bad mode".into());
            }
        }
        Ok(FittedPipeline {
            numeric_rows: plan_numeric_rows(&r.steps, &r.date_differences),
            format_version: r.format_version,
            input_columns: r.input_columns,
            steps: r.steps,
            date_differences: r.date_differences,
            reference_day: r.reference_day,
            feature_names: r.feature_names,
        })
    }
}

/// The all-numeric shortcut, if every step is numeric and no date difference is derived.
fn plan_numeric_rows(steps: &[Step], date_differences: &[DateDiffStep]) -> Option<NumericRows> {
    if !date_differences.is_empty() {
        return None;
    }
    NumericRows::plan(steps)
}

/// Sequential writer into one output row.
pub(crate) struct Out<'a> {
    buf: &'a mut [f32],
    pos: usize,
}

impl<'a> Out<'a> {
    /// A writer from the start of `buf`.
    pub(crate) fn new(buf: &'a mut [f32]) -> Self {
        Self { buf, pos: 0 }
    }

    #[inline]
    fn put(&mut self, v: f32) {
        if let Some(slot) = self.buf.get_mut(self.pos) {
            *slot = v;
        }
        self.pos += 1;
    }
}

#[inline]
pub(crate) fn emit_numeric(x: f64, median: f64, indicator: bool, out: &mut Out<'_>) {
    let missing = x.is_nan();
    out.put(if missing { median as f32 } else { x as f32 });
    if indicator {
        out.put(f32::from(u8::from(missing)));
    }
}

#[inline]
fn emit_categorical(v: Cat, n: usize, mode: Option<u32>, indicator: bool, out: &mut Out<'_>) {
    let hot = match v {
        Cat::Known(c) => Some(c),
        Cat::Missing => mode,
        Cat::Unseen => None,
    };
    for k in 0..n {
        out.put(f32::from(u8::from(hot == Some(k as u32))));
    }
    if indicator {
        out.put(f32::from(u8::from(v == Cat::Missing)));
    }
}

#[inline]
fn emit_bool(v: Option<bool>, mode: bool, indicator: bool, out: &mut Out<'_>) {
    out.put(f32::from(u8::from(v.unwrap_or(mode))));
    if indicator {
        out.put(f32::from(u8::from(v.is_none())));
    }
}

#[inline]
fn emit_date(
    day: Option<i32>,
    median_day: i32,
    reference_day: i32,
    indicator: bool,
    out: &mut Out<'_>,
) {
    let d = day.unwrap_or(median_day);
    out.put((i64::from(reference_day) - i64::from(d)) as f32);
    out.put(weekday(d) as f32);
    out.put(month(d) as f32);
    if indicator {
        out.put(f32::from(u8::from(day.is_none())));
    }
}

#[inline]
fn emit_diff(
    start: Option<i32>,
    end: Option<i32>,
    median: f64,
    indicator: bool,
    out: &mut Out<'_>,
) {
    match (start, end) {
        (Some(s), Some(e)) => out.put((i64::from(e) - i64::from(s)) as f32),
        _ => out.put(median as f32),
    }
    if indicator {
        out.put(f32::from(u8::from(start.is_none() || end.is_none())));
    }
}

fn bad(column: &str, value: &RawValue<'_>, problem: impl Into<String>) -> DataError {
    let value = match value {
        RawValue::Missing => "null".to_string(),
        RawValue::Number(x) => x.to_string(),
        RawValue::Bool(b) => b.to_string(),
        RawValue::Text(t) => t.to_string(),
    };
    DataError::BadValue {
        column: column.to_string(),
        value,
        problem: problem.into(),
    }
}

fn raw_number(column: &str, v: &RawValue<'_>) -> Result<f64, DataError> {
    let x = match v {
        RawValue::Missing => f64::NAN,
        RawValue::Number(x) if x.is_finite() => *x,
        RawValue::Number(_) => return Err(bad(column, v, "not a finite number")),
        RawValue::Bool(b) => f64::from(u8::from(*b)),
        RawValue::Text(t) if is_missing(t) => f64::NAN,
        RawValue::Text(t) => parse_number(t)
            .ok_or_else(|| bad(column, v, format!("{NOT_A_NUMBER} in a numeric column")))?,
    };
    if fits_f32(x) {
        Ok(x)
    } else {
        Err(bad(column, v, TOO_LARGE_FOR_F32))
    }
}

fn raw_day(column: &str, format: DateFormat, v: &RawValue<'_>) -> Result<Option<i32>, DataError> {
    match v {
        RawValue::Missing => Ok(None),
        RawValue::Text(t) if is_missing(t) => Ok(None),
        RawValue::Text(t) => parse_date(t, format).map(Some).ok_or_else(|| {
            bad(
                column,
                v,
                format!("not a date in format {} or YYYY-MM-DD", format.pattern()),
            )
        }),
        _ => Err(bad(
            column,
            v,
            format!(
                "a date must be text in format {} or YYYY-MM-DD",
                format.pattern()
            ),
        )),
    }
}

fn raw_bool(column: &str, v: &RawValue<'_>) -> Result<Option<bool>, DataError> {
    match v {
        RawValue::Missing => Ok(None),
        RawValue::Bool(b) => Ok(Some(*b)),
        RawValue::Number(x) if *x == 1.0 => Ok(Some(true)),
        RawValue::Number(x) if *x == 0.0 => Ok(Some(false)),
        RawValue::Text(t) if is_missing(t) => Ok(None),
        RawValue::Text(t) => parse_bool(t)
            .map(Some)
            .ok_or_else(|| bad(column, v, "not a boolean (true/false, yes/no, 1/0)")),
        RawValue::Number(_) => Err(bad(column, v, "not a boolean (true/false, yes/no, 1/0)")),
    }
}

fn lookup(categories: &[String], text: &str) -> Cat {
    match categories.binary_search_by(|c| c.as_str().cmp(text)) {
        Ok(i) => Cat::Known(i as u32),
        Err(_) => Cat::Unseen,
    }
}

fn raw_cat(categories: &[String], v: &RawValue<'_>) -> Cat {
    match v {
        RawValue::Missing => Cat::Missing,
        RawValue::Text(t) if is_missing(t) => Cat::Missing,
        RawValue::Text(t) => lookup(categories, t.trim()),
        RawValue::Bool(b) => lookup(categories, if *b { "true" } else { "false" }),
        RawValue::Number(x) => {
            let mut buf = [0u8; 40];
            lookup(categories, canonical_number(*x, &mut buf))
        }
    }
}

/// A table column resolved for batch transformation.
enum Source<'t> {
    Numeric(&'t [f64]),
    Categorical { codes: &'t [u32], map: Vec<Cat> },
    Boolean(&'t [u8]),
    Date(&'t [i32]),
}

fn day_at(days: &[i32], r: usize) -> Option<i32> {
    days.get(r).copied().filter(|&d| d != MISSING_DAY)
}

fn median_f64(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (lower, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        Some(upper)
    } else {
        let lower_max = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((lower_max + upper) / 2.0)
    }
}

impl FittedPipeline {
    /// The raw columns a record must supply, in order.
    pub fn input_columns(&self) -> &[InputColumn] {
        &self.input_columns
    }
    /// Names of the output features, in matrix column order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    /// Number of output features.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }
    /// The raw input column(s) each output feature comes from, in matrix column order: one-hot
    /// levels, date parts and missing indicators name their own column; a date difference
    /// names its two date columns. Explanations sum feature attributions back to raw columns
    /// with it.
    pub fn feature_origins(&self) -> Vec<FeatureOrigin> {
        let mut origins = Vec::with_capacity(self.n_features());
        for (column, step) in self.steps.iter().enumerate() {
            origins.extend(std::iter::repeat_n(
                FeatureOrigin::Column(column),
                step.width(),
            ));
        }
        for d in &self.date_differences {
            let origin = FeatureOrigin::DateDifference {
                start: d.start,
                end: d.end,
            };
            origins.extend(std::iter::repeat_n(origin, 1 + usize::from(d.indicator)));
        }
        origins
    }
    /// The all-numeric shortcut of [`FittedPipeline::transform_row`], if this pipeline has one.
    pub(crate) fn numeric_rows(&self) -> Option<&NumericRows> {
        self.numeric_rows.as_ref()
    }
    /// The serialized layout version.
    pub fn format_version(&self) -> u32 {
        self.format_version
    }
    /// The value kind each input column is read as (dates with their fitted format), in input order.
    pub(crate) fn input_value_kinds(&self) -> Vec<ValueKind> {
        self.steps
            .iter()
            .map(|step| match step {
                Step::Numeric { .. } => ValueKind::Numeric,
                Step::Categorical { .. } => ValueKind::Categorical,
                Step::Boolean { .. } => ValueKind::Boolean,
                Step::Date { format, .. } => ValueKind::Date { format: *format },
            })
            .collect()
    }
    /// The reference date (days since 1970-01-01) of the "days since" features.
    pub fn reference_day(&self) -> i32 {
        self.reference_day
    }

    /// Transform one raw record (values in [`FittedPipeline::input_columns`] order) into `out`.
    ///
    /// Numbers may come as JSON numbers or plain decimal text; a categorical JSON number is
    /// matched by its canonical text (`2` matches category `"2"`). Errors name the column and value.
    pub fn transform_row(&self, row: &[RawValue<'_>], out: &mut [f32]) -> Result<(), DataError> {
        if row.len() != self.input_columns.len() {
            return Err(DataError::Arity {
                what: "record",
                expected: self.input_columns.len(),
                got: row.len(),
            });
        }
        if out.len() != self.n_features() {
            return Err(DataError::Arity {
                what: "output row",
                expected: self.n_features(),
                got: out.len(),
            });
        }
        if let Some(numeric_rows) = self.numeric_rows()
            && numeric_rows.transform(row, out)
        {
            return Ok(());
        }
        self.transform_cells(row, out)
    }

    /// [`FittedPipeline::transform_row`] past its arity checks, without the all-numeric
    /// shortcut: every kind of cell, and the errors that name a bad one.
    pub(crate) fn transform_cells(
        &self,
        row: &[RawValue<'_>],
        out: &mut [f32],
    ) -> Result<(), DataError> {
        let mut w = Out { buf: out, pos: 0 };
        for ((step, col), v) in self.steps.iter().zip(&self.input_columns).zip(row) {
            match step {
                Step::Numeric { median, indicator } => {
                    emit_numeric(raw_number(&col.name, v)?, *median, *indicator, &mut w)
                }
                Step::Categorical {
                    categories,
                    mode,
                    indicator,
                } => emit_categorical(
                    raw_cat(categories, v),
                    categories.len(),
                    *mode,
                    *indicator,
                    &mut w,
                ),
                Step::Boolean { mode, indicator } => {
                    emit_bool(raw_bool(&col.name, v)?, *mode, *indicator, &mut w)
                }
                Step::Date {
                    format,
                    median_day,
                    indicator,
                    own_features,
                } => {
                    let day = raw_day(&col.name, *format, v)?;
                    if *own_features {
                        emit_date(day, *median_day, self.reference_day, *indicator, &mut w);
                    }
                }
            }
        }
        for d in &self.date_differences {
            let day = |i: usize| -> Result<Option<i32>, DataError> {
                match (self.steps.get(i), self.input_columns.get(i), row.get(i)) {
                    (Some(Step::Date { format, .. }), Some(col), Some(v)) => {
                        raw_day(&col.name, *format, v)
                    }
                    _ => Ok(None),
                }
            };
            emit_diff(day(d.start)?, day(d.end)?, d.median, d.indicator, &mut w);
        }
        Ok(())
    }

    fn sources<'t>(&self, table: &'t Table) -> Result<Vec<Source<'t>>, DataError> {
        self.steps
            .iter()
            .zip(&self.input_columns)
            .map(|(step, col)| {
                let column =
                    table
                        .column_by_name(&col.name)
                        .ok_or_else(|| DataError::TableMismatch {
                            problem: format!("column `{}` is missing", col.name),
                        })?;
                Ok(match (step, column) {
                    (Step::Numeric { .. }, Column::Numeric(v)) => Source::Numeric(v),
                    (
                        Step::Categorical { categories, .. },
                        Column::Categorical { codes, labels },
                    ) => Source::Categorical {
                        codes,
                        map: labels.iter().map(|l| lookup(categories, l)).collect(),
                    },
                    (Step::Boolean { .. }, Column::Boolean(v)) => Source::Boolean(v),
                    (Step::Date { .. }, Column::Date(v)) => Source::Date(v),
                    _ => {
                        return Err(DataError::TableMismatch {
                            problem: format!(
                                "column `{}` is not stored as {:?}",
                                col.name, col.kind
                            ),
                        });
                    }
                })
            })
            .collect()
    }

    /// Transform table rows (all rows, or `rows` in the given order) into a feature matrix.
    /// Bit-identical to [`FittedPipeline::transform_row`] on [`FittedPipeline::raw_record`] of each row.
    pub fn transform_table(
        &self,
        table: &Table,
        rows: Option<&[usize]>,
    ) -> Result<Array2<f32>, DataError> {
        let sources = self.sources(table)?;
        let n = rows.map_or(table.n_rows(), <[usize]>::len);
        if let Some(&bad_row) = rows.and_then(|r| r.iter().find(|&&r| r >= table.n_rows())) {
            return Err(DataError::RowOutOfRange {
                row: bad_row,
                n_rows: table.n_rows(),
            });
        }
        let width = self.n_features();
        let mut matrix = Array2::<f32>::zeros((n, width));
        let data = matrix
            .as_slice_mut()
            .ok_or_else(|| DataError::TableMismatch {
                problem: "output matrix is not contiguous".into(),
            })?;
        for (i, out_row) in data.chunks_exact_mut(width.max(1)).enumerate() {
            let r = rows.and_then(|rs| rs.get(i).copied()).unwrap_or(i);
            self.fill_from_table(&sources, r, out_row);
        }
        Ok(matrix)
    }

    fn fill_from_table(&self, sources: &[Source<'_>], r: usize, out: &mut [f32]) {
        let mut w = Out { buf: out, pos: 0 };
        for (step, src) in self.steps.iter().zip(sources) {
            match (step, src) {
                (Step::Numeric { median, indicator }, Source::Numeric(v)) => emit_numeric(
                    v.get(r).copied().unwrap_or(f64::NAN),
                    *median,
                    *indicator,
                    &mut w,
                ),
                (
                    Step::Categorical {
                        categories,
                        mode,
                        indicator,
                    },
                    Source::Categorical { codes, map },
                ) => {
                    let v = match codes.get(r).copied().unwrap_or(MISSING_CODE) {
                        MISSING_CODE => Cat::Missing,
                        code => map.get(code as usize).copied().unwrap_or(Cat::Unseen),
                    };
                    emit_categorical(v, categories.len(), *mode, *indicator, &mut w)
                }
                (Step::Boolean { mode, indicator }, Source::Boolean(v)) => {
                    let b = v
                        .get(r)
                        .copied()
                        .filter(|&b| b != MISSING_BOOL)
                        .map(|b| b == 1);
                    emit_bool(b, *mode, *indicator, &mut w)
                }
                (
                    Step::Date {
                        median_day,
                        indicator,
                        own_features: true,
                        ..
                    },
                    Source::Date(v),
                ) => emit_date(
                    day_at(v, r),
                    *median_day,
                    self.reference_day,
                    *indicator,
                    &mut w,
                ),
                _ => {}
            }
        }
        for d in &self.date_differences {
            let day = |i: usize| match sources.get(i) {
                Some(Source::Date(v)) => day_at(v, r),
                _ => None,
            };
            emit_diff(day(d.start), day(d.end), d.median, d.indicator, &mut w);
        }
    }

    /// The raw input record of one table row, in [`FittedPipeline::input_columns`] order
    /// (dates as ISO text), e.g. for a model's golden set or a monitoring log.
    pub fn raw_record<'t>(
        &self,
        table: &'t Table,
        row: usize,
    ) -> Result<Vec<RawValue<'t>>, DataError> {
        if row >= table.n_rows() {
            return Err(DataError::RowOutOfRange {
                row,
                n_rows: table.n_rows(),
            });
        }
        self.input_columns
            .iter()
            .map(|c| {
                table
                    .index_of(&c.name)
                    .and_then(|i| table.raw_value(i, row))
                    .ok_or_else(|| DataError::TableMismatch {
                        problem: format!("column `{}` is not stored", c.name),
                    })
            })
            .collect()
    }
}

/// Fit the feature pipeline on `train_rows` of `table` (statistics from those rows only).
pub fn fit_pipeline(
    table: &Table,
    schema: &Schema,
    train_rows: &[usize],
    params: &DataValidParams,
) -> Result<FittedPipeline, DataError> {
    if train_rows.is_empty() {
        return Err(DataError::NoRows {
            what: "fit the feature pipeline",
        });
    }
    if let Some(&r) = train_rows.iter().find(|&&r| r >= table.n_rows()) {
        return Err(DataError::RowOutOfRange {
            row: r,
            n_rows: table.n_rows(),
        });
    }
    let diffs = &params.params().date_differences;
    let mut input_columns = Vec::new();
    let mut formats: Vec<Option<DateFormat>> = Vec::new();
    let mut own: Vec<bool> = Vec::new();
    for col in &schema.columns {
        let in_diff = diffs
            .iter()
            .any(|d| d.start == col.name || d.end == col.name);
        let feature = col.role == Role::Feature;
        if !(feature || in_diff) {
            continue;
        }
        let Some(kind) = col.kind.column_kind() else {
            continue;
        };
        if in_diff && kind != ColumnKind::Date {
            return Err(DataError::InvalidSetting {
                field: "date_differences".into(),
                problem: format!(
                    "column `{}` is not a date column (set data.date = [\"{}\"] if it holds dates)",
                    col.name, col.name
                ),
            });
        }
        input_columns.push(InputColumn {
            name: col.name.clone(),
            kind,
        });
        formats.push(match col.kind {
            ValueKind::Date { format } => Some(format),
            _ => None,
        });
        own.push(feature);
    }
    if !own.iter().any(|&o| o) && diffs.is_empty() {
        return Err(DataError::NoFeatures);
    }
    let column_of = |name: &str| {
        table
            .column_by_name(name)
            .ok_or_else(|| DataError::TableMismatch {
                problem: format!("column `{name}` is not in the table"),
            })
    };
    let reference_day = match params.date_reference_day() {
        Some(d) => d,
        None => {
            let mut latest = None::<i32>;
            for c in &input_columns {
                if let Column::Date(v) = column_of(&c.name)? {
                    for &r in train_rows {
                        if let Some(d) = day_at(v, r) {
                            latest = Some(latest.map_or(d, |l| l.max(d)));
                        }
                    }
                }
            }
            latest.unwrap_or(0)
        }
    };
    let max_card = params.max_categorical_cardinality();
    let mut steps = Vec::with_capacity(input_columns.len());
    let mut feature_names = Vec::new();
    for ((c, format), own_features) in input_columns.iter().zip(&formats).zip(&own) {
        let name = &c.name;
        let step = match (c.kind, column_of(name)?) {
            (ColumnKind::Numeric, Column::Numeric(v)) => {
                let mut present: Vec<f64> = train_rows
                    .iter()
                    .filter_map(|&r| v.get(r).copied())
                    .filter(|x| !x.is_nan())
                    .collect();
                let indicator = present.len() < train_rows.len();
                let median = median_f64(&mut present).unwrap_or(0.0);
                feature_names.push(name.clone());
                Step::Numeric { median, indicator }
            }
            (ColumnKind::Categorical, Column::Categorical { codes, labels }) => {
                let mut counts = vec![0u64; labels.len()];
                let mut indicator = false;
                for &r in train_rows {
                    match codes.get(r).copied() {
                        Some(MISSING_CODE) | None => indicator = true,
                        Some(code) => {
                            if let Some(n) = counts.get_mut(code as usize) {
                                *n += 1;
                            }
                        }
                    }
                }
                let mut kept: Vec<(u64, &str)> = counts
                    .iter()
                    .zip(labels)
                    .filter(|(n, _)| **n > 0)
                    .map(|(n, l)| (*n, l.as_str()))
                    .collect();
                kept.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
                kept.truncate(max_card);
                let mode_label = kept.first().map(|k| k.1.to_string());
                let mut categories: Vec<String> =
                    kept.into_iter().map(|k| k.1.to_string()).collect();
                categories.sort();
                let mode = mode_label
                    .and_then(|m| categories.binary_search(&m).ok())
                    .map(|i| i as u32);
                feature_names.extend(categories.iter().map(|cat| format!("{name}={cat}")));
                Step::Categorical {
                    categories,
                    mode,
                    indicator,
                }
            }
            (ColumnKind::Boolean, Column::Boolean(v)) => {
                let (mut t, mut f) = (0usize, 0usize);
                for &r in train_rows {
                    match v.get(r).copied() {
                        Some(1) => t += 1,
                        Some(0) => f += 1,
                        _ => {}
                    }
                }
                feature_names.push(name.clone());
                Step::Boolean {
                    mode: t > f,
                    indicator: t + f < train_rows.len(),
                }
            }
            (ColumnKind::Date, Column::Date(v)) => {
                let mut present: Vec<f64> = train_rows
                    .iter()
                    .filter_map(|&r| day_at(v, r))
                    .map(f64::from)
                    .collect();
                let indicator = present.len() < train_rows.len();
                let median_day =
                    median_f64(&mut present).map_or(reference_day, |m| m.floor() as i32);
                if *own_features {
                    feature_names.push(format!("{name}__days_before_reference"));
                    feature_names.push(format!("{name}__weekday"));
                    feature_names.push(format!("{name}__month"));
                }
                Step::Date {
                    format: format.unwrap_or(DateFormat::Iso),
                    median_day,
                    indicator,
                    own_features: *own_features,
                }
            }
            (kind, _) => {
                return Err(DataError::TableMismatch {
                    problem: format!("column `{name}` is not stored as {kind:?}"),
                });
            }
        };
        if matches!(
            step,
            Step::Numeric {
                indicator: true,
                ..
            } | Step::Boolean {
                indicator: true,
                ..
            }
        ) {
            feature_names.push(format!("{name}__missing"));
        }
        if let Step::Categorical {
            indicator: true, ..
        }
        | Step::Date {
            indicator: true,
            own_features: true,
            ..
        } = step
        {
            feature_names.push(format!("{name}__missing"));
        }
        steps.push(step);
    }
    let mut date_differences = Vec::new();
    for d in diffs {
        let pos = |n: &str| input_columns.iter().position(|c| c.name == n);
        let (Some(start), Some(end)) = (pos(&d.start), pos(&d.end)) else {
            return Err(DataError::InvalidSetting {
                field: "date_differences".into(),
                problem: format!(
                    "`{}`: columns `{}` and `{}` must both be date columns",
                    d.name, d.start, d.end
                ),
            });
        };
        let (Column::Date(s), Column::Date(e)) = (column_of(&d.start)?, column_of(&d.end)?) else {
            return Err(DataError::TableMismatch {
                problem: format!("`{}` needs two date columns", d.name),
            });
        };
        let mut present: Vec<f64> = train_rows
            .iter()
            .filter_map(|&r| Some(f64::from(day_at(e, r)?) - f64::from(day_at(s, r)?)))
            .collect();
        let indicator = present.len() < train_rows.len();
        let median = median_f64(&mut present).unwrap_or(0.0);
        feature_names.push(d.name.clone());
        if indicator {
            feature_names.push(format!("{}__missing", d.name));
        }
        date_differences.push(DateDiffStep {
            name: d.name.clone(),
            start,
            end,
            median,
            indicator,
        });
    }
    if feature_names.is_empty() {
        return Err(DataError::NoFeatures);
    }
    Ok(FittedPipeline {
        numeric_rows: plan_numeric_rows(&steps, &date_differences),
        format_version: PIPELINE_FORMAT_VERSION,
        input_columns,
        steps,
        date_differences,
        reference_day,
        feature_names,
    })
}
