//! Decoding a `/score` body (every accepted request form) into raw rows in model column order.

use std::borrow::Cow;
use std::fmt;

use finbeh_data::{ColumnKind, InputColumn, RawValue};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::RowError;
use crate::explain::{EXPLAIN_KEY, ExplainRequest, parse_explain};

/// At most this many problems are listed in one 400 answer.
pub(crate) const MAX_DETAILS: usize = 100;

/// Top-level keys that wrap rows; anything else at the top level is a single record.
pub(crate) const WRAPPER_KEYS: [&str; 4] =
    ["data", "input_data", "dataframe_split", "dataframe_records"];

/// A JSON document whose strings borrow from the request body whenever they hold no escapes.
#[derive(Debug)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(f64),
    /// A number written without fraction or exponent, kept exact (identifiers beyond 2^53).
    Integer(i128),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Integer(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Integer(i128::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::Number(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element::<Json<'de>>()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value = map.next_value::<Json<'de>>()?;
            entries.push((key.0, value));
        }
        Ok(Json::Object(entries))
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl Json<'_> {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) | Json::Integer(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Why a body could not be turned into rows.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The body is JSON, but not one of the accepted request forms.
    UnknownShape(String),
    /// No rows at all.
    Empty,
    /// More rows than allowed: (given, limit).
    TooManyRows(usize, usize),
    /// The `explain` option is not one of its accepted values (the message says which are).
    InvalidExplain(String),
    /// Columns or values are wrong; `total` counts every problem, `details` holds the first
    /// [`MAX_DETAILS`].
    Invalid {
        details: Vec<RowError>,
        total: usize,
    },
}

/// Collects problems while decoding, keeping only the first [`MAX_DETAILS`].
#[derive(Default)]
struct Problems {
    details: Vec<RowError>,
    total: usize,
}

impl Problems {
    fn push(&mut self, row: Option<usize>, field: Option<&str>, problem: String) {
        self.total += 1;
        if self.details.len() < MAX_DETAILS {
            self.details.push(RowError {
                row,
                field: field.map(str::to_owned),
                problem,
            });
        }
    }
    fn into_result(self) -> Result<(), DecodeError> {
        if self.total == 0 {
            Ok(())
        } else {
            Err(DecodeError::Invalid {
                details: self.details,
                total: self.total,
            })
        }
    }
}

/// Scratch memory reused across requests on one thread.
#[derive(Default)]
pub(crate) struct Scratch {
    seen: Vec<bool>,
    mapping: Vec<Option<usize>>,
    /// The last decoded body's `explain` option.
    explain: Option<ExplainRequest>,
}

impl Scratch {
    /// What the last body decoded asked to explain (`None`: no explanations).
    pub(crate) fn explain(&self) -> Option<ExplainRequest> {
        self.explain
    }
}

/// Why a body could not be turned into rows.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Not JSON at all.
    Malformed(serde_json::Error),
    /// JSON, but not an accepted form, or with wrong columns or values.
    Decode(DecodeError),
}

/// The columns a request is decoded against: the model's inputs (in order) and the columns of
/// the training file that the model does not read, which requests may carry and are skipped.
pub(crate) struct ModelColumns<'c> {
    inputs: &'c [InputColumn],
    ignored: &'c [String],
}

impl<'c> ModelColumns<'c> {
    pub(crate) fn new(inputs: &'c [InputColumn], ignored: &'c [String]) -> Self {
        ModelColumns { inputs, ignored }
    }

    fn ignores(&self, name: &str) -> bool {
        self.ignored.iter().any(|c| c == name)
    }
}

impl std::ops::Deref for ModelColumns<'_> {
    type Target = [InputColumn];
    fn deref(&self) -> &[InputColumn] {
        self.inputs
    }
}

/// Decodes a raw `/score` body into `rows` (row-major, model column order) and returns the row
/// count: the positional numeric form streams straight into `rows`; everything else (and every
/// error) goes through the general decoder over a borrowed JSON tree.
pub(crate) fn decode_body<'a>(
    body: &'a [u8],
    columns: &ModelColumns<'_>,
    max_rows: usize,
    rows: &mut Vec<RawValue<'a>>,
    scratch: &mut Scratch,
) -> Result<usize, BodyError> {
    scratch.explain = None;
    if let Some(n_rows) = crate::plain_numbers::decode_plain_numbers(body, columns, max_rows, rows)
        .or_else(|| crate::fast_path::decode_positional_numbers(body, columns, max_rows, rows))
    {
        return Ok(n_rows);
    }
    let json: Json<'a> = serde_json::from_slice(body).map_err(BodyError::Malformed)?;
    decode(json, columns, max_rows, rows, scratch).map_err(BodyError::Decode)
}

