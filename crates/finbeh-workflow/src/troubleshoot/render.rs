//! The troubleshooter's report as text (`troubleshoot`) and as one JSON object (`--json`).

use std::fmt;

use crate::troubleshoot::findings::TroubleshootReport;

impl TroubleshootReport {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        // Strings, numbers, booleans and options of them always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl fmt::Display for TroubleshootReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== versions\n{}", self.versions)?;
        writeln!(f, "\n== effective configuration (secrets redacted)")?;
        for line in self.config.lines().filter(|l| !l.trim().is_empty()) {
            writeln!(f, "  {line}")?;
        }
        writeln!(f, "\n== artifact")?;
        match &self.model.path {
            Some(path) => writeln!(f, "{}", path.display())?,
            None => {
                writeln!(f, "no artifact found:")?;
                for tried in &self.model.not_found {
                    writeln!(f, "  {tried}")?;
                }
            }
        }
        for check in &self.model.checks {
            writeln!(
                f,
                "  {}  {:<14}  {}",
                if check.passed { "PASS" } else { "FAIL" },
                check.name,
                check.detail
            )?;
        }
        writeln!(f, "\n== endpoint")?;
        match &self.endpoint {
            None => writeln!(f, "none given (--target or --url)")?,
            Some(endpoint) => {
                writeln!(
                    f,
                    "{}  state {}",
                    if endpoint.url.is_empty() {
                        "(no URL)"
                    } else {
                        &endpoint.url
                    },
                    endpoint.state.as_deref().unwrap_or("unknown")
                )?;
                if let Some(error) = &endpoint.status_error {
                    writeln!(f, "  status: {error}")?;
                }
                for probe in &endpoint.probes {
                    let status = probe
                        .status
                        .map_or_else(|| "---".to_owned(), |s| s.to_string());
                    writeln!(f, "  {:<30}  {status}  {}", probe.request, probe.detail)?;
                }
                if let Some(refused) = endpoint.refused_429 {
                    writeln!(f, "  refused with 429 since start: {refused}")?;
                }
                for d in &endpoint.deployments {
                    writeln!(
                        f,
                        "  deployment {:<8} {:<10} {:>3} %  model {}{}",
                        d.name,
                        d.state,
                        d.traffic,
                        d.model,
                        d.detail
                            .as_deref()
                            .map(|t| format!("  ({t})"))
                            .unwrap_or_default()
                    )?;
                }
            }
        }
        writeln!(f, "\n== monitor")?;
        let databases: Vec<String> = self
            .databases
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        writeln!(f, "logs: {}", databases.join(", "))?;
        if let Some(reason) = &self.monitor_unavailable {
            writeln!(f, "  not read: {reason}")?;
        }
        if self.monitor_unavailable.is_none() {
            writeln!(
                f,
                "last errors: {}",
                if self.errors.is_empty() { "none" } else { "" }
            )?;
            for e in &self.errors {
                writeln!(
                    f,
                    "  {}  {} {}  request {}  {}/{}  model {}",
                    finbeh_monitor::rfc3339(e.time_ms),
                    e.status,
                    e.error_code.as_deref().unwrap_or("-"),
                    e.request_id,
                    e.endpoint,
                    e.deployment,
                    e.model
                )?;
            }
            writeln!(f, "alerts:")?;
            for a in &self.alerts {
                writeln!(
                    f,
                    "  {:<8} {:<24} {:<8} {} = {} (fires {})",
                    a.phase,
                    a.rule,
                    a.severity,
                    a.metric,
                    a.value
                        .map_or_else(|| "no data".to_owned(), |v| format!("{v:.4}")),
                    a.condition
                )?;
            }
        }
        for log in &self.logs {
            writeln!(f, "\n== log of deployment {}", log.deployment)?;
            for line in log.lines.lines() {
                writeln!(f, "  {line}")?;
            }
        }
        writeln!(f, "\n== hints")?;
        if self.hints.is_empty() {
            write!(f, "no symptom found")?;
        }
        for (i, hint) in self.hints.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "[{}] {}", hint.symptom, hint.seen)?;
            writeln!(f, "  cause: {}", hint.cause)?;
            for (j, step) in hint.fix.iter().enumerate() {
                write!(f, "  fix: {step}")?;
                if i + 1 < self.hints.len() || j + 1 < hint.fix.len() {
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}
