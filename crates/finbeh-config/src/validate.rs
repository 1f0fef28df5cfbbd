//! Validation: [`Settings::check`] collects every problem and yields [`ValidSettings`].

use std::fmt;
use std::ops::Deref;

use crate::error::ConfigError;
use crate::secret::REDACTED;
use crate::settings::WorkflowSettings;
use crate::settings::{AlertMetric, AlertSettings};
use crate::settings::{AzureDeploySettings, CredentialKind, PORT_EXPECTATION};
use crate::settings::{
    DataSettings, DeploySettings, DeployTarget, DeriveRuleKind, DeriveValue, DriftSettings,
    LocalDeploySettings, LoggingSettings, MaxFeatures, ModelSettings, MonitorSettings,
    RolloutSettings, SETTINGS_VERSION, ServeSettings, Settings, TestingSettings, ThresholdRule,
};
use crate::settings::{EstimateSettings, MAX_ESTIMATE_CHUNK_ROWS, MAX_REFERENCE_SAMPLE_ROWS};

use crate::settings::DeploymentChecksSettings;

/// One thing wrong with the settings: which key, what value it had and what was expected.
///
/// Displays as `serve.port = 99999: must be 1..=65535`. Secret values show as `***`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `serve.port`.
    pub key: String,
    /// The offending value as written (quoted if a string), or `***` for a secret.
    pub value: String,
    /// What was expected instead.
    pub expected: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: {}", self.key, self.value, self.expected)
    }
}

/// Settings that passed [`Settings::check`]; the rest of finbeh takes this (or one section).
///
/// Read-only: use the section accessors or deref to [`Settings`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSettings(Settings);

impl ValidSettings {
    /// `[data]`.
    pub fn data(&self) -> &DataSettings {
        &self.0.data
    }
    /// `[model]`.
    pub fn model(&self) -> &ModelSettings {
        &self.0.model
    }
    /// `[serve]`.
    pub fn serve(&self) -> &ServeSettings {
        &self.0.serve
    }
    /// `[monitor]`.
    pub fn monitor(&self) -> &MonitorSettings {
        &self.0.monitor
    }
    /// `[deploy]`.
    pub fn deploy(&self) -> &DeploySettings {
        &self.0.deploy
    }
    /// `[logging]`.
    pub fn logging(&self) -> &LoggingSettings {
        &self.0.logging
    }
    /// `[testing]`.
    pub fn testing(&self) -> &TestingSettings {
        &self.0.testing
    }
    /// `[workflow]`.
    pub fn workflow(&self) -> &WorkflowSettings {
        &self.0.workflow
    }
    /// Every section.
    pub fn settings(&self) -> &Settings {
        &self.0
    }

    /// The effective configuration as TOML, secrets printed as `***`.
    pub fn to_toml_redacted(&self) -> String {
        // Secret serializes as "***", so plain serialization is already redacted.
        toml::to_string(&self.0)
            .unwrap_or_else(|error| format!("# the configuration could not be rendered: {error}\n"))
    }
}

impl Deref for ValidSettings {
    type Target = Settings;

    fn deref(&self) -> &Settings {
        &self.0
    }
}

impl Settings {
    /// Validates every setting, reporting all problems at once.
    ///
    /// ```
    /// let mut settings = finbeh_config::Settings::default();
    /// settings.model.cv_folds = 1;
    /// settings.model.test_size = 1.5;
    /// let err = settings.check().unwrap_err();
    /// assert_eq!(err.problems().len(), 2);
    /// assert!(err.to_string().contains("model.cv_folds = 1: must be at least 2"));
    /// ```
    pub fn check(self) -> Result<ValidSettings, ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(ValidSettings(self))
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Every problem with these settings (empty when they are valid).
    pub(crate) fn problems(&self) -> Vec<Problem> {
        let mut out = Problems::default();
        if self.version != SETTINGS_VERSION {
            out.push(
                "version",
                self.version,
                format!("must be {SETTINGS_VERSION}, the only settings version this finbeh reads"),
            );
        }
        check_data(&self.data, &mut out);
        check_model(&self.model, &mut out);
        check_serve(&self.serve, &mut out);
        check_monitor(&self.monitor, &mut out);
        check_deploy(&self.deploy, &mut out);
        check_logging(&self.logging, &mut out);
        check_testing(&self.testing, &mut out);
        check_workflow(&self.workflow, &mut out);
        out.0
    }
}

