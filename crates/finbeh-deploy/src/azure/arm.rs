//! ARM requests through azure_core's pipeline, and long-running operations: a PUT polled through
//! `Azure-AsyncOperation`, a DELETE or POST polled through `Location`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::policies::Policy;
use azure_core::http::{
    ClientOptions, Context, ExponentialRetryOptions, Method, Pipeline, PipelineSendOptions,
    Request, RetryOptions, Url,
};
use serde_json::Value;

use super::azure_error::{from_error_object, hint_for, service_error};
use super::credential::{ARM_SCOPE, BearerPolicy};
use super::params::AzureValidParams;
use crate::error::{DeployError, Result, ServiceError, ServiceFailure};

const ASYNC_OPERATION: HeaderName = HeaderName::from_static("azure-asyncoperation");
const LOCATION: HeaderName = HeaderName::from_static("location");
const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");

/// An answer: status, headers, body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self, operation: &str) -> Result<Value> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| protocol(operation, format!("the body is not JSON ({e})")))
    }

    fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get_optional_str(name)
    }

    /// `Retry-After` in seconds, if any (capped: a hostile value cannot park us for days).
    fn retry_after(&self) -> Option<Duration> {
        let seconds: u64 = self.header(&RETRY_AFTER)?.trim().parse().ok()?;
        Some(Duration::from_secs(seconds.min(600)))
    }
}

/// Sends requests through a pipeline with retries (408, 429, 5xx, `Retry-After`).
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    pipeline: Pipeline,
}

impl Sender {
    /// A pipeline whose per-try policies are `per_try` (the bearer policy, or none).
    pub(crate) fn new(max_retries: u32, per_try: Vec<Arc<dyn Policy>>) -> Self {
        let retry = if max_retries == 0 {
            RetryOptions::none()
        } else {
            RetryOptions::exponential(ExponentialRetryOptions {
                max_retries,
                ..Default::default()
            })
        };
        let options = ClientOptions {
            retry,
            ..Default::default()
        };
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options,
            Vec::new(),
            per_try,
            None,
        );
        Self { pipeline }
    }

    /// Sends one request; any status comes back as an [`Answer`].
    pub(crate) async fn send(&self, mut request: Request, operation: &str) -> Result<Answer> {
        let options = PipelineSendOptions {
            skip_checks: true,
            ..Default::default()
        };
        let transport = |source: azure_core::Error| DeployError::Transport {
            url: operation.to_owned(),
            reason: source.to_string(),
        };
        let response = self
            .pipeline
            .send(&Context::new(), &mut request, Some(options))
            .await
            .map_err(transport)?;
        let (status, headers, body) = response.deconstruct();
        Ok(Answer {
            status: u16::from(status),
            headers,
            body: body.to_vec(),
        })
    }
}

/// ARM calls scoped to one workspace.
#[derive(Debug, Clone)]
pub(crate) struct Arm {
    sender: Sender,
    params: Arc<AzureValidParams>,
}

impl Arm {
    pub(crate) fn new(params: Arc<AzureValidParams>, credential: Arc<dyn TokenCredential>) -> Self {
        let bearer: Arc<dyn Policy> = Arc::new(BearerPolicy::new(credential, ARM_SCOPE));
        let sender = Sender::new(params.max_retries, vec![bearer]);
        Self { sender, params }
    }

    pub(crate) fn params(&self) -> &AzureValidParams {
        &self.params
    }

