//! Server settings, validated once (`ServerParams` → `check()` → `ServerConfig`).
//!
//! `ServerParams` is finbeh-config's `[serve]` section itself; its ranges are checked there, by
//! the same code `show_config` runs. Only what the server alone knows is checked here: the
//! connection cap against the process's open-file limit.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use finbeh_config::ServeSettings;

use crate::error::ServeError;

/// Default maximum request body: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Descriptors kept free below the open-file limit for what the server opens besides client
/// connections (the listener, the model file on reload, logs, runtime internals).
const RESERVED_DESCRIPTORS: u64 = 64;

/// The `[serve]` settings as written by a user; validate with [`ServerParams::check`].
///
/// It is finbeh-config's [`ServeSettings`]: one definition of the `[serve]` table. Fields read
/// and write through `Deref` (`params.port = 8080`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerParams(pub ServeSettings);

impl std::ops::Deref for ServerParams {
    type Target = ServeSettings;
    fn deref(&self) -> &ServeSettings {
        &self.0
    }
}

impl std::ops::DerefMut for ServerParams {
    fn deref_mut(&mut self) -> &mut ServeSettings {
        &mut self.0
    }
}

impl From<&ServeSettings> for ServerParams {
    /// The `[serve]` section of the validated configuration, ready for [`ServerParams::check`].
    fn from(settings: &ServeSettings) -> Self {
        ServerParams(settings.clone())
    }
}

impl ServerParams {
    /// Validates every setting: finbeh-config's `[serve]` rules, then the connection cap
    /// against the open-file limit.
    ///
    /// # Errors
    /// [`ServeError::Settings`] listing every `[serve]` problem; [`ServeError::InvalidSetting`]
    /// when `max_connections` does not fit under the open-file limit.
    pub fn check(self) -> Result<ServerConfig, ServeError> {
        self.0.check()?;
        let max_connections = connection_cap(self.max_connections, open_file_limit())?;
        Ok(ServerConfig {
            params: self,
            max_connections,
        })
    }
}

/// The process's soft open-file limit (`RLIMIT_NOFILE`), if it has one.
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection cap: `configured`, or derived from the open-file limit when 0; either way
/// below the limit so that accepting never fails for lack of descriptors.
fn connection_cap(configured: usize, open_file_limit: Option<u64>) -> Result<usize, ServeError> {
    let usable = open_file_limit.map(|limit| {
        let reserve = RESERVED_DESCRIPTORS.max(limit / 10);
        usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX)
    });
    match (configured, usable) {
        (0, Some(0)) => Err(ServeError::InvalidSetting {
            setting: "max_connections",
            problem: format!(
                "the open-file limit (RLIMIT_NOFILE = {}) leaves no room for connections; raise it (ulimit -n)",
                open_file_limit.unwrap_or(0)
            ),
        }),
        (0, Some(usable)) => Ok(usable),
        (0, None) => Ok(1 << 16),
        (configured, Some(usable)) if configured > usable => Err(ServeError::InvalidSetting {
            setting: "max_connections",
            problem: format!(
                "{configured} does not fit under the open-file limit (RLIMIT_NOFILE = {}) with {} descriptors kept for the server; set at most {usable}, 0 to derive it, or raise the limit",
                open_file_limit.unwrap_or(0),
                open_file_limit.unwrap_or(0).saturating_sub(usable as u64),
            ),
        }),
        (configured, _) => Ok(configured),
    }
}

/// Validated server settings; build with [`ServerParams::check`].
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    params: ServerParams,
    max_connections: usize,
}

impl Default for ServerConfig {
    /// The default settings, with the connection cap derived from the open-file limit (or
    /// 65,536 when that limit cannot leave room for one).
    fn default() -> Self {
        ServerParams::default()
            .check()
            .unwrap_or_else(|_| ServerConfig {
                params: ServerParams::default(),
                max_connections: 1 << 16,
            })
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("params", &self.params)
            .field("max_connections", &self.max_connections)
            .finish()
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
    /// `serve.allow_schema_change`. Off (the default), a reload refuses a model whose input
    /// columns (names, kinds or order) differ from the serving model's: every client would get
    /// 400s. The refusal is logged and shown by `/health/ready`, and the old model keeps serving.
    pub fn allow_schema_change(&self) -> bool {
        self.params.allow_schema_change
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
        (self.params.worker_threads > 0).then_some(self.params.worker_threads)
    }
    /// Time a client has to complete a request head once it started one (or connected).
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.params.header_read_timeout_ms)
    }
    /// Time an idle keep-alive connection is kept between requests.
    pub fn keep_alive_timeout(&self) -> Duration {
        Duration::from_millis(self.params.keep_alive_timeout_ms)
    }
    /// Open connections at most (derived from the open-file limit when configured as 0).
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }
    /// On shutdown, time open connections get to finish before they are closed.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.params.shutdown_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::connection_cap;

    #[test]
    fn the_connection_cap_stays_below_the_open_file_limit() {
        // Derived: a tenth (at least 64) of the limit is kept for the server's own files.
        assert_eq!(connection_cap(0, Some(20_000)).ok(), Some(18_000));
        assert_eq!(connection_cap(0, Some(1024)).ok(), Some(922));
        assert_eq!(connection_cap(0, Some(100)).ok(), Some(36));
        assert!(connection_cap(0, Some(64)).is_err());
        // Configured: taken as is when it fits, refused naming the setting when it does not.
        assert_eq!(connection_cap(500, Some(1024)).ok(), Some(500));
        let err = connection_cap(20_000, Some(20_000))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("max_connections") && e.contains("18000")),
            "{err:?}"
        );
        assert_eq!(connection_cap(7, None).ok(), Some(7));
    }
}
