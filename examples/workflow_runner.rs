//! The main job: runs every finbeh stage that exists, in order.
//!
//! Stages: config (load and validate the settings, set up logging), data (generate synthetic data
//! into `out/data/synthetic.csv` when `data.path` is unset, load it, print the report summary;
//! stop on errors), train, evaluate (held-out metrics), package (write the artifact to
//! `model.output_dir` and read it back, which verifies it), register and rollout (the safe
//! rollout to the local endpoint, which keeps running; needs the `deploy` example built next to
//! this one), monitor (score the data file's rows through a fresh prediction log,
//! `model.output_dir/monitor/workflow.sqlite`, and write the monitor report over them beside
//! it). It names the stages that are not built yet and does not pretend to run them.
//!
//! `cargo run --release --example workflow_runner -- [--config PATH]`

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use finbeh::config::{DeployTarget, Loader, ValidSettings, init_logging};
use finbeh::data::{DataParams, generate_banking_csv, load_dataset};
use finbeh::deploy::{
    LocalRegistry, LocalTarget, RolloutOptions, RolloutParams, RolloutResult, SelfCommand,
    rollback_record_path, rollout,
};
use finbeh::train::{ARTIFACT_EXTENSION, ModelArtifact, TrainingJob};

/// Stages of the workflow that later work adds, in the order they will run.
const NOT_BUILT_YET: [&str; 2] = ["test_deployments", "traffic"];

/// Run the finbeh workflow: configuration, then every stage that is built.
#[derive(Parser)]
struct Args {
    /// TOML file to read (default: `finbeh.toml` in the working directory, if present).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<bool> {
    let args = Args::parse();
    let settings = Loader::new()
        .file(args.config.as_deref())
        .env_from_process()
        .load()?;
    init_logging(settings.logging())?;
    print_summary(&settings);
    println!("\nstage config: done (show it in full with `cargo run --example show_config`)");

    let data_path = match &settings.data().path {
        Some(path) => path.clone(),
        None => {
            let path = PathBuf::from("out/data/synthetic.csv");
            std::fs::create_dir_all("out/data")?;
            let file = std::fs::File::create(&path).with_context(|| path.display().to_string())?;
            let data = settings.data();
            generate_banking_csv(file, data.synthetic_rows as u64, data.synthetic_seed)?;
            path
        }
    };
    let data_params = DataParams::from(settings.data()).check()?;
    let data = load_dataset(&data_path, &data_params)?;
    let (errors, rows) = (data.report.has_errors(), data.table.n_rows());
    println!(
        "stage data: {rows} rows from {}, classes {:?}",
        data_path.display(),
        data.classes
    );
    if errors {
        println!(
            "{}\nstage data: the validation report has errors; stopping",
            data.report
        );
        return Ok(false);
    }

    let job = TrainingJob {
        data_params: &data_params,
        model: settings.model(),
        test_file: None,
        data_file_name: data_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        progress: true,
    };
    let outcome = job.run(&data)?;
    let s = &outcome.summary;
    println!(
        "stage train: {} rows x {} features, fit {:.2}s",
        s.rows, s.features, s.fit_seconds
    );
    let metadata = outcome.artifact.metadata();
    println!(
        "stage evaluate: {} held-out rows, {} {:.4}, accuracy {:.4}, {}",
        s.test_rows,
        metadata
            .evaluation
            .as_ref()
            .map_or("ROC AUC", |e| e.roc_auc_name()),
        s.roc_auc,
        s.accuracy,
        match s.threshold {
            Some(t) => format!("decision threshold {t:.4}"),
            None => "multi-class: argmax decision".to_string(),
        }
    );
    println!("  the model scores the {}", metadata.probability_meaning());
    for warning in metadata.evaluation_warnings() {
        println!("  WARNING: {warning}");
    }

