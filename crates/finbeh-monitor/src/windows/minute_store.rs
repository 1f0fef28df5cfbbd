//! The `minute_stats` table: one row per (minute, endpoint, deployment, model version), written
//! by the prediction-log writer in the transaction that commits the rows it counts.

use std::collections::BTreeMap;

use finbeh_serve::PredictionRecord;
use rusqlite::{OptionalExtension, Transaction, params};

use super::aggregate::{Aggregate, HistogramError};
use crate::log_store::LogIdentity;

/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60_000;

pub(crate) const CREATE_MINUTE_STATS: &str = "
CREATE TABLE minute_stats (
    minute_ms         INTEGER NOT NULL,
    endpoint          TEXT    NOT NULL,
    deployment        TEXT    NOT NULL,
    model_version     TEXT    NOT NULL,
    requests          INTEGER NOT NULL,
    status_counts     TEXT    NOT NULL,
    rows_scored       INTEGER NOT NULL,
    binary_rows       INTEGER NOT NULL,
    positives         INTEGER NOT NULL,
    probability_sum   REAL    NOT NULL,
    latency_sum_ms    REAL    NOT NULL,
    latency_max_ms    REAL    NOT NULL,
    latency_histogram BLOB    NOT NULL,
    PRIMARY KEY (minute_ms, endpoint, deployment, model_version)
);
";

/// What a minute's row is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MinuteKey {
    /// Start of the minute, milliseconds since the Unix epoch (a multiple of 60,000).
    pub minute_ms: i64,
    /// Endpoint name.
    pub endpoint: String,
    /// Deployment name.
    pub deployment: String,
    /// Model version.
    pub model_version: String,
}

