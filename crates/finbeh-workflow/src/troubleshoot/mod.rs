//! `troubleshoot`: versions, the effective settings (redacted), the artifact check, the
//! endpoint with each deployment's state and log, the monitor's last errors and alerts, then
//! symptom → cause → fix hints (docs/troubleshooting.md).

mod findings;
mod gather;
mod hints;
mod render;

pub use findings::{
    AlertFinding, DeploymentFinding, DeploymentLog, EndpointFinding, Hint, ModelFinding,
    ProbeFinding, TROUBLESHOOT_REPORT_VERSION, TroubleshootReport,
};
pub use gather::{DEFAULT_LAST, TroubleshootOptions, troubleshoot, troubleshoot_target};
