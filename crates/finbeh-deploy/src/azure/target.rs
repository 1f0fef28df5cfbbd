//! `AzureTarget`: a managed online endpoint and its deployments, traffic, keys, logs, invoke.

use std::sync::Arc;

use azure_core::http::headers::HeaderName;
use azure_core::http::{Method, Request, Url};
use serde_json::{Value, json};

use super::arm::{Arm, Sender, protocol, provisioning_state};
use super::azure_error::hint_for;
use super::credential::credential;
use super::params::{AzureValidParams, check_transport};
use super::wire::{
    deployment_body, deployment_path, endpoint_body, endpoint_path, environment_body,
    environment_version, model_version_path, percent_map,
};
use crate::error::{DeployError, Result};
use crate::registry::ModelRef;
use crate::target::{
    DEPLOYMENT_HEADER, DeploymentSpec, DeploymentStatus, DeploymentTarget, EndpointInfo,
    EndpointKeys, EndpointSpec, EndpointStatus, InvokeResponse, KeyKind, ProvisioningState,
    TrafficCounters, TrafficMap, check_mirror_traffic, check_traffic,
};

/// Lines of the container log a failed deployment's report carries.
pub const LOGS_TAIL_LINES: usize = 100;

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
    /// [`DeployError::Settings`] when the credential cannot be created.
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

    fn params(&self) -> &AzureValidParams {
        self.arm.params()
    }

    /// Creates the environment version that runs `deploy.azure.image` (a custom container with
    /// finbeh-serve's routes and port); its ARM id.
    ///
    /// # Errors
    /// Azure's error; [`DeployError::Refused`] without `deploy.azure.image`.
    pub async fn ensure_environment(&self) -> Result<String> {
        let image = self.params().image.clone().ok_or_else(|| {
            DeployError::Refused(
                "deploy.azure.image is not set: name the finbeh-serve image to deploy".to_owned(),
            )
        })?;
        let name = &self.params().deployment.environment_name;
        let path = format!(
            "environments/{name}/versions/{}",
            environment_version(&image)
        );
        let resource = self.arm.put(&path, &environment_body(&image)).await?;
        Ok(resource_id(&resource, self.params(), &path))
    }

    /// The endpoint resource, `None` when it does not exist.
    ///
    /// # Errors
    /// Azure's error.
    pub async fn get_endpoint(&self) -> Result<Option<Value>> {
        self.arm.get(&endpoint_path(&self.endpoint)).await
    }

    /// A deployment resource, `None` when it does not exist.
    ///
    /// # Errors
    /// Azure's error.
    pub async fn get_deployment(&self, deployment: &str) -> Result<Option<Value>> {
        self.arm
            .get(&deployment_path(&self.endpoint, deployment))
            .await
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
            .ok_or_else(|| protocol(&format!("POST {path}"), "no \"accessToken\""))
    }

    async fn require_endpoint(&self) -> Result<Value> {
        self.get_endpoint().await?.ok_or_else(|| {
            DeployError::Refused(format!("online endpoint {} does not exist", self.endpoint))
        })
    }

    async fn deployment_list(&self) -> Result<Vec<DeploymentStatus>> {
        let list = self
            .arm
            .get(&format!("{}/deployments", endpoint_path(&self.endpoint)))
            .await?
            .unwrap_or(Value::Null);
        Ok(list
            .get("value")
            .and_then(Value::as_array)
            .map(|items| items.iter().map(deployment_status).collect())
            .unwrap_or_default())
    }

    /// Traffic goes only to deployments that exist and are `Succeeded`.
    fn require_ready(status: &EndpointStatus, shares: &TrafficMap) -> Result<()> {
        for (name, _) in shares.iter().filter(|(_, p)| **p > 0) {
            if let Some(found) = status.deployment(name)
                && found.state != ProvisioningState::Succeeded
            {
                return Err(DeployError::Refused(format!(
                    "deployment {name} is {}, not Succeeded: no traffic goes to it",
                    found.state
                )));
            }
        }
        Ok(())
    }

    async fn put_maps(&self, traffic: &TrafficMap, mirror: &TrafficMap) -> Result<()> {
        let body = endpoint_body(self.params(), traffic, mirror);
        self.arm
            .put_lro(&endpoint_path(&self.endpoint), &body)
            .await
            .map(drop)
    }

    fn names(status: &EndpointStatus) -> Vec<&str> {
        status.deployments.iter().map(|d| d.name.as_str()).collect()
    }
}

