//! The model registry contract, shared by the local registry and Azure ML's.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A model version as the registry stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    /// Model name (the artifact's `model_name`).
    pub name: String,
    /// Version, auto-incremented per name by the registry (`"1"`, `"2"`, ...).
    pub version: String,
    /// SHA-256 of the artifact file, 64 lowercase hex digits.
    pub sha256: String,
    /// The artifact's evaluation metrics (`roc_auc`, `accuracy`, `log_loss`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// Caller's tags, plus the artifact's own (`artifact_version`, `format_version`).
    pub tags: BTreeMap<String, String>,
    /// When it was registered, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// Archived versions stay readable but are skipped by `latest`.
    pub archived: bool,
    /// Where the artifact lives: a file path (local) or an `azureml://` asset id (Azure).
    pub uri: String,
}

impl RegisteredModel {
    /// The `{name, version}` reference deployments carry.
    pub fn reference(&self) -> ModelRef {
        ModelRef {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }
}

/// A model named by name and version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ModelRef {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
}

/// Tags given at registration.
pub type Tags = BTreeMap<String, String>;

/// A model registry: versioned artifacts with their SHA-256, metrics and tags.
///
/// Implemented by [`LocalRegistry`](crate::LocalRegistry) and by the Azure ML workspace registry.
pub trait ModelRegistry {
    /// Registers the artifact at `artifact` (verified first) under its model name with the next
    /// free version. Two concurrent calls never get the same version.
    fn register(
        &self,
        artifact: &Path,
        tags: &Tags,
    ) -> impl Future<Output = Result<RegisteredModel>> + Send;

    /// One version of a model.
    fn get(
        &self,
        name: &str,
        version: &str,
    ) -> impl Future<Output = Result<RegisteredModel>> + Send;

    /// Every version of a model (all models when `name` is `None`), oldest first.
    fn list(&self, name: Option<&str>)
    -> impl Future<Output = Result<Vec<RegisteredModel>>> + Send;

    /// The newest version of a model that is not archived.
    fn latest(&self, name: &str) -> impl Future<Output = Result<RegisteredModel>> + Send;

    /// Marks a version archived (it stays readable; `latest` skips it).
    fn archive(
        &self,
        name: &str,
        version: &str,
    ) -> impl Future<Output = Result<RegisteredModel>> + Send;
}
