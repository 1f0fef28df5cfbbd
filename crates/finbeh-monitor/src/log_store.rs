//! The prediction log's SQLite file: its versioned table layout and migrations, batch inserts
//! and retention.

use std::path::{Path, PathBuf};
use std::time::Duration;

use finbeh_serve::{LabelRecord, PredictionRecord};
use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::error::MonitorError;
use crate::input_block_store::{self, BlockWriter};
use crate::label_store::{self, SeenModels, Upserted};
use crate::log_rows::RowWriter;
use crate::windows::{MINUTE_MS, add_minutes, aggregate_batch, backfill_from_predictions};

/// Version of the table layout, kept in `meta` (`schema_version`): version 1 is
/// `CREATE_TABLES`, and each step of `MIGRATIONS` adds one. A compatibility promise: a new
/// layout gets a new version and a migration, and old files stay readable.
///
/// Version 2 added the `labels` and `models` tables (ground truth); version 3 added the
/// `minute_stats` table (per-minute aggregates and latency histograms), filled from the rows
/// already logged when an older file is opened; version 4 added the `input_schemas` and
/// `input_blocks` tables (each batch's raw inputs, typed, for readers of many rows; filled from
/// the logged JSON when an older file is opened). `predictions` is unchanged since version 1.
pub const PREDICTION_LOG_SCHEMA_VERSION: u32 = 4;

/// The first layout with input blocks.
pub(crate) const INPUT_BLOCKS_LAYOUT: u32 = 4;

/// One additive layout step (new tables or indexes only, so older readers' queries still run).
struct Migration {
    /// The version a file has after this step.
    to: u32,
    /// What it adds, for the error message when it fails.
    action: &'static str,
    apply: fn(&Transaction<'_>) -> Result<(), rusqlite::Error>,
}

/// Applied in order at open to a file of an older version; each in the open's transaction.
const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 2,
        action: "add the labels and models tables (layout 2)",
        apply: |transaction| transaction.execute_batch(label_store::LABELS_LAYOUT),
    },
    Migration {
        to: 3,
        action: "add the minute_stats table and fill it from the logged rows (layout 3)",
        apply: backfill_from_predictions,
    },
    Migration {
        to: 4,
        action: "add the input blocks and fill them from the logged rows (layout 4)",
        apply: input_block_store::fill_from_predictions,
    },
];

const _: () = assert!(MIGRATIONS.len() as u32 + 1 == PREDICTION_LOG_SCHEMA_VERSION);

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

/// An open prediction log, owned by the writer thread (or by one command reading it).
pub(crate) struct LogStore {
    connection: Connection,
    path: PathBuf,
    /// Models whose classes this store has recorded in `models`.
    seen_models: SeenModels,
    /// Turns records into rows (reused buffers, prepared multi-row inserts).
    rows: RowWriter,
    /// Appends each batch's inputs to the open input block.
    blocks: BlockWriter,
}

/// Maps a SQLite error to [`MonitorError::Database`] naming `path` and `action`.
pub(crate) type Fail =
    Box<dyn Fn(&'static str) -> Box<dyn FnOnce(rusqlite::Error) -> MonitorError>>;

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
        let existed = version.is_some();
        let from = match version {
            Some(found) => match found.parse::<u32>() {
                Ok(v) if (1..=PREDICTION_LOG_SCHEMA_VERSION).contains(&v) => v,
                _ => {
                    return Err(MonitorError::SchemaVersion {
                        path: path.to_path_buf(),
                        found,
                        expected: PREDICTION_LOG_SCHEMA_VERSION,
                    });
                }
            },
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
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', '1')",
                        [],
                    )
                    .map_err(fail("write the layout version"))?;
                1
            }
        };
        for step in MIGRATIONS.iter().filter(|step| step.to > from) {
            (step.apply)(&transaction).map_err(fail(step.action))?;
            transaction
                .execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    [step.to.to_string()],
                )
                .map_err(fail("write the layout version"))?;
        }
        if from < PREDICTION_LOG_SCHEMA_VERSION && existed {
            tracing::info!(path = %path.display(), from, to = PREDICTION_LOG_SCHEMA_VERSION, "prediction log layout migrated");
        }
        transaction.commit().map_err(fail("commit the layout"))?;
        Ok(Self {
            connection,
            path: path.to_path_buf(),
            seen_models: SeenModels::default(),
            rows: RowWriter::default(),
            blocks: BlockWriter::default(),
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

    /// Maps a SQLite error to [`MonitorError::Database`] naming this file and `action`.
    pub(crate) fn fail(&self) -> Fail {
        let path = self.path.clone();
        Box::new(move |action| {
            let path = path.clone();
            Box::new(move |source| MonitorError::Database {
                path,
                action,
                source,
            })
        })
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    pub(crate) fn connection_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }

    /// Writes labels that arrived through the server (checked there) in one transaction.
    pub(crate) fn upsert_labels(
        &mut self,
        labels: &[LabelRecord],
        received_ms: i64,
    ) -> Result<Upserted, rusqlite::Error> {
        let transaction = self.connection.transaction()?;
        let done = label_store::upsert_labels(&transaction, labels, received_ms)?;
        transaction.commit()?;
        Ok(done)
    }

    /// Writes `records` in one transaction, with their minutes' aggregates in `minute_stats`;
    /// returns the rows written. All or nothing.
    pub(crate) fn insert(
        &mut self,
        identity: &LogIdentity,
        records: &[PredictionRecord],
    ) -> Result<u64, rusqlite::Error> {
        let written = self.try_insert(identity, records);
        if written.is_err() {
            // Rolled back: the open block and the schema ids may name what is not there.
            self.blocks.reset();
        }
        written
    }

    fn try_insert(
        &mut self,
        identity: &LogIdentity,
        records: &[PredictionRecord],
    ) -> Result<u64, rusqlite::Error> {
        let transaction = self.connection.transaction()?;
        for record in records {
            if self.seen_models.first_time(&record.model) {
                label_store::record_model(&transaction, &record.model)?;
            }
        }
        let written = self.rows.insert(&transaction, identity, records)?;
        if written > 0 {
            // One writer appends to `predictions`, in one transaction: its ids are consecutive.
            let first_id = transaction.last_insert_rowid() - (written as i64 - 1);
            self.blocks.append(&transaction, first_id, records)?;
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
        // Labels age with their predictions (not counted among the rows deleted).
        transaction.execute("DELETE FROM labels WHERE received_ms < ?1", [cutoff])?;
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
        if by_age + by_count > 0 {
            input_block_store::retain_blocks(&transaction, cutoff)?;
            self.blocks.reset();
        }
        transaction.commit()?;
        Ok((by_age + by_count) as u64)
    }
}
