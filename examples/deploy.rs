//! Register models and deploy them to an online endpoint (docs/deploy.md).
//!
//! `cargo run --example deploy -- [--config PATH] [--target local|azure] [--json] <command>`
//!
//! Commands: `register --model PATH`, `rollout --model PATH [--delete-old]`, `status`,
//! `logs DEPLOYMENT [--tail N]`, `traffic [blue=90,green=10] [--mirror green=10]`, `rollback`,
//! `keys [--regenerate primary|secondary] [--primary]`, `invoke --body FILE [--deployment NAME]`,
//! `delete-deployment NAME`, `delete-endpoint`, `start`. With `--json` each prints one JSON
//! object (for `rollout`, the last line); `rollout` exits 0 only when it succeeded.
//! The local target's daemon and deployment processes are this binary again (`daemon`,
//! `serve-deployment`, hidden: finbeh-workflow's `run_endpoint_role`); the deployments keep a
//! prediction log each when `monitor.enabled`.

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Parser, Subcommand, ValueEnum};
use finbeh_config::{DeployTarget, Loader, ValidSettings, init_logging};
use finbeh_deploy::{AzureParams, AzureRegistry, AzureTarget};
use finbeh_deploy::{
    DeploymentTarget, KeyKind, LocalRegistry, LocalTarget, ModelRegistry, RolloutOptions,
    RolloutParams, RolloutResult, Tags, parse_traffic, rollback, rollback_record_path, rollout,
    show_map,
};
use finbeh_workflow::{EndpointRole, run_endpoint_role, self_command};

/// Register models and deploy them.
#[derive(Parser)]
struct Args {
    /// TOML settings file (default: ./finbeh.toml when present); FINBEH__* env vars apply.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Deployment target (default: deploy.target).
    #[arg(long, global = true)]
    target: Option<Target>,
    /// Print JSON instead of a summary.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    Local,
    Azure,
}

