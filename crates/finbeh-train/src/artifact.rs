//! The model artifact: one self-describing, versioned, checksummed file that carries everything
//! needed to score raw records, and proves on load that it still predicts what it predicted at
//! training time (the golden set). The byte layout is documented in `docs/model-format.md`.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use finbeh_data::{DatasetProfile, FittedPipeline, InputColumn, RawValue, Table};
use ndarray::{Array2, ArrayView2, Axis, Slice};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calibration::Calibration;
use crate::error::{Result, TrainError};
use crate::forest::{OobScore, RandomForest, argmax};
use crate::importance::PermutationImportances;
use crate::reference::ReferenceSample;
use finbeh_config::MAX_REFERENCE_SAMPLE_ROWS;
use finbeh_config::ThresholdRule;

use crate::metrics::EvaluationReport;
use crate::params::RandomForestValidParams;

/// Version of the artifact format (semver). Readers accept every `1.x.y`; a newer major is refused.
pub const ARTIFACT_FORMAT_VERSION: &str = "1.3.0";
/// Major component of [`ARTIFACT_FORMAT_VERSION`].
const FORMAT_MAJOR: u64 = 1;
/// File extension of an artifact (without the dot).
pub const ARTIFACT_EXTENSION: &str = "finbeh";
/// The first 8 bytes of every artifact. The high first byte and the `\r\n` catch 7-bit and
/// text-mode transfers, like PNG's signature.
pub const ARTIFACT_MAGIC: [u8; 8] = *b"\x89FBH\r\n\x1a\n";
/// Section tag of the fitted feature pipeline (JSON).
const SECTION_PIPELINE: [u8; 4] = *b"PIPE";
/// Section tag of the forest (JSON, trees as base64 packed bytes).
const SECTION_FOREST: [u8; 4] = *b"TREE";
/// Section tag of the reference sample (JSON, since format 1.3.0).
const SECTION_REFERENCE: [u8; 4] = *b"SMPL";
/// Section tag of the calibration (JSON, binary models, since format 1.3.0).
const SECTION_CALIBRATION: [u8; 4] = *b"CALB";
/// Length of the trailing SHA-256.
const CHECKSUM_LEN: usize = 32;
/// Magic + header length field + checksum: the smallest possible file.
const MIN_LEN: usize = ARTIFACT_MAGIC.len() + 4 + CHECKSUM_LEN;
/// Rows per parallel task in [`ModelArtifact::score_table`].
const SCORE_CHUNK: usize = 8192;
/// Text that no training category can be: used by the unseen-category golden record.
pub const UNSEEN_CATEGORY: &str = "\u{1f}finbeh-unseen-category";

/// The crate (and version) that wrote an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterInfo {
    /// Crate name, e.g. `finbeh-train`.
    pub crate_name: String,
    /// Crate version.
    pub crate_version: String,
}

impl std::fmt::Display for WriterInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.crate_name, self.crate_version)
    }
}

/// The binary decision threshold and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionThreshold {
    /// Predict the positive class when P(positive) >= `value`.
    pub value: f64,
    /// The configured rule.
    #[serde(with = "crate::threshold_wire")]
    pub rule: ThresholdRule,
    /// Which predictions the rule was applied to (never the test rows).
    pub chosen_on: String,
}

/// Feature importances, in feature order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importances {
    /// Mean decrease in impurity (sums to 1).
    pub impurity: Vec<f64>,
    /// Permutation importances on the evaluation rows, when computed.
    pub permutation: Option<PermutationImportances>,
}

/// What a hyperparameter search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSummary {
    /// Trials requested.
    pub iterations: usize,
    /// Trials run.
    pub trials_run: usize,
    /// Cross-validation folds (stratified, training rows only).
    pub cv_folds: usize,
    /// Parameters of the best trial (the model was trained with them).
    pub best_params: RandomForestValidParams,
    /// Best trial's mean CV ROC AUC.
    pub best_mean_roc_auc: f64,
    /// Best trial's CV ROC AUC standard deviation.
    pub best_std_roc_auc: f64,
    /// Wall time of the search.
    pub seconds: f64,
}

