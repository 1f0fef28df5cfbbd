//! The hooks that hand each scored request to a prediction log, and each batch of ground-truth
//! labels to its store (finbeh-monitor's, or any other).
//!
//! finbeh-serve defines the traits and finbeh-monitor implements them, so the crate graph stays
//! one-way (serve ← monitor); the `serve` example wires the two together.

use std::io::Write as _;
use std::sync::Arc;

use finbeh_data::RawValue;

use crate::model::{ModelInfo, ScoreBuffer};

/// One scored request as the log sees it.
///
/// Built on the request thread with as little work as possible: the model is shared, the
/// input values are moved (text copied once), and each row's JSON is written by the log's
/// writer ([`write_inputs_json`](Self::write_inputs_json)), not here.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRecord {
    /// When the answer was ready, in milliseconds since the Unix epoch.
    pub unix_ms: i64,
    /// The `x-request-id` answered (the client's, or the one the server made).
    pub request_id: String,
    /// The route, `/score`.
    pub route: &'static str,
    /// The model that answered: name, version, input columns and classes.
    pub model: Arc<ModelInfo>,
    /// Time from body received to answer ready, in milliseconds.
    pub latency_ms: f64,
    /// HTTP status answered.
    pub status: u16,
    /// The error code of a refused request (`invalid_input`, ...); `None` on success.
    pub error_code: Option<&'static str>,
    /// The scored rows' input values, row-major in `model.input_columns` order; empty when the
    /// request was refused.
    pub inputs: Vec<RawValue<'static>>,
    /// The predicted class index of each scored row (into `model.classes`).
    pub predicted: Vec<usize>,
    /// The class probabilities of each scored row, row-major, in `model.classes` order.
    pub probabilities: Vec<f64>,
}

impl PredictionRecord {
    /// A record of a refused request (no scored rows).
    pub fn refused(
        model: Arc<ModelInfo>,
        request_id: String,
        status: u16,
        error_code: &'static str,
    ) -> Self {
        Self {
            unix_ms: 0,
            request_id,
            route: "/score",
            model,
            latency_ms: 0.0,
            status,
            error_code: Some(error_code),
            inputs: Vec::new(),
            predicted: Vec::new(),
            probabilities: Vec::new(),
        }
    }

    /// Scored rows in this record.
    pub fn n_rows(&self) -> usize {
        self.predicted.len()
    }

    /// Rows this record becomes in a log: one per scored row, or one for a refused request.
    pub fn log_rows(&self) -> usize {
        self.n_rows().max(1)
    }

    /// The predicted class label of scored row `row`.
    pub fn predicted_class(&self, row: usize) -> Option<&str> {
        let class = *self.predicted.get(row)?;
        self.model.classes.get(class).map(String::as_str)
    }

    /// The class probabilities of scored row `row` (empty past the last row).
    pub fn row_probabilities(&self, row: usize) -> &[f64] {
        let n = self.model.classes.len();
        row.checked_mul(n)
            .and_then(|start| self.probabilities.get(start..start.checked_add(n)?))
            .unwrap_or(&[])
    }

    /// Appends scored row `row`'s inputs to `out` as a JSON object keyed by model column
    /// (`{"Age":42,"City":"Oslo"}`); nothing past the last row. A writer of many records
    /// keeps one [`InputsJson`] per model instead.
    pub fn write_inputs_json(&self, row: usize, out: &mut Vec<u8>) {
        InputsJson::new(&self.model).write(self, row, out);
    }
}

/// Writes a model's input rows as JSON objects, with each key's JSON text (`{"Age":`,
/// `,"City":`) made once per model rather than once per value.
#[derive(Debug, Clone)]
pub struct InputsJson {
    keys: Vec<Vec<u8>>,
}

impl InputsJson {
    /// The key texts of `model`'s input columns.
    pub fn new(model: &ModelInfo) -> Self {
        let keys = model
            .input_columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let mut key = Vec::with_capacity(column.name.len() + 4);
                key.push(if i == 0 { b'{' } else { b',' });
                push_json_string(&mut key, &column.name);
                key.push(b':');
                key
            })
            .collect();
        Self { keys }
    }

    /// Appends `record`'s scored row `row` to `out` (nothing past the last row). Numbers are
    /// written in their shortest round-trip form: integers without a fraction (`42`), others as
    /// `serde_json` writes them (`0.1`, `1e-7`).
    pub fn write(&self, record: &PredictionRecord, row: usize, out: &mut Vec<u8>) {
        let n = self.keys.len();
        let Some(values) = row
            .checked_mul(n)
            .and_then(|start| record.inputs.get(start..start.checked_add(n)?))
        else {
            return;
        };
        if n == 0 {
            out.extend_from_slice(b"{");
        }
        for (key, value) in self.keys.iter().zip(values) {
            out.extend_from_slice(key);
            match value {
                RawValue::Missing => out.extend_from_slice(b"null"),
                RawValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                RawValue::Number(number) => push_json_number(out, *number),
                RawValue::Text(text) => push_json_string(out, text),
            }
        }
        out.push(b'}');
    }
}

