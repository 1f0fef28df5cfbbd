//! The health checker: liveness, readiness, `/swagger.json` and one scored golden record of a
//! scoring endpoint (a finbeh server or an Azure ML scoring URI), each timed.

use std::time::{Duration, Instant};

use finbeh_train::ModelArtifact;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Version of the health report's JSON.
pub const HEALTH_REPORT_VERSION: u32 = 1;

/// Largest response body read from a probe (a swagger document is a few kB).
const MAX_BODY_BYTES: u64 = 4 << 20;

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// As expected.
    Pass,
    /// Not as expected: the endpoint is unhealthy.
    Fail,
    /// Not offered by this endpoint (Azure ML exposes only `/score` and `/swagger.json` to
    /// clients); does not make the endpoint unhealthy.
    Skipped,
}

/// One probe: what was asked, what came back, how long it took and what that means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// `liveness`, `readiness`, `swagger` or `golden_record`.
    pub name: String,
    /// `GET` or `POST`.
    pub method: String,
    /// The URL probed.
    pub url: String,
    /// HTTP status, `None` when no answer came (refused, timed out).
    pub status: Option<u16>,
    /// Time to the full answer, in milliseconds.
    pub ms: f64,
    /// What it means.
    pub verdict: Verdict,
    /// Why, in words.
    pub detail: String,
}

/// `monitor health --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// [`HEALTH_REPORT_VERSION`].
    pub version: u32,
    /// The base URL probed.
    pub base_url: String,
    /// No probe failed.
    pub healthy: bool,
    /// Each probe, in order.
    pub probes: Vec<Probe>,
}

/// A record to score and, when known, the probabilities it must get.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenRecord {
    /// The record keyed by input column.
    pub record: Map<String, Value>,
    /// Expected probability per class, in class order (from the artifact's golden set).
    pub expected: Option<Vec<f64>>,
    /// Where it came from, in words.
    pub source: String,
}

impl GoldenRecord {
    /// The artifact's first golden record with its exact expected probabilities; `None` when
    /// the artifact has no golden set.
    pub fn from_artifact(artifact: &ModelArtifact) -> Option<Self> {
        let golden = artifact.metadata().golden_set.first()?;
        let record = artifact
            .input_columns()
            .iter()
            .zip(&golden.record)
            .map(|(column, value)| (column.name.clone(), value.clone()))
            .collect();
        let expected = golden
            .expected
            .iter()
            .map(|hex| u64::from_str_radix(hex, 16).ok().map(f64::from_bits))
            .collect();
        Some(Self {
            record,
            expected,
            source: format!(
                "golden record of model {} {}",
                artifact.metadata().model_name,
                artifact.metadata().model_version
            ),
        })
    }

    /// A record built from a `/swagger.json`: the `Record` schema's `example` when it has one,
    /// else every required column missing (`null`, which a finbeh server imputes).
    pub fn from_swagger(swagger: &Value) -> Option<Self> {
        let schema = swagger.pointer("/components/schemas/Record")?;
        if let Some(Value::Object(example)) = schema.get("example") {
            return Some(Self {
                record: example.clone(),
                expected: None,
                source: "the example of /swagger.json".to_owned(),
            });
        }
        let record = schema
            .get("required")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(|name| (name.to_owned(), Value::Null))
            .collect();
        Some(Self {
            record,
            expected: None,
            source: "/swagger.json's Record schema, every value missing".to_owned(),
        })
    }
}

/// What to probe.
#[derive(Debug, Clone)]
pub struct HealthTarget<'a> {
    /// The scoring URL (`http://host:port`, or an Azure ML scoring URI ending in `/score`).
    pub url: &'a str,
    /// Bearer key, when the endpoint needs one.
    pub key: Option<&'a str>,
    /// The record to score; without it one is built from the swagger document.
    pub golden: Option<GoldenRecord>,
    /// Longest wait for each probe.
    pub timeout: Duration,
}

