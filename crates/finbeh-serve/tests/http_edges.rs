//! HTTP edge cases: compressed bodies, a byte order mark, a declared length over the limit, and
//! the documented answer to too many requests in flight.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use finbeh_config::ServeSettings;
use finbeh_serve::{ServerParams, app};

const RECORD0: &str =
    r#"{"income": 1200, "age": 30, "segment": "retail", "has_card": true, "opened": "2020-01-02"}"#;

fn params(edit: impl FnOnce(&mut ServeSettings)) -> ServerParams {
    let mut settings = ServeSettings::default();
    edit(&mut settings);
    ServerParams::from(&settings)
}

#[tokio::test]
async fn compressed_bodies_are_415_naming_the_encoding() {
    let (app, _state, _dir) = binary_app();
    for encoding in ["gzip", "deflate", "br", "x-gzip"] {
        let request = Request::post("/score")
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            // What a gzip body starts with; never read.
            .body(Body::from(&b"\x1f\x8b\x08\x00\x00\x00\x00\x00"[..]))
            .unwrap();
        let answer = send(&app, request).await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{encoding}"
        );
        assert_eq!(answer.error_code(), "unsupported_content_encoding");
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(&format!("`{encoding}`")), "{message}");
        assert_eq!(answer.headers["accept-encoding"], "identity");
    }
    // `identity` is no encoding at all.
    let request = Request::post("/score")
        .header("content-type", "application/json")
        .header("content-encoding", "identity")
        .body(Body::from(RECORD0))
        .unwrap();
    assert_eq!(send(&app, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_byte_order_mark_before_the_json_is_skipped() {
    let (app, _state, _dir) = binary_app();
    let plain = score(&app, RECORD0).await;
    assert_eq!(plain.status, StatusCode::OK);
    let with_bom = format!("\u{feff}{RECORD0}");
    let answer = score(&app, &with_bom).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.body, plain.body);
    // The positional fast path sees the same body.
    let positional = score(&app, "\u{feff}{\"data\": [[1200, 30, 7, 1, null]]}").await;
    assert_eq!(positional.status, StatusCode::OK, "{}", positional.text());
    // Only one mark, and only at the start.
    let twice = score(&app, &format!("\u{feff}{with_bom}")).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert_eq!(twice.error_code(), "malformed_json");
}

/// A body that never arrives: only the headers can decide.
struct NeverEndingBody;

impl hyper::body::Body for NeverEndingBody {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_without_waiting_for_the_body() {
    // A long body timeout: answering 408 instead would take 10 s, and the test says which.
    let (state, _dir) = loaded(
        params(|s| {
            s.max_body_bytes = 1000;
            s.request_timeout_ms = 10_000;
        }),
        BINARY,
        None,
    );
    let app = app(state);
    let request = Request::post("/score")
        .header("content-type", "application/json")
        .header("content-length", "1001")
        .body(Body::new(NeverEndingBody))
        .unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), send(&app, request))
        .await
        .expect("413 must not wait for the body");
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.error_code(), "payload_too_large");
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("1000 bytes"), "{message}");
}

/// The example configuration and the settings' docs name the status the server answers when
/// too many scoring requests are in flight (429, as Azure ML's online endpoints do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_status_for_too_many_requests_is_the_one_answered() {
    let (gate, arrived) = Gate::new();
    let (state, _dir) = loaded(
        params(|s| s.max_concurrent_requests = 1),
        BINARY,
        Some(gate.clone()),
    );
    let app = app(state);
    let held = {
        let app = app.clone();
        tokio::spawn(async move { score(&app, RECORD0).await.status })
    };
    arrived
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    let refused = score(&app, RECORD0).await.status;
    gate.release();
    assert_eq!(held.await.unwrap(), StatusCode::OK);

    let example = include_str!("../../../finbeh.example.toml");
    let lines: Vec<&str> = example.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.starts_with("max_concurrent_requests ="))
        .unwrap();
    let comment = lines[at - 1];
    assert!(
        comment.contains(refused.as_str()),
        "{comment:?} vs {refused}"
    );
    let settings_docs = include_str!("../../finbeh-config/src/settings.rs");
    let doc = settings_docs
        .lines()
        .take_while(|line| !line.contains("pub max_concurrent_requests"))
        .last()
        .unwrap();
    assert!(doc.contains(refused.as_str()), "{doc:?} vs {refused}");
    assert_eq!(refused, StatusCode::TOO_MANY_REQUESTS);
}
