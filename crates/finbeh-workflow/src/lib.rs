//! finbeh-workflow: the one-command job from a CSV file to a monitored endpoint, the checks a
//! deployed endpoint must pass (`test_deployments`), and the troubleshooter that maps symptoms to
//! fixes. It sits on top of every other finbeh crate; the `workflow_runner`, `test_deployments`
//! and `troubleshoot` examples are thin glue over it.

#![deny(missing_docs)]

mod error;

pub use error::{Result, WorkflowError};

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
