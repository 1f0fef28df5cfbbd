//! Streaming CSV reader: header checks, schema inference on a sample, typed columnar storage,
//! row-level errors (strict) or a reject file (lenient), duplicate detection.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use csv::ByteRecord;

use crate::date::parse_date;
use crate::error::DataError;
use crate::excerpt::{cell_excerpt, personal_data_mask, record_excerpt};
use crate::params::{DataValidParams, DeriveRuleKind};
use crate::pipeline::FittedPipeline;
use crate::records::{Read, Record, RecordReader, UnterminatedQuote};
use crate::report::{Issue, Severity};
use crate::schema::{ColumnSchema, Role, Schema, ValueKind, infer_column, numeric_shortfall};
use crate::table::{Column, MISSING_BOOL, MISSING_CODE, MISSING_DAY, Table};
use crate::text::{
    NOT_A_NUMBER, TOO_LARGE_FOR_F32, fits_f32, is_missing, parse_bool, parse_number,
    parse_number_with,
};

/// Rows read before the schema is inferred.
pub const INFERENCE_SAMPLE_ROWS: usize = 10_000;

/// A fast non-cryptographic hasher (FxHash) for category dictionaries and duplicate detection.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn finish(&self) -> u64 {
        // SplitMix finalizer so that low bits are well mixed.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The outcome of reading a file.
pub(crate) struct Ingested {
    pub table: Table,
    pub schema: Schema,
    /// Physical lines of the file, the header included.
    pub lines_read: u64,
    /// Records (rows) read, rejected ones included.
    pub rows_read: usize,
    pub rejected: usize,
    pub duplicate_rows: usize,
    pub missing: Vec<usize>,
    /// Findings of ingestion for the report (mostly-numeric columns read as text).
    pub issues: Vec<Issue>,
}

enum Builder {
    Numeric(Vec<f64>),
    Categorical {
        codes: Vec<u32>,
        lookup: FxMap<Box<str>, u32>,
        labels: Vec<String>,
    },
    Boolean(Vec<u8>),
    Date {
        days: Vec<i32>,
        format: crate::date::DateFormat,
    },
    Skip,
}

impl Builder {
    fn into_column(self) -> Column {
        match self {
            Builder::Numeric(v) => Column::Numeric(v),
            Builder::Categorical { codes, labels, .. } => Column::Categorical { codes, labels },
            Builder::Boolean(v) => Column::Boolean(v),
            Builder::Date { days, .. } => Column::Date(days),
            Builder::Skip => Column::Skipped,
        }
    }
}

#[derive(Clone, Copy)]
enum Parsed {
    Num(f64),
    Cat,
    Bool(u8),
    Day(i32),
    Skip,
}

struct RowProblem {
    column: String,
    value: String,
    problem: String,
}

pub(crate) fn read_error(file: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        file: file.to_path_buf(),
        source,
    }
}

struct Rejects {
    writer: csv::Writer<BufWriter<File>>,
    path: PathBuf,
}

impl Rejects {
    fn write(&mut self, line: u64, reason: &str, rec: &Record) -> Result<(), DataError> {
        let line_text = line.to_string();
        let mut out = ByteRecord::new();
        out.push_field(line_text.as_bytes());
        out.push_field(reason.as_bytes());
        for f in rec.iter() {
            out.push_field(f);
        }
        self.writer
            .write_byte_record(&out)
            .map_err(|e| DataError::Csv {
                file: self.path.clone(),
                source: e,
            })
    }
}

/// Columns that must be stored even when they are not features.
fn must_store(name: &str, params: &DataValidParams) -> bool {
    let p = params.params();
    p.date_differences
        .iter()
        .any(|d| d.start == name || d.end == name)
        || params
            .target()
            .and_then(|t| p.derive.get(t))
            .is_some_and(|r| r.from == name)
}

