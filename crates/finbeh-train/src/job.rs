//! Training orchestration: from a loaded dataset and the `[model]` settings to a verified
//! [`ModelArtifact`], with the evaluation kept honest (pipeline statistics, search, CV and the
//! decision threshold use training rows only; test rows are only scored).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use finbeh_config::ModelSettings;
use finbeh_data::{
    ColumnKind, DataValidParams, DatasetProfile, FittedPipeline, LoadedDataset, RawValue, Rng,
    Role, Table, fit_pipeline, load_records, stratified_kfold, stratified_split,
};
use linfa::ParamGuard;
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::artifact::{
    ArtifactParts, DecisionThreshold, GoldenInput, GoldenKind, ModelArtifact, SearchSummary,
    TrainingSummary, UNSEEN_CATEGORY,
};
use crate::calibration::Calibration;
use crate::error::{Result, TrainError};
use crate::forest::RandomForest;
use crate::importance::{PermutationImportances, PermutationScoring};
use crate::reference::{ReferenceSample, SampleSource};
use finbeh_config::ThresholdRule;

use crate::metrics::{EvaluationReport, choose_threshold, evaluate};
use crate::params::{RandomForestParams, RandomForestValidParams};
use crate::search::{RandomSearchParams, SearchReport, random_search};

/// Shuffles per feature for the permutation importances on the evaluation rows.
const PERMUTATION_REPEATS: usize = 3;

/// What to train: settings, where the evaluation rows come from, and a few run options.
#[derive(Debug, Clone)]
pub struct TrainingJob<'a> {
    /// The `[data]` settings the dataset was loaded with (also used to read a test file).
    pub data_params: &'a DataValidParams,
    /// The `[model]` settings.
    pub model: &'a ModelSettings,
    /// Evaluate on this file (read with the fitted schema) instead of a held-out split.
    pub test_file: Option<PathBuf>,
    /// Name of the training data file, recorded in the artifact.
    pub data_file_name: Option<String>,
    /// Draw a progress bar while fitting (only when stderr is a terminal).
    pub progress: bool,
}

/// Everything a training run produced.
#[derive(Debug, Clone)]
pub struct TrainingOutcome {
    /// The verified artifact (not written yet: see [`ModelArtifact::write`]).
    pub artifact: ModelArtifact,
    /// The full search report, when a search ran.
    pub search: Option<SearchReport>,
    /// A summary of the run, e.g. to print as JSON.
    pub summary: TrainingRunSummary,
}

/// The headline figures of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRunSummary {
    /// Training rows.
    pub rows: usize,
    /// Evaluation rows.
    pub test_rows: usize,
    /// Features after the pipeline.
    pub features: usize,
    /// Wall time of the final forest fit.
    pub fit_seconds: f64,
    /// Wall time of the whole job (pipeline, search, threshold, fit, evaluation, artifact).
    pub total_seconds: f64,
    /// ROC AUC on the evaluation rows (multi-class: macro one-vs-rest).
    pub roc_auc: f64,
    /// Accuracy on the evaluation rows (binary: at the decision threshold).
    pub accuracy: f64,
    /// The binary decision threshold.
    pub threshold: Option<f64>,
    /// Class labels.
    pub classes: Vec<String>,
}

