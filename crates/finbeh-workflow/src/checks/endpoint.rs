//! The endpoint level over HTTP: liveness, readiness, `/swagger.json` against the artifact's
//! columns, the golden set in every input form, auth, bad input and the latency budget.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use finbeh_config::Secret;
use serde_json::Value;

use crate::checks::golden::{Golden, error_code, excerpt};
use crate::checks::params::DeploymentCheckValidParams;
use crate::checks::report::{CheckLevel, CheckOutcome};
use crate::checks::scoring::score_every_form;
use crate::checks::transport::{Call, Transport};

const LEVEL: CheckLevel = CheckLevel::Endpoint;

/// The endpoint under test: its scoring URL (or base URL) and keys. `Debug` hides the keys.
#[derive(Clone)]
pub struct EndpointUnderTest {
    /// `http://host:port`, `http://host:port/score` or an Azure ML scoring URI.
    pub url: String,
    /// The key requests are sent with; `None` for an endpoint without auth (the auth checks
    /// then fail: a deployed endpoint should require a key).
    pub primary_key: Option<Secret>,
    /// The second key, which must work too (rotation).
    pub secondary_key: Option<Secret>,
}

impl fmt::Debug for EndpointUnderTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointUnderTest")
            .field("url", &self.url)
            .field("primary_key", &self.primary_key.as_ref().map(|_| "***"))
            .field("secondary_key", &self.secondary_key.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Every endpoint check, in order.
pub(crate) fn endpoint_checks(
    transport: &dyn Transport,
    endpoint: &EndpointUnderTest,
    golden: &Golden,
    params: &DeploymentCheckValidParams,
) -> Vec<CheckOutcome> {
    let key = endpoint.primary_key.as_ref().map(Secret::expose);
    let mut checks = vec![
        probe(transport, "liveness", "/health/live", key),
        probe(transport, "readiness", "/health/ready", key),
        swagger(transport, golden, key),
    ];
    checks.extend(score_every_form(LEVEL, transport, golden, key));
    checks.extend(auth_checks(transport, endpoint, golden));
    checks.extend(bad_input_checks(transport, golden, key));
    checks.push(latency(transport, golden, key, params));
    checks
}

/// `GET path` (with the key: a router or Azure ML may require it everywhere) must answer 200. Azure ML does not route the probes to clients (404): that is
/// reported, not failed, since the platform itself probes them.
fn probe(transport: &dyn Transport, name: &str, path: &str, key: Option<&str>) -> CheckOutcome {
    let started = Instant::now();
    let outcome = match transport.send(&Call::get(path, key)) {
        Ok(answer) if answer.status == 200 => {
            CheckOutcome::pass(LEVEL, name, format!("{path}: 200"))
        }
        Ok(answer) if answer.status == 404 => CheckOutcome::pass(
            LEVEL,
            name,
            format!("{path}: 404, not routed to clients (Azure ML probes it itself)"),
        ),
        Ok(answer) => CheckOutcome::fail(
            LEVEL,
            name,
            format!("{path}: {} {}", answer.status, excerpt(&answer.body)),
        ),
        Err(reason) => CheckOutcome::fail(LEVEL, name, reason),
    };
    outcome.timed(started)
}

/// `/swagger.json`'s `Record` schema must list exactly the artifact's input columns.
fn swagger(transport: &dyn Transport, golden: &Golden, key: Option<&str>) -> CheckOutcome {
    let started = Instant::now();
    let name = "swagger columns";
    let answer = match transport.send(&Call::get("/swagger.json", key)) {
        Ok(answer) if answer.status == 200 => answer,
        Ok(answer) => {
            return CheckOutcome::fail(
                LEVEL,
                name,
                format!("/swagger.json: {} {}", answer.status, excerpt(&answer.body)),
            )
            .timed(started);
        }
        Err(reason) => return CheckOutcome::fail(LEVEL, name, reason).timed(started),
    };
    let document: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let served: Option<BTreeSet<String>> = document
        .as_ref()
        .and_then(|d| d.pointer("/components/schemas/Record/properties"))
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect());
    let Some(served) = served else {
        return CheckOutcome::fail(
            LEVEL,
            name,
            "/swagger.json has no components.schemas.Record.properties",
        )
        .timed(started);
    };
    let expected: BTreeSet<String> = golden.columns.iter().cloned().collect();
    let outcome = if served == expected {
        CheckOutcome::pass(
            LEVEL,
            name,
            format!("{} columns, as in the artifact", served.len()),
        )
    } else {
        let missing: Vec<&str> = expected.difference(&served).map(String::as_str).collect();
        let extra: Vec<&str> = served.difference(&expected).map(String::as_str).collect();
        CheckOutcome::fail(
            LEVEL,
            name,
            format!(
                "the endpoint serves another schema than the artifact (model {}): missing [{}], extra [{}]",
                golden.model,
                missing.join(", "),
                extra.join(", ")
            ),
        )
    };
    outcome.timed(started)
}

