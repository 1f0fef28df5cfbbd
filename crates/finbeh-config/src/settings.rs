//! The raw, unvalidated settings: one struct per section, with built-in defaults.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::secret::Secret;

/// The only settings schema version this crate reads.
pub const SETTINGS_VERSION: u32 = 1;

/// Every setting of the toolkit, as loaded and before validation.
///
/// `Default` gives the built-in defaults; [`Settings::check`](crate::Settings::check) turns it
/// into [`ValidSettings`](crate::ValidSettings), which is what the rest of finbeh takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Schema version of the settings file; only [`SETTINGS_VERSION`] is accepted.
    pub version: u32,
    /// Input data, schema overrides, derived targets and data checks.
    pub data: DataSettings,
    /// Training hyperparameters and the model artifact.
    pub model: ModelSettings,
    /// The HTTP scoring server.
    pub serve: ServeSettings,
    /// Prediction log, alerts and drift.
    pub monitor: MonitorSettings,
    /// Where and how a model is deployed.
    pub deploy: DeploySettings,
    /// Log level and format.
    pub logging: LoggingSettings,
    /// Seeds and sizes used by smoke and load tests.
    pub testing: TestingSettings,
    /// The one-command workflow (`workflow_runner`).
    pub workflow: WorkflowSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            version: SETTINGS_VERSION,
            data: DataSettings::default(),
            model: ModelSettings::default(),
            serve: ServeSettings::default(),
            monitor: MonitorSettings::default(),
            deploy: DeploySettings::default(),
            logging: LoggingSettings::default(),
            testing: TestingSettings::default(),
            workflow: WorkflowSettings::default(),
        }
    }
}

/// `[data]`: where the data comes from and how its columns are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSettings {
    /// CSV file to read; `None` makes the workflow generate synthetic data.
    pub path: Option<PathBuf>,
    /// Rows of synthetic data to generate when `path` is `None`.
    pub synthetic_rows: usize,
    /// Seed of the synthetic data generator.
    pub synthetic_seed: u64,
    /// Name of the target column (case-sensitive).
    pub target: Option<String>,
    /// Which target value is the positive class; `None` infers it.
    pub positive_class: Option<String>,
    /// CSV field delimiter.
    pub delimiter: char,
    /// A text column with more distinct values than this is not treated as categorical.
    pub max_categorical_cardinality: usize,
    /// Columns forced to be numeric.
    pub numeric: Vec<String>,
    /// Columns forced to be categorical.
    pub categorical: Vec<String>,
    /// Columns forced to be boolean.
    pub boolean: Vec<String>,
    /// Columns forced to be dates.
    pub date: Vec<String>,
    /// Identifier columns (kept out of the features).
    pub id: Vec<String>,
    /// Columns dropped entirely.
    pub ignore: Vec<String>,
    /// Keep personally identifying columns as features (off by default).
    pub include_pii: bool,
    /// Extra column names to treat as PII, on top of the built-in list.
    pub pii_columns: Vec<String>,
    /// Reference date (`YYYY-MM-DD`) for date features; `None` infers it from the data.
    pub date_reference: Option<String>,
    /// Columns exempt from the leakage check (kept even when they predict the target too well).
    pub allow_leakage: Vec<String>,
    /// A single feature predicting the target with an AUC at or above this is a leakage warning.
    pub leakage_warn_auc: f64,
    /// A single feature predicting the target with an AUC at or above this is a leakage error.
    pub leakage_error_auc: f64,
    /// Leakage signature: one value covering at least this share of one class ...
    pub leakage_value_class_share: f64,
    /// ... and at most this share of the other classes is a leakage warning, whatever the AUC.
    pub leakage_value_other_share: f64,
    /// Skip bad rows (writing them to `reject_path`) instead of failing.
    pub lenient: bool,
    /// Where rejected rows are written in lenient mode.
    pub reject_path: Option<PathBuf>,
    /// A quoted field still open after this many lines is an unterminated quote, reported at its
    /// first line (an error, or in lenient mode that line alone is rejected).
    pub max_quoted_field_lines: usize,
    /// The same limit in bytes.
    pub max_quoted_field_bytes: usize,
    /// Thousands separator accepted in numbers (`","` reads `1,234.5`); `None` accepts none.
    pub thousands_separator: Option<char>,
    /// Day differences between two date columns, added as numeric features.
    pub date_differences: Vec<DateDifference>,
    /// Derived columns (usually the target), keyed by the new column's name (case kept).
    pub derive: BTreeMap<String, DeriveRule>,
}

impl Default for DataSettings {
    fn default() -> Self {
        Self {
            path: None,
            synthetic_rows: 20_000,
            synthetic_seed: 42,
            target: Some("Anomaly".to_owned()),
            positive_class: None,
            delimiter: ',',
            max_categorical_cardinality: 50,
            numeric: Vec::new(),
            categorical: Vec::new(),
            boolean: Vec::new(),
            date: Vec::new(),
            id: Vec::new(),
            ignore: Vec::new(),
            include_pii: false,
            pii_columns: Vec::new(),
            date_reference: None,
            allow_leakage: Vec::new(),
            leakage_warn_auc: 0.95,
            leakage_error_auc: 0.99,
            leakage_value_class_share: 0.8,
            leakage_value_other_share: 0.05,
            lenient: false,
            reject_path: None,
            max_quoted_field_lines: 100,
            max_quoted_field_bytes: 1 << 20,
            thousands_separator: None,
            date_differences: Vec::new(),
            derive: BTreeMap::new(),
        }
    }
}

