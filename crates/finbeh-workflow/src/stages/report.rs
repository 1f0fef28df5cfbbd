//! Stage 11: the monitor report (HTML and its JSON twin) over the endpoint's deployments'
//! prediction logs, with the labelled metrics of the traffic stage.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use finbeh_monitor::{
    AlertParams, AttributionParams, DriftParams, EstimateParams, LabelQuery, LogPeriod, MINUTE_MS,
    ReportInput, build_report, labelled_metrics, now_ms,
};

use crate::deployment::{NO_LOG_FIX, deployment_log_path};
use crate::runner::{Context, StageRun};
use crate::stage::{StageFailure, StageResult};
use crate::stages::deploy::{ensure_endpoint, recorded_endpoint, runtime_and_endpoint};
use crate::stages::prepare::{ensure_dataset, recorded_artifact};
use crate::state::ReportOutput;

/// Longest wait for the deployments' log writers to commit the traffic's labels.
const LOG_COMMIT_WAIT: Duration = Duration::from_secs(20);

/// Stage 11: waits until the deployments' logs hold the traffic stage's labels, then writes
/// `workflow.output_dir/report.html` and `report.json` over the logs (the live deployment's
/// first: its rows give drift, scores and labelled metrics; every log's minutes are merged).
pub(crate) fn report(context: &mut Context<'_>) -> StageRun {
    let settings = context.settings()?.clone();
    let html = context.workflow()?.output_dir().join("report.html");
    let endpoint = recorded_endpoint(context)?;
    if endpoint.target != "local" {
        return Ok(StageResult::Skipped {
            why: "the Azure deployments' logs are remote: `monitor export` them, then `monitor report`"
                .to_owned(),
        });
    }
    let artifact = recorded_artifact(context)?;
    ensure_endpoint(context)?;
    let status = {
        let (runtime, target) = runtime_and_endpoint(context)?;
        runtime.block_on(target.status())?
    };
    let mut names: Vec<(u32, String)> = status
        .deployments
        .iter()
        .map(|d| {
            (
                status.traffic.get(&d.name).copied().unwrap_or(0),
                d.name.clone(),
            )
        })
        .collect();
    names.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let logs: Vec<PathBuf> = names
        .iter()
        .map(|(_, name)| deployment_log_path(settings.deploy(), name))
        .filter(|path| path.is_file())
        .collect();
    if logs.is_empty() {
        return Err(StageFailure::new(
            format!(
                "no prediction log of the endpoint's deployments under {}",
                settings.deploy().local.state_dir.join("monitor").display()
            ),
            NO_LOG_FIX,
        ));
    }
    let now = now_ms();
    let period = match &context.state.traffic {
        Some(traffic) => {
            wait_for_labels(&logs, &names, traffic, settings.deploy())?;
            LogPeriod {
                since_ms: traffic.started_ms - traffic.started_ms.rem_euclid(MINUTE_MS),
                until_ms: now_ms().saturating_add(1),
            }
        }
        None => LogPeriod::last(Duration::from_secs(3600), now),
    };
    let estimate = EstimateParams::from(&settings.monitor().estimate).check()?;
    let alerts = AlertParams::from(&settings.monitor().alerts).check()?;
    let drift = DriftParams::from(&settings.monitor().drift).check()?;
    let attribution = AttributionParams::from(&settings.monitor().attribution).check()?;
    let (_, data_params) = ensure_dataset(context)?;
    let input = ReportInput {
        logs: &logs,
        period,
        now_ms: period.until_ms.saturating_sub(1),
        model: Some(&artifact),
        model_search: None,
        reference: None,
        estimate: Some(&estimate),
        alerts: Some(&alerts),
        attribution: Some(&attribution),
    };
    let report = build_report(&input, data_params, &drift)?;
    let json = report.write(&html)?;
    let labelled = report
        .performance
        .as_ref()
        .and_then(|p| p.series.first())
        .map(|s| {
            format!(
                ", {} labelled",
                s.points.iter().map(|p| p.labelled).sum::<u64>()
            )
        })
        .unwrap_or_default();
    let figure = format!(
        "{} requests, {} rows{labelled} over {} log(s); {}",
        report.summary.requests,
        report.summary.rows,
        logs.len(),
        html.display()
    );
    context.state.report = Some(ReportOutput { html, json });
    context.save_state()?;
    Ok(StageResult::Passed { figure })
}

/// Waits (bounded) until each deployment's log holds the labels the traffic stage sent it: the
/// log writer commits in batches, so a report drawn at once could miss the last ones.
fn wait_for_labels(
    logs: &[PathBuf],
    names: &[(u32, String)],
    traffic: &crate::state::TrafficOutput,
    deploy: &finbeh_config::DeploySettings,
) -> Result<(), StageFailure> {
    let started = Instant::now();
    for (deployment, sent) in &traffic.labels {
        let path = deployment_log_path(deploy, deployment);
        if !logs.contains(&path) || !names.iter().any(|(_, n)| n == deployment) {
            continue;
        }
        loop {
            let query = LabelQuery {
                since_ms: traffic.started_ms,
                until_ms: now_ms().saturating_add(1),
                step_ms: MINUTE_MS,
            };
            let labelled = labelled_metrics(&path, &query)?.overall.labelled;
            if labelled >= *sent {
                break;
            }
            if started.elapsed() > LOG_COMMIT_WAIT {
                return Err(StageFailure::new(
                    format!(
                        "{} holds {labelled} of the {sent} labels sent to deployment {deployment} \
                         after {LOG_COMMIT_WAIT:?}",
                        path.display()
                    ),
                    "read the deployment's log for prediction-log errors \
                     (`cargo run --release --example deploy -- logs <deployment>`)",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}
