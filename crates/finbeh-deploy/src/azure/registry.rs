//! The Azure ML workspace model registry: model containers and versions over ARM, the artifact
//! uploaded to the workspace's default datastore.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use finbeh_train::ModelArtifact;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::arm::Arm;
use super::blob::{Datastore, upload};
use super::credential::credential;
use super::params::AzureValidParams;
use super::wire::{model_path, model_version_path};
use crate::error::{DeployError, Result};

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisteredModel {
    /// Model name (the artifact's).
    pub name: String,
    /// Version (1, 2, …).
    pub version: String,
    /// ARM id of the version, what a deployment's `model` takes.
    pub id: String,
    /// `azureml://…/datastores/{ds}/paths/{path}`.
    pub uri: String,
    /// SHA-256 of the artifact file, hex.
    pub sha256: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Whether the version is archived.
    pub archived: bool,
}

/// The workspace's model registry.
#[derive(Debug, Clone)]
pub struct AzureRegistry {
    arm: Arm,
    credential: Arc<dyn TokenCredential>,
}

impl AzureRegistry {
    /// A registry for the validated settings, with the credential `deploy.azure.credential`
    /// names.
    ///
    /// # Errors
    /// [`DeployError::Credential`].
    pub fn new(params: AzureValidParams) -> Result<Self> {
        let credential = credential(&params)?;
        let arm = Arm::new(Arc::new(params), credential.clone());
        Ok(Self { arm, credential })
    }

    /// Registers the artifact at `path` under its model name with the next version: verifies it,
    /// uploads it to `deploy.azure.datastore`, then writes the model container and version
    /// (`custom_model`, tags with its SHA-256, properties with its metrics).
    ///
    /// # Errors
    /// [`DeployError::Train`] for an artifact that does not load, [`DeployError::Io`], Azure's
    /// error, or the upload's.
    pub async fn register(
        &self,
        path: &Path,
        extra_tags: &BTreeMap<String, String>,
    ) -> Result<RegisteredModel> {
        let bytes = std::fs::read(path).map_err(|source| DeployError::Io {
            path: path.to_owned(),
            source,
        })?;
        // A model that does not load (or no longer reproduces its golden set) is not registered.
        let artifact = ModelArtifact::from_bytes(&bytes)?;
        let meta = artifact.metadata();
        let name = meta.model_name.clone();
        let sha256 = hex(&Sha256::digest(&bytes));
        let next = self
            .latest_number(&name)
            .await?
            .map_or(1, |n| n.saturating_add(1));
        let version = next.to_string();

        let params = self.arm.params();
        let datastore = Datastore::read(&self.arm, &params.datastore).await?;
        let file = file_name(path);
        let blob = format!("finbeh/{name}/{version}/{}/{file}", &sha256[..16]);
        upload(&self.arm, &self.credential, &datastore, &blob, &bytes).await?;
        let uri = format!(
            "azureml://subscriptions/{}/resourcegroups/{}/workspaces/{}/datastores/{}/paths/{blob}",
            params.subscription_id(),
            params.resource_group(),
            params.workspace_name(),
            datastore.name,
        );

        let mut tags = extra_tags.clone();
        tags.insert("sha256".to_owned(), sha256.clone());
        tags.insert("format_version".to_owned(), meta.format_version.clone());
        tags.insert(
            "finbeh_model_version".to_owned(),
            meta.model_version.clone(),
        );
        let mut properties = BTreeMap::new();
        if let Some(evaluation) = &meta.evaluation
            && let Ok(Value::Object(metrics)) = serde_json::to_value(evaluation)
        {
            for (key, value) in metrics {
                if let Some(number) = value.as_f64() {
                    properties.insert(key, number.to_string());
                }
            }
        }
        self.arm
            .put(
                &model_path(&name),
                &json!({"properties": {"description": format!("finbeh model {name}")}}),
            )
            .await?;
        let body = json!({
            "properties": {
                "modelType": "custom_model",
                "modelUri": uri,
                "description": format!("{name} {version}, sha256 {sha256}"),
                "tags": tags,
                "properties": properties,
                "isArchived": false,
            }
        });
        let written = self
            .arm
            .put(&model_version_path(&name, &version), &body)
            .await?;
        Ok(self.model_from(&name, &version, &written))
    }

    /// One version, `None` when it does not exist.
    ///
    /// # Errors
    /// Azure's error.
    pub async fn get(&self, name: &str, version: &str) -> Result<Option<RegisteredModel>> {
        let found = self.arm.get(&model_version_path(name, version)).await?;
        Ok(found.map(|v| self.model_from(name, version, &v)))
    }

    /// Every version of `name`, oldest first (none when the model does not exist).
    ///
    /// # Errors
    /// Azure's error.
    pub async fn list(&self, name: &str) -> Result<Vec<RegisteredModel>> {
        let found = self
            .arm
            .get(&format!("{}/versions", model_path(name)))
            .await?
            .unwrap_or(Value::Null);
        let mut out: Vec<RegisteredModel> = found
            .get("value")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        let version = item.get("name").and_then(Value::as_str)?;
                        Some(self.model_from(name, version, item))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|m| m.version.parse::<u64>().unwrap_or(0));
        Ok(out)
    }

    /// The newest version that is not archived.
    ///
    /// # Errors
    /// Azure's error.
    pub async fn latest(&self, name: &str) -> Result<Option<RegisteredModel>> {
        Ok(self
            .list(name)
            .await?
            .into_iter()
            .rev()
            .find(|m| !m.archived))
    }

    /// Archives a version (it stays readable, `latest` skips it).
    ///
    /// # Errors
    /// [`DeployError::Refused`] when it does not exist, Azure's error.
    pub async fn archive(&self, name: &str, version: &str) -> Result<RegisteredModel> {
        let path = model_version_path(name, version);
        let mut found = self.arm.get(&path).await?.ok_or_else(|| {
            DeployError::Refused(format!("model {name} version {version} does not exist"))
        })?;
        if let Some(props) = found.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("isArchived".to_owned(), Value::Bool(true));
            props.remove("provisioningState");
        }
        let body = json!({"properties": found.get("properties").cloned().unwrap_or(Value::Null)});
        let written = self.arm.put(&path, &body).await?;
        Ok(self.model_from(name, version, &written))
    }

    async fn latest_number(&self, name: &str) -> Result<Option<u64>> {
        Ok(self
            .list(name)
            .await?
            .iter()
            .filter_map(|m| m.version.parse::<u64>().ok())
            .max())
    }

    fn model_from(&self, name: &str, version: &str, resource: &Value) -> RegisteredModel {
        let props = resource.get("properties").cloned().unwrap_or(Value::Null);
        let tags: BTreeMap<String, String> = props
            .get("tags")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let path = model_version_path(name, version);
        RegisteredModel {
            name: name.to_owned(),
            version: version.to_owned(),
            id: super::target::resource_id(resource, self.arm.params(), &path),
            uri: props
                .get("modelUri")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            sha256: tags.get("sha256").cloned().unwrap_or_default(),
            archived: props
                .get("isArchived")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            tags,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file name, kept to characters safe in a blob path.
fn file_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.finbeh".to_owned());
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
