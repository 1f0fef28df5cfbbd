//! The local endpoint's weighted router, one request: key check, deployment choice (pinned
//! with `azureml-model-deployment`, else by traffic weight), mirror copies, forwarding over the
//! client connection's own keep-alive connection to the deployment, and the counters the
//! rollout gates read.
//!
//! The request's head is passed on as it came (less `Authorization`, with the deployment's
//! `Host`), the body as the bytes read, and the deployment's answer streams back unbuffered.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::local::backend::{Backends, ForwardBody, exchange};
use crate::local::counters::CounterRegistry;
use crate::local::routes::{Deployment, Routes};
use crate::target::{DEPLOYMENT_HEADER, TrafficCounters};

/// An answer's body: the deployment's, streamed through, or the router's own error.
pub(crate) type RouterBody = Either<Incoming, Full<Bytes>>;

/// Mirror copies in flight at most; further copies are dropped (a slow mirror deployment must
/// neither slow the live answers nor pile up copies in memory).
const MAX_MIRRORS_IN_FLIGHT: usize = 256;

const DEPLOYMENT: HeaderName = HeaderName::from_static(DEPLOYMENT_HEADER);

/// The router's state shared by every thread and connection.
pub(crate) struct RouterShared {
    routes: RwLock<Arc<Routes>>,
    /// Bumped on every route change: a connection re-reads `routes` only when it moved.
    generation: AtomicU64,
    counters: CounterRegistry,
    sequence: AtomicU64,
    mirror_client: Client<HttpConnector, ForwardBody>,
    mirrors_in_flight: AtomicUsize,
    max_body_bytes: usize,
    /// The deployments' `serve.keep_alive_timeout_ms`.
    keep_alive: Duration,
}

