//! The prediction log's SQLite file: its versioned table layout, batch inserts and retention.

use std::path::{Path, PathBuf};
use std::time::Duration;

use finbeh_serve::PredictionRecord;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::MonitorError;
use crate::windows::{
    CREATE_MINUTE_STATS, MINUTE_MS, add_minutes, aggregate_batch, backfill_from_predictions,
};

/// Version of the table layout below, kept in `meta` (`schema_version`). A compatibility
/// promise: a new layout gets a new version and a migration, and old files stay readable.
///
/// Version 2 added the `minute_stats` table (per-minute aggregates and latency histograms); a
/// version 1 file is migrated when it is opened (the table is created and filled from its rows).
pub const PREDICTION_LOG_SCHEMA_VERSION: u32 = 2;

/// How long a write waits for another connection's lock (a reader checkpointing, an export).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const CREATE_TABLES: &str = "
CREATE TABLE predictions (
    id              INTEGER PRIMARY KEY,
    time_ms         INTEGER NOT NULL,
    request_id      TEXT    NOT NULL,
    row_index       INTEGER,
    endpoint        TEXT    NOT NULL,
    deployment      TEXT    NOT NULL,
    route           TEXT    NOT NULL,
    model_name      TEXT    NOT NULL,
    model_version   TEXT    NOT NULL,
    inputs          TEXT,
    predicted_class TEXT,
    probabilities   TEXT,
    latency_ms      REAL    NOT NULL,
    http_status     INTEGER NOT NULL,
    error_code      TEXT
);
CREATE INDEX predictions_time ON predictions (time_ms);
";

/// The `schema_version` in a log's `meta` table, if any.
pub(crate) fn layout_version(connection: &Connection) -> Result<Option<String>, rusqlite::Error> {
    connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()
}

/// Names every row written with the endpoint and deployment it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogIdentity {
    /// Endpoint name (Azure ML's online endpoint, e.g. `deploy.azure.endpoint_name`).
    pub endpoint: String,
    /// Deployment name within the endpoint (e.g. `blue`).
    pub deployment: String,
}

/// An open prediction log, owned by the writer thread.
pub(crate) struct LogStore {
    connection: Connection,
    path: PathBuf,
}

