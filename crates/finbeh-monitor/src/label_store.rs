//! Ground-truth labels in the prediction log: the `labels` and `models` tables (layout step 2),
//! upserts, and the class check.

use std::collections::BTreeSet;
use std::sync::Arc;

use finbeh_serve::{LabelRecord, ModelInfo};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Layout step to version 2: labels keyed by the row they label, and each model's classes (so
/// a label can be checked, and a binary model's positive class found, from the log alone).
pub(crate) const LABELS_LAYOUT: &str = "
CREATE TABLE labels (
    request_id  TEXT    NOT NULL,
    row_index   INTEGER NOT NULL,
    label       TEXT    NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (request_id, row_index)
) WITHOUT ROWID;
CREATE INDEX labels_received ON labels (received_ms);
CREATE TABLE models (
    model_name    TEXT NOT NULL,
    model_version TEXT NOT NULL,
    classes       TEXT NOT NULL,
    PRIMARY KEY (model_name, model_version)
) WITHOUT ROWID;
";

/// Labels written: new ones, and ones that replaced a label already stored for their row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Upserted {
    pub(crate) new: u64,
    pub(crate) replaced: u64,
}

/// Writes `labels`; a label for a (request id, row) already labelled replaces it.
pub(crate) fn upsert_labels<'a>(
    transaction: &Transaction<'_>,
    labels: impl IntoIterator<Item = &'a LabelRecord>,
    received_ms: i64,
) -> rusqlite::Result<Upserted> {
    let mut exists = transaction
        .prepare_cached("SELECT 1 FROM labels WHERE request_id = ?1 AND row_index = ?2")?;
    let mut upsert = transaction.prepare_cached(
        "INSERT INTO labels (request_id, row_index, label, received_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (request_id, row_index) \
         DO UPDATE SET label = excluded.label, received_ms = excluded.received_ms",
    )?;
    let mut done = Upserted::default();
    for label in labels {
        let key = params![label.request_id, label.row];
        if exists.query_row(key, |_| Ok(())).optional()?.is_some() {
            done.replaced += 1;
        } else {
            done.new += 1;
        }
        upsert.execute(params![
            label.request_id,
            label.row,
            label.label,
            received_ms
        ])?;
    }
    Ok(done)
}

/// Records a model's classes once per model the writer sees.
pub(crate) fn record_model(
    transaction: &Transaction<'_>,
    model: &ModelInfo,
) -> rusqlite::Result<()> {
    let classes = serde_json::to_string(&model.classes).unwrap_or_else(|_| "[]".to_owned());
    transaction
        .prepare_cached(
            "INSERT INTO models (model_name, model_version, classes) VALUES (?1, ?2, ?3) \
             ON CONFLICT (model_name, model_version) DO UPDATE SET classes = excluded.classes",
        )?
        .execute(params![model.name, model.version, classes])?;
    Ok(())
}

/// The models the writer has recorded in this session (by identity first, then name/version).
#[derive(Default)]
pub(crate) struct SeenModels(Vec<Arc<ModelInfo>>);

impl SeenModels {
    /// Whether `model` is new to this session (and remembers it).
    pub(crate) fn first_time(&mut self, model: &Arc<ModelInfo>) -> bool {
        let seen = self.0.iter().any(|known| {
            Arc::ptr_eq(known, model)
                || (known.name == model.name && known.version == model.version)
        });
        if !seen {
            self.0.push(Arc::clone(model));
        }
        !seen
    }
}

/// A model's name and version.
pub(crate) type ModelKey = (String, String);

/// Every model's classes in the log, by (name, version).
pub(crate) fn model_classes(
    connection: &Connection,
) -> rusqlite::Result<Vec<(ModelKey, Vec<String>)>> {
    let mut statement =
        connection.prepare("SELECT model_name, model_version, classes FROM models")?;
    let rows = statement.query_map([], |row| {
        let classes: String = row.get(2)?;
        Ok((
            (row.get(0)?, row.get(1)?),
            serde_json::from_str(&classes).unwrap_or_default(),
        ))
    })?;
    rows.collect()
}

/// The union of every recorded model's classes (a label must be one of them).
pub(crate) fn known_classes(connection: &Connection) -> rusqlite::Result<BTreeSet<String>> {
    Ok(model_classes(connection)?
        .into_iter()
        .flat_map(|(_, classes)| classes)
        .collect())
}

/// How many of the (request id, row) keys in the temporary `upload` table match a logged
/// prediction. One pass over the log (no index on request ids, so inserts stay cheap).
pub(crate) fn count_matched(transaction: &Transaction<'_>) -> rusqlite::Result<u64> {
    let matched: i64 = transaction.query_row(
        "SELECT count(*) FROM (SELECT DISTINCT u.request_id, u.row_index \
         FROM predictions p CROSS JOIN temp.upload u \
         ON u.request_id = p.request_id AND u.row_index = p.row_index)",
        [],
        |row| row.get(0),
    )?;
    Ok(u64::try_from(matched).unwrap_or(0))
}

/// A temporary table of the keys of one upload, for [`count_matched`].
pub(crate) fn create_upload_table(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(
        "DROP TABLE IF EXISTS temp.upload; \
         CREATE TEMP TABLE upload (request_id TEXT NOT NULL, row_index INTEGER NOT NULL, \
         PRIMARY KEY (request_id, row_index)) WITHOUT ROWID;",
    )
}

/// Adds one label's key to the temporary `upload` table.
pub(crate) fn add_to_upload(
    transaction: &Transaction<'_>,
    label: &LabelRecord,
) -> rusqlite::Result<()> {
    transaction
        .prepare_cached(
            "INSERT OR IGNORE INTO temp.upload (request_id, row_index) VALUES (?1, ?2)",
        )?
        .execute(params![label.request_id, label.row])?;
    Ok(())
}