    let out_dir = &settings.model().output_dir;
    std::fs::create_dir_all(out_dir)?;
    let path = out_dir.join(format!("model.{ARTIFACT_EXTENSION}"));
    let bytes = outcome.artifact.write(&path)?;
    let back = ModelArtifact::read(&path)?;
    println!(
        "stage package: {} ({bytes} bytes), read back: golden set of {} records reproduced",
        path.display(),
        back.metadata().golden_set.len()
    );
    // Serving is a long-running process of its own; the workflow names the command instead of
    // starting a server it would have to stop again.
    println!(
        "stage serve: not run by the workflow; start the endpoint with \
         `cargo run --release --example serve -- --model {}`",
        path.display()
    );
    let deployed = deploy_stages(&settings, &path, args.config.as_deref())?;
    monitor_stage(&settings, &path, &back, &data.table, &data_params)?;
    for stage in NOT_BUILT_YET {
        println!("stage {stage}: not built yet, skipped");
    }
    Ok(deployed)
}

/// Stages register and rollout (local target): the safe rollout of the packaged artifact to the
/// local endpoint, which keeps running afterwards (`deploy delete-endpoint` stops it). The
/// endpoint's daemon and deployments are the `deploy` example binary, found next to this one.
fn deploy_stages(
    settings: &ValidSettings,
    artifact: &Path,
    config: Option<&Path>,
) -> anyhow::Result<bool> {
    if settings.deploy().target != DeployTarget::Local {
        println!("stage register, rollout: deploy.target is not local; run `deploy rollout`");
        return Ok(true);
    }
    let program = std::env::current_exe()?.with_file_name("deploy");
    if !program.is_file() {
        println!(
            "stage register, rollout: skipped, {} is not built (`cargo build --release --example deploy`)",
            program.display()
        );
        return Ok(true);
    }
    let leading_args = config
        .map(|c| vec![OsString::from("--config"), c.as_os_str().to_owned()])
        .unwrap_or_default();
    let target = LocalTarget::new(
        settings,
        SelfCommand {
            program,
            leading_args,
        },
    );
    let registry = LocalRegistry::new(&settings.deploy().local.registry_dir);
    let params = RolloutParams::from(&settings.deploy().rollout).check()?;
    let options = RolloutOptions {
        record: Some(rollback_record_path(settings.deploy())),
        ..RolloutOptions::default()
    };
    let report = tokio::runtime::Runtime::new()?
        .block_on(rollout(&registry, &target, artifact, &params, &options));
    println!(
        "stage register: {}:{} in {}",
        report.model.name,
        report.model.version,
        registry.dir().display()
    );
    println!("stage rollout: {report}");
    Ok(report.result == RolloutResult::Succeeded)
}

/// Scores the data file's rows through a fresh prediction log (the run's own traffic) and writes
/// the monitor report over it.
fn monitor_stage(
    settings: &ValidSettings,
    model: &std::path::Path,
    artifact: &ModelArtifact,
    table: &finbeh::data::Table,
    data: &finbeh::data::DataValidParams,
) -> anyhow::Result<()> {
    use finbeh::monitor::*;
    let dir = settings.model().output_dir.join("monitor");
    let log_path = dir.join("workflow.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", log_path.display()));
    }
    let mut params = PredictionLogParams::from(settings.monitor());
    params.database_path = log_path.clone();
    let identity = LogIdentity {
        endpoint: "workflow".into(),
        deployment: "local".into(),
    };
    let log = PredictionLog::open(&params.check()?, identity)?;
    let now = now_ms();
    let rows = log_batch_scores(&log, artifact, table, &|_| now)?;
    log.close()?;
    let logs = [log_path];
    let input = ReportInput {
        logs: &logs,
        period: LogPeriod::parse_since("1h", now)?,
        now_ms: now,
        model: Some(model),
        model_search: None,
        reference: None,
        estimate: None,
        alerts: None,
        attribution: None,
    };
    let drift = DriftParams::from(&settings.monitor().drift).check()?;
    let report = build_report(&input, data, &drift)?;
    let html = dir.join("report.html");
    let json = report.write(&html)?;
    println!(
        "stage monitor: {rows} rows scored through the prediction log {}; report {} and {}",
        logs[0].display(),
        html.display(),
        json.display()
    );
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
    println!(
        "deploy: {}",
        format!("{:?}", settings.deploy().target).to_lowercase()
    );
}
