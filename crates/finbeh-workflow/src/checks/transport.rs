//! How checks reach a server: over HTTP ([`HttpTransport`], blocking `ureq`) or in process
//! through finbeh-serve's router ([`InProcess`], no socket). The checks are written once over
//! [`Transport`].

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use finbeh_config::ServeSettings;
use finbeh_deploy::DEPLOYMENT_HEADER;
use finbeh_serve::{AppState, ServerParams, app, artifact_loader};
use tower::ServiceExt;

use crate::error::Result;

/// Largest answer body read (a golden-set answer or a swagger document is a few kB).
pub(crate) const MAX_ANSWER_BYTES: usize = 8 << 20;

/// One request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// Path after the base URL (`/score`).
    pub(crate) path: &'a str,
    /// Bearer key to send, if any.
    pub(crate) key: Option<&'a str>,
    /// JSON body: a `POST` when given, else a `GET`.
    pub(crate) body: Option<&'a [u8]>,
    /// Pin to this deployment with [`DEPLOYMENT_HEADER`].
    pub(crate) deployment: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub(crate) fn get(path: &'a str, key: Option<&'a str>) -> Self {
        Self {
            path,
            key,
            body: None,
            deployment: None,
        }
    }

    pub(crate) fn post(path: &'a str, body: &'a [u8], key: Option<&'a str>) -> Self {
        Self {
            path,
            key,
            body: Some(body),
            deployment: None,
        }
    }
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// The deployment that answered (the [`DEPLOYMENT_HEADER`] response header).
    pub(crate) deployment: Option<String>,
}

/// Sends one request; `Err` is a reason in words (refused, timed out, ...).
pub(crate) trait Transport {
    fn send(&self, call: &Call<'_>) -> std::result::Result<Answer, String>;
}

/// A server over HTTP(S).
pub(crate) struct HttpTransport {
    base: String,
    agent: ureq::Agent,
}

impl HttpTransport {
    /// `url` is the scoring URL or the server's base URL (a trailing `/score` is dropped).
    pub(crate) fn new(url: &str, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base: base_url(url),
            agent,
        }
    }
}

/// The URL without a trailing `/score` or `/`.
pub(crate) fn base_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    url.strip_suffix("/score").unwrap_or(url).to_owned()
}

impl Transport for HttpTransport {
    fn send(&self, call: &Call<'_>) -> std::result::Result<Answer, String> {
        let url = format!("{}{}", self.base, call.path);
        let bearer = call.key.map(|key| format!("Bearer {key}"));
        let result = match call.body {
            Some(body) => {
                let mut request = self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json");
                if let Some(bearer) = &bearer {
                    request = request.header("authorization", bearer);
                }
                if let Some(name) = call.deployment {
                    request = request.header(DEPLOYMENT_HEADER, name);
                }
                request.send(body)
            }
            None => {
                let mut request = self.agent.get(&url);
                if let Some(bearer) = &bearer {
                    request = request.header("authorization", bearer);
                }
                request.call()
            }
        };
        let mut response = result.map_err(|error| match error {
            ureq::Error::Timeout(_) => format!("{url}: no answer in time (timed out)"),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                format!("{url}: connection refused: is the server running and the port right?")
            }
            other => format!("{url}: no answer: {other}"),
        })?;
        let status = response.status().as_u16();
        let deployment = response
            .headers()
            .get(DEPLOYMENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES as u64)
            .read_to_vec()
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        Ok(Answer {
            status,
            body,
            deployment,
        })
    }
}

/// finbeh-serve's router with the artifact loaded, driven without a socket: the server's
/// decoder, scorer and answer writer exactly as deployed.
pub(crate) struct InProcess {
    state: AppState,
    runtime: tokio::runtime::Runtime,
}

impl InProcess {
    /// Loads `model` as `serve` would, with the `[serve]` limits but no keys.
    pub(crate) fn new(serve: &ServeSettings, model: &Path) -> Result<Self> {
        let mut params = ServerParams::from(serve);
        params.primary_key = None;
        params.secondary_key = None;
        let state = AppState::new(params.check()?, artifact_loader());
        state.load(Some(model), None)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| crate::WorkflowError::Io {
                path: model.to_path_buf(),
                source,
            })?;
        Ok(Self { state, runtime })
    }
}

impl Transport for InProcess {
    fn send(&self, call: &Call<'_>) -> std::result::Result<Answer, String> {
        let mut request = match call.body {
            Some(_) => Request::post(call.path).header("content-type", "application/json"),
            None => Request::get(call.path),
        };
        if let Some(key) = call.key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let request = request
            .body(
                call.body
                    .map_or_else(Body::empty, |b| Body::from(b.to_vec())),
            )
            .map_err(|e| format!("{}: {e}", call.path))?;
        self.runtime.block_on(async {
            let response = app(self.state.clone())
                .oneshot(request)
                .await
                .map_err(|e| format!("{}: {e}", call.path))?;
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
                .await
                .map_err(|e| format!("{}: reading the answer: {e}", call.path))?;
            Ok(Answer {
                status,
                body: body.to_vec(),
                deployment: None,
            })
        })
    }
}
