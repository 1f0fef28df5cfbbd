//! The model abstraction the server scores through, and where models are looked for.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use finbeh_data::{InputColumn, RawValue};
use finbeh_train::ARTIFACT_EXTENSION;

use crate::error::{RowError, ServeError, TriedPath};
use crate::explanation::{ExplainBuffer, ExplainRefusal};

/// Environment variable under which Azure ML mounts the registered model's directory.
pub const AZUREML_MODEL_DIR_ENV: &str = "AZUREML_MODEL_DIR";

/// How deep below `AZUREML_MODEL_DIR` (or a directory given as `--model`) artifacts are searched.
pub const MODEL_SEARCH_DEPTH: usize = 4;

/// What a loaded model tells the server about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// Model name, reported in every answer and in `/metrics`.
    pub name: String,
    /// Model version, reported in every answer and in `/metrics`.
    pub version: String,
    /// Raw input columns, in the order positional requests send them.
    pub input_columns: Vec<InputColumn>,
    /// Class labels; index `i` is the class of probability `i`. Two classes make a binary model
    /// whose positive class is index 1.
    pub classes: Vec<String>,
    /// The target column the classes are values of, when known: `/swagger.json` then says
    /// "probability that Anomaly = -1" rather than "probability of class -1".
    pub target: Option<String>,
    /// Columns of the training file the model does not read (ids, personal data, ignored
    /// columns, the target): a named-column request may carry them and they are skipped.
    /// Any other unknown column is refused.
    pub ignored_columns: Vec<String>,
}

/// A loaded, verified model that scores raw records.
pub trait Scorer: Send + Sync + 'static {
    /// Name, version, input columns and classes.
    fn info(&self) -> &ModelInfo;

    /// Scores `rows`: a row-major slice of `n_rows * info().input_columns.len()` values, each row
    /// in `input_columns` order. Pushes one predicted class index and the class probabilities per
    /// row into `out` (which the server has [reset](ScoreBuffer::reset) for this model).
    ///
    /// # Errors
    /// A [`RowError`] when a client's value cannot be read by the model (answered with 400).
    fn score(
        &self,
        rows: &[RawValue<'_>],
        n_rows: usize,
        out: &mut ScoreBuffer,
    ) -> Result<(), RowError>;

    /// Explains the same `n_rows` rows into `out` (one base and one contribution per input
    /// column and output per row; `out` is already reset). The default refuses: a scorer that
    /// can explain overrides it.
    fn explain(
        &self,
        rows: &[RawValue<'_>],
        n_rows: usize,
        out: &mut ExplainBuffer,
    ) -> Result<(), ExplainRefusal> {
        let _ = (rows, n_rows, out);
        Err(ExplainRefusal::Unavailable(
            "this model does not provide explanations".to_owned(),
        ))
    }
}

/// Loads and verifies a model artifact (checksum, format, golden set) from a file.
///
/// Used at start-up, when searching `AZUREML_MODEL_DIR`, and on every hot reload. The error is
/// a human-readable reason that ends up in logs, start-up errors and `/health/ready`.
pub type LoadFn = Arc<dyn Fn(&Path) -> Result<Arc<dyn Scorer>, String> + Send + Sync>;

/// Reusable output of [`Scorer::score`]: predicted class indices and class probabilities.
///
/// The server keeps one per worker thread, so scoring a single row allocates nothing once warm.
#[derive(Debug, Default, Clone)]
pub struct ScoreBuffer {
    n_classes: usize,
    predictions: Vec<usize>,
    probabilities: Vec<f64>,
    malformed: bool,
}

impl ScoreBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the buffer (keeping its memory) for a model with `n_classes` classes.
    pub fn reset(&mut self, n_classes: usize) {
        self.n_classes = n_classes;
        self.predictions.clear();
        self.probabilities.clear();
        self.malformed = false;
    }

    /// Reserves room for `n_rows` more rows.
    pub fn reserve(&mut self, n_rows: usize) {
        self.predictions.reserve(n_rows);
        self.probabilities
            .reserve(n_rows.saturating_mul(self.n_classes));
    }

    /// Appends one row's predicted class index and its `n_classes` probabilities.
    ///
    /// A wrong number of probabilities or an out-of-range class marks the buffer malformed,
    /// which the server reports as its own (500) fault, never as the client's.
    pub fn push(&mut self, predicted_class: usize, probabilities: &[f64]) {
        if probabilities.len() != self.n_classes || predicted_class >= self.n_classes {
            self.malformed = true;
        }
        self.predictions.push(predicted_class);
        self.probabilities.extend_from_slice(probabilities);
    }

    /// Number of classes the buffer was reset for.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of rows pushed so far.
    pub fn n_rows(&self) -> usize {
        self.predictions.len()
    }

    /// Predicted class index of every row pushed.
    pub fn predictions(&self) -> &[usize] {
        &self.predictions
    }

    /// Probabilities of every row, row-major (`n_rows * n_classes`).
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }

    /// Whether everything pushed matched the class count.
    pub fn is_consistent(&self, n_rows: usize) -> bool {
        !self.malformed
            && self.predictions.len() == n_rows
            && self.probabilities.len() == n_rows.saturating_mul(self.n_classes)
    }

    /// Releases memory grown by an unusually large batch, so one big request does not pin it.
    pub(crate) fn shrink_if_larger_than(&mut self, rows: usize) {
        if self.predictions.capacity() > rows {
            self.predictions = Vec::new();
            self.probabilities = Vec::new();
        }
    }
}

