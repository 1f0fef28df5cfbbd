//! Reading the `--json` report of the `test_deployments` example.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;

/// `level name` of every check that did not pass.
pub fn failed(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] != true)
        .map(|c| {
            format!(
                "{} {}",
                c["level"].as_str().unwrap(),
                c["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// The check `level name`: whether it passed, and its detail; panics when there is none.
pub fn check(report: &Value, level: &str, name: &str) -> (bool, String) {
    let found = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["level"] == level && c["name"] == name)
        .unwrap_or_else(|| panic!("no check {level} {name} in {report:#}"));
    (
        found["passed"] == true,
        found["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Whether the check `level name` is there and passed.
pub fn has_check(report: &Value, level: &str, name: &str) -> bool {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["level"] == level && c["name"] == name && c["passed"] == true)
}