/// The general decoder alone, so tests can hold the fast path against it.
#[cfg(test)]
pub(crate) fn decode_for_tests<'a>(
    body: Json<'a>,
    columns: &ModelColumns<'_>,
    max_rows: usize,
    rows: &mut Vec<RawValue<'a>>,
    scratch: &mut Scratch,
) -> Result<usize, DecodeError> {
    decode(body, columns, max_rows, rows, scratch)
}

/// Decodes `body` into `rows` (row-major, model column order) and returns the row count.
fn decode<'a>(
    body: Json<'a>,
    columns: &ModelColumns<'_>,
    max_rows: usize,
    rows: &mut Vec<RawValue<'a>>,
    scratch: &mut Scratch,
) -> Result<usize, DecodeError> {
    let mut problems = Problems::default();
    let n_rows = match body {
        Json::Object(mut entries) => {
            let is_wrapper =
                |key: &str| WRAPPER_KEYS.contains(&key) && !columns.iter().any(|c| c.name == key);
            // `explain` sits next to the rows of any object form; in a bare record it is a
            // column when the model (or its training file) has one of that name.
            let explain_is_column =
                columns.iter().any(|c| c.name == EXPLAIN_KEY) || columns.ignores(EXPLAIN_KEY);
            let wrapped = entries.iter().any(|(key, _)| is_wrapper(key));
            if (wrapped || !explain_is_column)
                && let Some(at) = entries.iter().position(|(key, _)| key == EXPLAIN_KEY)
            {
                let (_, value) = entries.remove(at);
                scratch.explain = parse_explain(&value).map_err(DecodeError::InvalidExplain)?;
            }
            if wrapped {
                if entries.len() > 1 {
                    let others: Vec<String> = entries
                        .iter()
                        .filter(|(key, _)| !is_wrapper(key))
                        .map(|(key, _)| format!("`{key}`"))
                        .collect();
                    let message = if others.is_empty() {
                        "give exactly one of `data`, `input_data`, `dataframe_split`, `dataframe_records`".to_owned()
                    } else {
                        format!(
                            "unexpected top-level key(s) {} next to the rows; only one of `data`, `input_data`, `dataframe_split`, `dataframe_records` may be given",
                            others.join(", ")
                        )
                    };
                    return Err(DecodeError::UnknownShape(message));
                }
                let Some((key, value)) = entries.into_iter().next() else {
                    return Err(DecodeError::Empty);
                };
                decode_wrapper(&key, value, columns, max_rows, rows, scratch, &mut problems)?
            } else {
                check_row_count(1, max_rows)?;
                rows.reserve(columns.len());
                decode_record(0, entries, columns, rows, scratch, &mut problems);
                1
            }
        }
        Json::Array(items) => {
            decode_records(items, "", columns, max_rows, rows, scratch, &mut problems)?
        }
        other => {
            return Err(DecodeError::UnknownShape(format!(
                "expected a JSON object or array, got {}",
                other.type_name()
            )));
        }
    };
    problems.into_result()?;
    Ok(n_rows)
}

fn check_row_count(n: usize, max_rows: usize) -> Result<(), DecodeError> {
    if n == 0 {
        Err(DecodeError::Empty)
    } else if n > max_rows {
        Err(DecodeError::TooManyRows(n, max_rows))
    } else {
        Ok(())
    }
}

fn decode_wrapper<'a>(
    key: &str,
    value: Json<'a>,
    columns: &ModelColumns<'_>,
    max_rows: usize,
    rows: &mut Vec<RawValue<'a>>,
    scratch: &mut Scratch,
    problems: &mut Problems,
) -> Result<usize, DecodeError> {
    match (key, value) {
        ("data", Json::Array(items)) => {
            check_row_count(items.len(), max_rows)?;
            let n_rows = items.len();
            rows.reserve(n_rows.saturating_mul(columns.len()));
            for (row, item) in items.into_iter().enumerate() {
                match item {
                    Json::Array(values) => decode_positional(row, values, columns, rows, problems),
                    Json::Object(entries) => {
                        decode_record(row, entries, columns, rows, scratch, problems);
                    }
                    other => {
                        problems.push(
                            Some(row),
                            None,
                            format!(
                                "expected an array of values in column order or an object keyed by column, got {}",
                                other.type_name()
                            ),
                        );
                        pad_row(rows, columns.len());
                    }
                }
            }
            Ok(n_rows)
        }
        ("dataframe_records", Json::Array(items)) => decode_records(
            items,
            "dataframe_records",
            columns,
            max_rows,
            rows,
            scratch,
            problems,
        ),
        ("input_data" | "dataframe_split", Json::Object(entries)) => {
            decode_split(key, entries, columns, max_rows, rows, scratch, problems)
        }
        ("data" | "dataframe_records", other) => Err(DecodeError::UnknownShape(format!(
            "`{key}` must be an array of rows, got {}",
            other.type_name()
        ))),
        (_, other) => Err(DecodeError::UnknownShape(format!(
            "`{key}` must be an object with `columns` and `data`, got {}",
            other.type_name()
        ))),
    }
}

