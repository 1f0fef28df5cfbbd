//! The whole workflow offline, through the `workflow_runner` example binary, on small generated
//! data: train, register, a local rollout, test_deployments, traffic from the held-out rows with
//! their labels, and the monitor report; then a second run rolls out over the running endpoint
//! (blue → green). Asserts on results (the `--json` line, the state file, the report JSON, the
//! registry manifest, the endpoint's answer), never on the printout. With `monitor.enabled`
//! turned off, the endpoint logs nothing and the traffic and report stages name the fix. Every
//! process it starts is stopped (`deploy delete-endpoint`, then checked by pid). Needs the
//! examples built, as `cargo test` builds them. `--target azure` registers and rolls out to the
//! in-process fake ARM and Azurite of finbeh-deploy's tests (as tests/deploy_azure.rs does).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

#[path = "../crates/finbeh-deploy/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use common::local_endpoint::LocalEndpoint;
use serde_json::Value;

/// Held-out records the traffic stage sends (of 600 held out: 3000 rows, test_size 0.2).
const TRAFFIC_RECORDS: u64 = 400;

/// A local endpoint's directory (free ports, `deploy delete-endpoint` and a pid check on drop)
/// that also holds the run's data, model and report (relative paths: the runs' working
/// directory is the endpoint's directory).
fn workspace() -> LocalEndpoint {
    let extra = format!(
        "[data]\nsynthetic_rows = 3000\n\n\
         [model]\nn_estimators = 8\ncv_folds = 2\noutput_dir = \"model\"\n\n\
         [testing.deployments]\nlatency_requests = 20\nmax_p99_ms = 60000\n\n\
         [workflow]\noutput_dir = \"workflow\"\nrollout_soak_seconds = 0.2\n\
         traffic_records = {TRAFFIC_RECORDS}\ntraffic_rows_per_request = 8\n"
    );
    LocalEndpoint::new("steps = [50, 100]\nmax_p99_ms = 60000.0", &extra)
}

fn path(ws: &LocalEndpoint, name: &str) -> PathBuf {
    ws.dir.path().join(name)
}