    /// `{arm}{workspace}/{path}?api-version=…` (`path` may carry its own query).
    pub(crate) fn url(&self, path: &str) -> Result<Url> {
        let base = self.params.arm_base().as_str().trim_end_matches('/');
        let text = format!("{base}{}/{path}", self.params.workspace_path());
        let mut url = Url::parse(&text)
            .map_err(|e| protocol(path, format!("cannot form the URL {text:?}: {e}")))?;
        url.query_pairs_mut()
            .append_pair("api-version", self.params.api_version());
        Ok(url)
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        op: &str,
    ) -> Result<Answer> {
        let mut request = Request::new(url, method);
        request.insert_header("accept", "application/json");
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            request.set_body(body.to_string());
        }
        self.sender.send(request, op).await
    }

    /// GET; `None` on 404.
    pub(crate) async fn get(&self, path: &str) -> Result<Option<Value>> {
        let op = format!("GET {path}");
        let answer = self.call(Method::Get, self.url(path)?, None, &op).await?;
        match answer.status {
            404 => Ok(None),
            200..=299 => answer.json(&op).map(Some),
            status => Err(azure_error(&op, status, &answer.body)),
        }
    }

    /// POST answered synchronously (listKeys, listSecrets, token, getLogs).
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let op = format!("POST {path}");
        let answer = self
            .call(Method::Post, self.url(path)?, Some(body), &op)
            .await?;
        match answer.status {
            200..=299 => answer.json(&op),
            status => Err(azure_error(&op, status, &answer.body)),
        }
    }

    /// PUT answered synchronously (model containers and versions, environment versions).
    pub(crate) async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        let op = format!("PUT {path}");
        let answer = self
            .call(Method::Put, self.url(path)?, Some(body), &op)
            .await?;
        match answer.status {
            200..=299 => answer.json(&op),
            status => Err(azure_error(&op, status, &answer.body)),
        }
    }

    /// PUT of a tracked resource: 200 (done or updating) or 201 with `Azure-AsyncOperation`,
    /// polled until `Succeeded`, `Failed` or `Canceled`; then the resource is read back and its
    /// `provisioningState` must be `Succeeded`.
    pub(crate) async fn put_lro(&self, path: &str, body: &Value) -> Result<Value> {
        let op = format!("PUT {path}");
        let answer = self
            .call(Method::Put, self.url(path)?, Some(body), &op)
            .await?;
        if !(200..=299).contains(&answer.status) {
            return Err(azure_error(&op, answer.status, &answer.body));
        }
        if let Some(status_url) = answer.header(&ASYNC_OPERATION) {
            let status_url = parse_poll_url(&op, status_url)?;
            self.poll_async_operation(&op, status_url, answer.retry_after())
                .await?;
        }
        let deadline = Instant::now() + self.params.operation_timeout();
        loop {
            let resource = self
                .get(path)
                .await?
                .ok_or_else(|| protocol(&op, "the resource is gone after its PUT succeeded"))?;
            let state = provisioning_state(&resource);
            match state {
                "Succeeded" => return Ok(resource),
                "Failed" | "Canceled" => {
                    return Err(failure(&op, state, &Value::Null));
                }
                // 200 without a polling URL, still moving: poll the resource itself.
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(self.params.poll_interval()).await;
                }
                _ => return Err(self.timeout(&op)),
            }
        }
    }

    /// DELETE: 200/204 done (204: already gone), 404 gone, 202 + `Location` polled (202 while
    /// running, honouring `Retry-After`). `true` when something was deleted.
    pub(crate) async fn delete_lro(&self, path: &str) -> Result<bool> {
        let op = format!("DELETE {path}");
        let answer = self
            .call(Method::Delete, self.url(path)?, None, &op)
            .await?;
        match answer.status {
            200 => Ok(true),
            204 | 404 => Ok(false),
            202 => {
                self.poll_location(&op, &answer).await?;
                Ok(true)
            }
            status => Err(azure_error(&op, status, &answer.body)),
        }
    }

    /// POST answered 202 + `Location` (regenerateKeys), or 200 at once.
    pub(crate) async fn post_lro(&self, path: &str, body: &Value) -> Result<()> {
        let op = format!("POST {path}");
        let answer = self
            .call(Method::Post, self.url(path)?, Some(body), &op)
            .await?;
        match answer.status {
            200 | 204 => Ok(()),
            202 => self.poll_location(&op, &answer).await,
            status => Err(azure_error(&op, status, &answer.body)),
        }
    }

    async fn poll_location(&self, op: &str, accepted: &Answer) -> Result<()> {
        let location = accepted
            .header(&LOCATION)
            .ok_or_else(|| protocol(op, "202 Accepted without a Location header"))?;
        let url = parse_poll_url(op, location)?;
        let deadline = Instant::now() + self.params.operation_timeout();
        let mut wait = accepted.retry_after();
        loop {
            self.pause(wait, deadline, op).await?;
            let answer = self.call(Method::Get, url.clone(), None, op).await?;
            match answer.status {
                202 => wait = answer.retry_after(),
                200..=299 => return Ok(()),
                status => return Err(azure_error(op, status, &answer.body)),
            }
        }
    }

    async fn poll_async_operation(
        &self,
        op: &str,
        url: Url,
        first_wait: Option<Duration>,
    ) -> Result<()> {
        let deadline = Instant::now() + self.params.operation_timeout();
        let mut wait = first_wait;
        loop {
            self.pause(wait, deadline, op).await?;
            let answer = self.call(Method::Get, url.clone(), None, op).await?;
            if !(200..=299).contains(&answer.status) {
                return Err(azure_error(op, answer.status, &answer.body));
            }
            let body = answer.json(op)?;
            let status = body.get("status").and_then(Value::as_str).unwrap_or("");
            match status {
                "Succeeded" => return Ok(()),
                "Failed" | "Canceled" => return Err(failure(op, status, &body)),
                "" => {
                    let problem = format!("the operation status has no \"status\": {body}");
                    return Err(protocol(op, problem));
                }
                _ => wait = answer.retry_after(),
            }
        }
    }

    /// Waits `Retry-After` (or the poll interval), or fails once the deadline is past.
    async fn pause(&self, wait: Option<Duration>, deadline: Instant, op: &str) -> Result<()> {
        let wait = wait.unwrap_or_else(|| self.params.poll_interval());
        if Instant::now() + wait > deadline {
            return Err(self.timeout(op));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn timeout(&self, op: &str) -> DeployError {
        DeployError::Timeout {
            what: format!("{op} (deploy.azure.operation_timeout_s)"),
            seconds: self.params.operation_timeout().as_secs_f64(),
        }
    }
}

/// `properties.provisioningState` of an ARM resource.
pub(crate) fn provisioning_state(resource: &Value) -> &str {
    resource
        .pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn parse_poll_url(op: &str, text: &str) -> Result<Url> {
    Url::parse(text)
        .map_err(|e| protocol(op, format!("the polling URL {text:?} is not a URL ({e})")))
}

/// Azure's answer lacks what the contract promises (a header, JSON, a field).
pub(crate) fn protocol(op: &str, problem: impl std::fmt::Display) -> DeployError {
    DeployError::Transport {
        url: op.to_owned(),
        reason: format!("unexpected answer: {problem}"),
    }
}

/// An error answer, Azure's error verbatim.
pub(crate) fn azure_error(op: &str, status: u16, body: &[u8]) -> DeployError {
    DeployError::service(op, Some(status), service_error(status, body))
}

/// A terminal `Failed`/`Canceled` operation status, Azure's error verbatim.
fn failure(op: &str, status: &str, body: &Value) -> DeployError {
    let error = body
        .get("error")
        .and_then(from_error_object)
        .unwrap_or_else(|| ServiceError::new(status, "Azure reported no error detail"));
    DeployError::Service(Box::new(ServiceFailure {
        operation: if status == "Failed" {
            op.to_owned()
        } else {
            format!("{op} ({status})")
        },
        status: None,
        hint: hint_for(&error, None),
        error,
        logs_tail: None,
    }))
}