impl RouterShared {
    /// A router with no routes yet, counting in `shards` shards (one per router thread), in
    /// front of deployments that close idle connections after `keep_alive`.
    pub(crate) fn new(max_body_bytes: usize, keep_alive: Duration, shards: usize) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let mirror_client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(keep_alive / 2)
            .build(connector);
        Arc::new(Self {
            routes: RwLock::new(Arc::new(Routes::default())),
            generation: AtomicU64::new(0),
            counters: CounterRegistry::new(shards),
            sequence: AtomicU64::new(0),
            mirror_client,
            mirrors_in_flight: AtomicUsize::new(0),
            max_body_bytes,
            keep_alive,
        })
    }

    /// The counters, for [`Routes::new`].
    pub(crate) fn counters(&self) -> &CounterRegistry {
        &self.counters
    }

    /// Replaces the routes (atomically for requests: each reads one whole `Routes`).
    pub(crate) fn set_routes(&self, routes: Routes) {
        *self.routes.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(routes);
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn routes(&self) -> Arc<Routes> {
        Arc::clone(&self.routes.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// A snapshot of every deployment's counters.
    pub(crate) fn snapshot(&self) -> TrafficCounters {
        self.counters.snapshot()
    }
}

/// One client connection's side of the router: the routes it last read and its own
/// connections to the deployments. Requests on one HTTP/1.1 connection come one at a time,
/// so its lock is never contended.
pub(crate) struct ClientConnection {
    shared: Arc<RouterShared>,
    /// The counter shard (the router thread serving this connection).
    shard: usize,
    local: Mutex<Local>,
}

struct Local {
    generation: u64,
    routes: Arc<Routes>,
    backends: Backends,
}

impl ClientConnection {
    pub(crate) fn new(shared: Arc<RouterShared>, shard: usize) -> Self {
        Self {
            local: Mutex::new(Local {
                generation: u64::MAX,
                routes: Arc::default(),
                backends: Backends::new(shared.keep_alive),
            }),
            shared,
            shard,
        }
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn routes(&self) -> Arc<Routes> {
        let generation = self.shared.generation.load(Ordering::Acquire);
        let mut local = self.local();
        if local.generation != generation {
            local.routes = self.shared.routes();
            local.generation = generation;
        }
        Arc::clone(&local.routes)
    }

    /// Answers one request: the chosen deployment's answer, or the router's error.
    pub(crate) async fn handle<B>(&self, request: Request<B>) -> Response<RouterBody>
    where
        B: Body<Data = Bytes>,
        B::Error: Display + std::error::Error + Send + Sync + 'static,
    {
        let routes = self.routes();
        if !routes.authorized(request.headers()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "missing or wrong endpoint key: send `Authorization: Bearer <key>` (deploy keys)",
            );
        }
        let sequence = self.shared.sequence.fetch_add(1, Ordering::Relaxed);
        // 37 is coprime with 100, so every 100 consecutive requests visit every slot once.
        let slot = u32::try_from(sequence.wrapping_mul(37) % 100).unwrap_or(0);
        let pinned = request.headers().get(DEPLOYMENT_HEADER);
        let deployment = match pinned {
            Some(name) => match routes.by_name(name.as_bytes()) {
                Some(deployment) => deployment,
                None => {
                    return error(
                        StatusCode::NOT_FOUND,
                        "DeploymentNotFound",
                        &format!(
                            "the endpoint has no deployment named {:?} ({DEPLOYMENT_HEADER} header)",
                            String::from_utf8_lossy(name.as_bytes())
                        ),
                    );
                }
            },
            None => match routes.weighted(slot) {
                Some(deployment) => deployment,
                None => {
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "NoTrafficRouted",
                        "the endpoint routes no live traffic (deploy traffic), and the request names no deployment",
                    );
                }
            },
        };
        let pinned = pinned.is_some();
        let (mut parts, body) = request.into_parts();
        let body = match read_body(body, self.shared.max_body_bytes).await {
            Ok(body) => body,
            Err(refusal) => return refusal,
        };
        parts.headers.remove(header::AUTHORIZATION);
        // Hop by hop: the client's connection and the deployment's are kept alive apart.
        parts.headers.remove(header::CONNECTION);
        parts.headers.insert(header::HOST, deployment.host.clone());

        if !pinned
            && let Some((mirror, percent)) = routes.mirror()
            && (slot * 7 + 3) % 100 < percent
        {
            self.mirror(mirror, &parts, body.clone());
        }

        let port = deployment.port;
        let started = Instant::now();
        let kept = self.local().backends.take(port, started);
        let (answer, sender) =
            exchange(kept, port, Request::from_parts(parts, Full::new(body))).await;
        if let Some(sender) = sender {
            self.local().backends.put(port, sender, Instant::now());
        }
        deployment
            .counters
            .record(self.shard, failed(&answer), started.elapsed());
        match answer {
            Ok(response) => {
                let (mut head, body) = response.into_parts();
                head.headers.remove(header::CONNECTION);
                if let Some(name) = &deployment.name_header {
                    head.headers.insert(DEPLOYMENT, name.clone());
                }
                Response::from_parts(head, Either::Left(body))
            }
            Err(reason) => error(
                StatusCode::BAD_GATEWAY,
                "BadGateway",
                &format!("deployment {} did not answer: {reason}", deployment.name),
            ),
        }
    }

    /// Sends a copy to the mirror deployment in the background; its answer is read and
    /// dropped, its counters still see it. Dropped when too many copies are in flight.
    fn mirror(&self, deployment: &Deployment, parts: &Parts, body: Bytes) {
        let Some(in_flight) = MirrorSlot::take(&self.shared) else {
            return;
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = format!("http://127.0.0.1:{}{path}", deployment.port).parse::<Uri>() else {
            return;
        };
        let mut copy = Request::new(Full::new(body));
        *copy.method_mut() = parts.method.clone();
        *copy.uri_mut() = uri;
        *copy.headers_mut() = parts.headers.clone();
        let counters = Arc::clone(&deployment.counters);
        let (shard, max_body_bytes) = (self.shard, self.shared.max_body_bytes);
        let sent = self.shared.mirror_client.request(copy);
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = sent.await;
            counters.record(shard, failed(&answer), started.elapsed());
            if let Ok(answer) = answer {
                // Read to the end so the pooled connection can be used again.
                let _ = Limited::new(answer.into_body(), max_body_bytes)
                    .collect()
                    .await;
            }
            drop(in_flight);
        });
    }
}

/// A request the gate counts as an error: no answer, or a 5xx.
fn failed<B, E>(answer: &Result<Response<B>, E>) -> bool {
    answer
        .as_ref()
        .map_or(true, |response| response.status().is_server_error())
}

/// One of [`MAX_MIRRORS_IN_FLIGHT`] slots, given back when dropped.
struct MirrorSlot(Arc<RouterShared>);

impl MirrorSlot {
    fn take(shared: &Arc<RouterShared>) -> Option<Self> {
        let before = shared.mirrors_in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = Self(Arc::clone(shared)); // gives the slot back if refused below
        (before < MAX_MIRRORS_IN_FLIGHT).then_some(slot)
    }
}

impl Drop for MirrorSlot {
    fn drop(&mut self) {
        self.0.mirrors_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads the whole body, refusing one over `serve.max_body_bytes` (413).
async fn read_body<B>(body: B, max_body_bytes: usize) -> Result<Bytes, Response<RouterBody>>
where
    B: Body<Data = Bytes>,
    B::Error: Display + std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, max_body_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            &format!("the body is over serve.max_body_bytes = {max_body_bytes} bytes"),
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("the request body could not be read: {e}"),
        )),
    }
}

