//! The most recent refused or failed requests of prediction logs, read-only (the
//! troubleshooter's "last errors").

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::MonitorError;
use crate::log_read::open_read_only;

/// Most errors [`recent_errors`] returns, whatever is asked.
pub const MAX_RECENT_ERRORS: usize = 1_000;

/// One logged request answered 4xx or 5xx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedError {
    /// When it was answered, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The request id the client was answered with.
    pub request_id: String,
    /// Endpoint and deployment that logged it.
    pub endpoint: String,
    /// Deployment that logged it.
    pub deployment: String,
    /// Model name and version.
    pub model: String,
    /// HTTP status.
    pub status: u16,
    /// The answer's `error.code`, when it had one.
    pub error_code: Option<String>,
    /// The log it was read from.
    pub database: PathBuf,
}

/// The `limit` (at most [`MAX_RECENT_ERRORS`]) most recent requests answered 4xx or 5xx across
/// `databases`, newest first; a request's rows count once.
///
/// # Errors
/// [`MonitorError::NoDatabase`] for a missing file, [`MonitorError::Database`] naming the file
/// that cannot be read.
pub fn recent_errors<P: AsRef<Path>>(
    databases: &[P],
    limit: usize,
) -> Result<Vec<LoggedError>, MonitorError> {
    let limit = limit.min(MAX_RECENT_ERRORS);
    let mut errors = Vec::new();
    for path in databases {
        let path = path.as_ref();
        let connection = open_read_only(path)?;
        let fail = |action| {
            let path = path.to_path_buf();
            move |source| MonitorError::Database {
                path,
                action,
                source,
            }
        };
        let mut statement = connection
            .prepare(
                "SELECT time_ms, request_id, endpoint, deployment, model_name, model_version, \
                 http_status, error_code FROM predictions \
                 WHERE http_status >= 400 AND (row_index IS NULL OR row_index = 0) \
                 ORDER BY id DESC LIMIT ?1",
            )
            .map_err(fail("read the logged errors"))?;
        let rows = statement
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                let name: String = row.get(4)?;
                let version: String = row.get(5)?;
                Ok(LoggedError {
                    time_ms: row.get(0)?,
                    request_id: row.get(1)?,
                    endpoint: row.get(2)?,
                    deployment: row.get(3)?,
                    model: format!("{name} {version}"),
                    status: u16::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
                    error_code: row.get(7)?,
                    database: path.to_path_buf(),
                })
            })
            .map_err(fail("read the logged errors"))?;
        for row in rows {
            errors.push(row.map_err(fail("read a logged error"))?);
        }
    }
    errors.sort_by_key(|e| std::cmp::Reverse(e.time_ms));
    errors.truncate(limit);
    Ok(errors)
}