/// Probes `target`: `GET /health/live`, `GET /health/ready`, `GET /swagger.json`, then
/// `POST /score` with the golden record. Liveness and readiness answered 404 are `skipped`
/// (Azure ML does not route them to clients); every other non-2xx, a refused connection or a
/// timeout fails its probe, with the reason (401 names the key).
pub fn check_health(target: &HealthTarget<'_>) -> HealthReport {
    let base = base_url(target.url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(target.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let probe = |name: &str,
                 path: &str,
                 body: Option<&str>,
                 judge: &dyn Fn(u16, &str) -> (Verdict, String)| {
        let url = format!("{base}{path}");
        let started = Instant::now();
        let answer = send(&agent, &url, target.key, body);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let (status, verdict, detail, text) = match answer {
            Ok((status, text)) => {
                let (verdict, detail) = judge(status, &text);
                (Some(status), verdict, detail, Some(text))
            }
            Err(error) => (None, Verdict::Fail, error, None),
        };
        let method = if body.is_some() { "POST" } else { "GET" };
        let probe = Probe {
            name: name.to_owned(),
            method: method.to_owned(),
            url,
            status,
            ms,
            verdict,
            detail,
        };
        (probe, text)
    };
    let health = |status: u16, text: &str| match status {
        404 => (
            Verdict::Skipped,
            "not offered (404): Azure ML routes only /score and /swagger.json to clients"
                .to_owned(),
        ),
        _ => status_verdict(status, text),
    };
    let mut probes = vec![
        probe("liveness", "/health/live", None, &health).0,
        probe("readiness", "/health/ready", None, &health).0,
    ];
    let (swagger_probe, text) = probe("swagger", "/swagger.json", None, &|status, text| {
        if !(200..300).contains(&status) {
            return status_verdict(status, text);
        }
        match serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|document| document.get("openapi").cloned())
        {
            Some(version) => (
                Verdict::Pass,
                format!("OpenAPI {}", version.as_str().unwrap_or("document")),
            ),
            None => (
                Verdict::Fail,
                "answered, but not an OpenAPI document".to_owned(),
            ),
        }
    });
    let swagger = (swagger_probe.verdict == Verdict::Pass)
        .then(|| text.and_then(|text| serde_json::from_str::<Value>(&text).ok()))
        .flatten();
    probes.push(swagger_probe);
    let golden = target
        .golden
        .clone()
        .or_else(|| swagger.as_ref().and_then(GoldenRecord::from_swagger));
    probes.push(match golden {
        Some(golden) => {
            let body = json!({"data": [Value::Object(golden.record.clone())]}).to_string();
            probe("golden_record", "/score", Some(&body), &|status, text| {
                if (200..300).contains(&status) {
                    score_verdict(text, &golden)
                } else {
                    status_verdict(status, text)
                }
            })
            .0
        }
        None => Probe {
            name: "golden_record".to_owned(),
            method: "POST".to_owned(),
            url: format!("{base}/score"),
            status: None,
            ms: 0.0,
            verdict: Verdict::Fail,
            detail: "no record to score: pass --model ART, or serve a /swagger.json".to_owned(),
        },
    });
    HealthReport {
        version: HEALTH_REPORT_VERSION,
        healthy: probes.iter().all(|probe| probe.verdict != Verdict::Fail),
        base_url: base,
        probes,
    }
}

/// The URL without a trailing `/score` or `/`.
fn base_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    url.strip_suffix("/score").unwrap_or(url).to_owned()
}

fn send(
    agent: &ureq::Agent,
    url: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let bearer = key.map(|key| format!("Bearer {key}"));
    let result = match body {
        Some(body) => {
            let mut request = agent.post(url).header("content-type", "application/json");
            if let Some(bearer) = &bearer {
                request = request.header("authorization", bearer);
            }
            request.send(body)
        }
        None => {
            let mut request = agent.get(url);
            if let Some(bearer) = &bearer {
                request = request.header("authorization", bearer);
            }
            request.call()
        }
    };
    let mut response = result.map_err(|error| match error {
        ureq::Error::Timeout(_) => "no answer in time (timed out)".to_owned(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused: is the server running and the port right?".to_owned()
        }
        other => format!("no answer: {other}"),
    })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_string()
        .unwrap_or_default();
    Ok((status, body))
}

