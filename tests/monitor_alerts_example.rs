//! The `monitor alerts`, `prometheus-rules` and `export` subcommands as a user runs them, over a
//! prediction log written now. Needs the example built (`cargo test` builds examples).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::example_binary;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use finbeh_config::MonitorSettings;
use finbeh_data::{ColumnKind, InputColumn, RawValue};
use finbeh_monitor::{LogIdentity, PredictionLog, PredictionLogParams};
use finbeh_serve::{ModelInfo, PredictionRecord, PredictionSink};

/// 20 requests in the last seconds, 5 of them answered 500: an error rate of 25 %.
fn write_log(path: &Path) {
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let params = PredictionLogParams(MonitorSettings {
        enabled: true,
        database_path: path.to_path_buf(),
        ..MonitorSettings::default()
    })
    .check()
    .unwrap();
    let identity = LogIdentity {
        endpoint: "churn".into(),
        deployment: "blue".into(),
    };
    let log = PredictionLog::open(&params, identity).unwrap();
    let model = Arc::new(ModelInfo {
        name: "m".into(),
        version: "1".into(),
        input_columns: vec![InputColumn {
            name: "Age".into(),
            kind: ColumnKind::Numeric,
        }],
        classes: vec!["no".into(), "yes".into()],
        target: None,
        ignored_columns: vec![],
    });
    for i in 0..20 {
        let failed = i % 4 == 0;
        log.record(PredictionRecord {
            unix_ms: now - 1_000 + i,
            request_id: format!("req-{i}"),
            route: "/score",
            model: Arc::clone(&model),
            latency_ms: 0.4,
            status: if failed { 500 } else { 200 },
            error_code: failed.then_some("internal_error"),
            inputs: if failed {
                vec![]
            } else {
                vec![RawValue::Number(i as f64)]
            },
            predicted: if failed { vec![] } else { vec![0] },
            probabilities: if failed { vec![] } else { vec![0.8, 0.2] },
        });
    }
    log.close().unwrap();
}

fn monitor(args: &[&str], config: &Path) -> Output {
    Command::new(example_binary("monitor"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn alerts_fire_once_then_stay_quiet_and_the_rules_and_export_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("blue-1.sqlite");
    write_log(&db);
    let config = dir.path().join("finbeh.toml");
    std::fs::write(
        &config,
        format!(
            "[monitor.alerts]\nstate_path = {:?}\njsonl_path = {:?}\n",
            dir.path().join("state.json"),
            dir.path().join("alerts.jsonl")
        ),
    )
    .unwrap();
    let db_arg = db.to_str().unwrap();

    let first = stdout_json(&monitor(
        &["alerts", "--database", db_arg, "--json"],
        &config,
    ));
    let events = first["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{first}");
    assert_eq!(events[0]["rule"], "ErrorRateAbove5Percent");
    assert_eq!(events[0]["status"], "firing");
    assert_eq!(events[0]["value"], 0.25);
    let phases: Vec<(&str, &str)> = first["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["rule"].as_str().unwrap(), r["phase"].as_str().unwrap()))
        .collect();
    assert_eq!(
        phases,
        [
            ("LatencyP95Above5s", "inactive"),
            ("ErrorRateAbove5Percent", "firing"),
            ("LatencyP99Above50ms", "inactive"),
            ("ServerErrorRateAbove1Percent", "pending"),
        ]
    );
    // Run again: the state file keeps it deduplicated.
    let second = stdout_json(&monitor(
        &["alerts", "--database", db_arg, "--json"],
        &config,
    ));
    assert_eq!(second["events"].as_array().unwrap().len(), 0, "{second}");
    let alerts_file = std::fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap();
    assert_eq!(alerts_file.lines().count(), 1);
    // Without --json: a table with the summary line.
    let text = monitor(&["alerts", "--database", db_arg], &config);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("4 rules, 1 firing; 0 new events"), "{text}");

    let rules = dir.path().join("rules.yml");
    let output = monitor(
        &["prometheus-rules", "--out", rules.to_str().unwrap()],
        &config,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let check = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool (apt-get install prometheus)");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let out = dir.path().join("export");
    let output = monitor(
        &[
            "export",
            "--format",
            "azureml",
            "--since",
            "1h",
            "--out",
            out.to_str().unwrap(),
            "--database",
            db_arg,
        ],
        &config,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("exported 20 logged rows as 30 lines"),
        "{stderr}"
    );
    assert!(out.join("churn/blue/model_inputs").is_dir());
}
