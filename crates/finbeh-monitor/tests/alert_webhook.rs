//! The Alertmanager webhook against a local receiver (axum on a free port): failures, then
//! success, with back-off; a refusal is not retried; a full queue never blocks.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use finbeh_config::{AlertComparison, AlertMetric, AlertSettings, AlertSeverity, AlertWindow};
use finbeh_monitor::{AlertEvent, AlertParams, AlertSinks, AlertStatus, AlertValidParams, Webhook};

/// A receiver answering `statuses` in turn (then 200), keeping every body it got.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<(Instant, serde_json::Value)>>>,
    _runtime: tokio::runtime::Runtime,
}

fn receiver(statuses: Vec<u16>) -> Receiver {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(statuses);
    let kept = Arc::clone(&bodies);
    let app = Router::new().route(
        "/hook",
        post(move |body: String| {
            let kept = Arc::clone(&kept);
            let calls = Arc::clone(&calls);
            let statuses = Arc::clone(&statuses);
            async move {
                let call = calls.fetch_add(1, Ordering::SeqCst);
                kept.lock()
                    .unwrap()
                    .push((Instant::now(), serde_json::from_str(&body).unwrap()));
                StatusCode::from_u16(statuses.get(call).copied().unwrap_or(200)).unwrap()
            }
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });
    Receiver {
        url,
        bodies,
        _runtime: runtime,
    }
}

fn params(url: &str, capacity: usize) -> AlertValidParams {
    AlertParams(AlertSettings {
        webhook_url: Some(url.to_owned()),
        webhook_initial_backoff_ms: 50,
        webhook_max_backoff_ms: 80,
        webhook_max_attempts: 4,
        webhook_timeout_ms: 2_000,
        webhook_queue_capacity: capacity,
        external_url: "http://finbeh.example:5001".to_owned(),
        ..AlertSettings::default()
    })
    .check()
    .unwrap()
}

fn event(status: AlertStatus) -> AlertEvent {
    let labels = BTreeMap::from([
        ("alertname".to_owned(), "LatencyP99Above50ms".to_owned()),
        ("severity".to_owned(), "warning".to_owned()),
    ]);
    AlertEvent {
        status,
        rule: "LatencyP99Above50ms".into(),
        severity: AlertSeverity::Warning,
        metric: AlertMetric::LatencyP99Ms,
        window: AlertWindow::FiveMinutes,
        comparison: AlertComparison::Above,
        threshold: 50.0,
        value: Some(73.5),
        starts_at_ms: 1_800_000_000_000,
        ends_at_ms: (status == AlertStatus::Resolved).then_some(1_800_000_600_000),
        evaluated_at_ms: 1_800_000_600_000,
        labels,
        annotations: BTreeMap::from([("summary".to_owned(), "p99 is 73.5 ms".to_owned())]),
        fingerprint: "0123456789abcdef".into(),
    }
}

#[test]
fn failures_are_retried_with_back_off_until_the_receiver_takes_alertmanagers_payload() {
    let receiver = receiver(vec![500, 503, 429]);
    let sinks = AlertSinks::new(&params(&receiver.url, 8)).unwrap();
    sinks.deliver(&[event(AlertStatus::Firing)]).unwrap();
    let totals = sinks.close().unwrap().unwrap();
    assert_eq!((totals.delivered, totals.retries, totals.failed), (1, 3, 0));
    let bodies = receiver.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 4);
    // Back-off: 50 ms, then 80 ms twice (doubling, capped at the maximum).
    let gaps: Vec<Duration> = bodies.windows(2).map(|w| w[1].0 - w[0].0).collect();
    for (gap, least) in gaps.iter().zip([50, 80, 80]) {
        assert!(*gap >= Duration::from_millis(least), "{gaps:?}");
    }
    let body = &bodies[3].1;
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "finbeh");
    assert_eq!(body["groupKey"], "{}:{alertname=\"LatencyP99Above50ms\"}");
    assert_eq!(body["groupLabels"]["alertname"], "LatencyP99Above50ms");
    assert_eq!(body["commonLabels"]["severity"], "warning");
    assert_eq!(body["commonAnnotations"]["summary"], "p99 is 73.5 ms");
    assert_eq!(body["externalURL"], "http://finbeh.example:5001");
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["alertname"], "LatencyP99Above50ms");
    assert_eq!(alert["startsAt"], "2027-01-15T08:00:00.000Z");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alert["generatorURL"], "http://finbeh.example:5001/metrics");
    assert_eq!(alert["fingerprint"], "0123456789abcdef");
}

#[test]
fn a_refusal_is_not_retried_and_a_dead_receiver_is_given_up_on() {
    let receiver = receiver(vec![400]);
    let sinks = AlertSinks::new(&params(&receiver.url, 8)).unwrap();
    sinks.deliver(&[event(AlertStatus::Resolved)]).unwrap();
    let totals = sinks.close().unwrap().unwrap();
    assert_eq!((totals.delivered, totals.retries, totals.failed), (0, 0, 1));
    assert_eq!(receiver.bodies.lock().unwrap()[0].1["status"], "resolved");

    // Nothing listens on this port (bound, then closed): every attempt fails to connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let webhook = Webhook::start(
        &format!("http://127.0.0.1:{port}/hook"),
        &params(&receiver.url, 8),
    )
    .unwrap();
    assert!(webhook.enqueue(b"{}".to_vec()));
    let totals = webhook.close().unwrap();
    assert_eq!((totals.delivered, totals.retries, totals.failed), (0, 3, 1));
}

#[test]
fn a_full_queue_drops_at_once_instead_of_blocking() {
    // The receiver fails every time, so the worker is busy retrying the first payload.
    let receiver = receiver(vec![503; 100]);
    let webhook = Webhook::start(&receiver.url, &params(&receiver.url, 1)).unwrap();
    // A blocking queue would take all 50 (each waiting for room); this one keeps the one in
    // delivery and at most one waiting, and refuses the rest at once.
    let accepted = (0..50).filter(|_| webhook.enqueue(b"{}".to_vec())).count();
    assert!((1..=2).contains(&accepted), "{accepted}");
    assert_eq!(webhook.totals().dropped, 50 - accepted as u64);
    drop(webhook);
}