/// How the model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// File name (no directory) of the training data; `None` when not from a file.
    pub data_file: Option<String>,
    /// Where the evaluation rows came from (held-out split or a test file).
    pub evaluated_on: String,
    /// Rows the forest was trained on.
    pub train_rows: usize,
    /// Rows it was evaluated on.
    pub test_rows: usize,
    /// Features after the pipeline.
    pub n_features: usize,
    /// Wall time of the final forest fit.
    pub fit_seconds: f64,
    /// The forest's hyperparameters.
    pub params: RandomForestValidParams,
    /// Trees.
    pub n_trees: usize,
    /// Nodes over all trees.
    pub n_nodes: usize,
    /// Out-of-bag score, when computed.
    pub oob: Option<OobScore>,
}

/// Why a golden record is in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoldenKind {
    /// A held-out row of the training file.
    HeldOut,
    /// Every input missing: exercises every imputation path.
    AllMissing,
    /// A held-out row with every categorical input replaced by a category never seen in training.
    UnseenCategory,
}

impl GoldenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::HeldOut => "held_out",
            Self::AllMissing => "all_missing",
            Self::UnseenCategory => "unseen_category",
        }
    }
}

/// A raw input record with the exact probabilities the model gave it at training time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenRecord {
    /// Why it is in the set.
    pub kind: GoldenKind,
    /// One JSON value per input column (null, number, string or bool), in input order.
    pub record: Vec<serde_json::Value>,
    /// Expected probability per class as the f64 bit pattern in 16 lowercase hex digits.
    pub expected: Vec<String>,
}

/// A raw record to put in the golden set, before its probabilities are computed.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenInput {
    /// Why it is in the set.
    pub kind: GoldenKind,
    /// One value per input column, in input order.
    pub record: Vec<RawValue<'static>>,
}

/// The artifact's JSON header: everything but the pipeline and the forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactMetadata {
    /// [`ARTIFACT_FORMAT_VERSION`] of the writer.
    pub format_version: String,
    /// The crate and version that wrote the file.
    pub writer: WriterInfo,
    /// Creation time, UTC, RFC 3339 (`YYYY-MM-DDTHH:MM:SSZ`).
    pub created_at: String,
    /// Model name (`model.name`).
    pub model_name: String,
    /// Model version (`model.version`).
    pub model_version: String,
    /// Class labels; probabilities come in this order. Binary: index 1 is the positive class.
    pub classes: Vec<String>,
    /// The positive class of a binary model.
    pub positive_class: Option<String>,
    /// Name of the target column the classes are values of. Since format 1.2.0; `None` when
    /// reading an older file.
    #[serde(default)]
    pub target: Option<String>,
    /// The decision threshold of a binary model (multi-class models use the argmax).
    pub threshold: Option<DecisionThreshold>,
    /// The raw columns a record must supply, in order.
    pub input_columns: Vec<InputColumn>,
    /// Columns of the training file the model does not read (ids, personal data, ignored
    /// columns, the target), so a server can skip them in whole records. Since format 1.1.0;
    /// empty when reading a 1.0.0 file.
    #[serde(default)]
    pub ignored_columns: Vec<String>,
    /// The pipeline's output features, in matrix column order.
    pub feature_names: Vec<String>,
    /// Metrics on the evaluation rows.
    pub evaluation: Option<EvaluationReport>,
    /// Feature importances.
    pub importances: Importances,
    /// The hyperparameter search, when one ran.
    pub search: Option<SearchSummary>,
    /// How the model was trained.
    pub training: TrainingSummary,
    /// Distribution of every input column on the training rows (drift baseline).
    pub profile: DatasetProfile,
    /// Raw records with their exact expected probabilities, re-scored on every load.
    pub golden_set: Vec<GoldenRecord>,
}

/// What a binary model's probability means, in words: `probability that Anomaly = -1`, or
/// `probability of class "-1"` when the target's name is unknown (artifacts before 1.2.0).
/// One wording for `inspect_model`, the workflow output and the server's `/swagger.json`.
pub fn positive_probability_meaning(target: Option<&str>, positive: &str) -> String {
    match target {
        Some(target) => format!("probability that {target} = {positive}"),
        None => format!("probability of class {positive:?}"),
    }
}

