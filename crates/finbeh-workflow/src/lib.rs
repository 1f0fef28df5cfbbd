//! finbeh-workflow: the one-command job from a CSV file to a monitored endpoint, the checks a
//! deployed endpoint must pass (`test_deployments`), and the troubleshooter that maps symptoms to
//! fixes. It sits on top of every other finbeh crate; the `workflow_runner`, `test_deployments`
//! and `troubleshoot` examples are thin glue over it.
//!
//! [`run_workflow`] runs the eleven [`Stage`]s in order (config, data, validation, train,
//! evaluate, package, register, rollout, test_deployments, traffic, report), each timed, and
//! returns a [`RunSummary`]: each stage passed, failed (with its cause and fix) or skipped (with
//! why). What the stages produce is recorded in a versioned [`WorkflowState`]
//! (`workflow.output_dir/state.json`), so `--steps traffic,report` reuses an earlier run's
//! model and endpoint. [`workflow_loader`] reads the settings over [`workflow_defaults`]
//! (`monitor.enabled` on).
//!
//! The `deploy` and `workflow_runner` examples start the local endpoint as themselves and hand
//! its hidden [`EndpointRole`]s (`daemon`, `serve-deployment`) to [`run_endpoint_role`]; a
//! deployment process ([`serve_endpoint_deployment`]) records every scored request and label in
//! a prediction log of its own when `monitor.enabled`, so the report sees the endpoint's
//! traffic, whichever binary started or restored the endpoint.
//!
//! ```
//! use finbeh_workflow::{Stage, WORKFLOW_STATE_VERSION, WorkflowState};
//!
//! let steps = Stage::parse_list("report,traffic")?;
//! assert_eq!(steps, [Stage::Traffic, Stage::Report]);
//! let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
//! let path = dir.path().join("state.json");
//! // No state file yet: an empty state of the current version.
//! let state = WorkflowState::read(&path).map_err(|e| e.to_string())?;
//! assert_eq!(state.version, WORKFLOW_STATE_VERSION);
//! assert!(state.artifact.is_none());
//! # Ok::<(), String>(())
//! ```

#![deny(missing_docs)]

mod error;

pub use error::{Result, WorkflowError};

mod burst;
mod deployment;
mod endpoint;
mod loader;
mod options;
mod params;
mod progress;
mod role;
mod runner;
mod stage;
mod stages;
mod state;
mod summary;

pub use deployment::{deployment_log_path, serve_endpoint_deployment};
pub use loader::{workflow_defaults, workflow_loader};
pub use options::RunOptions;
pub use params::{WorkflowParams, WorkflowValidParams};
pub use role::{EndpointRole, run_endpoint_role, self_command};
pub use runner::run_workflow;
pub use stage::{Stage, StageFailure, StageReport, StageResult};
pub use state::{
    DataOutput, EndpointOutput, RegisteredOutput, ReportOutput, TrafficOutput,
    WORKFLOW_STATE_VERSION, WorkflowState,
};
pub use summary::RunSummary;

mod checks;

pub use checks::{
    CHECK_REPORT_VERSION, CheckLevel, CheckOutcome, CheckReport, DeploymentCheckParams,
    DeploymentCheckValidParams, EndpointTarget, EndpointUnderTest, Versions, find_model,
    run_checks, run_target_checks, settings_refused,
};

mod troubleshoot;

pub use troubleshoot::{
    AlertFinding, DEFAULT_LAST, DeploymentFinding, DeploymentLog, EndpointFinding, Hint,
    ModelFinding, ProbeFinding, TROUBLESHOOT_REPORT_VERSION, TroubleshootOptions,
    TroubleshootReport, troubleshoot, troubleshoot_target,
};