/// Azure's error envelope.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response<RouterBody> {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body.to_string()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use axum::Router;
    use axum::serve::ListenerExt;
    use http_body_util::BodyExt;

    use super::*;
    use crate::local::router_server::RouterServer;
    use crate::target::TrafficMap;

    fn map(entries: &[(&str, u32)]) -> TrafficMap {
        entries.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect()
    }

    /// A deployment stand-in answering its name; counts requests and accepted connections.
    /// With `close`, every answer carries `Connection: close`; with `hang`, none ever comes.
    struct Backend {
        port: u16,
        hits: Arc<AtomicU64>,
        connections: Arc<AtomicU64>,
    }

    async fn backend(name: &'static str, close: bool, hang: bool) -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (hits, connections) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let counted = Arc::clone(&hits);
        let app = Router::new().fallback(move || {
            let hits = Arc::clone(&counted);
            async move {
                hits.fetch_add(1, Ordering::Relaxed);
                if hang {
                    std::future::pending::<()>().await;
                }
                let connection = if close { "close" } else { "keep-alive" };
                ([(header::CONNECTION, connection)], name)
            }
        });
        let accepted = Arc::clone(&connections);
        let listener = listener.tap_io(move |_| {
            accepted.fetch_add(1, Ordering::Relaxed);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Backend {
            port,
            hits,
            connections,
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    const KEYS: [&str; 2] = ["k1", "k2"];

    /// The router on a socket, thread per core as the daemon runs it.
    async fn router(
        deployments: &[(&str, u16)],
        traffic: &[(&str, u32)],
        mirror: &[(&str, u32)],
    ) -> (Arc<RouterShared>, RouterServer, u16) {
        let shared = RouterShared::new(1 << 10, Duration::from_secs(30), 2);
        set_routes(&shared, deployments, traffic, mirror);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = RouterServer::start(listener, &shared, 2).unwrap();
        (shared, server, port)
    }

    fn set_routes(
        shared: &RouterShared,
        deployments: &[(&str, u16)],
        traffic: &[(&str, u32)],
        mirror: &[(&str, u32)],
    ) {
        shared.set_routes(Routes::new(
            deployments
                .iter()
                .map(|(n, p)| ((*n).to_owned(), *p))
                .collect(),
            &map(traffic),
            &map(mirror),
            KEYS.iter().map(|k| (*k).to_owned()).collect(),
            shared.counters(),
        ));
    }

    /// One client connection to the router.
    struct Client(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

    impl Client {
        async fn connect(port: u16) -> Self {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let (sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            Self(sender)
        }

        /// (status, the deployment header, the body).
        async fn send(
            &mut self,
            key: &str,
            pin: Option<&str>,
            body: &str,
        ) -> (StatusCode, String, String) {
            let mut request = Request::post("/score")
                .header(header::HOST, "router")
                .header(header::AUTHORIZATION, format!("Bearer {key}"));
            if let Some(pin) = pin {
                request = request.header(DEPLOYMENT_HEADER, pin);
            }
            self.0.ready().await.unwrap();
            let response = self
                .0
                .send_request(
                    request
                        .body(Full::new(Bytes::from(body.to_owned())))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = response.status();
            let by = response
                .headers()
                .get(DEPLOYMENT_HEADER)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, by, String::from_utf8_lossy(&body).into_owned())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn router_splits_pins_checks_keys_and_counts() {
        let (blue, green) = (
            backend("blue", false, false).await,
            backend("green", false, false).await,
        );
        let deployments = [("blue", blue.port), ("green", green.port)];
        let (shared, server, port) =
            router(&deployments, &[("blue", 80), ("green", 20)], &[]).await;
        let mut client = Client::connect(port).await;

        let mut by_green = 0;
        for _ in 0..100 {
            let (status, by, body) = client.send("k1", None, "{}").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(by, body, "the header names the deployment that answered");
            by_green += usize::from(by == "green");
        }
        assert_eq!(by_green, 20);
        assert_eq!(client.send("k2", Some("green"), "{}").await.1, "green");
        let (status, _, body) = client.send("bad", None, "{}").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("\"Unauthorized\""), "{body}");
        let (status, _, body) = client.send("k1", Some("red"), "{}").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no deployment named \\\"red\\\""), "{body}");
        let counters = shared.snapshot();
        assert_eq!(counters.requests["blue"], 80);
        assert_eq!(counters.requests["green"], 21);
        assert_eq!(counters.errors["green"], 0);
        assert_eq!(counters.latency_buckets["blue"].iter().sum::<u64>(), 80);

        // No live traffic: 503 unless pinned; a dead deployment: 502, counted as an error.
        set_routes(
            &shared,
            &[("blue", blue.port), ("green", free_port())],
            &[],
            &[],
        );
        let (status, _, body) = client.send("k1", None, "{}").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("NoTrafficRouted"), "{body}");
        assert_eq!(
            client.send("k1", Some("blue"), "{}").await.0,
            StatusCode::OK
        );
        let (status, _, body) = client.send("k1", Some("green"), "{}").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(body.contains("deployment green did not answer"), "{body}");
        assert_eq!(shared.snapshot().errors["green"], 1);
        assert_eq!(shared.snapshot().requests["green"], 22);

        // Over serve.max_body_bytes: 413 (the client connection is then closed: its body was
        // not read to the end).
        let (status, _, body) = Client::connect(port)
            .await
            .send("k1", Some("blue"), &"x".repeat(2000))
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(body.contains("serve.max_body_bytes = 1024"), "{body}");
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_client_connection_keeps_one_connection_per_deployment() {
        let blue = backend("blue", false, false).await;
        let (_shared, server, port) = router(&[("blue", blue.port)], &[("blue", 100)], &[]).await;
        let mut first = Client::connect(port).await;
        for _ in 0..20 {
            assert_eq!(first.send("k1", None, "{}").await.0, StatusCode::OK);
        }
        assert_eq!(blue.connections.load(Ordering::Relaxed), 1);
        let mut second = Client::connect(port).await;
        for _ in 0..20 {
            assert_eq!(second.send("k1", None, "{}").await.0, StatusCode::OK);
            assert_eq!(first.send("k1", None, "{}").await.0, StatusCode::OK);
        }
        assert_eq!(blue.connections.load(Ordering::Relaxed), 2);
        assert_eq!(blue.hits.load(Ordering::Relaxed), 60);
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deployment_closing_its_connections_loses_no_request() {
        // Connection: close after every answer: each next request finds its kept connection
        // closed and goes out on a new one.
        let blue = backend("blue", true, false).await;
        let (shared, server, port) = router(&[("blue", blue.port)], &[("blue", 100)], &[]).await;
        let mut client = Client::connect(port).await;
        for _ in 0..20 {
            let (status, by, body) = client.send("k1", None, "{}").await;
            assert_eq!((status, by.as_str()), (StatusCode::OK, "blue"), "{body}");
        }
        assert_eq!(blue.connections.load(Ordering::Relaxed), 20);
        assert_eq!(shared.snapshot().errors["blue"], 0);
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mirror_copies_are_counted_and_never_hold_the_live_answer() {
        let (blue, green) = (
            backend("blue", false, false).await,
            backend("green", false, false).await,
        );
        let deployments = [("blue", blue.port), ("green", green.port)];
        let (shared, server, port) = router(&deployments, &[("blue", 100)], &[("green", 50)]).await;
        let mut client = Client::connect(port).await;
        for _ in 0..100 {
            assert_eq!(client.send("k1", None, "{}").await.1, "blue");
        }
        // Pinned requests are not mirrored.
        assert_eq!(client.send("k1", Some("blue"), "{}").await.1, "blue");
        while shared.mirrors_in_flight.load(Ordering::Acquire) > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(green.hits.load(Ordering::Relaxed), 50);
        assert_eq!(shared.snapshot().requests["green"], 50);

        // A mirror deployment that never answers: live answers still come, and copies beyond
        // MAX_MIRRORS_IN_FLIGHT are dropped rather than queued.
        let hanging = backend("green", false, true).await;
        set_routes(
            &shared,
            &[("blue", blue.port), ("green", hanging.port)],
            &[("blue", 100)],
            &[("green", 50)],
        );
        for _ in 0..(2 * MAX_MIRRORS_IN_FLIGHT + 100) {
            assert_eq!(client.send("k1", None, "{}").await.0, StatusCode::OK);
        }
        assert_eq!(
            shared.mirrors_in_flight.load(Ordering::Acquire),
            MAX_MIRRORS_IN_FLIGHT
        );
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stop_closes_idle_connections_and_the_port() {
        let blue = backend("blue", false, false).await;
        let (_shared, server, port) = router(&[("blue", blue.port)], &[("blue", 100)], &[]).await;
        let mut client = Client::connect(port).await;
        assert_eq!(client.send("k1", None, "{}").await.0, StatusCode::OK);
        server.stop().await;
        assert!(
            client.0.ready().await.is_err(),
            "an idle connection stays open"
        );
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err(),
            "the router still accepts after stop"
        );
    }
}
