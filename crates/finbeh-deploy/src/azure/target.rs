//! `AzureTarget`: online endpoints and deployments, traffic, keys, logs and invoke.

use std::collections::BTreeMap;
use std::sync::Arc;

use azure_core::http::{Method, Request, Url};
use serde::Serialize;
use serde_json::{Value, json};

use super::arm::{Arm, Sender, provisioning_state};
use super::azure_error::hint_for;
use super::credential::credential;
use super::params::{AzureValidParams, check_transport};
use super::wire::{
    deployment_body, deployment_path, endpoint_body, endpoint_path, environment_body,
    environment_version, percent_map,
};
use crate::error::{DeployError, Result};

/// Lines of the container log a failure report carries.
pub const LOGS_TAIL_LINES: u32 = 100;
/// Mirror traffic Azure accepts, at most, in percent.
const MAX_MIRROR_PERCENT: u32 = 50;
/// The header that pins a request to one deployment.
pub const PIN_HEADER: &str = "azureml-model-deployment";

/// An online endpoint as `deploy status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointStatus {
    /// The endpoint: name, scoring URL, provisioning state.
    pub endpoint: EndpointSummary,
    /// Its deployments.
    pub deployments: Vec<DeploymentStatus>,
    /// Live traffic, deployment → percent.
    pub traffic: BTreeMap<String, u32>,
    /// Mirror traffic, deployment → percent.
    pub mirror_traffic: BTreeMap<String, u32>,
}

/// The endpoint part of [`EndpointStatus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointSummary {
    /// Endpoint name.
    pub name: String,
    /// `scoringUri`.
    pub url: String,
    /// `provisioningState`.
    pub state: String,
}

/// One deployment: name, state and model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentStatus {
    /// Deployment name.
    pub name: String,
    /// `provisioningState`.
    pub state: String,
    /// The model it serves.
    pub model: ModelRef,
}

/// A model name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelRef {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// The endpoint's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointKeys {
    /// Primary key.
    pub primary_key: String,
    /// Secondary key.
    pub secondary_key: String,
}

/// Which key to regenerate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The primary key.
    Primary,
    /// The secondary key.
    Secondary,
}

/// An answer of the scoring endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeAnswer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

/// The Azure ML managed online endpoint named in `deploy.azure.endpoint_name`.
#[derive(Debug, Clone)]
pub struct AzureTarget {
    arm: Arm,
    scoring: Sender,
    endpoint: String,
}

impl AzureTarget {
    /// A target for the validated settings, with the credential `deploy.azure.credential` names.
    ///
    /// # Errors
    /// [`DeployError::Credential`] when the credential cannot be created.
    pub fn new(params: AzureValidParams) -> Result<Self> {
        let credential = credential(&params)?;
        let endpoint = params.endpoint_name.clone();
        let arm = Arm::new(Arc::new(params), credential);
        // Scoring requests are not retried: a retried POST /score would be scored twice.
        Ok(Self {
            arm,
            scoring: Sender::new(0, Vec::new()),
            endpoint,
        })
    }

    /// The endpoint's name.
    pub fn endpoint_name(&self) -> &str {
        &self.endpoint
    }

    fn params(&self) -> &AzureValidParams {
        self.arm.params()
    }

    /// Creates or updates the environment version that runs `deploy.azure.image`; its ARM id.
    ///
    /// # Errors
    /// Azure's error, or [`DeployError::Refused`] without `deploy.azure.image`.
    pub async fn ensure_environment(&self) -> Result<String> {
        let image = self.params().image.clone().ok_or_else(|| {
            DeployError::Refused("deploy.azure.image is not set: which finbeh-serve image?".into())
        })?;
        let name = &self.params().deployment.environment_name;
        let path = format!(
            "environments/{name}/versions/{}",
            environment_version(&image)
        );
        let resource = self.arm.put(&path, &environment_body(&image)).await?;
        Ok(resource_id(&resource, self.params(), &path))
    }

    /// The endpoint, `None` when it does not exist.
    ///
    /// # Errors
    /// Azure's error.
    pub async fn get_endpoint(&self) -> Result<Option<Value>> {
        self.arm.get(&endpoint_path(&self.endpoint)).await
    }

