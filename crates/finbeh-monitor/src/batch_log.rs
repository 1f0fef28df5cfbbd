//! Batch scoring into a prediction log: every row of a table scored by the artifact and recorded
//! as served requests are, so a batch run (or the workflow's own traffic) can be monitored.

use finbeh_data::{RawValue, Table};
use finbeh_serve::{PredictionRecord, PredictionSink, ScoredRow};
use finbeh_train::ModelArtifact;

use crate::error::MonitorError;

/// Rows per recorded request.
pub const BATCH_LOG_ROWS_PER_REQUEST: usize = 100;

/// Scores every row of `table` (read with the artifact's schema) and records them in `sink`,
/// [`BATCH_LOG_ROWS_PER_REQUEST`] rows per request, request `n` at `unix_ms(n)`, route `batch`;
/// returns the rows recorded.
///
/// # Errors
/// [`MonitorError::Artifact`] when a row cannot be scored (naming the column and value);
/// [`MonitorError::Data`] when the table lacks an input column.
pub fn log_batch_scores(
    sink: &dyn PredictionSink,
    artifact: &ModelArtifact,
    table: &Table,
    unix_ms: &dyn Fn(usize) -> i64,
) -> Result<usize, MonitorError> {
    let columns = artifact.input_columns();
    let mut features = vec![0f32; artifact.n_features()];
    let mut proba = vec![0f64; artifact.classes().len()];
    let mut rows = Vec::with_capacity(BATCH_LOG_ROWS_PER_REQUEST);
    let mut request = 0_usize;
    let metadata = artifact.metadata();
    let flush = |rows: &mut Vec<ScoredRow>, request: usize| {
        if rows.is_empty() {
            return;
        }
        sink.record(PredictionRecord {
            unix_ms: unix_ms(request),
            request_id: format!("batch-{request}"),
            route: "batch",
            model_name: metadata.model_name.clone(),
            model_version: metadata.model_version.clone(),
            latency_ms: 0.0,
            status: 200,
            error_code: None,
            rows: std::mem::take(rows),
        });
    };
    for row in 0..table.n_rows() {
        let raw = artifact.pipeline().raw_record(table, row)?;
        artifact.score_record(&raw, &mut features, &mut proba)?;
        let inputs: serde_json::Map<String, serde_json::Value> = columns
            .iter()
            .zip(&raw)
            .map(|(column, value)| (column.name.clone(), raw_json(value)))
            .collect();
        let index = artifact.predict_class(&proba);
        rows.push(ScoredRow {
            inputs_json: serde_json::Value::Object(inputs).to_string(),
            predicted_class: artifact.classes().get(index).cloned().unwrap_or_default(),
            predicted_index: index,
            probabilities: proba.clone(),
        });
        if rows.len() == BATCH_LOG_ROWS_PER_REQUEST {
            flush(&mut rows, request);
            request += 1;
        }
    }
    flush(&mut rows, request);
    Ok(table.n_rows())
}

fn raw_json(value: &RawValue<'_>) -> serde_json::Value {
    match value {
        RawValue::Missing => serde_json::Value::Null,
        RawValue::Number(n) => serde_json::Number::from_f64(*n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        RawValue::Bool(b) => serde_json::Value::Bool(*b),
        RawValue::Text(text) => serde_json::Value::String(text.to_string()),
    }
}
