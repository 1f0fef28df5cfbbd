//! The crate's one error type.

use std::path::PathBuf;

use crate::azure::{AzureErrorBody, FailureReport};

/// Everything that can go wrong while registering or deploying a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// A setting is invalid (finbeh-config's own rules, listed together).
    #[error(transparent)]
    Settings(#[from] finbeh_config::ConfigError),
    /// The model artifact cannot be read or does not verify.
    #[error(transparent)]
    Train(#[from] finbeh_train::TrainError),
    /// A file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Azure answered a request with an error: its own `{"error": {code, message, details}}`.
    #[error("{operation}: Azure answered HTTP {status}: {body}")]
    Azure {
        /// What finbeh was doing (`PUT onlineEndpoints/finbeh-endpoint`).
        operation: String,
        /// The HTTP status.
        status: u16,
        /// Azure's error, verbatim.
        body: AzureErrorBody,
    },
    /// A long-running operation ended `Failed` or `Canceled`, with the deployment's log tail and a
    /// hint when the symptom is known.
    #[error("{0}")]
    OperationFailed(Box<FailureReport>),
    /// A request could not be sent or its answer read (connection refused, DNS, TLS, retries
    /// exhausted without an answer).
    #[error("{operation}: {source}")]
    Transport {
        /// What finbeh was doing.
        operation: String,
        /// azure_core's error.
        source: azure_core::Error,
    },
    /// Azure's answer lacks something the contract promises (a header, a field).
    #[error("{operation}: unexpected answer: {problem}")]
    Protocol {
        /// What finbeh was doing.
        operation: String,
        /// What is missing or malformed.
        problem: String,
    },
    /// The credential named in `deploy.azure.credential` cannot be created or cannot get a token.
    #[error("deploy.azure.credential = {kind:?}: {message}")]
    Credential {
        /// The credential kind.
        kind: String,
        /// azure_identity's message.
        message: String,
    },
    /// finbeh refuses to send a bearer token over plain HTTP to a non-loopback host.
    #[error(
        "{setting} = {url:?}: plain http:// is allowed only for a loopback address \
         (127.0.0.0/8, ::1, localhost); a bearer token is never sent in clear to another host"
    )]
    InsecureUrl {
        /// The setting that holds the URL.
        setting: String,
        /// The URL.
        url: String,
    },
    /// A request was refused locally, before calling Azure, because Azure would refuse it or
    /// because it would put users in front of a broken model.
    #[error("refused: {0}")]
    Refused(String),
    /// A long-running operation did not finish in time.
    #[error("{operation}: still running after {seconds} s (deploy.azure.operation_timeout_s)")]
    Timeout {
        /// What finbeh was doing.
        operation: String,
        /// The limit.
        seconds: u64,
    },
}

/// The crate's result type.
pub type Result<T, E = DeployError> = std::result::Result<T, E>;