impl LogStore {
    /// Opens (or creates) the log at `path` in WAL mode, checking its layout version.
    pub(crate) fn open(path: &Path) -> Result<Self, MonitorError> {
        let fail = |action| {
            let path = path.to_path_buf();
            move |source| MonitorError::Database {
                path,
                action,
                source,
            }
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut connection = Connection::open(path).map_err(fail("open"))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(fail("set the busy timeout"))?;
        // WAL: readers never block the writer. NORMAL: a commit survives the process being
        // killed (it is in the WAL file); only a power loss can take the last commits back.
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(fail("switch to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "the prediction log is not in WAL mode");
        }
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail("set synchronous = NORMAL"))?;
        let transaction = connection.transaction().map_err(fail("begin"))?;
        transaction
            .execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                [],
            )
            .map_err(fail("create the meta table"))?;
        let version = layout_version(&transaction).map_err(fail("read the layout version"))?;
        match version {
            Some(found) if found == PREDICTION_LOG_SCHEMA_VERSION.to_string() => {}
            Some(found) if found == "1" => {
                backfill_from_predictions(&transaction)
                    .map_err(fail("migrate layout version 1 to 2 (minute_stats)"))?;
                transaction
                    .execute(
                        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                        [PREDICTION_LOG_SCHEMA_VERSION.to_string()],
                    )
                    .map_err(fail("write the layout version"))?;
                tracing::info!(path = %path.display(), "prediction log migrated from layout version 1 to 2");
            }
            Some(found) => {
                return Err(MonitorError::SchemaVersion {
                    path: path.to_path_buf(),
                    found,
                    expected: PREDICTION_LOG_SCHEMA_VERSION,
                });
            }
            None => {
                let has_predictions: bool = transaction
                    .query_row(
                        "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'predictions'",
                        [],
                        |row| row.get(0),
                    )
                    .map_err(fail("list the tables"))?;
                if has_predictions {
                    return Err(MonitorError::NotAPredictionLog {
                        path: path.to_path_buf(),
                    });
                }
                transaction
                    .execute_batch(CREATE_TABLES)
                    .map_err(fail("create the predictions table"))?;
                transaction
                    .execute_batch(CREATE_MINUTE_STATS)
                    .map_err(fail("create the minute_stats table"))?;
                transaction
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                        [PREDICTION_LOG_SCHEMA_VERSION.to_string()],
                    )
                    .map_err(fail("write the layout version"))?;
            }
        }
        transaction.commit().map_err(fail("commit the layout"))?;
        Ok(Self {
            connection,
            path: path.to_path_buf(),
        })
    }

    /// Opens prediction logs that must already exist (readers: windows, alerts, export); a
    /// version 1 log is migrated.
    pub(crate) fn open_existing<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Self>, MonitorError> {
        if paths.is_empty() {
            return Err(MonitorError::NoDatabase {
                path: PathBuf::new(),
            });
        }
        paths
            .iter()
            .map(|path| {
                let path = path.as_ref();
                if path.is_file() {
                    Self::open(path)
                } else {
                    Err(MonitorError::NoDatabase {
                        path: path.to_path_buf(),
                    })
                }
            })
            .collect()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Writes `records` in one transaction, with their minutes' aggregates in `minute_stats`;
    /// returns the rows written. All or nothing.
    pub(crate) fn insert(
        &mut self,
        identity: &LogIdentity,
        records: &[PredictionRecord],
    ) -> Result<u64, rusqlite::Error> {
        let transaction = self.connection.transaction()?;
        let mut written = 0u64;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO predictions (time_ms, request_id, row_index, endpoint, deployment, \
                 route, model_name, model_version, inputs, predicted_class, probabilities, \
                 latency_ms, http_status, error_code) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for record in records {
                let common = (
                    record.unix_ms,
                    &record.request_id,
                    &identity.endpoint,
                    &identity.deployment,
                    record.route,
                    &record.model_name,
                    &record.model_version,
                );
                if record.rows.is_empty() {
                    insert.execute(params![
                        common.0,
                        common.1,
                        None::<i64>,
                        common.2,
                        common.3,
                        common.4,
                        common.5,
                        common.6,
                        None::<String>,
                        None::<String>,
                        None::<String>,
                        record.latency_ms,
                        record.status,
                        record.error_code,
                    ])?;
                    written += 1;
                }
                for (index, row) in record.rows.iter().enumerate() {
                    let probabilities = serde_json::to_string(&row.probabilities).ok();
                    insert.execute(params![
                        common.0,
                        common.1,
                        i64::try_from(index).ok(),
                        common.2,
                        common.3,
                        common.4,
                        common.5,
                        common.6,
                        &row.inputs_json,
                        &row.predicted_class,
                        probabilities,
                        record.latency_ms,
                        record.status,
                        record.error_code,
                    ])?;
                    written += 1;
                }
            }
        }
        add_minutes(&transaction, &aggregate_batch(identity, records))?;
        transaction.commit()?;
        Ok(written)
    }

    /// Deletes rows older than `max_age_ms` before `now_ms`, then the oldest rows beyond
    /// `max_rows`; returns the rows deleted.
    pub(crate) fn apply_retention(
        &mut self,
        now_ms: i64,
        max_age_ms: i64,
        max_rows: i64,
    ) -> Result<u64, rusqlite::Error> {
        let transaction = self.connection.transaction()?;
        let cutoff = now_ms.saturating_sub(max_age_ms);
        let by_age = transaction.execute("DELETE FROM predictions WHERE time_ms < ?1", [cutoff])?;
        // Minutes that ended before the cut-off (small rows: not counted as deleted rows).
        transaction.execute(
            "DELETE FROM minute_stats WHERE minute_ms < ?1",
            [cutoff.saturating_sub(MINUTE_MS)],
        )?;
        // Ids only grow (rows are appended, and deleted oldest first), so the newest
        // `max_rows` rows are those within `max_rows` of the largest id.
        let newest: Option<i64> =
            transaction.query_row("SELECT max(id) FROM predictions", [], |row| row.get(0))?;
        let by_count = match newest {
            Some(newest) => transaction.execute(
                "DELETE FROM predictions WHERE id <= ?1",
                [newest.saturating_sub(max_rows)],
            )?,
            None => 0,
        };
        transaction.commit()?;
        Ok((by_age + by_count) as u64)
    }
}
