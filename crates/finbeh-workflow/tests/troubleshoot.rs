//! The troubleshooter on staged faults, each with a real finbeh server on a free port: a
//! server that cannot load its model, a wrong key, a missing model path, a saturated server
//! answering 429, an error-rate alert in a prediction log. Each fault yields its hint; a
//! healthy setup yields none.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;

use finbeh_config::{Secret, Settings, ValidSettings};
use finbeh_workflow::{
    EndpointUnderTest, Hint, TroubleshootOptions, TroubleshootReport, troubleshoot,
};

use common::{Server, model};

const PRIMARY: &str = "primary-key-for-tests";

/// Default settings whose monitor files live in `dir`.
fn settings_in(dir: &std::path::Path) -> ValidSettings {
    let mut settings = Settings::default();
    settings.monitor.database_path = dir.join("monitor.sqlite");
    settings.monitor.alerts.state_path = dir.join("alerts-state.json");
    settings.check().unwrap()
}

fn options(server: Option<&Server>, key: &str) -> TroubleshootOptions {
    TroubleshootOptions {
        model: Some(model()),
        databases: Vec::new(),
        last: 10,
        endpoint: server.map(|server| EndpointUnderTest {
            url: server.url(),
            primary_key: Some(Secret::new(key.to_owned())),
            secondary_key: None,
        }),
    }
}

fn hint<'a>(report: &'a TroubleshootReport, symptom: &str) -> &'a Hint {
    report
        .hints
        .iter()
        .find(|h| h.symptom == symptom)
        .unwrap_or_else(|| panic!("no {symptom} hint in\n{report}"))
}

fn symptoms(report: &TroubleshootReport) -> Vec<&str> {
    report.hints.iter().map(|h| h.symptom.as_str()).collect()
}

#[test]
fn a_healthy_server_gives_no_hint_and_the_report_has_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&model(), (Some(PRIMARY), None), |_| {});
    let report = troubleshoot(&settings_in(dir.path()), &options(Some(&server), PRIMARY));
    // No prediction log yet: said so, not a hint.
    assert!(report.monitor_unavailable.is_some());
    assert_eq!(symptoms(&report), Vec::<&str>::new(), "{report}");
    assert!(report.model.checks.iter().all(|c| c.passed));
    let text = report.to_string();
    for section in [
        "== versions",
        "== effective configuration",
        "== artifact",
        "== endpoint",
        "== monitor",
        "== hints",
    ] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["version"], 1);
    assert!(
        json["versions"]["rustc"]
            .as_str()
            .unwrap()
            .starts_with("rustc ")
    );
}

#[test]
fn the_effective_config_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.serve.primary_key = Some(Secret::new("very-secret-key".to_owned()));
    settings.monitor.database_path = dir.path().join("monitor.sqlite");
    let report = troubleshoot(&settings.check().unwrap(), &options(None, PRIMARY));
    assert!(!report.config.contains("very-secret-key"));
    assert!(
        report.config.contains(r#"primary_key = "***""#),
        "{}",
        report.config
    );
    assert!(!report.to_json().contains("very-secret-key"));
}

#[test]
fn a_server_that_cannot_load_its_model_gives_the_readiness_hint() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.finbeh");
    std::fs::write(&broken, b"not an artifact").unwrap();
    let server = Server::start(&broken, (Some(PRIMARY), None), |_| {});
    let mut options = options(Some(&server), PRIMARY);
    options.model = Some(broken);
    let report = troubleshoot(&settings_in(dir.path()), &options);
    let readiness = hint(&report, "readiness");
    assert!(readiness.seen.contains("503"), "{}", readiness.seen);
    let fix = readiness.fix.join("\n");
    assert!(fix.contains("fails its read check"), "{fix}");
    assert!(fix.contains("golden set"), "{fix}");
    assert!(fix.contains("blue_port"), "{fix}");
}

#[test]
fn a_wrong_key_gives_the_keys_and_rotation_hint() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&model(), (Some(PRIMARY), None), |_| {});
    let report = troubleshoot(
        &settings_in(dir.path()),
        &options(Some(&server), "rotated-away"),
    );
    let unauthorized = hint(&report, "unauthorized");
    assert!(unauthorized.seen.contains("401"), "{}", unauthorized.seen);
    assert!(
        unauthorized
            .fix
            .join("\n")
            .contains("deploy keys --regenerate")
    );
    assert_eq!(symptoms(&report), ["unauthorized"], "{report}");
}

#[test]
fn a_missing_model_path_gives_the_paths_tried() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.serve.model_path = Some(dir.path().join("models/nowhere.finbeh"));
    settings.monitor.database_path = dir.path().join("monitor.sqlite");
    let options = TroubleshootOptions {
        last: 10,
        ..TroubleshootOptions::default()
    };
    let report = troubleshoot(&settings.check().unwrap(), &options);
    let missing = hint(&report, "model_not_found");
    let fix = missing.fix.join("\n");
    assert!(fix.contains("models/nowhere.finbeh"), "{fix}");
    assert!(fix.contains("serve.model_path"), "{fix}");
    assert!(report.model.path.is_none());
}

#[test]
fn a_saturated_server_gives_the_max_concurrent_requests_hint() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&model(), (Some(PRIMARY), None), |serve| {
        serve.max_concurrent_requests = 1;
        serve.request_timeout_ms = 60_000;
    });
    // One scoring request whose body never finishes holds the only slot.
    let mut held = TcpStream::connect(server.address).unwrap();
    write!(
        held,
        "POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {PRIMARY}\r\nContent-Length: 1000\r\n\r\n{{\"data\": "
    )
    .unwrap();
    held.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // The troubleshooter reads the same settings as the server.
    let mut settings = Settings::default();
    settings.serve.max_concurrent_requests = 1;
    settings.monitor.database_path = dir.path().join("monitor.sqlite");
    let report = troubleshoot(&settings.check().unwrap(), &options(Some(&server), PRIMARY));
    let saturated = hint(&report, "saturated");
    assert!(saturated.seen.contains("429"), "{}", saturated.seen);
    assert!(
        saturated.fix[0].contains("serve.max_concurrent_requests (now 1)"),
        "{}",
        saturated.fix[0]
    );
    drop(held);
}

#[test]
fn an_error_rate_alert_in_the_log_gives_what_to_look_at() {
    let dir = tempfile::tempdir().unwrap();
    let database: PathBuf = dir.path().join("monitor.sqlite");
    let server = Server::start_logged(&model(), (Some(PRIMARY), None), |_| {}, Some(&database));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for _ in 0..5 {
        let answer = agent
            .post(&server.url())
            .header("authorization", &format!("Bearer {PRIMARY}"))
            .header("content-type", "application/json")
            .send(r#"{"data": [{"no_such_column": 1}]}"#)
            .unwrap();
        assert_eq!(answer.status(), 400);
    }
    server.stop();
    let settings = settings_in(dir.path());
    let mut options = options(None, PRIMARY);
    options.databases = vec![database];
    let report = troubleshoot(&settings, &options);
    assert_eq!(report.monitor_unavailable, None);
    assert_eq!(report.errors.len(), 5, "{report}");
    assert!(report.errors.iter().all(|e| e.status == 400));
    let alert = hint(&report, "error_rate_alert");
    assert!(
        alert.seen.contains("ErrorRateAbove5Percent"),
        "{}",
        alert.seen
    );
    assert!(alert.fix[0].contains("400"), "{}", alert.fix[0]);
}
