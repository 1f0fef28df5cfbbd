//! The prediction log as finbeh-serve sees it: a [`PredictionSink`] that samples, hands records
//! to the writer thread over a bounded channel, and counts what it had to drop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, Thread};

use finbeh_config::Backpressure;
use finbeh_serve::{LabelRecord, LabelSink, PredictionRecord, PredictionSink, ServeError};

use crate::error::MonitorError;
use crate::log_params::PredictionLogConfig;
use crate::log_store::{LogIdentity, LogStore};
use crate::log_writer::{Counters, Message, Writer};

/// Row counts of a prediction log since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LogTotals {
    /// Rows committed to the database.
    pub written: u64,
    /// Rows dropped before the writer (channel full under `drop`, or the log closed).
    pub dropped: u64,
    /// Rows the writer could not write (database errors).
    pub failed: u64,
    /// Rows deleted by retention.
    pub retention_deleted: u64,
    /// Labels from the server written (new or replacing one).
    pub labels_written: u64,
    /// Labels from the server that could not be written (database errors).
    pub labels_failed: u64,
}

/// The SQLite prediction log: attach it with `AppState::set_prediction_sink`.
///
/// Dropping the last handle (or [`close`](Self::close)) commits what is pending and stops the
/// writer thread.
pub struct PredictionLog {
    sender: SyncSender<Message>,
    backpressure: Backpressure,
    sampler: Sampler,
    counters: Arc<Counters>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The writer, to wake early (channel half full, or closing).
    writer_thread: Thread,
    /// Records queued that make the sink wake the writer before its interval ends.
    wake_at: usize,
    path: PathBuf,
}

impl std::fmt::Debug for PredictionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionLog")
            .field("path", &self.path)
            .field("totals", &self.totals())
            .finish_non_exhaustive()
    }
}

impl PredictionLog {
    /// Opens (or creates) the log at `config.database_path()`, applies retention, and starts
    /// the writer thread.
    ///
    /// # Errors
    /// [`MonitorError::Database`] naming the file and the step that failed,
    /// [`MonitorError::SchemaVersion`] / [`MonitorError::NotAPredictionLog`] for a file this
    /// build does not write, [`MonitorError::Spawn`].
    pub fn open(config: &PredictionLogConfig, identity: LogIdentity) -> Result<Self, MonitorError> {
        let store = LogStore::open(config.database_path())?;
        let (sender, receiver) = sync_channel(config.channel_capacity());
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            store,
            identity,
            config: config.clone(),
            counters: Arc::clone(&counters),
        };
        let handle = std::thread::Builder::new()
            .name("finbeh-prediction-log".to_owned())
            .spawn(move || writer.run(&receiver))?;
        Ok(Self {
            writer_thread: handle.thread().clone(),
            wake_at: (config.channel_capacity() / 2).max(1),
            sender,
            backpressure: config.backpressure(),
            sampler: Sampler::new(config.sample_rate()),
            counters,
            writer: Mutex::new(Some(handle)),
            path: config.database_path().to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Row counts so far.
    pub fn totals(&self) -> LogTotals {
        LogTotals {
            written: self.counters.written.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            retention_deleted: self.counters.retention_deleted.load(Ordering::Relaxed),
            labels_written: self.counters.labels_written.load(Ordering::Relaxed),
            labels_failed: self.counters.labels_failed.load(Ordering::Relaxed),
        }
    }

    /// Commits every record sent so far, applies retention and stops the writer; later records
    /// are counted as dropped. Waits for the writer; a second call returns at once.
    ///
    /// # Errors
    /// [`MonitorError::WriterPanicked`].
    pub fn close(&self) -> Result<LogTotals, MonitorError> {
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // Fails only when the writer is already gone; joining says how it ended.
            // Woken first so that a full channel makes room for the close at once.
            handle.thread().unpark();
            let _ = self.sender.send(Message::Close);
            handle.thread().unpark();
            handle.join().map_err(|_| MonitorError::WriterPanicked)?;
        }
        Ok(self.totals())
    }
}

impl Drop for PredictionLog {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::error!(%error, "prediction log: closing failed");
        }
    }
}

impl PredictionSink for PredictionLog {
    fn sample(&self) -> bool {
        self.sampler.take()
    }

    fn record(&self, record: PredictionRecord) {
        let rows = record.log_rows() as u64;
        // Counted before the send, so the writer's decrement never goes below zero.
        let queued = self.counters.queued.fetch_add(1, Ordering::Relaxed) + 1;
        // Cheap unless the writer is parked (an atomic swap), and then it should wake.
        if queued >= self.wake_at {
            self.writer_thread.unpark();
        }
        let sent = match self.backpressure {
            Backpressure::Block => self.sender.send(Message::Record(record)).is_ok(),
            Backpressure::Drop => match self.sender.try_send(Message::Record(record)) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
        };
        if !sent {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            self.counters.dropped.fetch_add(rows, Ordering::Relaxed);
        }
    }

    fn dropped_rows(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    fn failed_rows(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }
}

/// Labels from `POST /labels` go down the records' channel to the writer, which commits them
/// with its next batch. Never waits: a full channel is a 503 the client retries.
impl LabelSink for PredictionLog {
    fn record_labels(
        &self,
        labels: Vec<LabelRecord>,
        received_unix_ms: i64,
    ) -> Result<(), ServeError> {
        let message = Message::Labels {
            labels,
            received_ms: received_unix_ms,
        };
        self.sender.try_send(message).map_err(|error| {
            ServeError::LabelsUnavailable(match error {
                TrySendError::Full(_) => {
                    "the prediction log's queue is full; send the labels again shortly".to_owned()
                }
                TrySendError::Disconnected(_) => "the prediction log is closed".to_owned(),
            })
        })
    }
}

/// Keeps a `rate` share of requests: each request's sequence number is hashed (SplitMix64)
/// and kept when the hash falls below `rate` × 2⁶⁴. 0 and 1 are exact.
#[derive(Debug)]
struct Sampler {
    threshold: Option<u64>,
    sequence: AtomicU64,
}

impl Sampler {
    fn new(rate: f64) -> Self {
        let threshold = if rate >= 1.0 {
            None
        } else {
            // In [0, 2⁶⁴): the cast saturates, and rate < 1 keeps it below u64::MAX.
            Some((rate.max(0.0) * 18_446_744_073_709_551_616.0) as u64)
        };
        Self {
            threshold,
            sequence: AtomicU64::new(0),
        }
    }

    fn take(&self) -> bool {
        let Some(threshold) = self.threshold else {
            return true;
        };
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        split_mix64(n) < threshold
    }
}

fn split_mix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampler_keeps_about_its_share_and_exactly_none_or_all() {
        let kept = |rate| {
            let sampler = Sampler::new(rate);
            (0..100_000).filter(|_| sampler.take()).count()
        };
        assert_eq!(kept(0.0), 0);
        assert_eq!(kept(1.0), 100_000);
        let quarter = kept(0.25);
        assert!((24_000..=26_000).contains(&quarter), "kept {quarter}");
    }
}