/// The start of the minute holding `unix_ms`.
pub fn minute_of(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// Aggregates a batch of records by minute and key.
pub(crate) fn aggregate_batch(
    identity: &LogIdentity,
    records: &[PredictionRecord],
) -> BTreeMap<MinuteKey, Aggregate> {
    let mut minutes: BTreeMap<MinuteKey, Aggregate> = BTreeMap::new();
    for record in records {
        let key = MinuteKey {
            minute_ms: minute_of(record.unix_ms),
            endpoint: identity.endpoint.clone(),
            deployment: identity.deployment.clone(),
            model_version: record.model.version.clone(),
        };
        minutes.entry(key).or_default().record(record);
    }
    minutes
}

/// Adds `minutes` to the stored rows (merging with a minute already stored).
pub(crate) fn add_minutes(
    transaction: &Transaction<'_>,
    minutes: &BTreeMap<MinuteKey, Aggregate>,
) -> Result<(), rusqlite::Error> {
    let mut select = transaction.prepare_cached(
        "SELECT requests, status_counts, rows_scored, binary_rows, positives, probability_sum, \
         latency_sum_ms, latency_max_ms, latency_histogram FROM minute_stats \
         WHERE minute_ms = ?1 AND endpoint = ?2 AND deployment = ?3 AND model_version = ?4",
    )?;
    let mut upsert = transaction.prepare_cached(
        "INSERT OR REPLACE INTO minute_stats (minute_ms, endpoint, deployment, model_version, \
         requests, status_counts, rows_scored, binary_rows, positives, probability_sum, \
         latency_sum_ms, latency_max_ms, latency_histogram) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (key, fresh) in minutes {
        let stored = select
            .query_row(
                params![
                    key.minute_ms,
                    key.endpoint,
                    key.deployment,
                    key.model_version
                ],
                read_aggregate,
            )
            .optional()?;
        let mut total = match stored {
            // A stored histogram that does not read back is replaced, and said so.
            Some(Ok(stored)) => stored,
            Some(Err(error)) => {
                tracing::error!(minute_ms = key.minute_ms, %error,
                    "minute_stats: a stored latency histogram is unreadable; the minute restarts");
                Aggregate::new()
            }
            None => Aggregate::new(),
        };
        total.merge(fresh);
        upsert.execute(params![
            key.minute_ms,
            key.endpoint,
            key.deployment,
            key.model_version,
            count_to_sql(total.requests),
            serde_json::to_string(&total.statuses).unwrap_or_else(|_| "{}".to_owned()),
            count_to_sql(total.rows),
            count_to_sql(total.binary_rows),
            count_to_sql(total.positives),
            total.probability_sum,
            total.latency_sum_ms,
            total.latency_max_ms,
            total.histogram_bytes(),
        ])?;
    }
    Ok(())
}

/// Reads the aggregate columns of a `minute_stats` row (from `requests` on); the histogram or
/// the status counts may be unreadable, which the caller reports with the file.
pub(crate) fn read_aggregate(
    row: &rusqlite::Row<'_>,
) -> Result<Result<Aggregate, HistogramError>, rusqlite::Error> {
    let statuses: String = row.get(1)?;
    let histogram: Vec<u8> = row.get(8)?;
    let statuses: BTreeMap<u16, u64> = match serde_json::from_str(&statuses) {
        Ok(statuses) => statuses,
        Err(error) => return Ok(Err(HistogramError(format!("status_counts: {error}")))),
    };
    let latency_us = match Aggregate::histogram_from_bytes(&histogram) {
        Ok(histogram) => histogram,
        Err(error) => return Ok(Err(error)),
    };
    Ok(Ok(Aggregate {
        requests: count_from_sql(row.get(0)?),
        statuses,
        rows: count_from_sql(row.get(2)?),
        binary_rows: count_from_sql(row.get(3)?),
        positives: count_from_sql(row.get(4)?),
        probability_sum: row.get(5)?,
        latency_sum_ms: row.get(6)?,
        latency_max_ms: row.get(7)?,
        latency_us,
    }))
}

/// Layout step 3 (from version 1 or 2): creates `minute_stats` and fills it from the logged
/// rows, one minute at a time (memory: one minute's aggregates). Logged rows do not record the
/// predicted class index, so a binary row counts as positive when its positive-class
/// probability is at least 0.5.
pub(crate) fn backfill_from_predictions(
    transaction: &Transaction<'_>,
) -> Result<(), rusqlite::Error> {
    transaction.execute_batch(CREATE_MINUTE_STATS)?;
    let mut select = transaction.prepare(
        "SELECT time_ms, endpoint, deployment, model_version, row_index, \
         probabilities, latency_ms, http_status FROM predictions ORDER BY time_ms, id",
    )?;
    let mut rows = select.query([])?;
    let mut open: BTreeMap<MinuteKey, Aggregate> = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let key = MinuteKey {
            minute_ms: minute_of(row.get(0)?),
            endpoint: row.get(1)?,
            deployment: row.get(2)?,
            model_version: row.get(3)?,
        };
        if open
            .keys()
            .next()
            .is_some_and(|first| first.minute_ms < key.minute_ms)
        {
            add_minutes(transaction, &open)?;
            open.clear();
        }
        let row_index: Option<i64> = row.get(4)?;
        let probabilities: Option<String> = row.get(5)?;
        let latency_ms: f64 = row.get(6)?;
        let status: u16 = row.get(7)?;
        let aggregate = open.entry(key).or_default();
        // A request is its row 0, or its one row without an index (refused).
        if row_index.unwrap_or(0) == 0 {
            aggregate.record_request(status, latency_ms);
        }
        if row_index.is_some() {
            let probabilities: Vec<f64> = probabilities
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            let predicted_index = match probabilities.as_slice() {
                [_, positive] if *positive >= 0.5 => 1,
                _ => 0,
            };
            aggregate.record_row(predicted_index, &probabilities);
        }
    }
    add_minutes(transaction, &open)
}

/// SQLite integers are signed; counts beyond `i64::MAX` cannot occur in practice and saturate.
fn count_to_sql(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A count read back; a negative one (a hand-edited file) reads as 0.
fn count_from_sql(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}
