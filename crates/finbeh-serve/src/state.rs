//! Shared server state: the model being served, its load history, metrics and limits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use finbeh_data::InputColumn;
use serde::Serialize;

use crate::config::ServerConfig;
use crate::error::{ServeError, TriedPath};
use crate::labels::LabelSink;
use crate::metrics::Metrics;
use crate::model::{LoadFn, ModelInfo, Scorer, resolve_model_paths};
use crate::sink::PredictionSink;
use crate::{openapi, response};

/// A model ready to serve, with everything per-model pre-rendered once at load time.
pub(crate) struct LoadedModel {
    pub(crate) scorer: Arc<dyn Scorer>,
    /// The scorer's `info()`, shared by every prediction-log record instead of copied.
    pub(crate) info: Arc<ModelInfo>,
    pub(crate) path: PathBuf,
    /// JSON token of each class label: a number when the label is an integer, else a string.
    pub(crate) class_tokens: Vec<Box<[u8]>>,
    /// `],"model":{"name":..,"version":..}}`: the fixed end of every score answer.
    pub(crate) answer_tail: Box<[u8]>,
    pub(crate) swagger: Bytes,
}

impl LoadedModel {
    fn new(scorer: Arc<dyn Scorer>, path: PathBuf, config: &ServerConfig) -> Result<Self, String> {
        let info = scorer.info();
        check_info(info)?;
        Ok(Self {
            class_tokens: info
                .classes
                .iter()
                .map(|label| response::label_token(label))
                .collect(),
            answer_tail: response::answer_tail(info),
            swagger: Bytes::from(openapi::document(info, config.auth_required())),
            info: Arc::new(info.clone()),
            scorer,
            path,
        })
    }
}

/// A model the server cannot describe to clients is refused like a corrupt file.
fn check_info(info: &ModelInfo) -> Result<(), String> {
    if info.input_columns.is_empty() {
        return Err("the model declares no input columns".to_owned());
    }
    if info.classes.len() < 2 {
        return Err(format!(
            "the model declares {} class(es); at least 2 are needed",
            info.classes.len()
        ));
    }
    for (i, column) in info.input_columns.iter().enumerate() {
        if info.input_columns[..i]
            .iter()
            .any(|c| c.name == column.name)
        {
            return Err(format!(
                "the model declares input column `{}` twice",
                column.name
            ));
        }
    }
    Ok(())
}

/// Where models come from; kept so a reload looks in the same place again.
#[derive(Debug, Clone)]
struct ModelSource {
    explicit: Option<PathBuf>,
    azureml_model_dir: Option<PathBuf>,
}

/// The outcome of the last load attempt that failed, shown by `/health/ready`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoadFailure {
    /// `startup` or `reload`.
    pub(crate) during: &'static str,
    pub(crate) at_unix_ms: u128,
    pub(crate) tried: Vec<TriedPath>,
}

pub(crate) struct Inner {
    pub(crate) config: ServerConfig,
    loader: LoadFn,
    model: RwLock<Option<Arc<LoadedModel>>>,
    last_failure: Mutex<Option<LoadFailure>>,
    source: Mutex<Option<ModelSource>>,
    /// Serializes loads so two reloads never race to install.
    loading: Mutex<()>,
    pub(crate) metrics: Metrics,
    /// Where `/score` hands its records; unset costs one atomic load per request.
    pub(crate) prediction_sink: OnceLock<Arc<dyn PredictionSink>>,
    /// Where `POST /labels` hands its labels; unset, the route answers 404.
    pub(crate) label_sink: OnceLock<Arc<dyn LabelSink>>,
}

