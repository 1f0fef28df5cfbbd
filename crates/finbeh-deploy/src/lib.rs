//! finbeh-deploy: a model registry and deployment targets behind two traits, and the safe
//! rollout written once over them (`docs/deploy.md`).
//!
//! - [`ModelRegistry`]: register an artifact (verified, SHA-256, its metrics, tags) under its
//!   model name with an auto-incremented version; get, list, latest, archive.
//!   [`LocalRegistry`] is a directory with a versioned manifest, safe under concurrent writers.
//! - [`DeploymentTarget`]: an online endpoint with named deployments (`blue`, `green`): create
//!   or update, live and mirror traffic, status, logs, keys, invoke (optionally pinned with the
//!   [`DEPLOYMENT_HEADER`]), traffic counters, delete. [`LocalTarget`] is an endpoint daemon on
//!   this machine ([`run_daemon`]: a weighted router in front of supervised finbeh-serve
//!   processes, [`serve_deployment`]); Azure ML managed online endpoints implement it too.
//! - [`rollout`]: register, deploy the other colour at 0 %, require the golden set bit for bit
//!   through the endpoint, move traffic in gated steps ([`RolloutParams`] → `check()` →
//!   [`RolloutValidParams`]), roll back on any failure; [`rollback`] restores the map from
//!   before the last rollout.
//!
//! The traits are async (`Send` futures, run on a tokio runtime): the Azure target rides
//! `azure_core`'s async pipeline, the local one talks HTTP to its endpoint daemon.
//!
//! ```
//! use finbeh_deploy::{TrafficMap, check_traffic, parse_traffic, show_map};
//!
//! let traffic: TrafficMap = parse_traffic("blue=90,green=10")?;
//! check_traffic(&traffic, &["blue", "green"])?;
//! assert_eq!(show_map(&traffic), "blue=90, green=10");
//! // Live traffic totals 0 or 100, as on Azure.
//! assert!(check_traffic(&parse_traffic("blue=90")?, &["blue"]).is_err());
//! # Ok::<(), finbeh_deploy::DeployError>(())
//! ```

#![deny(missing_docs)]

mod error;
mod registry;
mod target;

mod local;
mod local_registry;

mod render;
mod rollout;

pub use error::{DeployError, Result, ServiceError, ServiceFailure};
pub use registry::{ModelRef, ModelRegistry, RegisteredModel, Tags};
pub use target::{
    DEPLOYMENT_HEADER, DeploymentSpec, DeploymentStatus, DeploymentTarget, EndpointInfo,
    EndpointKeys, EndpointSpec, EndpointStatus, InvokeResponse, KeyKind, LATENCY_BUCKETS_MS,
    ProvisioningState, TrafficCounters, TrafficMap, check_mirror_traffic, check_traffic, p99_ms,
    parse_traffic, show_map,
};

pub use local::{
    ENDPOINT_STATE_VERSION, LocalTarget, SelfCommand, run_daemon, serve_deployment,
    serve_deployment_with,
};
pub use local_registry::{LocalRegistry, REGISTRY_MANIFEST_VERSION};
pub use rollout::{
    ROLLBACK_RECORD_VERSION, ROLLOUT_LOGS_TAIL, RollbackRecord, RolloutError, RolloutOptions,
    RolloutParams, RolloutReport, RolloutResult, RolloutValidParams, StepReport, rollback, rollout,
};

/// Where `deploy rollout` records the traffic map it started from, for `deploy rollback`.
pub fn rollback_record_path(deploy: &finbeh_config::DeploySettings) -> std::path::PathBuf {
    deploy.local.state_dir.join("last_rollout.json")
}

mod azure;

pub use azure::{AzureParams, AzureRegistry, AzureTarget, AzureValidParams, LOGS_TAIL_LINES};
