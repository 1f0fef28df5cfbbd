//! The webhook sink: a background thread POSTs each payload over http or https (ureq with
//! rustls), retrying with exponential back-off, fed by a bounded queue that never blocks the
//! caller.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::params::AlertValidParams;
use crate::error::MonitorError;

/// Delivery counts of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WebhookTotals {
    /// Payloads a receiver accepted (2xx).
    pub delivered: u64,
    /// Payloads given up on after every attempt, or refused with a 4xx other than 408/429.
    pub failed: u64,
    /// Payloads dropped because the queue was full.
    pub dropped: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
}

/// Where and how to deliver.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    agent: ureq::Agent,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

/// POSTs JSON payloads to one URL from a background thread.
#[derive(Debug)]
pub struct Webhook {
    sender: Mutex<Option<SyncSender<Vec<u8>>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
    url: String,
}

impl Webhook {
    /// Starts the delivery thread for `url`.
    ///
    /// # Errors
    /// [`MonitorError::Webhook`] for a URL that is not `http(s)://host[:port]/path` or a
    /// `webhook_tls.ca_file` that cannot be read, [`MonitorError::Spawn`].
    pub fn start(url: &str, params: &AlertValidParams) -> Result<Self, MonitorError> {
        let bad = |detail: &str| MonitorError::Webhook {
            url: url.to_owned(),
            detail: detail.to_owned(),
        };
        let scheme_end = url
            .find("://")
            .ok_or_else(|| bad("not a URL (no scheme)"))?;
        if !matches!(&url[..scheme_end], "http" | "https") {
            return Err(bad("only http:// and https:// are supported"));
        }
        let host = url[scheme_end + 3..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let target = Target {
            url: url.to_owned(),
            agent: agent(url, params)?,
            max_attempts: params.max_attempts(),
            initial_backoff: params.initial_backoff(),
            max_backoff: params.max_backoff(),
        };
        let (sender, receiver) = sync_channel(params.queue_capacity());
        let counters = Arc::new(Counters::default());
        let worker_counters = Arc::clone(&counters);
        let worker = std::thread::Builder::new()
            .name("finbeh-alert-webhook".to_owned())
            .spawn(move || deliver_all(&target, &receiver, &worker_counters))?;
        Ok(Self {
            sender: Mutex::new(Some(sender)),
            worker: Mutex::new(Some(worker)),
            counters,
            url: url.to_owned(),
        })
    }

    /// Queues a payload; never waits. Returns false (and counts it) when the queue is full or
    /// the webhook is closed.
    pub fn enqueue(&self, payload: Vec<u8>) -> bool {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        let sent = match sender.as_ref() {
            Some(sender) => match sender.try_send(payload) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(url = %self.url, "alert webhook: queue full; an alert payload was dropped");
        }
        sent
    }

    /// Delivery counts so far.
    pub fn totals(&self) -> WebhookTotals {
        WebhookTotals {
            delivered: self.counters.delivered.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
        }
    }

    /// Stops taking payloads, waits until every queued one is delivered or given up on, and
    /// returns the totals. A second call returns at once.
    ///
    /// # Errors
    /// [`MonitorError::WriterPanicked`] if the delivery thread panicked.
    pub fn close(&self) -> Result<WebhookTotals, MonitorError> {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(worker) = worker {
            worker.join().map_err(|_| MonitorError::WriterPanicked)?;
        }
        Ok(self.totals())
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::error!(%error, "alert webhook: closing failed");
        }
    }
}

/// Delivers payloads until every sender is gone.
fn deliver_all(target: &Target, receiver: &Receiver<Vec<u8>>, counters: &Counters) {
    while let Ok(payload) = receiver.recv() {
        let mut backoff = target.initial_backoff;
        for attempt in 1..=target.max_attempts {
            match post(target, &payload) {
                Ok(status) if (200..300).contains(&status) => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(url = %target.url, status,
                        "alert webhook: the receiver refused the payload; not retried");
                    break;
                }
                outcome => {
                    let reason = match outcome {
                        Ok(status) => format!("HTTP {status}"),
                        Err(error) => error,
                    };
                    if attempt == target.max_attempts {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(url = %target.url, attempt, %reason,
                            "alert webhook: giving up on a payload");
                        break;
                    }
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(url = %target.url, attempt, %reason, retry_in_ms = backoff.as_millis(),
                        "alert webhook: delivery failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = backoff.saturating_mul(2).min(target.max_backoff);
                }
            }
        }
    }
}

/// One POST; the status answered, or why there was none.
fn post(target: &Target, payload: &[u8]) -> Result<u16, String> {
    let response = target
        .agent
        .post(&target.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "finbeh-monitor")
        .send(payload)
        .map_err(|error| match error {
            ureq::Error::Timeout(_) => "no answer in time (timed out)".to_owned(),
            other => other.to_string(),
        })?;
    let status = response.status().as_u16();
    // Read the answer so the connection can be reused; its content is not needed.
    let _ = response.into_body().read_to_vec();
    Ok(status)
}

/// The HTTP client of one webhook: its timeout per request, and for https the roots it trusts
/// (`webhook_tls.ca_file`, else Mozilla's).
fn agent(url: &str, params: &AlertValidParams) -> Result<ureq::Agent, MonitorError> {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(params.timeout()))
        .http_status_as_error(false);
    if let Some(ca_file) = params.webhook_ca_file() {
        let bad = |detail: String| MonitorError::Webhook {
            url: url.to_owned(),
            detail: format!("webhook_tls.ca_file {}: {detail}", ca_file.display()),
        };
        let pem = std::fs::read(ca_file).map_err(|e| bad(e.to_string()))?;
        let roots = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(Ok(certificate)),
                Ok(_) => None,
                Err(error) => Some(Err(error)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not PEM: {e}")))?;
        if roots.is_empty() {
            return Err(bad("holds no certificate".to_owned()));
        }
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
                .build(),
        );
    }
    Ok(config.build().into())
}
