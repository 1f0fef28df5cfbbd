//! The local target: an endpoint daemon (weighted router + supervised finbeh-serve processes)
//! and the client the `deploy` commands use.

mod client;
mod daemon;
mod deployment_process;
mod router;
mod state;
mod supervisor;

pub use client::LocalTarget;
pub use daemon::run_daemon;
pub use deployment_process::{serve_deployment, serve_deployment_with};
pub use state::ENDPOINT_STATE_VERSION;
pub use supervisor::SelfCommand;