impl ArtifactMetadata {
    /// What the model's probability means, in words: `probability that Anomaly = -1` for a
    /// binary model (`probability of class "-1"` when the file predates the target's name).
    pub fn probability_meaning(&self) -> String {
        match &self.positive_class {
            Some(positive) => positive_probability_meaning(self.target.as_deref(), positive),
            None => format!("probability of each class, in the order {:?}", self.classes),
        }
    }

    /// The evaluation's warnings, with class labels (see [`EvaluationReport::warnings`]).
    pub fn evaluation_warnings(&self) -> Vec<String> {
        self.evaluation
            .as_ref()
            .map_or_else(Vec::new, |e| e.warnings(&self.classes))
    }
}

/// What the training job knows about a model, for [`ModelArtifact::build`]; the format version,
/// writer, creation time, input columns, feature names and the golden set's expected values are
/// filled in by the artifact itself.
#[derive(Debug, Clone)]
pub struct ArtifactParts {
    /// Model name.
    pub model_name: String,
    /// Model version.
    pub model_version: String,
    /// Class labels (index = class index).
    pub classes: Vec<String>,
    /// Name of the target column.
    pub target: Option<String>,
    /// The decision threshold of a binary model.
    pub threshold: Option<DecisionThreshold>,
    /// Columns of the training file the model does not read (see
    /// [`ArtifactMetadata::ignored_columns`]).
    pub ignored_columns: Vec<String>,
    /// Metrics on the evaluation rows.
    pub evaluation: Option<EvaluationReport>,
    /// Permutation importances, when computed.
    pub permutation_importances: Option<PermutationImportances>,
    /// The hyperparameter search, when one ran.
    pub search: Option<SearchSummary>,
    /// How the model was trained.
    pub training: TrainingSummary,
    /// The training profile.
    pub profile: DatasetProfile,
    /// A seeded sample of the raw records the job loaded (drift reference).
    pub reference_sample: Option<ReferenceSample>,
    /// The isotonic calibration fitted on the held-out rows (binary models).
    pub calibration: Option<Calibration>,
}

/// A loaded (and verified) or freshly built model: metadata, fitted pipeline and forest.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelArtifact {
    metadata: ArtifactMetadata,
    pipeline: FittedPipeline,
    forest: RandomForest,
    reference_sample: Option<ReferenceSample>,
    calibration: Option<Calibration>,
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a system time (before 1970 counts as 1970), as artifacts record
/// `created_at`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i32::try_from(secs / 86_400).unwrap_or(i32::MAX);
    let (y, m, d) = finbeh_data::civil_from_days(days);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn bits_hex(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

fn raw_to_json(value: &RawValue<'_>) -> Result<serde_json::Value> {
    Ok(match value {
        RawValue::Missing => serde_json::Value::Null,
        RawValue::Bool(b) => serde_json::Value::Bool(*b),
        RawValue::Text(t) => serde_json::Value::String(t.to_string()),
        RawValue::Number(x) => serde_json::Number::from_f64(*x)
            .map(serde_json::Value::Number)
            .ok_or_else(|| TrainError::InvalidParameter {
                name: "golden record",
                value: x.to_string(),
                reason: "a golden record's number must be finite",
            })?,
    })
}

pub(crate) fn json_to_raw(value: &serde_json::Value) -> std::result::Result<RawValue<'_>, String> {
    Ok(match value {
        serde_json::Value::Null => RawValue::Missing,
        serde_json::Value::Bool(b) => RawValue::Bool(*b),
        serde_json::Value::String(s) => RawValue::Text(Cow::Borrowed(s.as_str())),
        serde_json::Value::Number(n) => RawValue::Number(
            n.as_f64()
                .ok_or_else(|| format!("number {n} is not an f64"))?,
        ),
        other => return Err(format!("{other} is not null, a number, a string or a bool")),
    })
}

fn malformed(reason: impl Into<String>) -> TrainError {
    TrainError::MalformedArtifact {
        reason: reason.into(),
    }
}

/// `(major, minor, patch)` of a semver string (pre-release/build suffixes ignored).
fn parse_semver(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

/// A little-endian cursor over the checksummed body.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                malformed(format!(
                    "{what} needs {n} bytes at offset {}, the body has {}",
                    self.pos,
                    self.bytes.len()
                ))
            })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
    fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

