//! The versions a check report and the troubleshooter show: finbeh, the artifact format this
//! build reads, and the compiler that built it.

use serde::{Deserialize, Serialize};

/// What this build is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    /// finbeh's version (the workspace's).
    pub finbeh: String,
    /// The newest model artifact format this build reads (and the one it writes).
    pub artifact_format: String,
    /// `rustc --version` at build time, or `unknown`.
    pub rustc: String,
}

impl Versions {
    /// This build's versions.
    pub fn of_this_build() -> Self {
        Self {
            finbeh: env!("CARGO_PKG_VERSION").to_owned(),
            artifact_format: finbeh_train::ARTIFACT_FORMAT_VERSION.to_owned(),
            rustc: option_env!("FINBEH_RUSTC_VERSION")
                .unwrap_or("unknown")
                .to_owned(),
        }
    }
}

impl std::fmt::Display for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "finbeh {}, artifact format {}, {}",
            self.finbeh, self.artifact_format, self.rustc
        )
    }
}
