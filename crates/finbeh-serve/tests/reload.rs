//! Hot reload of real artifacts: a forged file swapped in by SIGHUP under load leaves the old
//! model serving, and a model with other input columns is refused unless
//! `serve.allow_schema_change` is set.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;
#[path = "../../finbeh-train/tests/mutate/mod.rs"]
mod mutate;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::StatusCode;
use common::{BANK_FIXTURE, get, score, send, train_mixed_artifact};
use finbeh_config::ServeSettings;
use finbeh_serve::{AppState, ServerParams, app, artifact_loader, serve};
use serde_json::{Value, json};
use std::io::{Read, Write};

/// The report's file: a valid SHA-256 trailer over a forest section of one leafless tree that
/// claims 2^40 classes (it once made the loader ask for 4 TiB and abort).
fn forged_huge_class_count(original: &[u8]) -> Vec<u8> {
    let leafless = mutate::edit_tree_bytes(original, |raw| {
        raw.clear();
        raw.extend_from_slice(&1u32.to_le_bytes());
        raw.extend_from_slice(&0u16.to_le_bytes());
        raw.extend_from_slice(&0.5f32.to_le_bytes());
    });
    mutate::edit_json(&leafless, Some(mutate::TREE), |forest| {
        forest["n_trees"] = 1.into();
        forest["n_classes"] = (1u64 << 40).into();
    })
}

/// A positional request with the fixture's first golden record.
fn golden_body(artifact: &[u8]) -> String {
    let parts = mutate::split(artifact);
    let header: Value = serde_json::from_slice(&parts.header).unwrap();
    json!({"data": [header["golden_set"][0]["record"]]}).to_string()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One HTTP/1.1 exchange over a fresh connection (blocking: the test body runs beside the
/// server's workers); `None` when the server is not listening.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.get(9..12)?.parse().ok()?;
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    Some((status, json))
}

/// Polls `/health/ready` until `until` holds for its JSON (at most ~30 s, then fails).
fn wait_for(port: u16, what: &str, until: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        if let Some((_, json)) = http(port, "GET", "/health/ready", "")
            && until(&json)
        {
            return json;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("/health/ready never showed {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_forged_huge_count_file_under_load_keeps_the_old_model_serving() {
    let fixture = std::fs::read(BANK_FIXTURE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.finbeh");
    std::fs::write(&path, &fixture).unwrap();
    let port = free_port();
    let params = ServerParams(ServeSettings {
        port,
        ..ServeSettings::default()
    });
    let config = params.check().unwrap();
    let state = AppState::new(config.clone(), artifact_loader());
    state.load(Some(&path), None).unwrap();
    let server = tokio::spawn(serve(config, state));
    wait_for(port, "the model", |json| json["status"] == "ready");

    let body = golden_body(&fixture);
    let (status, before) = http(port, "POST", "/score", &body).unwrap();
    assert_eq!(status, 200, "{before}");

    // Clients keep scoring while the forged file is swapped in and SIGHUP reloads it.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, body) = (Arc::clone(&stop), body.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(http(port, "POST", "/score", &body));
                }
                answers
            })
        })
        .collect();
    std::fs::write(&path, forged_huge_class_count(&fixture)).unwrap();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let ready = wait_for(port, "the failed reload", |json| {
        json["last_failed_load"]["during"] == "reload"
    });
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for client in clients {
        for answer in client.join().unwrap() {
            answered += 1;
            let (status, json) = answer.expect("the server kept answering");
            assert_eq!(status, 200, "{json}");
            assert_eq!(json["predictions"], before["predictions"]);
        }
    }

    assert!(answered > 0, "the clients sent no request");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["model"]["path"], path.display().to_string());
    let tried = &ready["last_failed_load"]["tried"][0];
    assert_eq!(tried["path"], path.display().to_string());
    let reason = tried["reason"].as_str().unwrap();
    assert!(
        reason.contains("n_classes 1099511627776") && reason.contains("header"),
        "{reason}"
    );
    let (status, after) = http(port, "POST", "/score", &body).unwrap();
    assert_eq!((status, &after), (200, &before));
    server.abort();
}

fn serving_bank_fixture(
    dir: &Path,
    allow_schema_change: bool,
) -> (axum::Router, AppState, std::path::PathBuf) {
    let path = dir.join("model.finbeh");
    std::fs::copy(BANK_FIXTURE, &path).unwrap();
    let params = ServerParams(ServeSettings {
        allow_schema_change,
        ..ServeSettings::default()
    });
    let state = AppState::new(params.check().unwrap(), artifact_loader());
    state.load(Some(&path), None).unwrap();
    (app(state.clone()), state, path)
}

#[tokio::test]
async fn a_reload_to_other_input_columns_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (app, state, path) = serving_bank_fixture(dir.path(), false);
    let body = golden_body(&std::fs::read(BANK_FIXTURE).unwrap());
    let other = train_mixed_artifact(dir.path());
    std::fs::copy(&other, &path).unwrap();

    let err = state.reload().unwrap_err().to_string();
    for part in [
        "input columns differ",
        "removed `Age` (numeric)",
        "added `income` (numeric)",
        "`has_card` (boolean)",
        "serve.allow_schema_change = true",
    ] {
        assert!(err.contains(part), "{part:?} not in {err}");
    }
    assert_eq!(score(&app, &body).await.status, StatusCode::OK);
    let ready = send(&app, get("/health/ready")).await.json();
    assert_eq!(ready["model"]["name"], "fixture");
    let tried = &ready["last_failed_load"]["tried"][0];
    assert_eq!(tried["path"], path.display().to_string());
    assert!(
        tried["reason"]
            .as_str()
            .unwrap()
            .contains("input columns differ")
    );

    // The same swap on a server started with serve.allow_schema_change = true installs.
    let allowed_dir = tempfile::tempdir().unwrap();
    let (app, state, path) = serving_bank_fixture(allowed_dir.path(), true);
    std::fs::copy(&other, &path).unwrap();
    assert_eq!(state.reload().unwrap(), path);
    let ready = send(&app, get("/health/ready")).await.json();
    assert_eq!(ready["model"]["name"], "mixed");
    assert_eq!(ready["last_failed_load"], Value::Null);
}

#[tokio::test]
async fn a_reload_to_the_same_input_columns_needs_no_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (app, state, path) = serving_bank_fixture(dir.path(), false);
    // Another model over the same columns (the v1.0.0 fixture) installs without the setting.
    std::fs::copy(BANK_FIXTURE.replace("v1.1.0", "v1.0.0"), &path).unwrap();
    assert_eq!(state.reload().unwrap(), path);
    let ready = send(&app, get("/health/ready")).await.json();
    assert_eq!(ready["last_failed_load"], Value::Null);
}
