//! The Azure ML target end to end against an in-process fake ARM and Azurite (the real blob
//! service): register (the blob read back from Azurite, SHA-256 compared), endpoint and
//! deployment through long-running operations, the golden set through the scoring URI, traffic
//! and its local refusals, a deployment whose container crashes (Azure's error, the log tail,
//! the hint, no traffic moved), keys, delete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use finbeh_config::RolloutSettings;
use finbeh_config::{AzureDeploySettings, CredentialKind, Secret};
use finbeh_deploy::{
    AzureParams, AzureRegistry, AzureTarget, DeployError, DeploymentSpec, DeploymentTarget,
    EndpointSpec, KeyKind, LOGS_TAIL_LINES, ModelRegistry, ProvisioningState, RolloutOptions,
    RolloutParams, RolloutReport, RolloutResult, RolloutValidParams, Tags, TrafficMap, rollout,
};
use finbeh_train::ModelArtifact;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::azurite::{Azurite, read_blob, write_blob};
use support::fake_arm::{self, FakeArm};

fn fixture_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../finbeh-train/tests/fixtures/model-v1.2.0.finbeh")
}

fn settings(fake: &FakeArm, azurite: &Azurite) -> AzureDeploySettings {
    AzureDeploySettings {
        subscription_id: Some(fake_arm::SUBSCRIPTION.to_owned()),
        resource_group: Some(fake_arm::GROUP.to_owned()),
        workspace_name: Some(fake_arm::WORKSPACE.to_owned()),
        arm_base_url: fake.base_url().to_owned(),
        credential: CredentialKind::AccessToken,
        access_token: Some(Secret::new(fake_arm::TOKEN.to_owned())),
        blob_url: Some(azurite.service_url()),
        image: Some("registry.example/finbeh-serve:test".to_owned()),
        poll_interval_ms: 10,
        operation_timeout_s: 60,
        max_retries: 3,
        ..AzureDeploySettings::default()
    }
}

fn azure(settings: AzureDeploySettings) -> (AzureRegistry, AzureTarget) {
    let params = AzureParams::new(settings).check().unwrap();
    let registry = AzureRegistry::new(params.clone()).unwrap();
    (registry, AzureTarget::new(params).unwrap())
}

async fn rollout_with(
    settings: AzureDeploySettings,
    params: &RolloutValidParams,
    options: &RolloutOptions,
) -> (RolloutReport, AzureTarget) {
    let (registry, target) = azure(settings);
    let report = rollout(&registry, &target, &fixture_model(), params, options).await;
    (report, target)
}

fn map(entries: &[(&str, u32)]) -> TrafficMap {
    entries.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect()
}

