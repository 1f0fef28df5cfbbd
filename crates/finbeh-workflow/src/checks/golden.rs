//! The artifact's golden set as scoring requests in every input form the server accepts, and
//! the answers read back and compared with the expected probabilities bit for bit.

use finbeh_train::ModelArtifact;
use serde_json::{Map, Value, json};

/// The golden set: raw records in input-column order with their exact expected probabilities,
/// in the answer's wire form (binary: the positive class only; else every class).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Golden {
    /// Input column names, in model order.
    pub(crate) columns: Vec<String>,
    /// One JSON cell per column, per record.
    pub(crate) rows: Vec<Vec<Value>>,
    /// The probabilities each record must get, as the answer writes them.
    pub(crate) expected: Vec<Vec<f64>>,
    /// `name version` of the model.
    pub(crate) model: String,
}

impl Golden {
    /// The artifact's golden set (already verified by [`ModelArtifact::read`]).
    pub(crate) fn of(artifact: &ModelArtifact) -> Result<Self, String> {
        let meta = artifact.metadata();
        let binary = meta.classes.len() == 2;
        let mut expected = Vec::with_capacity(meta.golden_set.len());
        for (index, record) in meta.golden_set.iter().enumerate() {
            let values: Vec<f64> = record
                .expected
                .iter()
                .map(|hex| u64::from_str_radix(hex, 16).map(f64::from_bits))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("golden record {index}: expected probability: {e}"))?;
            expected.push(match (binary, values.get(1)) {
                (true, Some(&positive)) => vec![positive],
                _ => values,
            });
        }
        Ok(Self {
            columns: meta.input_columns.iter().map(|c| c.name.clone()).collect(),
            rows: meta.golden_set.iter().map(|g| g.record.clone()).collect(),
            expected,
            model: format!("{} {}", meta.model_name, meta.model_version),
        })
    }

    fn record(&self, row: &[Value]) -> Value {
        let map: Map<String, Value> = self
            .columns
            .iter()
            .cloned()
            .zip(row.iter().cloned())
            .collect();
        Value::Object(map)
    }

    fn records(&self) -> Vec<Value> {
        self.rows.iter().map(|row| self.record(row)).collect()
    }

    /// One request body scoring the first golden record (`{"data": [{..}]}`).
    pub(crate) fn first_record_body(&self) -> Vec<u8> {
        let first = self.rows.first().map(|row| self.record(row));
        json!({"data": first.into_iter().collect::<Vec<_>>()})
            .to_string()
            .into_bytes()
    }

    /// Compares the probabilities of an answer (rows in golden order) with the expected ones.
    pub(crate) fn compare(&self, got: &[Vec<f64>]) -> Result<(), String> {
        if got.len() != self.expected.len() {
            return Err(format!(
                "{} rows answered for {} golden records",
                got.len(),
                self.expected.len()
            ));
        }
        for (index, (want, got)) in self.expected.iter().zip(got).enumerate() {
            let same = want.len() == got.len()
                && want
                    .iter()
                    .zip(got)
                    .all(|(w, g)| w.to_bits() == g.to_bits());
            if !same {
                return Err(format!(
                    "golden record {index}: got {got:?}, expected {want:?} (model {}): the endpoint serves another model or scores differently",
                    self.model
                ));
            }
        }
        Ok(())
    }
}

/// Every body shape `POST /score` accepts (docs/api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputForm {
    /// `{"data": [[cells in model column order]]}`.
    DataPositional,
    /// `{"data": [{column: cell}]}`.
    DataRecords,
    /// One bare record `{column: cell}` per request.
    Record,
    /// A bare list of records `[{..}]`.
    RecordList,
    /// Azure ML's `{"input_data": {"columns", "index", "data"}}`.
    InputData,
    /// MLflow's `{"dataframe_split": {"columns", "data"}}`.
    DataframeSplit,
    /// MLflow's `{"dataframe_records": [{..}]}`.
    DataframeRecords,
}

impl InputForm {
    /// Every form, in the order the checks send them.
    pub(crate) const ALL: [Self; 7] = [
        Self::DataPositional,
        Self::DataRecords,
        Self::Record,
        Self::RecordList,
        Self::InputData,
        Self::DataframeSplit,
        Self::DataframeRecords,
    ];

    /// The form's name in check names.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::DataPositional => "data positional",
            Self::DataRecords => "data records",
            Self::Record => "single record",
            Self::RecordList => "record list",
            Self::InputData => "input_data",
            Self::DataframeSplit => "dataframe_split",
            Self::DataframeRecords => "dataframe_records",
        }
    }

    /// The golden set in this form: one body, or one per record for [`Self::Record`].
    pub(crate) fn bodies(self, golden: &Golden) -> Vec<Vec<u8>> {
        let rows = || {
            Value::Array(
                golden
                    .rows
                    .iter()
                    .map(|r| Value::Array(r.clone()))
                    .collect(),
            )
        };
        let bodies = match self {
            Self::DataPositional => vec![json!({"data": rows()})],
            Self::DataRecords => vec![json!({"data": golden.records()})],
            Self::Record => golden.records(),
            Self::RecordList => vec![Value::Array(golden.records())],
            Self::InputData => vec![json!({"input_data": {
                "columns": golden.columns,
                "index": (0..golden.rows.len()).collect::<Vec<_>>(),
                "data": rows(),
            }})],
            Self::DataframeSplit => vec![json!({"dataframe_split": {
                "columns": golden.columns,
                "data": rows(),
            }})],
            Self::DataframeRecords => vec![json!({"dataframe_records": golden.records()})],
        };
        bodies.iter().map(|b| b.to_string().into_bytes()).collect()
    }
}

/// The `probabilities` of a `/score` answer, one row each (a number for a binary model's
/// positive class, else an array per class).
pub(crate) fn answer_probabilities(body: &[u8]) -> Result<Vec<Vec<f64>>, String> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not JSON ({e}): {}", excerpt(body)))?;
    let rows = answer
        .get("probabilities")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("the answer has no probabilities array: {}", excerpt(body)))?;
    rows.iter()
        .enumerate()
        .map(|(index, row)| {
            match row {
                Value::Number(p) => p.as_f64().map(|p| vec![p]),
                Value::Array(cells) => cells.iter().map(Value::as_f64).collect(),
                _ => None,
            }
            .ok_or_else(|| format!("probabilities[{index}] is not a probability: {row}"))
        })
        .collect()
}

/// The answer's `error.code`, when it is finbeh's (and Azure ML's) JSON error shape.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    answer
        .pointer("/error/code")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// At most 160 characters of a body, for messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cut: String = text.chars().take(160).collect();
    match (cut.is_empty(), cut.len() < text.len()) {
        (true, _) => "(empty body)".to_owned(),
        (false, true) => format!("{cut}…"),
        (false, false) => cut,
    }
}
