//! The local endpoint's weighted router: key check, deployment choice (pinned with
//! `azureml-model-deployment`, else by traffic weight), mirror copies, and per-deployment
//! counters the rollout gates read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::target::{DEPLOYMENT_HEADER, LATENCY_BUCKETS_MS, TrafficCounters, TrafficMap};

/// Where each deployment listens and how traffic is split: swapped whole on every change.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routes {
    /// Deployments that exist: (name, port).
    pub(crate) deployments: Vec<(String, u16)>,
    /// Live traffic: (index into `deployments`, exclusive upper slot), slots 0..100.
    live: Vec<(usize, u32)>,
    /// Mirror traffic: (index, percent).
    mirror: Option<(usize, u32)>,
    /// Accepted bearer keys.
    keys: Vec<String>,
}

impl Routes {
    /// Routes from the checked traffic maps.
    pub(crate) fn new(
        deployments: Vec<(String, u16)>,
        traffic: &TrafficMap,
        mirror: &TrafficMap,
        keys: Vec<String>,
    ) -> Self {
        let index = |name: &str| deployments.iter().position(|(n, _)| n == name);
        let mut live = Vec::new();
        let mut upto = 0u32;
        for (name, &percent) in traffic {
            if let (Some(i), true) = (index(name), percent > 0) {
                upto = upto.saturating_add(percent);
                live.push((i, upto));
            }
        }
        let mirror = mirror
            .iter()
            .find(|(_, p)| **p > 0)
            .and_then(|(name, &p)| index(name).map(|i| (i, p)));
        Self {
            deployments,
            live,
            mirror,
            keys,
        }
    }

    fn by_name(&self, name: &str) -> Option<usize> {
        self.deployments.iter().position(|(n, _)| n == name)
    }

    fn weighted(&self, slot: u32) -> Option<usize> {
        self.live
            .iter()
            .find(|(_, upto)| slot < *upto)
            .map(|(i, _)| *i)
    }
}

/// Counters of one deployment (by name, kept across route changes).
#[derive(Debug, Default)]
struct DeploymentCounters {
    requests: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
}

/// The router's shared state.
pub(crate) struct RouterShared {
    routes: RwLock<Arc<Routes>>,
    counters: RwLock<Vec<(String, Arc<DeploymentCounters>)>>,
    sequence: AtomicU64,
    client: Client<HttpConnector, Body>,
    max_body_bytes: usize,
}

impl RouterShared {
    pub(crate) fn new(routes: Routes, max_body_bytes: usize) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(2))
            .build(connector);
        let shared = Arc::new(Self {
            routes: RwLock::new(Arc::new(Routes::default())),
            counters: RwLock::new(Vec::new()),
            sequence: AtomicU64::new(0),
            client,
            max_body_bytes,
        });
        shared.set_routes(routes);
        shared
    }

    /// Replaces the routes (atomically for requests: each reads one whole `Routes`).
    pub(crate) fn set_routes(&self, routes: Routes) {
        if let Ok(mut counters) = self.counters.write() {
            for (name, _) in &routes.deployments {
                if !counters.iter().any(|(n, _)| n == name) {
                    counters.push((name.clone(), Arc::default()));
                }
            }
        }
        if let Ok(mut current) = self.routes.write() {
            *current = Arc::new(routes);
        }
    }

    fn routes(&self) -> Arc<Routes> {
        self.routes
            .read()
            .map(|r| Arc::clone(&r))
            .unwrap_or_default()
    }

    fn counters_of(&self, name: &str) -> Option<Arc<DeploymentCounters>> {
        self.counters
            .read()
            .ok()?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| Arc::clone(c))
    }

    /// A snapshot of every deployment's counters.
    pub(crate) fn snapshot(&self) -> TrafficCounters {
        let mut out = TrafficCounters::default();
        if let Ok(counters) = self.counters.read() {
            for (name, c) in counters.iter() {
                out.requests
                    .insert(name.clone(), c.requests.load(Ordering::Relaxed));
                out.errors
                    .insert(name.clone(), c.errors.load(Ordering::Relaxed));
                out.latency_buckets.insert(
                    name.clone(),
                    c.buckets
                        .iter()
                        .map(|b| b.load(Ordering::Relaxed))
                        .collect(),
                );
            }
        }
        out
    }
}