fn check_overrides(
    names: &[String],
    params: &DataValidParams,
    file: &Path,
) -> Result<(), DataError> {
    let p = params.params();
    let unknown = |field: &str, column: &str| DataError::UnknownColumn {
        field: field.to_string(),
        column: column.to_string(),
        file: file.to_path_buf(),
    };
    let has = |c: &str| names.iter().any(|n| n == c);
    for (field, cols) in [
        ("numeric", &p.numeric),
        ("categorical", &p.categorical),
        ("boolean", &p.boolean),
        ("date", &p.date),
        ("id", &p.id),
        ("ignore", &p.ignore),
        ("pii_columns", &p.pii_columns),
        ("allow_leakage", &p.allow_leakage),
    ] {
        if let Some(c) = cols.iter().find(|c| !has(c)) {
            return Err(unknown(field, c));
        }
    }
    for d in &p.date_differences {
        for c in [&d.start, &d.end] {
            if !has(c) {
                return Err(unknown("date_differences", c));
            }
        }
    }
    for (name, rule) in &p.derive {
        if has(name) {
            return Err(DataError::InvalidSetting {
                field: format!("derive.{name}"),
                problem: format!("`{name}` is already a column of {}", file.display()),
            });
        }
        if !has(&rule.from) {
            return Err(unknown(&format!("derive.{name}.from"), &rule.from));
        }
    }
    match params.target() {
        None => Err(DataError::NoTarget),
        Some(t) if !has(t) && !p.derive.contains_key(t) => Err(DataError::MissingTarget {
            target: t.to_string(),
            file: file.to_path_buf(),
            available: names.join(", "),
        }),
        Some(_) => Ok(()),
    }
}

fn builder_for(col: &ColumnSchema, params: &DataValidParams) -> Builder {
    let derive_rule = params
        .target()
        .and_then(|t| params.params().derive.get(t))
        .filter(|r| r.from == col.name);
    if col.role == Role::Target {
        // Class labels are kept as text.
        return Builder::Categorical {
            codes: Vec::new(),
            lookup: FxMap::default(),
            labels: Vec::new(),
        };
    }
    if col.role != Role::Feature && !must_store(&col.name, params) {
        return Builder::Skip;
    }
    match col.kind {
        ValueKind::Numeric => Builder::Numeric(Vec::new()),
        ValueKind::Boolean => Builder::Boolean(Vec::new()),
        ValueKind::Date { format } => Builder::Date {
            days: Vec::new(),
            format,
        },
        // A text column that feeds a threshold rule must be numeric: it fails on its first value.
        ValueKind::Text | ValueKind::Empty
            if derive_rule.is_some_and(|r| r.rule != DeriveRuleKind::Equals) =>
        {
            Builder::Numeric(Vec::new())
        }
        ValueKind::Categorical | ValueKind::Text | ValueKind::Empty => Builder::Categorical {
            codes: Vec::new(),
            lookup: FxMap::default(),
            labels: Vec::new(),
        },
    }
}

struct Loader<'p> {
    file: PathBuf,
    params: &'p DataValidParams,
    names: Vec<String>,
    /// Personal-data columns, never quoted in errors.
    masked: Vec<bool>,
    builders: Vec<Builder>,
    required: Vec<bool>,
    parsed: Vec<Parsed>,
    missing: Vec<usize>,
    hashes: Vec<u64>,
    n_rows: usize,
    rejected: usize,
    rejects: Option<Rejects>,
}