/// A numeric feature `name` = days from column `start` to column `end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateDifference {
    /// Name of the new feature.
    pub name: String,
    /// Column holding the earlier date.
    pub start: String,
    /// Column holding the later date.
    pub end: String,
}

/// How a derived column is computed from an existing one: `rule(from, value)` gives a boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveRule {
    /// Source column (case-sensitive).
    pub from: String,
    /// The comparison applied.
    pub rule: DeriveRuleKind,
    /// The comparison's operand: a quantile level, a number, or (for `equals`) a string.
    pub value: DeriveValue,
}

/// The comparisons a [`DeriveRule`] can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeriveRuleKind {
    /// `from >= quantile(from, value)`, value in (0, 1).
    QuantileAtLeast,
    /// `from > quantile(from, value)`, value in (0, 1).
    QuantileAbove,
    /// `from >= value`.
    AtLeast,
    /// `from > value`.
    Above,
    /// `from <= value`.
    AtMost,
    /// `from < value`.
    Below,
    /// `from == value` (number or string).
    Equals,
}

/// A TOML number or string operand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DeriveValue {
    /// A number (TOML integer or float).
    Number(f64),
    /// A string (only meaningful with `equals`).
    Text(String),
}

impl fmt::Display for DeriveValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// Largest `model.reference_sample_rows`: bounds the artifact's reference sample and calibration
/// pairs (writers and readers).
pub const MAX_REFERENCE_SAMPLE_ROWS: usize = 1_000_000;
/// Largest `monitor.estimate.chunk_rows`.
pub const MAX_ESTIMATE_CHUNK_ROWS: usize = 10_000_000;

/// `[model]`: random-forest training and the artifact it produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Model name recorded in the artifact.
    pub name: String,
    /// Model version recorded in the artifact.
    pub version: String,
    /// Seed for splits, bootstrap samples and feature sampling.
    pub random_state: u64,
    /// Fraction of rows held out for testing, in (0, 1).
    pub test_size: f64,
    /// Cross-validation folds, at least 2.
    pub cv_folds: usize,
    /// Number of trees, at least 1.
    pub n_estimators: usize,
    /// Maximum tree depth, at least 1.
    pub max_depth: usize,
    /// Minimum samples to split a node, at least 2.
    pub min_samples_split: usize,
    /// Minimum samples in a leaf, at least 1.
    pub min_samples_leaf: usize,
    /// Minimum impurity decrease for a split, at least 0.
    pub min_impurity_decrease: f64,
    /// Features tried per split: `sqrt`, `log2`, `all` or a fraction such as `0.3`.
    pub max_features: String,
    /// Split quality measure.
    pub criterion: Criterion,
    /// Class weighting.
    pub class_weight: ClassWeight,
    /// Draw a bootstrap sample per tree.
    pub bootstrap: bool,
    /// Compute the out-of-bag score (needs `bootstrap`).
    pub oob_score: bool,
    /// Histogram bins per feature, 2..=255.
    pub max_bins: usize,
    /// Training threads; 0 uses every core.
    pub n_jobs: usize,
    /// Random-search iterations over hyperparameters; 0 disables the search.
    pub search_iterations: usize,
    /// Raw records stored in the artifact with their expected probabilities, at least 32.
    pub golden_set_size: usize,
    /// Directory the artifact and reports are written to.
    pub output_dir: PathBuf,
    /// How the decision threshold is chosen.
    pub threshold: ThresholdRule,
    /// Raw training records (seeded sample) stored in the artifact as the drift reference, and
    /// the most held-out (probability, label) pairs its calibration keeps; 0 stores none.
    pub reference_sample_rows: usize,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            name: "finbeh-model".to_owned(),
            version: "1".to_owned(),
            random_state: 42,
            test_size: 0.2,
            cv_folds: 3,
            n_estimators: 100,
            max_depth: 10,
            min_samples_split: 5,
            min_samples_leaf: 2,
            min_impurity_decrease: 0.0,
            max_features: "sqrt".to_owned(),
            criterion: Criterion::Gini,
            class_weight: ClassWeight::None,
            bootstrap: true,
            oob_score: false,
            max_bins: 255,
            n_jobs: 0,
            search_iterations: 0,
            golden_set_size: 32,
            output_dir: PathBuf::from("out/model"),
            threshold: ThresholdRule::default(),
            reference_sample_rows: 10_000,
        }
    }
}

/// Split quality (node impurity) measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Gini impurity `1 - Σ p²`.
    Gini,
    /// Shannon entropy in bits `-Σ p log2 p`.
    Entropy,
}

