//! Troubleshoots a model, its endpoint and its monitor: versions, the effective settings
//! (redacted), the artifact check, the endpoint with each deployment's state and log, the last
//! errors and alerts of the prediction logs, then symptom → cause → fix hints
//! (docs/troubleshooting.md).
//!
//! `cargo run --example troubleshoot -- [--config PATH] [--model PATH]
//! [--target local|azure | --url URL [--key K]] [--database DB]... [--last N] [--json]`
//!
//! Exits 1 when a symptom was found, 0 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use finbeh_config::{DeployTarget, Loader, Secret, init_logging};
use finbeh_workflow::{
    DEFAULT_LAST, EndpointTarget, EndpointUnderTest, TroubleshootOptions, troubleshoot,
};

/// Troubleshoot a model, its endpoint and its monitor.
#[derive(Parser)]
struct Args {
    /// TOML settings file (default: ./finbeh.toml when present); FINBEH__* env vars apply.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Artifact (default: serve.model_path, else the one in model.output_dir).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Endpoint of this deployment target (default: deploy.target).
    #[arg(long, conflicts_with = "url")]
    target: Option<Target>,
    /// A scoring URL to look at instead of a target's endpoint.
    #[arg(long)]
    url: Option<String>,
    /// The endpoint's key, with --url.
    #[arg(long, requires = "url")]
    key: Option<String>,
    /// Prediction log (repeatable; default: monitor.database_path).
    #[arg(long = "database")]
    databases: Vec<PathBuf>,
    /// Logged errors and log lines per deployment to show.
    #[arg(long, default_value_t = DEFAULT_LAST)]
    last: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    Local,
    Azure,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn try_main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let settings = Loader::new()
        .file(args.config.as_deref())
        .env_from_process()
        .load()?;
    init_logging(settings.logging())?;
    let mut options = TroubleshootOptions {
        model: args.model,
        databases: args.databases,
        last: args.last,
        endpoint: None,
    };
    let report = if let Some(url) = args.url {
        options.endpoint = Some(EndpointUnderTest {
            url,
            primary_key: args.key.map(Secret::new),
            secondary_key: None,
        });
        troubleshoot(&settings, &options)
    } else {
        let target = match args.target {
            Some(Target::Local) => DeployTarget::Local,
            Some(Target::Azure) => DeployTarget::Azure,
            None => settings.deploy().target,
        };
        let target = EndpointTarget::open(&settings, target)?;
        tokio::runtime::Runtime::new()?.block_on(target.troubleshoot(&settings, &options))
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(if report.hints.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
