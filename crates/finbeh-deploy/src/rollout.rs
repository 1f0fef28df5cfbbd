//! The safe rollout, written once over [`ModelRegistry`] and [`DeploymentTarget`]: register,
//! deploy the other colour at 0 %, prove the golden set bit for bit through the endpoint, move
//! traffic in gated steps, roll back on any failure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use finbeh_config::RolloutSettings;
use finbeh_train::ModelArtifact;
use serde::{Deserialize, Serialize};

use crate::error::{DeployError, Result};
use crate::local_registry::{read_bounded, write_atomically};
use crate::registry::{ModelRef, ModelRegistry, Tags};
use crate::target::{
    DeploymentSpec, DeploymentTarget, EndpointSpec, EndpointStatus, LATENCY_BUCKETS_MS,
    TrafficCounters, TrafficMap, p99_ms, show_map,
};

/// Lines of the deployment log a failed rollout reports.
pub const ROLLOUT_LOGS_TAIL: usize = 100;

/// Canary requests per step when the target has no live counters.
const CANARY_REQUESTS: usize = 20;

/// `[deploy.rollout]` as finbeh-deploy takes it: checked once into [`RolloutValidParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutParams(pub RolloutSettings);

impl From<&RolloutSettings> for RolloutParams {
    fn from(settings: &RolloutSettings) -> Self {
        Self(settings.clone())
    }
}

impl RolloutParams {
    /// Runs `[deploy.rollout]`'s rules (finbeh-config's, listed together).
    pub fn check(self) -> Result<RolloutValidParams> {
        let mut settings = finbeh_config::Settings::default();
        settings.deploy.rollout = self.0.clone();
        settings.check()?;
        Ok(RolloutValidParams(self.0))
    }
}

/// Checked rollout settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutValidParams(RolloutSettings);

impl RolloutValidParams {
    /// Traffic steps of the new deployment, ending at 100.
    pub fn steps(&self) -> &[u32] {
        &self.0.steps
    }

    /// Soak per step.
    pub fn soak(&self) -> Duration {
        Duration::from_secs_f64(self.0.soak_seconds)
    }
}

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutResult {
    /// The new deployment holds 100 %.
    Succeeded,
    /// A traffic step failed; the previous traffic map is back.
    RolledBack,
    /// Stopped before any traffic moved (registration, deployment, golden set).
    Failed,
}

/// `{code, message}` of a failed rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutError {
    /// Machine-readable code (the service's own where it has one).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// One traffic step as measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Percent of live traffic to the new deployment.
    pub percent: u32,
    /// Requests the new deployment answered during the soak.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// p99 latency over the soak (ms), when there were requests.
    pub p99_ms: Option<f64>,
}

/// The outcome: `deploy rollout --json`'s last line (the `steps` and `seconds` fields come after
/// the interface's keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutReport {
    /// How it ended.
    pub result: RolloutResult,
    /// Endpoint name.
    pub endpoint: String,
    /// The new deployment (empty when registration failed).
    pub deployment: String,
    /// The model registered (empty name when registration failed).
    pub model: ModelRef,
    /// Live traffic at the end.
    pub traffic: TrafficMap,
    /// What failed.
    pub error: Option<RolloutError>,
    /// The last lines of the new deployment's log, on failure.
    pub logs_tail: Option<String>,
    /// The traffic steps passed (and the one that failed).
    pub steps: Vec<StepReport>,
    /// Wall time from start to end.
    pub seconds: f64,
}

/// Options of one rollout.
#[derive(Debug, Clone, Default)]
pub struct RolloutOptions {
    /// Tags for the registered model.
    pub tags: Tags,
    /// Delete the previous deployment once the new one holds 100 %.
    pub delete_old: bool,
    /// Where to record the traffic map before the rollout, for `deploy rollback`.
    pub record: Option<PathBuf>,
}

/// What `deploy rollback` restores: the traffic map before the last rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackRecord {
    /// Format version (1).
    pub format_version: u32,
    /// Endpoint name.
    pub endpoint: String,
    /// Live traffic before the rollout.
    pub previous_traffic: TrafficMap,
    /// The deployment the rollout created.
    pub deployment: String,
}

