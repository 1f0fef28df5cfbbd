//! Ground-truth labels: the record, its checks, the two wire forms that `POST /labels` and
//! `monitor labels --file` read (JSON `{"labels": [..]}` and CSV `request_id,row,label`), and
//! the hook that hands them to where they are stored.

use std::io::{self, Read};

use serde_json::Value;

use crate::error::ServeError;
use crate::http::MAX_REQUEST_ID_LEN;

/// Longest label text accepted, in bytes (class labels are short; this bounds a bad file).
pub const MAX_LABEL_BYTES: usize = 256;
/// Longest CSV line accepted, in bytes: an id, a row number and a label fit many times over.
pub const MAX_LABEL_LINE_BYTES: usize = 4_096;

/// One ground-truth label: the true class of row `row` of the request answered with
/// `request_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRecord {
    /// The `x-request-id` the scoring request was answered with.
    pub request_id: String,
    /// Zero-based row within that request.
    pub row: u32,
    /// The true class, as exact text (as the server answers its labels).
    pub label: String,
}

/// One problem in a batch of labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelProblem {
    /// Where: the zero-based entry of a JSON `labels` array, or the one-based line of a CSV.
    pub at: u64,
    /// The field concerned (`request_id`, `row`, `label`), or `labels` / `header` for the shape.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

/// Where `POST /labels` hands its labels (set with [`AppState::set_label_sink`]).
///
/// [`AppState::set_label_sink`]: crate::AppState::set_label_sink
pub trait LabelSink: Send + Sync {
    /// Takes a checked batch of labels received at `received_unix_ms`; must not do I/O on the
    /// calling thread (finbeh-monitor hands them to its writer).
    ///
    /// # Errors
    /// [`ServeError::LabelsUnavailable`] when the store cannot take them now (answered 503).
    fn record_labels(
        &self,
        labels: Vec<LabelRecord>,
        received_unix_ms: i64,
    ) -> Result<(), ServeError>;
}

/// Checks one label's fields, and its class against `classes` when given.
///
/// # Errors
/// The field and what is wrong with it.
pub fn check_label(
    label: &LabelRecord,
    classes: Option<&[String]>,
) -> Result<(), (&'static str, String)> {
    for (field, text, max) in [
        ("request_id", &label.request_id, MAX_REQUEST_ID_LEN),
        ("label", &label.label, MAX_LABEL_BYTES),
    ] {
        if text.is_empty() {
            return Err((field, "is empty".to_owned()));
        }
        if text.len() > max {
            return Err((
                field,
                format!("is {} bytes long; at most {max} are accepted", text.len()),
            ));
        }
    }
    if let Some(classes) = classes
        && !classes.contains(&label.label)
    {
        return Err((
            "label",
            format!(
                "{:?} is not one of the model's classes {:?} (compared as exact text)",
                label.label, classes
            ),
        ));
    }
    Ok(())
}

/// Reads `{"labels": [{"request_id": "..", "row": 0, "label": "yes"}, ..]}`. A label may be a
/// string or an integer (as the server answers integer labels), kept as its exact text.
///
/// # Errors
/// Every problem found (entry and field), or one for the shape of the body.
pub fn labels_from_json(body: &[u8]) -> Result<Vec<LabelRecord>, Vec<LabelProblem>> {
    let shape = |problem: String| {
        vec![LabelProblem {
            at: 0,
            field: "labels",
            problem,
        }]
    };
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| shape(format!("the body is not valid JSON: {error}")))?;
    let Value::Object(mut top) = value else {
        return Err(shape(
            "expected an object {\"labels\": [{\"request_id\", \"row\", \"label\"}, ...]}".into(),
        ));
    };
    let entries = match top.remove("labels") {
        Some(Value::Array(entries)) if top.is_empty() => entries,
        Some(Value::Array(_)) => {
            let keys: Vec<&String> = top.keys().collect();
            return Err(shape(format!(
                "unknown top-level keys {keys:?}; only `labels` is read"
            )));
        }
        Some(_) => return Err(shape("`labels` must be an array".into())),
        None => return Err(shape("the body has no `labels` array".into())),
    };
    let mut labels = Vec::with_capacity(entries.len());
    let mut problems = Vec::new();
    for (at, entry) in (0u64..).zip(entries) {
        match label_from_json(entry) {
            Ok(label) => labels.push(label),
            Err((field, problem)) => problems.push(LabelProblem { at, field, problem }),
        }
    }
    if problems.is_empty() {
        Ok(labels)
    } else {
        Err(problems)
    }
}

