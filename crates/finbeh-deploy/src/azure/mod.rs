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

pub use params::{AzureParams, AzureValidParams};
pub use registry::AzureRegistry;
pub use target::{AzureTarget, LOGS_TAIL_LINES};
