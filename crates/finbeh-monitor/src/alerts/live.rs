//! Alerts evaluated inside a serving process: a background thread evaluates the rules over the
//! prediction log every interval and hands new events to the sinks (never on a request thread).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::evaluate::AlertEvaluator;
use super::log_metrics::{LogMetrics, LogSource};
use super::params::AlertValidParams;
use super::sinks::AlertSinks;
use crate::error::MonitorError;
use crate::time_spec::now_ms;
use crate::windows::MetricsReader;

/// The alert thread of a serving process; [`stop`](Self::stop) (or drop) ends it.
#[derive(Debug)]
pub struct AlertLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AlertLoop {
    /// Starts evaluating every `interval` over `databases` (the log being written), the
    /// first time one interval from now. Each evaluation's errors are logged, never fatal.
    ///
    /// # Errors
    /// Those of opening the databases, the state file or the webhook, and
    /// [`MonitorError::Spawn`].
    pub fn start(
        params: &AlertValidParams,
        databases: &[PathBuf],
        service: &str,
        interval: Duration,
    ) -> Result<Self, MonitorError> {
        Self::start_with(params, databases, service, interval, None)
    }

    /// As [`start`](Self::start), with `log_metrics` computing the rules on `drift_share` and
    /// `feature_attribution_ndcg` (without it they have no data; `dropped_rows` needs nothing).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with(
        params: &AlertValidParams,
        databases: &[PathBuf],
        service: &str,
        interval: Duration,
        log_metrics: Option<LogMetrics>,
    ) -> Result<Self, MonitorError> {
        let source = LogSource::new(MetricsReader::open(databases)?, log_metrics);
        let mut evaluator = AlertEvaluator::open(params, service)?;
        let sinks = AlertSinks::new(params)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("finbeh-alerts".to_owned())
            .spawn(move || {
                let mut next = Instant::now() + interval;
                while !stopping.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::park_timeout(next - now);
                        continue;
                    }
                    next = now + interval;
                    let result = evaluator
                        .evaluate(now_ms(), &source)
                        .and_then(|evaluation| {
                            sinks.deliver(&evaluation.events)?;
                            evaluator.save()
                        });
                    if let Err(error) = result {
                        tracing::error!(%error, "alerts: evaluation failed; retried next interval");
                    }
                }
                if let Err(error) = sinks.close() {
                    tracing::error!(%error, "alerts: closing the sinks failed");
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread after its current evaluation and waits for the webhook's queue.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            if thread.join().is_err() {
                tracing::error!("alerts: the evaluation thread panicked");
            }
        }
    }
}

impl Drop for AlertLoop {
    fn drop(&mut self) {
        self.stop();
    }
}