    /// Creates the endpoint, or updates it keeping its traffic maps.
    ///
    /// # Errors
    /// Azure's error, or the failed operation.
    pub async fn create_or_update_endpoint(&self) -> Result<Value> {
        let current = self.get_endpoint().await?.unwrap_or(Value::Null);
        let body = endpoint_body(
            self.params(),
            &percent_map(&current, "traffic"),
            &percent_map(&current, "mirrorTraffic"),
        );
        self.arm
            .put_lro(&endpoint_path(&self.endpoint), &body)
            .await
    }

    /// Creates or updates a deployment of `model_id` (an ARM model version id) at whatever
    /// traffic it has (0 % when new). A failed operation comes back with the container log's
    /// last [`LOGS_TAIL_LINES`] lines and a hint.
    ///
    /// # Errors
    /// [`DeployError::OperationFailed`] with the log tail, or Azure's error.
    pub async fn create_or_update_deployment(
        &self,
        deployment: &str,
        model_id: &str,
    ) -> Result<Value> {
        let environment = self.ensure_environment().await?;
        let body = deployment_body(self.params(), model_id, &environment);
        let path = deployment_path(&self.endpoint, deployment);
        match self.arm.put_lro(&path, &body).await {
            Err(DeployError::OperationFailed(mut report)) => {
                // The log is the evidence; a log that cannot be read does not hide the failure.
                let tail = self.logs(deployment, LOGS_TAIL_LINES).await.ok();
                report.hint = hint_for(&report.error, tail.as_deref()).or(report.hint);
                report.logs_tail = tail;
                Err(DeployError::OperationFailed(report))
            }
            other => other,
        }
    }

    /// A deployment, `None` when it does not exist.
    ///
    /// # Errors
    /// Azure's error.
    pub async fn get_deployment(&self, deployment: &str) -> Result<Option<Value>> {
        self.arm
            .get(&deployment_path(&self.endpoint, deployment))
            .await
    }

