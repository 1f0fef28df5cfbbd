//! `test_deployments`: the checks a model and its endpoint must pass, level by level
//! ([`CheckLevel`]): environment and config, artifact compatibility, local predictions, the
//! endpoint over HTTP and each deployment pinned with the deployment header.

mod artifact;
mod deployments;
mod endpoint;
mod environment;
mod golden;
mod model_path;
mod params;
mod report;
mod scoring;
mod target;
mod transport;
mod versions;

use std::path::{Path, PathBuf};

use finbeh_config::{Secret, ValidSettings};
use finbeh_deploy::DeploymentTarget;

pub use endpoint::EndpointUnderTest;
pub use environment::settings_refused;
pub use model_path::find_model;
pub use params::{DeploymentCheckParams, DeploymentCheckValidParams};
pub use report::{CHECK_REPORT_VERSION, CheckLevel, CheckOutcome, CheckReport};
pub use target::EndpointTarget;
pub use versions::Versions;

pub(crate) use artifact::artifact_checks;
pub(crate) use golden::{Golden, error_code, excerpt};
pub(crate) use transport::{Call, HttpTransport, Transport, base_url};

use report::CheckLevel as Level;
use transport::InProcess;

/// Runs every level that applies, blocking: environment, artifact and local predictions for
/// `model`, then, with an `endpoint`, the endpoint checks over HTTP. Call it outside an async
/// context (it runs finbeh-serve's router in process on a runtime of its own); from async code
/// use [`run_target_checks`] or a thread.
///
/// ```
/// use finbeh_config::Settings;
/// use finbeh_workflow::{CheckLevel, run_checks};
///
/// let settings = Settings::default().check()?;
/// let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
///     .join("../finbeh-train/tests/fixtures/model-v1.3.0.finbeh");
/// let report = run_checks(&settings, &model, None);
/// assert!(report.passed(), "{report}");
/// let golden = report.check(CheckLevel::Artifact, "golden set").unwrap();
/// assert!(golden.detail.contains("re-scored bit for bit"));
/// // Every input form, scored in process by finbeh-serve's own router.
/// assert!(report.level(CheckLevel::Local).all(|check| check.passed));
/// # Ok::<(), finbeh_config::ConfigError>(())
/// ```
pub fn run_checks(
    settings: &ValidSettings,
    model: &Path,
    endpoint: Option<&EndpointUnderTest>,
) -> CheckReport {
    run_levels(settings, model, endpoint).0
}

/// [`run_checks`] against a deployment target's endpoint (its URL and both keys from the
/// target), then the deployment level: each deployment's provisioning state and the golden set
/// pinned to it.
pub async fn run_target_checks<T: DeploymentTarget>(
    settings: &ValidSettings,
    model: &Path,
    target: &T,
) -> CheckReport {
    let status = target.status().await;
    let keys = target.list_keys().await;
    let endpoint = status.as_ref().ok().map(|status| EndpointUnderTest {
        url: status.endpoint.url.clone(),
        primary_key: keys
            .as_ref()
            .ok()
            .map(|k| Secret::new(k.primary_key.clone())),
        secondary_key: keys
            .as_ref()
            .ok()
            .map(|k| Secret::new(k.secondary_key.clone())),
    });
    // The blocking levels run on a thread of their own: no runtime context there, and this
    // executor stays free (a test may serve the endpoint on it).
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let (settings_owned, model_owned): (ValidSettings, PathBuf) =
        (settings.clone(), model.to_path_buf());
    std::thread::spawn(move || {
        let _ = sender.send(run_levels(&settings_owned, &model_owned, endpoint.as_ref()));
    });
    let Ok((mut report, golden)) = receiver.await else {
        let mut report = CheckReport::default();
        report.extend([CheckOutcome::fail(
            Level::Environment,
            "checks",
            "the checking thread stopped before it reported",
        )]);
        return report;
    };
    match (&status, &keys) {
        (Err(error), _) => report.extend([CheckOutcome::fail(
            Level::Endpoint,
            "status",
            format!("endpoint {}: {error}", target.endpoint_name()),
        )]),
        (Ok(_), Err(error)) => report.extend([CheckOutcome::fail(
            Level::Endpoint,
            "keys",
            format!("endpoint {}: {error}", target.endpoint_name()),
        )]),
        _ => {}
    }
    if let (Ok(status), Some(golden)) = (&status, &golden) {
        report.extend(deployments::deployment_checks(target, status, golden).await);
    }
    report
}

fn run_levels(
    settings: &ValidSettings,
    model: &Path,
    endpoint: Option<&EndpointUnderTest>,
) -> (CheckReport, Option<Golden>) {
    let mut report = CheckReport {
        endpoint: endpoint.map(|e| base_url(&e.url)),
        ..CheckReport::default()
    };
    report.extend(environment::environment_checks(settings, model));
    let params = match DeploymentCheckParams::from(&settings.testing().deployments).check() {
        Ok(params) => params,
        Err(error) => {
            report.extend([CheckOutcome::fail(
                Level::Environment,
                "testing.deployments",
                error.to_string(),
            )]);
            return (report, None);
        }
    };
    let (checks, artifact) = artifact_checks(model);
    report.extend(checks);
    let golden = artifact.as_ref().map(Golden::of);
    let golden = match golden {
        Some(Ok(golden)) => golden,
        Some(Err(reason)) => {
            report.extend([CheckOutcome::fail(Level::Artifact, "golden set", reason)]);
            return (report, None);
        }
        None => {
            let skipped =
                |level| CheckOutcome::fail(level, "not checked", "the artifact failed its checks");
            report.extend([skipped(Level::Local)]);
            if endpoint.is_some() {
                report.extend([skipped(Level::Endpoint)]);
            }
            return (report, None);
        }
    };
    report.extend(local_checks(settings, model, &golden));
    if let Some(endpoint) = endpoint {
        let transport = HttpTransport::new(&endpoint.url, params.request_timeout());
        report.extend(endpoint::endpoint_checks(
            &transport, endpoint, &golden, &params,
        ));
    }
    (report, Some(golden))
}

/// The golden set through finbeh-serve's router in process, in every input form.
fn local_checks(settings: &ValidSettings, model: &Path, golden: &Golden) -> Vec<CheckOutcome> {
    let started = std::time::Instant::now();
    // A fresh thread: the in-process router gets a runtime of its own wherever this runs.
    std::thread::scope(|scope| {
        scope
            .spawn(|| match InProcess::new(settings.serve(), model) {
                Ok(server) => {
                    let mut checks = vec![
                        CheckOutcome::pass(
                            Level::Local,
                            "in-process server",
                            "finbeh-serve's router loaded the artifact",
                        )
                        .timed(started),
                    ];
                    checks.extend(scoring::score_every_form(
                        Level::Local,
                        &server,
                        golden,
                        None,
                    ));
                    checks
                }
                Err(error) => vec![
                    CheckOutcome::fail(Level::Local, "in-process server", error.to_string())
                        .timed(started),
                ],
            })
            .join()
            .unwrap_or_else(|_| {
                vec![CheckOutcome::fail(
                    Level::Local,
                    "in-process server",
                    "the in-process server panicked",
                )]
            })
    })
}
