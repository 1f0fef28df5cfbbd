//! `[workflow]` as the workflow takes it: checked once into [`WorkflowValidParams`].

use std::path::{Path, PathBuf};

use finbeh_config::WorkflowSettings;

use crate::error::Result;

/// `[workflow]`, to be checked (finbeh-config's rules).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowParams(pub WorkflowSettings);

impl From<&WorkflowSettings> for WorkflowParams {
    fn from(settings: &WorkflowSettings) -> Self {
        Self(settings.clone())
    }
}

impl WorkflowParams {
    /// Runs `[workflow]`'s rules, every problem listed together.
    ///
    /// # Errors
    /// [`WorkflowError::Settings`](crate::WorkflowError::Settings).
    pub fn check(self) -> Result<WorkflowValidParams> {
        self.0.check()?;
        Ok(WorkflowValidParams(self.0))
    }
}

/// Checked `[workflow]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowValidParams(WorkflowSettings);

impl WorkflowValidParams {
    /// The workflow's directory (state file, generated data, report).
    pub fn output_dir(&self) -> &Path {
        &self.0.output_dir
    }

    /// `output_dir/state.json`.
    pub fn state_file(&self) -> PathBuf {
        self.0.output_dir.join("state.json")
    }

    /// Soak of each step of the workflow's rollout.
    pub fn rollout_soak_seconds(&self) -> f64 {
        self.0.rollout_soak_seconds
    }

    /// Held-out records the traffic stage sends at most.
    pub fn traffic_records(&self) -> usize {
        self.0.traffic_records
    }

    /// Records per scoring request.
    pub fn rows_per_request(&self) -> usize {
        self.0.traffic_rows_per_request
    }

    /// Requests in flight at once.
    pub fn concurrency(&self) -> usize {
        self.0.traffic_concurrency
    }
}