impl DeploymentTarget for AzureTarget {
    fn endpoint_name(&self) -> &str {
        &self.endpoint
    }

    /// Creates the endpoint, or updates it keeping its traffic maps.
    async fn create_or_update_endpoint(&self, _spec: &EndpointSpec) -> Result<EndpointStatus> {
        let current = self.get_endpoint().await?.unwrap_or(Value::Null);
        let body = endpoint_body(
            self.params(),
            &percent_map(&current, "traffic"),
            &percent_map(&current, "mirrorTraffic"),
        );
        self.arm
            .put_lro(&endpoint_path(&self.endpoint), &body)
            .await?;
        self.status().await
    }

    /// A failed operation comes back with Azure's error, the container log's last
    /// [`LOGS_TAIL_LINES`] lines and a hint.
    async fn create_or_update_deployment(&self, spec: &DeploymentSpec) -> Result<DeploymentStatus> {
        let environment = self.ensure_environment().await?;
        let model_id = format!(
            "{}/{}",
            self.params().workspace_path(),
            model_version_path(&spec.model.name, &spec.model.version)
        );
        let body = deployment_body(self.params(), &model_id, &environment);
        let path = deployment_path(&self.endpoint, &spec.name);
        match self.arm.put_lro(&path, &body).await {
            Ok(resource) => Ok(deployment_status(&resource)),
            Err(DeployError::Service(mut failure)) => {
                // The log is the evidence; a log that cannot be read does not hide the failure.
                let tail = self.logs(&spec.name, LOGS_TAIL_LINES).await.ok();
                failure.hint = hint_for(&failure.error, tail.as_deref()).or(failure.hint);
                failure.logs_tail = tail;
                Err(DeployError::Service(failure))
            }
            Err(other) => Err(other),
        }
    }

    async fn set_traffic(&self, traffic: &TrafficMap) -> Result<()> {
        let status = self.status().await?;
        check_traffic(traffic, &Self::names(&status))?;
        Self::require_ready(&status, traffic)?;
        check_mirror_traffic(&status.mirror_traffic, traffic, &Self::names(&status))?;
        self.put_maps(traffic, &status.mirror_traffic).await
    }

    async fn set_mirror_traffic(&self, mirror: &TrafficMap) -> Result<()> {
        let status = self.status().await?;
        check_mirror_traffic(mirror, &status.traffic, &Self::names(&status))?;
        Self::require_ready(&status, mirror)?;
        self.put_maps(&status.traffic, mirror).await
    }

    async fn status(&self) -> Result<EndpointStatus> {
        let endpoint = self.require_endpoint().await?;
        Ok(EndpointStatus {
            endpoint: EndpointInfo {
                name: self.endpoint.clone(),
                url: scoring_uri(&endpoint).unwrap_or_default().to_owned(),
                state: parse_state(provisioning_state(&endpoint)),
            },
            deployments: self.deployment_list().await?,
            traffic: percent_map(&endpoint, "traffic"),
            mirror_traffic: percent_map(&endpoint, "mirrorTraffic"),
        })
    }

