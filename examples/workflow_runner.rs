//! The one command from a CSV file to a monitored endpoint: config, data, validation, train,
//! evaluate, package, register, rollout (local endpoint, left running), test_deployments,
//! traffic (held-out records and their labels) and the monitor report (finbeh-workflow).
//!
//! `cargo run --release --example workflow_runner -- [--config PATH] [--steps a,b,c]
//! [--data CSV] [--target COL|local|azure] [--search N] [--json]`
//!
//! `--target` takes the deploy target (`local`, `azure`) or, any other value, the data's target
//! column (`--target-column` for a column literally named `local` or `azure`). Exit code 0 only
//! when every stage asked for passed. The local endpoint's daemon and deployments are this binary
//! again (`daemon`, `serve-deployment`, hidden: finbeh-workflow's `run_endpoint_role`), so
//! `deploy delete-endpoint` stops them. The settings default to `monitor.enabled = true`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use finbeh_config::DeployTarget;
use finbeh_workflow::{
    EndpointRole, RunOptions, Stage, run_endpoint_role, run_workflow, self_command, workflow_loader,
};

/// Run the finbeh workflow, from the data to a monitored endpoint.
#[derive(Parser)]
struct Args {
    /// TOML settings file (default: ./finbeh.toml when present); FINBEH__* env vars apply.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Run only these stages (comma-separated); later runs reuse what earlier ones produced.
    #[arg(long)]
    steps: Option<String>,
    /// Data file (default: data.path, else generated synthetic data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// `local` or `azure` (deploy target), or the data's target column.
    #[arg(long)]
    target: Option<String>,
    /// The data's target column.
    #[arg(long)]
    target_column: Option<String>,
    /// Random-search iterations (overrides model.search_iterations).
    #[arg(long)]
    search: Option<usize>,
    /// Print the summary as one JSON line, last.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    role: Option<EndpointRole>,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let loader = workflow_loader(args.config.as_deref());
    let command = self_command(args.config.as_deref())?;
    if let Some(role) = &args.role {
        let settings = loader.load()?;
        finbeh_config::init_logging(settings.logging())?;
        run_endpoint_role(&settings, role, command)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (deploy_target, target_column) = match args.target.as_deref() {
        Some("local") => (Some(DeployTarget::Local), args.target_column),
        Some("azure") => (Some(DeployTarget::Azure), args.target_column),
        Some(column) => (None, Some(column.to_owned())),
        None => (None, args.target_column),
    };
    let steps = match &args.steps {
        Some(list) => Some(Stage::parse_list(list).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let options = RunOptions {
        steps,
        data: args.data,
        target_column,
        search: args.search,
        deploy_target,
        command,
        progress: !args.json,
    };
    let summary = run_workflow(&loader, &options);
    println!("\n{summary}");
    if args.json {
        println!("{}", summary.json_line());
    }
    Ok(if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
