//! Prints the effective configuration as TOML (secrets as `***`) and exits 0, or lists every
//! configuration problem on stderr and exits 1.
//!
//! `cargo run --example show_config -- [--config PATH]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use finbeh::config::Loader;

/// Show the effective finbeh configuration: defaults < TOML file < environment.
#[derive(Parser)]
struct Args {
    /// TOML file to read (default: `finbeh.toml` in the working directory, if present).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Loader::new()
        .file(args.config.as_deref())
        .env_from_process()
        .load()?;
    print!("{}", settings.to_toml_redacted());
    Ok(())
}
