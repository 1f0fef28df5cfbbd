//! The `troubleshoot` example against a real local endpoint: a healthy endpoint shows each
//! deployment's state and log and no symptom; then blue's model file is corrupted and its
//! process killed, so the restarted deployment cannot load its model, and the readiness hint
//! names the artifact check and the ports. No process is left behind. Needs the examples built,
//! as `cargo test` builds them.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::local_endpoint::{FAST_ROLLOUT, LocalEndpoint};
use serde_json::Value;

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/finbeh-train/tests/fixtures/model-v1.3.0.finbeh")
}

fn symptoms(report: &Value) -> Vec<String> {
    report["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["symptom"].as_str().unwrap().to_owned())
        .collect()
}

/// Pid and `--model` path of the deployment process `name`.
fn deployment_process(endpoint: &LocalEndpoint, name: &str) -> (i32, PathBuf) {
    for (pid, _) in endpoint.processes() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_it = args.windows(2).any(|w| w[0] == "--name" && w[1] == name)
            && args.iter().any(|a| a == "serve-deployment");
        if let (true, Some(at)) = (is_it, args.iter().position(|a| a == "--model")) {
            return (pid, PathBuf::from(&args[at + 1]));
        }
    }
    panic!("no deployment process {name}");
}

#[test]
fn troubleshoot_reports_a_local_endpoint_and_a_deployment_that_cannot_load_its_model() {
    let endpoint = LocalEndpoint::new(FAST_ROLLOUT, "");
    endpoint.rollout(&model());
    let model_arg = model();
    let model_arg = model_arg.to_str().unwrap();

    let (ok, report) = endpoint.json("troubleshoot", &["--target", "local", "--model", model_arg]);
    assert!(ok, "{report:#}");
    assert_eq!(symptoms(&report), Vec::<String>::new());
    assert_eq!(report["endpoint"]["state"], "Succeeded");
    assert_eq!(report["endpoint"]["deployments"][0]["name"], "blue");
    assert_eq!(report["endpoint"]["deployments"][0]["state"], "Succeeded");
    assert_eq!(report["logs"][0]["deployment"], "blue");
    assert!(!report["logs"][0]["lines"].as_str().unwrap().is_empty());

    // Blue's artifact is damaged on disk, then its process dies: the restart cannot load it.
    let (pid, registered) = deployment_process(&endpoint, "blue");
    let mut permissions = std::fs::metadata(&registered).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&registered, permissions).unwrap();
    std::fs::write(&registered, b"damaged").unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let report = loop {
        let (ok, report) =
            endpoint.json("troubleshoot", &["--target", "local", "--model", model_arg]);
        if symptoms(&report).contains(&"readiness".to_owned()) {
            assert!(!ok);
            break report;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{report:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let hint = report["hints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["symptom"] == "readiness")
        .unwrap();
    let fix = hint["fix"].to_string();
    assert!(fix.contains("artifact check"), "{hint:#}");
    assert!(fix.contains("blue_port"), "{hint:#}");
    // The text form too.
    let out = endpoint.run("troubleshoot", &["--target", "local", "--model", model_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[readiness]"), "{text}");
    assert!(text.contains("== log of deployment blue"), "{text}");

    assert_eq!(endpoint.delete(), Vec::new(), "processes left");
}
