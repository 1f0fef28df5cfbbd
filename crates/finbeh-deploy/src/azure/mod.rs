//! The Azure ML target: managed online endpoints and the workspace model registry over ARM REST.

mod arm;
mod azure_error;
mod blob;
mod credential;
mod params;
mod registry;
mod sas;
mod target;
mod wire;

pub use azure_error::{AzureErrorBody, FailureReport};
pub use params::{AzureParams, AzureValidParams};
pub use registry::{AzureRegistry, RegisteredModel};
pub use target::{
    AzureTarget, DeploymentStatus, EndpointKeys, EndpointStatus, EndpointSummary, InvokeAnswer,
    KeyKind, LOGS_TAIL_LINES, ModelRef, PIN_HEADER,
};
