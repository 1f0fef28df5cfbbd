//! The hook that hands each scored request to a prediction log (finbeh-monitor's, or any other).
//!
//! finbeh-serve defines the trait and finbeh-monitor implements it, so the crate graph stays
//! one-way (serve ← monitor); the `serve` example wires the two together.

use std::fmt::Write as _;

use finbeh_data::{InputColumn, RawValue};

use crate::model::ScoreBuffer;

/// One scored request as the log sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRecord {
    /// When the answer was ready, in milliseconds since the Unix epoch.
    pub unix_ms: i64,
    /// The `x-request-id` answered (the client's, or the one the server made).
    pub request_id: String,
    /// The route, `/score`.
    pub route: &'static str,
    /// Name of the model that answered.
    pub model_name: String,
    /// Version of the model that answered.
    pub model_version: String,
    /// Time from body received to answer ready, in milliseconds.
    pub latency_ms: f64,
    /// HTTP status answered.
    pub status: u16,
    /// The error code of a refused request (`invalid_input`, ...); `None` on success.
    pub error_code: Option<&'static str>,
    /// One entry per scored row, in request order; empty when the request was refused.
    pub rows: Vec<ScoredRow>,
}

impl PredictionRecord {
    /// Rows this record becomes in a log: one per scored row, or one for a refused request.
    pub fn log_rows(&self) -> usize {
        self.rows.len().max(1)
    }
}

/// One scored row: what came in and what went out.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRow {
    /// The row's input values as a JSON object keyed by model column (`{"Age":42,...}`).
    pub inputs_json: String,
    /// The predicted class label.
    pub predicted_class: String,
    /// The predicted class's index in the model's class order (binary: 1 is the positive class).
    pub predicted_index: usize,
    /// The probability of each class, in the model's class order.
    pub probabilities: Vec<f64>,
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

/// Builds the logged rows of a scored request from the decoded cells and the scores.
pub(crate) fn scored_rows(
    columns: &[InputColumn],
    classes: &[String],
    cells: &[RawValue<'_>],
    scores: &ScoreBuffer,
) -> Vec<ScoredRow> {
    let n_classes = scores.n_classes();
    if columns.is_empty() || n_classes == 0 {
        return Vec::new();
    }
    cells
        .chunks_exact(columns.len())
        .zip(scores.predictions())
        .zip(scores.probabilities().chunks_exact(n_classes))
        .map(|((row, &class), probabilities)| ScoredRow {
            inputs_json: inputs_json(columns, row),
            predicted_class: classes.get(class).cloned().unwrap_or_default(),
            predicted_index: class,
            probabilities: probabilities.to_vec(),
        })
        .collect()
}

fn inputs_json(columns: &[InputColumn], row: &[RawValue<'_>]) -> String {
    let mut out = String::with_capacity(16 * row.len() + 2);
    out.push('{');
    for (i, (column, value)) in columns.iter().zip(row).enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, &column.name);
        out.push(':');
        match value {
            RawValue::Missing => out.push_str("null"),
            RawValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            // JSON has no NaN or infinity; the decoder never produces them, but stay valid.
            RawValue::Number(n) if n.is_finite() => {
                let _ = write!(out, "{n}");
            }
            RawValue::Number(_) => out.push_str("null"),
            RawValue::Text(text) => push_json_string(&mut out, text),
        }
    }
    out.push('}');
    out
}

fn push_json_string(out: &mut String, text: &str) {
    match serde_json::to_string(text) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finbeh_data::ColumnKind;

    #[test]
    fn rows_pair_inputs_with_outputs_as_valid_json() {
        let columns = vec![
            InputColumn {
                name: "Age".into(),
                kind: ColumnKind::Numeric,
            },
            InputColumn {
                name: "Ci\"ty".into(),
                kind: ColumnKind::Categorical,
            },
        ];
        let classes = vec!["no".to_owned(), "yes".to_owned()];
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
        let rows = scored_rows(&columns, &classes, &cells, &scores);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].inputs_json, r#"{"Age":42.5,"Ci\"ty":"Oslo"}"#);
        assert_eq!(rows[1].inputs_json, r#"{"Age":null,"Ci\"ty":true}"#);
        assert_eq!(rows[0].predicted_class, "yes");
        assert_eq!((rows[0].predicted_index, rows[1].predicted_index), (1, 0));
        assert_eq!(rows[1].probabilities, vec![0.5, 0.5]);
        for row in &rows {
            serde_json::from_str::<serde_json::Value>(&row.inputs_json).unwrap();
        }
    }
}