/// Class weighting during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every sample weighs 1 (times its bootstrap count).
    None,
    /// `n_samples / (n_classes_present * count(class))` computed on the whole training set.
    Balanced,
    /// Like `Balanced`, recomputed on each tree's bootstrap sample.
    BalancedSubsample,
}

/// How the decision threshold on the positive-class probability is chosen (predict positive
/// when P(positive) >= threshold). The settings file writes it as `rule = "fixed"`,
/// `value = 0.5`; model artifacts keep their own wire form (see finbeh-train).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum ThresholdRule {
    /// A fixed threshold in [0, 1].
    Fixed {
        /// The threshold.
        value: f64,
    },
    /// The score threshold maximising F1 on the evaluated rows (highest such threshold on ties).
    BestF1,
    /// The highest score threshold whose recall reaches the target, in (0, 1].
    TargetRecall {
        /// The recall to reach.
        value: f64,
    },
}

impl Default for ThresholdRule {
    fn default() -> Self {
        Self::Fixed { value: 0.5 }
    }
}

/// Parsed form of [`ModelSettings::max_features`]; model artifacts store it as `"sqrt"`,
/// `"log2"`, `"all"` or `{"fraction": 0.3}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    /// `max(1, floor(sqrt(n_features)))` (scikit-learn's classifier default).
    Sqrt,
    /// `max(1, floor(log2(n_features)))`.
    Log2,
    /// Every feature at every split.
    All,
    /// `max(1, floor(fraction * n_features))`, fraction in (0, 1].
    Fraction(f64),
}

impl MaxFeatures {
    /// The number of candidate features for `n_features` columns.
    pub fn resolve(self, n_features: usize) -> usize {
        let k = match self {
            Self::Sqrt => (n_features as f64).sqrt().floor() as usize,
            Self::Log2 => (n_features as f64).log2().floor() as usize,
            Self::Fraction(f) => (f * n_features as f64).floor() as usize,
            Self::All => n_features,
        };
        k.clamp(1, n_features.max(1))
    }
}

impl FromStr for MaxFeatures {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "sqrt" => Ok(Self::Sqrt),
            "log2" => Ok(Self::Log2),
            "all" => Ok(Self::All),
            other => match other.parse::<f64>() {
                Ok(fraction) if fraction > 0.0 && fraction <= 1.0 => Ok(Self::Fraction(fraction)),
                _ => Err(
                    r#"one of "sqrt", "log2", "all" or a fraction in (0, 1] such as "0.3""#
                        .to_owned(),
                ),
            },
        }
    }
}

impl ModelSettings {
    /// [`Self::max_features`] parsed; always `Ok` once the settings are validated.
    pub fn max_features_rule(&self) -> Result<MaxFeatures, String> {
        self.max_features.parse()
    }
}

/// `[serve]`: the HTTP scoring server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind, 1..=65535.
    #[serde(deserialize_with = "deserialize_port")]
    pub port: u16,
    /// Model artifact to serve; `None` uses the one in `model.output_dir`.
    pub model_path: Option<PathBuf>,
    /// Primary API key; requests must present it (or the secondary) when set.
    pub primary_key: Option<Secret>,
    /// Secondary API key, for rotation.
    pub secondary_key: Option<Secret>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Most records accepted in one request.
    pub max_rows_per_request: usize,
    /// Scoring requests handled at once; more are answered 429 at once.
    pub max_concurrent_requests: usize,
    /// Time allowed to receive a request body, in milliseconds (slower → 408).
    pub request_timeout_ms: u64,
    /// Runtime worker threads; 0 uses every core.
    pub worker_threads: usize,
    /// Let a reload install a model whose input columns differ from the serving model's
    /// (off: such a reload is refused and the old model keeps serving).
    pub allow_schema_change: bool,
    /// Time a client has to send a request head once it started one (or once it connected),
    /// in milliseconds; then the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Time an idle keep-alive connection is kept between requests, in milliseconds.
    pub keep_alive_timeout_ms: u64,
    /// Open connections at most; more are refused at once. 0 derives it from the process's
    /// open-file limit (`RLIMIT_NOFILE`), leaving room for the files the server itself opens.
    pub max_connections: usize,
    /// On SIGTERM, time given to open connections to finish, in milliseconds; then they are
    /// closed.
    pub shutdown_timeout_ms: u64,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 5001,
            model_path: None,
            primary_key: None,
            secondary_key: None,
            max_body_bytes: 4 * 1024 * 1024,
            max_rows_per_request: 10_000,
            max_concurrent_requests: 256,
            request_timeout_ms: 5_000,
            worker_threads: 0,
            allow_schema_change: false,
            header_read_timeout_ms: 10_000,
            keep_alive_timeout_ms: 30_000,
            max_connections: 0,
            shutdown_timeout_ms: 10_000,
        }
    }
}

/// Message for an out-of-range port; the loader pairs it with the key and the value.
pub(crate) const PORT_EXPECTATION: &str = "must be 1..=65535";

/// Reads any integer so that `99999` is reported as out of range rather than as a type error.
fn deserialize_port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let wide = i64::deserialize(deserializer)?;
    u16::try_from(wide).map_err(|_| serde::de::Error::custom(PORT_EXPECTATION))
}

