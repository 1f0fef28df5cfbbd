//! The crate's one error enum, and the service error body both targets report.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A failed operation as the service states it: Azure's `{"error": {"code", "message",
/// "details"}}` verbatim, or the local target's equivalent (same codes where Azure has one,
/// e.g. `ResourceNotReady` for a deployment whose container will not start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceError {
    /// Machine-readable code (`ResourceNotReady`, `BadArgument`, `NotFound`, ...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Nested errors, as Azure sends them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ServiceError>,
}

impl ServiceError {
    /// An error without details.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            details: Vec::new(),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        for detail in &self.details {
            write!(f, "; {detail}")?;
        }
        Ok(())
    }
}

/// A failed service operation: the service's own error, the tail of the deployment's container
/// log when there is one, and a hint mapped from the symptom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFailure {
    /// What was attempted (`create deployment green`, `set traffic`, ...).
    pub operation: String,
    /// HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    /// The service's error, verbatim.
    pub error: ServiceError,
    /// The last lines of the deployment's log.
    pub logs_tail: Option<String>,
    /// What usually causes this symptom.
    pub hint: Option<String>,
}

impl ServiceFailure {
    /// One line: operation, code, message and hint (no log tail).
    pub fn summary(&self) -> String {
        match &self.hint {
            Some(hint) => format!("{} failed: {} (hint: {hint})", self.operation, self.error),
            None => format!("{} failed: {}", self.operation, self.error),
        }
    }
}

impl fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())?;
        if let Some(tail) = &self.logs_tail {
            write!(f, "\n--- last lines of the deployment log ---\n{tail}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong while registering or deploying a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// `[deploy]` settings that finbeh-config's rules refuse; every problem is listed.
    #[error(transparent)]
    Settings(#[from] finbeh_config::ConfigError),
    /// The artifact cannot be read or does not verify (checksum, format, golden set).
    #[error("model artifact: {0}")]
    Artifact(#[from] finbeh_train::TrainError),
    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `writing`, `locking`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A registry manifest or target state file that cannot be used as it is.
    #[error("{}: {reason}", path.display())]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (including an unsupported format version).
        reason: String,
    },
    /// No registered model with this name (and version).
    #[error("model {name}{} is not in the registry", version.as_deref().map(|v| format!(" version {v}")).unwrap_or_default())]
    ModelNotFound {
        /// Model name.
        name: String,
        /// Version asked for; `None` when the latest was asked for.
        version: Option<String>,
    },
    /// A request refused before it reaches the service (traffic that does not add up, deleting a
    /// deployment that still takes traffic, an unknown deployment, ...).
    #[error("{0}")]
    Refused(String),
    /// The service (Azure ARM, or the local endpoint's daemon) answered with an error, or an
    /// operation ended `Failed`/`Canceled`: see [`ServiceFailure`].
    #[error("{0}")]
    Service(Box<ServiceFailure>),
    /// The request did not reach the service or its answer could not be read.
    #[error("{url}: {reason}")]
    Transport {
        /// The URL called.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The endpoint is not running (local target: no daemon, or a stale pid).
    #[error("endpoint {endpoint} is not running: {reason}")]
    NotRunning {
        /// Endpoint name.
        endpoint: String,
        /// Why (no state, stale pid, control API unreachable).
        reason: String,
    },
    /// Something did not happen within its time limit.
    #[error("{what}: not done after {seconds:.1} s")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        seconds: f64,
    },
    /// The deployment answered a golden record with other probabilities than the artifact's.
    #[error(
        "golden set through deployment {deployment}: record {record} ({kind}) expected {expected}, got {got}"
    )]
    GoldenMismatch {
        /// The deployment scored through the endpoint.
        deployment: String,
        /// Index of the record in the golden set.
        record: usize,
        /// The record's golden kind.
        kind: String,
        /// Expected probabilities (bit patterns as the artifact stores them).
        expected: String,
        /// What the deployment answered.
        got: String,
    },
    /// A traffic step's gate failed (error rate or p99 latency over its limit).
    #[error("traffic step {percent}% to {deployment}: {reason}")]
    Gate {
        /// The deployment taking the new traffic.
        deployment: String,
        /// The step's percentage.
        percent: u32,
        /// Which limit failed, with the measured value.
        reason: String,
    },
}

impl DeployError {
    /// The machine-readable code `deploy --json` reports: the service's own code for
    /// [`DeployError::Service`], else a finbeh code per variant.
    pub fn code(&self) -> &str {
        match self {
            Self::Settings(_) => "InvalidSettings",
            Self::Artifact(_) => "InvalidArtifact",
            Self::Io { .. } => "IoError",
            Self::StateFile { .. } => "InvalidStateFile",
            Self::ModelNotFound { .. } => "ModelNotFound",
            Self::Refused(_) => "BadArgument",
            Self::Service(failure) => &failure.error.code,
            Self::Transport { .. } => "TransportError",
            Self::NotRunning { .. } => "EndpointNotRunning",
            Self::Timeout { .. } => "Timeout",
            Self::GoldenMismatch { .. } => "GoldenSetMismatch",
            Self::Gate { .. } => "GateFailed",
        }
    }

    /// The deployment log tail carried by the error, if any.
    pub fn logs_tail(&self) -> Option<&str> {
        match self {
            Self::Service(failure) => failure.logs_tail.as_deref(),
            _ => None,
        }
    }

    /// The error message without the log tail (which `--json` reports on its own).
    pub fn message(&self) -> String {
        match self {
            Self::Service(failure) => failure.summary(),
            other => other.to_string(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A [`DeployError::Service`] without log tail or hint.
    pub fn service(operation: impl Into<String>, status: Option<u16>, error: ServiceError) -> Self {
        Self::Service(Box::new(ServiceFailure {
            operation: operation.into(),
            status,
            error,
            logs_tail: None,
            hint: None,
        }))
    }
}

/// `Result` with [`DeployError`].
pub type Result<T, E = DeployError> = std::result::Result<T, E>;
