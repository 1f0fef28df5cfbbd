//! finbeh-config: typed, validated settings for every finbeh crate.
//!
//! Settings come in eight sections (`data`, `model`, `serve`, `monitor`, `deploy`, `logging`,
//! `testing`, `workflow`), each a struct with a built-in default for every field. [`Loader`] layers them:
//!
//! 1. built-in defaults ([`Settings::default`]),
//! 2. a TOML file (`finbeh.toml` in the working directory, or an explicit path),
//! 3. `AZURE_SUBSCRIPTION_ID`, `AZURE_RESOURCE_GROUP`, `AZURE_WORKSPACE_NAME`,
//! 4. `FINBEH__SECTION__KEY` variables (nested with `__`, e.g. `FINBEH__DEPLOY__AZURE__REGION`).
//!
//! Tables merge key by key, so a partial table keeps the defaults it leaves out
//! (`[model.threshold]` with only `value = 0.3` is the `fixed` rule at 0.3; a different `rule`
//! inherits nothing). Types are strict: a value of the wrong TOML type is a problem, never
//! converted (`request_timeout_ms = 1.5`, `host = 127`, `include_pii = "on"`). Environment values
//! are text, parsed by the type of their key:
//!
//! * boolean: exactly `true` or `false`;
//! * integer: decimal digits with an optional sign, no fraction, no exponent (`8080`);
//! * number: any decimal or exponent form Rust's `f64` parser reads (`0.25`, `1e-3`, `1`);
//! * string: the text as it is (`FINBEH__MODEL__VERSION=007` is `"007"`);
//! * list of strings: split at commas, nothing trimmed;
//! * `data.derive.*.value` (number or string): a number when the text reads as one, else text.
//!
//! An empty `FINBEH__…` variable is an error (unset it to keep the value).
//!
//! Loading ends with validation, linfa style: [`Settings::check`] turns the raw [`Settings`]
//! into [`ValidSettings`], which the rest of finbeh takes. Every problem is reported at once, each
//! naming the key, the bad value and what was expected ([`Problem`]). Unknown keys are errors.
//! Secrets ([`Secret`]) print as `***` everywhere, including
//! [`ValidSettings::to_toml_redacted`].
//!
//! ```
//! use finbeh_config::Loader;
//!
//! let err = Loader::new()
//!     .env([("FINBEH__SERVE__PORT", "99999"), ("FINBEH__MODEL__CV_FOLDS", "1")])
//!     .load()
//!     .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid configuration (2 problems):\n  \
//!      serve.port = 99999: must be 1..=65535\n  \
//!      model.cv_folds = 1: must be at least 2"
//! );
//!
//! let settings = Loader::new().env([("FINBEH__SERVE__PRIMARY_KEY", "sekrit")]).load().unwrap();
//! assert_eq!(settings.serve().primary_key.as_ref().unwrap().expose(), "sekrit");
//! assert!(settings.to_toml_redacted().contains(r#"primary_key = "***""#));
//! ```

#![deny(missing_docs)]

mod error;
mod kinds;
mod load;
mod logging;
mod secret;
mod settings;
mod validate;

pub use error::ConfigError;
pub use load::{AZURE_ENV_KEYS, DEFAULT_CONFIG_FILE, ENV_PREFIX, Loader};
pub use logging::init_logging;
pub use secret::Secret;
pub use settings::{
    AuthMode, AzureDeploySettings, AzureDeploymentSettings, Backpressure, ClassWeight,
    CredentialKind, Criterion, DataSettings, DateDifference, DeploySettings, DeployTarget,
    DeriveRule, DeriveRuleKind, DeriveValue, DriftSettings, LocalDeploySettings, LogFormat,
    LoggingSettings, MaxFeatures, ModelSettings, MonitorSettings, RolloutSettings,
    SETTINGS_VERSION, ServeSettings, Settings, TestingSettings, ThresholdRule,
};
pub use settings::{EstimateSettings, MAX_ESTIMATE_CHUNK_ROWS, MAX_REFERENCE_SAMPLE_ROWS};
pub use validate::{Problem, ValidSettings, thousands_separator_problem};

pub use settings::DeploymentChecksSettings;
pub use settings::WorkflowSettings;

pub use settings::{
    AlertComparison, AlertMetric, AlertRule, AlertSettings, AlertSeverity, AlertWindow,
};
