//! The crate's one error type.

/// Everything a workflow stage, a deployment check or the troubleshooter can fail with: the
/// lower crates' errors, each wrapped as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// Settings that finbeh-config's rules refuse; every problem is listed.
    #[error(transparent)]
    Settings(#[from] finbeh_config::ConfigError),
    /// Loading or validating the data.
    #[error(transparent)]
    Data(#[from] finbeh_data::DataError),
    /// Training, evaluating or reading and writing the artifact.
    #[error(transparent)]
    Train(#[from] finbeh_train::TrainError),
    /// The scoring engine or server.
    #[error(transparent)]
    Serve(#[from] finbeh_serve::ServeError),
    /// The prediction log, drift or the report.
    #[error(transparent)]
    Monitor(#[from] finbeh_monitor::MonitorError),
    /// The registry, a deployment target or the rollout.
    #[error(transparent)]
    Deploy(#[from] finbeh_deploy::DeployError),
    /// A file or directory the workflow reads or writes.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The workflow's state file cannot be read or written.
    #[error("workflow state {}: {reason}", .path.display())]
    State {
        /// The state file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A tokio runtime could not start.
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// `Result` with [`WorkflowError`].
pub type Result<T, E = WorkflowError> = std::result::Result<T, E>;
