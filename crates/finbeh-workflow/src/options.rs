//! What one run of the workflow is asked to do (the `workflow_runner` flags).

use std::path::PathBuf;

use finbeh_config::DeployTarget;
use finbeh_deploy::SelfCommand;

use crate::stage::Stage;

/// The options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run only these stages (`--steps`); `None` runs all. `config` always runs: every other
    /// stage needs the settings. A stage reuses what earlier runs recorded in the state file.
    pub steps: Option<Vec<Stage>>,
    /// `--data CSV` (instead of `data.path` or the generated data set).
    pub data: Option<PathBuf>,
    /// `--target COL`: the target column.
    pub target_column: Option<String>,
    /// `--search N`: random-search iterations (instead of `model.search_iterations`).
    pub search: Option<usize>,
    /// `--target local|azure` (instead of `deploy.target`).
    pub deploy_target: Option<DeployTarget>,
    /// How the local endpoint's daemon and deployments are started: this program again, with
    /// the `daemon` and `serve-deployment` subcommands.
    pub command: SelfCommand,
    /// Draw a progress display (only when stderr is a terminal).
    pub progress: bool,
}

impl RunOptions {
    /// Whether `stage` is asked for.
    pub fn wants(&self, stage: Stage) -> bool {
        stage == Stage::Config
            || self
                .steps
                .as_ref()
                .is_none_or(|steps| steps.contains(&stage))
    }
}
