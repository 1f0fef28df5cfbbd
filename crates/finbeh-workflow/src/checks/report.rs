//! What the checks found: one [`CheckOutcome`] per check, grouped by [`CheckLevel`], in a
//! [`CheckReport`] that prints as a pass/fail table and serializes for CI.

use std::fmt;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Version of the report's JSON (`test_deployments --json`).
pub const CHECK_REPORT_VERSION: u32 = 1;

/// The level a check belongs to, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckLevel {
    /// Settings, files and versions.
    Environment,
    /// The artifact file: checksum, format version, structure, golden set.
    Artifact,
    /// The artifact scoring its golden set in process, through the server's own code.
    Local,
    /// The endpoint over HTTP: probes, contract, every input form, auth, errors, latency.
    Endpoint,
    /// Each deployment of the endpoint, pinned with the deployment header.
    Deployment,
}

impl CheckLevel {
    /// The level's name as the table and the JSON show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Environment => "environment",
            Self::Artifact => "artifact",
            Self::Local => "local",
            Self::Endpoint => "endpoint",
            Self::Deployment => "deployment",
        }
    }
}

impl fmt::Display for CheckLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check: what was checked, whether it passed, why, and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// The level it belongs to.
    pub level: CheckLevel,
    /// What was checked (`checksum`, `score dataframe_split`, `auth wrong key`).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found, in words; on a failure, what is wrong and what to do.
    pub detail: String,
    /// Time the check took, in seconds.
    pub seconds: f64,
}

impl CheckOutcome {
    /// A passed check.
    pub fn pass(level: CheckLevel, name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(level, name, true, detail)
    }

    /// A failed check.
    pub fn fail(level: CheckLevel, name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(level, name, false, detail)
    }

    /// A check with its verdict.
    pub fn new(
        level: CheckLevel,
        name: impl Into<String>,
        passed: bool,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            level,
            name: name.into(),
            passed,
            detail: detail.into(),
            seconds: 0.0,
        }
    }

    /// The same outcome, timed from `started`.
    pub fn timed(mut self, started: Instant) -> Self {
        self.seconds = started.elapsed().as_secs_f64();
        self
    }
}

/// Every check that ran, in order. `Display` is the pass/fail table; [`Self::to_json`] the
/// versioned JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The endpoint checked (base URL), when one was.
    pub endpoint: Option<String>,
    /// Each check, in the order it ran.
    pub checks: Vec<CheckOutcome>,
}

/// The JSON form: `{"version", "passed", "endpoint", "checks": [..]}`.
#[derive(Serialize)]
struct ReportJson<'a> {
    version: u32,
    passed: bool,
    endpoint: Option<&'a str>,
    checks: &'a [CheckOutcome],
}

impl CheckReport {
    /// True when at least one check ran and none failed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// The checks of one level.
    pub fn level(&self, level: CheckLevel) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(move |c| c.level == level)
    }

    /// The check with this level and name, if it ran.
    pub fn check(&self, level: CheckLevel, name: &str) -> Option<&CheckOutcome> {
        self.checks
            .iter()
            .find(|c| c.level == level && c.name == name)
    }

    /// Appends checks.
    pub fn extend(&mut self, checks: impl IntoIterator<Item = CheckOutcome>) {
        self.checks.extend(checks);
    }

    /// `{"version": 1, "passed": bool, "endpoint": url | null, "checks": [{"level", "name",
    /// "passed", "detail", "seconds"}]}` on one line.
    pub fn to_json(&self) -> String {
        let json = ReportJson {
            version: CHECK_REPORT_VERSION,
            passed: self.passed(),
            endpoint: self.endpoint.as_deref(),
            checks: &self.checks,
        };
        // A struct of strings, numbers and booleans always serializes.
        serde_json::to_string(&json).unwrap_or_default()
    }
}

impl fmt::Display for CheckReport {
    /// `endpoint URL`, then `PASS  level        check    seconds  detail` per check, then the
    /// verdict line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(endpoint) = &self.endpoint {
            writeln!(f, "endpoint {endpoint}")?;
        }
        let width = self
            .checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        writeln!(
            f,
            "{:<4}  {:<11}  {:<width$}  {:>7}  detail",
            "", "level", "check", "seconds"
        )?;
        for check in &self.checks {
            writeln!(
                f,
                "{:<4}  {:<11}  {:<width$}  {:>7.3}  {}",
                if check.passed { "PASS" } else { "FAIL" },
                check.level.as_str(),
                check.name,
                check.seconds,
                check.detail
            )?;
        }
        let failed = self.failures().count();
        if self.passed() {
            write!(f, "all {} checks passed", self.checks.len())
        } else if self.checks.is_empty() {
            write!(f, "FAILED: no check ran")
        } else {
            write!(f, "FAILED: {failed} of {} checks failed", self.checks.len())
        }
    }
}