impl ServeSettings {
    /// Validates `[serve]` alone, with the same rules as [`Settings::check`], for a server built
    /// from settings that did not come through it.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem (keys are `serve.<setting>`).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_section(self, check_serve)
    }
}

impl DataSettings {
    /// Validates `[data]` alone, with the same rules as [`Settings::check`], for ingestion built
    /// from settings that did not come through it (finbeh-data's `DataParams::check`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem (keys are `data.<setting>`).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_section(self, check_data)
    }
}

impl AzureDeploySettings {
    /// Validates `[deploy.azure]` alone as the deployment target (subscription, resource group,
    /// workspace, image and the credential's keys required), with the same rules as
    /// [`Settings::check`] (finbeh-deploy's `AzureParams::check`, for `deploy --target azure`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem (keys are `deploy.azure.<setting>`).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_section(self, |azure, out| check_azure(azure, true, out))
    }
}

impl MonitorSettings {
    /// Validates `[monitor]` alone, with the same rules as [`Settings::check`] (finbeh-monitor's
    /// `PredictionLogParams::check`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem (keys are `monitor.<setting>`).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_section(self, check_monitor)
    }
}

impl AlertSettings {
    /// Validates `[monitor.alerts]` alone, with the same rules as [`Settings::check`]
    /// (finbeh-monitor's `AlertParams::check`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem (keys are `monitor.alerts.<setting>`).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_section(self, check_alerts)
    }
}

/// One section's rules, as [`Settings::check`] applies them, with its problems as an error.
fn check_section<T>(section: &T, rules: fn(&T, &mut Problems)) -> Result<(), ConfigError> {
    let mut out = Problems::default();
    rules(section, &mut out);
    if out.0.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(out.0))
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(
        &mut self,
        key: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) {
        self.0.push(Problem {
            key: key.into(),
            value: value.to_string(),
            expected: expected.into(),
        });
    }

    fn at_least<T: PartialOrd + fmt::Display>(&mut self, key: &str, value: T, min: T) {
        if value < min {
            self.push(key, &value, format!("must be at least {min}"));
        }
    }

    fn within<T: PartialOrd + fmt::Display>(&mut self, key: &str, value: T, min: T, max: T) {
        if value < min || value > max {
            self.push(key, &value, format!("must be {min}..={max}"));
        }
    }

    fn non_empty(&mut self, key: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(key, quoted(value), "must not be empty");
        }
    }
}

fn quoted(text: &str) -> String {
    format!("{text:?}")
}

/// Why `separator` cannot be a thousands separator, if it cannot. It may equal the delimiter:
/// CSV quoting keeps `"1,234.5"` one field.
pub fn thousands_separator_problem(separator: char) -> Option<&'static str> {
    (separator.is_ascii_digit()
        || matches!(separator, '.' | '+' | '-' | 'e' | 'E' | '"' | '\n' | '\r'))
    .then_some("must not be a digit, '.', a sign, an exponent 'e', a quote or a newline")
}

