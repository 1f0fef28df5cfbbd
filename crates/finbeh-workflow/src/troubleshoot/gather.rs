//! Gathers the troubleshooter's findings: versions, the redacted settings, the artifact, the
//! endpoint (probes, `/metrics`, each deployment and its log) and the monitor's logs.

use std::path::PathBuf;

use finbeh_config::ValidSettings;
use finbeh_deploy::{DeploymentTarget, EndpointStatus};
use finbeh_monitor::{
    AlertEvaluator, AlertParams, MetricsReader, TrafficFilter, metric_name, now_ms, recent_errors,
    severity_name,
};
use finbeh_serve::ServeError;

use crate::checks::{
    Call, EndpointUnderTest, Golden, HttpTransport, Transport, Versions, artifact_checks, base_url,
    error_code, excerpt, find_model,
};
use crate::error::WorkflowError;
use crate::troubleshoot::findings::{
    AlertFinding, DeploymentFinding, DeploymentLog, EndpointFinding, ModelFinding, ProbeFinding,
    TROUBLESHOOT_REPORT_VERSION, TroubleshootReport,
};
use crate::troubleshoot::hints::hints;

/// Lines of each deployment's log and logged errors shown by default.
pub const DEFAULT_LAST: usize = 20;

/// What to look at.
#[derive(Debug, Clone, Default)]
pub struct TroubleshootOptions {
    /// The artifact (`--model`); else found as `serve` finds it.
    pub model: Option<PathBuf>,
    /// Prediction logs (`--database`, repeatable); empty reads `monitor.database_path`.
    pub databases: Vec<PathBuf>,
    /// How many logged errors and log lines to show.
    pub last: usize,
    /// An endpoint given by URL and keys (`--url`); a target's endpoint is found by
    /// [`troubleshoot_target`].
    pub endpoint: Option<EndpointUnderTest>,
}

/// Troubleshoots the artifact, the monitor's logs and, with `options.endpoint`, an endpoint
/// given by URL. Blocking (HTTP probes with a timeout of
/// `testing.deployments.request_timeout_ms`).
///
/// ```
/// use finbeh_config::Settings;
/// use finbeh_workflow::{TroubleshootOptions, troubleshoot};
///
/// let dir = tempfile::tempdir()?;
/// let mut settings = Settings::default();
/// settings.serve.model_path = Some(dir.path().join("missing.finbeh"));
/// settings.monitor.database_path = dir.path().join("monitor.sqlite");
/// let report = troubleshoot(&settings.check()?, &TroubleshootOptions::default());
/// let hint = &report.hints[0];
/// assert_eq!(hint.symptom, "model_not_found");
/// assert!(hint.fix[0].contains("missing.finbeh"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn troubleshoot(settings: &ValidSettings, options: &TroubleshootOptions) -> TroubleshootReport {
    let mut report = gather(settings, options);
    report.hints = hints(&report, settings);
    report
}

/// [`troubleshoot`] for a deployment target's endpoint: its status with each deployment's
/// provisioning state, its keys for the probes, and the last lines of each deployment's log.
pub async fn troubleshoot_target<T: DeploymentTarget>(
    settings: &ValidSettings,
    options: &TroubleshootOptions,
    target: &T,
) -> TroubleshootReport {
    let status = target.status().await;
    let keys = target.list_keys().await.ok();
    let mut options = options.clone();
    if let Ok(status) = &status {
        options.endpoint = Some(EndpointUnderTest {
            url: status.endpoint.url.clone(),
            primary_key: keys
                .as_ref()
                .map(|k| finbeh_config::Secret::new(k.primary_key.clone())),
            secondary_key: keys
                .as_ref()
                .map(|k| finbeh_config::Secret::new(k.secondary_key.clone())),
        });
    }
    let mut logs = Vec::new();
    if let Ok(status) = &status {
        for deployment in &status.deployments {
            let lines = match target.logs(&deployment.name, options.last.max(1)).await {
                Ok(lines) => lines,
                Err(error) => format!("(no log: {error})"),
            };
            logs.push(DeploymentLog {
                deployment: deployment.name.clone(),
                lines,
            });
        }
    }
    // Blocking probes on a thread of their own, so this executor stays free.
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let settings_owned = settings.clone();
    let options_owned = options.clone();
    std::thread::spawn(move || {
        let _ = sender.send(gather(&settings_owned, &options_owned));
    });
    let mut report = match receiver.await {
        Ok(report) => report,
        Err(_) => gather_without_endpoint(settings, &options),
    };
    let endpoint = report.endpoint.get_or_insert_with(|| EndpointFinding {
        url: String::new(),
        state: None,
        status_error: None,
        probes: Vec::new(),
        refused_429: None,
        deployments: Vec::new(),
    });
    match &status {
        Ok(status) => describe_status(endpoint, status),
        Err(error) => {
            endpoint.status_error = Some(format!("endpoint {}: {error}", target.endpoint_name()));
        }
    }
    report.logs = logs;
    report.hints = hints(&report, settings);
    report
}

