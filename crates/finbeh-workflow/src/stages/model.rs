//! Stages 4–6: train, evaluate on the held-out rows, package (write and verify the artifact).

use finbeh_train::{ARTIFACT_EXTENSION, ModelArtifact, TrainingJob};

use crate::runner::{Context, StageRun};
use crate::stage::{StageFailure, StageResult};
use crate::stages::prepare::{ensure_dataset, recorded_artifact};

/// Stage 4: trains the forest on the training part of the split (with the random search when
/// `--search N` or `model.search_iterations` asks for it).
pub(crate) fn train(context: &mut Context<'_>) -> StageRun {
    let progress = context.options.progress;
    let settings = context.settings()?.clone();
    let data_file_name = context
        .state
        .data
        .as_ref()
        .and_then(|d| d.path.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    ensure_dataset(context)?;
    let Some((dataset, params)) = &context.dataset else {
        return Err(StageFailure::new(
            "the data set did not load",
            "see the data stage",
        ));
    };
    let job = TrainingJob {
        data_params: params,
        model: settings.model(),
        test_file: None,
        data_file_name,
        progress,
    };
    // The training's own progress bar draws while the stage spinner is hidden.
    let outcome = context.progress.suspend(|| job.run(dataset))?;
    let s = &outcome.summary;
    let search = match &outcome.search {
        Some(_) => format!(", search {} iterations", settings.model().search_iterations),
        None => String::new(),
    };
    let figure = format!(
        "{} rows x {} features, {} trees, fit {:.2}s{search}",
        s.rows,
        s.features,
        outcome.artifact.forest().n_trees(),
        s.fit_seconds
    );
    context.outcome = Some(outcome);
    Ok(StageResult::Passed { figure })
}

/// Stage 5: the held-out metrics (of this run's model, else of the recorded artifact).
pub(crate) fn evaluate(context: &mut Context<'_>) -> StageRun {
    let read;
    let artifact = match &context.outcome {
        Some(outcome) => &outcome.artifact,
        None => {
            read = ModelArtifact::read(recorded_artifact(context)?)?;
            &read
        }
    };
    let metadata = artifact.metadata();
    let evaluation = metadata.evaluation.as_ref().ok_or_else(|| {
        StageFailure::new(
            "the model has no held-out evaluation",
            "train with model.test_size > 0 so that rows are held out",
        )
    })?;
    for warning in metadata.evaluation_warnings() {
        context.say(&format!("  warning: {warning}"));
    }
    let threshold = match artifact.threshold() {
        Some(t) => format!(", threshold {t:.3}"),
        None => String::new(),
    };
    Ok(StageResult::Passed {
        figure: format!(
            "{} {:.4}, accuracy {:.4} on {} held-out rows{threshold}",
            evaluation.roc_auc_name(),
            evaluation.roc_auc,
            evaluation.accuracy,
            evaluation.n_samples
        ),
    })
}

/// Stage 6: writes the artifact to `model.output_dir/model.<ext>` and reads it back, which
/// re-verifies its checksum and golden set.
pub(crate) fn package(context: &mut Context<'_>) -> StageRun {
    let out_dir = context.settings()?.model().output_dir.clone();
    let outcome = context.outcome.as_ref().ok_or_else(|| {
        StageFailure::new(
            "no trained model in this run",
            "run the train stage in the same run as package (`--steps train,package`)",
        )
    })?;
    std::fs::create_dir_all(&out_dir).map_err(|source| crate::WorkflowError::Io {
        path: out_dir.clone(),
        source,
    })?;
    let path = out_dir.join(format!("model.{ARTIFACT_EXTENSION}"));
    let bytes = outcome.artifact.write(&path)?;
    let back = ModelArtifact::read(&path)?;
    context.state.artifact = Some(path.clone());
    context.save_state()?;
    Ok(StageResult::Passed {
        figure: format!(
            "{} ({bytes} bytes), golden set of {} records reproduced",
            path.display(),
            back.metadata().golden_set.len()
        ),
    })
}