/// `[monitor]`: prediction log, alerts and drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSettings {
    /// Record every scored request in the prediction log (`database_path`).
    pub enabled: bool,
    /// SQLite file holding the prediction log.
    pub database_path: PathBuf,
    /// Share of scoring requests logged, in [0, 1] (all rows of a request together).
    pub sample_rate: f64,
    /// What scoring does when the log's channel is full: wait, or drop the records and count them.
    pub backpressure: Backpressure,
    /// Longest time a record waits in the writer before its batch is committed, in milliseconds;
    /// also the most a crash can lose.
    pub batch_interval_ms: u64,
    /// Scoring requests the log's channel holds before `backpressure` applies.
    pub channel_capacity: usize,
    /// Log rows older than this many days are deleted.
    pub retention_days: u64,
    /// The log keeps at most this many rows; the oldest are deleted first.
    pub retention_max_rows: u64,
    /// Report drift when a feature's PSI exceeds this.
    pub drift_psi_threshold: f64,
    /// Window the alerts and drift are computed over, in minutes.
    pub window_minutes: u64,
    /// `[monitor.drift]`: which statistic decides drift, and its thresholds.
    pub drift: DriftSettings,
    /// `[monitor.estimate]`: the label-free performance estimate (CBPE).
    pub estimate: EstimateSettings,
    /// `[monitor.alerts]`: alert rules over the live windows, and where alerts go.
    pub alerts: AlertSettings,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            database_path: PathBuf::from("out/monitor.sqlite"),
            sample_rate: 1.0,
            backpressure: Backpressure::Block,
            batch_interval_ms: 100,
            channel_capacity: 65_536,
            retention_days: 30,
            retention_max_rows: 100_000_000,
            drift_psi_threshold: 0.2,
            window_minutes: 60,
            drift: DriftSettings::default(),
            estimate: EstimateSettings::default(),
            alerts: AlertSettings::default(),
        }
    }
}

/// `[monitor.drift]`: the statistic that decides whether a column drifted, and its thresholds
/// (Evidently's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftSettings {
    /// A column with at most this many reference rows is decided by a p-value (KS or
    /// chi-square); above it by a distance (normalised Wasserstein or Jensen–Shannon).
    pub p_value_max_reference_rows: u64,
    /// A numeric column with at most this many distinct values (reference and current
    /// together) is decided like a categorical one.
    pub categorical_max_distinct: u64,
    /// KS decides drift when its p-value is at most this, in (0, 1).
    pub ks_p_value: f64,
    /// Chi-square decides drift when its p-value is at most this, in (0, 1).
    pub chi2_p_value: f64,
    /// Wasserstein distance / reference standard deviation decides drift at or above this.
    pub wasserstein_norm: f64,
    /// Jensen–Shannon distance (natural log) decides drift at or above this, in (0, 1].
    pub jensen_shannon: f64,
    /// The dataset drifted when the share of drifted columns is at least this, in (0, 1].
    pub dataset_drift_share: f64,
    /// Per-column threshold for whichever statistic decides that column.
    pub column_thresholds: BTreeMap<String, f64>,
}

impl Default for DriftSettings {
    fn default() -> Self {
        Self {
            p_value_max_reference_rows: 1_000,
            categorical_max_distinct: 5,
            ks_p_value: 0.05,
            chi2_p_value: 0.05,
            wasserstein_norm: 0.1,
            jensen_shannon: 0.1,
            dataset_drift_share: 0.5,
            column_thresholds: BTreeMap::new(),
        }
    }
}

/// What the prediction log does with records when its channel is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backpressure {
    /// The scoring request waits for room: no record is lost.
    #[default]
    Block,
    /// The records are dropped and counted (`finbeh_monitor_dropped_rows_total`).
    Drop,
}

/// `[deploy]`: deployment target and its settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeploySettings {
    /// Where to deploy.
    pub target: DeployTarget,
    /// `[deploy.local]`: blue/green deployment on this machine.
    pub local: LocalDeploySettings,
    /// `[deploy.azure]`: Azure ML managed online endpoint.
    pub azure: AzureDeploySettings,
    /// `[deploy.rollout]`: the safe rollout's steps and gates (both targets).
    pub rollout: RolloutSettings,
}

/// Deployment target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployTarget {
    /// Blue/green servers on this machine.
    #[default]
    Local,
    /// An Azure ML managed online endpoint.
    Azure,
}

/// `[deploy.local]`: blue/green deployment on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalDeploySettings {
    /// Directory of the local model registry.
    pub registry_dir: PathBuf,
    /// Name of the local endpoint.
    pub endpoint_name: String,
    /// Directory of the local endpoint's state (keys, deployments, traffic, daemon pid, logs).
    pub state_dir: PathBuf,
    /// Port of the endpoint's router (the scoring URL clients call).
    #[serde(deserialize_with = "deserialize_port")]
    pub port: u16,
    /// Port of the blue slot.
    #[serde(deserialize_with = "deserialize_port")]
    pub blue_port: u16,
    /// Port of the green slot.
    #[serde(deserialize_with = "deserialize_port")]
    pub green_port: u16,
    /// How long a new slot has to become healthy, in milliseconds.
    pub health_timeout_ms: u64,
}

