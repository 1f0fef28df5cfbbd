//! Human summaries of what the `deploy` commands print without `--json`.

use std::fmt;

use crate::registry::RegisteredModel;
use crate::rollout::{RolloutReport, RolloutResult};
use crate::target::{EndpointStatus, show_map};

impl fmt::Display for EndpointStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "endpoint {} ({}) at {}",
            self.endpoint.name, self.endpoint.state, self.endpoint.url
        )?;
        if self.deployments.is_empty() {
            writeln!(f, "  no deployments")?;
        }
        for d in &self.deployments {
            write!(
                f,
                "  {:<6} {:<10} model {}:{}  traffic {}%",
                d.name,
                d.state.as_str(),
                d.model.name,
                d.model.version,
                self.traffic.get(&d.name).copied().unwrap_or(0)
            )?;
            if let Some(mirror) = self.mirror_traffic.get(&d.name) {
                write!(f, "  mirror {mirror}%")?;
            }
            if let Some(detail) = &d.detail {
                write!(f, "  ({detail})")?;
            }
            writeln!(f)?;
        }
        write!(f, "traffic: {}", show_map(&self.traffic))
    }
}

impl fmt::Display for RegisteredModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}  sha256 {}  created {}{}",
            self.name,
            self.version,
            self.sha256.get(..12).unwrap_or(&self.sha256),
            self.created,
            if self.archived { "  (archived)" } else { "" }
        )?;
        if let Some(auc) = self.metrics.get("roc_auc") {
            write!(f, "  roc_auc {auc:.4}")?;
        }
        Ok(())
    }
}

impl fmt::Display for RolloutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.result {
            RolloutResult::Succeeded => "succeeded",
            RolloutResult::RolledBack => "ROLLED BACK",
            RolloutResult::Failed => "FAILED",
        };
        writeln!(
            f,
            "rollout of {}:{} to {}/{} {verdict} in {:.1} s",
            self.model.name, self.model.version, self.endpoint, self.deployment, self.seconds
        )?;
        for step in &self.steps {
            writeln!(
                f,
                "  step {:>3}%: {} requests, {} errors, p99 {}",
                step.percent,
                step.requests,
                step.errors,
                step.p99_ms
                    .map_or_else(|| "n/a".to_owned(), |p| format!("<= {p} ms"))
            )?;
        }
        if let Some(error) = &self.error {
            writeln!(f, "  error: {}: {}", error.code, error.message)?;
        }
        if let Some(tail) = &self.logs_tail {
            writeln!(
                f,
                "--- last lines of the {} log ---\n{tail}",
                self.deployment
            )?;
        }
        write!(f, "traffic: {}", show_map(&self.traffic))
    }
}