fn check_data(data: &DataSettings, out: &mut Problems) {
    out.at_least("data.synthetic_rows", data.synthetic_rows, 1);
    out.at_least(
        "data.max_categorical_cardinality",
        data.max_categorical_cardinality,
        2,
    );
    if !data.delimiter.is_ascii() || matches!(data.delimiter, '\n' | '\r' | '"') {
        out.push(
            "data.delimiter",
            quoted(&data.delimiter.to_string()),
            "must be a single ASCII character other than a newline or a double quote",
        );
    }
    if let Some(target) = &data.target {
        out.non_empty("data.target", target);
    }
    if let Some(positive) = &data.positive_class {
        out.non_empty("data.positive_class", positive);
    }
    if data.lenient && data.reject_path.is_none() {
        out.push(
            "data.reject_path",
            "(not set)",
            "is required when data.lenient = true, so that no row is dropped silently",
        );
    }
    out.at_least(
        "data.max_quoted_field_lines",
        data.max_quoted_field_lines,
        1,
    );
    out.at_least(
        "data.max_quoted_field_bytes",
        data.max_quoted_field_bytes,
        1,
    );
    if let Some(problem) = data
        .thousands_separator
        .and_then(thousands_separator_problem)
    {
        out.push(
            "data.thousands_separator",
            quoted(&data.thousands_separator.unwrap_or_default().to_string()),
            problem,
        );
    }
    if let Some(reference) = data.date_reference.as_ref().filter(|r| !is_iso_date(r)) {
        out.push(
            "data.date_reference",
            quoted(reference),
            "must be a date written YYYY-MM-DD",
        );
    }
    check_leakage(data, out);
    // A column may have one forced role only.
    let roles: [(&str, &Vec<String>); 6] = [
        ("numeric", &data.numeric),
        ("categorical", &data.categorical),
        ("boolean", &data.boolean),
        ("date", &data.date),
        ("id", &data.id),
        ("ignore", &data.ignore),
    ];
    for (i, (role, columns)) in roles.iter().enumerate() {
        for column in columns.iter() {
            for (other_role, other_columns) in roles.iter().skip(i + 1) {
                if other_columns.contains(column) {
                    out.push(
                        format!("data.{role}"),
                        quoted(column),
                        format!(
                            "a column can have one role only, but it is also in data.{other_role}"
                        ),
                    );
                }
            }
        }
    }
    for (index, difference) in data.date_differences.iter().enumerate() {
        let key = format!("data.date_differences[{index}]");
        out.non_empty(&format!("{key}.name"), &difference.name);
        out.non_empty(&format!("{key}.start"), &difference.start);
        out.non_empty(&format!("{key}.end"), &difference.end);
        if !difference.start.trim().is_empty() && difference.start == difference.end {
            out.push(
                format!("{key}.end"),
                quoted(&difference.end),
                "must differ from start",
            );
        }
        if data.date_differences[..index]
            .iter()
            .any(|earlier| earlier.name == difference.name)
        {
            out.push(
                format!("{key}.name"),
                quoted(&difference.name),
                "is used by an earlier date difference",
            );
        }
    }
    for (name, rule) in &data.derive {
        let key = format!("data.derive.{name}");
        if name.trim().is_empty() {
            out.push(key.clone(), quoted(name), "a derived target needs a name");
        }
        out.non_empty(&format!("{key}.from"), &rule.from);
        let value_key = format!("{key}.value");
        match (rule.rule, &rule.value) {
            (
                DeriveRuleKind::QuantileAtLeast | DeriveRuleKind::QuantileAbove,
                DeriveValue::Number(q),
            ) if *q > 0.0 && *q < 1.0 => {}
            (DeriveRuleKind::QuantileAtLeast | DeriveRuleKind::QuantileAbove, value) => {
                out.push(
                    value_key,
                    value,
                    "must be a quantile level in (0, 1) for quantile rules",
                );
            }
            (DeriveRuleKind::Equals, DeriveValue::Number(n)) if !n.is_finite() => {
                out.push(value_key, n, "must be a finite number or a string");
            }
            (DeriveRuleKind::Equals, _) => {}
            (_, DeriveValue::Number(n)) if n.is_finite() => {}
            (_, value) => out.push(value_key, value, "must be a finite number for this rule"),
        }
    }
}

/// `YYYY-MM-DD` with a real month and a day that exists in it.
/// Leakage levels: warn <= error, both in (0.5, 1]; the signature's value covers most of a class
/// (so at most one value per class qualifies) and less of the others.
fn check_leakage(data: &DataSettings, out: &mut Problems) {
    let (warn, error) = (data.leakage_warn_auc, data.leakage_error_auc);
    if !(warn > 0.5 && warn <= 1.0) {
        out.push("data.leakage_warn_auc", warn, "must be in (0.5, 1]");
    }
    if !(error > 0.5 && error <= 1.0) {
        out.push("data.leakage_error_auc", error, "must be in (0.5, 1]");
    } else if warn > error {
        out.push(
            "data.leakage_warn_auc",
            warn,
            format!("must not exceed data.leakage_error_auc ({error})"),
        );
    }
    let (class_share, other_share) = (
        data.leakage_value_class_share,
        data.leakage_value_other_share,
    );
    if !(class_share > 0.5 && class_share <= 1.0) {
        out.push(
            "data.leakage_value_class_share",
            class_share,
            "must be in (0.5, 1]",
        );
    } else if !(0.0..class_share).contains(&other_share) {
        out.push(
            "data.leakage_value_other_share",
            other_share,
            format!("must be in [0, data.leakage_value_class_share = {class_share})"),
        );
    }
}

fn is_iso_date(text: &str) -> bool {
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(year), Ok(month), Ok(day)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>())
    else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day)
}