impl Loader<'_> {
    fn reject_or_fail(&mut self, line: u64, rec: &Record, p: RowProblem) -> Result<(), DataError> {
        match &mut self.rejects {
            Some(rejects) => {
                let reason = format!("column `{}`: {} (value {:?})", p.column, p.problem, p.value);
                rejects.write(line, &reason, rec)?;
                self.rejected += 1;
                Ok(())
            }
            None => Err(DataError::Located {
                file: self.file.clone(),
                row: line,
                column: p.column,
                value: p.value,
                problem: p.problem,
            }),
        }
    }

    /// A quoted field that never closed: its first line is the bad record.
    fn unterminated(&mut self, q: &UnterminatedQuote) -> Result<(), DataError> {
        let limits = self.params.quote_limits();
        let how = if q.at_end_of_file {
            format!(
                "is never closed: it runs on to the end of the file ({} lines, {} bytes)",
                q.lines, q.bytes
            )
        } else {
            format!(
                "is still open after {} lines, {} bytes (limits: data.max_quoted_field_lines = {}, data.max_quoted_field_bytes = {})",
                q.lines, q.bytes, limits.max_lines, limits.max_bytes
            )
        };
        // The open field runs over the later columns: it is masked if any of them is.
        let mut masked = self.masked.clone();
        if let Some(open) = masked.get_mut(q.field) {
            *open = self.masked.iter().skip(q.field).any(|&m| m);
        }
        let p = RowProblem {
            column: self
                .names
                .get(q.field)
                .cloned()
                .unwrap_or_else(|| "*".into()),
            value: record_excerpt(q.first_line.iter(), &masked, self.params.delimiter()),
            problem: format!("unterminated quote: the quoted field that starts on this line {how}"),
        };
        self.reject_or_fail(q.line, &q.first_line, p)
    }

    fn add(&mut self, rec: &Record) -> Result<(), DataError> {
        let line = rec.line();
        if rec.len() != self.names.len() {
            let p = RowProblem {
                column: "*".into(),
                value: record_excerpt(rec.iter(), &self.masked, self.params.delimiter()),
                problem: format!(
                    "ragged row: {} fields, the header has {}",
                    rec.len(),
                    self.names.len()
                ),
            };
            return self.reject_or_fail(line, rec, p);
        }
        if let Err(p) = self.parse(rec) {
            return self.reject_or_fail(line, rec, p);
        }
        self.push(rec);
        Ok(())
    }

    /// Phase 1: parse every stored cell; nothing is stored yet, so a bad row leaves no trace.
    fn parse(&mut self, rec: &Record) -> Result<(), RowProblem> {
        let separator = self.params.thousands_separator();
        for (i, ((field, builder), slot)) in rec
            .iter()
            .zip(&self.builders)
            .zip(self.parsed.iter_mut())
            .enumerate()
        {
            let problem = |value: &str, problem: String| RowProblem {
                column: self.names.get(i).cloned().unwrap_or_default(),
                value: cell_excerpt(
                    value.as_bytes(),
                    self.masked.get(i).copied().unwrap_or(false),
                ),
                problem,
            };
            if matches!(builder, Builder::Skip) {
                *slot = Parsed::Skip;
                continue;
            }
            let text = std::str::from_utf8(field)
                .map_err(|_| problem(&String::from_utf8_lossy(field), "not valid UTF-8".into()))?
                .trim();
            let missing = is_missing(text);
            if missing && self.required.get(i).copied().unwrap_or(false) {
                return Err(problem(
                    text,
                    "missing value in a column the target is built from".into(),
                ));
            }
            *slot = match builder {
                Builder::Numeric(_) if missing => Parsed::Num(f64::NAN),
                Builder::Numeric(_) => {
                    let x = parse_number_with(text, separator).ok_or_else(|| {
                        problem(text, format!("{NOT_A_NUMBER} in a numeric column (set data.categorical to treat it as text)"))
                    })?;
                    if !fits_f32(x) {
                        return Err(problem(text, TOO_LARGE_FOR_F32.into()));
                    }
                    Parsed::Num(x)
                }
                Builder::Boolean(_) if missing => Parsed::Bool(MISSING_BOOL),
                Builder::Boolean(_) => {
                    Parsed::Bool(u8::from(parse_bool(text).ok_or_else(|| {
                        problem(text, "not a boolean (true/false, yes/no, 1/0)".into())
                    })?))
                }
                Builder::Date { .. } if missing => Parsed::Day(MISSING_DAY),
                Builder::Date { format, .. } => {
                    Parsed::Day(parse_date(text, *format).ok_or_else(|| {
                        problem(
                            text,
                            format!(
                                "not a date in the column's format {} (or YYYY-MM-DD)",
                                format.pattern()
                            ),
                        )
                    })?)
                }
                Builder::Categorical { .. } => Parsed::Cat,
                Builder::Skip => Parsed::Skip,
            };
        }
        Ok(())
    }

    /// The stored columns as a table (the loader's bookkeeping is dropped).
    fn into_table(self) -> Table {
        Table {
            columns: self
                .builders
                .into_iter()
                .map(Builder::into_column)
                .collect(),
            names: self.names,
            n_rows: self.n_rows,
        }
    }

    /// Phase 2: store the parsed row.
    fn push(&mut self, rec: &Record) {
        let mut hasher = FxHasher::default();
        for (i, ((field, builder), parsed)) in rec
            .iter()
            .zip(self.builders.iter_mut())
            .zip(&self.parsed)
            .enumerate()
        {
            hasher.write(field);
            hasher.write_u64(0xFF);
            let missing_now = match (builder, *parsed) {
                (Builder::Numeric(v), Parsed::Num(x)) => {
                    v.push(x);
                    x.is_nan()
                }
                (Builder::Boolean(v), Parsed::Bool(b)) => {
                    v.push(b);
                    b == MISSING_BOOL
                }
                (Builder::Date { days, .. }, Parsed::Day(d)) => {
                    days.push(d);
                    d == MISSING_DAY
                }
                (
                    Builder::Categorical {
                        codes,
                        lookup,
                        labels,
                    },
                    Parsed::Cat,
                ) => {
                    let text = std::str::from_utf8(field).unwrap_or("").trim();
                    if is_missing(text) {
                        codes.push(MISSING_CODE);
                        true
                    } else {
                        let code = match lookup.get(text) {
                            Some(&c) => c,
                            None => {
                                let c = labels.len() as u32;
                                lookup.insert(text.into(), c);
                                labels.push(text.to_string());
                                c
                            }
                        };
                        codes.push(code);
                        false
                    }
                }
                _ => std::str::from_utf8(field).is_ok_and(is_missing),
            };
            if missing_now && let Some(m) = self.missing.get_mut(i) {
                *m += 1;
            }
        }
        self.hashes.push(hasher.finish());
        self.n_rows += 1;
    }
}