/// No key → 401, a wrong key → 401, the secondary key → 200.
fn auth_checks(
    transport: &dyn Transport,
    endpoint: &EndpointUnderTest,
    golden: &Golden,
) -> Vec<CheckOutcome> {
    let body = golden.first_record_body();
    let expect_401 = |name: &str, key: Option<&str>, what: &str| {
        let started = Instant::now();
        let outcome = match transport.send(&Call::post("/score", &body, key)) {
            Ok(answer) if answer.status == 401 => {
                CheckOutcome::pass(LEVEL, name, format!("{what} → 401"))
            }
            Ok(answer) => CheckOutcome::fail(
                LEVEL,
                name,
                format!(
                    "{what} → {}, expected 401: {}",
                    answer.status,
                    if (200..300).contains(&answer.status) {
                        "the endpoint scores without a valid key (set serve.primary_key and serve.secondary_key, or use an endpoint with key auth)".to_owned()
                    } else {
                        excerpt(&answer.body)
                    }
                ),
            ),
            Err(reason) => CheckOutcome::fail(LEVEL, name, reason),
        };
        outcome.timed(started)
    };
    let wrong = wrong_key(endpoint);
    let mut checks = vec![
        expect_401("auth no key", None, "no key"),
        expect_401("auth wrong key", Some(&wrong), "a wrong key"),
    ];
    let started = Instant::now();
    let name = "auth secondary key";
    checks.push(
        match &endpoint.secondary_key {
            None => CheckOutcome::fail(
                LEVEL,
                name,
                "no secondary key to test: pass --secondary-key (deploy keys shows both), so a key rotation cannot lock clients out",
            ),
            Some(secondary) => {
                match transport.send(&Call::post("/score", &body, Some(secondary.expose()))) {
                    Ok(answer) if answer.status == 200 => {
                        CheckOutcome::pass(LEVEL, name, "the secondary key → 200")
                    }
                    Ok(answer) => CheckOutcome::fail(
                        LEVEL,
                        name,
                        format!(
                            "the secondary key → {}: {}",
                            answer.status,
                            excerpt(&answer.body)
                        ),
                    ),
                    Err(reason) => CheckOutcome::fail(LEVEL, name, reason),
                }
            }
        }
        .timed(started),
    );
    checks
}

/// A key that is neither of the endpoint's.
fn wrong_key(endpoint: &EndpointUnderTest) -> String {
    let keys: Vec<&str> = [&endpoint.primary_key, &endpoint.secondary_key]
        .into_iter()
        .flatten()
        .map(Secret::expose)
        .collect();
    let mut wrong = "finbeh-check-wrong-key".to_owned();
    while keys.contains(&wrong.as_str()) {
        wrong.push('x');
    }
    wrong
}

