//! Reading the prediction log back: the raw inputs and positive-class probabilities of a period,
//! column by column, as the drift statistics take them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use finbeh_data::{ColumnKind, DateFormat, InputColumn, parse_date};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::error::MonitorError;
use crate::input_block_read::read_blocks;
use crate::log_store::{INPUT_BLOCKS_LAYOUT, PREDICTION_LOG_SCHEMA_VERSION, layout_version};

/// The error code finbeh-serve logs for a request whose cells it refused (wrong type, unknown
/// shape, a number out of range): the type-error rate counts these.
pub const REFUSED_INPUT_CODE: &str = "invalid_input";

/// A half-open period of the log, `[since_ms, until_ms)`, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPeriod {
    /// First millisecond included.
    pub since_ms: i64,
    /// First millisecond excluded.
    pub until_ms: i64,
}

impl LogPeriod {
    /// The period from `since` (a duration back from `now_ms`, such as `30m`, `24h`, `7d`, or
    /// an RFC 3339 UTC time) up to `now_ms`.
    ///
    /// # Errors
    /// [`MonitorError::BadTime`] quoting the value.
    pub fn parse_since(since: &str, now_ms: i64) -> Result<Self, MonitorError> {
        Ok(Self {
            since_ms: crate::time_spec::parse_since(since, now_ms)?,
            until_ms: now_ms.saturating_add(1),
        })
    }

    /// The `duration` up to `now_ms`.
    pub fn last(duration: std::time::Duration, now_ms: i64) -> Self {
        let span = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self {
            since_ms: now_ms.saturating_sub(span),
            until_ms: now_ms.saturating_add(1),
        }
    }
}

/// One model input column's logged values.
#[derive(Debug, Clone, PartialEq)]
pub enum LoggedValues {
    /// Numbers (dates as day numbers since 1970-01-01); NaN is a null.
    Numeric(Vec<f64>),
    /// Categories as codes into `labels`; `None` is a null.
    Categorical {
        /// One code per row.
        codes: Vec<Option<u32>>,
        /// The distinct labels.
        labels: Vec<String>,
    },
    /// Booleans; `None` is a null.
    Boolean(Vec<Option<bool>>),
}

/// The scored rows of a period, read from the prediction log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedInputs {
    /// Scored rows read.
    pub rows: usize,
    /// Logged requests refused for their input ([`REFUSED_INPUT_CODE`]).
    pub refused_requests: usize,
    /// Per model input column, in the order asked for.
    pub columns: Vec<(String, LoggedValues)>,
    /// The positive-class probability of each row (binary models; empty otherwise).
    pub positive_probability: Vec<f64>,
    /// Model name and version of the newest row, if any.
    pub model: Option<(String, String)>,
}

impl LoggedInputs {
    /// Refused requests / (scored rows + refused requests): the type-error rate (0 with no rows).
    pub fn type_error_rate(&self) -> f64 {
        let total = self.rows + self.refused_requests;
        if total == 0 {
            0.0
        } else {
            self.refused_requests as f64 / total as f64
        }
    }
}

/// Opens a prediction log read-only, checking its layout version.
///
/// # Errors
/// [`MonitorError::Database`] naming the file, [`MonitorError::SchemaVersion`] /
/// [`MonitorError::NotAPredictionLog`] for a file this build does not read.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, MonitorError> {
    let fail = |action| {
        let path = path.to_path_buf();
        move |source| MonitorError::Database {
            path,
            action,
            source,
        }
    };
    if !path.is_file() {
        return Err(MonitorError::NoDatabase {
            path: path.to_path_buf(),
        });
    }
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail("open"))?;
    let version = layout_version(&connection).map_err(|_| MonitorError::NotAPredictionLog {
        path: path.to_path_buf(),
    })?;
    match version {
        // Every layout keeps the `predictions` table as version 1 made it, so a log not yet
        // migrated (read-only: it cannot be) reads the same.
        Some(found)
            if found
                .parse::<u32>()
                .is_ok_and(|version| (1..=PREDICTION_LOG_SCHEMA_VERSION).contains(&version)) =>
        {
            Ok(connection)
        }
        Some(found) => Err(MonitorError::SchemaVersion {
            path: path.to_path_buf(),
            found,
            expected: PREDICTION_LOG_SCHEMA_VERSION,
        }),
        None => Err(MonitorError::NotAPredictionLog {
            path: path.to_path_buf(),
        }),
    }
}