/// Opens a CSV file and reads its header (names trimmed, BOM removed, unique and non-empty).
pub(crate) fn open_csv(
    file: &Path,
    params: &DataValidParams,
) -> Result<(CsvReader, Vec<String>), DataError> {
    let handle = File::open(file).map_err(|e| read_error(file, e))?;
    let mut reader = RecordReader::new(
        BufReader::with_capacity(1 << 20, handle),
        params.delimiter(),
        params.quote_limits(),
    );
    let mut header = Record::default();
    match reader.read(&mut header).map_err(|e| read_error(file, e))? {
        Read::Record => {}
        Read::End => {
            return Err(DataError::Empty {
                file: file.to_path_buf(),
                problem: "file is empty".into(),
            });
        }
        Read::Unterminated(q) => {
            return Err(DataError::BadHeader {
                file: file.to_path_buf(),
                problem: format!(
                    "unterminated quote in column {} of the header (line {})",
                    q.field + 1,
                    q.line
                ),
            });
        }
    }
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    let mut seen = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        let name = std::str::from_utf8(h)
            .map_err(|_| DataError::BadHeader {
                file: file.to_path_buf(),
                problem: format!("column {} is not valid UTF-8", i + 1),
            })?
            .trim()
            .trim_start_matches('\u{feff}')
            .to_string();
        if name.is_empty() {
            return Err(DataError::BadHeader {
                file: file.to_path_buf(),
                problem: format!("column {} has an empty name", i + 1),
            });
        }
        if let Some(first) = seen.insert(name.clone(), i) {
            return Err(DataError::BadHeader {
                file: file.to_path_buf(),
                problem: format!(
                    "column name `{name}` appears twice (columns {} and {})",
                    first + 1,
                    i + 1
                ),
            });
        }
        names.push(name);
    }
    Ok((reader, names))
}

type CsvReader = RecordReader<BufReader<File>>;

/// One step of reading the data records.
enum Next {
    /// A record is in the buffer.
    Record,
    /// A line opens a quoted field that never closes; the lines after it come next.
    Unterminated(UnterminatedQuote),
}

fn next_record(
    reader: &mut CsvReader,
    rec: &mut Record,
    file: &Path,
) -> Result<Option<Next>, DataError> {
    Ok(match reader.read(rec).map_err(|e| read_error(file, e))? {
        Read::Record => Some(Next::Record),
        Read::Unterminated(q) => Some(Next::Unterminated(q)),
        Read::End => None,
    })
}