impl Default for LocalDeploySettings {
    fn default() -> Self {
        Self {
            registry_dir: PathBuf::from("out/registry"),
            endpoint_name: "finbeh-local".to_owned(),
            state_dir: PathBuf::from("out/endpoint"),
            port: 5100,
            blue_port: 5101,
            green_port: 5102,
            health_timeout_ms: 10_000,
        }
    }
}

/// `[deploy.azure]`: Azure ML managed online endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AzureDeploySettings {
    /// Subscription id (also from `AZURE_SUBSCRIPTION_ID`).
    pub subscription_id: Option<String>,
    /// Resource group (also from `AZURE_RESOURCE_GROUP`).
    pub resource_group: Option<String>,
    /// Azure ML workspace (also from `AZURE_WORKSPACE_NAME`).
    pub workspace_name: Option<String>,
    /// Azure region.
    pub region: String,
    /// Online endpoint name.
    pub endpoint_name: String,
    /// Deployment name within the endpoint.
    pub deployment_name: String,
    /// VM size of each instance.
    pub instance_type: String,
    /// Number of instances, at least 1.
    pub instance_count: u32,
    /// How clients authenticate to the endpoint.
    pub auth_mode: AuthMode,
    /// Azure ML REST `api-version`.
    pub api_version: String,
    /// Azure Resource Manager base URL (http or https).
    pub arm_base_url: String,
    /// How finbeh authenticates to Azure.
    pub credential: CredentialKind,
    /// Tenant id for `client_secret` credentials.
    pub tenant_id: Option<String>,
    /// Client (application) id for `client_secret` credentials.
    pub client_id: Option<String>,
    /// Client secret for `client_secret` credentials.
    pub client_secret: Option<Secret>,
    /// Bearer token for `credential = "access_token"` (e.g. `az account get-access-token`);
    /// prefer `FINBEH__DEPLOY__AZURE__ACCESS_TOKEN` over the file.
    pub access_token: Option<Secret>,
    /// The finbeh-serve container image the Azure ML environment runs (required to deploy).
    pub image: Option<String>,
    /// Datastore that receives registered models (`az ml model create` uses the default one).
    pub datastore: String,
    /// Blob service URL overriding the datastore's (private endpoints, Azurite in tests).
    pub blob_url: Option<String>,
    /// Poll interval of long-running operations when Azure sends no `Retry-After`, in ms.
    pub poll_interval_ms: u64,
    /// How long one long-running operation (endpoint, deployment) may take, in seconds.
    pub operation_timeout_s: u64,
    /// Retries of a request answered 408, 429 or 5xx (or not answered).
    pub max_retries: u32,
    /// `[deploy.azure.deployment]`: the managed online deployment's runtime settings.
    pub deployment: AzureDeploymentSettings,
}

impl Default for AzureDeploySettings {
    fn default() -> Self {
        Self {
            subscription_id: None,
            resource_group: None,
            workspace_name: None,
            region: "eastus".to_owned(),
            endpoint_name: "finbeh-endpoint".to_owned(),
            deployment_name: "blue".to_owned(),
            instance_type: "Standard_F4s_v2".to_owned(),
            instance_count: 1,
            auth_mode: AuthMode::Key,
            api_version: "2025-12-01".to_owned(),
            arm_base_url: "https://management.azure.com".to_owned(),
            credential: CredentialKind::AzureCli,
            tenant_id: None,
            client_id: None,
            client_secret: None,
            access_token: None,
            image: None,
            datastore: "workspaceblobstore".to_owned(),
            blob_url: None,
            poll_interval_ms: 5_000,
            operation_timeout_s: 1_800,
            max_retries: 5,
            deployment: AzureDeploymentSettings::default(),
        }
    }
}

/// How clients authenticate to an Azure ML endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Endpoint keys.
    Key,
    /// Azure ML tokens.
    AmlToken,
    /// Microsoft Entra (AAD) tokens.
    AadToken,
}

/// How finbeh obtains Azure credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// The `az` CLI's logged-in account.
    AzureCli,
    /// A service principal: `tenant_id`, `client_id`, `client_secret`.
    ClientSecret,
    /// The managed identity of the host.
    ManagedIdentity,
    /// Workload identity federation (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_FEDERATED_TOKEN_FILE`, as set on AKS).
    WorkloadIdentity,
    /// The developer tools' logged-in account: the `az` CLI, then the Azure Developer CLI.
    DeveloperTools,
    /// A bearer token given as the secret `deploy.azure.access_token`.
    AccessToken,
}

