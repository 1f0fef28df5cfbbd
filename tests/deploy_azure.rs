//! `deploy --target azure` as a user runs it: the example binary against the in-process fake ARM
//! and Azurite of finbeh-deploy's tests. `rollout --json` prints the interface's object on its
//! last line and exits 0 on success; `status --json` and `keys --json` have their documented
//! shapes; a rollout with an image that cannot load the model exits 1 with `result: failed`,
//! Azure's code and the log tail; `keys --primary` prints the bare key. `test_deployments
//! --target azure` checks the rolled-out endpoint level by level (every check passes), still
//! passes after a key rotation, fails the scoring and auth checks with a rotated-away key, and
//! fails the deployment level on a deployment that failed to start. Needs the examples built, as
//! `cargo test` builds them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../crates/finbeh-deploy/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::check_report::{check, failed};
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

/// Azurite, the fake ARM serving on the test's runtime, and a config of the good image.
struct World {
    azurite: Azurite,
    fake: FakeArm,
    server: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
    good: PathBuf,
}

impl World {
    async fn start() -> Self {
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
        Self {
            azurite,
            fake,
            server,
            dir,
            good,
        }
    }

    /// A config whose deployments run `image`.
    fn config(&self, image: &str) -> PathBuf {
        write_config(self.dir.path(), &self.fake, &self.azurite, image)
    }
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

/// `test_deployments --model MODEL --json ARGS` with the fake's token, off the test's runtime
/// threads: its exit code and its report.
async fn check_deployments(config: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let mut command = std::process::Command::new(common::example_binary("test_deployments"));
    command
        .arg("--config")
        .arg(config)
        .arg("--model")
        .arg(model())
        .arg("--json")
        .args(args)
        .env("FINBEH__DEPLOY__AZURE__ACCESS_TOKEN", fake_arm::TOKEN)
        .env("FINBEH__TESTING__DEPLOYMENTS__LATENCY_REQUESTS", "20")
        .env("FINBEH__LOGGING__LEVEL", "warn");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (output.status.code(), last_json(&output))
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
    let world = World::start().await;
    let good = world.good.clone();
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
            .ends_with("/endpoints/finbeh-endpoint/score")
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

    let skewed = world.config("registry.example/finbeh-serve:skewed");
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
    world.server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_deployments_target_azure_passes_then_fails_the_right_checks() {
    let world = World::start().await;
    let good = world.good.clone();
    let model = model().display().to_string();
    let output = deploy(&good, &["rollout", "--model", &model, "--json"]).await;
    let rolled_out = last_json(&output);
    assert!(output.status.success(), "{rolled_out}");
    let live = rolled_out["deployment"].as_str().unwrap().to_owned();

    // A healthy endpoint: every level passes, the endpoint's and the deployment's checks ran
    // against the scoring URI with the keys the target lists.
    let (code, report) = check_deployments(&good, &["--target", "azure"]).await;
    assert_eq!(failed(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(code, Some(0));
    assert_eq!(report["passed"], true);
    assert!(
        report["endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/endpoints/finbeh-endpoint"),
        "{report}"
    );
    for (level, name) in [
        ("endpoint", "swagger columns"),
        ("endpoint", "auth no key"),
        ("endpoint", "auth wrong key"),
        ("endpoint", "auth secondary key"),
        ("endpoint", "bad input malformed JSON"),
        ("endpoint", "latency p99"),
    ] {
        assert!(check(&report, level, name).0, "{level} {name}: {report:#}");
    }
    let (passed, detail) = check(&report, "deployment", &format!("{live} state"));
    assert!(passed && detail.starts_with("Succeeded"), "{detail}");
    let (passed, detail) = check(&report, "deployment", &format!("{live} golden set"));
    assert!(passed && detail.contains("100 % live traffic"), "{detail}");

    // Rotation: the primary key regenerated. The target lists the new keys, so the checks still
    // pass; a client that kept the old key is refused on every scoring check.
    let old_primary = deploy(&good, &["keys", "--primary"]).await;
    assert!(old_primary.status.success());
    let old_primary = String::from_utf8(old_primary.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let keys = last_json(&deploy(&good, &["keys", "--json"]).await);
    assert_eq!(
        keys["primary_key"],
        old_primary.as_str(),
        "--primary prints the bare key"
    );
    let rotated = deploy(&good, &["keys", "--regenerate", "primary", "--json"]).await;
    assert!(rotated.status.success());
    let rotated = last_json(&rotated);
    assert_ne!(rotated["primary_key"], old_primary.as_str());
    let (code, report) = check_deployments(&good, &["--target", "azure"]).await;
    assert_eq!(failed(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(code, Some(0));
    let scoring_uri = last_json(&deploy(&good, &["status", "--json"]).await)["endpoint"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let secondary = rotated["secondary_key"].as_str().unwrap();
    let (code, report) = check_deployments(
        &good,
        &[
            "--url",
            &scoring_uri,
            "--key",
            &old_primary,
            "--secondary-key",
            secondary,
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{report:#}");
    let refused = failed(&report);
    assert!(
        refused.contains(&"endpoint swagger columns".to_owned())
            && refused.contains(&"endpoint latency p99".to_owned()),
        "{refused:?}"
    );
    assert!(
        refused.iter().all(|f| f.starts_with("endpoint ")),
        "{refused:?}"
    );
    let (_, detail) = check(&report, "endpoint", "latency p99");
    assert!(detail.contains("401"), "{detail}");
    // The secondary key still works, and the refusals are right.
    assert!(
        check(&report, "endpoint", "auth secondary key").0,
        "{report:#}"
    );
    assert!(check(&report, "endpoint", "auth wrong key").0, "{report:#}");

    // A deployment that failed to start (an image that cannot load the model): kept at 0 % for
    // its logs, it fails the deployment level; the endpoint itself still passes.
    let skewed = world.config("registry.example/finbeh-serve:skewed");
    let output = deploy(&skewed, &["rollout", "--model", &model, "--json"]).await;
    let failed_rollout = last_json(&output);
    assert_eq!(failed_rollout["result"], "failed", "{failed_rollout}");
    let broken = failed_rollout["deployment"].as_str().unwrap().to_owned();
    assert_ne!(broken, live);
    let (code, report) = check_deployments(&good, &["--target", "azure"]).await;
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["passed"], false);
    assert_eq!(
        failed(&report),
        [
            format!("deployment {broken} state"),
            format!("deployment {broken} golden set")
        ],
        "{report:#}"
    );
    let (_, detail) = check(&report, "deployment", &format!("{broken} state"));
    assert!(detail.starts_with("Failed"), "{detail}");
    world.server.abort();
}