    /// The last `tail` lines of a deployment's inference-server log (`getLogs`).
    ///
    /// # Errors
    /// Azure's error.
    pub async fn logs(&self, deployment: &str, tail: u32) -> Result<String> {
        let path = format!("{}/getLogs", deployment_path(&self.endpoint, deployment));
        let body = json!({"containerType": "InferenceServer", "tail": tail});
        let answer = self.arm.post(&path, &body).await?;
        Ok(answer
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// Endpoint, deployments, traffic and mirror traffic.
    ///
    /// # Errors
    /// Azure's error; [`DeployError::Refused`] when the endpoint does not exist.
    pub async fn status(&self) -> Result<EndpointStatus> {
        let endpoint = self.require_endpoint().await?;
        let list = self
            .arm
            .get(&format!("{}/deployments", endpoint_path(&self.endpoint)))
            .await?
            .unwrap_or(Value::Null);
        let deployments = list
            .get("value")
            .and_then(Value::as_array)
            .map(|items| items.iter().map(deployment_status).collect())
            .unwrap_or_default();
        Ok(EndpointStatus {
            endpoint: EndpointSummary {
                name: self.endpoint.clone(),
                url: scoring_uri(&endpoint).unwrap_or_default().to_owned(),
                state: provisioning_state(&endpoint).to_owned(),
            },
            deployments,
            traffic: percent_map(&endpoint, "traffic"),
            mirror_traffic: percent_map(&endpoint, "mirrorTraffic"),
        })
    }

    async fn require_endpoint(&self) -> Result<Value> {
        self.get_endpoint().await?.ok_or_else(|| {
            DeployError::Refused(format!(
                "online endpoint {:?} does not exist",
                self.endpoint
            ))
        })
    }

    /// Sets live traffic. Refused before calling Azure unless the percentages total 0 or 100,
    /// and unless every deployment given traffic exists and is `Succeeded`.
    ///
    /// # Errors
    /// [`DeployError::Refused`], or Azure's error.
    pub async fn set_traffic(&self, traffic: &BTreeMap<String, u32>) -> Result<Value> {
        let total: u64 = traffic.values().map(|&p| u64::from(p)).sum();
        if total != 0 && total != 100 {
            return Err(DeployError::Refused(format!(
                "live traffic must total 0 or 100 %, not {total} % ({})",
                show_map(traffic)
            )));
        }
        self.require_ready(traffic).await?;
        let endpoint = self.require_endpoint().await?;
        let mirror = percent_map(&endpoint, "mirrorTraffic");
        if let Some(both) = mirror
            .keys()
            .find(|d| traffic.get(*d).is_some_and(|&p| p > 0))
        {
            return Err(DeployError::Refused(format!(
                "deployment {both:?} receives mirror traffic and cannot also take live traffic"
            )));
        }
        self.put_maps(traffic, &mirror).await
    }

    /// Sets mirror traffic: at most 50 %, to one deployment, which has no live traffic.
    ///
    /// # Errors
    /// [`DeployError::Refused`], or Azure's error.
    pub async fn set_mirror_traffic(&self, mirror: &BTreeMap<String, u32>) -> Result<Value> {
        let mirrored: Vec<_> = mirror.iter().filter(|(_, p)| **p > 0).collect();
        if mirrored.len() > 1 {
            return Err(DeployError::Refused(format!(
                "mirror traffic goes to one deployment only, not {} ({})",
                mirrored.len(),
                show_map(mirror)
            )));
        }
        if let Some(&(name, &percent)) = mirrored.first()
            && percent > MAX_MIRROR_PERCENT
        {
            return Err(DeployError::Refused(format!(
                "mirror traffic to {name:?} is {percent} %: at most {MAX_MIRROR_PERCENT} %"
            )));
        }
        self.require_ready(mirror).await?;
        let endpoint = self.require_endpoint().await?;
        let traffic = percent_map(&endpoint, "traffic");
        if let Some((name, _)) = mirrored.first()
            && traffic.get(*name).is_some_and(|&p| p > 0)
        {
            return Err(DeployError::Refused(format!(
                "deployment {name:?} has live traffic; mirror traffic must go to another one"
            )));
        }
        self.put_maps(&traffic, mirror).await
    }

    async fn put_maps(
        &self,
        traffic: &BTreeMap<String, u32>,
        mirror: &BTreeMap<String, u32>,
    ) -> Result<Value> {
        let body = endpoint_body(self.params(), traffic, mirror);
        self.arm
            .put_lro(&endpoint_path(&self.endpoint), &body)
            .await
    }

    /// Every deployment given a share must exist and be `Succeeded`: traffic never goes to a
    /// deployment that failed or is still being created.
    async fn require_ready(&self, shares: &BTreeMap<String, u32>) -> Result<()> {
        for (name, _) in shares.iter().filter(|(_, p)| **p > 0) {
            let state = match self.get_deployment(name).await? {
                Some(found) => provisioning_state(&found).to_owned(),
                None => {
                    return Err(DeployError::Refused(format!(
                        "deployment {name:?} does not exist on endpoint {:?}",
                        self.endpoint
                    )));
                }
            };
            if state != "Succeeded" {
                return Err(DeployError::Refused(format!(
                    "deployment {name:?} is {state}, not Succeeded: no traffic goes to it"
                )));
            }
        }
        Ok(())
    }

    /// Deletes a deployment; refused while it has live traffic. `false` when it was not there.
    ///
    /// # Errors
    /// [`DeployError::Refused`], or Azure's error.
    pub async fn delete_deployment(&self, deployment: &str) -> Result<bool> {
        if let Some(endpoint) = self.get_endpoint().await? {
            let live = percent_map(&endpoint, "traffic");
            if let Some(&percent) = live.get(deployment).filter(|&&p| p > 0) {
                return Err(DeployError::Refused(format!(
                    "deployment {deployment:?} has {percent} % of live traffic: move it first \
                     (deploy traffic)"
                )));
            }
        }
        self.arm
            .delete_lro(&deployment_path(&self.endpoint, deployment))
            .await
    }

    /// Deletes the endpoint and its deployments. `false` when it was not there.
    ///
    /// # Errors
    /// Azure's error.
    pub async fn delete_endpoint(&self) -> Result<bool> {
        self.arm.delete_lro(&endpoint_path(&self.endpoint)).await
    }

    /// The endpoint's keys (`listKeys`).
    ///
    /// # Errors
    /// Azure's error.
    pub async fn keys(&self) -> Result<EndpointKeys> {
        let path = format!("{}/listKeys", endpoint_path(&self.endpoint));
        let answer = self.arm.post(&path, &json!({})).await?;
        let key = |field: &str| -> Result<String> {
            answer
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| DeployError::Protocol {
                    operation: format!("POST {path}"),
                    problem: format!("no {field:?} in the answer"),
                })
        };
        Ok(EndpointKeys {
            primary_key: key("primaryKey")?,
            secondary_key: key("secondaryKey")?,
        })
    }

    /// Regenerates one key (`regenerateKeys`, a long-running operation); the new keys.
    ///
    /// # Errors
    /// Azure's error.
    pub async fn regenerate_key(&self, kind: KeyKind) -> Result<EndpointKeys> {
        let path = format!("{}/regenerateKeys", endpoint_path(&self.endpoint));
        let key_type = match kind {
            KeyKind::Primary => "Primary",
            KeyKind::Secondary => "Secondary",
        };
        self.arm
            .post_lro(&path, &json!({"keyType": key_type}))
            .await?;
        self.keys().await
    }

    /// An Azure ML token for an endpoint with `auth_mode = "aml_token"` (`token`).
    ///
    /// # Errors
    /// Azure's error.
    pub async fn token(&self) -> Result<String> {
        let path = format!("{}/token", endpoint_path(&self.endpoint));
        let answer = self.arm.post(&path, &json!({})).await?;
        answer
            .get("accessToken")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| DeployError::Protocol {
                operation: format!("POST {path}"),
                problem: "no \"accessToken\" in the answer".to_owned(),
            })
    }