/// Format of [`RollbackRecord`] files.
pub const ROLLBACK_RECORD_VERSION: u32 = 1;

/// Runs the safe rollout of the artifact at `artifact` (see the module docs). Never panics and
/// never leaves traffic on a deployment that failed: every failure is in the report.
pub async fn rollout<R: ModelRegistry, T: DeploymentTarget>(
    registry: &R,
    target: &T,
    artifact: &Path,
    params: &RolloutValidParams,
    options: &RolloutOptions,
) -> RolloutReport {
    let started = Instant::now();
    let mut report = RolloutReport {
        result: RolloutResult::Failed,
        endpoint: target.endpoint_name().to_owned(),
        deployment: String::new(),
        model: ModelRef {
            name: String::new(),
            version: String::new(),
        },
        traffic: TrafficMap::new(),
        error: None,
        logs_tail: None,
        steps: Vec::new(),
        seconds: 0.0,
    };
    let outcome = run(registry, target, artifact, params, options, &mut report).await;
    if let Err(error) = outcome {
        report.error = Some(RolloutError {
            code: error.code().to_owned(),
            message: error.message(),
        });
        if report.logs_tail.is_none() {
            report.logs_tail = error.logs_tail().map(str::to_owned);
        }
        if report.logs_tail.is_none() && !report.deployment.is_empty() {
            report.logs_tail = target
                .logs(&report.deployment, ROLLOUT_LOGS_TAIL)
                .await
                .ok()
                .filter(|t| !t.is_empty());
        }
    }
    if let Ok(status) = target.status().await {
        report.traffic = status.traffic;
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

async fn run<R: ModelRegistry, T: DeploymentTarget>(
    registry: &R,
    target: &T,
    artifact: &Path,
    params: &RolloutValidParams,
    options: &RolloutOptions,
    report: &mut RolloutReport,
) -> Result<()> {
    let model = registry.register(artifact, &options.tags).await?;
    report.model = model.reference();
    let golden = golden_request(artifact)?;
    let status = target
        .create_or_update_endpoint(&EndpointSpec {
            name: target.endpoint_name().to_owned(),
        })
        .await?;
    let previous = status.traffic.clone();
    let new = other_colour(&status);
    report.deployment = new.clone();

    // 1. The new colour at 0 %: ready, then the golden set through the endpoint, pinned.
    target
        .create_or_update_deployment(&DeploymentSpec {
            name: new.clone(),
            model,
        })
        .await?;
    check_golden(target, &new, &golden).await?;
    if let Some(path) = &options.record {
        write_record(
            path,
            &RollbackRecord {
                format_version: ROLLBACK_RECORD_VERSION,
                endpoint: target.endpoint_name().to_owned(),
                previous_traffic: previous.clone(),
                deployment: new.clone(),
            },
        )?;
    }

    // 2. Traffic steps, each gated; any failure restores the previous map.
    let steps: Vec<u32> = if previous.values().all(|&p| p == 0) {
        vec![100]
    } else {
        params.steps().to_vec()
    };
    for percent in steps {
        let traffic = step_map(&previous, &new, percent);
        let gate = async {
            target.set_traffic(&traffic).await?;
            let step = soak(target, &new, &golden, params).await?;
            let step_report = StepReport {
                percent,
                ..step.clone()
            };
            report.steps.push(step_report);
            gate_step(&new, percent, &step, &params.0)
        };
        if let Err(error) = gate.await {
            let logs = target.logs(&new, ROLLOUT_LOGS_TAIL).await.ok();
            let restored = target.set_traffic(&previous).await;
            report.result = RolloutResult::RolledBack;
            report.logs_tail = logs.filter(|t| !t.is_empty());
            if let Err(restore_error) = restored {
                report.result = RolloutResult::Failed;
                return Err(DeployError::Refused(format!(
                    "{error}; restoring the previous traffic ({}) also failed: {restore_error}",
                    show_map(&previous)
                )));
            }
            return Err(error);
        }
    }
    report.result = RolloutResult::Succeeded;
    if options.delete_old {
        for old in previous.keys().filter(|name| **name != new) {
            target.delete_deployment(old).await?;
        }
    }
    Ok(())
}

/// The deployment a rollout creates: `green` when `blue` takes traffic (or exists alone), else
/// `blue`.
fn other_colour(status: &EndpointStatus) -> String {
    let live = |name: &str| status.traffic.get(name).copied().unwrap_or(0);
    if live("blue") > 0 || (live("green") == 0 && status.deployment("blue").is_some()) {
        "green".to_owned()
    } else {
        "blue".to_owned()
    }
}

/// `new` at `percent`, the previous deployments sharing the rest in their old proportions.
fn step_map(previous: &TrafficMap, new: &str, percent: u32) -> TrafficMap {
    let mut map = TrafficMap::new();
    let rest = 100 - percent.min(100);
    let old: Vec<(&String, &u32)> = previous
        .iter()
        .filter(|(n, p)| *n != new && **p > 0)
        .collect();
    let old_total: u32 = old.iter().map(|(_, p)| **p).sum();
    let mut given = 0;
    for (i, &(name, &p)) in old.iter().enumerate() {
        let share = if i + 1 == old.len() {
            rest - given
        } else {
            rest * p / old_total.max(1)
        };
        given += share;
        map.insert(name.clone(), share);
    }
    map.insert(new.to_owned(), percent);
    map
}

/// The artifact's golden set as one `{"data": [[..], ..]}` request and the expected bits.
struct Golden {
    body: Vec<u8>,
    /// Per record, per class, the expected probability's bit pattern.
    expected: Vec<Vec<u64>>,
    kinds: Vec<String>,
}

fn golden_request(artifact: &Path) -> Result<Golden> {
    let bytes = read_bounded(artifact, 4 << 30)?;
    let model = ModelArtifact::from_bytes(&bytes)?;
    let golden = &model.metadata().golden_set;
    let rows: Vec<&Vec<serde_json::Value>> = golden.iter().map(|g| &g.record).collect();
    let body = serde_json::to_vec(&serde_json::json!({ "data": rows }))
        .map_err(|e| DeployError::Refused(format!("cannot encode the golden set: {e}")))?;
    let expected = golden
        .iter()
        .map(|g| {
            g.expected
                .iter()
                .map(|hex| {
                    u64::from_str_radix(hex, 16).map_err(|_| {
                        DeployError::Refused(format!(
                            "golden probability {hex:?} is not 16 hex digits"
                        ))
                    })
                })
                .collect::<Result<Vec<u64>>>()
        })
        .collect::<Result<_>>()?;
    Ok(Golden {
        body,
        expected,
        kinds: golden.iter().map(|g| format!("{:?}", g.kind)).collect(),
    })
}

async fn check_golden<T: DeploymentTarget>(
    target: &T,
    deployment: &str,
    golden: &Golden,
) -> Result<()> {
    if golden.expected.is_empty() {
        return Ok(());
    }
    let answer = target.invoke(&golden.body, Some(deployment)).await?;
    if answer.status != 200 {
        return Err(DeployError::GoldenMismatch {
            deployment: deployment.to_owned(),
            record: 0,
            kind: "all".to_owned(),
            expected: "HTTP 200".to_owned(),
            got: format!(
                "HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ),
        });
    }
    let got = probabilities(&answer.body).ok_or_else(|| DeployError::GoldenMismatch {
        deployment: deployment.to_owned(),
        record: 0,
        kind: "all".to_owned(),
        expected: "a \"probabilities\" list".to_owned(),
        got: String::from_utf8_lossy(&answer.body)
            .chars()
            .take(300)
            .collect(),
    })?;
    for (i, expected) in golden.expected.iter().enumerate() {
        // A binary model answers P(class 1); a multi-class one every class.
        let want: Vec<u64> = if expected.len() == 2 {
            vec![expected[1]]
        } else {
            expected.clone()
        };
        let have: Vec<u64> = got
            .get(i)
            .map(|row| row.iter().map(|p| p.to_bits()).collect())
            .unwrap_or_default();
        if have != want {
            let show = |bits: &[u64]| {
                bits.iter()
                    .map(|b| format!("{:?}", f64::from_bits(*b)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(DeployError::GoldenMismatch {
                deployment: deployment.to_owned(),
                record: i,
                kind: golden.kinds.get(i).cloned().unwrap_or_default(),
                expected: show(&want),
                got: show(&have),
            });
        }
    }
    Ok(())
}

/// The `"probabilities"` of a score answer, each number parsed from its own text (exact, unlike
/// a generic JSON float parser): one list per row.
fn probabilities(body: &[u8]) -> Option<Vec<Vec<f64>>> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"probabilities\":")? + "\"probabilities\":".len();
    let rest = text[start..].trim_start().strip_prefix('[')?;
    let mut rows = Vec::new();
    let mut depth = 0usize;
    let mut current: Vec<f64> = Vec::new();
    let mut token = String::new();
    for c in rest.chars() {
        match c {
            '[' => depth += 1,
            ']' | ',' => {
                if !token.trim().is_empty() {
                    current.push(token.trim().parse().ok()?);
                }
                token.clear();
                if c == ']' {
                    if depth == 0 {
                        if !current.is_empty() {
                            rows.extend(current.drain(..).map(|p| vec![p]));
                        }
                        return Some(rows);
                    }
                    depth -= 1;
                    rows.push(std::mem::take(&mut current));
                } else if depth == 0 && !current.is_empty() {
                    rows.extend(current.drain(..).map(|p| vec![p]));
                }
            }
            _ => token.push(c),
        }
    }
    None
}

/// Soaks a step; the new deployment's requests, errors and p99 over it, from the target's
/// counters, or from canary requests when the target has none.
async fn soak<T: DeploymentTarget>(
    target: &T,
    new: &str,
    golden: &Golden,
    params: &RolloutValidParams,
) -> Result<StepReport> {
    match target.traffic_counters().await? {
        Some(before) => {
            tokio::time::sleep(params.soak()).await;
            let after = target.traffic_counters().await?.unwrap_or_default();
            Ok(delta(&before, &after, new))
        }
        None => canary(target, new, golden, params).await,
    }
}

fn delta(before: &TrafficCounters, after: &TrafficCounters, name: &str) -> StepReport {
    let get = |m: &std::collections::BTreeMap<String, u64>| m.get(name).copied().unwrap_or(0);
    let empty = Vec::new();
    let b = before.latency_buckets.get(name).unwrap_or(&empty);
    let a = after.latency_buckets.get(name).unwrap_or(&empty);
    let buckets: Vec<u64> = (0..=LATENCY_BUCKETS_MS.len())
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(b.get(i).copied().unwrap_or(0))
        })
        .collect();
    StepReport {
        percent: 0,
        requests: get(&after.requests).saturating_sub(get(&before.requests)),
        errors: get(&after.errors).saturating_sub(get(&before.errors)),
        p99_ms: p99_ms(&buckets),
    }
}

async fn canary<T: DeploymentTarget>(
    target: &T,
    new: &str,
    golden: &Golden,
    params: &RolloutValidParams,
) -> Result<StepReport> {
    let pause = params.soak() / u32::try_from(CANARY_REQUESTS).unwrap_or(1);
    let mut latencies = Vec::with_capacity(CANARY_REQUESTS);
    let mut errors = 0;
    for _ in 0..CANARY_REQUESTS {
        let started = Instant::now();
        let ok = target
            .invoke(&golden.body, Some(new))
            .await
            .is_ok_and(|r| r.status < 500);
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        errors += u64::from(!ok);
        tokio::time::sleep(pause).await;
    }
    latencies.sort_by(f64::total_cmp);
    let rank = (latencies.len() * 99).div_ceil(100).max(1) - 1;
    Ok(StepReport {
        percent: 0,
        requests: CANARY_REQUESTS as u64,
        errors,
        p99_ms: latencies.get(rank).copied(),
    })
}

fn gate_step(new: &str, percent: u32, step: &StepReport, limits: &RolloutSettings) -> Result<()> {
    if step.requests > 0 {
        let rate = step.errors as f64 / step.requests as f64;
        if rate > limits.max_error_rate {
            return Err(DeployError::Gate {
                deployment: new.to_owned(),
                percent,
                reason: format!(
                    "error rate {rate:.4} ({} of {} requests) is over deploy.rollout.max_error_rate = {}",
                    step.errors, step.requests, limits.max_error_rate
                ),
            });
        }
    }
    if let Some(p99) = step.p99_ms
        && p99 > limits.max_p99_ms
    {
        return Err(DeployError::Gate {
            deployment: new.to_owned(),
            percent,
            reason: format!(
                "p99 latency {p99} ms is over deploy.rollout.max_p99_ms = {}",
                limits.max_p99_ms
            ),
        });
    }
    Ok(())
}

fn write_record(path: &Path, record: &RollbackRecord) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DeployError::io("creating", dir, e))?;
    }
    let bytes = serde_json::to_vec_pretty(record)
        .map_err(|e| DeployError::Refused(format!("cannot encode the rollback record: {e}")))?;
    write_atomically(path, &bytes)
}