#[derive(Subcommand)]
enum Command {
    /// Register an artifact in the model registry.
    Register {
        #[arg(long)]
        model: PathBuf,
        /// Tags, KEY=VALUE (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Safe rollout: register, deploy at 0 %, golden set, gated traffic steps, rollback on failure.
    Rollout {
        #[arg(long)]
        model: PathBuf,
        /// Delete the previous deployment once the new one holds 100 %.
        #[arg(long)]
        delete_old: bool,
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// The endpoint, its deployments and traffic.
    Status,
    /// The last lines of a deployment's log.
    Logs {
        deployment: String,
        #[arg(long, default_value_t = 100)]
        tail: usize,
    },
    /// Show or set live traffic (`blue=90,green=10`) and mirror traffic (`--mirror green=10`).
    Traffic {
        traffic: Option<String>,
        #[arg(long)]
        mirror: Option<String>,
    },
    /// Restore the traffic map from before the last rollout.
    Rollback,
    /// Show the endpoint keys, or regenerate one.
    Keys {
        #[arg(long)]
        regenerate: Option<Key>,
        /// Print the primary key alone, bare (for `KEY=$(deploy keys --primary)`).
        #[arg(long)]
        primary: bool,
    },
    /// Send a scoring request through the endpoint.
    Invoke {
        /// JSON request body file.
        #[arg(long)]
        body: PathBuf,
        /// Pin the request to this deployment (azureml-model-deployment).
        #[arg(long)]
        deployment: Option<String>,
    },
    /// Delete a deployment without live traffic.
    DeleteDeployment { name: String },
    /// Delete the endpoint and every deployment.
    DeleteEndpoint,
    /// Start (or restore, after a reboot) the local endpoint.
    Start,
    #[command(flatten)]
    Role(EndpointRole),
}

#[derive(Clone, Copy, ValueEnum)]
enum Key {
    Primary,
    Secondary,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
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
    let command = self_command(args.config.as_deref())?;
    if let Command::Role(role) = &args.command {
        run_endpoint_role(&settings, role, command)?;
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let target = match args.target {
        Some(Target::Local) => DeployTarget::Local,
        Some(Target::Azure) => DeployTarget::Azure,
        None => settings.deploy().target,
    };
    match target {
        DeployTarget::Azure => {
            let params = AzureParams::new(settings.deploy().azure.clone()).check()?;
            let registry = AzureRegistry::new(params.clone())?;
            let azure = AzureTarget::new(params)?;
            runtime.block_on(run(&registry, &azure, &settings, args.command, args.json))
        }
        _ => {
            let registry = LocalRegistry::new(&settings.deploy().local.registry_dir);
            let local = LocalTarget::new(&settings, command);
            if let Command::Start = args.command {
                let status = runtime.block_on(local.start())?;
                return emit(args.json, serde_json::to_value(&status)?, &status);
            }
            runtime.block_on(run(&registry, &local, &settings, args.command, args.json))
        }
    }
}

async fn run<R: ModelRegistry, T: DeploymentTarget>(
    registry: &R,
    target: &T,
    settings: &ValidSettings,
    command: Command,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Register { model, tags } => {
            let registered = registry.register(&model, &parse_tags(&tags)?).await?;
            emit(json, serde_json::to_value(&registered)?, &registered)
        }
        Command::Rollout {
            model,
            delete_old,
            tags,
        } => {
            let params = RolloutParams::from(&settings.deploy().rollout).check()?;
            let options = RolloutOptions {
                tags: parse_tags(&tags)?,
                delete_old,
                record: Some(rollback_record_path(settings.deploy())),
            };
            let report = rollout(registry, target, &model, &params, &options).await;
            emit(json, serde_json::to_value(&report)?, &report)?;
            Ok(match report.result {
                RolloutResult::Succeeded => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            })
        }
        Command::Status => {
            let status = target.status().await?;
            emit(json, serde_json::to_value(&status)?, &status)
        }
        Command::Logs { deployment, tail } => {
            let logs = target.logs(&deployment, tail).await?;
            emit(
                json,
                serde_json::json!({ "deployment": deployment, "logs": logs }),
                &logs,
            )
        }
        Command::Traffic { traffic, mirror } => {
            if let Some(traffic) = traffic {
                target.set_traffic(&parse_traffic(&traffic)?).await?;
            }
            if let Some(mirror) = mirror {
                target.set_mirror_traffic(&parse_traffic(&mirror)?).await?;
            }
            let status = target.status().await?;
            emit(json, serde_json::to_value(&status)?, &status)
        }
        Command::Rollback => {
            let restored = rollback(target, &rollback_record_path(settings.deploy())).await?;
            let text = format!("traffic restored: {}", show_map(&restored));
            emit(json, serde_json::json!({ "traffic": restored }), &text)
        }
        Command::Keys {
            regenerate,
            primary,
        } => {
            let keys = match regenerate {
                Some(Key::Primary) => target.regenerate_key(KeyKind::Primary).await?,
                Some(Key::Secondary) => target.regenerate_key(KeyKind::Secondary).await?,
                None => target.list_keys().await?,
            };
            if primary {
                let key = keys.primary_key.clone();
                return emit(json, serde_json::json!({ "primary_key": key }), &key);
            }
            let text = format!(
                "primary:   {}\nsecondary: {}",
                keys.primary_key, keys.secondary_key
            );
            emit(json, serde_json::to_value(&keys)?, &text)
        }
        Command::Invoke { body, deployment } => {
            let answer = target
                .invoke(&std::fs::read(&body)?, deployment.as_deref())
                .await?;
            println!("{}", String::from_utf8_lossy(&answer.body));
            Ok(if answer.status < 400 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::DeleteDeployment { name } => {
            target.delete_deployment(&name).await?;
            let text = format!("deployment {name} deleted");
            emit(json, serde_json::json!({ "deleted": name }), &text)
        }
        Command::DeleteEndpoint => {
            target.delete_endpoint().await?;
            let text = format!("endpoint {} deleted", target.endpoint_name());
            emit(
                json,
                serde_json::json!({ "deleted": target.endpoint_name() }),
                &text,
            )
        }
        Command::Start | Command::Role(_) => {
            bail!("this command runs only with the local target")
        }
    }
}

fn parse_tags(tags: &[String]) -> anyhow::Result<Tags> {
    tags.iter()
        .map(|tag| match tag.split_once('=') {
            Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
            None => bail!("tag {tag:?}: expected KEY=VALUE"),
        })
        .collect()
}

fn emit(json: bool, value: serde_json::Value, human: &impl Display) -> anyhow::Result<ExitCode> {
    if json {
        println!("{value}");
    } else {
        println!("{human}");
    }
    Ok(ExitCode::SUCCESS)
}