fn label_from_json(entry: Value) -> Result<LabelRecord, (&'static str, String)> {
    let Value::Object(mut fields) = entry else {
        return Err((
            "labels",
            "an entry must be an object {\"request_id\", \"row\", \"label\"}".into(),
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|key| !matches!(key.as_str(), "request_id" | "row" | "label"))
    {
        return Err(("labels", format!("unknown key {unknown:?}")));
    }
    let request_id = match fields.remove("request_id") {
        Some(Value::String(id)) => id,
        Some(_) => return Err(("request_id", "must be a string".into())),
        None => return Err(("request_id", "is missing".into())),
    };
    let row = match fields.remove("row") {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or((
            "row",
            format!("{n} is not a row number (0 to {})", u32::MAX),
        ))?,
        Some(_) => return Err(("row", "must be a non-negative integer".into())),
        None => return Err(("row", "is missing".into())),
    };
    let label = match fields.remove("label") {
        Some(Value::String(label)) => label,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => {
            return Err((
                "label",
                "must be a string, or an integer for an integer class".into(),
            ));
        }
        None => return Err(("label", "is missing".into())),
    };
    let label = LabelRecord {
        request_id,
        row,
        label,
    };
    check_label(&label, None)?;
    Ok(label)
}

/// Reads a labels CSV (header `request_id,row,label` in any order; other columns ignored) one
/// label at a time, so a file of any length is read in bounded memory: a line longer than
/// [`MAX_LABEL_LINE_BYTES`] is an error, not a buffer that grows.
pub struct LabelsCsv<R: Read> {
    reader: csv::Reader<LineLimit<R>>,
    columns: [usize; 3],
    record: csv::StringRecord,
    line: u64,
    classes: Option<Vec<String>>,
}

impl<R: Read> LabelsCsv<R> {
    /// Reads the header.
    ///
    /// # Errors
    /// A problem at line 1 naming the missing column, or the read error.
    pub fn new(input: R) -> Result<Self, LabelProblem> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(LineLimit::new(input));
        let header = reader.headers().map_err(|error| csv_problem(&error, 1))?;
        let position = |name: &'static str| {
            let found: Vec<usize> = header
                .iter()
                .enumerate()
                .filter(|(_, column)| column.trim().trim_start_matches('\u{feff}') == name)
                .map(|(i, _)| i)
                .collect();
            match found.as_slice() {
                [one] => Ok(*one),
                [] => Err(LabelProblem {
                    at: 1,
                    field: "header",
                    problem: format!(
                        "no `{name}` column; the header must name request_id, row and label"
                    ),
                }),
                _ => Err(LabelProblem {
                    at: 1,
                    field: "header",
                    problem: format!("column `{name}` appears {} times", found.len()),
                }),
            }
        };
        let columns = [
            position("request_id")?,
            position("row")?,
            position("label")?,
        ];
        Ok(Self {
            reader,
            columns,
            record: csv::StringRecord::new(),
            line: 1,
            classes: None,
        })
    }

    /// Also checks each label against `classes` (exact text), naming the label's own line.
    #[must_use]
    pub fn with_classes(mut self, classes: Vec<String>) -> Self {
        self.classes = Some(classes);
        self
    }

    /// The line the last label read starts on (1, the header, before any).
    pub fn line(&self) -> u64 {
        self.line
    }
}

impl<R: Read> Iterator for LabelsCsv<R> {
    type Item = Result<LabelRecord, LabelProblem>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = self.reader.position().line();
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Err(error) => Some(Err(csv_problem(&error, line.max(2)))),
            Ok(true) => {
                let at = self.record.position().map_or(line, csv::Position::line);
                self.line = at;
                let field = |i: usize| self.record.get(self.columns[i]).unwrap_or("");
                let problem = |field, problem| LabelProblem { at, field, problem };
                let row = field(1);
                let Some(row) = row.trim().parse::<u32>().ok() else {
                    return Some(Err(problem(
                        "row",
                        format!("{row:?} is not a row number (0 to {})", u32::MAX),
                    )));
                };
                let label = LabelRecord {
                    request_id: field(0).to_owned(),
                    row,
                    label: field(2).to_owned(),
                };
                Some(match check_label(&label, self.classes.as_deref()) {
                    Ok(()) => Ok(label),
                    Err((field, text)) => Err(problem(field, text)),
                })
            }
        }
    }
}