/// `deploy rollback`: restores the traffic map recorded before the last rollout.
pub async fn rollback<T: DeploymentTarget>(target: &T, record: &Path) -> Result<TrafficMap> {
    let bytes = read_bounded(record, 1 << 20).map_err(|_| {
        DeployError::Refused(format!(
            "nothing to roll back: no rollout record at {}",
            record.display()
        ))
    })?;
    let record_data: RollbackRecord =
        serde_json::from_slice(&bytes).map_err(|e| DeployError::StateFile {
            path: record.to_path_buf(),
            reason: e.to_string(),
        })?;
    if record_data.format_version != ROLLBACK_RECORD_VERSION {
        return Err(DeployError::StateFile {
            path: record.to_path_buf(),
            reason: format!(
                "format_version {} is not supported (this finbeh reads {ROLLBACK_RECORD_VERSION})",
                record_data.format_version
            ),
        });
    }
    target.set_traffic(&record_data.previous_traffic).await?;
    Ok(record_data.previous_traffic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_read_binary_and_multiclass_answers() {
        let binary = br#"{"predictions":[0,1],"probabilities":[0.1,0.30000000000000004],"model":{"name":"m","version":"1"}}"#;
        assert_eq!(
            probabilities(binary).unwrap(),
            vec![vec![0.1], vec![0.30000000000000004]]
        );
        let multi =
            br#"{"predictions":["a"],"probabilities":[[0.25,0.5,0.25],[1.0,0.0,0.0]],"model":{}}"#;
        assert_eq!(
            probabilities(multi).unwrap(),
            vec![vec![0.25, 0.5, 0.25], vec![1.0, 0.0, 0.0]]
        );
    }

    #[test]
    fn steps_split_the_rest_among_the_old_deployments() {
        let previous: TrafficMap = [("blue".to_owned(), 100)].into();
        let step = step_map(&previous, "green", 10);
        assert_eq!(
            step,
            [("blue".to_owned(), 90), ("green".to_owned(), 10)].into()
        );
        let full = step_map(&previous, "green", 100);
        assert_eq!(
            full,
            [("blue".to_owned(), 0), ("green".to_owned(), 100)].into()
        );
    }

    #[test]
    fn gate_fails_on_error_rate_and_latency() {
        let limits = RolloutSettings::default();
        let step = |errors, p99| StepReport {
            percent: 10,
            requests: 1000,
            errors,
            p99_ms: Some(p99),
        };
        assert!(gate_step("green", 10, &step(10, 5.0), &limits).is_ok());
        assert!(gate_step("green", 10, &step(11, 5.0), &limits).is_err());
        assert!(gate_step("green", 10, &step(0, 500.0), &limits).is_err());
    }
}
