//! Batch scoring into a prediction log: every row of a table scored by the artifact and recorded
//! as served requests are, so a batch run (or the workflow's own traffic) can be monitored.

use finbeh_data::{RawValue, Table};
use std::borrow::Cow;
use std::sync::Arc;

use finbeh_serve::{ModelInfo, PredictionRecord, PredictionSink};
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
    let model = Arc::new(ModelInfo::of_artifact(artifact));
    let n_columns = model.input_columns.len();
    let n_classes = model.classes.len();
    let mut features = vec![0f32; artifact.n_features()];
    let mut proba = vec![0f64; n_classes];
    let mut request = 0_usize;
    let empty = |request: usize| PredictionRecord {
        unix_ms: unix_ms(request),
        request_id: format!("batch-{request}"),
        route: "batch",
        model: Arc::clone(&model),
        latency_ms: 0.0,
        status: 200,
        error_code: None,
        inputs: Vec::with_capacity(BATCH_LOG_ROWS_PER_REQUEST * n_columns),
        predicted: Vec::with_capacity(BATCH_LOG_ROWS_PER_REQUEST),
        probabilities: Vec::with_capacity(BATCH_LOG_ROWS_PER_REQUEST * n_classes),
    };
    let mut record = empty(request);
    for row in 0..table.n_rows() {
        let raw = artifact.pipeline().raw_record(table, row)?;
        artifact.score_record(&raw, &mut features, &mut proba)?;
        record.inputs.extend(raw.into_iter().map(owned));
        record.predicted.push(artifact.predict_class(&proba));
        record.probabilities.extend_from_slice(&proba);
        if record.predicted.len() == BATCH_LOG_ROWS_PER_REQUEST {
            request += 1;
            sink.record(std::mem::replace(&mut record, empty(request)));
        }
    }
    if !record.predicted.is_empty() {
        sink.record(record);
    }
    Ok(table.n_rows())
}

/// A raw value that outlives the table it was read from.
fn owned(value: RawValue<'_>) -> RawValue<'static> {
    match value {
        RawValue::Missing => RawValue::Missing,
        RawValue::Number(n) => RawValue::Number(n),
        RawValue::Bool(b) => RawValue::Bool(b),
        RawValue::Text(text) => RawValue::Text(Cow::Owned(text.into_owned())),
    }
}