    /// `getLogs` of the inference server container.
    async fn logs(&self, deployment: &str, tail: usize) -> Result<String> {
        let path = format!("{}/getLogs", deployment_path(&self.endpoint, deployment));
        let body = json!({"containerType": "InferenceServer", "tail": tail});
        let answer = self.arm.post(&path, &body).await?;
        Ok(answer
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    async fn list_keys(&self) -> Result<EndpointKeys> {
        let path = format!("{}/listKeys", endpoint_path(&self.endpoint));
        let answer = self.arm.post(&path, &json!({})).await?;
        let key = |field: &str| -> Result<String> {
            answer
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| protocol(&format!("POST {path}"), format!("no {field:?}")))
        };
        Ok(EndpointKeys {
            primary_key: key("primaryKey")?,
            secondary_key: key("secondaryKey")?,
        })
    }

    /// `regenerateKeys` (a long-running operation), then the keys.
    async fn regenerate_key(&self, which: KeyKind) -> Result<EndpointKeys> {
        let path = format!("{}/regenerateKeys", endpoint_path(&self.endpoint));
        let key_type = match which {
            KeyKind::Primary => "Primary",
            KeyKind::Secondary => "Secondary",
        };
        self.arm
            .post_lro(&path, &json!({"keyType": key_type}))
            .await?;
        self.list_keys().await
    }

    /// Posts to the endpoint's `scoringUri` with the primary key.
    async fn invoke(&self, body: &[u8], deployment: Option<&str>) -> Result<InvokeResponse> {
        let endpoint = self.require_endpoint().await?;
        let op = format!("GET {}", endpoint_path(&self.endpoint));
        let uri = scoring_uri(&endpoint).ok_or_else(|| protocol(&op, "no scoringUri yet"))?;
        let url = Url::parse(uri)
            .map_err(|e| protocol(&op, format!("scoringUri {uri:?} is not a URL ({e})")))?;
        check_transport("the endpoint's scoringUri", &url)?;
        let keys = self.list_keys().await?;
        let mut request = Request::new(url, Method::Post);
        request.insert_header("authorization", format!("Bearer {}", keys.primary_key));
        request.insert_header("content-type", "application/json");
        if let Some(pin) = deployment {
            request.insert_header(DEPLOYMENT_HEADER, pin.to_owned());
        }
        request.set_body(body.to_vec());
        let answer = self.scoring.send(request, uri).await?;
        let answered_by = answer
            .headers
            .get_optional_string(&HeaderName::from_static(DEPLOYMENT_HEADER));
        Ok(InvokeResponse {
            status: answer.status,
            deployment: answered_by,
            body: answer.body,
        })
    }

    /// Azure does not expose per-request counters: the rollout gate sends canary requests.
    async fn traffic_counters(&self) -> Result<Option<TrafficCounters>> {
        Ok(None)
    }

    /// Refused while the deployment has live traffic.
    async fn delete_deployment(&self, name: &str) -> Result<()> {
        if let Some(endpoint) = self.get_endpoint().await? {
            let live = percent_map(&endpoint, "traffic");
            if let Some(&percent) = live.get(name).filter(|&&p| p > 0) {
                return Err(DeployError::Refused(format!(
                    "deployment {name} has {percent} % of the live traffic: move it first \
                     (deploy traffic)"
                )));
            }
        }
        self.arm
            .delete_lro(&deployment_path(&self.endpoint, name))
            .await
            .map(drop)
    }

    async fn delete_endpoint(&self) -> Result<()> {
        self.arm
            .delete_lro(&endpoint_path(&self.endpoint))
            .await
            .map(drop)
    }
}

fn scoring_uri(endpoint: &Value) -> Option<&str> {
    endpoint
        .pointer("/properties/scoringUri")
        .and_then(Value::as_str)
}

fn parse_state(text: &str) -> ProvisioningState {
    match text {
        "Creating" => ProvisioningState::Creating,
        "Updating" => ProvisioningState::Updating,
        "Succeeded" => ProvisioningState::Succeeded,
        "Deleting" => ProvisioningState::Deleting,
        "Canceled" => ProvisioningState::Canceled,
        // Failed, and anything Azure adds later: not a state traffic may go to.
        _ => ProvisioningState::Failed,
    }
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
        state: parse_state(provisioning_state(item)),
        model: model_ref(model_id),
        detail: None,
    }
}

/// `…/models/{name}/versions/{version}` → name and version.
fn model_ref(model_id: &str) -> ModelRef {
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
fn resource_id(resource: &Value, params: &AzureValidParams, path: &str) -> String {
    match resource.get("id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => format!("{}/{path}", params.workspace_path()),
    }
}