/// The model name and version of the newest logged row of `period`, if any.
///
/// # Errors
/// As [`read_logged_inputs`].
pub fn logged_model(
    path: &Path,
    period: LogPeriod,
) -> Result<Option<(String, String)>, MonitorError> {
    newest_model(&open_read_only(path)?, path, period)
}

fn newest_model(
    connection: &Connection,
    path: &Path,
    period: LogPeriod,
) -> Result<Option<(String, String)>, MonitorError> {
    connection
        .query_row(
            "SELECT model_name, model_version FROM predictions \
             WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY id DESC LIMIT 1",
            [period.since_ms, period.until_ms],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(|source| MonitorError::Database {
            path: path.to_path_buf(),
            action: "read the newest row",
            source,
        })
}

/// The inputs of every scored row of `period` for `columns` (a model's input columns), and
/// each row's positive-class probability. A key a row lacks is a null; keys not asked for are
/// skipped. Memory: one value per row and column.
///
/// # Errors
/// As [`open_read_only`]; [`MonitorError::BadLogRow`] naming the row id when a logged input is
/// not a JSON object.
pub fn read_logged_inputs(
    path: &Path,
    period: LogPeriod,
    columns: &[InputColumn],
) -> Result<LoggedInputs, MonitorError> {
    let connection = open_read_only(path)?;
    let new_builders =
        || -> Vec<Builder> { columns.iter().map(|c| Builder::new(c.kind)).collect() };
    let mut out = LoggedInputs {
        rows: 0,
        refused_requests: 0,
        columns: Vec::new(),
        positive_probability: Vec::new(),
        model: None,
    };
    let mut builders = new_builders();
    let from_blocks = if has_input_blocks(&connection, path)? {
        read_blocks(&connection, path, period, columns, &mut builders)?
    } else {
        None
    };
    match from_blocks {
        Some(tally) => {
            out.rows = tally.rows;
            out.refused_requests = tally.refused;
            out.positive_probability = tally.positive;
        }
        None => {
            builders = new_builders();
            read_json_rows(&connection, path, period, columns, &mut builders, &mut out)?;
        }
    }
    out.model = newest_model(&connection, path, period)?;
    if out.positive_probability.len() != out.rows {
        out.positive_probability.clear();
    }
    out.columns = columns
        .iter()
        .zip(builders)
        .map(|(c, b)| (c.name.clone(), b.finish()))
        .collect();
    Ok(out)
}

/// Whether the log has input blocks (layout 4 and later; an older log read-only has not).
fn has_input_blocks(connection: &Connection, path: &Path) -> Result<bool, MonitorError> {
    let version = layout_version(connection).map_err(|source| MonitorError::Database {
        path: path.to_path_buf(),
        action: "read the layout version",
        source,
    })?;
    Ok(version
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|v| v >= INPUT_BLOCKS_LAYOUT))
}

