//! finbeh-deploy: a model registry and deployment targets behind two traits, and the safe
//! rollout written once over them.
//!
//! - [`ModelRegistry`]: register an artifact (verified, SHA-256, its metrics, tags) under its
//!   model name with an auto-incremented version; get, list, latest, archive.
//! - [`DeploymentTarget`]: an online endpoint with named deployments (`blue`, `green`): create
//!   or update, live and mirror traffic, status, logs, keys, invoke (optionally pinned with the
//!   [`DEPLOYMENT_HEADER`]), delete. Implemented for the local machine and for Azure ML
//!   managed online endpoints.
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

mod local_registry;

pub use error::{DeployError, Result, ServiceError, ServiceFailure};
pub use registry::{ModelRef, ModelRegistry, RegisteredModel, Tags};
pub use target::{
    DEPLOYMENT_HEADER, DeploymentSpec, DeploymentStatus, DeploymentTarget, EndpointInfo,
    EndpointKeys, EndpointSpec, EndpointStatus, InvokeResponse, KeyKind, LATENCY_BUCKETS_MS,
    ProvisioningState, TrafficCounters, TrafficMap, check_mirror_traffic, check_traffic, p99_ms,
    parse_traffic, show_map,
};

pub use local_registry::{LocalRegistry, REGISTRY_MANIFEST_VERSION};

mod azure;

pub use azure::{AzureParams, AzureRegistry, AzureTarget, AzureValidParams, LOGS_TAIL_LINES};