fn decode_records<'a>(
    items: Vec<Json<'a>>,
    key: &str,
    columns: &ModelColumns<'_>,
    max_rows: usize,
    rows: &mut Vec<RawValue<'a>>,
    scratch: &mut Scratch,
    problems: &mut Problems,
) -> Result<usize, DecodeError> {
    check_row_count(items.len(), max_rows)?;
    let n_rows = items.len();
    rows.reserve(n_rows.saturating_mul(columns.len()));
    for (row, item) in items.into_iter().enumerate() {
        match item {
            Json::Object(entries) => decode_record(row, entries, columns, rows, scratch, problems),
            other => {
                let place = if key.is_empty() {
                    "a list of records"
                } else {
                    "`dataframe_records`"
                };
                problems.push(
                    Some(row),
                    None,
                    format!(
                        "{place} must hold objects keyed by column, got {}",
                        other.type_name()
                    ),
                );
                pad_row(rows, columns.len());
            }
        }
    }
    Ok(n_rows)
}

/// `{"columns": [...], "index": [...], "data": [[...]]}` (Azure ML `input_data`, MLflow
/// `dataframe_split`); without `columns`, rows are positional.
fn decode_split<'a>(
    key: &str,
    entries: Vec<(Cow<'a, str>, Json<'a>)>,
    columns: &ModelColumns<'_>,
    max_rows: usize,
    rows: &mut Vec<RawValue<'a>>,
    scratch: &mut Scratch,
    problems: &mut Problems,
) -> Result<usize, DecodeError> {
    let mut names = None;
    let mut data = None;
    let mut index_len = None;
    for (name, value) in entries {
        match (name.as_ref(), value) {
            ("columns", Json::Array(items)) => names = Some(items),
            ("data", Json::Array(items)) => data = Some(items),
            ("index", Json::Array(items)) => index_len = Some(items.len()),
            ("columns" | "data" | "index", other) => {
                return Err(DecodeError::UnknownShape(format!(
                    "`{key}.{name}` must be an array, got {}",
                    other.type_name()
                )));
            }
            (other, _) => {
                return Err(DecodeError::UnknownShape(format!(
                    "unexpected key `{key}.{other}`; expected `columns`, `index` and `data`"
                )));
            }
        }
    }
    let Some(data) = data else {
        return Err(DecodeError::UnknownShape(format!(
            "`{key}` needs a `data` array of rows"
        )));
    };
    check_row_count(data.len(), max_rows)?;
    if let Some(index_len) = index_len
        && index_len != data.len()
    {
        return Err(DecodeError::UnknownShape(format!(
            "`{key}.index` has {index_len} entries but `{key}.data` has {} rows",
            data.len()
        )));
    }
    let n_rows = data.len();
    rows.reserve(n_rows.saturating_mul(columns.len()));
    match names {
        None => {
            for (row, item) in data.into_iter().enumerate() {
                decode_split_row(
                    row,
                    item,
                    columns,
                    rows,
                    problems,
                    |values, rows, problems| {
                        decode_positional(row, values, columns, rows, problems);
                    },
                );
            }
        }
        Some(names) => {
            // mapping[i] = model column of the request's i-th column.
            let mut mapping = std::mem::take(&mut scratch.mapping);
            if !map_columns(
                key,
                names,
                columns,
                &mut mapping,
                &mut scratch.seen,
                problems,
            ) {
                scratch.mapping = mapping;
                return problems_now(problems);
            }
            for (row, item) in data.into_iter().enumerate() {
                decode_split_row(
                    row,
                    item,
                    columns,
                    rows,
                    problems,
                    |values, rows, problems| {
                        if values.len() != mapping.len() {
                            problems.push(
                                Some(row),
                                None,
                                format!(
                                    "expected {} values (one per entry of `columns`), got {}",
                                    mapping.len(),
                                    values.len()
                                ),
                            );
                            pad_row(rows, columns.len());
                            return;
                        }
                        let start = rows.len();
                        pad_row(rows, columns.len());
                        for (value, target) in values.into_iter().zip(mapping.iter()) {
                            let Some(target) = *target else { continue };
                            if let (Some(column), Some(slot)) =
                                (columns.get(target), rows.get_mut(start + target))
                            {
                                *slot = convert(row, value, column, problems);
                            }
                        }
                    },
                );
            }
            scratch.mapping = mapping;
        }
    }
    Ok(n_rows)
}

