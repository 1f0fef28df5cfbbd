//! finbeh-config: typed, validated settings for every finbeh crate.
//!
//! Settings come in seven sections (`data`, `model`, `serve`, `monitor`, `deploy`, `logging`,
//! `testing`), each a struct with a built-in default for every field. [`Loader`] layers them:
//!
//! 1. built-in defaults ([`Settings::default`]),
//! 2. a TOML file (`finbeh.toml` in the working directory, or an explicit path),
//! 3. `AZURE_SUBSCRIPTION_ID`, `AZURE_RESOURCE_GROUP`, `AZURE_WORKSPACE_NAME`,
//! 4. `FINBEH__SECTION__KEY` variables (nested with `__`, e.g. `FINBEH__DEPLOY__AZURE__REGION`).
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
    AuthMode, AzureDeploySettings, ClassWeight, CredentialKind, Criterion, DataSettings,
    DateDifference, DeploySettings, DeployTarget, DeriveRule, DeriveRuleKind, DeriveValue,
    LocalDeploySettings, LogFormat, LoggingSettings, MaxFeatures, ModelSettings, MonitorSettings,
    SETTINGS_VERSION, ServeSettings, Settings, TestingSettings, ThresholdRule,
};
pub use validate::{Problem, ValidSettings, thousands_separator_problem};
