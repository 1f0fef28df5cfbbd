//! What the troubleshooter found, before and after the hints: the versioned JSON of
//! `troubleshoot --json`.

use std::path::PathBuf;

use finbeh_monitor::LoggedError;
use serde::{Deserialize, Serialize};

use crate::checks::{CheckOutcome, Versions};

/// Version of the troubleshooter's JSON.
pub const TROUBLESHOOT_REPORT_VERSION: u32 = 1;

/// Everything `troubleshoot` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TroubleshootReport {
    /// [`TROUBLESHOOT_REPORT_VERSION`].
    pub version: u32,
    /// finbeh, artifact format, Rust.
    pub versions: Versions,
    /// The effective settings as TOML, secrets shown as `***`.
    pub config: String,
    /// The artifact: where it was looked for and its checks.
    pub model: ModelFinding,
    /// The endpoint, when one was given or configured.
    pub endpoint: Option<EndpointFinding>,
    /// The monitor's prediction logs read.
    pub databases: Vec<PathBuf>,
    /// Why the logs could not be read, when they could not.
    pub monitor_unavailable: Option<String>,
    /// The most recent requests answered 4xx or 5xx, newest first.
    pub errors: Vec<LoggedError>,
    /// Each alert rule evaluated now over the logs.
    pub alerts: Vec<AlertFinding>,
    /// The last lines of each deployment's log.
    pub logs: Vec<DeploymentLog>,
    /// Symptoms found, with their causes and fixes.
    pub hints: Vec<Hint>,
}

/// Where the artifact was looked for, and what its checks say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFinding {
    /// The artifact checked, when one was found.
    pub path: Option<PathBuf>,
    /// Why no artifact was found: every path tried and why it held none.
    pub not_found: Vec<String>,
    /// The artifact level of the checks (checksum, format, golden set).
    pub checks: Vec<CheckOutcome>,
}

/// One answer of the endpoint to the troubleshooter's probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeFinding {
    /// `GET /health/live`, `POST /score`, ...
    pub request: String,
    /// HTTP status; `None` without an answer.
    pub status: Option<u16>,
    /// The answer's error code, or why there was no answer.
    pub detail: String,
}

/// The endpoint: reachability, status and each deployment's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointFinding {
    /// Base URL.
    pub url: String,
    /// Provisioning state of the endpoint, from the target.
    pub state: Option<String>,
    /// Why the target could not say (daemon not running, Azure's error).
    pub status_error: Option<String>,
    /// Liveness, readiness, one scored golden record, `/metrics`.
    pub probes: Vec<ProbeFinding>,
    /// Requests the server refused with 429 since it started (`/metrics`), when it says.
    pub refused_429: Option<u64>,
    /// Each deployment.
    pub deployments: Vec<DeploymentFinding>,
}

impl EndpointFinding {
    /// The probe whose request starts with `request`.
    pub fn probe(&self, request: &str) -> Option<&ProbeFinding> {
        self.probes.iter().find(|p| p.request.starts_with(request))
    }
}

/// One deployment as the target reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentFinding {
    /// Name.
    pub name: String,
    /// Provisioning state.
    pub state: String,
    /// `name version` of its model.
    pub model: String,
    /// Live traffic percent.
    pub traffic: u32,
    /// What the target noticed (restarts, the last exit, a failure).
    pub detail: Option<String>,
}

/// One alert rule, evaluated now over the logs (not saved: the alert loop's state is not
/// touched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertFinding {
    /// Rule name.
    pub rule: String,
    /// Metric (`error_rate`, `latency_p95_ms`, ...).
    pub metric: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// `inactive`, `pending` or `firing`.
    pub phase: String,
    /// The metric's value now (`None` without data).
    pub value: Option<f64>,
    /// `> 0.05`.
    pub condition: String,
}

/// The last lines of one deployment's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentLog {
    /// Deployment.
    pub deployment: String,
    /// The lines, or why they could not be read.
    pub lines: String,
}

/// A symptom, its likely cause and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    /// Which symptom (`readiness`, `unauthorized`, `model_not_found`, `saturated`,
    /// `error_rate_alert`, `drift_alert`, `latency_alert`, `unreachable`).
    pub symptom: String,
    /// What was seen.
    pub seen: String,
    /// The likely cause.
    pub cause: String,
    /// What to do, one step each.
    pub fix: Vec<String>,
}