/// Shared state of the server; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A server with no model yet (not ready) that will load models with `loader`.
    pub fn new(config: ServerConfig, loader: LoadFn) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                loader,
                model: RwLock::new(None),
                last_failure: Mutex::new(None),
                source: Mutex::new(None),
                loading: Mutex::new(()),
                metrics: Metrics::default(),
                prediction_sink: OnceLock::new(),
                label_sink: OnceLock::new(),
            }),
        }
    }

    /// Hands every `/score` request that reaches the decoder (answered 200, or refused for its
    /// body) to `sink`, such as finbeh-monitor's prediction log; its dropped and failed rows
    /// are exported in `/metrics`.
    ///
    /// # Errors
    /// [`ServeError::PredictionSinkAlreadySet`] on a second call; the first sink stays.
    pub fn set_prediction_sink(&self, sink: Arc<dyn PredictionSink>) -> Result<(), ServeError> {
        self.inner
            .prediction_sink
            .set(sink)
            .map_err(|_| ServeError::PredictionSinkAlreadySet)
    }

    /// Hands the labels of `POST /labels` (checked against the serving model's classes) to
    /// `sink`, such as finbeh-monitor's prediction log; without one the route answers 404.
    ///
    /// # Errors
    /// [`ServeError::LabelSinkAlreadySet`] on a second call; the first sink stays.
    pub fn set_label_sink(&self, sink: Arc<dyn LabelSink>) -> Result<(), ServeError> {
        self.inner
            .label_sink
            .set(sink)
            .map_err(|_| ServeError::LabelSinkAlreadySet)
    }

    /// Loads the first artifact that loads and verifies, from `explicit` (`--model`) or else
    /// `azureml_model_dir` (see [`resolve_model_paths`]), and remembers where to look on reload.
    ///
    /// # Errors
    /// [`ServeError::NoModelSource`], or [`ServeError::NoModelLoaded`] listing every path tried
    /// and why it failed; the failure is also shown by `/health/ready`.
    pub fn load(
        &self,
        explicit: Option<&Path>,
        azureml_model_dir: Option<&Path>,
    ) -> Result<PathBuf, ServeError> {
        let source = ModelSource {
            explicit: explicit.map(Path::to_path_buf),
            azureml_model_dir: azureml_model_dir.map(Path::to_path_buf),
        };
        *self
            .inner
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(source.clone());
        self.load_from(&source, "startup")
    }

    /// Loads the model again from where [`load`](Self::load) looked (on SIGHUP). On success the
    /// new model replaces the old one atomically; on failure the old model keeps serving, and
    /// the failure is logged and shown by `/health/ready`.
    ///
    /// # Errors
    /// As [`load`](Self::load); [`ServeError::NoModelSource`] when `load` was never called.
    pub fn reload(&self) -> Result<PathBuf, ServeError> {
        let source = self
            .inner
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(source) = source else {
            return Err(ServeError::NoModelSource);
        };
        let result = self.load_from(&source, "reload");
        self.inner.metrics.record_reload(result.is_ok());
        result
    }

    /// Whether a verified model is being served.
    pub fn is_ready(&self) -> bool {
        self.current().is_some()
    }

    /// The model being served, if any.
    pub fn scorer(&self) -> Option<Arc<dyn Scorer>> {
        self.current().map(|model| Arc::clone(&model.scorer))
    }

    pub(crate) fn current(&self) -> Option<Arc<LoadedModel>> {
        self.inner
            .model
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn last_failure(&self) -> Option<LoadFailure> {
        self.inner
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn load_from(&self, source: &ModelSource, during: &'static str) -> Result<PathBuf, ServeError> {
        let _loading = self
            .inner
            .loading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let outcome = resolve_model_paths(
            source.explicit.as_deref(),
            source.azureml_model_dir.as_deref(),
        )
        .and_then(|candidates| self.load_first(candidates));
        match outcome {
            Ok(model) => {
                let path = model.path.clone();
                let info = model.scorer.info();
                tracing::info!(
                    path = %path.display(),
                    name = %info.name,
                    version = %info.version,
                    during,
                    "model loaded and verified"
                );
                *self
                    .inner
                    .model
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(model));
                *self
                    .inner
                    .last_failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                Ok(path)
            }
            Err(err) => {
                let tried = match &err {
                    ServeError::NoModelLoaded { tried } => tried.clone(),
                    other => vec![TriedPath {
                        path: PathBuf::new(),
                        reason: other.to_string(),
                    }],
                };
                let serving = self.current().map(|m| m.path.clone());
                tracing::error!(
                    during,
                    error = %err,
                    still_serving = ?serving,
                    "model load failed"
                );
                *self
                    .inner
                    .last_failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(LoadFailure {
                    during,
                    at_unix_ms: SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis()),
                    tried,
                });
                Err(err)
            }
        }
    }

    /// Refuses a model whose input columns differ from the serving model's, unless
    /// `serve.allow_schema_change` is set.
    fn check_schema(&self, model: LoadedModel) -> Result<LoadedModel, String> {
        let Some(serving) = self.current() else {
            return Ok(model);
        };
        let (old, new) = (
            &serving.scorer.info().input_columns,
            &model.scorer.info().input_columns,
        );
        if old == new || self.inner.config.allow_schema_change() {
            return Ok(model);
        }
        Err(format!(
            "refused: its input columns differ from the serving model's ({}); clients sending \
             the serving columns would get 400s. Set serve.allow_schema_change = true to allow it",
            describe_schema_change(old, new)
        ))
    }

    fn load_first(&self, candidates: Vec<PathBuf>) -> Result<LoadedModel, ServeError> {
        let mut tried = Vec::new();
        for path in candidates {
            // A loader that panics on a corrupt file must not take the server down.
            let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                (self.inner.loader)(&path)
            }))
            .unwrap_or_else(|panic| {
                let reason = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                Err(format!("the loader panicked: {reason}"))
            })
            .and_then(|scorer| LoadedModel::new(scorer, path.clone(), &self.inner.config))
            .and_then(|model| self.check_schema(model));
            match loaded {
                Ok(model) => return Ok(model),
                Err(reason) => tried.push(TriedPath { path, reason }),
            }
        }
        Err(ServeError::NoModelLoaded { tried })
    }
}

/// What changed between two input schemas, e.g. "removed `age` (numeric); added `tenure`
/// (numeric)", or the new order when only the order changed.
fn describe_schema_change(old: &[InputColumn], new: &[InputColumn]) -> String {
    let list = |columns: Vec<&InputColumn>| {
        columns
            .iter()
            .map(|c| format!("`{}` ({})", c.name, format!("{:?}", c.kind).to_lowercase()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let removed: Vec<_> = old.iter().filter(|c| !new.contains(c)).collect();
    let added: Vec<_> = new.iter().filter(|c| !old.contains(c)).collect();
    let mut parts = Vec::new();
    if !removed.is_empty() {
        parts.push(format!("removed {}", list(removed)));
    }
    if !added.is_empty() {
        parts.push(format!("added {}", list(added)));
    }
    if parts.is_empty() {
        parts.push(format!(
            "same columns in a new order: {}",
            list(new.iter().collect())
        ));
    }
    parts.join("; ")
}
