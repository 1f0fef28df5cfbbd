//! An evaluation as text for a terminal: new events first, then every rule's phase.

use std::fmt::Write as _;

use super::alertmanager::rfc3339;
use super::evaluate::Evaluation;
use super::event::{AlertStatus, RulePhase};

impl Evaluation {
    /// One line per new event (`FIRING` / `RESOLVED`, rule, severity, summary), then one line
    /// per rule with its phase and value, then a summary line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            let status = match event.status {
                AlertStatus::Firing => "FIRING",
                AlertStatus::Resolved => "RESOLVED",
            };
            let summary = event.annotations.get("summary").map_or("", String::as_str);
            let _ = writeln!(
                out,
                "{status:<9} {:<32} {:<8} {summary} (since {})",
                event.rule,
                super::event::severity_name(event.severity),
                rfc3339(event.starts_at_ms)
            );
        }
        if !self.events.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{:<32} {:<8} value", "rule", "phase");
        let mut firing = 0;
        for rule in &self.rules {
            let phase = match rule.phase {
                RulePhase::Inactive => "ok",
                RulePhase::Pending => "pending",
                RulePhase::Firing => {
                    firing += 1;
                    "firing"
                }
            };
            let value = rule
                .value
                .map_or_else(|| "no data".to_owned(), |v| format!("{v:.6}"));
            let _ = writeln!(out, "{:<32} {phase:<8} {value}", rule.rule);
        }
        let _ = writeln!(
            out,
            "{} rules, {firing} firing; {} new events at {}",
            self.rules.len(),
            self.events.len(),
            rfc3339(self.evaluated_at_ms)
        );
        out
    }
}
