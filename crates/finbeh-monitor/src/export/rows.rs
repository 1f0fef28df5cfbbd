//! Reading logged rows for export, streamed in write order (memory: one request's rows).

use std::path::Path;

use rusqlite::params;

use crate::error::MonitorError;
use crate::log_store::LogStore;

/// One logged row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoggedRow {
    pub(crate) time_ms: i64,
    pub(crate) request_id: String,
    pub(crate) row_index: Option<i64>,
    pub(crate) endpoint: String,
    pub(crate) deployment: String,
    pub(crate) route: String,
    pub(crate) model_name: String,
    pub(crate) model_version: String,
    /// JSON object text.
    pub(crate) inputs: Option<String>,
    pub(crate) predicted_class: Option<String>,
    /// JSON array text.
    pub(crate) probabilities: Option<String>,
    pub(crate) latency_ms: f64,
    pub(crate) http_status: i64,
    pub(crate) error_code: Option<String>,
}

/// Calls `each` with every row of `log` logged in `[since_ms, until_ms)`, in write order.
pub(crate) fn for_each_row(
    log: &LogStore,
    since_ms: i64,
    until_ms: i64,
    mut each: impl FnMut(LoggedRow) -> Result<(), MonitorError>,
) -> Result<(), MonitorError> {
    let fail = |source| MonitorError::Database {
        path: log.path().to_path_buf(),
        action: "read the predictions to export",
        source,
    };
    let mut select = log
        .connection()
        .prepare(
            "SELECT time_ms, request_id, row_index, endpoint, deployment, route, model_name, \
             model_version, inputs, predicted_class, probabilities, latency_ms, http_status, \
             error_code FROM predictions WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY id",
        )
        .map_err(fail)?;
    let mut rows = select.query(params![since_ms, until_ms]).map_err(fail)?;
    while let Some(row) = rows.next().map_err(fail)? {
        let logged = (|| {
            Ok::<_, rusqlite::Error>(LoggedRow {
                time_ms: row.get(0)?,
                request_id: row.get(1)?,
                row_index: row.get(2)?,
                endpoint: row.get(3)?,
                deployment: row.get(4)?,
                route: row.get(5)?,
                model_name: row.get(6)?,
                model_version: row.get(7)?,
                inputs: row.get(8)?,
                predicted_class: row.get(9)?,
                probabilities: row.get(10)?,
                latency_ms: row.get(11)?,
                http_status: row.get(12)?,
                error_code: row.get(13)?,
            })
        })()
        .map_err(fail)?;
        each(logged)?;
    }
    Ok(())
}

/// The distinct input column names of the rows in `[since_ms, until_ms)`, sorted (SQLite's
/// JSON functions), at most `max`.
pub(crate) fn input_columns(
    log: &LogStore,
    since_ms: i64,
    until_ms: i64,
    max: usize,
) -> Result<Vec<String>, MonitorError> {
    let fail = |source| MonitorError::Database {
        path: log.path().to_path_buf(),
        action: "list the logged input columns",
        source,
    };
    let mut select = log
        .connection()
        .prepare(
            "SELECT DISTINCT j.key FROM predictions, json_each(predictions.inputs) AS j \
             WHERE predictions.inputs IS NOT NULL AND time_ms >= ?1 AND time_ms < ?2 \
             ORDER BY j.key LIMIT ?3",
        )
        .map_err(fail)?;
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    select
        .query_map(params![since_ms, until_ms, limit], |row| row.get(0))
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)
}

/// The instance a database stands for in an export: its file name without extension (one
/// database per replica).
pub(crate) fn instance_name(path: &Path) -> String {
    path.file_stem().map_or_else(
        || "instance".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    )
}