/// Largest magnitude written through the integer path (exact in `f64` and `i64`).
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

fn push_json_number(out: &mut Vec<u8>, number: f64) {
    if !number.is_finite() {
        // JSON has no NaN or infinity; the decoder never produces them, but stay valid.
        out.extend_from_slice(b"null");
    } else if number.fract() == 0.0 && number.abs() < EXACT_INTEGER && number != 0.0 {
        // Whole numbers (ages, counts, amounts) as integers, as `Display` writes them.
        let _ = write!(out, "{}", number as i64);
    } else if number == 0.0 {
        out.extend_from_slice(if number.is_sign_negative() {
            b"-0"
        } else {
            b"0"
        });
    } else {
        // Writing a finite float into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &number);
    }
}

/// Where `/score` hands its records (set with [`AppState::set_prediction_sink`]).
///
/// [`record`](Self::record) runs on the request's thread: implementations must not do I/O
/// there, only hand the record over (finbeh-monitor sends it down a bounded channel).
///
/// [`AppState::set_prediction_sink`]: crate::AppState::set_prediction_sink
pub trait PredictionSink: Send + Sync {
    /// Whether this request is logged (sampling); the record is only built when it is.
    fn sample(&self) -> bool;
    /// Takes one request's record; must not block on I/O (it may wait for channel room when
    /// the configured backpressure says so).
    fn record(&self, record: PredictionRecord);
    /// Rows dropped so far (channel full under the `drop` policy, or the log closed).
    fn dropped_rows(&self) -> u64;
    /// Rows that reached the writer but could not be written (a database error, logged).
    fn failed_rows(&self) -> u64;
}

/// Moves a scored request's input cells and scores into a record's owned fields.
pub(crate) fn capture_rows(
    n_columns: usize,
    cells: &[RawValue<'_>],
    scores: &ScoreBuffer,
) -> (Vec<RawValue<'static>>, Vec<usize>, Vec<f64>) {
    let scored = scores.n_rows().saturating_mul(n_columns).min(cells.len());
    let inputs = cells[..scored]
        .iter()
        .map(|cell| match cell {
            RawValue::Missing => RawValue::Missing,
            RawValue::Number(n) => RawValue::Number(*n),
            RawValue::Bool(b) => RawValue::Bool(*b),
            RawValue::Text(text) => RawValue::Text(text.clone().into_owned().into()),
        })
        .collect();
    (
        inputs,
        scores.predictions().to_vec(),
        scores.probabilities().to_vec(),
    )
}

fn push_json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use finbeh_data::{ColumnKind, InputColumn};

    #[test]
    fn rows_pair_inputs_with_outputs_as_valid_json() {
        let model = Arc::new(ModelInfo {
            name: "m".into(),
            version: "1".into(),
            input_columns: vec![
                InputColumn {
                    name: "Age".into(),
                    kind: ColumnKind::Numeric,
                },
                InputColumn {
                    name: "Ci\"ty".into(),
                    kind: ColumnKind::Categorical,
                },
            ],
            classes: vec!["no".to_owned(), "yes".to_owned()],
            target: None,
            ignored_columns: vec![],
        });
        let cells = [
            RawValue::Number(42.5),
            RawValue::Text("Oslo".into()),
            RawValue::Missing,
            RawValue::Bool(true),
        ];
        let mut scores = ScoreBuffer::new();
        scores.reset(2);
        scores.push(1, &[0.25, 0.75]);
        scores.push(0, &[0.5, 0.5]);
        let (inputs, predicted, probabilities) = capture_rows(2, &cells, &scores);
        let mut record = PredictionRecord::refused(model, "r".into(), 200, "x");
        record.error_code = None;
        record.inputs = inputs;
        record.predicted = predicted;
        record.probabilities = probabilities;
        assert_eq!(record.n_rows(), 2);
        let json = |row| {
            let mut out = Vec::new();
            record.write_inputs_json(row, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(json(0), r#"{"Age":42.5,"Ci\"ty":"Oslo"}"#);
        let mut numbers = Vec::new();
        for n in [70.0, -3.0, 0.1, -0.0, 1e-7, 1e300, 0.30000000000000004] {
            push_json_number(&mut numbers, n);
            numbers.push(b' ');
        }
        assert_eq!(
            String::from_utf8(numbers).unwrap(),
            "70 -3 0.1 -0 1e-7 1e+300 0.30000000000000004 "
        );
        assert_eq!(json(1), r#"{"Age":null,"Ci\"ty":true}"#);
        assert_eq!(json(2), "");
        assert_eq!(record.predicted_class(0), Some("yes"));
        assert_eq!(record.predicted_class(1), Some("no"));
        assert_eq!(record.predicted, vec![1, 0]);
        assert_eq!(record.row_probabilities(1), &[0.5, 0.5]);
        assert!(record.row_probabilities(2).is_empty());
        for row in 0..2 {
            serde_json::from_str::<serde_json::Value>(&json(row)).unwrap();
        }
    }
}
