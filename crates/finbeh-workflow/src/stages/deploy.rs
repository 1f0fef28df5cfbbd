//! Stages 7–8: register the artifact, then the safe rollout to the endpoint.

use std::path::Path;

use finbeh_config::DeployTarget;
use finbeh_deploy::{
    RegisteredModel, RolloutOptions, RolloutParams, RolloutResult, Tags, rollback_record_path,
};
use sha2::{Digest, Sha256};

use crate::endpoint::Endpoint;
use crate::error::WorkflowError;
use crate::runner::{Context, StageRun};
use crate::stage::{StageFailure, StageResult};
use crate::stages::prepare::recorded_artifact;
use crate::state::{EndpointOutput, RegisteredOutput};

/// Stage 7: registers the packaged artifact (verified, SHA-256, metrics) under its model name
/// with the next version.
pub(crate) fn register(context: &mut Context<'_>) -> StageRun {
    let artifact = recorded_artifact(context)?;
    ensure_endpoint(context)?;
    let tags = Tags::from([("source".to_owned(), "workflow_runner".to_owned())]);
    let (runtime, endpoint) = runtime_and_endpoint(context)?;
    let registered = runtime.block_on(endpoint.register(&artifact, &tags))?;
    let place = match endpoint {
        Endpoint::Local(registry, _) => registry.dir().display().to_string(),
        Endpoint::Azure(..) => "the Azure ML workspace".to_owned(),
    };
    context.state.registered = Some(RegisteredOutput {
        name: registered.name.clone(),
        version: registered.version.clone(),
        sha256: registered.sha256.clone(),
        artifact,
    });
    context.save_state()?;
    Ok(StageResult::Passed {
        figure: format!("{}:{} in {place}", registered.name, registered.version),
    })
}

/// Stage 8: the safe rollout of the registered version: the other colour at 0 %, the golden set
/// through the endpoint, then the traffic steps soaking `workflow.rollout_soak_seconds` each.
/// Over a running endpoint this is blue → green (or back); the endpoint is left running.
pub(crate) fn rollout(context: &mut Context<'_>) -> StageRun {
    let settings = context.settings()?.clone();
    let recorded = context.state.registered.clone().ok_or_else(|| {
        StageFailure::new(
            "no registered model: the register stage has not run yet",
            "run the register stage first (`--steps register,rollout`)",
        )
    })?;
    let sha256 = file_sha256(&recorded.artifact)?;
    if sha256 != recorded.sha256 {
        return Err(StageFailure::new(
            format!(
                "{} changed since it was registered as {}:{}",
                recorded.artifact.display(),
                recorded.name,
                recorded.version
            ),
            "register it again (`--steps register,rollout`)",
        ));
    }
    let mut rollout_settings = settings.deploy().rollout.clone();
    rollout_settings.soak_seconds = context.workflow()?.rollout_soak_seconds();
    let params = RolloutParams(rollout_settings).check()?;
    let options = RolloutOptions {
        tags: Tags::new(),
        delete_old: false,
        record: Some(rollback_record_path(settings.deploy())),
    };
    ensure_endpoint(context)?;
    let (runtime, endpoint) = runtime_and_endpoint(context)?;
    let registered = runtime.block_on(registry_entry(endpoint, &recorded))?;
    let report =
        runtime.block_on(endpoint.rollout(&recorded.artifact, &registered, &params, &options));
    if report.result != RolloutResult::Succeeded {
        let error = report.error.as_ref().map_or_else(
            || outcome_word(report.result).to_owned(),
            |e| format!("{}: {}", e.code, e.message),
        );
        let tail = report
            .logs_tail
            .as_deref()
            .map(|t| {
                format!(
                    "\nlast lines of deployment {}'s log:\n{t}",
                    report.deployment
                )
            })
            .unwrap_or_default();
        return Err(StageFailure::new(
            format!(
                "rollout of {}:{} to deployment {} {}: {error}{tail}",
                report.model.name,
                report.model.version,
                report.deployment,
                outcome_word(report.result)
            ),
            "the live traffic is unchanged; read the deployment's log \
             (`cargo run --release --example deploy -- logs <deployment>`), and for a busy port \
             change deploy.local.port / blue_port / green_port",
        ));
    }
    let status = runtime.block_on(endpoint.status())?;
    let figure = format!(
        "{}:{} on {} ({}), {} steps in {:.1}s",
        report.model.name,
        report.model.version,
        report.deployment,
        finbeh_deploy::show_map(&report.traffic),
        report.steps.len(),
        report.seconds
    );
    context.state.endpoint = Some(EndpointOutput {
        target: endpoint.kind().to_owned(),
        name: status.endpoint.name.clone(),
        url: status.endpoint.url.clone(),
        deployment: report.deployment.clone(),
    });
    context.save_state()?;
    Ok(StageResult::Passed { figure })
}

/// The registry's own record of the version (its tags, metrics, URI).
async fn registry_entry(
    endpoint: &Endpoint,
    recorded: &RegisteredOutput,
) -> crate::Result<RegisteredModel> {
    use finbeh_deploy::ModelRegistry;
    Ok(match endpoint {
        Endpoint::Local(registry, _) => registry.get(&recorded.name, &recorded.version).await?,
        Endpoint::Azure(registry, _) => registry.get(&recorded.name, &recorded.version).await?,
    })
}

/// The endpoint the rollout stage recorded (this run or an earlier one).
pub(crate) fn recorded_endpoint(context: &Context<'_>) -> Result<EndpointOutput, StageFailure> {
    context.state.endpoint.clone().ok_or_else(|| {
        StageFailure::new(
            "no endpoint: the rollout stage has not run yet",
            "run the rollout stage first (`--steps rollout,...`)",
        )
    })
}

/// The run's endpoint (built once).
pub(crate) fn ensure_endpoint(context: &mut Context<'_>) -> Result<(), StageFailure> {
    if context.endpoint.is_none() {
        let settings = context.settings()?;
        let target = context
            .options
            .deploy_target
            .unwrap_or(settings.deploy().target);
        let target = match target {
            DeployTarget::Azure => DeployTarget::Azure,
            _ => DeployTarget::Local,
        };
        let endpoint = Endpoint::new(settings, target, &context.options.command)?;
        context.endpoint = Some(endpoint);
    }
    Ok(())
}

/// The runtime and the endpoint, borrowed together.
pub(crate) fn runtime_and_endpoint<'c>(
    context: &'c mut Context<'_>,
) -> Result<(&'c tokio::runtime::Runtime, &'c Endpoint), StageFailure> {
    context.runtime()?;
    match (&context.runtime, &context.endpoint) {
        (Some(runtime), Some(endpoint)) => Ok((runtime, endpoint)),
        _ => Err(StageFailure::new(
            "no endpoint",
            "run the rollout stage first",
        )),
    }
}

fn file_sha256(path: &Path) -> Result<String, StageFailure> {
    let bytes = std::fs::read(path).map_err(|source| WorkflowError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn outcome_word(result: RolloutResult) -> &'static str {
    match result {
        RolloutResult::Succeeded => "succeeded",
        RolloutResult::RolledBack => "rolled back",
        _ => "failed",
    }
}