fn problems_now(problems: &mut Problems) -> Result<usize, DecodeError> {
    Err(DecodeError::Invalid {
        details: std::mem::take(&mut problems.details),
        total: problems.total,
    })
}

fn decode_split_row<'a>(
    row: usize,
    item: Json<'a>,
    columns: &[InputColumn],
    rows: &mut Vec<RawValue<'a>>,
    problems: &mut Problems,
    on_values: impl FnOnce(Vec<Json<'a>>, &mut Vec<RawValue<'a>>, &mut Problems),
) {
    match item {
        Json::Array(values) => on_values(values, rows, problems),
        other => {
            problems.push(
                Some(row),
                None,
                format!("expected an array of values, got {}", other.type_name()),
            );
            pad_row(rows, columns.len());
        }
    }
}

/// Maps request column names onto model columns; reports unknown, duplicate and missing
/// columns. Returns whether the mapping is usable.
fn map_columns(
    key: &str,
    names: Vec<Json<'_>>,
    columns: &ModelColumns<'_>,
    mapping: &mut Vec<Option<usize>>,
    seen: &mut Vec<bool>,
    problems: &mut Problems,
) -> bool {
    let before = problems.total;
    mapping.clear();
    seen.clear();
    seen.resize(columns.len(), false);
    for (position, name) in names.into_iter().enumerate() {
        let Json::Str(name) = name else {
            problems.push(
                None,
                None,
                format!(
                    "`{key}.columns[{position}]` must be a column name (string), got {}",
                    name.type_name()
                ),
            );
            mapping.push(None);
            continue;
        };
        match find_column(columns, &name, position) {
            Some(index) => {
                if let Some(flag) = seen.get_mut(index) {
                    if *flag {
                        problems.push(None, Some(&name), "column given twice".to_owned());
                    }
                    *flag = true;
                }
                mapping.push(Some(index));
            }
            // A column the training file had but the model does not read (an id, personal
            // data, the target): clients send whole records, so it is skipped, not refused.
            None if columns.ignores(&name) => mapping.push(None),
            None => {
                problems.push(
                    None,
                    Some(&name),
                    "unknown column: the model has no such input".to_owned(),
                );
                mapping.push(None);
            }
        }
    }
    for (column, was_seen) in columns.iter().zip(seen.iter()) {
        if !was_seen {
            problems.push(None, Some(&column.name), "missing column".to_owned());
        }
    }
    problems.total == before
}

/// Finds a column by name, trying the expected position first (clients usually keep order).
fn find_column(columns: &[InputColumn], name: &str, position: usize) -> Option<usize> {
    if columns.get(position).is_some_and(|c| c.name == name) {
        return Some(position);
    }
    columns.iter().position(|c| c.name == name)
}

fn pad_row(rows: &mut Vec<RawValue<'_>>, n_cols: usize) {
    rows.resize(rows.len() + n_cols, RawValue::Missing);
}

fn decode_positional<'a>(
    row: usize,
    values: Vec<Json<'a>>,
    columns: &[InputColumn],
    rows: &mut Vec<RawValue<'a>>,
    problems: &mut Problems,
) {
    if values.len() != columns.len() {
        problems.push(
            Some(row),
            None,
            format!(
                "expected {} values in the model's column order ({}), got {}",
                columns.len(),
                ColumnNames(columns),
                values.len()
            ),
        );
        pad_row(rows, columns.len());
        return;
    }
    for (value, column) in values.into_iter().zip(columns) {
        let raw = convert(row, value, column, problems);
        rows.push(raw);
    }
}

struct ColumnNames<'a>(&'a [InputColumn]);