/// Reads the period's rows from their logged JSON (logs before layout 4, or blocks that do not
/// match the rows), into `builders` and `out`'s counts and probabilities.
fn read_json_rows(
    connection: &Connection,
    path: &Path,
    period: LogPeriod,
    columns: &[InputColumn],
    builders: &mut [Builder],
    out: &mut LoggedInputs,
) -> Result<(), MonitorError> {
    let fail = |action| {
        move |source| MonitorError::Database {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let index: HashMap<&str, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let mut statement = connection
        .prepare(
            "SELECT id, inputs, probabilities, error_code \
             FROM predictions WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY id",
        )
        .map_err(fail("prepare the read"))?;
    let mut rows = statement
        .query([period.since_ms, period.until_ms])
        .map_err(fail("read the predictions"))?;
    let mut seen = vec![false; columns.len()];
    while let Some(row) = rows.next().map_err(fail("read the predictions"))? {
        let id: i64 = row.get(0).map_err(fail("read a row id"))?;
        let inputs = row
            .get_ref(1)
            .map_err(fail("read inputs"))?
            .as_str_or_null();
        let Ok(Some(inputs)) = inputs else {
            let code = row
                .get_ref(3)
                .map_err(fail("read error_code"))?
                .as_str_or_null();
            if matches!(code, Ok(Some(REFUSED_INPUT_CODE))) {
                out.refused_requests += 1;
            }
            continue;
        };
        seen.iter_mut().for_each(|s| *s = false);
        let mut deserializer = serde_json::Deserializer::from_str(inputs);
        RowSeed {
            names: &names,
            index: &index,
            builders: &mut *builders,
            seen: &mut seen,
        }
        .deserialize(&mut deserializer)
        .map_err(|error| MonitorError::BadLogRow {
            path: path.to_path_buf(),
            id,
            problem: error.to_string(),
        })?;
        for (builder, seen) in builders.iter_mut().zip(&seen) {
            if !seen {
                builder.push(Cell::Null);
            }
        }
        out.rows += 1;
        if let Ok(Some(probabilities)) = row
            .get_ref(2)
            .map_err(fail("read probabilities"))?
            .as_str_or_null()
            && let Some(p) = binary_positive(probabilities)
        {
            out.positive_probability.push(p);
        }
    }
    Ok(())
}

/// A column of texts (`None` = missing) read as a model column of `kind`, as logged cells are:
/// numbers parsed, booleans by their words, dates in the format that parses most of them.
pub(crate) fn values_from_texts<'a>(
    kind: ColumnKind,
    texts: impl Iterator<Item = Option<&'a str>>,
) -> LoggedValues {
    let mut builder = Builder::new(kind);
    for text in texts {
        builder.push(text.map_or(Cell::Null, |t| Cell::Text(Cow::Borrowed(t))));
    }
    builder.finish()
}

/// The second of exactly two numbers in a JSON array (`[0.3,0.7]` → 0.7).
pub(crate) fn binary_positive(probabilities: &str) -> Option<f64> {
    let inner = probabilities.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut parts = inner.split(',');
    let _negative = parts.next()?;
    let positive = parts.next()?.trim().parse().ok()?;
    parts.next().is_none().then_some(positive)
}

/// One logged cell.
pub(crate) enum Cell<'a> {
    Null,
    Number(f64),
    Text(Cow<'a, str>),
    Bool(bool),
}

/// One column's values as they are read.
pub(crate) enum Builder {
    Numeric(Vec<f64>),
    Categorical {
        codes: Vec<Option<u32>>,
        labels: Vec<String>,
        lookup: HashMap<String, u32>,
    },
    Boolean(Vec<Option<bool>>),
    /// Texts kept as categories until the format is known, then turned into day numbers.
    Date {
        codes: Vec<Option<u32>>,
        labels: Vec<String>,
        lookup: HashMap<String, u32>,
    },
}

impl Builder {
    pub(crate) fn new(kind: ColumnKind) -> Self {
        match kind {
            ColumnKind::Numeric => Builder::Numeric(Vec::new()),
            ColumnKind::Boolean => Builder::Boolean(Vec::new()),
            ColumnKind::Categorical => Builder::Categorical {
                codes: Vec::new(),
                labels: Vec::new(),
                lookup: HashMap::new(),
            },
            ColumnKind::Date => Builder::Date {
                codes: Vec::new(),
                labels: Vec::new(),
                lookup: HashMap::new(),
            },
        }
    }

    pub(crate) fn push(&mut self, cell: Cell<'_>) {
        match self {
            Builder::Numeric(values) => values.push(match cell {
                Cell::Number(n) => n,
                Cell::Text(text) => text.trim().parse().unwrap_or(f64::NAN),
                Cell::Bool(b) => f64::from(u8::from(b)),
                Cell::Null => f64::NAN,
            }),
            Builder::Boolean(values) => values.push(match cell {
                Cell::Bool(b) => Some(b),
                Cell::Number(n) => Some(n != 0.0),
                Cell::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" | "y" | "t" => Some(true),
                    "false" | "no" | "0" | "n" | "f" => Some(false),
                    _ => None,
                },
                Cell::Null => None,
            }),
            Builder::Categorical {
                codes,
                labels,
                lookup,
            }
            | Builder::Date {
                codes,
                labels,
                lookup,
            } => {
                let text: Option<Cow<'_, str>> = match cell {
                    Cell::Text(text) => Some(text),
                    Cell::Number(n) => Some(Cow::Owned(n.to_string())),
                    Cell::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
                    Cell::Null => None,
                };
                codes.push(text.map(|text| match lookup.get(text.as_ref()) {
                    Some(&code) => code,
                    None => {
                        let code = u32::try_from(labels.len()).unwrap_or(u32::MAX);
                        labels.push(text.clone().into_owned());
                        lookup.insert(text.into_owned(), code);
                        code
                    }
                }));
            }
        }
    }

    fn finish(self) -> LoggedValues {
        match self {
            Builder::Numeric(values) => LoggedValues::Numeric(values),
            Builder::Boolean(values) => LoggedValues::Boolean(values),
            Builder::Categorical { codes, labels, .. } => {
                LoggedValues::Categorical { codes, labels }
            }
            Builder::Date { codes, labels, .. } => {
                let format = best_date_format(&labels);
                let days: Vec<f64> = labels
                    .iter()
                    .map(|text| parse_date(text, format).map_or(f64::NAN, f64::from))
                    .collect();
                LoggedValues::Numeric(
                    codes
                        .iter()
                        .map(|code| {
                            code.and_then(|c| days.get(c as usize).copied())
                                .unwrap_or(f64::NAN)
                        })
                        .collect(),
                )
            }
        }
    }
}