/// The router as an axum app (every path and method is forwarded).
pub(crate) fn router_app(shared: Arc<RouterShared>) -> Router {
    Router::new().fallback(route).with_state(shared)
}

async fn route(State(shared): State<Arc<RouterShared>>, request: Request) -> Response {
    let routes = shared.routes();
    if !authorized(request.headers(), &routes.keys) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "missing or wrong endpoint key: send `Authorization: Bearer <key>` (deploy keys)",
        );
    }
    let sequence = shared.sequence.fetch_add(1, Ordering::Relaxed);
    // 37 is coprime with 100, so every 100 consecutive requests visit every slot once.
    let slot = u32::try_from(sequence.wrapping_mul(37) % 100).unwrap_or(0);
    let pinned = request
        .headers()
        .get(DEPLOYMENT_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let target = match &pinned {
        Some(name) => match routes.by_name(name) {
            Some(i) => i,
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "DeploymentNotFound",
                    &format!(
                        "the endpoint has no deployment named {name:?} ({DEPLOYMENT_HEADER} header)"
                    ),
                );
            }
        },
        None => match routes.weighted(slot) {
            Some(i) => i,
            None => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "NoTrafficRouted",
                    "the endpoint routes no live traffic (deploy traffic), and the request names no deployment",
                );
            }
        },
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, shared.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
                &format!(
                    "the body is over serve.max_body_bytes = {} bytes",
                    shared.max_body_bytes
                ),
            );
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut headers = parts.headers;
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::HOST);

    if pinned.is_none()
        && let Some((mirror, percent)) = routes.mirror
        && (slot * 7 + 3) % 100 < percent
    {
        let (name, port) = routes.deployments[mirror].clone();
        let shared = Arc::clone(&shared);
        let (method, headers, path, body) = (
            parts.method.clone(),
            headers.clone(),
            path.clone(),
            body.clone(),
        );
        tokio::spawn(async move {
            // The mirror's answer is dropped; its counters still see it.
            let _ = forward(&shared, &name, port, &method, &headers, &path, body).await;
        });
    }

    let (name, port) = &routes.deployments[target];
    match forward(&shared, name, *port, &parts.method, &headers, &path, body).await {
        Ok(mut response) => {
            if let Ok(value) = HeaderValue::from_str(name) {
                response.headers_mut().insert(DEPLOYMENT_HEADER, value);
            }
            response
        }
        Err(reason) => error(
            StatusCode::BAD_GATEWAY,
            "BadGateway",
            &format!("deployment {name} did not answer: {reason}"),
        ),
    }
}

