//! The workflow's stages, in order, and how each one ended.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One stage of the workflow, in the order [`Stage::ALL`] runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 1. Load and validate the settings.
    Config,
    /// 2. Generate the synthetic data set, or take `--data CSV`, and load it.
    Data,
    /// 3. The data validation report; errors stop the workflow.
    Validation,
    /// 4. Train the forest (with the random search when asked).
    Train,
    /// 5. Held-out metrics of the trained model.
    Evaluate,
    /// 6. Write the artifact and read it back (which verifies its golden set).
    Package,
    /// 7. Register the artifact in the model registry.
    Register,
    /// 8. Safe rollout to the endpoint: 0 %, golden set through the endpoint, traffic steps.
    Rollout,
    /// 9. The deployment checks against the endpoint.
    TestDeployments,
    /// 10. Held-out records through the endpoint, then their labels to the monitor.
    Traffic,
    /// 11. The monitor report over the deployments' prediction logs.
    Report,
}

impl Stage {
    /// Every stage, in running order.
    pub const ALL: [Stage; 11] = [
        Stage::Config,
        Stage::Data,
        Stage::Validation,
        Stage::Train,
        Stage::Evaluate,
        Stage::Package,
        Stage::Register,
        Stage::Rollout,
        Stage::TestDeployments,
        Stage::Traffic,
        Stage::Report,
    ];

    /// The stage's name, as `--steps` and the summary spell it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Config => "config",
            Stage::Data => "data",
            Stage::Validation => "validation",
            Stage::Train => "train",
            Stage::Evaluate => "evaluate",
            Stage::Package => "package",
            Stage::Register => "register",
            Stage::Rollout => "rollout",
            Stage::TestDeployments => "test_deployments",
            Stage::Traffic => "traffic",
            Stage::Report => "report",
        }
    }

    /// Parses `--steps a,b,c` into stages in running order (duplicates once).
    ///
    /// ```
    /// use finbeh_workflow::Stage;
    /// let stages = Stage::parse_list("traffic,report,config").unwrap();
    /// assert_eq!(stages, [Stage::Config, Stage::Traffic, Stage::Report]);
    /// assert!(Stage::parse_list("trian").unwrap_err().contains("train"));
    /// ```
    ///
    /// # Errors
    /// An unknown name, with the list of known ones.
    pub fn parse_list(text: &str) -> Result<Vec<Stage>, String> {
        let mut stages = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let stage = Stage::ALL
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
                    format!(
                        "unknown stage {name:?}: expected some of {}",
                        known.join(",")
                    )
                })?;
            stages.push(stage);
        }
        if stages.is_empty() {
            return Err("--steps names no stage".to_owned());
        }
        stages.sort();
        stages.dedup();
        Ok(stages)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a stage ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StageResult {
    /// The stage did its work; `figure` is its key figure for the summary.
    Passed {
        /// E.g. `ROC AUC 0.91` or `2000 records, 2000 labels`.
        figure: String,
    },
    /// The stage failed: what went wrong and what fixes it.
    Failed {
        /// The cause, naming the file, setting or answer concerned.
        cause: String,
        /// What to do about it.
        fix: String,
    },
    /// The stage did not run.
    Skipped {
        /// Why (not asked for by `--steps`, an earlier stage failed, ...).
        why: String,
    },
}

impl StageResult {
    /// `passed`, `failed` or `skipped`.
    pub fn word(&self) -> &'static str {
        match self {
            StageResult::Passed { .. } => "passed",
            StageResult::Failed { .. } => "failed",
            StageResult::Skipped { .. } => "skipped",
        }
    }
}

/// A failed stage's cause and fix (what a stage function returns on failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageFailure {
    /// What went wrong.
    pub cause: String,
    /// What fixes it.
    pub fix: String,
}

impl StageFailure {
    /// A failure with its cause and fix.
    pub fn new(cause: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            cause: cause.into(),
            fix: fix.into(),
        }
    }
}

/// One stage's line of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage.
    pub stage: Stage,
    /// How it ended.
    #[serde(flatten)]
    pub result: StageResult,
    /// Wall time, in seconds (0 when skipped).
    pub seconds: f64,
}

impl From<crate::WorkflowError> for StageFailure {
    fn from(error: crate::WorkflowError) -> Self {
        use crate::WorkflowError as E;
        let fix = match &error {
            E::Settings(_) => {
                "correct the settings named (in the --config file or the FINBEH__SECTION__KEY \
                 variables); `cargo run --example show_config` prints the effective settings"
            }
            E::Data(_) => "fix the data file at the place named, or the [data] settings",
            E::Train(_) => {
                "check the [model] settings and the data (`cargo run --example validate_data` \
                 prints the data report)"
            }
            E::Serve(_) => "check the artifact and the [serve] settings",
            E::Monitor(_) => "check the [monitor] settings and the prediction log files named",
            E::Deploy(_) => {
                "check [deploy]; `cargo run --release --example deploy -- status` and \
                 `deploy -- logs <deployment>` show the endpoint"
            }
            E::Io { .. } => "check that the path named exists and can be written",
            E::State { .. } => {
                "delete the state file, or run the stages that produce what is missing"
            }
            _ => "see the cause",
        };
        StageFailure::new(with_sources(&error), fix)
    }
}

/// An error's message followed by its sources' (the OS reason of an I/O error, ...).
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(&format!(": {text}"));
        }
        source = cause.source();
    }
    message
}

/// A lower crate's error fails the stage the way its [`crate::WorkflowError`] does.
macro_rules! failure_from {
    ($($error:ty),+ $(,)?) => {$(
        impl From<$error> for StageFailure {
            fn from(error: $error) -> Self {
                crate::WorkflowError::from(error).into()
            }
        }
    )+};
}

failure_from!(
    finbeh_config::ConfigError,
    finbeh_data::DataError,
    finbeh_train::TrainError,
    finbeh_serve::ServeError,
    finbeh_monitor::MonitorError,
    finbeh_deploy::DeployError,
);
