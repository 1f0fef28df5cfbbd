//! Server settings, validated once (`ServerParams` → `check()` → `ServerConfig`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use finbeh_config::{Secret, ServeSettings};

use crate::error::ServeError;

/// Default maximum request body: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Unvalidated server settings; every field is public and has a default.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerParams {
    /// Address to listen on (an IP address or a host name).
    pub host: String,
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// Model artifact (or directory to search) when none is given on the command line.
    pub model_path: Option<PathBuf>,
    /// Primary bearer key for `/score`; with neither key set, `/score` is open.
    pub primary_key: Option<Secret>,
    /// Secondary bearer key (for rotation), accepted alongside the primary.
    pub secondary_key: Option<Secret>,
    /// Largest accepted request body in bytes (larger → 413).
    pub max_body_bytes: usize,
    /// Largest number of rows in one request (more → 400).
    pub max_rows_per_request: usize,
    /// Scoring requests in flight at once; more are answered 429 immediately.
    pub max_concurrent_requests: usize,
    /// Time allowed to receive a request body, in milliseconds (slower → 408).
    pub request_timeout_ms: u64,
    /// Tokio worker threads for [`run`](crate::run); `None` = one per CPU.
    pub worker_threads: Option<usize>,
}

impl Default for ServerParams {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 5001,
            model_path: None,
            primary_key: None,
            secondary_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_rows_per_request: 10_000,
            max_concurrent_requests: 256,
            request_timeout_ms: 5_000,
            worker_threads: None,
        }
    }
}

impl fmt::Debug for ServerParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("model_path", &self.model_path)
            .field("primary_key", &redacted(&self.primary_key))
            .field("secondary_key", &redacted(&self.secondary_key))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_rows_per_request", &self.max_rows_per_request)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("worker_threads", &self.worker_threads)
            .finish()
    }
}

/// `[serve]` from finbeh-config, field for field (`worker_threads = 0` means one per CPU).
impl From<&ServeSettings> for ServerParams {
    fn from(serve: &ServeSettings) -> Self {
        Self {
            host: serve.host.clone(),
            port: serve.port,
            model_path: serve.model_path.clone(),
            primary_key: serve.primary_key.clone(),
            secondary_key: serve.secondary_key.clone(),
            max_body_bytes: serve.max_body_bytes,
            max_rows_per_request: serve.max_rows_per_request,
            max_concurrent_requests: serve.max_concurrent_requests,
            request_timeout_ms: serve.request_timeout_ms,
            worker_threads: (serve.worker_threads > 0).then_some(serve.worker_threads),
        }
    }
}

fn redacted(key: &Option<Secret>) -> &'static str {
    if key.is_some() { "<set>" } else { "<unset>" }
}

fn invalid(setting: &'static str, problem: impl Into<String>) -> ServeError {
    ServeError::InvalidSetting {
        setting,
        problem: problem.into(),
    }
}

fn check_key(setting: &'static str, key: &Option<Secret>) -> Result<(), ServeError> {
    let Some(key) = key else { return Ok(()) };
    let key = key.expose();
    if key.is_empty() {
        return Err(invalid(setting, "is empty; leave it unset to disable auth"));
    }
    // A key must fit in an `Authorization` header as is.
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            setting,
            "must be printable ASCII without spaces (it travels in an HTTP header)",
        ));
    }
    Ok(())
}

impl ServerParams {
    /// Validates every setting.
    ///
    /// # Errors
    /// [`ServeError::InvalidSetting`] naming the first setting out of range.
    pub fn check(self) -> Result<ServerConfig, ServeError> {
        if self.host.trim().is_empty() || self.host.contains(char::is_whitespace) {
            return Err(invalid(
                "host",
                format!("`{}` is not an address or host name", self.host),
            ));
        }
        check_key("primary_key", &self.primary_key)?;
        check_key("secondary_key", &self.secondary_key)?;
        if !(2..=1 << 30).contains(&self.max_body_bytes) {
            return Err(invalid(
                "max_body_bytes",
                format!("{} is outside 2..=1073741824", self.max_body_bytes),
            ));
        }
        if !(1..=1_000_000).contains(&self.max_rows_per_request) {
            return Err(invalid(
                "max_rows_per_request",
                format!("{} is outside 1..=1000000", self.max_rows_per_request),
            ));
        }
        if !(1..=1_000_000).contains(&self.max_concurrent_requests) {
            return Err(invalid(
                "max_concurrent_requests",
                format!("{} is outside 1..=1000000", self.max_concurrent_requests),
            ));
        }
        if !(1..=600_000).contains(&self.request_timeout_ms) {
            return Err(invalid(
                "request_timeout_ms",
                format!("{} is outside 1..=600000", self.request_timeout_ms),
            ));
        }
        if let Some(threads) = self.worker_threads
            && !(1..=1024).contains(&threads)
        {
            return Err(invalid(
                "worker_threads",
                format!("{threads} is outside 1..=1024"),
            ));
        }
        Ok(ServerConfig { params: self })
    }
}

/// Validated server settings; build with [`ServerParams::check`] (the default is valid).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ServerConfig {
    params: ServerParams,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.params.fmt(f)
    }
}

impl ServerConfig {
    /// Address to listen on.
    pub fn host(&self) -> &str {
        &self.params.host
    }
    /// TCP port.
    pub fn port(&self) -> u16 {
        self.params.port
    }
    /// Whether `/score` requires a bearer key.
    pub fn auth_required(&self) -> bool {
        self.params.primary_key.is_some() || self.params.secondary_key.is_some()
    }
    /// The configured keys' bytes, only for the constant-time comparison in `/score`.
    pub(crate) fn keys(&self) -> [Option<&[u8]>; 2] {
        [
            self.params
                .primary_key
                .as_ref()
                .map(|key| key.expose().as_bytes()),
            self.params
                .secondary_key
                .as_ref()
                .map(|key| key.expose().as_bytes()),
        ]
    }
    /// Model artifact (or directory) from the settings; a command-line `--model` wins over it.
    pub fn model_path(&self) -> Option<&Path> {
        self.params.model_path.as_deref()
    }
    /// Largest accepted request body in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.params.max_body_bytes
    }
    /// Largest number of rows in one request.
    pub fn max_rows_per_request(&self) -> usize {
        self.params.max_rows_per_request
    }
    /// Scoring requests in flight at once.
    pub fn max_concurrent_requests(&self) -> usize {
        self.params.max_concurrent_requests
    }
    /// Time allowed to receive a request body.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.params.request_timeout_ms)
    }
    /// Tokio worker threads (`None` = one per CPU).
    pub fn worker_threads(&self) -> Option<usize> {
        self.params.worker_threads
    }
}
