//! ARM edge cases of the Azure target, each against a tiny scripted ARM: an operation that ends
//! `Canceled`, a DELETE whose `Location` never finishes (the timeout), a 500 that outlives the
//! retries (Azure's error verbatim, every try counted), a 202 without `Location`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use finbeh_config::{AzureDeploySettings, CredentialKind, Secret};
use finbeh_deploy::{AzureParams, AzureTarget, DeployError, DeploymentTarget, EndpointSpec};
use serde_json::json;

type Script = Arc<dyn Fn(&Method, &str, usize) -> Response + Send + Sync>;

/// Serves `script(method, path, request number)` on a free loopback port; the request count.
async fn scripted(script: Script) -> (AzureTarget, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let poll_base = base.clone();
    let app = Router::new().fallback(move |method: Method, uri: Uri| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let mut response = script(&method, uri.path(), n);
        // Polling URLs are scripted as paths; Azure sends absolute URLs.
        for name in ["location", "azure-asyncoperation"] {
            if let Some(path) = response.headers().get(name).cloned() {
                let url = format!("{poll_base}{}", path.to_str().unwrap());
                response.headers_mut().insert(name, url.parse().unwrap());
            }
        }
        async move { response }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let settings = AzureDeploySettings {
        subscription_id: Some("s".to_owned()),
        resource_group: Some("g".to_owned()),
        workspace_name: Some("w".to_owned()),
        image: Some("i".to_owned()),
        arm_base_url: base,
        credential: CredentialKind::AccessToken,
        access_token: Some(Secret::new("t".to_owned())),
        poll_interval_ms: 10,
        operation_timeout_s: 1,
        max_retries: 2,
        ..AzureDeploySettings::default()
    };
    let target = AzureTarget::new(AzureParams::new(settings).check().unwrap()).unwrap();
    (target, count)
}

fn with(status: StatusCode, headers: &[(&'static str, &str)], body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(*name, value.parse().unwrap());
    }
    response
}

#[tokio::test]
async fn an_operation_that_ends_canceled_reports_azures_error() {
    let (target, _) = scripted(Arc::new(|method, path, _| match (method.as_str(), path) {
        ("GET", "/operations/1") => with(
            StatusCode::OK,
            &[],
            json!({"status": "Canceled", "error": {"code": "OperationCanceled", "message": "by user"}}),
        ),
        ("GET", _) => with(StatusCode::NOT_FOUND, &[], json!({"error": {"code": "ResourceNotFound", "message": "x"}})),
        _ => with(StatusCode::CREATED, &[("azure-asyncoperation", "/operations/1")], json!({})),
    }))
    .await;
    let error = target
        .create_or_update_endpoint(&EndpointSpec {
            name: "e".to_owned(),
        })
        .await
        .unwrap_err();
    let DeployError::Service(failure) = &error else {
        panic!("expected the operation's failure, got {error:?}");
    };
    assert_eq!(failure.error.code, "OperationCanceled");
    assert_eq!(failure.error.message, "by user");
    assert!(failure.operation.ends_with("(Canceled)"), "{error}");
}

#[tokio::test]
async fn a_delete_that_never_finishes_times_out_naming_the_setting() {
    let (target, count) = scripted(Arc::new(|method, _path, _| match method.as_str() {
        "DELETE" => with(
            StatusCode::ACCEPTED,
            &[("location", "/poll"), ("retry-after", "0")],
            json!({}),
        ),
        // The Location answers 202 forever.
        _ => with(StatusCode::ACCEPTED, &[("location", "/poll")], json!({})),
    }))
    .await;
    let error = target.delete_endpoint().await.unwrap_err();
    assert!(matches!(error, DeployError::Timeout { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("deploy.azure.operation_timeout_s"),
        "{error}"
    );
    assert!(count.load(Ordering::SeqCst) > 3, "the Location was polled");
}

#[tokio::test]
async fn a_server_error_that_outlives_the_retries_is_reported_verbatim() {
    let (target, count) = scripted(Arc::new(|_, _, _| {
        with(
            StatusCode::SERVICE_UNAVAILABLE,
            &[("retry-after", "0")],
            json!({"error": {"code": "ServiceUnavailable", "message": "try later", "details": [
                {"code": "Inner", "message": "region busy"}]}}),
        )
    }))
    .await;
    let error = target.status().await.unwrap_err();
    let DeployError::Service(failure) = &error else {
        panic!("expected Azure's error, got {error:?}");
    };
    assert_eq!(failure.status, Some(503));
    assert_eq!(failure.error.code, "ServiceUnavailable");
    assert_eq!(failure.error.message, "try later");
    assert_eq!(failure.error.details[0].code, "Inner");
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "one try and max_retries = 2 retries"
    );
}

#[tokio::test]
async fn an_accepted_delete_without_location_is_a_protocol_error() {
    let (target, _) = scripted(Arc::new(|method, _, _| match method.as_str() {
        "DELETE" => StatusCode::ACCEPTED.into_response(),
        _ => with(
            StatusCode::NOT_FOUND,
            &[],
            json!({"error": {"code": "ResourceNotFound", "message": "x"}}),
        ),
    }))
    .await;
    let error = target.delete_endpoint().await.unwrap_err();
    assert!(
        error.to_string().contains("without a Location header"),
        "{error}"
    );
}
