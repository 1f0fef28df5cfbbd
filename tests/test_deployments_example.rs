//! The `test_deployments` example against a real local endpoint (the `deploy` example's daemon
//! and deployment processes): every level passes on a fresh rollout; checking another artifact
//! fails the endpoint's and the deployment's golden set; `--url` without the secondary key
//! fails that check alone; no process is left behind. Needs the examples built, as
//! `cargo test` builds them.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::check_report::{failed, has_check};
use common::local_endpoint::{FAST_ROLLOUT, LocalEndpoint};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/finbeh-train/tests/fixtures")
        .join(name)
}

#[test]
fn test_deployments_checks_a_local_endpoint_level_by_level() {
    let model = fixture("model-v1.3.0.finbeh");
    let endpoint = LocalEndpoint::new(FAST_ROLLOUT, "");
    endpoint.rollout(&model);
    let model_arg = model.to_str().unwrap();

    let (ok, report) = endpoint.json(
        "test_deployments",
        &["--target", "local", "--model", model_arg],
    );
    assert!(ok, "{report:#}");
    assert_eq!(report["passed"], true);
    for (level, name) in [
        ("environment", "settings"),
        ("artifact", "golden set"),
        ("local", "score dataframe_records"),
        ("endpoint", "auth secondary key"),
        ("endpoint", "latency p99"),
        ("deployment", "blue state"),
        ("deployment", "blue golden set"),
    ] {
        assert!(
            has_check(&report, level, name),
            "{level} {name}: {report:#}"
        );
    }

    // Another artifact than the one serving 100 % of the traffic.
    let other = fixture("model-v1.0.0.finbeh");
    let (ok, report) = endpoint.json(
        "test_deployments",
        &["--target", "local", "--model", other.to_str().unwrap()],
    );
    assert!(!ok);
    let failed_checks = failed(&report);
    assert!(
        failed_checks.contains(&"deployment blue golden set".to_owned()),
        "{failed_checks:?}"
    );
    assert!(
        failed_checks
            .iter()
            .any(|c| c.starts_with("endpoint score ")),
        "{failed_checks:?}"
    );

    // --url with the primary key only: the secondary key check alone fails.
    let (primary, _) = endpoint.keys();
    let url = endpoint.url();
    let (ok, report) = endpoint.json(
        "test_deployments",
        &["--url", &url, "--key", &primary, "--model", model_arg],
    );
    assert!(!ok);
    assert_eq!(
        failed(&report),
        ["endpoint auth secondary key"],
        "{report:#}"
    );

    // The table, and the exit code without --json.
    let out = endpoint.run(
        "test_deployments",
        &["--target", "local", "--model", model_arg],
    );
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("PASS  deployment   blue golden set"),
        "{table}"
    );

    assert_eq!(endpoint.delete(), Vec::new(), "processes left");
}
