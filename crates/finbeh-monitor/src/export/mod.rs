//! `monitor export`: the prediction log as JSONL, CSV, or Azure ML's data-collector layout.

mod azureml;
mod flat;
mod rows;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::MonitorError;
use crate::log_store::LogStore;

/// Most input columns a CSV export spreads into columns of their own.
pub const MAX_CSV_INPUT_COLUMNS: usize = 10_000;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `DIR/predictions.jsonl`, one logged row per line.
    Jsonl,
    /// `DIR/predictions.csv`, one logged row per line, each input in a column of its own.
    Csv,
    /// Azure ML's data-collector layout, which Azure ML model monitoring reads.
    AzureMl,
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "azureml" => Ok(Self::AzureMl),
            other => Err(format!(
                "{other:?}: expected \"jsonl\", \"csv\" or \"azureml\""
            )),
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Prediction logs (one per replica; each is an `instance` in the export).
    pub databases: Vec<PathBuf>,
    /// First time exported, milliseconds since the Unix epoch.
    pub since_ms: i64,
    /// End (exclusive).
    pub until_ms: i64,
    /// The format.
    pub format: ExportFormat,
    /// The directory written into (created when missing).
    pub out_dir: PathBuf,
    /// Azure ML only: the `source` prefix, e.g.
    /// `/subscriptions/S/resourceGroups/G/providers/Microsoft.MachineLearningServices/workspaces/W`;
    /// `/onlineEndpoints/{endpoint}/deployments/{deployment}` is appended.
    pub azure_source_prefix: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Logged rows exported.
    pub rows: u64,
    /// Lines written (Azure ML: two per request, inputs and outputs).
    pub lines: u64,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// Exports the rows logged in `[since_ms, until_ms)` of every database.
///
/// # Errors
/// [`MonitorError::NoDatabase`], the errors of opening a log, [`MonitorError::Export`] naming
/// the file that could not be written.
pub fn export_log(request: &ExportRequest) -> Result<ExportSummary, MonitorError> {
    let logs = LogStore::open_existing(&request.databases)?;
    std::fs::create_dir_all(&request.out_dir).map_err(export_error(&request.out_dir))?;
    match request.format {
        ExportFormat::Jsonl | ExportFormat::Csv => flat::export(&logs, request),
        ExportFormat::AzureMl => azureml::export(&logs, request),
    }
}

/// Maps an I/O error to [`MonitorError::Export`] naming `path`.
pub(crate) fn export_error(path: &Path) -> impl Fn(std::io::Error) -> MonitorError + '_ {
    move |source| MonitorError::Export {
        path: path.to_path_buf(),
        source,
    }
}

/// The Azure ML `source` prefix of a workspace:
/// `/subscriptions/S/resourceGroups/G/providers/Microsoft.MachineLearningServices/workspaces/W`,
/// with the parts not known left out.
pub fn azure_source_prefix(
    subscription: Option<&str>,
    resource_group: Option<&str>,
    workspace: Option<&str>,
) -> String {
    let mut prefix = String::new();
    if let Some(subscription) = subscription {
        prefix.push_str("/subscriptions/");
        prefix.push_str(subscription);
    }
    if let Some(group) = resource_group {
        prefix.push_str("/resourceGroups/");
        prefix.push_str(group);
    }
    if let Some(workspace) = workspace {
        prefix.push_str("/providers/Microsoft.MachineLearningServices/workspaces/");
        prefix.push_str(workspace);
    }
    prefix
}
