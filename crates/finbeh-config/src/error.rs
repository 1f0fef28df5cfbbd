//! The crate's error type.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::validate::Problem;

/// Everything that can go wrong while loading, validating or applying settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A configuration file given explicitly does not exist.
    #[error("configuration file {} does not exist", path.display())]
    FileNotFound {
        /// The path that was given.
        path: PathBuf,
    },
    /// A configuration file exists but could not be read.
    #[error("cannot read configuration file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// A configuration file is not valid TOML.
    #[error("configuration file {} is not valid TOML: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// The settings loaded but some values are wrong; every problem is listed.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
    /// The configuration sources could not be combined.
    #[error("cannot combine the configuration sources: {0}")]
    Sources(String),
    /// The logging subscriber could not be built.
    #[error("cannot set up logging: {0}")]
    Logging(String),
}

impl ConfigError {
    /// The validation problems, if this is [`ConfigError::Invalid`]; empty otherwise.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

fn render_problems(problems: &[Problem]) -> String {
    let count = problems.len();
    let mut text = format!(
        "invalid configuration ({count} problem{}):",
        if count == 1 { "" } else { "s" }
    );
    for problem in problems {
        // Writing to a String cannot fail.
        let _ = write!(text, "\n  {problem}");
    }
    text
}
