//! test_deployments' checks against real artifacts and a real finbeh server on a free port:
//! everything passes on a good deployment, and each check fails on its staged fault.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use finbeh_config::Secret;
use finbeh_workflow::{CheckLevel, CheckReport, EndpointUnderTest, run_checks};

use common::{Server, model, other_model, settings};

const PRIMARY: &str = "primary-key-for-tests";
const SECONDARY: &str = "secondary-key-for-tests";

fn endpoint(server: &Server, primary: Option<&str>, secondary: Option<&str>) -> EndpointUnderTest {
    EndpointUnderTest {
        url: server.url(),
        primary_key: primary.map(|k| Secret::new(k.to_owned())),
        secondary_key: secondary.map(|k| Secret::new(k.to_owned())),
    }
}

fn failed(report: &CheckReport) -> Vec<String> {
    report
        .failures()
        .map(|c| format!("{} {}", c.level, c.name))
        .collect()
}

fn check_passed(report: &CheckReport, level: CheckLevel, name: &str) -> bool {
    report
        .check(level, name)
        .unwrap_or_else(|| panic!("no check {level} {name} in\n{report}"))
        .passed
}

#[test]
fn a_good_artifact_passes_the_environment_artifact_and_local_levels() {
    let report = run_checks(&settings(), &model(), None);
    assert!(report.passed(), "{report}");
    for level in [
        CheckLevel::Environment,
        CheckLevel::Artifact,
        CheckLevel::Local,
    ] {
        assert!(
            report.level(level).count() > 0,
            "no {level} check:\n{report}"
        );
    }
    assert_eq!(report.level(CheckLevel::Endpoint).count(), 0);
    for name in ["checksum", "format version", "golden set"] {
        assert!(check_passed(&report, CheckLevel::Artifact, name));
    }
    // Every input form scored the golden set in process.
    assert_eq!(
        report
            .level(CheckLevel::Local)
            .filter(|c| c.name.starts_with("score "))
            .count(),
        7
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["version"], 1);
    assert!(report.to_string().contains("PASS"));
}

#[test]
fn a_corrupted_artifact_fails_its_checksum_and_is_not_scored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.finbeh");
    let mut bytes = std::fs::read(model()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    let report = run_checks(&settings(), &path, None);
    assert!(!report.passed());
    assert!(check_passed(&report, CheckLevel::Artifact, "read"));
    assert!(!check_passed(&report, CheckLevel::Artifact, "checksum"));
    let checksum = report.check(CheckLevel::Artifact, "checksum").unwrap();
    assert!(checksum.detail.contains("SHA-256"), "{}", checksum.detail);
    assert!(!check_passed(&report, CheckLevel::Artifact, "golden set"));
    assert!(!check_passed(&report, CheckLevel::Local, "not checked"));
    assert!(report.to_string().contains("FAILED"), "{report}");
}

#[test]
fn a_missing_model_file_fails_the_environment_and_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.finbeh");
    let report = run_checks(&settings(), &path, None);
    assert!(!check_passed(
        &report,
        CheckLevel::Environment,
        "model file"
    ));
    let read = report.check(CheckLevel::Artifact, "read").unwrap();
    assert!(
        !read.passed && read.detail.contains("nowhere.finbeh"),
        "{}",
        read.detail
    );
}

#[test]
fn an_artifact_of_a_newer_major_format_fails_the_format_version_check() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.finbeh");
    let bytes = std::fs::read(model()).unwrap();
    let needle = b"\"format_version\":\"1.3.0\"";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut body = bytes[..bytes.len() - 32].to_vec();
    body[at + needle.len() - 6] = b'9';
    let digest = Sha256::digest(&body);
    body.extend_from_slice(&digest);
    std::fs::write(&path, body).unwrap();
    let report = run_checks(&settings(), &path, None);
    assert!(
        check_passed(&report, CheckLevel::Artifact, "checksum"),
        "{report}"
    );
    let format = report
        .check(CheckLevel::Artifact, "format version")
        .unwrap();
    assert!(
        !format.passed && format.detail.contains("9.3.0"),
        "{}",
        format.detail
    );
}

#[test]
fn a_good_endpoint_passes_every_endpoint_check() {
    let server = Server::start(&model(), (Some(PRIMARY), Some(SECONDARY)), |_| {});
    let report = run_checks(
        &settings(),
        &model(),
        Some(&endpoint(&server, Some(PRIMARY), Some(SECONDARY))),
    );
    assert!(report.passed(), "{report}");
    for name in [
        "liveness",
        "readiness",
        "swagger columns",
        "score data positional",
        "score dataframe_split",
        "forms agree",
        "auth no key",
        "auth wrong key",
        "auth secondary key",
        "bad input malformed JSON",
        "bad input unknown column",
        "latency p99",
    ] {
        assert!(check_passed(&report, CheckLevel::Endpoint, name), "{name}");
    }
}

#[test]
fn a_wrong_key_fails_every_scoring_check_with_401() {
    let server = Server::start(&model(), (Some(PRIMARY), Some(SECONDARY)), |_| {});
    let report = run_checks(
        &settings(),
        &model(),
        Some(&endpoint(&server, Some("not-the-key"), Some(SECONDARY))),
    );
    let score = report
        .check(CheckLevel::Endpoint, "score data records")
        .unwrap();
    assert!(
        !score.passed && score.detail.contains("401"),
        "{}",
        score.detail
    );
    assert!(!check_passed(&report, CheckLevel::Endpoint, "latency p99"));
    // The probes and the auth refusals do not depend on the key.
    assert!(check_passed(&report, CheckLevel::Endpoint, "readiness"));
    assert!(check_passed(
        &report,
        CheckLevel::Endpoint,
        "auth wrong key"
    ));
}