/// Read a CSV file into a typed table, inferring the schema from the first rows.
pub(crate) fn read_csv(file: &Path, params: &DataValidParams) -> Result<Ingested, DataError> {
    let (mut reader, names) = open_csv(file, params)?;
    check_overrides(&names, params, file)?;

    let mut rejects = match (params.params().lenient, &params.params().reject_path) {
        (true, Some(path)) => {
            let out = File::create(path).map_err(|e| DataError::Io {
                file: path.clone(),
                source: e,
            })?;
            let mut writer = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(BufWriter::new(out));
            let mut head = vec!["line".to_string(), "reason".to_string()];
            head.extend(names.iter().cloned());
            writer.write_record(&head).map_err(|e| DataError::Csv {
                file: path.clone(),
                source: e,
            })?;
            Some(Rejects {
                writer,
                path: path.clone(),
            })
        }
        _ => None,
    };

    // Sample for inference; ragged rows and unterminated quotes are set aside and handled
    // (error or reject) in order below. Each kept record holds only its own bytes.
    let mut sample: Vec<Next> = Vec::new();
    let mut sample_records: Vec<Record> = Vec::new();
    let mut rec = Record::default();
    let mut rows_read = 0usize;
    while sample_records.len() < INFERENCE_SAMPLE_ROWS {
        let Some(next) = next_record(&mut reader, &mut rec, file)? else {
            break;
        };
        rows_read += 1;
        if let Next::Record = next {
            sample_records.push(rec.compact());
        }
        sample.push(next);
    }
    if sample.is_empty() {
        return Err(DataError::Empty {
            file: file.to_path_buf(),
            problem: "header but no data rows".into(),
        });
    }
    let n_cols = names.len();
    let good_rows = sample_records.iter().filter(|r| r.len() == n_cols).count();
    let mut columns = Vec::with_capacity(n_cols);
    let mut issues = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (values, lines): (Vec<&str>, Vec<u64>) = sample_records
            .iter()
            .filter(|r| r.len() == n_cols)
            .filter_map(|r| Some((std::str::from_utf8(r.get(i)?).ok()?.trim(), r.line())))
            .filter(|(v, _)| !is_missing(v))
            .unzip();
        let shortfall = numeric_shortfall(&values, &lines, params.thousands_separator());
        let column = infer_column(name, &values, good_rows, params, shortfall.as_ref());
        if let Some(short) = shortfall.filter(|_| column.kind != ValueKind::Numeric) {
            issues.push(Issue {
                severity: Severity::Warning,
                column: Some(name.clone()),
                message: short.warning(),
            });
        }
        columns.push(column);
    }
    let schema = Schema {
        columns,
        sample_rows: good_rows,
    };

    let target_rule = params.target().and_then(|t| params.params().derive.get(t));
    let required = names
        .iter()
        .map(|n| params.target() == Some(n.as_str()) || target_rule.is_some_and(|r| &r.from == n))
        .collect();
    let mut loader = Loader {
        file: file.to_path_buf(),
        params,
        masked: personal_data_mask(&names, params, Some(&schema)),
        builders: schema
            .columns
            .iter()
            .map(|c| builder_for(c, params))
            .collect(),
        names,
        required,
        parsed: vec![Parsed::Skip; n_cols],
        missing: vec![0; n_cols],
        hashes: Vec::new(),
        n_rows: 0,
        rejected: 0,
        rejects: rejects.take(),
    };
    let mut kept = sample_records.iter();
    for next in &sample {
        match next {
            Next::Record => {
                if let Some(r) = kept.next() {
                    loader.add(r)?;
                }
            }
            Next::Unterminated(q) => loader.unterminated(q)?,
        }
    }
    drop(sample);
    drop(sample_records);
    while let Some(next) = next_record(&mut reader, &mut rec, file)? {
        rows_read += 1;
        match next {
            Next::Record => loader.add(&rec)?,
            Next::Unterminated(q) => loader.unterminated(&q)?,
        }
    }
    if let Some(mut r) = loader.rejects.take() {
        r.writer.flush().map_err(|e| DataError::Io {
            file: r.path.clone(),
            source: e,
        })?;
    }
    if loader.n_rows == 0 {
        return Err(DataError::Empty {
            file: file.to_path_buf(),
            problem: "every data row was rejected".into(),
        });
    }
    let mut hashes = std::mem::take(&mut loader.hashes);
    hashes.sort_unstable();
    let unique = {
        let mut set_count = 0usize;
        let mut prev = None;
        for h in &hashes {
            if prev != Some(*h) {
                set_count += 1;
                prev = Some(*h);
            }
        }
        set_count
    };
    let duplicate_rows = hashes.len() - unique;
    drop(hashes);

    let rejected = loader.rejected;
    let missing = std::mem::take(&mut loader.missing);
    Ok(Ingested {
        table: loader.into_table(),
        schema,
        lines_read: reader.lines_read(),
        rows_read,
        rejected,
        duplicate_rows,
        missing,
        issues,
    })
}

