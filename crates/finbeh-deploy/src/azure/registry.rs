//! The Azure ML workspace model registry: model containers and versions over ARM, the artifact
//! uploaded to the workspace's datastore first.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use finbeh_train::ModelArtifact;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::arm::Arm;
use super::blob::{Datastore, upload};
use super::credential::credential;
use super::params::AzureValidParams;
use super::wire::{model_path, model_version_path};
use crate::error::{DeployError, Result};
use crate::local_registry::{MAX_ARTIFACT_BYTES, artifact_metrics, hex, read_bounded};
use crate::registry::{ModelRegistry, RegisteredModel, Tags};

/// The workspace's model registry (`az ml model create/show/list/archive`).
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
    /// [`DeployError::Settings`] when the credential cannot be created.
    pub fn new(params: AzureValidParams) -> Result<Self> {
        let credential = credential(&params)?;
        let arm = Arm::new(Arc::new(params), credential.clone());
        Ok(Self { arm, credential })
    }

    /// The ARM id of a model version: what a deployment's `model` takes.
    pub fn model_id(&self, name: &str, version: &str) -> String {
        format!(
            "{}/{}",
            self.arm.params().workspace_path(),
            model_version_path(name, version)
        )
    }

    async fn versions(&self, name: &str) -> Result<Vec<RegisteredModel>> {
        let found = self
            .arm
            .get(&format!("{}/versions", model_path(name)))
            .await?
            .unwrap_or(Value::Null);
        let mut out: Vec<RegisteredModel> = items(&found)
            .iter()
            .filter_map(|item| {
                let version = item.get("name").and_then(Value::as_str)?;
                Some(model_from(name, version, item))
            })
            .collect();
        out.sort_by_key(|m| m.version.parse::<u64>().unwrap_or(0));
        Ok(out)
    }

    async fn register_now(&self, path: &Path, extra_tags: &Tags) -> Result<RegisteredModel> {
        let bytes = read_bounded(path, MAX_ARTIFACT_BYTES)?;
        // A model that does not load (or no longer reproduces its golden set) is not registered.
        let artifact = ModelArtifact::from_bytes(&bytes)?;
        let meta = artifact.metadata();
        let name = meta.model_name.clone();
        let sha256 = hex(&Sha256::digest(&bytes));
        let last = self
            .versions(&name)
            .await?
            .iter()
            .filter_map(|m| m.version.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let version = last
            .checked_add(1)
            .ok_or_else(|| DeployError::Refused("no version number left".to_owned()))?
            .to_string();

        let params = self.arm.params();
        let datastore = Datastore::read(&self.arm, &params.datastore).await?;
        let blob = format!(
            "finbeh/{name}/{version}/{}/{}",
            &sha256[..16],
            file_name(path)
        );
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
        tags.insert("artifact_version".to_owned(), meta.model_version.clone());
        tags.insert("format_version".to_owned(), meta.format_version.clone());
        let metrics = artifact_metrics(&artifact);
        let properties: BTreeMap<String, String> = metrics
            .iter()
            .map(|(k, v)| (format!("metric.{k}"), v.to_string()))
            .chain([(
                "created".to_owned(),
                finbeh_train::rfc3339_utc(std::time::SystemTime::now()),
            )])
            .collect();
        let container = json!({"properties": {"description": format!("finbeh model {name}")}});
        self.arm.put(&model_path(&name), &container).await?;
        let body = json!({
            "properties": {
                "modelType": "custom_model",
                "modelUri": uri,
                "description": format!("{name} version {version}, sha256 {sha256}"),
                "tags": tags,
                "properties": properties,
                "isArchived": false,
            }
        });
        let written = self
            .arm
            .put(&model_version_path(&name, &version), &body)
            .await?;
        Ok(model_from(&name, &version, &written))
    }
}

impl ModelRegistry for AzureRegistry {
    async fn register(&self, artifact: &Path, tags: &Tags) -> Result<RegisteredModel> {
        self.register_now(artifact, tags).await
    }

    async fn get(&self, name: &str, version: &str) -> Result<RegisteredModel> {
        match self.arm.get(&model_version_path(name, version)).await? {
            Some(found) => Ok(model_from(name, version, &found)),
            None => Err(not_found(name, Some(version))),
        }
    }

    async fn list(&self, name: Option<&str>) -> Result<Vec<RegisteredModel>> {
        if let Some(name) = name {
            return self.versions(name).await;
        }
        let containers = self.arm.get("models").await?.unwrap_or(Value::Null);
        let mut out = Vec::new();
        for item in items(&containers) {
            if let Some(name) = item.get("name").and_then(Value::as_str) {
                out.extend(self.versions(name).await?);
            }
        }
        Ok(out)
    }

    async fn latest(&self, name: &str) -> Result<RegisteredModel> {
        self.versions(name)
            .await?
            .into_iter()
            .rev()
            .find(|m| !m.archived)
            .ok_or_else(|| not_found(name, None))
    }

    async fn archive(&self, name: &str, version: &str) -> Result<RegisteredModel> {
        let path = model_version_path(name, version);
        let found = self
            .arm
            .get(&path)
            .await?
            .ok_or_else(|| not_found(name, Some(version)))?;
        let mut properties = found.get("properties").cloned().unwrap_or(Value::Null);
        if let Some(props) = properties.as_object_mut() {
            props.insert("isArchived".to_owned(), Value::Bool(true));
            props.remove("provisioningState");
        }
        let written = self
            .arm
            .put(&path, &json!({"properties": properties}))
            .await?;
        Ok(model_from(name, version, &written))
    }
}

fn not_found(name: &str, version: Option<&str>) -> DeployError {
    DeployError::ModelNotFound {
        name: name.to_owned(),
        version: version.map(str::to_owned),
    }
}

/// An ARM list's `value`.
fn items(list: &Value) -> &[Value] {
    list.get("value")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A model version resource as a [`RegisteredModel`].
fn model_from(name: &str, version: &str, resource: &Value) -> RegisteredModel {
    let props = resource.get("properties").cloned().unwrap_or(Value::Null);
    let strings = |field: &str| -> BTreeMap<String, String> {
        props
            .get(field)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let tags = strings("tags");
    let properties = strings("properties");
    let metrics = properties
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("metric.")?.to_owned(), v.parse().ok()?)))
        .collect();
    RegisteredModel {
        name: name.to_owned(),
        version: version.to_owned(),
        sha256: tags.get("sha256").cloned().unwrap_or_default(),
        metrics,
        created: properties.get("created").cloned().unwrap_or_default(),
        archived: props
            .get("isArchived")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        uri: props
            .get("modelUri")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        tags,
    }
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