/// Sends one request to a deployment (retried once when the connection failed before any
/// answer: a pooled keep-alive connection the deployment had just closed) and counts it.
async fn forward(
    shared: &RouterShared,
    name: &str,
    port: u16,
    method: &axum::http::Method,
    headers: &HeaderMap,
    path: &str,
    body: Bytes,
) -> Result<Response, String> {
    let counters = shared.counters_of(name);
    let started = Instant::now();
    let uri: Uri = format!("http://127.0.0.1:{port}{path}")
        .parse()
        .map_err(|e| format!("bad path {path:?}: {e}"))?;
    let mut last_error = String::new();
    let mut answer = None;
    for _attempt in 0..2 {
        let mut request = axum::http::Request::new(Body::from(body.clone()));
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers.clone();
        match shared.client.request(request).await {
            Ok(response) => {
                answer = Some(response);
                break;
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    if let Some(c) = &counters {
        c.requests.fetch_add(1, Ordering::Relaxed);
        let failed = answer.as_ref().is_none_or(|r| r.status().is_server_error());
        if failed {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|&upper| elapsed_ms <= upper)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        c.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }
    let response = answer.ok_or(last_error)?;
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// `Authorization: Bearer <key>` against either key, in constant time per key.
fn authorized(headers: &HeaderMap, keys: &[String]) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    keys.iter().fold(false, |ok, key| {
        ok | constant_time_eq(given.as_bytes(), key.as_bytes())
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Azure's error envelope.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, u32)]) -> TrafficMap {
        entries.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect()
    }

    #[test]
    fn weights_split_every_hundred_requests_exactly() {
        let routes = Routes::new(
            vec![("blue".into(), 1), ("green".into(), 2)],
            &map(&[("blue", 90), ("green", 10)]),
            &TrafficMap::new(),
            vec![],
        );
        let mut green = 0;
        for sequence in 0u64..100 {
            let slot = u32::try_from(sequence * 37 % 100).unwrap();
            if routes.weighted(slot) == Some(1) {
                green += 1;
            }
        }
        assert_eq!(green, 10);
    }

    /// A backend answering its own name, counting what it got.
    async fn backend(name: &'static str, hits: Arc<AtomicU64>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(move || {
            let hits = Arc::clone(&hits);
            async move {
                hits.fetch_add(1, Ordering::Relaxed);
                name
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    async fn send(app: &Router, key: &str, pin: Option<&str>) -> (StatusCode, String, String) {
        use tower::ServiceExt;
        let mut request = axum::http::Request::post("/score")
            .header(header::AUTHORIZATION, format!("Bearer {key}"));
        if let Some(pin) = pin {
            request = request.header(DEPLOYMENT_HEADER, pin);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::from("{}")).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let by = response
            .headers()
            .get(DEPLOYMENT_HEADER)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, by, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn router_splits_pins_mirrors_checks_keys_and_counts() {
        let (blue_hits, green_hits) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let blue = backend("blue", Arc::clone(&blue_hits)).await;
        let green = backend("green", Arc::clone(&green_hits)).await;
        let deployments = vec![("blue".to_owned(), blue), ("green".to_owned(), green)];
        let keys = vec!["k1".to_owned(), "k2".to_owned()];
        let shared = RouterShared::new(
            Routes::new(
                deployments.clone(),
                &map(&[("blue", 80), ("green", 20)]),
                &TrafficMap::new(),
                keys.clone(),
            ),
            1 << 20,
        );
        let app = router_app(Arc::clone(&shared));

        let mut by_green = 0;
        for _ in 0..100 {
            let (status, by, body) = send(&app, "k1", None).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(by, body, "the header names the deployment that answered");
            by_green += usize::from(by == "green");
        }
        assert_eq!(by_green, 20);
        assert_eq!(send(&app, "k2", Some("green")).await.1, "green");
        assert_eq!(send(&app, "bad", None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(send(&app, "k1", Some("red")).await.0, StatusCode::NOT_FOUND);
        let counters = shared.snapshot();
        assert_eq!(counters.requests["blue"], 80);
        assert_eq!(counters.requests["green"], 21);
        assert_eq!(counters.errors["green"], 0);

        // Mirror: half of the unpinned requests are copied to green; clients see blue only.
        shared.set_routes(Routes::new(
            deployments.clone(),
            &map(&[("blue", 100)]),
            &map(&[("green", 50)]),
            keys.clone(),
        ));
        let green_before = green_hits.load(Ordering::Relaxed);
        for _ in 0..100 {
            assert_eq!(send(&app, "k1", None).await.1, "blue");
        }
        let started = std::time::Instant::now();
        while green_hits.load(Ordering::Relaxed) - green_before < 50 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "mirror copies missing"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(green_hits.load(Ordering::Relaxed) - green_before, 50);

        // No live traffic: 503 unless pinned; a dead deployment: 502, counted as an error.
        shared.set_routes(Routes::new(
            vec![("blue".to_owned(), blue), ("green".to_owned(), free_port())],
            &TrafficMap::new(),
            &TrafficMap::new(),
            keys,
        ));
        assert_eq!(
            send(&app, "k1", None).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(send(&app, "k1", Some("blue")).await.0, StatusCode::OK);
        assert_eq!(
            send(&app, "k1", Some("green")).await.0,
            StatusCode::BAD_GATEWAY
        );
        assert!(shared.snapshot().errors["green"] >= 1);
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn keys_must_match_exactly() {
        let keys = vec!["primary".to_owned(), "second".to_owned()];
        let mut headers = HeaderMap::new();
        assert!(!authorized(&headers, &keys));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer second"),
        );
        assert!(authorized(&headers, &keys));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer primar"),
        );
        assert!(!authorized(&headers, &keys));
    }
}
