//! JSONL and CSV exports: one logged row per line, every database into one file (its
//! `instance` column names the database).

use std::collections::BTreeSet;
use std::io::{BufWriter, Write as _};

use serde_json::{Map, Value, json};

use super::rows::{LoggedRow, for_each_row, input_columns, instance_name};
use super::{ExportFormat, ExportRequest, ExportSummary, MAX_CSV_INPUT_COLUMNS, export_error};
use crate::alerts::rfc3339;
use crate::error::MonitorError;
use crate::log_store::LogStore;

/// The CSV columns before the inputs (`input.<column>`).
pub const CSV_COLUMNS: [&str; 15] = [
    "instance",
    "time",
    "time_ms",
    "request_id",
    "row_index",
    "endpoint",
    "deployment",
    "route",
    "model_name",
    "model_version",
    "predicted_class",
    "probabilities",
    "latency_ms",
    "http_status",
    "error_code",
];

pub(super) fn export(
    logs: &[LogStore],
    request: &ExportRequest,
) -> Result<ExportSummary, MonitorError> {
    let csv = request.format == ExportFormat::Csv;
    let path = request.out_dir.join(if csv {
        "predictions.csv"
    } else {
        "predictions.jsonl"
    });
    let fail = export_error(&path);
    let file = std::fs::File::create(&path).map_err(&fail)?;
    let mut summary = ExportSummary::default();
    if csv {
        let mut inputs = BTreeSet::new();
        for log in logs {
            inputs.extend(input_columns(
                log,
                request.since_ms,
                request.until_ms,
                MAX_CSV_INPUT_COLUMNS,
            )?);
        }
        let inputs: Vec<String> = inputs.into_iter().take(MAX_CSV_INPUT_COLUMNS).collect();
        let mut writer = csv::Writer::from_writer(BufWriter::new(file));
        let header = CSV_COLUMNS
            .iter()
            .map(|c| (*c).to_owned())
            .chain(inputs.iter().map(|c| format!("input.{c}")));
        writer.write_record(header).map_err(|e| fail(e.into()))?;
        for log in logs {
            let instance = instance_name(log.path());
            for_each_row(log, request.since_ms, request.until_ms, |row| {
                writer
                    .write_record(csv_record(&instance, &row, &inputs))
                    .map_err(|e| fail(e.into()))?;
                summary.rows += 1;
                Ok(())
            })?;
        }
        writer.flush().map_err(&fail)?;
    } else {
        let mut writer = BufWriter::new(file);
        for log in logs {
            let instance = instance_name(log.path());
            for_each_row(log, request.since_ms, request.until_ms, |row| {
                let line = json_row(&instance, &row).to_string();
                writer.write_all(line.as_bytes()).map_err(&fail)?;
                writer.write_all(b"\n").map_err(&fail)?;
                summary.rows += 1;
                Ok(())
            })?;
        }
        writer.flush().map_err(&fail)?;
    }
    summary.lines = summary.rows;
    summary.files.push(path.clone());
    Ok(summary)
}

/// Parses logged JSON text; a value the log holds is always valid JSON, anything else is kept
/// as a string so no row is lost.
fn parsed(text: Option<&str>) -> Value {
    text.map_or(Value::Null, |t| {
        serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned()))
    })
}

fn json_row(instance: &str, row: &LoggedRow) -> Value {
    json!({
        "instance": instance,
        "time": rfc3339(row.time_ms),
        "time_ms": row.time_ms,
        "request_id": row.request_id,
        "row_index": row.row_index,
        "endpoint": row.endpoint,
        "deployment": row.deployment,
        "route": row.route,
        "model_name": row.model_name,
        "model_version": row.model_version,
        "inputs": parsed(row.inputs.as_deref()),
        "predicted_class": row.predicted_class,
        "probabilities": parsed(row.probabilities.as_deref()),
        "latency_ms": row.latency_ms,
        "http_status": row.http_status,
        "error_code": row.error_code,
    })
}

fn csv_record(instance: &str, row: &LoggedRow, inputs: &[String]) -> Vec<String> {
    let text = |value: Option<&String>| value.cloned().unwrap_or_default();
    let values: Map<String, Value> = match parsed(row.inputs.as_deref()) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut record = vec![
        instance.to_owned(),
        rfc3339(row.time_ms),
        row.time_ms.to_string(),
        row.request_id.clone(),
        row.row_index.map(|i| i.to_string()).unwrap_or_default(),
        row.endpoint.clone(),
        row.deployment.clone(),
        row.route.clone(),
        row.model_name.clone(),
        row.model_version.clone(),
        text(row.predicted_class.as_ref()),
        text(row.probabilities.as_ref()),
        row.latency_ms.to_string(),
        row.http_status.to_string(),
        text(row.error_code.as_ref()),
    ];
    record.extend(inputs.iter().map(|name| match values.get(name) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }));
    record
}