impl ModelArtifact {
    /// Assembles an artifact from a fitted pipeline and forest, computing each golden record's
    /// expected probabilities through [`Self::score_record`]. The result is encoded and decoded
    /// once (with golden verification) so that a model that could not be loaded is never written.
    pub fn build(
        parts: ArtifactParts,
        pipeline: FittedPipeline,
        forest: RandomForest,
        golden: &[GoldenInput],
    ) -> Result<Self> {
        let positive_class = (parts.classes.len() == 2)
            .then(|| parts.classes.get(1).cloned())
            .flatten();
        let metadata = ArtifactMetadata {
            format_version: ARTIFACT_FORMAT_VERSION.to_owned(),
            writer: WriterInfo {
                crate_name: env!("CARGO_PKG_NAME").to_owned(),
                crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            created_at: rfc3339_utc(SystemTime::now()),
            model_name: parts.model_name,
            model_version: parts.model_version,
            classes: parts.classes,
            positive_class,
            target: parts.target,
            threshold: parts.threshold,
            input_columns: pipeline.input_columns().to_vec(),
            ignored_columns: parts.ignored_columns,
            feature_names: pipeline.feature_names().to_vec(),
            evaluation: parts.evaluation,
            importances: Importances {
                impurity: forest.impurity_importances().to_vec(),
                permutation: parts.permutation_importances,
            },
            search: parts.search,
            training: parts.training,
            profile: parts.profile,
            golden_set: Vec::new(),
        };
        let mut artifact = Self {
            metadata,
            pipeline,
            forest,
            reference_sample: parts.reference_sample,
            calibration: parts.calibration,
        };
        artifact.check_consistency()?;
        if golden.is_empty() {
            return Err(TrainError::EmptyInput {
                what: "golden set (at least one record is needed)",
            });
        }
        let mut features = vec![0.0f32; artifact.n_features()];
        let mut proba = vec![0.0f64; artifact.classes().len()];
        let mut set = Vec::with_capacity(golden.len());
        for input in golden {
            artifact.score_record(&input.record, &mut features, &mut proba)?;
            set.push(GoldenRecord {
                kind: input.kind,
                record: input
                    .record
                    .iter()
                    .map(raw_to_json)
                    .collect::<Result<_>>()?,
                expected: proba.iter().map(|&p| bits_hex(p)).collect(),
            });
        }
        artifact.metadata.golden_set = set;
        // Prove now, at training time, that the file will load.
        Self::from_bytes(&artifact.to_bytes()?)
    }

    /// Reads and verifies an artifact file (see [`Self::from_bytes`]).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TrainError::ArtifactIo {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Decodes and verifies an artifact: magic bytes, SHA-256, format version (a newer major is
    /// refused before anything else is parsed), header, sections, consistency, and finally the
    /// golden set, re-scored through [`Self::score_record`] and compared bit for bit.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < ARTIFACT_MAGIC.len() || bytes[..ARTIFACT_MAGIC.len()] != ARTIFACT_MAGIC {
            let head = &bytes[..bytes.len().min(ARTIFACT_MAGIC.len())];
            return Err(TrainError::NotAnArtifact {
                reason: format!(
                    "the file starts with {head:02x?}, an artifact starts with {ARTIFACT_MAGIC:02x?}"
                ),
            });
        }
        if bytes.len() < MIN_LEN {
            return Err(TrainError::ArtifactCorrupt {
                reason: format!(
                    "the file is truncated: {} bytes, an artifact has at least {MIN_LEN}",
                    bytes.len()
                ),
            });
        }
        let (body, stored) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        let computed = Sha256::digest(body);
        if computed.as_slice() != stored {
            return Err(TrainError::ArtifactCorrupt {
                reason: format!(
                    "SHA-256 mismatch (stored {}, computed {})",
                    hex(stored),
                    hex(&computed)
                ),
            });
        }
        let mut cursor = Cursor {
            bytes: body,
            pos: ARTIFACT_MAGIC.len(),
        };
        let header_len = u32::from_le_bytes(cursor.array::<4>("header length")?) as usize;
        let header = cursor.take(header_len, "header")?;
        check_version(header)?;
        let metadata: ArtifactMetadata =
            serde_json::from_slice(header).map_err(|e| malformed(format!("header: {e}")))?;
        let (mut pipeline, mut forest) = (None, None);
        let (mut reference_sample, mut calibration) = (None, None);
        while !cursor.done() {
            let tag = cursor.array::<4>("section tag")?;
            let len = usize::try_from(u64::from_le_bytes(cursor.array::<8>("section length")?))
                .map_err(|_| malformed("section length does not fit in memory"))?;
            let data = cursor.take(len, "section")?;
            match tag {
                SECTION_PIPELINE => {
                    pipeline = Some(
                        serde_json::from_slice::<FittedPipeline>(data)
                            .map_err(|e| malformed(format!("pipeline section: {e}")))?,
                    );
                }
                SECTION_FOREST => {
                    check_forest_counts(data, &metadata)?;
                    forest = Some(
                        serde_json::from_slice::<RandomForest>(data)
                            .map_err(|e| malformed(format!("forest section: {e}")))?,
                    );
                }
                SECTION_REFERENCE => {
                    reference_sample = Some(
                        serde_json::from_slice::<ReferenceSample>(data)
                            .map_err(|e| malformed(format!("reference sample section: {e}")))?,
                    );
                }
                SECTION_CALIBRATION => {
                    calibration = Some(
                        serde_json::from_slice::<Calibration>(data)
                            .map_err(|e| malformed(format!("calibration section: {e}")))?,
                    );
                }
                // Sections added by later minor versions are skipped.
                _ => {}
            }
        }
        let artifact = Self {
            metadata,
            pipeline: pipeline.ok_or_else(|| malformed("no pipeline section"))?,
            forest: forest.ok_or_else(|| malformed("no forest section"))?,
            reference_sample,
            calibration,
        };
        artifact.check_consistency()?;
        artifact.verify_golden_set()?;
        Ok(artifact)
    }

    /// Encodes the artifact (see `docs/model-format.md`).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let json = |what: &str, r: serde_json::Result<Vec<u8>>| {
            r.map_err(|e| malformed(format!("cannot encode {what}: {e}")))
        };
        let header = json("header", serde_json::to_vec(&self.metadata))?;
        let pipeline = json("pipeline", serde_json::to_vec(&self.pipeline))?;
        let forest = json("forest", serde_json::to_vec(&self.forest))?;
        let reference = match &self.reference_sample {
            Some(sample) => Some(json("reference sample", serde_json::to_vec(sample))?),
            None => None,
        };
        let calibration = match &self.calibration {
            Some(c) => Some(json("calibration", serde_json::to_vec(c))?),
            None => None,
        };
        let optional = [
            (SECTION_REFERENCE, reference.as_ref()),
            (SECTION_CALIBRATION, calibration.as_ref()),
        ];
        let optional_len: usize = optional
            .iter()
            .filter_map(|(_, d)| d.map(|d| 12 + d.len()))
            .sum();
        let header_len =
            u32::try_from(header.len()).map_err(|_| malformed("header larger than 4 GiB"))?;
        let mut out = Vec::with_capacity(
            MIN_LEN + header.len() + pipeline.len() + forest.len() + 2 * 12 + optional_len,
        );
        out.extend_from_slice(&ARTIFACT_MAGIC);
        out.extend_from_slice(&header_len.to_le_bytes());
        out.extend_from_slice(&header);
        let required = [
            (SECTION_PIPELINE, Some(&pipeline)),
            (SECTION_FOREST, Some(&forest)),
        ];
        for (tag, data) in required
            .into_iter()
            .chain(optional)
            .filter_map(|(t, d)| Some((t, d?)))
        {
            out.extend_from_slice(&tag);
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            out.extend_from_slice(data);
        }
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        Ok(out)
    }

    /// Writes the artifact atomically (a temporary file in the same directory, then a rename);
    /// returns the number of bytes written.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<u64> {
        let path = path.as_ref();
        let bytes = self.to_bytes()?;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| TrainError::ArtifactIo { path: p, source }
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| TrainError::ArtifactIo {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the path has no file name",
                ),
            })?
            .to_string_lossy();
        let tmp: PathBuf = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            file.write_all(&bytes).map_err(io(&tmp))?;
            file.sync_all().map_err(io(&tmp))?;
            std::fs::rename(&tmp, path).map_err(io(path))
        })();
        if result.is_err() {
            // Best effort: never leave a half-written temporary behind.
            let _ = std::fs::remove_file(&tmp);
        }
        result.map(|()| bytes.len() as u64)
    }

    /// Scores one raw record (values in [`Self::input_columns`] order): the feature pipeline into
    /// `features` (len [`Self::n_features`]), then the forest into `proba` (len classes). This is
    /// the single scoring path: golden verification, batch prediction and the server use it.
    pub fn score_record(
        &self,
        record: &[RawValue<'_>],
        features: &mut [f32],
        proba: &mut [f64],
    ) -> Result<()> {
        self.pipeline.transform_row(record, features)?;
        self.forest.predict_proba_row(features, proba)
    }

    /// Class probabilities (rows × classes) of every row of a table holding the input columns,
    /// parallel over row chunks. Bit-identical to [`Self::score_record`] on each row (the batch
    /// pipeline and forest paths are bit-identical to their one-row paths).
    pub fn score_table(&self, table: &Table) -> Result<Array2<f64>> {
        let n = table.n_rows();
        let nc = self.classes().len();
        let starts: Vec<usize> = (0..n).step_by(SCORE_CHUNK).collect();
        let parts: Vec<Array2<f64>> = starts
            .par_iter()
            .map(|&start| {
                let rows: Vec<usize> = (start..n.min(start + SCORE_CHUNK)).collect();
                let x = self.pipeline.transform_table(table, Some(&rows))?;
                self.forest.predict_proba(x.view())
            })
            .collect::<Result<_>>()?;
        let mut out = Array2::<f64>::zeros((n, nc));
        for (start, part) in starts.iter().zip(&parts) {
            out.slice_axis_mut(Axis(0), Slice::from(*start..*start + part.nrows()))
                .assign(part);
        }
        Ok(out)
    }

    /// The decided class index of one probability row: binary → positive (1) when
    /// P(positive) >= threshold, else 0; multi-class → the argmax (ties to the lower index).
    pub fn predict_class(&self, proba: &[f64]) -> usize {
        match (&self.metadata.threshold, proba) {
            (Some(t), [_, p1]) => usize::from(*p1 >= t.value),
            _ => argmax(proba),
        }
    }

    /// Decided class index per row of a probability matrix (see [`Self::predict_class`]).
    pub fn predict_classes(&self, proba: ArrayView2<'_, f64>) -> Vec<usize> {
        proba
            .outer_iter()
            .map(|p| match p.as_slice() {
                Some(s) => self.predict_class(s),
                None => self.predict_class(&p.to_vec()),
            })
            .collect()
    }

    /// The header.
    pub fn metadata(&self) -> &ArtifactMetadata {
        &self.metadata
    }
    /// The raw columns a record must supply, in order.
    pub fn input_columns(&self) -> &[InputColumn] {
        self.pipeline.input_columns()
    }
    /// Class labels; probabilities come in this order.
    pub fn classes(&self) -> &[String] {
        &self.metadata.classes
    }
    /// The binary decision threshold (`None` for multi-class models).
    pub fn threshold(&self) -> Option<f64> {
        self.metadata.threshold.as_ref().map(|t| t.value)
    }
    /// The fitted feature pipeline.
    pub fn pipeline(&self) -> &FittedPipeline {
        &self.pipeline
    }
    /// The forest.
    pub fn forest(&self) -> &RandomForest {
        &self.forest
    }
    /// Features after the pipeline (the forest's input width).
    pub fn n_features(&self) -> usize {
        self.pipeline.n_features()
    }
    /// The seeded sample of raw training-data records stored for drift (format 1.3.0 and
    /// later, unless `model.reference_sample_rows` was 0); `None` for older artifacts, whose
    /// drift baseline is [`ArtifactMetadata::profile`].
    pub fn reference_sample(&self) -> Option<&ReferenceSample> {
        self.reference_sample.as_ref()
    }
    /// The isotonic calibration of a binary model's positive-class probability, with the
    /// held-out pairs it was fitted on (capped); `None` for multi-class models and artifacts
    /// before format 1.3.0.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }
    /// What the artifact carries for monitoring and explanation, one line each (reference
    /// sample, calibration, node cover), as `inspect_model` prints it.
    pub fn monitoring_summary(&self) -> Vec<String> {
        let before_1_3 = "none (artifact before format 1.3.0)";
        let reference = match &self.reference_sample {
            Some(s) => {
                let held_out = s.held_out().iter().filter(|&&h| h).count();
                format!(
                    "{} raw records ({held_out} held out) sampled from {} loaded rows, seed {}",
                    s.n_rows(),
                    s.drawn_from(),
                    s.seed()
                )
            }
            None if self.calibration.is_some() || self.forest.node_cover().is_some() => {
                "none (trained with model.reference_sample_rows = 0): drift uses the binned profile"
                    .to_owned()
            }
            None => format!("{before_1_3}: drift uses the binned profile"),
        };
        let calibration = match &self.calibration {
            Some(c) => format!(
                "isotonic, {} points, fitted on {} held-out rows, {} (probability, label) pairs kept",
                c.map().n_points(),
                c.fitted_on(),
                c.probabilities().len()
            ),
            None if self.classes().len() != 2 => "none (multi-class model)".to_owned(),
            None => before_1_3.to_owned(),
        };
        let cover = match self.forest.node_cover() {
            Some(c) => format!("present ({} nodes)", c.len()),
            None => before_1_3.to_owned(),
        };
        vec![
            format!("reference: {reference}"),
            format!("calibration: {calibration}"),
            format!("node cover: {cover}"),
        ]
    }

    fn check_consistency(&self) -> Result<()> {
        let m = &self.metadata;
        if m.input_columns != self.pipeline.input_columns() {
            return Err(malformed(
                "header input_columns differ from the pipeline's input columns",
            ));
        }
        if m.feature_names != self.pipeline.feature_names() {
            return Err(malformed(
                "header feature_names differ from the pipeline's features",
            ));
        }
        if self.forest.n_features() != self.pipeline.n_features() {
            return Err(malformed(format!(
                "the forest reads {} features, the pipeline writes {}",
                self.forest.n_features(),
                self.pipeline.n_features()
            )));
        }
        if self.forest.n_classes() != m.classes.len() {
            return Err(malformed(format!(
                "the forest has {} classes, the header lists {}",
                self.forest.n_classes(),
                m.classes.len()
            )));
        }
        if let Some(sample) = &self.reference_sample {
            let names: Vec<String> = m.input_columns.iter().map(|c| c.name.clone()).collect();
            sample
                .check(&names, m.classes.len(), MAX_REFERENCE_SAMPLE_ROWS)
                .map_err(|e| malformed(e.to_string()))?;
        }
        if let Some(calibration) = &self.calibration {
            if m.classes.len() != 2 {
                return Err(malformed(format!(
                    "a calibration section is only defined for binary models, this one has {} classes",
                    m.classes.len()
                )));
            }
            calibration.check(MAX_REFERENCE_SAMPLE_ROWS)?;
        }
        match (&m.threshold, m.classes.len()) {
            (Some(t), 2) if !(t.value.is_finite() && (0.0..=1.0).contains(&t.value)) => {
                Err(malformed(format!("threshold {} is not in [0, 1]", t.value)))
            }
            (None, 2) => Err(malformed("a binary model needs a threshold")),
            (Some(_), n) if n != 2 => Err(malformed(format!(
                "a threshold is only defined for binary models, this one has {n} classes"
            ))),
            _ => Ok(()),
        }
    }

    /// Re-scores every golden record and compares the probabilities bit for bit.
    fn verify_golden_set(&self) -> Result<()> {
        let golden = &self.metadata.golden_set;
        if golden.is_empty() {
            return Err(malformed("the golden set is empty"));
        }
        let mut features = vec![0.0f32; self.n_features()];
        let mut proba = vec![0.0f64; self.classes().len()];
        let mut record = Vec::with_capacity(self.input_columns().len());
        for (index, g) in golden.iter().enumerate() {
            let kind = g.kind.as_str().to_owned();
            let unscorable = |reason: String| TrainError::GoldenUnscorable {
                index,
                kind: kind.clone(),
                reason,
            };
            record.clear();
            for v in &g.record {
                record.push(json_to_raw(v).map_err(unscorable)?);
            }
            if g.expected.len() != proba.len() {
                return Err(unscorable(format!(
                    "{} expected probabilities for {} classes",
                    g.expected.len(),
                    proba.len()
                )));
            }
            self.score_record(&record, &mut features, &mut proba)
                .map_err(|e| unscorable(e.to_string()))?;
            for (class, (want, &got)) in g.expected.iter().zip(&proba).enumerate() {
                let want_bits = u64::from_str_radix(want, 16)
                    .ok()
                    .filter(|_| want.len() == 16)
                    .ok_or_else(|| {
                        unscorable(format!(
                            "expected value {want:?} is not 16 hex digits of an f64 bit pattern"
                        ))
                    })?;
                if want_bits != got.to_bits() {
                    return Err(TrainError::GoldenMismatch {
                        index,
                        kind: kind.clone(),
                        class,
                        expected: format!("{want_bits:016x}"),
                        expected_value: f64::from_bits(want_bits),
                        got: bits_hex(got),
                        got_value: got,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Reads only the forest section's counts and compares them with the header, so that a count
/// the header contradicts is refused before it sizes anything (the forest's own decoder then
/// bounds every count by the bytes that hold it).
fn check_forest_counts(section: &[u8], metadata: &ArtifactMetadata) -> Result<()> {
    #[derive(Deserialize)]
    struct ForestCounts {
        n_features: u64,
        n_classes: u64,
    }
    let counts: ForestCounts =
        serde_json::from_slice(section).map_err(|e| malformed(format!("forest section: {e}")))?;
    let checks = [
        (
            "n_classes",
            counts.n_classes,
            "classes",
            metadata.classes.len(),
        ),
        (
            "n_features",
            counts.n_features,
            "feature_names",
            metadata.feature_names.len(),
        ),
    ];
    for (field, value, header_field, expected) in checks {
        if usize::try_from(value).ok() != Some(expected) {
            return Err(malformed(format!(
                "forest section: {field} {value} differs from the header's {expected} {header_field}"
            )));
        }
    }
    Ok(())
}

/// Reads only `format_version` (and the writer, for the message) and refuses a newer major.
fn check_version(header: &[u8]) -> Result<()> {
    #[derive(Deserialize)]
    struct VersionProbe {
        format_version: String,
        writer: Option<WriterInfo>,
    }
    let probe: VersionProbe = serde_json::from_slice(header)
        .map_err(|e| malformed(format!("header has no readable format_version: {e}")))?;
    let (major, _, _) = parse_semver(&probe.format_version).ok_or_else(|| {
        malformed(format!(
            "format_version {:?} is not a semver version",
            probe.format_version
        ))
    })?;
    if major != FORMAT_MAJOR {
        let writer = probe
            .writer
            .map_or_else(|| "an unknown writer".to_owned(), |w| w.to_string());
        if major > FORMAT_MAJOR {
            return Err(TrainError::UnsupportedArtifactVersion {
                found: probe.format_version,
                found_major: major,
                writer,
                reader: format!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
                supported_major: FORMAT_MAJOR,
                supported: ARTIFACT_FORMAT_VERSION,
            });
        }
        return Err(malformed(format!(
            "format_version {} (written by {writer}) predates format 1, which is the first",
            probe.format_version
        )));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339_utc(t), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn semver_parsing() {
        assert_eq!(parse_semver("1.0.0"), Some((1, 0, 0)));
        assert_eq!(parse_semver("2.10.3-rc.1"), Some((2, 10, 3)));
        assert_eq!(parse_semver("1.0"), None);
        assert_eq!(parse_semver("1.0.0.0"), None);
        assert_eq!(parse_semver("x.0.0"), None);
    }

    #[test]
    fn raw_values_round_trip_through_json_exactly() {
        let values = [
            RawValue::Missing,
            RawValue::Bool(true),
            RawValue::Text(Cow::Borrowed("a \"b\"")),
            RawValue::Number(0.1 + 0.2),
            RawValue::Number(1e-310),
            RawValue::Number(123_456_789.123_456_78),
        ];
        for v in &values {
            let text = serde_json::to_string(&raw_to_json(v).unwrap()).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            let back = json_to_raw(&parsed).unwrap();
            match (v, &back) {
                (RawValue::Number(a), RawValue::Number(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                _ => assert_eq!(v, &back),
            }
        }
        assert!(raw_to_json(&RawValue::Number(f64::NAN)).is_err());
    }
}
