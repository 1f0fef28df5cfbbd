//! The end of a run: the summary table, what to do next, and the `--json` line.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::stage::{StageReport, StageResult};

/// What a run did, stage by stage, and where its endpoint and report are.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Every stage in running order (skipped ones too).
    pub stages: Vec<StageReport>,
    /// The endpoint's scoring URL, when a rollout reached it (this run or an earlier one).
    pub endpoint: Option<String>,
    /// The monitor report's HTML page, when this run wrote one.
    pub report: Option<PathBuf>,
    /// How to call the endpoint, where the report is, how to stop the endpoint.
    pub next_steps: Vec<String>,
    /// The stages the run was asked for.
    pub asked: Vec<crate::Stage>,
}

impl RunSummary {
    /// True when every stage asked for passed (what exit code 0 means).
    pub fn ok(&self) -> bool {
        self.stages.iter().all(|s| match &s.result {
            StageResult::Passed { .. } => true,
            StageResult::Failed { .. } => false,
            StageResult::Skipped { .. } => !self.asked.contains(&s.stage),
        })
    }

    /// The failed stages' messages: stage, cause and fix.
    pub fn failures(&self) -> Vec<String> {
        self.stages
            .iter()
            .filter_map(|s| match &s.result {
                StageResult::Failed { cause, fix } => {
                    Some(format!("stage {} failed: {cause}\n  fix: {fix}", s.stage))
                }
                _ => None,
            })
            .collect()
    }

    /// `{"ok": bool, "stages": [{"name", "result", "seconds"}], "endpoint": url | null,
    /// "report": path | null}` on one line.
    pub fn json_line(&self) -> String {
        let line = JsonLine {
            ok: self.ok(),
            stages: self
                .stages
                .iter()
                .map(|s| JsonStage {
                    name: s.stage.name(),
                    result: s.result.word(),
                    seconds: (s.seconds * 1000.0).round() / 1000.0,
                })
                .collect(),
            endpoint: self.endpoint.as_deref(),
            report: self.report.as_ref().map(|p| p.display().to_string()),
        };
        serde_json::to_string(&line)
            .unwrap_or_else(|e| format!("{{\"ok\": false, \"error\": \"{e}\"}}"))
    }
}

/// The `--json` line, its keys in the documented order.
#[derive(Serialize)]
struct JsonLine<'a> {
    ok: bool,
    stages: Vec<JsonStage>,
    endpoint: Option<&'a str>,
    report: Option<String>,
}

#[derive(Serialize)]
struct JsonStage {
    name: &'static str,
    result: &'static str,
    seconds: f64,
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<17} {:<8} {:>8}  key figure",
            "stage", "result", "time"
        )?;
        for s in &self.stages {
            let figure = match &s.result {
                StageResult::Passed { figure } => figure.clone(),
                StageResult::Failed { cause, .. } => first_line(cause),
                StageResult::Skipped { why } => why.clone(),
            };
            writeln!(
                f,
                "{:<17} {:<8} {:>7.2}s  {figure}",
                s.stage.name(),
                s.result.word(),
                s.seconds
            )?;
        }
        for failure in self.failures() {
            writeln!(f, "\n{failure}")?;
        }
        if !self.next_steps.is_empty() {
            writeln!(f)?;
            for line in &self.next_steps {
                writeln!(f, "{line}")?;
            }
        }
        Ok(())
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
