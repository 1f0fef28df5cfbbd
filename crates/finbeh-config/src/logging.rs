//! Global `tracing` subscriber set-up from `[logging]`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::ConfigError;
use crate::settings::{LogFormat, LoggingSettings};

/// Installs a global `tracing` subscriber writing to stderr at `logging.level`, pretty or JSON.
/// Colour codes are written only when stderr is a terminal, never into a file or a pipe.
///
/// Safe to call more than once: if a global subscriber is already installed (by an earlier call
/// or by someone else) this leaves it in place and returns `Ok`.
///
/// ```
/// use finbeh_config::{LoggingSettings, init_logging};
/// init_logging(&LoggingSettings::default()).unwrap();
/// init_logging(&LoggingSettings::default()).unwrap(); // second call: no error, no panic
/// ```
pub fn init_logging(logging: &LoggingSettings) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(&logging.level).map_err(|error| {
        ConfigError::Logging(format!("logging.level = {:?}: {error}", logging.level))
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // `try_init` fails only when a global subscriber already exists, which is fine.
    let _already_installed = match logging.format {
        LogFormat::Pretty => builder.finish().try_init(),
        LogFormat::Json => builder.json().finish().try_init(),
    };
    Ok(())
}
