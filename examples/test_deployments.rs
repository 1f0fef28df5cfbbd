//! Checks a model and its endpoint level by level: environment and config, artifact, local
//! predictions, the endpoint over HTTP, each deployment (docs/troubleshooting.md).
//!
//! `cargo run --example test_deployments -- [--config PATH] [--model PATH]
//! [--target local|azure | --url URL --key K [--secondary-key K2]] [--json]`
//!
//! Prints a pass/fail table (`--json`: one JSON object) and exits 1 when any check fails.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use finbeh_config::{DeployTarget, Loader, Secret, init_logging};
use finbeh_workflow::{
    CheckReport, EndpointTarget, EndpointUnderTest, find_model, run_checks, settings_refused,
};

/// Check a model and its endpoint.
#[derive(Parser)]
struct Args {
    /// TOML settings file (default: ./finbeh.toml when present); FINBEH__* env vars apply.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Artifact (default: serve.model_path, else the one in model.output_dir).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Endpoint of this deployment target (default: deploy.target), with its keys and deployments.
    #[arg(long, conflicts_with = "url")]
    target: Option<Target>,
    /// A scoring URL to check instead of a target's endpoint.
    #[arg(long)]
    url: Option<String>,
    /// The endpoint's (primary) key, with --url.
    #[arg(long, requires = "url")]
    key: Option<String>,
    /// The endpoint's secondary key, with --url.
    #[arg(long, requires = "url")]
    secondary_key: Option<String>,
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
    let loaded = Loader::new()
        .file(args.config.as_deref())
        .env_from_process()
        .load();
    let settings = match loaded {
        Ok(settings) => settings,
        Err(error) => {
            let mut report = CheckReport::default();
            report.extend([settings_refused(&error)]);
            return Ok(emit(&report, args.json));
        }
    };
    init_logging(settings.logging())?;
    let model = find_model(&settings, args.model.as_deref())?;
    let report = if let Some(url) = args.url {
        let endpoint = EndpointUnderTest {
            url,
            primary_key: args.key.map(Secret::new),
            secondary_key: args.secondary_key.map(Secret::new),
        };
        run_checks(&settings, &model, Some(&endpoint))
    } else {
        let target = match args.target {
            Some(Target::Local) => DeployTarget::Local,
            Some(Target::Azure) => DeployTarget::Azure,
            None => settings.deploy().target,
        };
        let target = EndpointTarget::open(&settings, target)?;
        tokio::runtime::Runtime::new()?.block_on(target.run_checks(&settings, &model))
    };
    Ok(emit(&report, args.json))
}

fn emit(report: &CheckReport, json: bool) -> ExitCode {
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
