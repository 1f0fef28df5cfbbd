//! The writer thread: drains the bounded channel and commits batched transactions, and applies
//! retention between batches. No SQLite work ever runs on a request thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use finbeh_serve::PredictionRecord;

use crate::log_params::PredictionLogConfig;
use crate::log_store::{LogIdentity, LogStore};

/// Rows that close a batch early, before its interval ends (bounds a transaction's size).
pub const MAX_BATCH_ROWS: usize = 8_192;
/// How often retention runs (also once at start and once at close).
pub(crate) const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// What the server side sends to the writer.
pub(crate) enum Message {
    Record(PredictionRecord),
    /// Commit what is pending, apply retention, and stop.
    Close,
}

/// Row counts shared between the sink (on request threads) and the writer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) written: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retention_deleted: AtomicU64,
}

pub(crate) struct Writer {
    pub(crate) store: LogStore,
    pub(crate) identity: LogIdentity,
    pub(crate) config: PredictionLogConfig,
    pub(crate) counters: Arc<Counters>,
}

impl Writer {
    /// Runs until [`Message::Close`] arrives or every sender is gone.
    pub(crate) fn run(mut self, receiver: &Receiver<Message>) {
        self.retain();
        let mut next_retention = Instant::now() + RETENTION_EVERY;
        let mut batch: Vec<PredictionRecord> = Vec::new();
        let mut closing = false;
        while !closing {
            let wait = next_retention.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(wait) {
                Ok(Message::Record(record)) => batch.push(record),
                Ok(Message::Close) | Err(RecvTimeoutError::Disconnected) => closing = true,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if !batch.is_empty() && !closing {
                closing = self.fill(receiver, &mut batch);
            }
            if closing {
                // Records sent before the close are still committed.
                while let Ok(Message::Record(record)) = receiver.try_recv() {
                    batch.push(record);
                }
            }
            self.commit(&mut batch);
            if closing || Instant::now() >= next_retention {
                self.retain();
                next_retention = Instant::now() + RETENTION_EVERY;
            }
        }
    }

    /// Adds records until the batch interval (counted from the first record) ends or the batch
    /// is full; returns whether a close arrived.
    fn fill(&self, receiver: &Receiver<Message>, batch: &mut Vec<PredictionRecord>) -> bool {
        let deadline = Instant::now() + self.config.batch_interval();
        let mut rows: usize = batch.iter().map(PredictionRecord::log_rows).sum();
        while rows < MAX_BATCH_ROWS {
            let wait = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(wait) {
                Ok(Message::Record(record)) => {
                    rows = rows.saturating_add(record.log_rows());
                    batch.push(record);
                }
                Ok(Message::Close) | Err(RecvTimeoutError::Disconnected) => return true,
                Err(RecvTimeoutError::Timeout) => return false,
            }
        }
        false
    }

    fn commit(&mut self, batch: &mut Vec<PredictionRecord>) {
        if batch.is_empty() {
            return;
        }
        let rows: u64 = batch.iter().map(|r| r.log_rows() as u64).sum();
        match self.store.insert(&self.identity, batch) {
            Ok(written) => {
                self.counters.written.fetch_add(written, Ordering::Relaxed);
            }
            Err(error) => {
                self.counters.failed.fetch_add(rows, Ordering::Relaxed);
                tracing::error!(
                    path = %self.store.path().display(),
                    rows,
                    %error,
                    "prediction log: a batch could not be written; its rows are lost"
                );
            }
        }
        batch.clear();
    }

    fn retain(&mut self) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        match self.store.apply_retention(
            now_ms,
            self.config.retention_age_ms(),
            self.config.retention_max_rows(),
        ) {
            Ok(0) => {}
            Ok(deleted) => {
                self.counters
                    .retention_deleted
                    .fetch_add(deleted, Ordering::Relaxed);
                tracing::info!(
                    path = %self.store.path().display(),
                    deleted,
                    "prediction log: retention deleted old rows"
                );
            }
            Err(error) => tracing::error!(
                path = %self.store.path().display(),
                %error,
                "prediction log: retention failed; it is retried in a minute"
            ),
        }
    }
}
