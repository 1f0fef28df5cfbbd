//! `[deploy.azure]` as the Azure target's parameters: `AzureParams` → `check()` →
//! `AzureValidParams`.

use std::net::IpAddr;
use std::ops::Deref;
use std::time::Duration;

use azure_core::http::Url;
use finbeh_config::AzureDeploySettings;

use crate::error::{DeployError, Result};

/// `[deploy.azure]` before validation (a newtype over finbeh-config's section).
#[derive(Debug, Clone)]
pub struct AzureParams(AzureDeploySettings);

impl AzureParams {
    /// Wraps the section.
    pub fn new(settings: AzureDeploySettings) -> Self {
        Self(settings)
    }

    /// Runs `[deploy.azure]`'s rules as the target (finbeh-config's
    /// `AzureDeploySettings::check`), then what only this crate knows: the URLs parse, and
    /// plain http is only for loopback hosts.
    ///
    /// # Errors
    /// [`DeployError::Settings`] listing every invalid key (an http URL to a remote host too).
    pub fn check(self) -> Result<AzureValidParams> {
        self.0.check()?;
        let arm_base = parse_url("deploy.azure.arm_base_url", &self.0.arm_base_url)?;
        let blob_override = match &self.0.blob_url {
            Some(url) => Some(parse_url("deploy.azure.blob_url", url)?),
            None => None,
        };
        // `check` made these required; an empty value cannot reach here.
        let field = |value: &Option<String>| value.clone().unwrap_or_default();
        let workspace_path = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}",
            field(&self.0.subscription_id),
            field(&self.0.resource_group),
            field(&self.0.workspace_name),
        );
        Ok(AzureValidParams {
            settings: self.0,
            arm_base,
            blob_override,
            workspace_path,
        })
    }
}

/// Validated `[deploy.azure]`: what [`crate::AzureTarget`] and [`crate::AzureRegistry`] take.
///
/// ```
/// use finbeh_config::AzureDeploySettings;
/// use finbeh_deploy::AzureParams;
///
/// let mut settings = AzureDeploySettings::default();
/// settings.subscription_id = Some("00000000-0000-0000-0000-000000000000".to_owned());
/// settings.resource_group = Some("rg-finbeh".to_owned());
/// settings.workspace_name = Some("mlw-finbeh".to_owned());
/// settings.image = Some("myregistry.azurecr.io/finbeh-serve:0.1.0".to_owned());
/// let params = AzureParams::new(settings.clone()).check()?;
/// assert_eq!(params.api_version(), "2025-12-01");
/// assert!(params.workspace_path().ends_with("/workspaces/mlw-finbeh"));
/// // A bearer token never goes over plain http to a remote host.
/// settings.arm_base_url = "http://management.azure.com".to_owned();
/// assert!(AzureParams::new(settings).check().is_err());
/// # Ok::<(), finbeh_deploy::DeployError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AzureValidParams {
    settings: AzureDeploySettings,
    arm_base: Url,
    blob_override: Option<Url>,
    workspace_path: String,
}

impl Deref for AzureValidParams {
    type Target = AzureDeploySettings;

    fn deref(&self) -> &AzureDeploySettings {
        &self.settings
    }
}

impl AzureValidParams {
    /// The REST api-version sent with every ARM request.
    pub fn api_version(&self) -> &str {
        &self.settings.api_version
    }

    /// `/subscriptions/…/resourceGroups/…/providers/Microsoft.MachineLearningServices/workspaces/…`.
    pub fn workspace_path(&self) -> &str {
        &self.workspace_path
    }

    /// The ARM base URL.
    pub fn arm_base(&self) -> &Url {
        &self.arm_base
    }

    /// `deploy.azure.blob_url`, parsed.
    pub fn blob_override(&self) -> Option<&Url> {
        self.blob_override.as_ref()
    }

    /// The subscription id.
    pub fn subscription_id(&self) -> &str {
        self.settings.subscription_id.as_deref().unwrap_or_default()
    }

    /// The resource group.
    pub fn resource_group(&self) -> &str {
        self.settings.resource_group.as_deref().unwrap_or_default()
    }

    /// The workspace.
    pub fn workspace_name(&self) -> &str {
        self.settings.workspace_name.as_deref().unwrap_or_default()
    }

    /// Poll interval of a long-running operation without `Retry-After`.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.settings.poll_interval_ms)
    }

    /// How long one long-running operation may take.
    pub fn operation_timeout(&self) -> Duration {
        Duration::from_secs(self.settings.operation_timeout_s)
    }
}

/// Parses an http(s) URL; plain http only for a loopback host.
pub(crate) fn parse_url(setting: &str, text: &str) -> Result<Url> {
    let url =
        Url::parse(text).map_err(|e| invalid(setting, text, format!("must be a URL ({e})")))?;
    check_transport(setting, &url)?;
    Ok(url)
}

/// https anywhere; http only to a loopback host (tests, local emulators).
pub(crate) fn check_transport(setting: &str, url: &Url) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => Err(invalid(
            setting,
            url.as_str(),
            "must be https://; plain http:// is allowed only for a loopback address \
             (127.0.0.0/8, ::1, localhost): a bearer token is never sent in clear to another host",
        )),
    }
}

/// One invalid value, as finbeh-config reports it (`key = value: expectation`).
pub(crate) fn invalid(key: &str, value: &str, expected: impl Into<String>) -> DeployError {
    DeployError::Settings(finbeh_config::ConfigError::Invalid(vec![
        finbeh_config::Problem {
            key: key.to_owned(),
            value: format!("{value:?}"),
            expected: expected.into(),
        },
    ]))
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_for_loopback() {
        for ok in [
            "https://management.azure.com",
            "http://127.0.0.1:8080",
            "http://127.5.0.1",
            "http://[::1]:9000/x",
            "http://localhost:1",
        ] {
            assert!(parse_url("k", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://management.azure.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
        ] {
            let err = parse_url("deploy.azure.arm_base_url", bad).unwrap_err();
            assert!(
                err.to_string().contains("deploy.azure.arm_base_url")
                    && err.to_string().contains("loopback"),
                "{err}"
            );
        }
    }
}
