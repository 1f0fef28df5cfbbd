//! The `dropped_rows` table: rows the prediction log dropped (channel full under
//! `backpressure = "drop"`) per minute, so an alert rule over a window can read them from the
//! database, in the serving process or in `monitor alerts`. An additive table, created by the
//! writer when it starts; a log written before it existed has none, and reads as "no data".

use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{OptionalExtension, params};

use super::minute_store::minute_of;
use super::reader::{MetricsReader, window_start};
use crate::error::MonitorError;
use crate::log_store::{LogIdentity, LogStore};

const CREATE_DROPPED_ROWS: &str = "
CREATE TABLE IF NOT EXISTS dropped_rows (
    minute_ms  INTEGER NOT NULL,
    endpoint   TEXT    NOT NULL,
    deployment TEXT    NOT NULL,
    rows       INTEGER NOT NULL,
    PRIMARY KEY (minute_ms, endpoint, deployment)
);
";

/// The writer's hook: creates the table on the first call, then adds the rows dropped since the
/// last call (`counter` − `seen`) to the current minute. A failure is logged, never fatal (the
/// rows are then only in `/metrics`), and retried with the next batch.
pub(crate) fn persist_dropped(
    store: &LogStore,
    identity: &LogIdentity,
    counter: &AtomicU64,
    seen: &mut Option<u64>,
    now_ms: i64,
) {
    let connection = store.connection();
    if seen.is_none() {
        if let Err(error) = connection.execute_batch(CREATE_DROPPED_ROWS) {
            tracing::error!(path = %store.path().display(), %error,
                "prediction log: cannot create the dropped_rows table; retried with the next batch");
            return;
        }
        *seen = Some(0);
    }
    let last = seen.unwrap_or(0);
    let total = counter.load(Ordering::Relaxed);
    let fresh = total.saturating_sub(last);
    if fresh == 0 {
        return;
    }
    let result = connection.execute(
        "INSERT INTO dropped_rows (minute_ms, endpoint, deployment, rows) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (minute_ms, endpoint, deployment) DO UPDATE SET rows = rows + excluded.rows",
        params![
            minute_of(now_ms),
            identity.endpoint,
            identity.deployment,
            i64::try_from(fresh).unwrap_or(i64::MAX)
        ],
    );
    match result {
        Ok(_) => *seen = Some(total),
        Err(error) => tracing::error!(path = %store.path().display(), %error, rows = fresh,
            "prediction log: cannot record dropped rows; retried with the next batch"),
    }
}

impl MetricsReader {
    /// Rows dropped in the window of `length` ending at `until_ms` (the same minutes as
    /// [`window`](Self::window)), summed over the databases; `None` when no database has the
    /// `dropped_rows` table (logs written before it existed).
    ///
    /// # Errors
    /// [`MonitorError::Database`] naming the file.
    pub fn dropped_rows(
        &self,
        until_ms: i64,
        length: std::time::Duration,
    ) -> Result<Option<u64>, MonitorError> {
        let since_ms = window_start(until_ms, length);
        let mut total: Option<u64> = None;
        for log in self.logs() {
            let fail = |source| MonitorError::Database {
                path: log.path().to_path_buf(),
                action: "read dropped_rows",
                source,
            };
            let connection = log.connection();
            let exists = connection
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dropped_rows'",
                    [],
                    |_| Ok(()),
                )
                .optional()
                .map_err(fail)?
                .is_some();
            if !exists {
                continue;
            }
            let rows: i64 = connection
                .query_row(
                    "SELECT coalesce(sum(rows), 0) FROM dropped_rows \
                     WHERE minute_ms >= ?1 AND minute_ms < ?2",
                    [since_ms, until_ms],
                    |row| row.get(0),
                )
                .map_err(fail)?;
            let rows = u64::try_from(rows).unwrap_or(0);
            total = Some(total.unwrap_or(0).saturating_add(rows));
        }
        Ok(total)
    }
}
