//! The run loop: each stage asked for, in order, timed; a failure skips the stages after it;
//! the state file records what the stages produced.

use std::path::PathBuf;
use std::time::Instant;

use finbeh_config::{Loader, ValidSettings};
use finbeh_data::{DataValidParams, LoadedDataset};
use finbeh_train::TrainingOutcome;

use crate::endpoint::Endpoint;
use crate::error::WorkflowError;
use crate::options::RunOptions;
use crate::params::WorkflowValidParams;
use crate::progress::Progress;
use crate::stage::{Stage, StageFailure, StageReport, StageResult};
use crate::stages;
use crate::state::WorkflowState;
use crate::summary::RunSummary;

/// What a stage function returns: its key figure, a reason to skip, or its failure.
pub(crate) type StageRun = Result<StageResult, StageFailure>;

/// Everything the stages share within one run.
pub(crate) struct Context<'a> {
    pub(crate) options: &'a RunOptions,
    pub(crate) settings: Option<ValidSettings>,
    pub(crate) workflow: Option<WorkflowValidParams>,
    pub(crate) state: WorkflowState,
    pub(crate) dataset: Option<(LoadedDataset, DataValidParams)>,
    pub(crate) outcome: Option<TrainingOutcome>,
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
    pub(crate) progress: Progress,
}

impl Context<'_> {
    /// The settings (the config stage ran first, or the run stopped).
    pub(crate) fn settings(&self) -> Result<&ValidSettings, StageFailure> {
        self.settings.as_ref().ok_or_else(|| {
            StageFailure::new(
                "the settings did not load",
                "fix the config stage's problems",
            )
        })
    }

    /// `[workflow]`, checked.
    pub(crate) fn workflow(&self) -> Result<&WorkflowValidParams, StageFailure> {
        self.workflow.as_ref().ok_or_else(|| {
            StageFailure::new(
                "the settings did not load",
                "fix the config stage's problems",
            )
        })
    }

    /// A tokio runtime for the deploy crate's async calls.
    pub(crate) fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, StageFailure> {
        if self.runtime.is_none() {
            let runtime = tokio::runtime::Runtime::new().map_err(WorkflowError::Runtime)?;
            self.runtime = Some(runtime);
        }
        self.runtime
            .as_ref()
            .ok_or_else(|| StageFailure::new("no async runtime", "report this as a bug"))
    }

    /// Writes the state file.
    pub(crate) fn save_state(&self) -> Result<(), StageFailure> {
        let path = self.workflow()?.state_file();
        self.state.write(&path)?;
        Ok(())
    }

    /// Prints one line of the run's output.
    pub(crate) fn say(&self, line: &str) {
        self.progress.println(line);
    }
}

/// Runs the workflow: loads the settings with `loader` (the config stage), then every stage
/// `options` asks for, in order. Never panics: every failure is a failed stage in the summary,
/// with its cause and fix, and the stages after it are skipped.
pub fn run_workflow(loader: &Loader, options: &RunOptions) -> RunSummary {
    let mut context = Context {
        options,
        settings: None,
        workflow: None,
        state: WorkflowState::new(),
        dataset: None,
        outcome: None,
        endpoint: None,
        runtime: None,
        progress: Progress::new(options.progress),
    };
    let asked: Vec<Stage> = Stage::ALL
        .into_iter()
        .filter(|s| options.wants(*s))
        .collect();
    let mut reports = Vec::with_capacity(Stage::ALL.len());
    let mut failed: Option<Stage> = None;
    for (index, stage) in Stage::ALL.into_iter().enumerate() {
        let result = if !options.wants(stage) {
            StageResult::Skipped {
                why: "not in --steps".to_owned(),
            }
        } else if let Some(earlier) = failed {
            StageResult::Skipped {
                why: format!("stage {earlier} failed"),
            }
        } else {
            context
                .progress
                .stage(format!("stage {}/{} {stage}", index + 1, Stage::ALL.len()));
            let started = Instant::now();
            let result = match run_stage(&mut context, loader, stage) {
                Ok(result) => result,
                Err(StageFailure { cause, fix }) => StageResult::Failed { cause, fix },
            };
            let seconds = started.elapsed().as_secs_f64();
            if matches!(result, StageResult::Failed { .. }) {
                failed = Some(stage);
            }
            context.say(&format!(
                "stage {stage}: {} in {seconds:.2}s{}",
                result.word(),
                match &result {
                    StageResult::Passed { figure } => format!(": {figure}"),
                    StageResult::Skipped { why } => format!(": {why}"),
                    StageResult::Failed { cause, .. } => format!(": {cause}"),
                }
            ));
            reports.push(StageReport {
                stage,
                result,
                seconds,
            });
            continue;
        };
        reports.push(StageReport {
            stage,
            result,
            seconds: 0.0,
        });
    }
    context.progress.finish();
    context.state.stages = reports.clone();
    // The summary stands even when the state cannot be recorded; the failure is printed.
    if context.workflow.is_some()
        && let Err(failure) = context.save_state()
    {
        context.say(&format!("warning: {}", failure.cause));
    }
    let report = context
        .state
        .report
        .as_ref()
        .filter(|_| options.wants(Stage::Report))
        .map(|r| r.html.clone());
    RunSummary {
        endpoint: context.state.endpoint.as_ref().map(|e| e.url.clone()),
        next_steps: next_steps(&context, report.as_ref()),
        report,
        stages: reports,
        asked,
    }
}