fn check_model(model: &ModelSettings, out: &mut Problems) {
    out.non_empty("model.name", &model.name);
    out.non_empty("model.version", &model.version);
    if !(model.test_size > 0.0 && model.test_size < 1.0) {
        out.push("model.test_size", model.test_size, "must be in (0, 1)");
    }
    out.at_least("model.cv_folds", model.cv_folds, 2);
    out.at_least("model.n_estimators", model.n_estimators, 1);
    out.at_least("model.max_depth", model.max_depth, 1);
    out.at_least("model.min_samples_split", model.min_samples_split, 2);
    out.at_least("model.min_samples_leaf", model.min_samples_leaf, 1);
    if !(model.min_impurity_decrease >= 0.0 && model.min_impurity_decrease.is_finite()) {
        out.push(
            "model.min_impurity_decrease",
            model.min_impurity_decrease,
            "must be a finite number at least 0",
        );
    }
    if let Err(expected) = model.max_features.parse::<MaxFeatures>() {
        out.push("model.max_features", quoted(&model.max_features), expected);
    }
    if !(2..=255).contains(&model.max_bins) {
        out.push("model.max_bins", model.max_bins, "must be 2..=255");
    }
    if model.oob_score && !model.bootstrap {
        out.push("model.oob_score", true, "needs model.bootstrap = true");
    }
    out.at_least("model.golden_set_size", model.golden_set_size, 32);
    out.within(
        "model.reference_sample_rows",
        model.reference_sample_rows,
        0,
        MAX_REFERENCE_SAMPLE_ROWS,
    );
    match model.threshold {
        ThresholdRule::Fixed { value } if !(0.0..=1.0).contains(&value) => {
            out.push(
                "model.threshold.value",
                value,
                "must be in [0, 1] for rule \"fixed\"",
            );
        }
        ThresholdRule::TargetRecall { value } if !(value > 0.0 && value <= 1.0) => {
            out.push(
                "model.threshold.value",
                value,
                "must be in (0, 1] for rule \"target_recall\"",
            );
        }
        _ => {}
    }
}

fn check_serve(serve: &ServeSettings, out: &mut Problems) {
    if !is_host(&serve.host) {
        out.push(
            "serve.host",
            quoted(&serve.host),
            "must be an IP address (such as 127.0.0.1 or ::1) or a host name (such as localhost)",
        );
    }
    if serve.port == 0 {
        out.push("serve.port", 0, PORT_EXPECTATION);
    }
    for (key, secret) in [
        ("serve.primary_key", &serve.primary_key),
        ("serve.secondary_key", &serve.secondary_key),
    ] {
        let Some(secret) = secret else { continue };
        if secret.expose().is_empty() {
            out.push(
                key,
                REDACTED,
                "must not be empty when set; leave it unset to disable auth",
            );
        } else if !secret.expose().bytes().all(|b| b.is_ascii_graphic()) {
            // A key must fit in an `Authorization` header as is.
            out.push(key, REDACTED, "must be printable ASCII without spaces");
        }
    }
    out.within("serve.max_body_bytes", serve.max_body_bytes, 2, 1 << 30);
    out.within(
        "serve.max_rows_per_request",
        serve.max_rows_per_request,
        1,
        1_000_000,
    );
    out.within(
        "serve.max_concurrent_requests",
        serve.max_concurrent_requests,
        1,
        1_000_000,
    );
    out.within(
        "serve.request_timeout_ms",
        serve.request_timeout_ms,
        1,
        600_000,
    );
    out.within("serve.worker_threads", serve.worker_threads, 0, 1024);
    out.within(
        "serve.header_read_timeout_ms",
        serve.header_read_timeout_ms,
        1,
        600_000,
    );
    out.within(
        "serve.keep_alive_timeout_ms",
        serve.keep_alive_timeout_ms,
        1,
        3_600_000,
    );
    out.within("serve.max_connections", serve.max_connections, 0, 1 << 24);
    out.within(
        "serve.shutdown_timeout_ms",
        serve.shutdown_timeout_ms,
        0,
        600_000,
    );
}

/// An IP address, or a DNS host name: dot-separated labels of 1 to 63 letters, digits and
/// hyphens, not starting or ending with a hyphen, at most 253 characters in all, the last label
/// not all digits (`127` would be read as an address).
fn is_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let labels: Vec<&str> = host.strip_suffix('.').unwrap_or(host).split('.').collect();
    let good_label = |label: &&str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    host.len() <= 253
        && labels.iter().all(good_label)
        && labels
            .last()
            .is_some_and(|last| !last.bytes().all(|b| b.is_ascii_digit()))
}

