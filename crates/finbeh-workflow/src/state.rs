//! What earlier stages produced, kept in `workflow.output_dir/state.json` so that a later run
//! (`--steps traffic,report`) reuses it. A compatibility promise: versioned, old versions tested.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, WorkflowError};
use crate::stage::StageReport;

/// Format of `state.json`.
pub const WORKFLOW_STATE_VERSION: u32 = 1;

/// Largest state file read.
const MAX_STATE_BYTES: u64 = 1 << 20;

/// The workflow's state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowState {
    /// [`WORKFLOW_STATE_VERSION`].
    pub version: u32,
    /// The data set the model was trained on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataOutput>,
    /// The packaged artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<PathBuf>,
    /// The registered model version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<RegisteredOutput>,
    /// The endpoint the rollout reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointOutput>,
    /// The last traffic burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficOutput>,
    /// The last monitor report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportOutput>,
    /// The last run's stages.
    #[serde(default)]
    pub stages: Vec<StageReport>,
}

/// The data set of stage `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataOutput {
    /// The CSV file.
    pub path: PathBuf,
    /// The target column it was read with (`--target`, else `data.target`).
    pub target: Option<String>,
}

/// The model version of stage `register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredOutput {
    /// Model name.
    pub name: String,
    /// Registry version.
    pub version: String,
    /// SHA-256 of the artifact registered (hex).
    pub sha256: String,
    /// The artifact registered.
    pub artifact: PathBuf,
}

/// The endpoint of stage `rollout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointOutput {
    /// `local` or `azure`.
    pub target: String,
    /// Endpoint name.
    pub name: String,
    /// Scoring URL.
    pub url: String,
    /// The deployment that holds the live traffic.
    pub deployment: String,
}

/// The burst of stage `traffic`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficOutput {
    /// When the first request left, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// When the last label was accepted.
    pub finished_ms: i64,
    /// Records scored.
    pub records: u64,
    /// Labels accepted, per deployment that scored their records.
    pub labels: std::collections::BTreeMap<String, u64>,
}

/// The report of stage `report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportOutput {
    /// The HTML page.
    pub html: PathBuf,
    /// Its JSON twin.
    pub json: PathBuf,
}

impl WorkflowState {
    /// An empty state of the current version.
    pub fn new() -> Self {
        Self {
            version: WORKFLOW_STATE_VERSION,
            ..Self::default()
        }
    }

    /// Reads `path`; an absent file is an empty state.
    ///
    /// # Errors
    /// [`WorkflowError::State`] for an unreadable, oversized or malformed file, or a version
    /// this finbeh does not read.
    pub fn read(path: &Path) -> Result<Self> {
        let fail = |reason: String| WorkflowError::State {
            path: path.to_path_buf(),
            reason,
        };
        let size = match std::fs::metadata(path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::new()),
            Err(e) => return Err(fail(e.to_string())),
        };
        if size > MAX_STATE_BYTES {
            return Err(fail(format!(
                "{size} bytes, more than the {MAX_STATE_BYTES} a state file may have"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let probe: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| fail(format!("not JSON: {e}")))?;
        match probe.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(WORKFLOW_STATE_VERSION) => {}
            other => {
                return Err(fail(format!(
                    "version {other:?}: this finbeh reads version {WORKFLOW_STATE_VERSION}; \
                     delete the file to start afresh"
                )));
            }
        }
        serde_json::from_value(probe).map_err(|e| fail(e.to_string()))
    }

    /// Writes the state to `path` (through a temporary file, so a reader never sees half).
    ///
    /// # Errors
    /// [`WorkflowError::Io`] naming the file.
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |source| WorkflowError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&temporary, text).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)
    }
}
