//! `deploy --target azure` as a user runs it: the example binary against the in-process fake ARM
//! and Azurite of finbeh-deploy's tests. `rollout --json` prints the interface's object on its
//! last line and exits 0 on success; `status --json` and `keys --json` have their documented
//! shapes; a rollout with an image that cannot load the model exits 1 with `result: failed`,
//! Azure's code and the log tail. Needs the example built, as `cargo test` builds it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../crates/finbeh-deploy/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::azurite::Azurite;
use support::fake_arm::{self, FakeArm};

fn deploy_binary() -> PathBuf {
    common::example_binary("deploy")
}

fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/finbeh-train/tests/fixtures/model-v1.2.0.finbeh")
}

fn write_config(dir: &Path, fake: &FakeArm, azurite: &Azurite, image: &str) -> PathBuf {
    let config = format!(
        r#"[deploy]
target = "azure"
[deploy.local]
state_dir = "{state}"
registry_dir = "{state}/registry"
[deploy.azure]
subscription_id = "{sub}"
resource_group = "{group}"
workspace_name = "{ws}"
arm_base_url = "{arm}"
credential = "access_token"
blob_url = "{blob}"
image = "{image}"
poll_interval_ms = 10
operation_timeout_s = 60
[deploy.rollout]
steps = [50, 100]
soak_seconds = 0.0
max_error_rate = 0.0
max_p99_ms = 5000.0
"#,
        state = dir.join("state").display(),
        sub = fake_arm::SUBSCRIPTION,
        group = fake_arm::GROUP,
        ws = fake_arm::WORKSPACE,
        arm = fake.base_url(),
        blob = azurite.service_url(),
    );
    let path = dir.join(format!(
        "finbeh-{}.toml",
        image.replace([':', '/', '.'], "-")
    ));
    std::fs::write(&path, config).unwrap();
    path
}

/// Runs the example off the test's runtime threads (the fake ARM serves on them).
async fn deploy(config: &Path, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(deploy_binary());
    command
        .arg("--config")
        .arg(config)
        .args(["--target", "azure"])
        .args(args)
        .env("FINBEH__DEPLOY__AZURE__ACCESS_TOKEN", fake_arm::TOKEN)
        .env("FINBEH__LOGGING__LEVEL", "warn");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn last_json(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "last line is not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_target_azure_rollout_status_keys_and_a_failed_rollout() {
    let azurite = Azurite::start();
    azurite.create_container(fake_arm::CONTAINER).await;
    let (fake, server) = FakeArm::start(&azurite).await;
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(
        dir.path(),
        &fake,
        &azurite,
        "registry.example/finbeh-serve:1",
    );
    let model = model().display().to_string();

    let output = deploy(&good, &["rollout", "--model", &model, "--json"]).await;
    let report = last_json(&output);
    assert!(output.status.success(), "{report}");
    assert_eq!(report["result"], "succeeded");
    assert_eq!(report["endpoint"], "finbeh-endpoint");
    let deployment = report["deployment"].as_str().unwrap().to_owned();
    assert_eq!(report["model"]["version"], "1");
    assert_eq!(
        report["traffic"],
        serde_json::json!({ deployment.clone(): 100 })
    );
    assert!(
        report["error"].is_null() && report["logs_tail"].is_null(),
        "{report}"
    );

    let status = last_json(&deploy(&good, &["status", "--json"]).await);
    assert_eq!(status["endpoint"]["name"], "finbeh-endpoint");
    assert_eq!(status["endpoint"]["state"], "Succeeded");
    assert!(
        status["endpoint"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/score/finbeh-endpoint")
    );
    assert_eq!(status["deployments"][0]["name"], deployment.as_str());
    assert_eq!(status["deployments"][0]["model"]["version"], "1");
    assert_eq!(status["traffic"][&deployment], 100);
    assert!(status["mirror_traffic"].is_object());

    let keys = last_json(&deploy(&good, &["keys", "--json"]).await);
    assert!(
        keys["primary_key"].is_string() && keys["secondary_key"].is_string(),
        "{keys}"
    );

    let skewed = write_config(
        dir.path(),
        &fake,
        &azurite,
        "registry.example/finbeh-serve:skewed",
    );
    let output = deploy(&skewed, &["rollout", "--model", &model, "--json"]).await;
    let report = last_json(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert_eq!(report["result"], "failed");
    assert_eq!(report["error"]["code"], "ResourceNotReady");
    assert!(
        report["logs_tail"]
            .as_str()
            .unwrap()
            .contains("no model could be loaded")
    );
    assert_eq!(
        report["traffic"],
        serde_json::json!({ deployment.clone(): 100 })
    );
    server.abort();
}