/// Every golden record through the endpoint, pinned to `deployment`: bit-identical
/// probabilities.
async fn golden_set_matches(target: &AzureTarget, deployment: &str) -> usize {
    let artifact = ModelArtifact::read(fixture_model()).unwrap();
    let golden = &artifact.metadata().golden_set;
    for (i, record) in golden.iter().enumerate() {
        let body = json!({"data": [record.record]}).to_string();
        let answer = target
            .invoke(body.as_bytes(), Some(deployment))
            .await
            .unwrap();
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.deployment.as_deref(), Some(deployment));
        let parsed: Value = serde_json::from_slice(&answer.body).unwrap();
        let got = parsed["probabilities"][0].as_f64().unwrap();
        let expected = u64::from_str_radix(&record.expected[1], 16).unwrap();
        assert_eq!(got.to_bits(), expected, "golden record {i}");
    }
    golden.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_azure_flow_against_a_fake_arm_and_azurite() {
    let azurite = Azurite::start();
    azurite.create_container(fake_arm::CONTAINER).await;
    let (fake, server) = FakeArm::start(&azurite).await;
    let (registry, target) = azure(settings(&fake, &azurite));

    // Register: the artifact is in Azurite, byte for byte, under the version's modelUri.
    let tags = Tags::from([("run".to_owned(), "ci".to_owned())]);
    let v1 = registry.register(&fixture_model(), &tags).await.unwrap();
    assert_eq!(v1.version, "1");
    let file = std::fs::read(fixture_model()).unwrap();
    let file_sha: String = Sha256::digest(&file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1.sha256, file_sha);
    assert!(v1.uri.starts_with(&format!(
        "azureml://subscriptions/{}/resourcegroups/{}/workspaces/{}/datastores/workspaceblobstore/paths/",
        fake_arm::SUBSCRIPTION, fake_arm::GROUP, fake_arm::WORKSPACE
    )), "{}", v1.uri);
    let blob_path = v1.uri.split("/paths/").nth(1).unwrap();
    let stored = read_blob(
        &azurite.service_url(),
        &format!("{}/{blob_path}", fake_arm::CONTAINER),
    )
    .await;
    let stored_sha: String = Sha256::digest(&stored)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored_sha, file_sha, "the blob in Azurite is the artifact");
    assert_eq!(v1.tags.get("run").map(String::as_str), Some("ci"));
    assert!(v1.metrics.contains_key("roc_auc"), "{:?}", v1.metrics);
    let v2 = registry
        .register(&fixture_model(), &Tags::new())
        .await
        .unwrap();
    assert_eq!(v2.version, "2");
    assert_eq!(registry.latest(&v1.name).await.unwrap().version, "2");
    assert!(registry.archive(&v1.name, "2").await.unwrap().archived);
    assert_eq!(registry.latest(&v1.name).await.unwrap().version, "1");
    assert_eq!(registry.list(None).await.unwrap().len(), 2);
    assert!(matches!(
        registry.get(&v1.name, "9").await,
        Err(DeployError::ModelNotFound { .. })
    ));

    // Endpoint: its first GET is throttled (429 + Retry-After), retried; PUT is 201 + polling.
    let spec = EndpointSpec {
        name: target.endpoint_name().to_owned(),
    };
    let status = target.create_or_update_endpoint(&spec).await.unwrap();
    assert_eq!(status.endpoint.state, ProvisioningState::Succeeded);
    let journal = fake.journal();
    let endpoint_get = format!("GET {}onlineEndpoints/finbeh-endpoint", fake_arm_prefix());
    assert!(
        journal.contains(&format!("{endpoint_get} 429")),
        "{journal:#?}"
    );
    assert!(
        journal.iter().any(|l| l.starts_with("GET /operations/")),
        "{journal:#?}"
    );

    // Blue: created at 0 %, ready, reproduces its golden set through the scoring URI.
    let blue = DeploymentSpec {
        name: "blue".to_owned(),
        model: v1.clone(),
    };
    let created = target.create_or_update_deployment(&blue).await.unwrap();
    assert_eq!(created.state, ProvisioningState::Succeeded);
    assert_eq!(target.status().await.unwrap().traffic, TrafficMap::new());
    assert!(golden_set_matches(&target, "blue").await > 0);

    // Traffic, and what is refused before Azure is called.
    target.set_traffic(&map(&[("blue", 100)])).await.unwrap();
    let answer = target.invoke(br#"{"data": [[]]}"#, None).await.unwrap();
    assert_eq!(answer.deployment.as_deref(), Some("blue"));
    let puts_before = count(&fake, "PUT");
    let refused = [
        target.set_traffic(&map(&[("blue", 90)])).await.unwrap_err(),
        target
            .set_mirror_traffic(&map(&[("blue", 60)]))
            .await
            .unwrap_err(),
        target.delete_deployment("blue").await.unwrap_err(),
    ];
    for error in &refused {
        assert!(matches!(error, DeployError::Refused(_)), "{error}");
    }
    assert!(
        refused[0].to_string().contains("total 0 or 100"),
        "{}",
        refused[0]
    );
    assert!(
        refused[2].to_string().contains("live traffic"),
        "{}",
        refused[2]
    );
    assert_eq!(
        count(&fake, "PUT"),
        puts_before,
        "no refused request reached Azure"
    );

    // Green: a model its container cannot load (a skewed artifact): Azure's error, the log's
    // last lines, the hint; traffic stays on blue and cannot be moved to green.
    let v3 = registry
        .register(&fixture_model(), &Tags::new())
        .await
        .unwrap();
    let bad_path = format!(
        "{}/{}",
        fake_arm::CONTAINER,
        v3.uri.split("/paths/").nth(1).unwrap()
    );
    let mut skewed = file.clone();
    let middle = skewed.len() / 2;
    skewed[middle] ^= 0xff;
    write_blob(&azurite.service_url(), &bad_path, skewed).await;
    let green = DeploymentSpec {
        name: "green".to_owned(),
        model: v3,
    };
    let failure = match target.create_or_update_deployment(&green).await {
        Err(DeployError::Service(failure)) => failure,
        other => panic!("expected the deployment to fail, got {other:?}"),
    };
    assert_eq!(failure.error.code, "ResourceNotReady");
    assert_eq!(
        failure.error.message,
        "User container has crashed or terminated."
    );
    let tail = failure.logs_tail.as_deref().unwrap();
    assert_eq!(tail.lines().count(), LOGS_TAIL_LINES);
    assert!(tail.contains("ERROR finbeh-serve"), "{tail}");
    assert!(
        failure
            .hint
            .as_deref()
            .unwrap()
            .contains("could not load the model"),
        "{failure}"
    );
    let moved = target
        .set_traffic(&map(&[("blue", 50), ("green", 50)]))
        .await
        .unwrap_err();
    assert!(moved.to_string().contains("not Succeeded"), "{moved}");
    assert_eq!(
        target.status().await.unwrap().traffic,
        map(&[("blue", 100)])
    );

    // Keys, token and logs.
    let keys = target.list_keys().await.unwrap();
    let renewed = target.regenerate_key(KeyKind::Primary).await.unwrap();
    assert_ne!(renewed.primary_key, keys.primary_key);
    assert_eq!(renewed.secondary_key, keys.secondary_key);
    assert_eq!(target.token().await.unwrap(), "aml-token");
    assert!(
        target
            .logs("blue", 5)
            .await
            .unwrap()
            .contains("model loaded")
    );
    assert!(
        golden_set_matches(&target, "blue").await > 0,
        "the new key works"
    );

    // Delete: a deployment (202 + Location), then the endpoint; a second delete is a no-op.
    target.delete_deployment("green").await.unwrap();
    target.delete_endpoint().await.unwrap();
    target.delete_endpoint().await.unwrap();
    assert!(target.get_endpoint().await.unwrap().is_none());
    assert!(
        fake.journal()
            .iter()
            .any(|l| l.starts_with("DELETE") && l.ends_with(" 204"))
    );
    server.abort();
}

