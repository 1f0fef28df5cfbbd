//! The deployment target contract (an online endpoint with named deployments), shared by the
//! local blue/green target and Azure ML managed online endpoints.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::{DeployError, Result};
use crate::registry::{ModelRef, RegisteredModel};

/// The header that pins a request to one deployment (Azure ML's name).
pub const DEPLOYMENT_HEADER: &str = "azureml-model-deployment";

/// Percent of requests per deployment. Live traffic totals 0 or 100; mirror traffic is at most
/// 50 and names one deployment.
pub type TrafficMap = BTreeMap<String, u32>;

/// Provisioning state, with Azure ML's spellings, plus `Stopped` for a local endpoint whose
/// processes are not running (after a reboot, before `deploy start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ProvisioningState {
    /// Being created.
    Creating,
    /// Being updated.
    Updating,
    /// Ready.
    Succeeded,
    /// Failed (see the deployment's logs).
    Failed,
    /// Being deleted.
    Deleting,
    /// Canceled.
    Canceled,
    /// Not running (local: the daemon or the deployment's process is gone).
    Stopped,
}

impl ProvisioningState {
    /// Azure's spelling (`Succeeded`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "Creating",
            Self::Updating => "Updating",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Deleting => "Deleting",
            Self::Canceled => "Canceled",
            Self::Stopped => "Stopped",
        }
    }
}

impl fmt::Display for ProvisioningState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to create or update: an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// Endpoint name.
    pub name: String,
}

/// What to create or update: a deployment of a registered model. The target's own settings
/// (instance type, ports, probes, ...) come from its section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentSpec {
    /// Deployment name (`blue`, `green`).
    pub name: String,
    /// The registered model it serves.
    pub model: RegisteredModel,
}

/// The endpoint itself, as `deploy status --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// Endpoint name.
    pub name: String,
    /// Scoring URL.
    pub url: String,
    /// Provisioning state.
    pub state: ProvisioningState,
}

/// One deployment of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    /// Deployment name.
    pub name: String,
    /// Provisioning state.
    pub state: ProvisioningState,
    /// The model it serves.
    pub model: ModelRef,
    /// What the target noticed (restarts and the last exit, a failure message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An endpoint with its deployments and traffic: `deploy status --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointStatus {
    /// The endpoint.
    pub endpoint: EndpointInfo,
    /// Its deployments.
    pub deployments: Vec<DeploymentStatus>,
    /// Live traffic per deployment.
    pub traffic: TrafficMap,
    /// Mirror (shadow) traffic per deployment.
    pub mirror_traffic: TrafficMap,
}

impl EndpointStatus {
    /// The deployment with this name, if any.
    pub fn deployment(&self, name: &str) -> Option<&DeploymentStatus> {
        self.deployments.iter().find(|d| d.name == name)
    }
}

/// Which endpoint key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The primary key.
    Primary,
    /// The secondary key.
    Secondary,
}

/// The endpoint's two keys (`deploy keys --json`). `Debug` does not show them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointKeys {
    /// Primary key.
    pub primary_key: String,
    /// Secondary key.
    pub secondary_key: String,
}

impl fmt::Debug for EndpointKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EndpointKeys { primary_key: ***, secondary_key: *** }")
    }
}

/// The endpoint's answer to a scoring request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeResponse {
    /// HTTP status.
    pub status: u16,
    /// The deployment that answered (the `azureml-model-deployment` response header).
    pub deployment: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Live counters of the endpoint's traffic per deployment, as the router (local) or canary
/// requests (Azure) measured them. A rollout gate compares two snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficCounters {
    /// Requests answered, per deployment.
    pub requests: BTreeMap<String, u64>,
    /// Requests answered 5xx or not answered at all, per deployment.
    pub errors: BTreeMap<String, u64>,
    /// Latency histogram per deployment: count per bucket of [`LATENCY_BUCKETS_MS`].
    pub latency_buckets: BTreeMap<String, Vec<u64>>,
}

/// Upper bounds (ms) of the latency histogram's buckets; the last bucket is everything above.
pub const LATENCY_BUCKETS_MS: [f64; 20] = [
    0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 250.0,
    500.0, 1000.0, 2500.0, 5000.0,
];

/// An online endpoint with named deployments: create, route, observe, delete.
///
/// Implemented by [`LocalTarget`](crate::LocalTarget) (a weighted router and supervised
/// finbeh-serve processes on this machine) and by the Azure ML managed online endpoint target.
/// A target is bound to one endpoint, named by its settings.
pub trait DeploymentTarget {
    /// The endpoint's name.
    fn endpoint_name(&self) -> &str;