/// Where to look for a model when no `--model` is given: `serve.model_path` (`configured`),
/// else `model.output_dir` (where `train` writes) when it holds an artifact. `None` leaves the
/// search to `AZUREML_MODEL_DIR`, so a container with no training output finds its mounted model.
pub fn model_path_or_output_dir(configured: Option<&Path>, output_dir: &Path) -> Option<PathBuf> {
    match configured {
        Some(path) => Some(path.to_path_buf()),
        None => resolve_model_paths(Some(output_dir), None)
            .ok()
            .map(|_| output_dir.to_path_buf()),
    }
}

/// Lists the artifact files to try, in order.
///
/// `explicit` (`--model PATH`) wins: a file is tried as is, a directory is searched like
/// `AZUREML_MODEL_DIR`. Otherwise `azureml_model_dir` is searched recursively, up to
/// [`MODEL_SEARCH_DEPTH`] levels, for files ending in `.`[`ARTIFACT_EXTENSION`](finbeh_train::ARTIFACT_EXTENSION), in path order.
///
/// # Errors
/// [`ServeError::NoModelSource`] when both are `None`; [`ServeError::NoModelLoaded`] listing
/// every path looked at and why it held no artifact when nothing was found.
pub fn resolve_model_paths(
    explicit: Option<&Path>,
    azureml_model_dir: Option<&Path>,
) -> Result<Vec<PathBuf>, ServeError> {
    let root = match (explicit, azureml_model_dir) {
        (Some(path), _) => path,
        (None, Some(dir)) => dir,
        (None, None) => return Err(ServeError::NoModelSource),
    };
    let mut tried = Vec::new();
    let metadata = match std::fs::metadata(root) {
        Ok(metadata) => metadata,
        Err(err) => {
            tried.push(TriedPath {
                path: root.to_path_buf(),
                reason: describe_io(&err),
            });
            return Err(ServeError::NoModelLoaded { tried });
        }
    };
    if metadata.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut found = Vec::new();
    search_dir(root, MODEL_SEARCH_DEPTH, &mut found, &mut tried);
    if found.is_empty() {
        tried.push(TriedPath {
            path: root.to_path_buf(),
            reason: format!(
                "no *.{ARTIFACT_EXTENSION} file within {MODEL_SEARCH_DEPTH} directory levels"
            ),
        });
        return Err(ServeError::NoModelLoaded { tried });
    }
    found.sort();
    Ok(found)
}

fn search_dir(dir: &Path, depth: usize, found: &mut Vec<PathBuf>, tried: &mut Vec<TriedPath>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            tried.push(TriedPath {
                path: dir.to_path_buf(),
                reason: format!("cannot list directory: {}", describe_io(&err)),
            });
            return;
        }
    };
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(err) => {
                tried.push(TriedPath {
                    path: dir.to_path_buf(),
                    reason: format!("cannot read a directory entry: {}", describe_io(&err)),
                });
                continue;
            }
        };
        // Follow symlinks: Azure ML mounts models through them.
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            if depth > 1 {
                search_dir(&path, depth - 1, found, tried);
            }
        } else if path
            .extension()
            .is_some_and(|ext| ext == ARTIFACT_EXTENSION)
        {
            found.push(path);
        }
    }
}

pub(crate) fn describe_io(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => err.to_string(),
    }
}