/// `[logging]`: log level and format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingSettings {
    /// A tracing filter: a level (`info`) or directives (`info,finbeh_serve=debug`).
    pub level: String,
    /// Human-readable or JSON lines.
    pub format: LogFormat,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Pretty,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[testing]`: seeds and sizes for smoke and load tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestingSettings {
    /// Seed for test data.
    pub seed: u64,
    /// Rows in smoke-test data sets.
    pub smoke_rows: usize,
    /// Requests sent by a load test.
    pub load_test_requests: usize,
    /// Concurrent clients in a load test.
    pub load_test_concurrency: usize,
    /// `[testing.deployments]`: the checks `test_deployments` runs against an endpoint.
    pub deployments: DeploymentChecksSettings,
}

impl Default for TestingSettings {
    fn default() -> Self {
        Self {
            seed: 42,
            smoke_rows: 200,
            load_test_requests: 1_000,
            load_test_concurrency: 32,
            deployments: DeploymentChecksSettings::default(),
        }
    }
}

/// Deserializes a unit enum from its snake_case name; an unknown name is reported with the list
/// of accepted ones (the `config` crate's own message does not list them).
macro_rules! deserialize_by_name {
    ($ty:ident { $($name:literal => $variant:ident),+ $(,)? }) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                match text.as_str() {
                    $($name => Ok(Self::$variant),)+
                    _ => {
                        let names: Vec<String> = [$($name),+].iter().map(|n| format!("{n:?}")).collect();
                        Err(serde::de::Error::custom(format!("must be one of {}", names.join(", "))))
                    }
                }
            }
        }
    };
}

deserialize_by_name!(DeriveRuleKind {
    "quantile_at_least" => QuantileAtLeast,
    "quantile_above" => QuantileAbove,
    "at_least" => AtLeast,
    "above" => Above,
    "at_most" => AtMost,
    "below" => Below,
    "equals" => Equals,
});
deserialize_by_name!(Criterion { "gini" => Gini, "entropy" => Entropy });
deserialize_by_name!(ClassWeight {
    "none" => None,
    "balanced" => Balanced,
    "balanced_subsample" => BalancedSubsample,
});
deserialize_by_name!(DeployTarget { "local" => Local, "azure" => Azure });
deserialize_by_name!(AuthMode { "key" => Key, "aml_token" => AmlToken, "aad_token" => AadToken });
deserialize_by_name!(CredentialKind {
    "azure_cli" => AzureCli,
    "client_secret" => ClientSecret,
    "managed_identity" => ManagedIdentity,
    "workload_identity" => WorkloadIdentity,
    "developer_tools" => DeveloperTools,
    "access_token" => AccessToken,
});
deserialize_by_name!(Backpressure { "block" => Block, "drop" => Drop });
deserialize_by_name!(LogFormat { "pretty" => Pretty, "json" => Json });

/// `[monitor.estimate]`: confidence-based performance estimation (NannyML's CBPE) from the
/// artifact's calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimateSettings {
    /// Rows per chunk, for the reference band (chunks of the artifact's held-out pairs) and for
    /// the estimate over a window; 0 picks what NannyML's default chunker picks: the reference
    /// in 10 chunks.
    pub chunk_rows: usize,
    /// The band is the mean of the reference chunks' values ± this many standard deviations.
    pub band_sigmas: f64,
}

impl Default for EstimateSettings {
    fn default() -> Self {
        Self {
            chunk_rows: 0,
            band_sigmas: 3.0,
        }
    }
}
/// `[monitor.alerts]`: alert rules evaluated over the live metrics windows, the state that keeps
/// them deduplicated across runs, and the sinks alerts go to (the log always).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// How often `serve` evaluates the rules over its own prediction log, in seconds (when
    /// `monitor.enabled`); 0 leaves evaluation to `monitor alerts`.
    pub evaluation_interval_s: u64,
    /// JSON file keeping each rule's state (pending, firing, cool-down) between evaluations, so
    /// a restart does not fire an alert again.
    pub state_path: PathBuf,
    /// Append every alert event (firing, resolved) as one JSON line to this file.
    pub jsonl_path: Option<PathBuf>,
    /// POST Alertmanager's webhook payload (version 4) to this http:// URL.
    pub webhook_url: Option<String>,
    /// The `receiver` named in webhook payloads.
    pub webhook_receiver: String,
    /// The `externalURL` of webhook payloads and the base of each alert's `generatorURL`.
    pub external_url: String,
    /// Attempts per webhook payload (the first try and its retries).
    pub webhook_max_attempts: u32,
    /// Wait before the first retry, in milliseconds; doubled after each failure.
    pub webhook_initial_backoff_ms: u64,
    /// The longest wait between retries, in milliseconds.
    pub webhook_max_backoff_ms: u64,
    /// Time allowed for one webhook request (connect, send, answer), in milliseconds.
    pub webhook_timeout_ms: u64,
    /// Payloads waiting for the webhook; when full, new ones are dropped and logged.
    pub webhook_queue_capacity: usize,
    /// The rules (`[[monitor.alerts.rules]]`); the defaults are the original's two and stricter
    /// ones that fit finbeh's speed.
    pub rules: Vec<AlertRule>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            evaluation_interval_s: 60,
            state_path: PathBuf::from("out/alerts-state.json"),
            jsonl_path: None,
            webhook_url: None,
            webhook_receiver: "finbeh".to_owned(),
            external_url: "http://localhost:5001".to_owned(),
            webhook_max_attempts: 5,
            webhook_initial_backoff_ms: 500,
            webhook_max_backoff_ms: 30_000,
            webhook_timeout_ms: 5_000,
            webhook_queue_capacity: 1_024,
            rules: AlertRule::defaults(),
        }
    }
}

/// One `[[monitor.alerts.rules]]` entry: fire when `metric` over `window` compares to
/// `threshold` for `for_minutes`; no new firing within `cooldown_minutes` of a resolve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Alert name (`alertname` label); unique among the rules.
    pub name: String,
    /// What is measured.
    pub metric: AlertMetric,
    /// The rolling window it is measured over: `1m`, `5m`, `1h` or `24h`.
    pub window: AlertWindow,
    /// `>`, `>=`, `<` or `<=`.
    pub comparison: AlertComparison,
    /// The value compared with.
    pub threshold: f64,
    /// `info`, `warning` or `critical`.
    pub severity: AlertSeverity,
    /// Minutes the condition must hold before the alert fires (Prometheus's `for`); 0 fires at
    /// once.
    #[serde(default)]
    pub for_minutes: u64,
    /// Minutes after a resolve during which the alert does not fire again.
    #[serde(default)]
    pub cooldown_minutes: u64,
}

impl AlertRule {
    /// The default rules: the original's two (p95 above 5 s is a warning, an error rate above
    /// 5 % critical) and stricter ones for finbeh's sub-millisecond scoring.
    pub fn defaults() -> Vec<Self> {
        let rule = |name: &str, metric, window, threshold, severity, for_minutes| Self {
            name: name.to_owned(),
            metric,
            window,
            comparison: AlertComparison::Above,
            threshold,
            severity,
            for_minutes,
            cooldown_minutes: 15,
        };
        vec![
            rule(
                "LatencyP95Above5s",
                AlertMetric::LatencyP95Ms,
                AlertWindow::FiveMinutes,
                5_000.0,
                AlertSeverity::Warning,
                0,
            ),
            rule(
                "ErrorRateAbove5Percent",
                AlertMetric::ErrorRate,
                AlertWindow::FiveMinutes,
                0.05,
                AlertSeverity::Critical,
                0,
            ),
            rule(
                "LatencyP99Above50ms",
                AlertMetric::LatencyP99Ms,
                AlertWindow::FiveMinutes,
                50.0,
                AlertSeverity::Warning,
                5,
            ),
            rule(
                "ServerErrorRateAbove1Percent",
                AlertMetric::ServerErrorRate,
                AlertWindow::FiveMinutes,
                0.01,
                AlertSeverity::Critical,
                2,
            ),
        ]
    }
}

/// What an alert rule measures over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertMetric {
    /// Mean latency, milliseconds.
    LatencyAvgMs,
    /// Median latency, milliseconds.
    LatencyP50Ms,
    /// 95th percentile latency, milliseconds.
    LatencyP95Ms,
    /// 99th percentile latency, milliseconds.
    LatencyP99Ms,
    /// Largest latency, milliseconds.
    LatencyMaxMs,
    /// Share of requests answered 4xx or 5xx, in [0, 1].
    ErrorRate,
    /// Share of requests answered 5xx, in [0, 1].
    ServerErrorRate,
    /// Scoring requests in the window.
    Requests,
    /// Scoring requests per second.
    ThroughputRps,
    /// Share of binary rows predicted positive, in [0, 1].
    PositiveRate,
    /// Mean positive-class probability, in [0, 1].
    MeanProbability,
}

/// An alert rule's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AlertWindow {
    /// One minute.
    #[serde(rename = "1m")]
    OneMinute,
    /// Five minutes.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// One hour.
    #[serde(rename = "1h")]
    OneHour,
    /// Twenty-four hours.
    #[serde(rename = "24h")]
    OneDay,
}

impl AlertWindow {
    /// The window's length in minutes.
    pub fn minutes(self) -> u64 {
        match self {
            Self::OneMinute => 1,
            Self::FiveMinutes => 5,
            Self::OneHour => 60,
            Self::OneDay => 1_440,
        }
    }

    /// The name written in settings (`5m`).
    pub fn name(self) -> &'static str {
        match self {
            Self::OneMinute => "1m",
            Self::FiveMinutes => "5m",
            Self::OneHour => "1h",
            Self::OneDay => "24h",
        }
    }
}

/// How an alert rule compares its metric with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AlertComparison {
    /// `>`
    #[serde(rename = ">")]
    Above,
    /// `>=`
    #[serde(rename = ">=")]
    AtLeast,
    /// `<`
    #[serde(rename = "<")]
    Below,
    /// `<=`
    #[serde(rename = "<=")]
    AtMost,
}

impl AlertComparison {
    /// Whether `value` meets the comparison with `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::AtLeast => value >= threshold,
            Self::Below => value < threshold,
            Self::AtMost => value <= threshold,
        }
    }

    /// The operator as written (`>=`), also PromQL's.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Above => ">",
            Self::AtLeast => ">=",
            Self::Below => "<",
            Self::AtMost => "<=",
        }
    }
}