/// Runs workflow_runner with `--json`: its exit success (which must agree with `ok`) and its
/// last stdout line.
fn workflow(ws: &LocalEndpoint, args: &[&str]) -> (bool, Value) {
    let (ok, line) = ws.json("workflow_runner", args);
    assert_eq!(
        ok,
        line["ok"].as_bool().unwrap(),
        "exit code and ok agree: {line}"
    );
    (ok, line)
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stage_results(line: &Value) -> Vec<(String, String)> {
    line["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Labelled rows of the report's performance section (the live deployment's log).
fn labelled(report: &Value) -> u64 {
    report["performance"]["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["labelled"].as_u64().unwrap())
        .sum()
}

#[test]
fn workflow_runs_end_to_end_then_rolls_out_blue_to_green_and_leaves_no_process() {
    let ws = workspace();

    // First run: every stage, on a fresh directory.
    let (ok, line) = workflow(&ws, &[]);
    let names = [
        "config",
        "data",
        "validation",
        "train",
        "evaluate",
        "package",
        "register",
        "rollout",
        "test_deployments",
        "traffic",
        "report",
    ];
    let expected: Vec<(String, String)> = names
        .iter()
        .map(|n| ((*n).to_owned(), "passed".to_owned()))
        .collect();
    assert_eq!(stage_results(&line), expected, "{line}");
    assert!(ok);
    let url = line["endpoint"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/score"),
        "{url}"
    );
    // Relative paths are relative to the run's working directory.
    let html = path(&ws, line["report"].as_str().unwrap());
    assert!(html.is_file());

    let state = json_file(&path(&ws, "workflow/state.json"));
    assert_eq!(state["version"], 1);
    assert_eq!(state["endpoint"]["deployment"], "blue");
    assert_eq!(state["traffic"]["records"], TRAFFIC_RECORDS);
    assert_eq!(state["traffic"]["labels"]["blue"], TRAFFIC_RECORDS);

    // The report's JSON twin: the burst's requests and rows, and every label joined.
    let report = json_file(&html.with_extension("json"));
    let requests = TRAFFIC_RECORDS.div_ceil(8);
    assert!(
        report["summary"]["requests"].as_u64().unwrap() >= requests,
        "{report}"
    );
    assert!(report["summary"]["rows"].as_u64().unwrap() >= TRAFFIC_RECORDS);
    assert_eq!(labelled(&report), TRAFFIC_RECORDS);
    let realized = report["performance"]["series"][0]["points"][0]["realized"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&realized));

    // The test_deployments report: every check passed.
    let checks = json_file(&path(&ws, "workflow/test_deployments.json"));
    let checks = checks["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");

    // The registry manifest holds version 1 of the artifact the run packaged.
    let manifest = json_file(&path(&ws, "registry/manifest.json"));
    let models = manifest["models"].as_array().unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["version"], "1");
    assert_eq!(models[0]["tags"]["source"], "workflow_runner");

    // The endpoint answers the sample request the run wrote, through `deploy`.
    let body = path(&ws, "workflow/request.json");
    let out = ws.run("deploy", &["invoke", "--body", body.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["probabilities"].as_array().unwrap().len(), 8);

    // Second run over the running endpoint, reusing the packaged model: blue → green.
    let (ok, line) = workflow(
        &ws,
        &[
            "--steps",
            "register,rollout,test_deployments,traffic,report",
        ],
    );
    assert!(ok, "{line}");
    let results = stage_results(&line);
    assert_eq!(results[1], ("data".to_owned(), "skipped".to_owned()));
    assert_eq!(results[7], ("rollout".to_owned(), "passed".to_owned()));
    assert_eq!(results[10], ("report".to_owned(), "passed".to_owned()));
    assert_eq!(line["endpoint"].as_str().unwrap(), url);
    let state = json_file(&path(&ws, "workflow/state.json"));
    assert_eq!(state["endpoint"]["deployment"], "green");
    assert_eq!(state["registered"]["version"], "2");
    assert_eq!(state["traffic"]["labels"]["green"], TRAFFIC_RECORDS);
    let (_, status) = ws.json("deploy", &["status"]);
    assert_eq!(status["traffic"]["green"], 100, "{status}");
    let report = json_file(&path(&ws, "workflow/report.json"));
    assert_eq!(report["logs"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(labelled(&report), TRAFFIC_RECORDS);

    // `deploy delete-endpoint` stops what workflow_runner started: no process is left.
    let out = ws.run("deploy", &["delete-endpoint"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ws.delete(), Vec::new());
}

#[test]
fn a_failing_stage_names_its_cause_and_fix_and_exits_non_zero() {
    let ws = workspace();
    let out = ws.run(
        "workflow_runner",
        &["--data", "missing.csv", "--target", "label", "--json"],
    );
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(line["ok"], false);
    let results = stage_results(&line);
    assert_eq!(results[0].1, "passed");
    assert_eq!(results[1], ("data".to_owned(), "failed".to_owned()));
    assert!(
        results[2..].iter().all(|(_, r)| r == "skipped"),
        "{results:?}"
    );
    assert_eq!(line["endpoint"], Value::Null);
    assert!(stdout.contains("stage data failed: ") && stdout.contains("missing.csv"));
    assert!(stdout.contains("  fix: "));
    assert!(ws.processes().is_empty());
}

/// The state file's record of `stage`: its cause and fix when it failed.
fn recorded_failure(ws: &LocalEndpoint, stage: &str) -> (String, String) {
    let state = json_file(&path(ws, "workflow/state.json"));
    let record = state["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .unwrap_or_else(|| panic!("no stage {stage} in {state}"));
    assert_eq!(record["result"], "failed", "{record}");
    let text = |key: &str| record[key].as_str().unwrap().to_owned();
    (text("cause"), text("fix"))
}

#[test]
fn with_the_monitor_turned_off_the_endpoint_logs_nothing_and_the_stages_say_how_to_fix_it() {
    let ws = workspace();
    let off = [("FINBEH__MONITOR__ENABLED", "false")];
    let (ok, line) = ws.json_env("workflow_runner", &[], &off);
    assert!(!ok, "{line}");
    let results = stage_results(&line);
    assert_eq!(
        results[8],
        ("test_deployments".to_owned(), "passed".to_owned())
    );
    assert_eq!(
        results[9],
        ("traffic".to_owned(), "failed".to_owned()),
        "{line}"
    );
    assert_eq!(results[10].1, "skipped");
    // The deployment has no label route: the fix names the setting and the restart.
    let (cause, fix) = recorded_failure(&ws, "traffic");
    assert!(cause.contains("404"), "{cause}");
    assert!(
        fix.contains("monitor.enabled = true") && fix.contains("delete-endpoint"),
        "{fix}"
    );
    assert!(!ws.state_dir().join("monitor/blue.sqlite").exists());

    // The report alone: no log to read, and the same fix.
    let (ok, line) = ws.json_env("workflow_runner", &["--steps", "report"], &off);
    assert!(!ok, "{line}");
    let (cause, fix) = recorded_failure(&ws, "report");
    assert!(cause.contains("no prediction log"), "{cause}");
    assert!(fix.contains("FINBEH__MONITOR__ENABLED=true"), "{fix}");
    assert_eq!(ws.delete(), Vec::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_azure_registers_and_rolls_out_through_the_azure_registry_and_target() {
    use support::azurite::Azurite;
    use support::fake_arm::{self, FakeArm};
    let azurite = Azurite::start();
    azurite.create_container(fake_arm::CONTAINER).await;
    let (fake, server) = FakeArm::start(&azurite).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("finbeh.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\nsynthetic_rows = 2000\n[model]\nn_estimators = 4\ncv_folds = 2\n\
             output_dir = \"model\"\n[deploy.local]\nstate_dir = \"state\"\n\
             registry_dir = \"registry\"\n[deploy.azure]\nsubscription_id = \"{sub}\"\n\
             resource_group = \"{group}\"\nworkspace_name = \"{ws}\"\narm_base_url = \"{arm}\"\n\
             credential = \"access_token\"\nblob_url = \"{blob}\"\n\
             image = \"registry.example/finbeh-serve:1\"\npoll_interval_ms = 10\n\
             operation_timeout_s = 60\n[deploy.rollout]\nsteps = [50, 100]\nmax_p99_ms = 5000.0\n\
             [workflow]\noutput_dir = \"workflow\"\nrollout_soak_seconds = 0.0\n",
            sub = fake_arm::SUBSCRIPTION,
            group = fake_arm::GROUP,
            ws = fake_arm::WORKSPACE,
            arm = fake.base_url(),
            blob = azurite.service_url(),
        ),
    )
    .unwrap();
    let mut command = std::process::Command::new(common::example_binary("workflow_runner"));
    command
        .arg("--config")
        .arg(&config)
        .args(["--target", "azure", "--json", "--steps"])
        .arg("data,validation,train,evaluate,package,register,rollout")
        .current_dir(dir.path())
        .env("FINBEH__DEPLOY__AZURE__ACCESS_TOKEN", fake_arm::TOKEN)
        .env("FINBEH__LOGGING__LEVEL", "warn");
    // Off the test's runtime threads: the fake ARM serves on them.
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{line}\n{stdout}");
    let results = stage_results(&line);
    assert_eq!(results[7], ("rollout".to_owned(), "passed".to_owned()));
    assert!(
        line["endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/endpoints/finbeh-endpoint/score"),
        "{line}"
    );
    let state = json_file(&dir.path().join("workflow/state.json"));
    assert_eq!(state["endpoint"]["target"], "azure");
    assert_eq!(state["registered"]["version"], "1");
    // Nothing was registered or started locally (the state dir holds the rollback record only).
    assert!(!dir.path().join("registry").exists());
    assert!(dir.path().join("state/last_rollout.json").is_file());
    assert!(!dir.path().join("state/daemon.json").exists());
    server.abort();
}