fn check_monitor(monitor: &MonitorSettings, out: &mut Problems) {
    if !(monitor.drift_psi_threshold > 0.0 && monitor.drift_psi_threshold.is_finite()) {
        out.push(
            "monitor.drift_psi_threshold",
            monitor.drift_psi_threshold,
            "must be a finite number above 0",
        );
    }
    out.at_least("monitor.window_minutes", monitor.window_minutes, 1);
    if !(0.0..=1.0).contains(&monitor.sample_rate) {
        out.push(
            "monitor.sample_rate",
            monitor.sample_rate,
            "must be in [0, 1]",
        );
    }
    out.within(
        "monitor.batch_interval_ms",
        monitor.batch_interval_ms,
        1,
        60_000,
    );
    out.within(
        "monitor.channel_capacity",
        monitor.channel_capacity,
        1,
        1 << 24,
    );
    // Checked here so that ages in milliseconds fit an i64 in SQLite.
    out.within("monitor.retention_days", monitor.retention_days, 1, 36_500);
    out.within(
        "monitor.retention_max_rows",
        monitor.retention_max_rows,
        1,
        i64::MAX as u64,
    );
    if monitor.enabled && monitor.database_path.as_os_str().is_empty() {
        out.push(
            "monitor.database_path",
            "\"\"",
            "must name a file when monitor.enabled",
        );
    }
    check_drift(&monitor.drift, out);
    check_estimate(&monitor.estimate, out);
    check_alerts(&monitor.alerts, out);
}

impl DriftSettings {
    /// Validates `[monitor.drift]` alone, with the same rules as [`Settings::check`], for drift
    /// parameters built from settings that did not come through it (finbeh-monitor's
    /// `DriftParams::check`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem (keys are `monitor.drift.<setting>`).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_section(self, check_drift)
    }
}

fn check_drift(drift: &DriftSettings, out: &mut Problems) {
    let open_unit = |value: f64| value > 0.0 && value < 1.0;
    let half_open_unit = |value: f64| value > 0.0 && value <= 1.0;
    let positive = |value: f64| value > 0.0 && value.is_finite();
    for (key, value, ok, expected) in [
        (
            "monitor.drift.ks_p_value",
            drift.ks_p_value,
            open_unit(drift.ks_p_value),
            "must be in (0, 1)",
        ),
        (
            "monitor.drift.chi2_p_value",
            drift.chi2_p_value,
            open_unit(drift.chi2_p_value),
            "must be in (0, 1)",
        ),
        (
            "monitor.drift.wasserstein_norm",
            drift.wasserstein_norm,
            positive(drift.wasserstein_norm),
            "must be a finite number above 0",
        ),
        (
            "monitor.drift.jensen_shannon",
            drift.jensen_shannon,
            half_open_unit(drift.jensen_shannon),
            "must be in (0, 1]",
        ),
        (
            "monitor.drift.dataset_drift_share",
            drift.dataset_drift_share,
            half_open_unit(drift.dataset_drift_share),
            "must be in (0, 1]",
        ),
    ] {
        if !ok {
            out.push(key, value, expected);
        }
    }
    out.at_least(
        "monitor.drift.p_value_max_reference_rows",
        drift.p_value_max_reference_rows,
        1,
    );
    for (column, &threshold) in &drift.column_thresholds {
        if !positive(threshold) {
            out.push(
                format!("monitor.drift.column_thresholds.{column}"),
                threshold,
                "must be a finite number above 0 (a p-value threshold must also be below 1)",
            );
        }
    }
}

fn check_deploy(deploy: &DeploySettings, out: &mut Problems) {
    let local = &deploy.local;
    for (key, port) in [
        ("deploy.local.blue_port", local.blue_port),
        ("deploy.local.green_port", local.green_port),
    ] {
        if port == 0 {
            out.push(key, 0, PORT_EXPECTATION);
        }
    }
    if local.blue_port == local.green_port {
        out.push(
            "deploy.local.green_port",
            local.green_port,
            "must differ from deploy.local.blue_port",
        );
    }
    out.at_least("deploy.local.health_timeout_ms", local.health_timeout_ms, 1);
    check_local_endpoint(local, out);
    check_rollout(&deploy.rollout, out);

    check_azure(&deploy.azure, deploy.target == DeployTarget::Azure, out);
}