fn owned(value: RawValue<'_>) -> RawValue<'static> {
    match value {
        RawValue::Missing => RawValue::Missing,
        RawValue::Number(x) => RawValue::Number(x),
        RawValue::Bool(b) => RawValue::Bool(b),
        RawValue::Text(t) => RawValue::Text(Cow::Owned(t.into_owned())),
    }
}

/// The golden set: held-out rows drawn round-robin across classes (seeded), then an all-missing
/// record and, when the model has categorical inputs, a held-out record with every categorical
/// value replaced by [`UNSEEN_CATEGORY`]. `size` records in all (fewer only when there are fewer
/// held-out rows).
pub fn golden_inputs(
    pipeline: &FittedPipeline,
    table: &Table,
    rows: &[usize],
    labels: &[usize],
    size: usize,
    seed: u64,
) -> Result<Vec<GoldenInput>> {
    let has_categorical = pipeline
        .input_columns()
        .iter()
        .any(|c| c.kind == ColumnKind::Categorical);
    let edge_records = 1 + usize::from(has_categorical);
    let wanted = size.saturating_sub(edge_records).max(1);
    let n_classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (&row, &label) in rows.iter().zip(labels) {
        if let Some(bucket) = by_class.get_mut(label) {
            bucket.push(row);
        }
    }
    let mut rng = Rng::seed_from_u64(seed);
    for bucket in &mut by_class {
        rng.shuffle(bucket);
    }
    let mut chosen = Vec::with_capacity(wanted);
    let mut depth = 0;
    while chosen.len() < wanted && by_class.iter().any(|b| b.len() > depth) {
        for bucket in &by_class {
            if let Some(&row) = bucket.get(depth)
                && chosen.len() < wanted
            {
                chosen.push(row);
            }
        }
        depth += 1;
    }
    let mut golden = Vec::with_capacity(chosen.len() + edge_records);
    for &row in &chosen {
        golden.push(GoldenInput {
            kind: GoldenKind::HeldOut,
            record: pipeline
                .raw_record(table, row)?
                .into_iter()
                .map(owned)
                .collect(),
        });
    }
    golden.push(GoldenInput {
        kind: GoldenKind::AllMissing,
        record: vec![RawValue::Missing; pipeline.input_columns().len()],
    });
    if let (true, Some(first)) = (has_categorical, golden.first()) {
        let record = first
            .record
            .iter()
            .zip(pipeline.input_columns())
            .map(|(v, c)| match c.kind {
                ColumnKind::Categorical => RawValue::Text(Cow::Borrowed(UNSEEN_CATEGORY)),
                _ => v.clone(),
            })
            .collect();
        golden.push(GoldenInput {
            kind: GoldenKind::UnseenCategory,
            record,
        });
    }
    Ok(golden)
}

fn select_labels(y: &[usize], rows: &[usize]) -> Vec<usize> {
    rows.iter().filter_map(|&r| y.get(r).copied()).collect()
}

/// P(class 1) of every training row from a model that did not see it (k-fold, stratified).
fn out_of_fold_p1(
    params: &RandomForestValidParams,
    x: &Array2<f32>,
    y: &[usize],
    folds: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    let mut p1 = vec![0.0; y.len()];
    for (fold_train, fold_test) in stratified_kfold(y, folds, seed) {
        let xt = x.select(Axis(0), &fold_train);
        let model = RandomForest::fit(params, xt.view(), &select_labels(y, &fold_train))?;
        let proba = model.predict_proba(x.select(Axis(0), &fold_test).view())?;
        for (&row, p) in fold_test.iter().zip(proba.column(1)) {
            if let Some(slot) = p1.get_mut(row) {
                *slot = *p;
            }
        }
    }
    Ok(p1)
}

impl TrainingJob<'_> {
    /// Runs the job on a loaded dataset.
    pub fn run(&self, dataset: &LoadedDataset) -> Result<TrainingOutcome> {
        let started = Instant::now();
        let job_error = |reason: String| TrainError::Job { reason };
        if dataset.report.has_errors() {
            return Err(job_error(
                "the validation report has errors (e.g. leakage); fix the data or the [data] settings first".into(),
            ));
        }
        let model = self.model;
        let seed = model.random_state;
        let binary = dataset.classes.len() == 2;

        // Rows: a held-out split, or every row when a test file is given.
        let (train_rows, split_test_rows) = match &self.test_file {
            Some(_) => (dataset.all_rows(), Vec::new()),
            None => stratified_split(&dataset.y, model.test_size, seed),
        };
        let pipeline = fit_pipeline(
            &dataset.table,
            &dataset.schema,
            &train_rows,
            self.data_params,
        )?;
        let x_train = pipeline.transform_table(&dataset.table, Some(&train_rows))?;
        let y_train = select_labels(&dataset.y, &train_rows);

        let base = RandomForestParams::try_from(model)?
            .progress(self.progress)
            .check()?;
        let quiet = RandomForestParams::from(base.clone())
            .progress(false)
            .check()?;

        // Optional search: CV on training rows only.
        let (params, search) = if model.search_iterations > 0 {
            let t0 = Instant::now();
            let folds = stratified_kfold(&y_train, model.cv_folds, seed);
            let search_params = RandomSearchParams::new()
                .n_iter(model.search_iterations)
                .seed(seed)
                .base(quiet.clone())
                .check()?;
            let report = random_search(&search_params, x_train.view(), &y_train, &folds)?;
            let best = RandomForestParams::from(report.best_params.clone())
                .progress(self.progress)
                .check()?;
            let summary = SearchSummary {
                iterations: model.search_iterations,
                trials_run: report.trials.len(),
                cv_folds: model.cv_folds,
                best_params: report.best_params.clone(),
                best_mean_roc_auc: report.best_mean_roc_auc,
                best_std_roc_auc: report.best_std_roc_auc,
                seconds: t0.elapsed().as_secs_f64(),
            };
            (best, Some((report, summary)))
        } else {
            (base, None)
        };

        let fit_started = Instant::now();
        let forest = RandomForest::fit(&params, x_train.view(), &y_train)?;
        let fit_seconds = fit_started.elapsed().as_secs_f64();

        // The threshold: fixed, or chosen on out-of-fold predictions of the training rows.
        let rule = model.threshold;
        let threshold = if !binary {
            None
        } else if let ThresholdRule::Fixed { value } = rule {
            if !(value.is_finite() && (0.0..=1.0).contains(&value)) {
                return Err(TrainError::InvalidSetting {
                    key: "model.threshold.value",
                    value: value.to_string(),
                    reason: "a fixed threshold must be in [0, 1]".into(),
                });
            }
            Some(DecisionThreshold {
                value,
                rule,
                chosen_on: format!("fixed by model.threshold ({value})"),
            })
        } else {
            let quiet_params = RandomForestParams::from(params.clone())
                .progress(false)
                .check()?;
            let p1 = out_of_fold_p1(&quiet_params, &x_train, &y_train, model.cv_folds, seed)?;
            Some(DecisionThreshold {
                value: choose_threshold(rule, &y_train, &p1)?,
                rule,
                chosen_on: format!(
                    "out-of-fold predictions of the {} training rows ({} stratified folds)",
                    y_train.len(),
                    model.cv_folds
                ),
            })
        };

        // Evaluation rows: the held-out split or the test file, read with the fitted schema.
        let (test_table, test_rows, y_test, evaluated_on) = match &self.test_file {
            Some(path) => {
                let (table, y) = self.read_test_file(path, &pipeline, &dataset.classes)?;
                let rows: Vec<usize> = (0..table.n_rows()).collect();
                let name = file_name(path).unwrap_or_else(|| path.display().to_string());
                (Cow::Owned(table), rows, y, format!("test file {name}"))
            }
            None => {
                let y = select_labels(&dataset.y, &split_test_rows);
                let what = format!(
                    "held-out stratified split ({} of the rows, seed {seed})",
                    model.test_size
                );
                (Cow::Borrowed(&dataset.table), split_test_rows, y, what)
            }
        };
        let x_test = pipeline.transform_table(&test_table, Some(&test_rows))?;
        let proba = forest.predict_proba(x_test.view())?;
        let eval_rule = ThresholdRule::Fixed {
            value: threshold.as_ref().map_or(0.5, |t| t.value),
        };
        let evaluation: EvaluationReport = evaluate(&y_test, proba.view(), eval_rule)?;
        let permutation: PermutationImportances = forest.permutation_importances(
            x_test.view(),
            &y_test,
            PermutationScoring::RocAuc,
            PERMUTATION_REPEATS,
            seed,
        )?;

        let profile = DatasetProfile::compute(&dataset.table, &pipeline, &train_rows)?;
        let calibration = if binary {
            let positives: Vec<bool> = y_test.iter().map(|&y| y == 1).collect();
            let p1: Vec<f64> = proba.column(1).to_vec();
            Some(Calibration::fit(
                &p1,
                &positives,
                model.reference_sample_rows,
                seed,
            )?)
        } else {
            None
        };
        let reference_sample = ReferenceSample::draw(
            &pipeline,
            &[
                SampleSource {
                    table: &dataset.table,
                    rows: &train_rows,
                    labels: &y_train,
                    held_out: false,
                },
                SampleSource {
                    table: &test_table,
                    rows: &test_rows,
                    labels: &y_test,
                    held_out: true,
                },
            ],
            model.reference_sample_rows,
            seed,
        )?;
        let golden = golden_inputs(
            &pipeline,
            &test_table,
            &test_rows,
            &y_test,
            model.golden_set_size,
            seed,
        )?;
        let summary = TrainingRunSummary {
            rows: train_rows.len(),
            test_rows: test_rows.len(),
            features: pipeline.n_features(),
            fit_seconds,
            total_seconds: 0.0,
            roc_auc: evaluation.roc_auc,
            accuracy: evaluation.accuracy,
            threshold: threshold.as_ref().map(|t| t.value),
            classes: dataset.classes.clone(),
        };
        let parts = ArtifactParts {
            model_name: model.name.clone(),
            model_version: model.version.clone(),
            classes: dataset.classes.clone(),
            target: self.data_params.target().map(str::to_owned),
            threshold,
            ignored_columns: dataset
                .schema
                .columns
                .iter()
                .filter(|c| c.role != Role::Feature)
                .map(|c| c.name.clone())
                .collect(),
            evaluation: Some(evaluation),
            permutation_importances: Some(permutation),
            search: search.as_ref().map(|(_, s)| s.clone()),
            training: TrainingSummary {
                data_file: self.data_file_name.clone(),
                evaluated_on,
                train_rows: train_rows.len(),
                test_rows: test_rows.len(),
                n_features: pipeline.n_features(),
                fit_seconds,
                params: params.clone(),
                n_trees: forest.n_trees(),
                n_nodes: forest.n_nodes(),
                oob: forest.oob_score().cloned(),
            },
            profile,
            reference_sample,
            calibration,
        };
        drop(test_table);
        let artifact = ModelArtifact::build(parts, pipeline, forest, &golden)?;
        Ok(TrainingOutcome {
            artifact,
            search: search.map(|(r, _)| r),
            summary: TrainingRunSummary {
                total_seconds: started.elapsed().as_secs_f64(),
                ..summary
            },
        })
    }

    fn read_test_file(
        &self,
        path: &Path,
        pipeline: &FittedPipeline,
        classes: &[String],
    ) -> Result<(Table, Vec<usize>)> {
        let target = self.data_params.target().ok_or_else(|| TrainError::Job {
            reason: "a test file needs a target column (data.target or --target)".into(),
        })?;
        if self.data_params.params().derive.contains_key(target) {
            return Err(TrainError::Job {
                reason: format!(
                    "target `{target}` is derived by a rule over the loaded rows; a separate test file cannot be labelled the same way, use the held-out split instead"
                ),
            });
        }
        let (table, y) = load_records(path, pipeline, Some((target, classes)), self.data_params)?;
        let y = y.ok_or_else(|| TrainError::Job {
            reason: format!("no labels read from {}", path.display()),
        })?;
        Ok((table, y))
    }
}

/// The file name of a path, as text.
fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}
