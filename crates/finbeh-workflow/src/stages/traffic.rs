//! Stage 10: a burst of held-out records through the endpoint, then their labels to the
//! monitor (`POST /labels`, pinned to the deployment that scored each record).

use std::collections::BTreeMap;

use finbeh_data::{RawValue, stratified_split};
use finbeh_monitor::now_ms;
use finbeh_train::ModelArtifact;

use crate::burst::{Answer, Call, Client};
use crate::deployment::NO_LOG_FIX;
use crate::runner::{Context, StageRun};
use crate::stage::{StageFailure, StageResult};
use crate::stages::deploy::{ensure_endpoint, recorded_endpoint, runtime_and_endpoint};
use crate::stages::prepare::{ensure_dataset, recorded_artifact};
use crate::state::TrafficOutput;

/// A label waiting to be sent: the request and row it belongs to, and the true class.
struct PendingLabel {
    request_id: String,
    row: usize,
    label: String,
}

/// Stage 10: up to `workflow.traffic_records` rows of the held-out split (the split training
/// used, so no training row), `traffic_rows_per_request` per request, `traffic_concurrency` in
/// flight; then each record's true class to `/labels` of the deployment that scored it.
pub(crate) fn traffic(context: &mut Context<'_>) -> StageRun {
    let settings = context.settings()?.clone();
    let workflow = context.workflow()?.clone();
    let endpoint = recorded_endpoint(context)?;
    if endpoint.target != "local" {
        return Ok(StageResult::Skipped {
            why: format!(
                "the {} target's deployments keep their prediction logs remotely; send traffic \
                 with `deploy invoke`",
                endpoint.target
            ),
        });
    }
    let per_request = workflow.rows_per_request();
    let max_rows = settings.serve().max_rows_per_request;
    if per_request > max_rows {
        return Err(StageFailure::new(
            format!(
                "workflow.traffic_rows_per_request = {per_request} is more than the endpoint takes \
                 (serve.max_rows_per_request = {max_rows})"
            ),
            "lower workflow.traffic_rows_per_request or raise serve.max_rows_per_request",
        ));
    }
    let artifact = ModelArtifact::read(recorded_artifact(context)?)?;
    ensure_endpoint(context)?;
    let key = {
        let (runtime, target) = runtime_and_endpoint(context)?;
        runtime.block_on(target.keys())?.primary_key
    };
    let model = settings.model();
    let (dataset, _) = ensure_dataset(context)?;
    let (_, held_out) = stratified_split(&dataset.y, model.test_size, model.random_state);
    let rows: Vec<usize> = held_out
        .into_iter()
        .take(workflow.traffic_records())
        .collect();
    if rows.is_empty() {
        return Err(StageFailure::new(
            "the held-out split is empty",
            "raise model.test_size or use a larger data set",
        ));
    }
    let run_id = now_ms();
    let mut calls = Vec::with_capacity(rows.len().div_ceil(per_request));
    let mut pending: Vec<Vec<PendingLabel>> = Vec::with_capacity(calls.capacity());
    for (index, chunk) in rows.chunks(per_request).enumerate() {
        let request_id = format!("workflow-{run_id}-{index}");
        let mut records = Vec::with_capacity(chunk.len());
        let mut labels = Vec::with_capacity(chunk.len());
        for (position, &row) in chunk.iter().enumerate() {
            let record = artifact.pipeline().raw_record(&dataset.table, row)?;
            records.push(record.iter().map(to_json).collect::<Vec<_>>());
            let class = dataset
                .y
                .get(row)
                .and_then(|&c| dataset.classes.get(c))
                .cloned()
                .unwrap_or_default();
            labels.push(PendingLabel {
                request_id: request_id.clone(),
                row: position,
                label: class,
            });
        }
        let body = serde_json::to_vec(&serde_json::json!({ "data": records }))
            .map_err(|e| StageFailure::new(format!("encoding a request: {e}"), "report a bug"))?;
        calls.push(Call { request_id, body });
        pending.push(labels);
    }

    if let Some(first) = calls.first() {
        let sample = workflow.output_dir().join("request.json");
        std::fs::write(&sample, &first.body).map_err(|source| crate::WorkflowError::Io {
            path: sample.clone(),
            source,
        })?;
    }
    let client = Client::new(&key);
    let started_ms = now_ms();
    let answers = client.send_all(&endpoint.url, &calls, workflow.concurrency());
    let mut latencies = Vec::with_capacity(answers.len());
    let mut by_deployment: BTreeMap<String, Vec<PendingLabel>> = BTreeMap::new();
    for (answer, labels) in answers.into_iter().zip(pending) {
        let Answer {
            status,
            deployment,
            body,
            ms,
        } = answer.map_err(|reason| {
            StageFailure::new(
                format!("a scoring request got no answer: {reason}"),
                "check the endpoint (`cargo run --release --example deploy -- status`)",
            )
        })?;
        if status >= 300 {
            return Err(StageFailure::new(
                format!(
                    "{} answered a held-out request with {status}: {}",
                    endpoint.url,
                    body.chars().take(300).collect::<String>()
                ),
                "read the deployment's log (`cargo run --release --example deploy -- logs <deployment>`)",
            ));
        }
        latencies.push(ms);
        let deployment = deployment.unwrap_or_else(|| endpoint.deployment.clone());
        by_deployment.entry(deployment).or_default().extend(labels);
    }

    let labels_url = labels_url(&endpoint.url);
    let mut accepted = BTreeMap::new();
    for (deployment, labels) in &by_deployment {
        for chunk in labels.chunks(max_rows) {
            let entries: Vec<serde_json::Value> = chunk
                .iter()
                .map(|l| {
                    serde_json::json!({"request_id": l.request_id, "row": l.row, "label": l.label})
                })
                .collect();
            let body = serde_json::to_vec(&serde_json::json!({ "labels": entries }))
                .map_err(|e| StageFailure::new(format!("encoding labels: {e}"), "report a bug"))?;
            let answer = client
                .post(&labels_url, &body, None, Some(deployment))
                .map_err(|reason| {
                    StageFailure::new(
                        format!("the labels got no answer: {reason}"),
                        "check the endpoint (`deploy status`)",
                    )
                })?;
            if answer.status >= 300 {
                return Err(StageFailure::new(
                    format!(
                        "{labels_url} (deployment {deployment}) refused the labels with {}: {}",
                        answer.status,
                        answer.body.chars().take(300).collect::<String>()
                    ),
                    if answer.status == 404 {
                        NO_LOG_FIX
                    } else {
                        "read the deployment's log \
                         (`cargo run --release --example deploy -- logs <deployment>`)"
                    },
                ));
            }
            *accepted.entry(deployment.clone()).or_insert(0u64) += chunk.len() as u64;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let p = |q: f64| {
        let rank = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies.get(rank).copied().unwrap_or(0.0)
    };
    let figure = format!(
        "{} held-out records in {} requests (p50 {:.1} ms, p99 {:.1} ms), labels to {}",
        rows.len(),
        calls.len(),
        p(0.5),
        p(0.99),
        accepted
            .iter()
            .map(|(d, n)| format!("{d}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    context.state.traffic = Some(TrafficOutput {
        started_ms,
        finished_ms: now_ms(),
        records: rows.len() as u64,
        labels: accepted,
    });
    context.save_state()?;
    Ok(StageResult::Passed { figure })
}

/// `.../score` → `.../labels`.
fn labels_url(score_url: &str) -> String {
    let base = score_url.trim_end_matches('/');
    let base = base.strip_suffix("/score").unwrap_or(base);
    format!("{base}/labels")
}

fn to_json(value: &RawValue<'_>) -> serde_json::Value {
    match value {
        RawValue::Missing => serde_json::Value::Null,
        RawValue::Bool(b) => serde_json::Value::Bool(*b),
        RawValue::Text(t) => serde_json::Value::String(t.to_string()),
        RawValue::Number(x) => serde_json::Number::from_f64(*x)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_go_next_to_score() {
        assert_eq!(
            labels_url("http://127.0.0.1:5100/score"),
            "http://127.0.0.1:5100/labels"
        );
        assert_eq!(labels_url("http://h:1/"), "http://h:1/labels");
    }
}