/// An alert's severity (`severity` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    /// For the record.
    Info,
    /// Needs a look soon.
    Warning,
    /// Needs action now.
    Critical,
}

deserialize_by_name!(AlertMetric {
    "latency_avg_ms" => LatencyAvgMs,
    "latency_p50_ms" => LatencyP50Ms,
    "latency_p95_ms" => LatencyP95Ms,
    "latency_p99_ms" => LatencyP99Ms,
    "latency_max_ms" => LatencyMaxMs,
    "error_rate" => ErrorRate,
    "server_error_rate" => ServerErrorRate,
    "requests" => Requests,
    "throughput_rps" => ThroughputRps,
    "positive_rate" => PositiveRate,
    "mean_probability" => MeanProbability,
});
deserialize_by_name!(AlertWindow { "1m" => OneMinute, "5m" => FiveMinutes, "1h" => OneHour, "24h" => OneDay });
deserialize_by_name!(AlertComparison { ">" => Above, ">=" => AtLeast, "<" => Below, "<=" => AtMost });
deserialize_by_name!(AlertSeverity { "info" => Info, "warning" => Warning, "critical" => Critical });
/// `[deploy.azure.deployment]`: how the managed online deployment runs finbeh-serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AzureDeploymentSettings {
    /// Azure ML environment that holds the image (its version is derived from the image).
    pub environment_name: String,
    /// `requestSettings.maxConcurrentRequestsPerInstance`.
    pub max_concurrent_requests_per_instance: u32,
    /// `requestSettings.requestTimeout`, in milliseconds (Azure allows up to 180,000).
    pub request_timeout_ms: u64,
    /// Whether Application Insights collects the deployment's requests.
    pub app_insights_enabled: bool,
    /// Liveness and readiness probes: seconds before the first probe.
    pub probe_initial_delay_s: u64,
    /// Seconds between probes.
    pub probe_period_s: u64,
    /// Seconds a probe may take.
    pub probe_timeout_s: u64,
    /// Failed probes in a row before the container is restarted (liveness) or taken out of
    /// rotation (readiness).
    pub probe_failure_threshold: u32,
}