fn gather_without_endpoint(
    settings: &ValidSettings,
    options: &TroubleshootOptions,
) -> TroubleshootReport {
    let options = TroubleshootOptions {
        endpoint: None,
        ..options.clone()
    };
    gather(settings, &options)
}

fn describe_status(endpoint: &mut EndpointFinding, status: &EndpointStatus) {
    endpoint.state = Some(status.endpoint.state.to_string());
    endpoint.deployments = status
        .deployments
        .iter()
        .map(|d| DeploymentFinding {
            name: d.name.clone(),
            state: d.state.to_string(),
            model: format!("{} {}", d.model.name, d.model.version),
            traffic: status.traffic.get(&d.name).copied().unwrap_or(0),
            detail: d.detail.clone(),
        })
        .collect();
}

fn gather(settings: &ValidSettings, options: &TroubleshootOptions) -> TroubleshootReport {
    let (model, golden) = model_finding(settings, options);
    let endpoint = options
        .endpoint
        .as_ref()
        .map(|endpoint| probe_endpoint(settings, endpoint, golden.as_ref()));
    let databases = if options.databases.is_empty() {
        vec![settings.monitor().database_path.clone()]
    } else {
        options.databases.clone()
    };
    let (errors, alerts, monitor_unavailable) = match read_monitor(settings, &databases, options) {
        Ok((errors, alerts)) => (errors, alerts, None),
        Err(error) => (Vec::new(), Vec::new(), Some(error.to_string())),
    };
    TroubleshootReport {
        version: TROUBLESHOOT_REPORT_VERSION,
        versions: Versions::of_this_build(),
        config: settings.to_toml_redacted(),
        model,
        endpoint,
        databases,
        monitor_unavailable,
        errors,
        alerts,
        logs: Vec::new(),
        hints: Vec::new(),
    }
}

fn model_finding(
    settings: &ValidSettings,
    options: &TroubleshootOptions,
) -> (ModelFinding, Option<Golden>) {
    match find_model(settings, options.model.as_deref()) {
        Ok(path) => {
            let (checks, artifact) = artifact_checks(&path);
            let golden = artifact.as_ref().and_then(|a| Golden::of(a).ok());
            let finding = ModelFinding {
                path: Some(path),
                not_found: Vec::new(),
                checks,
            };
            (finding, golden)
        }
        Err(error) => {
            let not_found = match error {
                WorkflowError::Serve(ServeError::NoModelLoaded { tried }) => {
                    tried.iter().map(ToString::to_string).collect()
                }
                WorkflowError::Serve(ServeError::NoModelSource) => vec![
                    "nothing names a model: no --model, serve.model_path is unset and model.output_dir holds no artifact".to_owned(),
                ],
                other => vec![other.to_string()],
            };
            let finding = ModelFinding {
                path: None,
                not_found,
                checks: Vec::new(),
            };
            (finding, None)
        }
    }
}

