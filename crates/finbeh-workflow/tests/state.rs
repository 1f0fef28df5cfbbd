//! The workflow's state file is a compatibility promise: the committed version-1 fixture reads,
//! a state round-trips, and what this finbeh cannot read is refused with the file named.

use std::path::{Path, PathBuf};

use finbeh_workflow::{
    RunSummary, Stage, StageReport, StageResult, WORKFLOW_STATE_VERSION, WorkflowState,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state_v1.json")
}

#[test]
fn version_1_fixture_reads() {
    let state = WorkflowState::read(&fixture()).unwrap();
    assert_eq!(state.version, 1);
    assert_eq!(WORKFLOW_STATE_VERSION, 1);
    assert_eq!(state.data.unwrap().target.as_deref(), Some("Anomaly"));
    assert_eq!(state.registered.unwrap().version, "2");
    let endpoint = state.endpoint.unwrap();
    assert_eq!(
        (endpoint.url.as_str(), endpoint.deployment.as_str()),
        ("http://127.0.0.1:5100/score", "green")
    );
    assert_eq!(state.traffic.unwrap().labels["green"], 2000);
    assert_eq!(state.stages.len(), 3);
    assert_eq!(state.stages[1].stage, Stage::Rollout);
    assert_eq!(
        state.stages[1].result,
        StageResult::Failed {
            cause: "port 5100 is busy".into(),
            fix: "change deploy.local.port".into()
        }
    );
}

#[test]
fn state_round_trips_and_a_missing_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.json");
    assert_eq!(WorkflowState::read(&path).unwrap(), WorkflowState::new());
    let state = WorkflowState::read(&fixture()).unwrap();
    state.write(&path).unwrap();
    assert_eq!(WorkflowState::read(&path).unwrap(), state);
}

#[test]
fn other_versions_and_garbage_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, r#"{"version": 2}"#).unwrap();
    let error = WorkflowState::read(&path).unwrap_err().to_string();
    assert!(
        error.contains("state.json") && error.contains("version"),
        "{error}"
    );
    std::fs::write(&path, "not json").unwrap();
    assert!(
        WorkflowState::read(&path)
            .unwrap_err()
            .to_string()
            .contains("not JSON")
    );
    std::fs::write(&path, vec![b' '; 2 << 20]).unwrap();
    assert!(
        WorkflowState::read(&path)
            .unwrap_err()
            .to_string()
            .contains("bytes")
    );
}

fn report(stage: Stage, result: StageResult) -> StageReport {
    StageReport {
        stage,
        result,
        seconds: 1.5,
    }
}

#[test]
fn json_line_has_the_documented_keys_in_order_and_ok_needs_every_asked_stage_to_pass() {
    let passed = || StageResult::Passed { figure: "x".into() };
    let mut summary = RunSummary {
        stages: vec![
            report(Stage::Config, passed()),
            report(
                Stage::Data,
                StageResult::Skipped {
                    why: "not in --steps".into(),
                },
            ),
            report(Stage::Traffic, passed()),
        ],
        endpoint: Some("http://127.0.0.1:5100/score".into()),
        report: None,
        next_steps: Vec::new(),
        asked: vec![Stage::Config, Stage::Traffic],
    };
    assert!(summary.ok());
    assert_eq!(
        summary.json_line(),
        r#"{"ok":true,"stages":[{"name":"config","result":"passed","seconds":1.5},{"name":"data","result":"skipped","seconds":1.5},{"name":"traffic","result":"passed","seconds":1.5}],"endpoint":"http://127.0.0.1:5100/score","report":null}"#
    );
    // A stage asked for but skipped (e.g. not built for this target) is not a pass.
    summary.asked.push(Stage::Data);
    assert!(!summary.ok());
    summary.stages[1].result = StageResult::Failed {
        cause: "c".into(),
        fix: "f".into(),
    };
    assert_eq!(summary.failures(), ["stage data failed: c\n  fix: f"]);
    assert!(summary.to_string().contains("fix: f"));
}