    /// Posts `body` to the endpoint's `scoringUri` with the primary key, pinned to `deployment`
    /// when given (the `azureml-model-deployment` header).
    ///
    /// # Errors
    /// Azure's error reading the endpoint or its keys; [`DeployError::Transport`].
    pub async fn invoke(&self, body: &[u8], deployment: Option<&str>) -> Result<InvokeAnswer> {
        let endpoint = self.require_endpoint().await?;
        let uri = scoring_uri(&endpoint).ok_or_else(|| DeployError::Protocol {
            operation: format!("GET {}", endpoint_path(&self.endpoint)),
            problem: "the endpoint has no scoringUri yet".to_owned(),
        })?;
        let url = Url::parse(uri).map_err(|e| DeployError::Protocol {
            operation: "invoke".to_owned(),
            problem: format!("scoringUri {uri:?} is not a URL ({e})"),
        })?;
        check_transport("the endpoint's scoringUri", &url)?;
        let keys = self.keys().await?;
        let mut request = Request::new(url, Method::Post);
        request.insert_header("authorization", format!("Bearer {}", keys.primary_key));
        request.insert_header("content-type", "application/json");
        if let Some(pin) = deployment {
            request.insert_header(PIN_HEADER, pin.to_owned());
        }
        request.set_body(body.to_vec());
        let answer = self.scoring.send(request, "invoke").await?;
        Ok(InvokeAnswer {
            status: answer.status,
            body: answer.body,
        })
    }
}

fn scoring_uri(endpoint: &Value) -> Option<&str> {
    endpoint
        .pointer("/properties/scoringUri")
        .and_then(Value::as_str)
}

fn deployment_status(item: &Value) -> DeploymentStatus {
    let model_id = item
        .pointer("/properties/model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    DeploymentStatus {
        name: item
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        state: provisioning_state(item).to_owned(),
        model: model_ref(model_id),
    }
}

/// `…/models/{name}/versions/{version}` → name and version.
pub(crate) fn model_ref(model_id: &str) -> ModelRef {
    let parts: Vec<&str> = model_id.rsplit('/').collect();
    match parts.as_slice() {
        [version, "versions", name, ..] => ModelRef {
            name: (*name).to_owned(),
            version: (*version).to_owned(),
        },
        _ => ModelRef {
            name: model_id.to_owned(),
            version: String::new(),
        },
    }
}

/// The resource's `id`, else the path it was written to.
pub(crate) fn resource_id(resource: &Value, params: &AzureValidParams, path: &str) -> String {
    match resource.get("id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => format!("{}/{path}", params.workspace_path()),
    }
}

fn show_map(map: &BTreeMap<String, u32>) -> String {
    let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}