/// Reads a CSV file of raw records with a FITTED pipeline's schema (nothing is re-inferred):
/// every input column must be in the header (extra columns are skipped, never stored), values
/// are parsed exactly as ingestion parses them, and a bad value is an error naming the file,
/// line, column and value. With `target = Some((column, classes))` the labels are mapped to
/// class indices (a label the model does not know is an error).
pub fn load_records(
    file: &Path,
    pipeline: &FittedPipeline,
    target: Option<(&str, &[String])>,
    params: &DataValidParams,
) -> Result<(Table, Option<Vec<usize>>), DataError> {
    let (mut reader, names) = open_csv(file, params)?;
    let inputs = pipeline.input_columns();
    let missing: Vec<&str> = inputs
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| !names.iter().any(|h| h == n))
        .collect();
    if !missing.is_empty() {
        return Err(DataError::MissingInputColumns {
            file: file.to_path_buf(),
            missing: missing.join(", "),
        });
    }
    let target_index = match target {
        Some((t, _)) => {
            Some(
                names
                    .iter()
                    .position(|n| n == t)
                    .ok_or_else(|| DataError::MissingTarget {
                        target: t.to_string(),
                        file: file.to_path_buf(),
                        available: names.join(", "),
                    })?,
            )
        }
        None => None,
    };
    let kinds = pipeline.input_value_kinds();
    let columns = names
        .iter()
        .map(|name| {
            let input = inputs.iter().position(|c| &c.name == name);
            ColumnSchema {
                name: name.clone(),
                kind: input
                    .and_then(|i| kinds.get(i).copied())
                    .unwrap_or(ValueKind::Text),
                role: if input.is_some() {
                    Role::Feature
                } else {
                    Role::Ignored
                },
                reason: "from the fitted pipeline".into(),
                sample_distinct: 0,
            }
        })
        .collect::<Vec<_>>();
    let n_cols = names.len();
    let builders = columns
        .iter()
        .map(|c| match c.role {
            Role::Feature => builder_for(c, params),
            _ => Builder::Skip,
        })
        .collect();
    let mut loader = Loader {
        file: file.to_path_buf(),
        params,
        masked: personal_data_mask(&names, params, None),
        builders,
        names,
        required: vec![false; n_cols],
        parsed: vec![Parsed::Skip; n_cols],
        missing: vec![0; n_cols],
        hashes: Vec::new(),
        n_rows: 0,
        rejected: 0,
        rejects: None,
    };
    let mut y = target.map(|_| Vec::new());
    let mut rec = Record::default();
    while let Some(next) = next_record(&mut reader, &mut rec, file)? {
        let line = rec.line();
        match next {
            Next::Record => loader.add(&rec)?,
            Next::Unterminated(q) => {
                loader.unterminated(&q)?;
                continue;
            }
        }
        if let (Some(y), Some(ti), Some((t, classes))) = (&mut y, target_index, target) {
            let text = rec
                .get(ti)
                .map(|f| String::from_utf8_lossy(f).trim().to_string())
                .unwrap_or_default();
            let located = |problem: String| DataError::Located {
                file: file.to_path_buf(),
                row: line,
                column: t.to_string(),
                value: cell_excerpt(text.as_bytes(), false),
                problem,
            };
            if is_missing(&text) {
                return Err(located("missing target value".into()));
            }
            let class = classes
                .iter()
                .position(|c| {
                    *c == text
                        || matches!((parse_number(c), parse_number(&text)), (Some(a), Some(b)) if a == b)
                })
                .ok_or_else(|| {
                    located(format!(
                        "not one of the model's classes ({})",
                        classes.join(", ")
                    ))
                })?;
            y.push(class);
        }
    }
    if loader.n_rows == 0 {
        return Err(DataError::Empty {
            file: file.to_path_buf(),
            problem: "header but no data rows".into(),
        });
    }
    let table = loader.into_table();
    Ok((table, y))
}
