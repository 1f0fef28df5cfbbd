//! Stages 1–3: the settings, the data set and its validation report.

use std::path::PathBuf;

use finbeh_config::{Loader, init_logging};
use finbeh_data::{DataParams, generate_banking_csv, load_dataset};

use crate::error::WorkflowError;
use crate::params::WorkflowParams;
use crate::runner::{Context, StageRun};
use crate::stage::{StageFailure, StageResult};
use crate::state::{DataOutput, WorkflowState};

/// Stage 1: loads and validates the settings (with `--data`, `--target`, `--search` applied),
/// installs logging and reads the state of earlier runs.
pub(crate) fn config(context: &mut Context<'_>, loader: &Loader) -> StageRun {
    let options = context.options;
    let loaded = loader.load().map_err(|e| {
        StageFailure::new(
            format!("the settings are invalid: {e}"),
            "correct the keys named in the --config file (default ./finbeh.toml) or in the \
             FINBEH__SECTION__KEY variables; `cargo run --example show_config` prints the settings",
        )
    })?;
    let mut settings = loaded.settings().clone();
    if let Some(path) = &options.data {
        settings.data.path = Some(path.clone());
    }
    if let Some(target) = &options.target_column {
        settings.data.target = Some(target.clone());
    }
    if let Some(search) = options.search {
        settings.model.search_iterations = search;
    }
    let settings = settings.check().map_err(|e| {
        StageFailure::new(
            format!("the command-line options make the settings invalid: {e}"),
            "correct --data, --target or --search",
        )
    })?;
    // Logging is installed once per process; a second run in the same process keeps it.
    let _ = init_logging(settings.logging());
    let workflow = WorkflowParams::from(settings.workflow()).check()?;
    context.state = WorkflowState::read(&workflow.state_file())?;
    let figure = format!(
        "settings valid; {} trees, deploy target {}, state {}",
        settings.model().n_estimators,
        format!(
            "{:?}",
            options.deploy_target.unwrap_or(settings.deploy().target)
        )
        .to_lowercase(),
        workflow.state_file().display()
    );
    context.settings = Some(settings);
    context.workflow = Some(workflow);
    Ok(StageResult::Passed { figure })
}

/// Stage 2: the data set: `--data`, else `data.path`, else synthetic data generated into
/// `workflow.output_dir/data/synthetic.csv`; loaded with the `[data]` settings.
pub(crate) fn data(context: &mut Context<'_>) -> StageRun {
    let settings = context.settings()?;
    let data = settings.data();
    let path = match &data.path {
        Some(path) => path.clone(),
        None => {
            let dir = context.workflow()?.output_dir().join("data");
            let io = |source| WorkflowError::Io {
                path: dir.clone(),
                source,
            };
            std::fs::create_dir_all(&dir).map_err(io)?;
            let path = dir.join("synthetic.csv");
            let file = std::fs::File::create(&path).map_err(|source| WorkflowError::Io {
                path: path.clone(),
                source,
            })?;
            generate_banking_csv(file, data.synthetic_rows as u64, data.synthetic_seed)?;
            path
        }
    };
    context.state.data = Some(DataOutput {
        path: path.clone(),
        target: data.target.clone(),
    });
    context.dataset = None;
    let (dataset, _) = ensure_dataset(context)?;
    let figure = format!(
        "{} rows x {} columns from {}, classes {}",
        dataset.table.n_rows(),
        dataset.schema.columns.len(),
        path.display(),
        dataset.classes.join("/")
    );
    context.save_state()?;
    Ok(StageResult::Passed { figure })
}

/// Stage 3: the validation report, written to `workflow.output_dir/validation.json`; errors
/// stop the workflow with the report printed.
pub(crate) fn validation(context: &mut Context<'_>) -> StageRun {
    let path = context.workflow()?.output_dir().join("validation.json");
    let (dataset, _) = ensure_dataset(context)?;
    let report = &dataset.report;
    let json = report.to_json()?;
    let errors = report.has_errors();
    let text = report.to_string();
    std::fs::write(&path, json).map_err(|source| WorkflowError::Io {
        path: path.clone(),
        source,
    })?;
    if errors {
        return Err(StageFailure::new(
            format!(
                "the validation report has errors ({}):\n{text}",
                path.display()
            ),
            "fix the data or the [data] settings (target, derived target, ignored columns) \
             named in the report",
        ));
    }
    Ok(StageResult::Passed {
        figure: format!("no errors; report {}", path.display()),
    })
}

/// The data set of this run, or of the state's earlier run (loaded once).
pub(crate) fn ensure_dataset<'c>(
    context: &'c mut Context<'_>,
) -> Result<&'c (finbeh_data::LoadedDataset, finbeh_data::DataValidParams), StageFailure> {
    if context.dataset.is_none() {
        let recorded = context.state.data.clone().ok_or_else(|| {
            StageFailure::new(
                "no data set: the data stage has not run yet",
                "run the data stage first (`--steps data,...`, or no --steps)",
            )
        })?;
        let mut params = DataParams::from(context.settings()?.data());
        params.path = Some(recorded.path.clone());
        if let Some(target) = recorded.target {
            params = params.with_target(target);
        }
        let params = params.check()?;
        let dataset = load_dataset(&recorded.path, &params)?;
        context.dataset = Some((dataset, params));
    }
    context
        .dataset
        .as_ref()
        .ok_or_else(|| StageFailure::new("the data set did not load", "see the data stage"))
}

/// The artifact recorded by the package stage (this run or an earlier one).
pub(crate) fn recorded_artifact(context: &Context<'_>) -> Result<PathBuf, StageFailure> {
    context.state.artifact.clone().ok_or_else(|| {
        StageFailure::new(
            "no model artifact: the package stage has not run yet",
            "run the train and package stages first (`--steps train,evaluate,package,...`)",
        )
    })
}