/// Client mistakes must be answered 4xx with a JSON `error.code`, never 5xx.
fn bad_input_checks(
    transport: &dyn Transport,
    golden: &Golden,
    key: Option<&str>,
) -> Vec<CheckOutcome> {
    let first = golden.rows.first().cloned().unwrap_or_default();
    let mut unknown = serde_json::Map::new();
    for (column, cell) in golden.columns.iter().zip(&first) {
        unknown.insert(column.clone(), cell.clone());
    }
    unknown.insert("finbeh_check_unknown_column".to_owned(), Value::from(1));
    let mut missing = unknown.clone();
    missing.remove("finbeh_check_unknown_column");
    if let Some(column) = golden.columns.first() {
        missing.remove(column);
    }
    let short_row = vec![Value::from(1); golden.columns.len().saturating_sub(1)];
    let cases: [(&str, Vec<u8>); 5] = [
        ("bad input malformed JSON", b"{\"data\": [[1, 2".to_vec()),
        ("bad input empty body", Vec::new()),
        (
            "bad input unknown column",
            serde_json::json!({"data": [unknown]})
                .to_string()
                .into_bytes(),
        ),
        (
            "bad input missing column",
            serde_json::json!({"data": [missing]})
                .to_string()
                .into_bytes(),
        ),
        (
            "bad input short row",
            serde_json::json!({"data": [short_row]})
                .to_string()
                .into_bytes(),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, body)| {
            let started = Instant::now();
            let outcome = match transport.send(&Call::post("/score", &body, key)) {
                Ok(answer) => match (answer.status, error_code(&answer.body)) {
                    (400..=499, Some(code)) => {
                        CheckOutcome::pass(LEVEL, name, format!("{} {code}", answer.status))
                    }
                    (400..=499, None) => CheckOutcome::fail(
                        LEVEL,
                        name,
                        format!(
                            "{} without a JSON error body: {}",
                            answer.status,
                            excerpt(&answer.body)
                        ),
                    ),
                    (status, _) => CheckOutcome::fail(
                        LEVEL,
                        name,
                        format!(
                            "answered {status}, expected a 4xx JSON error: {}",
                            excerpt(&answer.body)
                        ),
                    ),
                },
                Err(reason) => CheckOutcome::fail(LEVEL, name, reason),
            };
            outcome.timed(started)
        })
        .collect()
}

/// `latency_requests` scoring requests one after the other; their p99 must be within the bound.
fn latency(
    transport: &dyn Transport,
    golden: &Golden,
    key: Option<&str>,
    params: &DeploymentCheckValidParams,
) -> CheckOutcome {
    let started = Instant::now();
    let name = "latency p99";
    let body = golden.first_record_body();
    let mut samples: Vec<Duration> = Vec::with_capacity(params.latency_requests());
    for i in 0..params.latency_requests() {
        let sent = Instant::now();
        match transport.send(&Call::post("/score", &body, key)) {
            Ok(answer) if answer.status == 200 => samples.push(sent.elapsed()),
            Ok(answer) => {
                return CheckOutcome::fail(
                    LEVEL,
                    name,
                    format!(
                        "request {} of {} answered {}: {}",
                        i + 1,
                        params.latency_requests(),
                        answer.status,
                        excerpt(&answer.body)
                    ),
                )
                .timed(started);
            }
            Err(reason) => return CheckOutcome::fail(LEVEL, name, reason).timed(started),
        }
    }
    let p99 = percentile(&mut samples, 99);
    let bound = params.max_p99();
    let detail = format!(
        "p99 {:.2} ms over {} requests (bound {} ms, testing.deployments.max_p99_ms)",
        p99.as_secs_f64() * 1e3,
        samples.len(),
        bound.as_millis()
    );
    CheckOutcome::new(LEVEL, name, p99 <= bound, detail).timed(started)
}

/// The nearest-rank percentile (`p` of 100) of the samples; zero without samples.
fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    let rank = (samples.len() * p).div_ceil(100).max(1);
    samples.get(rank - 1).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut samples, 99), Duration::from_millis(198));
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(percentile(&mut one, 99), Duration::from_millis(7));
        assert_eq!(percentile(&mut [], 99), Duration::ZERO);
    }
}