fn probe_endpoint(
    settings: &ValidSettings,
    endpoint: &EndpointUnderTest,
    golden: Option<&Golden>,
) -> EndpointFinding {
    let timeout =
        std::time::Duration::from_millis(settings.testing().deployments.request_timeout_ms.max(1));
    let transport = HttpTransport::new(&endpoint.url, timeout);
    let key = endpoint
        .primary_key
        .as_ref()
        .map(finbeh_config::Secret::expose);
    let probe = |request: String, call: Call<'_>| {
        let (status, detail) = match transport.send(&call) {
            Ok(answer) => {
                let detail = match error_code(&answer.body) {
                    Some(code) => format!("{code}: {}", excerpt(&answer.body)),
                    None if answer.status < 300 => "ok".to_owned(),
                    None => excerpt(&answer.body),
                };
                (Some(answer.status), detail)
            }
            Err(reason) => (None, reason),
        };
        ProbeFinding {
            request,
            status,
            detail,
        }
    };
    let mut probes = vec![
        probe(
            "GET /health/live".to_owned(),
            Call::get("/health/live", key),
        ),
        probe(
            "GET /health/ready".to_owned(),
            Call::get("/health/ready", key),
        ),
    ];
    if let Some(golden) = golden {
        let body = golden.first_record_body();
        probes.push(probe(
            "POST /score (a golden record)".to_owned(),
            Call::post("/score", &body, key),
        ));
    }
    let refused_429 = transport
        .send(&Call::get("/metrics", key))
        .ok()
        .filter(|answer| answer.status == 200)
        .and_then(|answer| refused_with_429(&String::from_utf8_lossy(&answer.body)));
    EndpointFinding {
        url: base_url(&endpoint.url),
        state: None,
        status_error: None,
        probes,
        refused_429,
        deployments: Vec::new(),
    }
}

/// Sum of `finbeh_http_requests_total{..., status="429"}` in a Prometheus text page.
fn refused_with_429(metrics: &str) -> Option<u64> {
    let mut seen = false;
    let total = metrics
        .lines()
        .filter(|line| {
            line.starts_with("finbeh_http_requests_total{") && line.contains("status=\"429\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .inspect(|_| seen = true)
        .map(|value| value.max(0.0) as u64)
        .sum();
    seen.then_some(total)
}

type MonitorFindings = (Vec<finbeh_monitor::LoggedError>, Vec<AlertFinding>);

fn read_monitor(
    settings: &ValidSettings,
    databases: &[PathBuf],
    options: &TroubleshootOptions,
) -> Result<MonitorFindings, WorkflowError> {
    let errors = recent_errors(databases, options.last)?;
    let params = AlertParams::from(&settings.monitor().alerts).check()?;
    let reader = MetricsReader::open(databases)?;
    let service = &settings.deploy().local.endpoint_name;
    // Evaluated, never saved: the alert loop's own state is left as it is.
    let mut evaluator = AlertEvaluator::open(&params, service)?;
    let evaluation = evaluator.evaluate(now_ms(), &(&reader, &TrafficFilter::default()))?;
    let alerts = params
        .rules()
        .iter()
        .zip(&evaluation.rules)
        .map(|(rule, status)| AlertFinding {
            rule: rule.name.clone(),
            metric: metric_name(rule.metric).to_owned(),
            severity: severity_name(rule.severity).to_owned(),
            phase: serde_json::to_value(status.phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            value: status.value,
            condition: format!("{} {}", rule.comparison.symbol(), rule.threshold),
        })
        .collect();
    Ok((errors, alerts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_429_sums_the_score_and_labels_routes() {
        let page = "# TYPE finbeh_http_requests_total counter\n\
            finbeh_http_requests_total{route=\"/score\",status=\"200\"} 10\n\
            finbeh_http_requests_total{route=\"/score\",status=\"429\"} 3\n\
            finbeh_http_requests_total{route=\"/labels\",status=\"429\"} 1\n";
        assert_eq!(refused_with_429(page), Some(4));
        assert_eq!(refused_with_429("up 1\n"), None);
    }
}