/// `[deploy.azure]`; the subscription, workspace, image and credential keys are required only
/// when Azure is the target.
fn check_azure(azure: &AzureDeploySettings, target_is_azure: bool, out: &mut Problems) {
    out.at_least("deploy.azure.instance_count", azure.instance_count, 1);
    for (key, value) in [
        ("deploy.azure.region", &azure.region),
        ("deploy.azure.endpoint_name", &azure.endpoint_name),
        ("deploy.azure.deployment_name", &azure.deployment_name),
        ("deploy.azure.instance_type", &azure.instance_type),
        ("deploy.azure.api_version", &azure.api_version),
    ] {
        out.non_empty(key, value);
    }
    let url = azure.arm_base_url.as_str();
    if !is_http_url(url) {
        out.push(
            "deploy.azure.arm_base_url",
            quoted(url),
            "must be an http:// or https:// URL",
        );
    }
    check_azure_runtime(azure, out);
    if target_is_azure {
        if azure.credential == CredentialKind::AccessToken {
            let token = azure.access_token.as_ref().map(|s| s.expose());
            if token.is_none_or(|t| t.trim().is_empty()) {
                let shown = if token.is_some() {
                    REDACTED
                } else {
                    "(not set)"
                };
                out.push(
                    "deploy.azure.access_token",
                    shown,
                    "is required when deploy.azure.credential = \"access_token\" (or FINBEH__DEPLOY__AZURE__ACCESS_TOKEN)",
                );
            }
        }
        for (key, value) in [
            ("deploy.azure.subscription_id", &azure.subscription_id),
            ("deploy.azure.resource_group", &azure.resource_group),
            ("deploy.azure.workspace_name", &azure.workspace_name),
        ] {
            require(
                out,
                key,
                value.as_deref(),
                "is required when deploy.target = \"azure\"",
            );
        }
        require(
            out,
            "deploy.azure.image",
            azure.image.as_deref(),
            "is required when deploy.target = \"azure\" (the finbeh-serve image, see docs/deploy-azure.md)",
        );
        if azure.credential == CredentialKind::ClientSecret {
            let why = "is required when deploy.azure.credential = \"client_secret\"";
            require(
                out,
                "deploy.azure.tenant_id",
                azure.tenant_id.as_deref(),
                why,
            );
            require(
                out,
                "deploy.azure.client_id",
                azure.client_id.as_deref(),
                why,
            );
            let secret = azure.client_secret.as_ref().map(|s| s.expose());
            if secret.is_none_or(|s| s.trim().is_empty()) {
                let shown = if secret.is_some() {
                    REDACTED
                } else {
                    "(not set)"
                };
                out.push("deploy.azure.client_secret", shown, why);
            }
        }
    }
}

/// `[deploy.azure]`'s client settings and `[deploy.azure.deployment]`.
fn check_azure_runtime(azure: &AzureDeploySettings, out: &mut Problems) {
    out.non_empty("deploy.azure.datastore", &azure.datastore);
    if let Some(url) = &azure.blob_url
        && !is_http_url(url)
    {
        out.push(
            "deploy.azure.blob_url",
            quoted(url),
            "must be an http:// or https:// URL",
        );
    }
    out.at_least("deploy.azure.poll_interval_ms", azure.poll_interval_ms, 1);
    out.at_least(
        "deploy.azure.operation_timeout_s",
        azure.operation_timeout_s,
        1,
    );
    out.within("deploy.azure.max_retries", azure.max_retries, 0, 20);
    let run = &azure.deployment;
    out.non_empty(
        "deploy.azure.deployment.environment_name",
        &run.environment_name,
    );
    out.at_least(
        "deploy.azure.deployment.max_concurrent_requests_per_instance",
        run.max_concurrent_requests_per_instance,
        1,
    );
    out.within(
        "deploy.azure.deployment.request_timeout_ms",
        run.request_timeout_ms,
        1,
        180_000,
    );
    for (key, value) in [
        (
            "deploy.azure.deployment.probe_initial_delay_s",
            run.probe_initial_delay_s,
        ),
        ("deploy.azure.deployment.probe_period_s", run.probe_period_s),
        (
            "deploy.azure.deployment.probe_timeout_s",
            run.probe_timeout_s,
        ),
    ] {
        out.at_least(key, value, 1);
    }
    out.at_least(
        "deploy.azure.deployment.probe_failure_threshold",
        run.probe_failure_threshold,
        1,
    );
}

fn is_http_url(url: &str) -> bool {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace))
}

fn require(out: &mut Problems, key: &str, value: Option<&str>, why: &str) {
    match value {
        None => out.push(key, "(not set)", why),
        Some(text) if text.trim().is_empty() => out.push(key, quoted(text), why),
        Some(_) => {}
    }
}