/// The date format that parses most of `labels` (ISO is always accepted as well); the earlier
/// in [`DateFormat::ALL`] wins a tie, as when the training file was read.
fn best_date_format(labels: &[String]) -> DateFormat {
    let mut best = (DateFormat::Iso, 0);
    for format in DateFormat::ALL {
        let parsed = labels
            .iter()
            .filter(|text| parse_date(text, format).is_some())
            .count();
        if parsed > best.1 {
            best = (format, parsed);
        }
    }
    best.0
}

/// Deserializes one logged input object into the column builders.
struct RowSeed<'b, 'i> {
    /// Column names in model order: the server logs keys in this order, so the next expected
    /// name is compared first and the map is only a fallback.
    names: &'b [&'i str],
    index: &'b HashMap<&'i str, usize>,
    builders: &'b mut [Builder],
    seen: &'b mut [bool],
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object of input values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut next = 0;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let position = if self.names.get(next) == Some(&key.as_ref()) {
                Some(next)
            } else {
                self.index.get(key.as_ref()).copied()
            };
            match position {
                Some(i) => {
                    next = i + 1;
                    let cell = map.next_value_seed(CellSeed)?;
                    if let (Some(builder), Some(seen)) =
                        (self.builders.get_mut(i), self.seen.get_mut(i))
                        && !*seen
                    {
                        builder.push(cell);
                        *seen = true;
                    }
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct CellSeed;

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Cell<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cell<'de>, D::Error> {
        deserializer.deserialize_any(CellVisitor)
    }
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = Cell<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("null, a number, a string or a boolean")
    }
    fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Cell<'de>, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cell<'de>, E> {
        Ok(Cell::Number(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cell<'de>, E> {
        Ok(Cell::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cell<'de>, E> {
        Ok(Cell::Number(v as f64))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(Cow::Owned(v.to_owned())))
    }
}
