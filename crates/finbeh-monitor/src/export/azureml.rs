//! Azure ML's data-collector layout, so Azure ML model monitoring reads finbeh's log:
//! `DIR/{endpoint}/{deployment}/model_inputs|model_outputs/{yyyy}/{MM}/{dd}/{HH}/{instance}.jsonl`,
//! one line per scored request in each, as the collector writes them.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::rows::{LoggedRow, for_each_row, instance_name};
use super::{ExportRequest, ExportSummary, export_error};
use crate::alerts::rfc3339;
use crate::error::MonitorError;
use crate::log_store::LogStore;

/// The collector's `collectdatatype`: the data is a pandas DataFrame's records.
pub const COLLECT_DATA_TYPE: &str = "pandas.core.frame.DataFrame";
/// The `agent` of the lines finbeh writes.
pub const AGENT: &str = concat!("finbeh-monitor/", env!("CARGO_PKG_VERSION"));

/// The two collections the collector writes.
const COLLECTIONS: [&str; 2] = ["model_inputs", "model_outputs"];

/// One request's rows, gathered before its two lines are written.
struct Request {
    first: LoggedRow,
    inputs: Vec<Value>,
    outputs: Vec<Value>,
}

/// Appends lines to the file of their hour, one open file at a time (rows come in time order).
struct Files {
    out_dir: PathBuf,
    created: BTreeSet<PathBuf>,
    open: Option<(PathBuf, BufWriter<std::fs::File>)>,
}

impl Files {
    fn write(&mut self, path: PathBuf, line: &str) -> Result<(), MonitorError> {
        if self.open.as_ref().is_none_or(|(open, _)| *open != path) {
            self.flush()?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(export_error(&path))?;
            }
            // A file this export has not written yet is started afresh (a re-export replaces
            // it); one it wrote before is appended to.
            let fresh = self.created.insert(path.clone());
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(fresh)
                .append(!fresh)
                .open(&path)
                .map_err(export_error(&path))?;
            self.open = Some((path, BufWriter::new(file)));
        }
        if let Some((path, writer)) = self.open.as_mut() {
            writer
                .write_all(line.as_bytes())
                .and_then(|()| writer.write_all(b"\n"))
                .map_err(export_error(path))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), MonitorError> {
        if let Some((path, mut writer)) = self.open.take() {
            writer.flush().map_err(export_error(&path))?;
        }
        Ok(())
    }
}

pub(super) fn export(
    logs: &[LogStore],
    request: &ExportRequest,
) -> Result<ExportSummary, MonitorError> {
    let mut files = Files {
        out_dir: request.out_dir.clone(),
        created: BTreeSet::new(),
        open: None,
    };
    let mut summary = ExportSummary::default();
    for log in logs {
        let instance = instance_name(log.path());
        let mut pending: Option<Request> = None;
        for_each_row(log, request.since_ms, request.until_ms, |row| {
            summary.rows += 1;
            // Refused requests carry no model input or output: the collector logs neither.
            let Some(inputs) = row.inputs.as_deref() else {
                return Ok(());
            };
            let same = pending.as_ref().is_some_and(|p| {
                p.first.request_id == row.request_id
                    && p.first.time_ms == row.time_ms
                    && row.row_index != Some(0)
            });
            if !same && let Some(done) = pending.take() {
                summary.lines += write_request(&mut files, &instance, request, &done)?;
            }
            let input = serde_json::from_str(inputs).unwrap_or_else(|_| json!(inputs));
            let output = json!({
                "predicted_class": row.predicted_class,
                "probabilities": row
                    .probabilities
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<Value>(p).ok()),
            });
            let entry = pending.get_or_insert_with(|| Request {
                first: row.clone(),
                inputs: Vec::new(),
                outputs: Vec::new(),
            });
            entry.inputs.push(input);
            entry.outputs.push(output);
            Ok(())
        })?;
        if let Some(done) = pending.take() {
            summary.lines += write_request(&mut files, &instance, request, &done)?;
        }
    }
    files.flush()?;
    summary.files = files.created.into_iter().collect();
    Ok(summary)
}

/// Writes a request's `model_inputs` and `model_outputs` lines; returns the lines written.
fn write_request(
    files: &mut Files,
    instance: &str,
    request: &ExportRequest,
    done: &Request,
) -> Result<u64, MonitorError> {
    let row = &done.first;
    let time = rfc3339(row.time_ms);
    // yyyy-MM-ddTHH…: the partition folders.
    let (year, month, day, hour) = (&time[0..4], &time[5..7], &time[8..10], &time[11..13]);
    let source = format!(
        "{}/onlineEndpoints/{}/deployments/{}",
        request.azure_source_prefix.trim_end_matches('/'),
        row.endpoint,
        row.deployment
    );
    for (collection, data) in COLLECTIONS.iter().zip([&done.inputs, &done.outputs]) {
        let data_text = Value::Array(data.clone()).to_string();
        let length = data_text.len();
        let line = json!({
            "specversion": "1.0",
            "id": event_id(instance, &row.request_id, row.time_ms, collection),
            "source": source,
            "type": format!("azureml.inference.{collection}"),
            "datacontenttype": "application/json",
            "time": time,
            "data": data,
            "path": row.route,
            "method": "POST",
            "contentrange": format!("bytes 0-{}/{length}", length.saturating_sub(1)),
            "correlationid": row.request_id,
            "xrequestid": row.request_id,
            "modelversion": row.model_version,
            "collectdatatype": COLLECT_DATA_TYPE,
            "agent": AGENT,
        });
        let path = partition(
            &files.out_dir,
            &row.endpoint,
            &row.deployment,
            collection,
            [year, month, day, hour],
            instance,
        );
        files.write(path, &line.to_string())?;
    }
    Ok(2)
}

fn partition(
    out_dir: &Path,
    endpoint: &str,
    deployment: &str,
    collection: &str,
    [year, month, day, hour]: [&str; 4],
    instance: &str,
) -> PathBuf {
    out_dir
        .join(safe(endpoint))
        .join(safe(deployment))
        .join(collection)
        .join(year)
        .join(month)
        .join(day)
        .join(hour)
        .join(format!("{}.jsonl", safe(instance)))
}

/// A name as one path component: separators and `..` cannot leave the export directory.
fn safe(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    match cleaned.as_str() {
        "" | "." | ".." => "_".to_owned(),
        _ => cleaned,
    }
}

/// A stable UUID-shaped id for one line (the same export gives the same ids): two FNV-1a
/// hashes of the line's identity, formatted as a version 4 UUID.
fn event_id(instance: &str, request_id: &str, time_ms: i64, collection: &str) -> String {
    let key = format!("{instance}\u{0}{request_id}\u{0}{time_ms}\u{0}{collection}");
    let hash = |seed: u64| {
        key.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let (high, low) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0x0fff,
        0x8000 | ((low >> 48) & 0x3fff),
        low & 0xffff_ffff_ffff
    )
}