fn check_logging(logging: &LoggingSettings, out: &mut Problems) {
    if !is_log_filter(&logging.level) {
        out.push(
            "logging.level",
            quoted(&logging.level),
            "must be a level (off, error, warn, info, debug, trace) or comma-separated \
             directives such as \"info,finbeh_serve=debug\"",
        );
    }
}

/// A tracing filter made of levels and `target=level` directives. Stricter than `EnvFilter`,
/// which reads a bare word such as `verbose` as a target name: that is almost always a typo.
fn is_log_filter(filter: &str) -> bool {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |word: &str| LEVELS.contains(&word.trim().to_ascii_lowercase().as_str());
    !filter.trim().is_empty()
        && filter
            .split(',')
            .all(|directive| match directive.rsplit_once('=') {
                None => is_level(directive),
                Some((target, level)) => !target.trim().is_empty() && is_level(level),
            })
        && tracing_subscriber::EnvFilter::try_new(filter).is_ok()
}

fn check_testing(testing: &TestingSettings, out: &mut Problems) {
    out.at_least("testing.smoke_rows", testing.smoke_rows, 1);
    out.at_least("testing.load_test_requests", testing.load_test_requests, 1);
    out.at_least(
        "testing.load_test_concurrency",
        testing.load_test_concurrency,
        1,
    );
    check_deployment_checks(&testing.deployments, out);
}

impl DeploymentChecksSettings {
    /// Validates `[testing.deployments]` alone, with the same rules as [`Settings::check`]
    /// (finbeh-workflow's `DeploymentCheckParams::check`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem (keys are `testing.deployments.<setting>`).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_section(self, check_deployment_checks)
    }
}

fn check_deployment_checks(checks: &DeploymentChecksSettings, out: &mut Problems) {
    let key = |name: &str| format!("testing.deployments.{name}");
    out.within(
        &key("latency_requests"),
        checks.latency_requests,
        1,
        100_000,
    );
    out.within(&key("max_p99_ms"), checks.max_p99_ms, 1, 600_000);
    out.within(
        &key("request_timeout_ms"),
        checks.request_timeout_ms,
        1,
        600_000,
    );
}

impl EstimateSettings {
    /// Validates `[monitor.estimate]` alone, with the same rules as [`Settings::check`]
    /// (finbeh-monitor's `EstimateParams::check`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem (keys are `monitor.estimate.<setting>`).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_section(self, check_estimate)
    }
}

fn check_estimate(estimate: &EstimateSettings, out: &mut Problems) {
    out.within(
        "monitor.estimate.chunk_rows",
        estimate.chunk_rows,
        0,
        MAX_ESTIMATE_CHUNK_ROWS,
    );
    if !(estimate.band_sigmas > 0.0 && estimate.band_sigmas <= 10.0) {
        out.push(
            "monitor.estimate.band_sigmas",
            estimate.band_sigmas,
            "must be in (0, 10]",
        );
    }
}
fn check_alerts(alerts: &AlertSettings, out: &mut Problems) {
    out.within(
        "monitor.alerts.evaluation_interval_s",
        alerts.evaluation_interval_s,
        0,
        86_400,
    );
    if alerts.state_path.as_os_str().is_empty() {
        out.push("monitor.alerts.state_path", "\"\"", "must name a file");
    }
    if let Some(url) = &alerts.webhook_url
        && !url.starts_with("http://")
    {
        out.push(
            "monitor.alerts.webhook_url",
            quoted(url),
            "must be an http:// URL (for https, point it at a TLS-terminating proxy)",
        );
    }
    out.non_empty("monitor.alerts.webhook_receiver", &alerts.webhook_receiver);
    out.within(
        "monitor.alerts.webhook_max_attempts",
        alerts.webhook_max_attempts,
        1,
        100,
    );
    out.within(
        "monitor.alerts.webhook_initial_backoff_ms",
        alerts.webhook_initial_backoff_ms,
        1,
        3_600_000,
    );
    out.within(
        "monitor.alerts.webhook_max_backoff_ms",
        alerts.webhook_max_backoff_ms,
        alerts.webhook_initial_backoff_ms.max(1),
        3_600_000,
    );
    out.within(
        "monitor.alerts.webhook_timeout_ms",
        alerts.webhook_timeout_ms,
        1,
        600_000,
    );
    out.within(
        "monitor.alerts.webhook_queue_capacity",
        alerts.webhook_queue_capacity,
        1,
        1_000_000,
    );
    let mut names = std::collections::BTreeSet::new();
    for (i, rule) in alerts.rules.iter().enumerate() {
        let key = |field: &str| format!("monitor.alerts.rules[{i}].{field}");
        if !is_prometheus_name(&rule.name) {
            out.push(
                key("name"),
                quoted(&rule.name),
                "must be a Prometheus alert name: letters, digits, _ and :, not starting with a digit",
            );
        } else if !names.insert(rule.name.as_str()) {
            out.push(
                key("name"),
                quoted(&rule.name),
                "must be unique among the rules",
            );
        }
        let is_rate = matches!(
            rule.metric,
            AlertMetric::ErrorRate
                | AlertMetric::ServerErrorRate
                | AlertMetric::PositiveRate
                | AlertMetric::MeanProbability
        );
        if !rule.threshold.is_finite() {
            out.push(key("threshold"), rule.threshold, "must be a finite number");
        } else if is_rate && !(0.0..=1.0).contains(&rule.threshold) {
            out.push(
                key("threshold"),
                rule.threshold,
                "must be in [0, 1] for a rate",
            );
        } else if rule.threshold < 0.0 {
            out.push(key("threshold"), rule.threshold, "must be at least 0");
        }
        out.within(&key("for_minutes"), rule.for_minutes, 0, 10_080);
        out.within(&key("cooldown_minutes"), rule.cooldown_minutes, 0, 10_080);
    }
}