impl fmt::Display for ColumnNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        for (i, column) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&column.name)?;
        }
        if self.0.len() > SHOWN {
            write!(f, ", … {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

fn decode_record<'a>(
    row: usize,
    entries: Vec<(Cow<'a, str>, Json<'a>)>,
    columns: &ModelColumns<'_>,
    rows: &mut Vec<RawValue<'a>>,
    scratch: &mut Scratch,
    problems: &mut Problems,
) {
    let start = rows.len();
    pad_row(rows, columns.len());
    let seen = &mut scratch.seen;
    seen.clear();
    seen.resize(columns.len(), false);
    for (position, (name, value)) in entries.into_iter().enumerate() {
        let Some(index) = find_column(columns, &name, position) else {
            if !columns.ignores(&name) {
                problems.push(
                    Some(row),
                    Some(&name),
                    "unknown column: the model has no such input".to_owned(),
                );
            }
            continue;
        };
        if let Some(flag) = seen.get_mut(index) {
            if *flag {
                problems.push(Some(row), Some(&name), "column given twice".to_owned());
                continue;
            }
            *flag = true;
        }
        if let (Some(column), Some(slot)) = (columns.get(index), rows.get_mut(start + index)) {
            *slot = convert(row, value, column, problems);
        }
    }
    for (column, was_seen) in columns.iter().zip(seen.iter()) {
        if !was_seen {
            problems.push(Some(row), Some(&column.name), "missing column".to_owned());
        }
    }
}

/// Converts one JSON cell for `column`; records a problem and yields `Missing` when it is wrong.
fn convert<'a>(
    row: usize,
    value: Json<'a>,
    column: &InputColumn,
    problems: &mut Problems,
) -> RawValue<'a> {
    let kind = column.kind;
    let problem = match value {
        Json::Null => return RawValue::Missing,
        Json::Integer(integer) => match kind {
            ColumnKind::Categorical => return integer_category(integer),
            ColumnKind::Numeric | ColumnKind::Boolean => return RawValue::Number(integer as f64),
            ColumnKind::Date => "expected a date string, got a number".to_owned(),
        },
        Json::Number(number) => match kind {
            ColumnKind::Numeric | ColumnKind::Categorical | ColumnKind::Boolean => {
                return RawValue::Number(number);
            }
            ColumnKind::Date => "expected a date string, got a number".to_owned(),
        },
        Json::Bool(flag) => match kind {
            ColumnKind::Boolean => return RawValue::Bool(flag),
            _ => format!("expected {}, got a boolean", expected(kind)),
        },
        Json::Str(text) => match kind {
            ColumnKind::Numeric => match parse_number(&text) {
                Ok(number) => return number,
                Err(problem) => problem,
            },
            _ => return RawValue::Text(text),
        },
        other @ (Json::Array(_) | Json::Object(_)) => {
            format!("expected {}, got {}", expected(kind), other.type_name())
        }
    };
    problems.push(Some(row), Some(&column.name), problem);
    RawValue::Missing
}

/// Integers up to this magnitude are exact as `f64`, whose text is then the integer's decimal text.
pub(crate) const MAX_EXACT_INTEGER: u128 = 1 << 53;

/// A JSON integer sent for a categorical column: categories are compared by text, so an integer
/// too large for `f64` keeps its exact decimal text (`12345678901234567891`, not `…7900`).
pub(crate) fn integer_category(integer: i128) -> RawValue<'static> {
    if integer.unsigned_abs() <= MAX_EXACT_INTEGER {
        RawValue::Number(integer as f64)
    } else {
        RawValue::Text(Cow::Owned(integer.to_string()))
    }
}

fn expected(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Numeric => "a number",
        ColumnKind::Categorical => "a category label (string or number)",
        ColumnKind::Boolean => "a boolean",
        ColumnKind::Date => "a date string",
    }
}

/// A number sent as a string: accepted when it parses to a finite number; empty is missing.
fn parse_number(text: &str) -> Result<RawValue<'static>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(RawValue::Missing);
    }
    match trimmed.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(RawValue::Number(number)),
        Ok(_) => Err(format!(
            "non-finite number `{}` is not allowed",
            shorten(text)
        )),
        Err(_) => Err(format!(
            "expected a number, got the string `{}`",
            shorten(text)
        )),
    }
}

/// Keeps echoed client text short in error messages.
pub(crate) fn shorten(text: &str) -> Cow<'_, str> {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => Cow::Owned(format!("{}…", text.get(..end).unwrap_or_default())),
        None => Cow::Borrowed(text),
    }
}
