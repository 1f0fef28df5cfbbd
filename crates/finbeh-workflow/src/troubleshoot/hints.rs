//! Symptoms → causes → fixes, from the findings alone (so each hint is tested on a staged
//! fault): an unreachable endpoint, readiness never reached or a deployment down, 401, a model
//! not found, 429, and firing error-rate, drift or latency alerts.

use finbeh_config::{DeployTarget, ValidSettings};

use crate::checks::CheckOutcome;
use crate::troubleshoot::findings::{EndpointFinding, Hint, TroubleshootReport};

/// Provisioning states of a deployment that is not serving.
const DOWN_STATES: [&str; 4] = ["Failed", "Stopped", "Creating", "Canceled"];

/// Every hint the findings call for, in the order a user should act on them.
pub(crate) fn hints(report: &TroubleshootReport, settings: &ValidSettings) -> Vec<Hint> {
    let mut hints = Vec::new();
    if !report.model.not_found.is_empty() {
        hints.push(model_not_found(report));
    }
    if let Some(endpoint) = &report.endpoint {
        if let Some(hint) = unreachable(endpoint, settings) {
            hints.push(hint);
        }
        if let Some(hint) = not_ready(report, endpoint, settings) {
            hints.push(hint);
        }
        if let Some(hint) = unauthorized(report, endpoint) {
            hints.push(hint);
        }
        if let Some(hint) = saturated(endpoint, settings) {
            hints.push(hint);
        }
    }
    hints.extend(alert_hints(report));
    hints
}

fn hint(symptom: &str, seen: String, cause: &str, fix: Vec<String>) -> Hint {
    Hint {
        symptom: symptom.to_owned(),
        seen,
        cause: cause.to_owned(),
        fix,
    }
}

fn model_not_found(report: &TroubleshootReport) -> Hint {
    let mut fix: Vec<String> = report
        .model
        .not_found
        .iter()
        .map(|tried| format!("tried {tried}"))
        .collect();
    fix.extend([
        "name the artifact: --model PATH, or serve.model_path in finbeh.toml".to_owned(),
        "or train one: `train` writes it to model.output_dir".to_owned(),
        "in a container, mount it under AZUREML_MODEL_DIR (searched for *.finbeh files)".to_owned(),
    ]);
    hint(
        "model_not_found",
        "no model artifact was found".to_owned(),
        "the configured model path does not exist or holds no *.finbeh file",
        fix,
    )
}

fn unreachable(endpoint: &EndpointFinding, settings: &ValidSettings) -> Option<Hint> {
    let seen = match (
        &endpoint.status_error,
        endpoint.probes.iter().find(|p| p.status.is_none()),
    ) {
        (Some(error), _) => error.clone(),
        (None, Some(probe)) => format!("{}: {}", probe.request, probe.detail),
        (None, None) => return None,
    };
    let local = &settings.deploy().local;
    Some(hint(
        "unreachable",
        seen,
        "nothing answers at the endpoint's address: the endpoint is stopped, or the URL or port is wrong",
        vec![
            "`deploy status` shows the endpoint and its deployments; `deploy rollout --model PATH` creates one, `deploy start` restores a local one after a reboot".to_owned(),
            format!(
                "the local endpoint listens on deploy.local.port = {} (deployments on {} and {}); a plain `serve` on serve.port = {}",
                local.port,
                local.blue_port,
                local.green_port,
                settings.serve().port
            ),
        ],
    ))
}

