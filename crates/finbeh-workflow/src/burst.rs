//! HTTP calls of the traffic stage: scoring requests sent concurrently (a bounded number in
//! flight), and plain posts (labels), each with the endpoint key.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use finbeh_deploy::DEPLOYMENT_HEADER;

/// Largest answer body read.
const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One scoring request of the burst.
pub(crate) struct Call {
    /// The `x-request-id` sent (labels name it).
    pub(crate) request_id: String,
    /// The JSON body.
    pub(crate) body: Vec<u8>,
}

/// An endpoint's answer.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The deployment that answered (the router's `azureml-model-deployment` header).
    pub(crate) deployment: Option<String>,
    pub(crate) body: String,
    pub(crate) ms: f64,
}

/// A client for one endpoint.
pub(crate) struct Client {
    agent: ureq::Agent,
    bearer: String,
}

impl Client {
    pub(crate) fn new(key: &str) -> Self {
        Self {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(CALL_TIMEOUT))
                .http_status_as_error(false)
                .build()
                .into(),
            bearer: format!("Bearer {key}"),
        }
    }

    /// POSTs `body` to `url` (pinned to `deployment` when given).
    pub(crate) fn post(
        &self,
        url: &str,
        body: &[u8],
        request_id: Option<&str>,
        deployment: Option<&str>,
    ) -> Result<Answer, String> {
        let mut request = self
            .agent
            .post(url)
            .header("content-type", "application/json")
            .header("authorization", &self.bearer);
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        if let Some(name) = deployment {
            request = request.header(DEPLOYMENT_HEADER, name);
        }
        let started = Instant::now();
        let mut response = request.send(body).map_err(|error| match error {
            ureq::Error::Timeout(_) => format!("{url}: no answer within {CALL_TIMEOUT:?}"),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                format!("{url}: connection refused (is the endpoint running?)")
            }
            other => format!("{url}: {other}"),
        })?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let deployment = response
            .headers()
            .get(DEPLOYMENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        Ok(Answer {
            status,
            deployment,
            body,
            ms,
        })
    }

    /// Sends every call to `url` from `concurrency` threads (at most that many in flight);
    /// the answers in the calls' order.
    pub(crate) fn send_all(
        &self,
        url: &str,
        calls: &[Call],
        concurrency: usize,
    ) -> Vec<Result<Answer, String>> {
        let next = AtomicUsize::new(0);
        let answers: Vec<Mutex<Option<Result<Answer, String>>>> =
            calls.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..concurrency.clamp(1, calls.len().max(1)) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(call) = calls.get(i) else { break };
                        let answer = self.post(url, &call.body, Some(&call.request_id), None);
                        if let Some(slot) = answers.get(i)
                            && let Ok(mut slot) = slot.lock()
                        {
                            *slot = Some(answer);
                        }
                    }
                });
            }
        });
        answers
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| Err("the call was not sent".to_owned()))
            })
            .collect()
    }
}