    /// Creates the endpoint, or updates it when it exists. Existing deployments and traffic are
    /// kept.
    fn create_or_update_endpoint(
        &self,
        spec: &EndpointSpec,
    ) -> impl Future<Output = Result<EndpointStatus>> + Send;

    /// Creates or updates a deployment and waits until it is ready (or fails, with the service's
    /// error and the log tail). A new deployment starts with 0 % traffic.
    fn create_or_update_deployment(
        &self,
        spec: &DeploymentSpec,
    ) -> impl Future<Output = Result<DeploymentStatus>> + Send;

    /// Sets the live traffic map (totals 0 or 100; deployments not named get 0).
    fn set_traffic(&self, traffic: &TrafficMap) -> impl Future<Output = Result<()>> + Send;

    /// Sets the mirror traffic map (at most 50 %, one deployment; empty turns mirroring off).
    fn set_mirror_traffic(&self, mirror: &TrafficMap) -> impl Future<Output = Result<()>> + Send;

    /// The endpoint, its deployments and both traffic maps.
    fn status(&self) -> impl Future<Output = Result<EndpointStatus>> + Send;

    /// The last `tail` lines of a deployment's log.
    fn logs(&self, deployment: &str, tail: usize) -> impl Future<Output = Result<String>> + Send;

    /// The endpoint keys.
    fn list_keys(&self) -> impl Future<Output = Result<EndpointKeys>> + Send;

    /// Replaces one key with a new random one; returns both keys.
    fn regenerate_key(&self, which: KeyKind) -> impl Future<Output = Result<EndpointKeys>> + Send;

    /// Sends a scoring request through the endpoint (with its key), pinned to `deployment` with
    /// the `azureml-model-deployment` header when given.
    fn invoke(
        &self,
        body: &[u8],
        deployment: Option<&str>,
    ) -> impl Future<Output = Result<InvokeResponse>> + Send;

    /// Traffic counters since the endpoint started (see [`TrafficCounters`]); `None` when the
    /// target cannot observe live traffic (a gate then sends canary requests instead).
    fn traffic_counters(&self) -> impl Future<Output = Result<Option<TrafficCounters>>> + Send;

    /// Deletes a deployment; refused while it has live traffic.
    fn delete_deployment(&self, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// Deletes the endpoint and all its deployments.
    fn delete_endpoint(&self) -> impl Future<Output = Result<()>> + Send;
}

/// Checks a live traffic map against the endpoint's deployments: known names, each 0..=100,
/// total 0 or 100 (Azure's rules, refused locally before any call).
pub fn check_traffic(traffic: &TrafficMap, deployments: &[&str]) -> Result<()> {
    check_names(traffic, deployments, "traffic")?;
    let total: u64 = traffic.values().map(|&p| u64::from(p)).sum();
    if total != 0 && total != 100 {
        return Err(DeployError::Refused(format!(
            "traffic must total 0 or 100 percent, got {total} ({})",
            show_map(traffic)
        )));
    }
    Ok(())
}

/// Checks a mirror traffic map: known names, at most one deployment with a non-zero share, at
/// most 50 %, and not a deployment that has live traffic.
pub fn check_mirror_traffic(
    mirror: &TrafficMap,
    traffic: &TrafficMap,
    deployments: &[&str],
) -> Result<()> {
    check_names(mirror, deployments, "mirror traffic")?;
    let nonzero: Vec<(&String, &u32)> = mirror.iter().filter(|(_, p)| **p > 0).collect();
    if nonzero.len() > 1 {
        return Err(DeployError::Refused(format!(
            "mirror traffic can go to one deployment only, got {}",
            show_map(mirror)
        )));
    }
    if let Some(&(name, &percent)) = nonzero.first() {
        if percent > 50 {
            return Err(DeployError::Refused(format!(
                "mirror traffic is at most 50 percent, got {percent} for {name}"
            )));
        }
        if traffic.get(name).copied().unwrap_or(0) > 0 {
            return Err(DeployError::Refused(format!(
                "deployment {name} has live traffic; mirror traffic goes to a deployment without live traffic"
            )));
        }
    }
    Ok(())
}

fn check_names(map: &TrafficMap, deployments: &[&str], what: &str) -> Result<()> {
    for (name, &percent) in map {
        if !deployments.contains(&name.as_str()) {
            return Err(DeployError::Refused(format!(
                "{what}: no deployment named {name} (deployments: {})",
                if deployments.is_empty() {
                    "none".to_owned()
                } else {
                    deployments.join(", ")
                }
            )));
        }
        if percent > 100 {
            return Err(DeployError::Refused(format!(
                "{what}: {percent} percent for {name} is over 100"
            )));
        }
    }
    Ok(())
}

/// `blue=90, green=10` (`none` for an empty map).
pub fn show_map(map: &TrafficMap) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(name, percent)| format!("{name}={percent}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `blue=90,green=10` (the `deploy traffic` argument).
pub fn parse_traffic(text: &str) -> Result<TrafficMap> {
    let mut map = TrafficMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, percent) = part.split_once('=').ok_or_else(|| {
            DeployError::Refused(format!("traffic entry {part:?}: expected NAME=PERCENT"))
        })?;
        let percent: u32 = percent.trim().parse().map_err(|_| {
            DeployError::Refused(format!(
                "traffic entry {part:?}: {percent:?} is not a whole percent"
            ))
        })?;
        if map.insert(name.trim().to_owned(), percent).is_some() {
            return Err(DeployError::Refused(format!(
                "traffic names deployment {name} twice"
            )));
        }
    }
    Ok(map)
}