fn run_stage(context: &mut Context<'_>, loader: &Loader, stage: Stage) -> StageRun {
    match stage {
        Stage::Config => stages::prepare::config(context, loader),
        Stage::Data => stages::prepare::data(context),
        Stage::Validation => stages::prepare::validation(context),
        Stage::Train => stages::model::train(context),
        Stage::Evaluate => stages::model::evaluate(context),
        Stage::Package => stages::model::package(context),
        Stage::Register => stages::deploy::register(context),
        Stage::Rollout => stages::deploy::rollout(context),
        Stage::TestDeployments => stages::checks::test_deployments(context),
        Stage::Traffic => stages::traffic::traffic(context),
        Stage::Report => stages::report::report(context),
    }
}

/// How to call the endpoint, where the report is, and how to stop the endpoint.
fn next_steps(context: &Context<'_>, report: Option<&PathBuf>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(endpoint) = &context.state.endpoint {
        let config = context
            .options
            .command
            .leading_args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let config = if config.is_empty() {
            String::new()
        } else {
            format!(" {config}")
        };
        // `--target` given to the workflow is given to `deploy` too (which reads deploy.target).
        let config = match context.options.deploy_target {
            Some(_) => format!("{config} --target {}", endpoint.target),
            None => config,
        };
        lines.push(format!(
            "endpoint {} ({} target) is running; deployment {} holds the live traffic",
            endpoint.name, endpoint.target, endpoint.deployment
        ));
        lines.push(format!(
            "  call it:  KEY=$(cargo run --release --example deploy --{config} keys --primary)"
        ));
        lines.push(format!(
            "            curl -H \"Authorization: Bearer $KEY\" -H 'content-type: application/json' -d @{} {}",
            context
                .workflow
                .as_ref()
                .map_or_else(|| PathBuf::from("request.json"), |w| w.output_dir().join("request.json"))
                .display(),
            endpoint.url
        ));
        if endpoint.target == "local" {
            lines.push(format!(
                "  stop it:  cargo run --release --example deploy --{config} delete-endpoint"
            ));
            // `deploy` reads finbeh's default (no log) unless told: the workflow's default is on.
            let logged = context
                .settings
                .as_ref()
                .is_some_and(|s| s.monitor().enabled);
            let monitor = if logged {
                "FINBEH__MONITOR__ENABLED=true "
            } else {
                ""
            };
            lines.push(format!(
                "  after a reboot:  {monitor}cargo run --release --example deploy --{config} start"
            ));
        }
    }
    if let (Some(_), Some(written)) = (report, &context.state.report) {
        lines.push(format!(
            "monitor report: {} (JSON: {})",
            written.html.display(),
            written.json.display()
        ));
    }
    lines
}
