//! The health checker against a real finbeh-serve on a free port: healthy with the right key,
//! a clear 401 verdict with a wrong one, and a down server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use finbeh_config::{Secret, ServeSettings};
use finbeh_monitor::{GoldenRecord, HealthTarget, Verdict, check_health};
use finbeh_serve::{AppState, ServerParams, artifact_loader, run_on};
use finbeh_train::ModelArtifact;

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../finbeh-train/tests/fixtures/model-v1.2.0.finbeh"
);
const KEY: &str = "health-check-key";

/// Serves the fixture model with bearer key [`KEY`] on a free port until the sender drops.
fn server() -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = ServerParams(ServeSettings {
        primary_key: Some(Secret::new(KEY.into())),
        worker_threads: 1,
        ..ServeSettings::default()
    })
    .check()
    .unwrap();
    let state = AppState::new(config.clone(), artifact_loader());
    state.load(Some(Path::new(MODEL)), None).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        run_on(listener, config, state, async move {
            let _ = stopped.await;
        })
        .unwrap();
    });
    (url, stop, thread)
}

fn target<'a>(
    url: &'a str,
    key: Option<&'a str>,
    golden: Option<GoldenRecord>,
) -> HealthTarget<'a> {
    HealthTarget {
        url,
        key,
        golden,
        timeout: Duration::from_secs(10),
    }
}

#[test]
fn a_running_server_is_healthy_with_its_key_and_a_wrong_key_is_a_clear_401() {
    let (url, stop, thread) = server();
    let artifact = ModelArtifact::read(MODEL).unwrap();
    let golden = GoldenRecord::from_artifact(&artifact).unwrap();

    let report = check_health(&target(&url, Some(KEY), Some(golden.clone())));
    assert!(report.healthy, "{}", report.table());
    let names: Vec<&str> = report.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["liveness", "readiness", "swagger", "golden_record"]);
    assert!(
        report
            .probes
            .iter()
            .all(|p| p.verdict == Verdict::Pass && p.ms > 0.0)
    );
    assert!(
        report.probes[3].detail.contains("as expected"),
        "{}",
        report.table()
    );

    // An Azure-style scoring URI (ending in /score) probes the same server.
    let scoring_uri = format!("{url}/score");
    let report = check_health(&target(&scoring_uri, Some(KEY), None));
    assert!(report.healthy, "{}", report.table());
    assert!(
        report.probes[3].detail.contains("swagger"),
        "{}",
        report.table()
    );

    let report = check_health(&target(&url, Some("wrong"), Some(golden)));
    assert!(!report.healthy);
    let score = &report.probes[3];
    assert_eq!(score.status, Some(401));
    assert_eq!(score.verdict, Verdict::Fail);
    assert!(
        score.detail.contains("key is missing or wrong"),
        "{}",
        score.detail
    );
    assert!(report.table().contains("UNHEALTHY"));

    stop.send(()).unwrap();
    thread.join().unwrap();
}

#[test]
fn a_down_server_is_unhealthy_and_says_the_connection_was_refused() {
    // A port that was free a moment ago and has nothing listening now.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let report = check_health(&target(&url, None, None));
    assert!(!report.healthy);
    for probe in &report.probes {
        assert_eq!(probe.verdict, Verdict::Fail, "{}", report.table());
        assert_eq!(probe.status, None);
    }
    assert!(
        report.probes[0].detail.contains("connection refused"),
        "{}",
        report.table()
    );
}
