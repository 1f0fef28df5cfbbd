//! The deployment level: each deployment of the endpoint, as the target reports it and as it
//! answers the golden set when pinned with [`DEPLOYMENT_HEADER`](finbeh_deploy::DEPLOYMENT_HEADER).

use std::time::Instant;

use finbeh_deploy::{DeploymentStatus, DeploymentTarget, EndpointStatus, ProvisioningState};

use crate::checks::golden::{Golden, InputForm, answer_probabilities, excerpt};
use crate::checks::report::{CheckLevel, CheckOutcome};

const LEVEL: CheckLevel = CheckLevel::Deployment;

/// For each deployment: `<name> state` (provisioning `Succeeded`) and `<name> golden set`
/// (pinned, answered by that deployment, the golden set bit for bit). A deployment without
/// live or mirror traffic may serve another model (the previous colour kept for rollback):
/// its answers must be probabilities, but need not be the artifact's.
pub(crate) async fn deployment_checks<T: DeploymentTarget>(
    target: &T,
    status: &EndpointStatus,
    golden: &Golden,
) -> Vec<CheckOutcome> {
    if status.deployments.is_empty() {
        return vec![CheckOutcome::fail(
            LEVEL,
            "deployments",
            format!(
                "endpoint {} has no deployment: deploy rollout --model PATH creates one",
                status.endpoint.name
            ),
        )];
    }
    let mut checks = Vec::with_capacity(status.deployments.len() * 2);
    for deployment in &status.deployments {
        checks.push(state_check(deployment));
        checks.push(pinned_golden(target, status, deployment, golden).await);
    }
    checks
}

fn state_check(deployment: &DeploymentStatus) -> CheckOutcome {
    let name = format!("{} state", deployment.name);
    let detail = format!(
        "{} (model {} version {}){}",
        deployment.state,
        deployment.model.name,
        deployment.model.version,
        deployment
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    CheckOutcome::new(
        LEVEL,
        name,
        deployment.state == ProvisioningState::Succeeded,
        detail,
    )
}

async fn pinned_golden<T: DeploymentTarget>(
    target: &T,
    status: &EndpointStatus,
    deployment: &DeploymentStatus,
    golden: &Golden,
) -> CheckOutcome {
    let started = Instant::now();
    let name = format!("{} golden set", deployment.name);
    let share = |map: &finbeh_deploy::TrafficMap| map.get(&deployment.name).copied().unwrap_or(0);
    let (live, mirror) = (share(&status.traffic), share(&status.mirror_traffic));
    let mut rows = Vec::with_capacity(golden.rows.len());
    for body in InputForm::DataRecords.bodies(golden) {
        let answer = match target.invoke(&body, Some(&deployment.name)).await {
            Ok(answer) => answer,
            Err(error) => return CheckOutcome::fail(LEVEL, name, error.to_string()).timed(started),
        };
        if answer.status != 200 {
            return CheckOutcome::fail(
                LEVEL,
                name,
                format!(
                    "pinned to {} → {}: {}",
                    deployment.name,
                    answer.status,
                    excerpt(&answer.body)
                ),
            )
            .timed(started);
        }
        if let Some(answered_by) = answer.deployment.as_deref()
            && answered_by != deployment.name
        {
            return CheckOutcome::fail(
                LEVEL,
                name,
                format!(
                    "pinned to {} but {answered_by} answered: the endpoint ignores the pin header",
                    deployment.name
                ),
            )
            .timed(started);
        }
        match answer_probabilities(&answer.body) {
            Ok(got) => rows.extend(got),
            Err(reason) => return CheckOutcome::fail(LEVEL, name, reason).timed(started),
        }
    }
    let outcome = match golden.compare(&rows) {
        Ok(()) => CheckOutcome::pass(
            LEVEL,
            name,
            format!(
                "{} golden records as expected ({live} % live traffic)",
                golden.rows.len()
            ),
        ),
        Err(_) if live == 0 && mirror == 0 => CheckOutcome::pass(
            LEVEL,
            name,
            format!(
                "serves another model than the artifact under test (model {} version {}); no traffic, so it is kept for rollback only",
                deployment.model.name, deployment.model.version
            ),
        ),
        Err(reason) => CheckOutcome::fail(
            LEVEL,
            name,
            format!("{reason} ({live} % live, {mirror} % mirror traffic)"),
        ),
    };
    outcome.timed(started)
}