fn fake_arm_prefix() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}/",
        fake_arm::SUBSCRIPTION,
        fake_arm::GROUP,
        fake_arm::WORKSPACE
    )
}

fn count(fake: &FakeArm, method: &str) -> usize {
    fake.journal()
        .iter()
        .filter(|l| l.starts_with(method))
        .count()
}

#[test]
fn plain_http_to_a_remote_arm_is_refused_with_the_setting_named() {
    let settings = AzureDeploySettings {
        subscription_id: Some("s".to_owned()),
        resource_group: Some("g".to_owned()),
        workspace_name: Some("w".to_owned()),
        image: Some("i".to_owned()),
        arm_base_url: "http://management.azure.com".to_owned(),
        ..AzureDeploySettings::default()
    };
    let error = AzureParams::new(settings).check().unwrap_err().to_string();
    assert!(error.contains("deploy.azure.arm_base_url"), "{error}");
    assert!(error.contains("loopback"), "{error}");
}

/// The generic safe rollout on the Azure target: the first goes to 100 % through the canary
/// gate; a model the image cannot load (version skew) stops before any traffic moves, with
/// Azure's error and the log tail in the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_on_azure_succeeds_then_a_skewed_image_stops_before_traffic_moves() {
    let azurite = Azurite::start();
    azurite.create_container(fake_arm::CONTAINER).await;
    let (fake, server) = FakeArm::start(&azurite).await;
    let rollout_params = RolloutParams(RolloutSettings {
        steps: vec![50, 100],
        soak_seconds: 0.0,
        max_error_rate: 0.0,
        max_p99_ms: 5_000.0,
    })
    .check()
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = RolloutOptions {
        record: Some(dir.path().join("last_rollout.json")),
        ..RolloutOptions::default()
    };
    let (first, _) = rollout_with(settings(&fake, &azurite), &rollout_params, &options).await;
    assert_eq!(first.result, RolloutResult::Succeeded, "{first:?}");
    assert_eq!(first.traffic, map(&[(first.deployment.as_str(), 100)]));
    assert!(
        first.steps.iter().all(|s| s.requests > 0 && s.errors == 0),
        "{first:?}"
    );

    let mut skewed = settings(&fake, &azurite);
    skewed.image = Some("registry.example/finbeh-serve:skewed".to_owned());
    let (second, target) = rollout_with(skewed, &rollout_params, &options).await;
    assert_eq!(second.result, RolloutResult::Failed, "{second:?}");
    assert_eq!(second.traffic, first.traffic, "no traffic moved");
    assert_eq!(target.status().await.unwrap().traffic, first.traffic);
    let error = second.error.as_ref().unwrap();
    assert_eq!(error.code, "ResourceNotReady", "{error:?}");
    assert!(
        error
            .message
            .contains("User container has crashed or terminated"),
        "{error:?}"
    );
    assert!(error.message.contains("hint"), "{error:?}");
    let tail = second.logs_tail.as_deref().unwrap();
    assert!(tail.contains("no model could be loaded"), "{tail}");
    server.abort();
}