fn csv_problem(error: &csv::Error, line: u64) -> LabelProblem {
    let at = error.position().map_or(line, csv::Position::line);
    LabelProblem {
        at,
        field: "labels",
        problem: match error.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("{len} fields where the header has {expected_len}"),
            _ => error.to_string(),
        },
    }
}

/// Fails a read once a line runs past [`MAX_LABEL_LINE_BYTES`], so the CSV reader's buffers
/// stay bounded whatever the input.
struct LineLimit<R> {
    inner: R,
    since_newline: usize,
}

impl<R> LineLimit<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            since_newline: 0,
        }
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in buf.get(..n).unwrap_or(&[]) {
            if byte == b'\n' {
                self.since_newline = 0;
            } else {
                self.since_newline += 1;
                if self.since_newline > MAX_LABEL_LINE_BYTES {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a line is longer than {MAX_LABEL_LINE_BYTES} bytes"),
                    ));
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Vec<Result<LabelRecord, LabelProblem>> {
        match LabelsCsv::new(text.as_bytes()) {
            Ok(reader) => reader.collect(),
            Err(problem) => vec![Err(problem)],
        }
    }

    #[test]
    fn csv_labels_keep_their_text_and_name_the_line_and_column_of_a_problem() {
        let read = csv("label,request_id,row\n007,a,0\n\"yes, sir\",b,3\nno,c,x\n");
        assert_eq!(
            read[0],
            Ok(LabelRecord {
                request_id: "a".into(),
                row: 0,
                label: "007".into()
            })
        );
        assert_eq!(read[1].as_ref().unwrap().label, "yes, sir");
        let problem = read[2].as_ref().unwrap_err();
        assert_eq!((problem.at, problem.field), (4, "row"), "{problem:?}");
        assert!(problem.problem.contains("\"x\""), "{problem:?}");

        let problem = csv("request_id,label\na,b\n").remove(0).unwrap_err();
        assert_eq!((problem.at, problem.field), (1, "header"));
        assert!(problem.problem.contains("`row`"), "{problem:?}");

        let problem = csv("request_id,row,label\na,0,yes,extra\n")
            .remove(0)
            .unwrap_err();
        assert_eq!(problem.at, 2, "{problem:?}");

        let long = format!("request_id,row,label\n{},0,yes\n", "x".repeat(10_000));
        let problem = csv(&long).remove(0).unwrap_err();
        assert!(problem.problem.contains("longer than"), "{problem:?}");
    }

    #[test]
    fn json_labels_take_strings_and_integers_and_list_every_problem() {
        let labels = labels_from_json(
            br#"{"labels": [{"request_id": "a", "row": 1, "label": -1}, {"request_id": "b", "row": 0, "label": "yes"}]}"#,
        )
        .unwrap();
        assert_eq!(labels[0].label, "-1");
        assert_eq!(labels[1].row, 0);
        let problems = labels_from_json(
            br#"{"labels": [{"request_id": "a", "row": -1, "label": "x"}, {"request_id": "", "row": 0, "label": "x"}, {"request_id": "c", "row": 0, "label": 1.5}]}"#,
        )
        .unwrap_err();
        let found: Vec<(u64, &str)> = problems.iter().map(|p| (p.at, p.field)).collect();
        assert_eq!(found, [(0, "row"), (1, "request_id"), (2, "label")]);
        assert_eq!(labels_from_json(b"[]").unwrap_err()[0].field, "labels");
    }

    #[test]
    fn a_label_must_be_one_of_the_classes_as_exact_text() {
        let classes = ["0".to_owned(), "1".to_owned()];
        let label = |text: &str| LabelRecord {
            request_id: "r".into(),
            row: 0,
            label: text.into(),
        };
        assert!(check_label(&label("1"), Some(&classes)).is_ok());
        let (field, problem) = check_label(&label("1.0"), Some(&classes)).unwrap_err();
        assert_eq!(field, "label");
        assert!(problem.contains("\"1.0\""), "{problem}");
    }
}
