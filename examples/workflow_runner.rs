//! The main job: runs every finbeh stage that exists, in order.
//!
//! Today only the configuration stage exists: it loads and validates the settings, sets up
//! logging, prints a summary and names the stages that are not built yet (it does not pretend to
//! run them).
//!
//! `cargo run --release --example workflow_runner -- [--config PATH]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use finbeh::config::{Loader, ValidSettings, init_logging};

/// Stages of the workflow that later work adds, in the order they will run.
const NOT_BUILT_YET: [&str; 7] = [
    "data", "train", "evaluate", "package", "serve", "deploy", "monitor",
];

/// Run the finbeh workflow: configuration, then every stage that is built.
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
    init_logging(settings.logging())?;
    print_summary(&settings);
    println!("\nstage config: done (show it in full with `cargo run --example show_config`)");
    for stage in NOT_BUILT_YET {
        println!("stage {stage}: not built yet, skipped");
    }
    Ok(())
}

fn print_summary(settings: &ValidSettings) {
    let data = settings.data();
    match &data.path {
        Some(path) => println!("data:   {}", path.display()),
        None => println!(
            "data:   synthetic, {} rows (seed {})",
            data.synthetic_rows, data.synthetic_seed
        ),
    }
    println!("target: {}", data.target.as_deref().unwrap_or("(none)"));
    let model = settings.model();
    println!(
        "model:  {} v{}: {} trees, max depth {}, test size {}, {} CV folds -> {}",
        model.name,
        model.version,
        model.n_estimators,
        model.max_depth,
        model.test_size,
        model.cv_folds,
        model.output_dir.display()
    );
    let serve = settings.serve();
    println!("serve:  {}:{}", serve.host, serve.port);
    println!("deploy: {:?}", settings.deploy().target);
}