/// Prometheus's metric-name rule, which it also applies to alert names.
fn is_prometheus_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
fn check_local_endpoint(local: &LocalDeploySettings, out: &mut Problems) {
    out.non_empty("deploy.local.endpoint_name", &local.endpoint_name);
    if local.port == 0 {
        out.push("deploy.local.port", 0, PORT_EXPECTATION);
    } else if local.port == local.blue_port || local.port == local.green_port {
        out.push(
            "deploy.local.port",
            local.port,
            "must differ from deploy.local.blue_port and deploy.local.green_port",
        );
    }
}

fn check_rollout(rollout: &RolloutSettings, out: &mut Problems) {
    let steps = &rollout.steps;
    let increasing = steps.windows(2).all(|pair| pair[0] < pair[1]);
    if steps.last() != Some(&100) || !increasing || steps.first() == Some(&0) {
        out.push(
            "deploy.rollout.steps",
            format!("{steps:?}"),
            "must be increasing percentages from 1 to 100, ending at 100, such as [10, 50, 100]",
        );
    }
    if !(rollout.soak_seconds.is_finite() && (0.0..=86_400.0).contains(&rollout.soak_seconds)) {
        out.push(
            "deploy.rollout.soak_seconds",
            rollout.soak_seconds,
            "must be 0..=86400 seconds",
        );
    }
    if !(rollout.max_error_rate.is_finite() && (0.0..=1.0).contains(&rollout.max_error_rate)) {
        out.push(
            "deploy.rollout.max_error_rate",
            rollout.max_error_rate,
            "must be a share 0..=1 (0.01 = 1 %)",
        );
    }
    if !(rollout.max_p99_ms.is_finite() && rollout.max_p99_ms > 0.0) {
        out.push(
            "deploy.rollout.max_p99_ms",
            rollout.max_p99_ms,
            "must be a number of milliseconds above 0",
        );
    }
}

/// Most held-out records one traffic stage sends.
const MAX_WORKFLOW_TRAFFIC_RECORDS: usize = 1_000_000;

impl WorkflowSettings {
    /// Validates `[workflow]` alone, with the same rules as [`Settings::check`]
    /// (finbeh-workflow's `WorkflowParams::check`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem (keys are `workflow.<setting>`).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_section(self, check_workflow)
    }
}

fn check_workflow(workflow: &WorkflowSettings, out: &mut Problems) {
    if workflow.output_dir.as_os_str().is_empty() {
        out.push("workflow.output_dir", "\"\"", "must name a directory");
    }
    let soak = workflow.rollout_soak_seconds;
    if !(soak.is_finite() && (0.0..=86_400.0).contains(&soak)) {
        out.push(
            "workflow.rollout_soak_seconds",
            soak,
            "must be between 0 and 86400 seconds",
        );
    }
    out.within(
        "workflow.traffic_records",
        workflow.traffic_records,
        1,
        MAX_WORKFLOW_TRAFFIC_RECORDS,
    );
    out.within(
        "workflow.traffic_rows_per_request",
        workflow.traffic_rows_per_request,
        1,
        10_000,
    );
    out.within(
        "workflow.traffic_concurrency",
        workflow.traffic_concurrency,
        1,
        256,
    );
}
