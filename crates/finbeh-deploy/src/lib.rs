//! Model registry and deployment targets for finbeh.
//!
//! The Azure ML target ([`AzureTarget`]) manages online endpoints and deployments over ARM REST
//! with azure_core's HTTP pipeline (retries on 408/429/5xx honouring `Retry-After`), its own
//! long-running-operation handling, and the Azure ML registry ([`AzureRegistry`]) that uploads
//! an artifact to the workspace's datastore the way `az ml model create` does.
//!
//! ```
//! use finbeh_config::AzureDeploySettings;
//! use finbeh_deploy::AzureParams;
//!
//! let mut settings = AzureDeploySettings::default();
//! // Required to deploy: where, and which finbeh-serve image.
//! settings.subscription_id = Some("00000000-0000-0000-0000-000000000000".to_owned());
//! settings.resource_group = Some("rg-finbeh".to_owned());
//! settings.workspace_name = Some("mlw-finbeh".to_owned());
//! settings.image = Some("myregistry.azurecr.io/finbeh-serve:0.1.0".to_owned());
//! let params = AzureParams::new(settings).check()?;
//! assert_eq!(params.api_version(), "2025-12-01");
//! assert!(params.workspace_path().ends_with("/workspaces/mlw-finbeh"));
//! # Ok::<(), finbeh_deploy::DeployError>(())
//! ```

#![deny(missing_docs)]

mod error;

pub use error::{DeployError, Result};

mod azure;

pub use azure::{
    AzureErrorBody, AzureParams, AzureRegistry, AzureTarget, AzureValidParams, DeploymentStatus,
    EndpointKeys, EndpointStatus, EndpointSummary, FailureReport, InvokeAnswer, KeyKind,
    LOGS_TAIL_LINES, ModelRef, PIN_HEADER, RegisteredModel,
};