#[test]
fn a_missing_secondary_key_fails_the_secondary_key_check() {
    // Not given to the checks.
    let server = Server::start(&model(), (Some(PRIMARY), Some(SECONDARY)), |_| {});
    let report = run_checks(
        &settings(),
        &model(),
        Some(&endpoint(&server, Some(PRIMARY), None)),
    );
    assert_eq!(failed(&report), ["endpoint auth secondary key"], "{report}");
    // Not configured on the server: the key the client holds is refused.
    let server = Server::start(&model(), (Some(PRIMARY), None), |_| {});
    let report = run_checks(
        &settings(),
        &model(),
        Some(&endpoint(&server, Some(PRIMARY), Some(SECONDARY))),
    );
    assert_eq!(failed(&report), ["endpoint auth secondary key"], "{report}");
    let check = report
        .check(CheckLevel::Endpoint, "auth secondary key")
        .unwrap();
    assert!(check.detail.contains("401"), "{}", check.detail);
}

#[test]
fn an_endpoint_without_keys_fails_the_auth_checks() {
    let server = Server::start(&model(), (None, None), |_| {});
    let report = run_checks(&settings(), &model(), Some(&endpoint(&server, None, None)));
    let failed = failed(&report);
    for name in ["auth no key", "auth wrong key", "auth secondary key"] {
        assert!(failed.contains(&format!("endpoint {name}")), "{report}");
    }
    assert!(check_passed(
        &report,
        CheckLevel::Endpoint,
        "score record list"
    ));
}

#[test]
fn a_server_with_another_artifact_fails_the_golden_set_and_swagger_checks() {
    let server = Server::start(&other_model(), (Some(PRIMARY), Some(SECONDARY)), |_| {});
    let report = run_checks(
        &settings(),
        &model(),
        Some(&endpoint(&server, Some(PRIMARY), Some(SECONDARY))),
    );
    let failed = failed(&report);
    assert!(
        failed.contains(&"endpoint score data positional".to_owned())
            || failed.contains(&"endpoint swagger columns".to_owned()),
        "{report}"
    );
    // The artifact itself is fine: only the endpoint is wrong.
    assert!(
        report.level(CheckLevel::Local).all(|c| c.passed),
        "{report}"
    );
}

#[test]
fn a_server_that_cannot_load_its_model_fails_readiness_and_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.finbeh");
    std::fs::write(&broken, b"not an artifact").unwrap();
    let server = Server::start(&broken, (Some(PRIMARY), Some(SECONDARY)), |_| {});
    let report = run_checks(
        &settings(),
        &model(),
        Some(&endpoint(&server, Some(PRIMARY), Some(SECONDARY))),
    );
    assert!(
        check_passed(&report, CheckLevel::Endpoint, "liveness"),
        "{report}"
    );
    let ready = report.check(CheckLevel::Endpoint, "readiness").unwrap();
    assert!(
        !ready.passed && ready.detail.contains("503"),
        "{}",
        ready.detail
    );
    assert!(!check_passed(
        &report,
        CheckLevel::Endpoint,
        "score input_data"
    ));
}

#[test]
fn nothing_listening_fails_every_endpoint_check_with_the_reason() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let report = run_checks(
        &settings(),
        &model(),
        Some(&EndpointUnderTest {
            url: format!("http://127.0.0.1:{port}"),
            primary_key: Some(Secret::new(PRIMARY.to_owned())),
            secondary_key: None,
        }),
    );
    let endpoint: Vec<_> = report.level(CheckLevel::Endpoint).collect();
    assert!(
        !endpoint.is_empty() && endpoint.iter().all(|c| !c.passed),
        "{report}"
    );
    assert!(
        endpoint[0].detail.contains("connection refused"),
        "{}",
        endpoint[0].detail
    );
}

#[test]
fn a_slow_endpoint_fails_the_latency_budget() {
    let server = Server::start(&model(), (Some(PRIMARY), Some(SECONDARY)), |_| {});
    let slow = common::slow_proxy(server.address, std::time::Duration::from_millis(20));
    let mut settings = finbeh_config::Settings::default();
    settings.testing.deployments.latency_requests = 20;
    settings.testing.deployments.max_p99_ms = 5;
    let endpoint = EndpointUnderTest {
        url: format!("http://{slow}/score"),
        primary_key: Some(Secret::new(PRIMARY.to_owned())),
        secondary_key: Some(Secret::new(SECONDARY.to_owned())),
    };
    let report = run_checks(&settings.check().unwrap(), &model(), Some(&endpoint));
    let latency = report.check(CheckLevel::Endpoint, "latency p99").unwrap();
    assert!(!latency.passed, "{}", latency.detail);
    assert!(
        latency.detail.contains("over 20 requests (bound 5 ms"),
        "{}",
        latency.detail
    );
    // Slow but correct: the golden set still scores as expected.
    assert!(
        check_passed(&report, CheckLevel::Endpoint, "score data positional"),
        "{report}"
    );
}

#[test]
fn a_server_answering_bad_input_with_a_plain_500_fails_the_bad_input_checks() {
    let address = common::plain_500_server();
    let report = run_checks(
        &settings(),
        &model(),
        Some(&EndpointUnderTest {
            url: format!("http://{address}"),
            primary_key: Some(Secret::new(PRIMARY.to_owned())),
            secondary_key: None,
        }),
    );
    for name in [
        "bad input malformed JSON",
        "bad input empty body",
        "bad input unknown column",
        "bad input missing column",
        "bad input short row",
    ] {
        let check = report.check(CheckLevel::Endpoint, name).unwrap();
        assert!(!check.passed, "{name}");
        assert!(check.detail.contains("answered 500"), "{}", check.detail);
    }
    assert!(!check_passed(&report, CheckLevel::Endpoint, "liveness"));
}
