//! Stage 9: the deployment checks (`test_deployments`) against the running endpoint.

use crate::runner::{Context, StageRun};
use crate::stage::{StageFailure, StageResult};
use crate::stages::deploy::{ensure_endpoint, recorded_endpoint, runtime_and_endpoint};
use crate::stages::prepare::recorded_artifact;

/// Stage 9: every level of `test_deployments` (environment, artifact, local predictions, the
/// endpoint, each deployment through the pin header) against the endpoint the rollout reached;
/// the report is written to `workflow.output_dir/test_deployments.json`.
pub(crate) fn test_deployments(context: &mut Context<'_>) -> StageRun {
    let settings = context.settings()?.clone();
    let path = context
        .workflow()?
        .output_dir()
        .join("test_deployments.json");
    let artifact = recorded_artifact(context)?;
    let endpoint = recorded_endpoint(context)?;
    ensure_endpoint(context)?;
    let (runtime, target) = runtime_and_endpoint(context)?;
    let report = runtime.block_on(target.checks(&settings, &artifact));
    std::fs::write(&path, report.to_json()).map_err(|source| crate::WorkflowError::Io {
        path: path.clone(),
        source,
    })?;
    let total = report.checks.len();
    let failures: Vec<String> = report
        .failures()
        .map(|c| format!("{} / {}: {}", c.level.as_str(), c.name, c.detail))
        .collect();
    if failures.is_empty() {
        return Ok(StageResult::Passed {
            figure: format!(
                "{total} checks passed against {}; report {}",
                endpoint.url,
                path.display()
            ),
        });
    }
    Err(StageFailure::new(
        format!(
            "{} of {total} deployment checks failed against {}:\n  {}",
            failures.len(),
            endpoint.url,
            failures.join("\n  ")
        ),
        format!(
            "each failed check names what is wrong; the full table: \
             `cargo run --release --example test_deployments` (report {})",
            path.display()
        ),
    ))
}