/// A non-2xx (or a plain 2xx) answer's verdict, with the server's own error code when it sent one.
fn status_verdict(status: u16, body: &str) -> (Verdict, String) {
    let code = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        v.pointer("/error/code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let detail = match (status, code) {
        (200..=299, _) => "ok".to_owned(),
        (401, _) => {
            "401 unauthorized: the key is missing or wrong (pass --key, the endpoint's primary \
             or secondary key)"
                .to_owned()
        }
        (403, _) => "403 forbidden: the key is not allowed on this endpoint".to_owned(),
        (503, Some(code)) => format!("503 {code}: no verified model is serving yet"),
        (status, Some(code)) => format!("{status} {code}"),
        (status, None) => format!("{status}: {}", excerpt(body)),
    };
    let verdict = if (200..300).contains(&status) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    (verdict, detail)
}

/// A scored answer's verdict: it must carry one probability row, equal to the expected one
/// (within 1e-9) when known.
fn score_verdict(body: &str, golden: &GoldenRecord) -> (Verdict, String) {
    let fail = |detail: String| (Verdict::Fail, detail);
    let Ok(answer) = serde_json::from_str::<Value>(body) else {
        return fail(format!("the answer is not JSON: {}", excerpt(body)));
    };
    let Some(first) = answer.pointer("/probabilities/0") else {
        return fail("the answer has no probabilities[0]".to_owned());
    };
    let got: Vec<f64> = match first {
        Value::Number(p) => p.as_f64().map(|p| vec![1.0 - p, p]).unwrap_or_default(),
        Value::Array(row) => row.iter().filter_map(Value::as_f64).collect(),
        _ => Vec::new(),
    };
    if got.is_empty() || got.iter().any(|p| !(0.0..=1.0).contains(p)) {
        return fail(format!("probabilities[0] is not a probability: {first}"));
    }
    match &golden.expected {
        Some(expected) => {
            let positive_only = matches!(first, Value::Number(_));
            let matches = if positive_only {
                expected
                    .get(1)
                    .zip(got.get(1))
                    .is_some_and(|(e, g)| (e - g).abs() <= 1e-9)
            } else {
                expected.len() == got.len()
                    && expected
                        .iter()
                        .zip(&got)
                        .all(|(e, g)| (e - g).abs() <= 1e-9)
            };
            if matches {
                (
                    Verdict::Pass,
                    format!("scored {} as expected ({first})", golden.source),
                )
            } else {
                fail(format!(
                    "scored {} as {first}, expected {expected:?}: the endpoint serves another \
                     model or version",
                    golden.source
                ))
            }
        }
        None => (Verdict::Pass, format!("scored {} ({first})", golden.source)),
    }
}

fn excerpt(body: &str) -> String {
    let text: String = body.chars().take(120).collect();
    if text.is_empty() {
        "empty body".to_owned()
    } else {
        text
    }
}

impl HealthReport {
    /// One line per probe (verdict, name, status, time, detail) and the overall verdict.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}\n", self.base_url);
        for probe in &self.probes {
            let status = probe
                .status
                .map_or_else(|| "---".to_owned(), |s| s.to_string());
            let verdict = match probe.verdict {
                Verdict::Pass => "PASS",
                Verdict::Fail => "FAIL",
                Verdict::Skipped => "SKIP",
            };
            let _ = writeln!(
                out,
                "{verdict}  {:<13}  {status:>3}  {:>9.2} ms  {}",
                probe.name, probe.ms, probe.detail
            );
        }
        let _ = writeln!(
            out,
            "{}",
            if self.healthy { "healthy" } else { "UNHEALTHY" }
        );
        out
    }
}