impl Default for AzureDeploymentSettings {
    fn default() -> Self {
        Self {
            environment_name: "finbeh-serve".to_owned(),
            max_concurrent_requests_per_instance: 16,
            request_timeout_ms: 5_000,
            app_insights_enabled: false,
            probe_initial_delay_s: 10,
            probe_period_s: 10,
            probe_timeout_s: 2,
            probe_failure_threshold: 30,
        }
    }
}

/// `[deploy.rollout]`: how `deploy rollout` moves traffic to a new deployment, and the gates
/// every step must pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutSettings {
    /// Live traffic percentages of the new deployment, increasing, ending at 100.
    pub steps: Vec<u32>,
    /// How long each step soaks before its gate is read, in seconds.
    pub soak_seconds: f64,
    /// Highest share of failed requests (5xx or no answer) to the new deployment over a soak.
    pub max_error_rate: f64,
    /// Highest 99th-percentile latency of the new deployment over a soak, in milliseconds.
    pub max_p99_ms: f64,
}

impl Default for RolloutSettings {
    fn default() -> Self {
        Self {
            steps: vec![10, 50, 100],
            soak_seconds: 30.0,
            max_error_rate: 0.01,
            max_p99_ms: 250.0,
        }
    }
}

/// `[workflow]`: the one-command workflow (`workflow_runner`): where it keeps its state, data and
/// report, how it rolls out, and the burst of held-out traffic it sends through the endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkflowSettings {
    /// Directory of the workflow's state file (`state.json`), generated data and monitor report.
    pub output_dir: PathBuf,
    /// Soak of each traffic step of the workflow's own rollout, in seconds (`deploy rollout`
    /// soaks `deploy.rollout.soak_seconds`): the workflow's traffic comes after the rollout, so a
    /// long soak would only wait.
    pub rollout_soak_seconds: f64,
    /// Held-out records sent through the endpoint by the traffic stage (fewer when the held-out
    /// split is smaller).
    pub traffic_records: usize,
    /// Records per scoring request of the traffic stage.
    pub traffic_rows_per_request: usize,
    /// Scoring requests in flight at once during the traffic stage.
    pub traffic_concurrency: usize,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            output_dir: PathBuf::from("out/workflow"),
            rollout_soak_seconds: 1.0,
            traffic_records: 2_000,
            traffic_rows_per_request: 10,
            traffic_concurrency: 4,
        }
    }
}

/// `[testing.deployments]`: what `test_deployments` asks of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeploymentChecksSettings {
    /// Scoring requests (one golden record each, one after the other) timed by the latency check.
    pub latency_requests: usize,
    /// Highest 99th-percentile latency of those requests, in milliseconds.
    pub max_p99_ms: u64,
    /// Longest wait for one answer, in milliseconds.
    pub request_timeout_ms: u64,
}

impl Default for DeploymentChecksSettings {
    fn default() -> Self {
        Self {
            latency_requests: 200,
            max_p99_ms: 250,
            request_timeout_ms: 10_000,
        }
    }
}