/// The 99th percentile (ms) of a histogram delta over [`LATENCY_BUCKETS_MS`]: the upper bound
/// of the bucket holding the 99th percentile request (`f64::INFINITY` for the overflow bucket),
/// `None` without requests.
pub fn p99_ms(buckets: &[u64]) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    // Rank of the 99th percentile request, 1-based, rounded up.
    let rank = total.saturating_mul(99).div_ceil(100).max(1);
    let mut seen = 0u64;
    for (i, &count) in buckets.iter().enumerate() {
        seen = seen.saturating_add(count);
        if seen >= rank {
            return Some(LATENCY_BUCKETS_MS.get(i).copied().unwrap_or(f64::INFINITY));
        }
    }
    Some(f64::INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, u32)]) -> TrafficMap {
        entries.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect()
    }

    #[test]
    fn traffic_totals_zero_or_hundred_over_known_deployments() {
        let names = ["blue", "green"];
        assert!(check_traffic(&map(&[("blue", 90), ("green", 10)]), &names).is_ok());
        assert!(check_traffic(&map(&[]), &names).is_ok());
        let over = check_traffic(&map(&[("blue", 90), ("green", 20)]), &names).unwrap_err();
        assert!(over.to_string().contains("total 0 or 100"), "{over}");
        let unknown = check_traffic(&map(&[("red", 100)]), &names).unwrap_err();
        assert!(
            unknown.to_string().contains("no deployment named red"),
            "{unknown}"
        );
    }

    #[test]
    fn mirror_is_one_deployment_at_most_fifty_without_live_traffic() {
        let names = ["blue", "green"];
        let live = map(&[("blue", 100)]);
        assert!(check_mirror_traffic(&map(&[("green", 50)]), &live, &names).is_ok());
        assert!(check_mirror_traffic(&map(&[("green", 51)]), &live, &names).is_err());
        assert!(check_mirror_traffic(&map(&[("blue", 10)]), &live, &names).is_err());
        assert!(
            check_mirror_traffic(&map(&[("blue", 10), ("green", 10)]), &map(&[]), &names).is_err()
        );
    }

    #[test]
    fn parse_traffic_reads_name_percent_pairs() {
        assert_eq!(
            parse_traffic("blue=90, green=10").unwrap(),
            map(&[("blue", 90), ("green", 10)])
        );
        assert!(parse_traffic("blue").is_err());
        assert!(parse_traffic("blue=x").is_err());
        assert!(parse_traffic("blue=1,blue=2").is_err());
    }

    #[test]
    fn p99_is_the_bucket_of_the_99th_percentile_request() {
        let mut buckets = vec![0u64; LATENCY_BUCKETS_MS.len() + 1];
        buckets[2] = 99; // ≤ 1 ms
        buckets[10] = 1; // ≤ 30 ms
        assert_eq!(p99_ms(&buckets), Some(1.0));
        buckets[10] = 2;
        assert_eq!(p99_ms(&buckets), Some(30.0));
        assert_eq!(p99_ms(&[0, 0]), None);
    }
}