fn not_ready(
    report: &TroubleshootReport,
    endpoint: &EndpointFinding,
    settings: &ValidSettings,
) -> Option<Hint> {
    let readiness = endpoint
        .probe("GET /health/ready")
        .filter(|p| matches!(p.status, Some(502..=504)));
    let down: Vec<String> = endpoint
        .deployments
        .iter()
        .filter(|d| {
            DOWN_STATES.contains(&d.state.as_str())
                || d.detail.as_deref().is_some_and(|t| t.contains("restart"))
        })
        .map(|d| {
            format!(
                "{} is {}{}",
                d.name,
                d.state,
                d.detail
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if readiness.is_none() && down.is_empty() {
        return None;
    }
    let mut seen: Vec<String> = readiness
        .map(|p| {
            let status = p.status.unwrap_or_default();
            format!("{} → {status} {}", p.request, p.detail)
        })
        .into_iter()
        .collect();
    seen.extend(down);
    let mut fix = vec![
        artifact_verdict(report),
        golden_verdict(&report.model.checks),
    ];
    match settings.deploy().target {
        DeployTarget::Azure => fix.push(format!(
            "image: deploy.azure.image = {}; the container must serve on port 5001 (the Dockerfile's EXPOSE) and find the model under AZUREML_MODEL_DIR",
            settings
                .deploy()
                .azure
                .image
                .as_deref()
                .unwrap_or("(unset: required to deploy)")
        )),
        _ => fix.push(format!(
            "ports: deployments listen on deploy.local.blue_port = {} and green_port = {}; another process on one of them keeps a deployment from starting",
            settings.deploy().local.blue_port,
            settings.deploy().local.green_port
        )),
    }
    fix.push(
        "read the deployment's log (below, or `deploy logs NAME --tail 100`): a refused artifact names the check that failed".to_owned(),
    );
    Some(hint(
        "readiness",
        seen.join("; "),
        "a deployment crashed or never became ready: its model did not load or verify",
        fix,
    ))
}

fn artifact_verdict(report: &TroubleshootReport) -> String {
    let path = report
        .model
        .path
        .as_ref()
        .map_or_else(|| "(none found)".to_owned(), |p| p.display().to_string());
    match report.model.checks.iter().find(|c| !c.passed) {
        None if report.model.checks.is_empty() => {
            format!("artifact check: no artifact to check ({path})")
        }
        None => format!(
            "artifact check: {path} passes (checksum, format version, structure): serve this file, or re-register it if the endpoint holds another"
        ),
        Some(failed) => format!(
            "artifact check: {path} fails its {} check: {}; re-copy the file or retrain",
            failed.name, failed.detail
        ),
    }
}

fn golden_verdict(checks: &[CheckOutcome]) -> String {
    match checks.iter().find(|c| c.name == "golden set") {
        Some(golden) if golden.passed => format!("golden set: {}", golden.detail),
        Some(golden) => format!(
            "golden set: {} (a server refuses an artifact that does not reproduce it)",
            golden.detail
        ),
        None => "golden set: not checked".to_owned(),
    }
}

fn unauthorized(report: &TroubleshootReport, endpoint: &EndpointFinding) -> Option<Hint> {
    let probe = endpoint
        .probes
        .iter()
        .find(|p| p.status == Some(401))
        .map(|p| format!("{} → 401", p.request));
    let logged = report.errors.iter().filter(|e| e.status == 401).count();
    let seen = match (probe, logged) {
        (Some(probe), _) => probe,
        (None, 0) => return None,
        (None, n) => format!("{n} logged requests answered 401"),
    };
    Some(hint(
        "unauthorized",
        seen,
        "the request carried no key or a key the endpoint does not hold (a rotated key, the other endpoint's key)",
        vec![
            "`deploy keys` shows the endpoint's primary and secondary keys; send `Authorization: Bearer <key>`".to_owned(),
            "rotate without downtime: move clients to the secondary key, `deploy keys --regenerate primary`, move them back, then regenerate the secondary".to_owned(),
            "a plain `serve` takes its keys from serve.primary_key and serve.secondary_key (or FINBEH__SERVE__PRIMARY_KEY)".to_owned(),
        ],
    ))
}

fn saturated(endpoint: &EndpointFinding, settings: &ValidSettings) -> Option<Hint> {
    let probe = endpoint
        .probes
        .iter()
        .find(|p| p.status == Some(429))
        .map(|p| format!("{} → 429", p.request));
    let counted = endpoint.refused_429.filter(|&n| n > 0);
    let seen = match (probe, counted) {
        (Some(probe), Some(n)) => format!("{probe}; {n} requests refused with 429 since start"),
        (Some(probe), None) => probe,
        (None, Some(n)) => format!("{n} requests refused with 429 since start (/metrics)"),
        (None, None) => return None,
    };
    Some(hint(
        "saturated",
        seen,
        "more scoring requests arrived at once than the server admits; the rest are refused with 429",
        vec![
            format!(
                "raise serve.max_concurrent_requests (now {}), or on Azure deploy.azure.deployment.max_concurrent_requests_per_instance (now {}) and the instance count",
                settings.serve().max_concurrent_requests,
                settings
                    .deploy()
                    .azure
                    .deployment
                    .max_concurrent_requests_per_instance
            ),
            "clients should retry a 429 after a short, growing pause".to_owned(),
            "send rows in batches (one request scores many) instead of one request per row"
                .to_owned(),
        ],
    ))
}

fn alert_hints(report: &TroubleshootReport) -> Vec<Hint> {
    report
        .alerts
        .iter()
        .filter(|a| a.phase == "firing")
        .map(|alert| {
            let seen = format!(
                "alert {} ({}) is firing: {} = {} (rule {})",
                alert.rule,
                alert.severity,
                alert.metric,
                alert.value.map_or_else(|| "no data".to_owned(), |v| format!("{v:.4}")),
                alert.condition
            );
            match alert.metric.as_str() {
                "error_rate" | "server_error_rate" => {
                    let mut codes: Vec<String> = report
                        .errors
                        .iter()
                        .map(|e| {
                            format!("{} {}", e.status, e.error_code.as_deref().unwrap_or("-"))
                        })
                        .collect();
                    codes.sort();
                    codes.dedup();
                    hint(
                        "error_rate_alert",
                        seen,
                        "requests are failing: 4xx are clients sending what the model does not accept, 5xx are server faults",
                        vec![
                            format!(
                                "the last errors (above) by status and code: {}",
                                if codes.is_empty() { "none logged".to_owned() } else { codes.join(", ") }
                            ),
                            "4xx: compare the clients' records with /swagger.json (docs/api.md lists each error code)".to_owned(),
                            "5xx: read the deployment's log (`deploy logs NAME`) and run test_deployments".to_owned(),
                            "`monitor report --since 1h --out report.html` shows when it started".to_owned(),
                        ],
                    )
                }
                "positive_rate" | "mean_probability" => hint(
                    "drift_alert",
                    seen,
                    "the model's predictions moved: its inputs drifted from the training data, or the population changed",
                    vec![
                        "`monitor drift --since 1h` ranks the drifted input columns (against the artifact's reference sample)".to_owned(),
                        "`monitor report --since 24h --out report.html` shows drift, the score distribution and, with labels, accuracy against the estimate".to_owned(),
                        "if the inputs moved for good, retrain on recent data and roll the new model out (`deploy rollout`)".to_owned(),
                    ],
                ),
                _ => hint(
                    "latency_alert",
                    seen,
                    "requests take longer than the rule allows: the server is saturated, or requests carry many rows",
                    vec![
                        "test_deployments measures the p99 of single-record requests against testing.deployments.max_p99_ms".to_owned(),
                        "/metrics shows requests in flight and refusals; raise serve.worker_threads or add instances".to_owned(),
                    ],
                ),
            }
        })
        .collect()
}
