//! The writer thread: every batch interval (or sooner when the channel fills) it drains the
//! bounded channel, commits what it took in one transaction, and applies retention between
//! batches. No SQLite work ever runs on a request thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use finbeh_serve::{LabelRecord, PredictionRecord};

use crate::log_params::PredictionLogConfig;
use crate::log_store::{LogIdentity, LogStore};

/// Rows that close a batch early, before its interval ends (bounds a transaction's size).
pub const MAX_BATCH_ROWS: usize = 8_192;
/// How often retention runs (also once at start and once at close).
pub(crate) const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// What the server side sends to the writer.
pub(crate) enum Message {
    Record(PredictionRecord),
    /// Ground-truth labels from `POST /labels`, checked by the server.
    Labels {
        labels: Vec<LabelRecord>,
        received_ms: i64,
    },
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
    /// Labels written (new or replacing one).
    pub(crate) labels_written: AtomicU64,
    /// Labels that could not be written (a database error, logged).
    pub(crate) labels_failed: AtomicU64,
    /// Records in the channel now (the sink wakes the writer when half the capacity waits).
    pub(crate) queued: AtomicUsize,
}

pub(crate) struct Writer {
    pub(crate) store: LogStore,
    pub(crate) identity: LogIdentity,
    pub(crate) config: PredictionLogConfig,
    pub(crate) counters: Arc<Counters>,
}

impl Writer {
    /// Runs until [`Message::Close`] arrives or every sender is gone.
    ///
    /// The writer parks between batches instead of waiting in `recv`, so that a send does not
    /// wake it (a wake per request costs the request threads far more than the insert); the
    /// sink unparks it early when the channel is half full or the log closes.
    pub(crate) fn run(mut self, receiver: &Receiver<Message>) {
        self.retain();
        let mut next_retention = Instant::now() + RETENTION_EVERY;
        let mut batch: Vec<PredictionRecord> = Vec::new();
        let mut labels: Vec<(Vec<LabelRecord>, i64)> = Vec::new();
        let mut next_batch = Instant::now() + self.config.batch_interval();
        let mut dropped_seen = None;
        loop {
            let (closing, full) = self.drain(receiver, &mut batch, &mut labels);
            self.commit(&mut batch);
            crate::windows::persist_dropped(
                &self.store,
                &self.identity,
                &self.counters.dropped,
                &mut dropped_seen,
                crate::time_spec::now_ms(),
            );
            self.commit_labels(&mut labels);
            if closing {
                self.retain();
                return;
            }
            if Instant::now() >= next_retention {
                self.retain();
                next_retention = Instant::now() + RETENTION_EVERY;
            }
            if !full {
                std::thread::park_timeout(next_batch.saturating_duration_since(Instant::now()));
                next_batch = Instant::now() + self.config.batch_interval();
            }
        }
    }

    /// Takes what waits in the channel, up to [`MAX_BATCH_ROWS`] rows; returns whether a close
    /// arrived (or every sender is gone) and whether the batch is full.
    fn drain(
        &self,
        receiver: &Receiver<Message>,
        batch: &mut Vec<PredictionRecord>,
        labels: &mut Vec<(Vec<LabelRecord>, i64)>,
    ) -> (bool, bool) {
        let mut rows: usize = 0;
        while rows < MAX_BATCH_ROWS {
            match receiver.try_recv() {
                Ok(Message::Record(record)) => {
                    self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                    rows = rows.saturating_add(record.log_rows());
                    batch.push(record);
                }
                Ok(Message::Labels {
                    labels: received,
                    received_ms,
                }) => labels.push((received, received_ms)),
                Ok(Message::Close) | Err(TryRecvError::Disconnected) => return (true, false),
                Err(TryRecvError::Empty) => return (false, false),
            }
        }
        (false, true)
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

    fn commit_labels(&mut self, labels: &mut Vec<(Vec<LabelRecord>, i64)>) {
        for (batch, received_ms) in labels.drain(..) {
            match self.store.upsert_labels(&batch, received_ms) {
                Ok(done) => {
                    self.counters
                        .labels_written
                        .fetch_add(done.new + done.replaced, Ordering::Relaxed);
                }
                Err(error) => {
                    self.counters
                        .labels_failed
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::error!(
                        path = %self.store.path().display(),
                        labels = batch.len(),
                        %error,
                        "prediction log: labels could not be written; they are lost"
                    );
                }
            }
        }
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
