//! ARM request bodies (field names as in azure-rest-api-specs, Microsoft.MachineLearningServices
//! stable 2025-12-01) and ARM resource paths under the workspace.

use finbeh_config::AuthMode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::params::AzureValidParams;
use crate::target::TrafficMap;

/// The port finbeh-serve listens on in the container (the Dockerfile's `EXPOSE`).
pub(crate) const CONTAINER_PORT: u16 = 5001;

pub(crate) fn endpoint_path(endpoint: &str) -> String {
    format!("onlineEndpoints/{endpoint}")
}

pub(crate) fn deployment_path(endpoint: &str, deployment: &str) -> String {
    format!("onlineEndpoints/{endpoint}/deployments/{deployment}")
}

pub(crate) fn model_path(name: &str) -> String {
    format!("models/{name}")
}

pub(crate) fn model_version_path(name: &str, version: &str) -> String {
    format!("models/{name}/versions/{version}")
}

/// The environment version holding `image`: derived from the image, so the same image is the
/// same (immutable) version and a new image a new one.
pub(crate) fn environment_version(image: &str) -> String {
    let digest = Sha256::digest(image.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `PUT environments/{name}/versions/{version}`: finbeh-serve as a custom container.
pub(crate) fn environment_body(image: &str) -> Value {
    let route = |path: &str| json!({"path": path, "port": CONTAINER_PORT});
    json!({
        "properties": {
            "description": "finbeh-serve (custom container)",
            "image": image,
            "osType": "Linux",
            "inferenceConfig": {
                "livenessRoute": route("/health/live"),
                "readinessRoute": route("/health/ready"),
                "scoringRoute": route("/score"),
            }
        }
    })
}

fn auth_mode(mode: AuthMode) -> &'static str {
    match mode {
        AuthMode::Key => "Key",
        AuthMode::AmlToken => "AMLToken",
        AuthMode::AadToken => "AADToken",
    }
}

/// `PUT onlineEndpoints/{name}`, keeping the endpoint's current traffic maps.
pub(crate) fn endpoint_body(
    params: &AzureValidParams,
    traffic: &TrafficMap,
    mirror: &TrafficMap,
) -> Value {
    json!({
        "location": params.region,
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "authMode": auth_mode(params.auth_mode),
            "description": "finbeh scoring endpoint",
            "traffic": traffic,
            "mirrorTraffic": mirror,
        }
    })
}

fn iso_seconds(seconds: u64) -> String {
    format!("PT{seconds}S")
}

fn iso_millis(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("PT{}S", ms / 1000)
    } else {
        format!("PT{}.{:03}S", ms / 1000, ms % 1000)
    }
}

/// `PUT onlineEndpoints/{e}/deployments/{d}`: a managed deployment of `model_id` in the
/// finbeh-serve environment.
pub(crate) fn deployment_body(
    params: &AzureValidParams,
    model_id: &str,
    environment_id: &str,
) -> Value {
    let run = &params.deployment;
    let probe = json!({
        "initialDelay": iso_seconds(run.probe_initial_delay_s),
        "period": iso_seconds(run.probe_period_s),
        "timeout": iso_seconds(run.probe_timeout_s),
        "failureThreshold": run.probe_failure_threshold,
        "successThreshold": 1,
    });
    json!({
        "location": params.region,
        "sku": {"name": "Default", "capacity": params.instance_count},
        "properties": {
            "endpointComputeType": "Managed",
            "model": model_id,
            "environmentId": environment_id,
            "instanceType": params.instance_type,
            "scaleSettings": {"scaleType": "Default"},
            "requestSettings": {
                "maxConcurrentRequestsPerInstance": run.max_concurrent_requests_per_instance,
                "requestTimeout": iso_millis(run.request_timeout_ms),
            },
            "livenessProbe": probe,
            "readinessProbe": probe,
            "appInsightsEnabled": run.app_insights_enabled,
        }
    })
}

/// A map of deployment → percent from an endpoint's `traffic` or `mirrorTraffic`.
pub(crate) fn percent_map(resource: &Value, field: &str) -> TrafficMap {
    let Some(Value::Object(map)) = resource.pointer(&format!("/properties/{field}")) else {
        return TrafficMap::new();
    };
    map.iter()
        .filter_map(|(k, v)| Some((k.clone(), u32::try_from(v.as_u64()?).ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(iso_millis(5_000), "PT5S");
        assert_eq!(iso_millis(1_500), "PT1.500S");
        assert_eq!(iso_seconds(30), "PT30S");
        assert_eq!(environment_version("a").len(), 12);
        assert_ne!(environment_version("a:1"), environment_version("a:2"));
    }
}
