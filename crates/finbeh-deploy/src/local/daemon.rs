//! The endpoint daemon: one process per local endpoint that holds the router (on
//! `deploy.local.port`), supervises the deployment processes, keeps `endpoint.json` current and
//! answers the `deploy` commands on a loopback control API (port and token in `daemon.json`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use finbeh_config::{LocalDeploySettings, ValidSettings};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};

use crate::error::{DeployError, Result, ServiceError};
use crate::local::counters::CounterRegistry;
use crate::local::router::RouterShared;
use crate::local::router_server::{RouterServer, router_threads};
use crate::local::routes::Routes;
use crate::local::state::{
    DaemonRecord, DeploymentRecord, ENDPOINT_STATE_VERSION, EndpointState, StateDir, random_key,
    tail_lines,
};
use crate::local::supervisor::{SelfCommand, Supervised};
use crate::registry::RegisteredModel;
use crate::target::{
    DeploymentStatus, EndpointInfo, EndpointKeys, EndpointStatus, KeyKind, ProvisioningState,
    TrafficMap, check_mirror_traffic, check_traffic, show_map,
};

/// The header carrying the control token.
pub(crate) const CONTROL_TOKEN_HEADER: &str = "x-finbeh-control-token";

/// Lines of the deployment log an error carries.
pub(crate) const LOGS_TAIL_LINES: usize = 100;

/// A control API error: the service error, the log tail, a hint.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ControlError {
    pub(crate) error: ServiceError,
    pub(crate) logs_tail: Option<String>,
    pub(crate) hint: Option<String>,
}

struct Daemon {
    local: LocalDeploySettings,
    dir: StateDir,
    command: SelfCommand,
    router: Arc<RouterShared>,
    token: String,
    shutdown_timeout: Duration,
    inner: Mutex<Inner>,
    exit: Notify,
}

struct Inner {
    state: EndpointState,
    processes: BTreeMap<String, Supervised>,
    /// Deployments that never became ready, with why (kept, stopped, for their logs).
    failed: BTreeMap<String, String>,
}

/// Runs the endpoint daemon until `delete-endpoint` or SIGTERM/SIGINT: restores the
/// deployments in `endpoint.json` (or creates the endpoint with new keys), serves the router
/// and the control API. `command` starts the deployment processes (`serve-deployment`).
pub async fn run_daemon(settings: &ValidSettings, command: SelfCommand) -> Result<()> {
    // A session of its own: closing the terminal that started it (SIGHUP) or Ctrl-C in it does
    // not stop the endpoint. Fails only when already a session leader, which is fine.
    let _ = rustix::process::setsid();
    let local = settings.deploy().local.clone();
    let dir = StateDir(local.state_dir.clone());
    let state = match dir.read_endpoint()? {
        Some(state) => state,
        None => EndpointState {
            format_version: ENDPOINT_STATE_VERSION,
            name: local.endpoint_name.clone(),
            keys: EndpointKeys {
                primary_key: random_key()?,
                secondary_key: random_key()?,
            },
            deployments: Vec::new(),
            traffic: TrafficMap::new(),
            mirror_traffic: TrafficMap::new(),
        },
    };
    dir.write_endpoint(&state)?;
    let router_listener = tokio::net::TcpListener::bind(("127.0.0.1", local.port))
        .await
        .map_err(|e| {
            DeployError::io(
                "binding the router to",
                format!("127.0.0.1:{}", local.port),
                e,
            )
        })?;
    let control_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| DeployError::io("binding the control API to", "127.0.0.1:0", e))?;
    let control_port = control_listener
        .local_addr()
        .map_err(|e| DeployError::io("reading the address of", "the control API", e))?
        .port();
    let router_threads = router_threads();
    let router = RouterShared::new(
        settings.serve().max_body_bytes,
        Duration::from_millis(settings.serve().keep_alive_timeout_ms),
        router_threads,
    );
    router.set_routes(routes_of(&state, router.counters()));
    let daemon = Arc::new(Daemon {
        local,
        dir,
        command,
        router: Arc::clone(&router),
        token: random_key()?,
        shutdown_timeout: Duration::from_millis(settings.serve().shutdown_timeout_ms),
        inner: Mutex::new(Inner {
            state,
            processes: BTreeMap::new(),
            failed: BTreeMap::new(),
        }),
        exit: Notify::new(),
    });
    {
        let mut inner = daemon.inner.lock().await;
        let records = inner.state.deployments.clone();
        for record in records {
            daemon.start_process(&mut inner, &record);
        }
    }
    daemon.dir.write_daemon(&DaemonRecord {
        format_version: ENDPOINT_STATE_VERSION,
        pid: std::process::id(),
        control_port,
        token: daemon.token.clone(),
    })?;
    tracing::info!(
        port = daemon.local.port,
        control_port,
        "endpoint daemon listening"
    );

    let control = control_app(Arc::clone(&daemon));
    let exit = Arc::clone(&daemon);
    let stop = async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            () = exit.exit.notified() => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    };
    let router_server = RouterServer::start(router_listener, &router, router_threads)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let control_server = tokio::spawn({
        let mut rx = stop_rx;
        async move {
            axum::serve(control_listener, control)
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await
        }
    });
    stop.await;
    // Stop the deployments first (they drain), then the servers.
    let processes = std::mem::take(&mut daemon.inner.lock().await.processes);
    for (_, process) in processes {
        process.stop().await;
    }
    let _ = stop_tx.send(true);
    router_server.stop().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), control_server).await;
    let _ = std::fs::remove_file(daemon.dir.daemon_file());
    Ok(())
}

fn routes_of(state: &EndpointState, counters: &CounterRegistry) -> Routes {
    Routes::new(
        state
            .deployments
            .iter()
            .map(|d| (d.name.clone(), d.port))
            .collect(),
        &state.traffic,
        &state.mirror_traffic,
        vec![
            state.keys.primary_key.clone(),
            state.keys.secondary_key.clone(),
        ],
        counters,
    )
}

fn control_app(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route(
            "/deployments/{name}",
            put(put_deployment).delete(delete_deployment),
        )
        .route("/traffic", put(put_traffic))
        .route("/mirror", put(put_mirror))
        .route("/keys", get(keys))
        .route("/keys/regenerate/{which}", post(regenerate))
        .route("/counters", get(counters))
        .route("/logs/{name}", get(logs))
        .route("/endpoint", delete(delete_endpoint))
        .with_state(daemon)
}

type Answer<T> = std::result::Result<axum::Json<T>, Refusal>;

/// An error answer of the control API (boxed: a `Response` is large).
pub(crate) struct Refusal(Box<Response>);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

fn refuse(status: StatusCode, code: &str, message: String) -> Refusal {
    Refusal(Box::new(
        (
            status,
            axum::Json(ControlError {
                error: ServiceError::new(code, message),
                logs_tail: None,
                hint: None,
            }),
        )
            .into_response(),
    ))
}

fn from_error(error: &DeployError) -> Refusal {
    let status = match error {
        DeployError::Refused(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refuse(status, error.code(), error.message())
}

fn check_token(daemon: &Daemon, headers: &HeaderMap) -> std::result::Result<(), Refusal> {
    let given = headers
        .get(CONTROL_TOKEN_HEADER)
        .map(axum::http::HeaderValue::as_bytes)
        .unwrap_or_default();
    if given == daemon.token.as_bytes() {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "wrong control token (daemon.json)".to_owned(),
        ))
    }
}

impl Daemon {
    fn port_of(&self, name: &str) -> std::result::Result<u16, Refusal> {
        match name {
            "blue" => Ok(self.local.blue_port),
            "green" => Ok(self.local.green_port),
            other => Err(refuse(
                StatusCode::BAD_REQUEST,
                "BadArgument",
                format!(
                    "the local target has two deployments, blue and green; {other:?} is neither"
                ),
            )),
        }
    }

    fn start_process(&self, inner: &mut Inner, record: &DeploymentRecord) {
        let process = Supervised::start(
            &self.command,
            &record.name,
            record.port,
            std::path::Path::new(&record.model.uri),
            self.dir.log_file(&record.name),
            self.shutdown_timeout,
        );
        inner.processes.insert(record.name.clone(), process);
    }

    fn status_of(&self, inner: &Inner) -> EndpointStatus {
        EndpointStatus {
            endpoint: EndpointInfo {
                name: inner.state.name.clone(),
                url: format!("http://127.0.0.1:{}/score", self.local.port),
                state: ProvisioningState::Succeeded,
            },
            deployments: inner
                .state
                .deployments
                .iter()
                .map(|d| {
                    let process = inner.processes.get(&d.name).map(Supervised::status);
                    let failed = inner.failed.get(&d.name);
                    let state = match (&process, failed) {
                        (Some(p), _) => p.state,
                        (None, Some(_)) => ProvisioningState::Failed,
                        (None, None) => ProvisioningState::Stopped,
                    };
                    DeploymentStatus {
                        name: d.name.clone(),
                        state,
                        model: d.model.reference(),
                        detail: process.and_then(|p| p.detail()).or_else(|| failed.cloned()),
                    }
                })
                .collect(),
            traffic: inner.state.traffic.clone(),
            mirror_traffic: inner.state.mirror_traffic.clone(),
        }
    }

    fn save(&self, inner: &Inner) -> std::result::Result<(), Refusal> {
        self.router
            .set_routes(routes_of(&inner.state, self.router.counters()));
        self.dir
            .write_endpoint(&inner.state)
            .map_err(|e| from_error(&e))
    }

    /// Waits until the deployment is ready; on failure stops it and answers
    /// `ResourceNotReady` with the log tail and a hint.
    async fn wait_ready(&self, inner: &mut Inner, name: &str) -> std::result::Result<(), Refusal> {
        let timeout = Duration::from_millis(self.local.health_timeout_ms);
        let started = Instant::now();
        let failure = loop {
            let Some(status) = inner.processes.get(name).map(Supervised::status) else {
                break "the deployment process is gone".to_owned();
            };
            match status.state {
                ProvisioningState::Succeeded => return Ok(()),
                ProvisioningState::Failed => {
                    break status.last_exit.unwrap_or_else(|| "failed".to_owned());
                }
                _ if status.restarts > 0 => {
                    break format!(
                        "User container has crashed or terminated: the deployment process exited before it was ready ({})",
                        status.last_exit.as_deref().unwrap_or("unknown exit")
                    );
                }
                _ if started.elapsed() > timeout => {
                    break format!(
                        "the deployment did not answer /health/ready within deploy.local.health_timeout_ms = {} ms",
                        self.local.health_timeout_ms
                    );
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        if let Some(process) = inner.processes.remove(name) {
            process.stop().await;
        }
        inner.failed.insert(name.to_owned(), failure.clone());
        let logs_tail = tail_lines(&self.dir.log_file(name), LOGS_TAIL_LINES).ok();
        let hint = hint_for(logs_tail.as_deref().unwrap_or(""));
        Err(Refusal(Box::new(
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(ControlError {
                    error: ServiceError::new("ResourceNotReady", failure),
                    logs_tail,
                    hint: Some(hint),
                }),
            )
                .into_response(),
        )))
    }
}

/// A hint mapped from the symptom in the deployment's log.
pub(crate) fn hint_for(log: &str) -> String {
    let lower = log.to_ascii_lowercase();
    if lower.contains("newer") || lower.contains("format") && lower.contains("version") {
        "the artifact's format is not one this finbeh-serve reads (version skew): deploy a \
         server built with the finbeh that trained it, or re-train with this one"
            .to_owned()
    } else if lower.contains("sha-256") || lower.contains("golden") || lower.contains("corrupt") {
        "the artifact does not verify (checksum or golden set): it was damaged or altered after \
         training; register the original file again"
            .to_owned()
    } else if lower.contains("address already in use") || lower.contains("cannot listen on") {
        "the deployment's port is taken by another process: change deploy.local.blue_port or \
         green_port, or stop that process"
            .to_owned()
    } else {
        "the deployment process exited or never became ready: read its log (deploy logs \
         <deployment>)"
            .to_owned()
    }
}

async fn status(State(d): State<Arc<Daemon>>, headers: HeaderMap) -> Answer<EndpointStatus> {
    check_token(&d, &headers)?;
    let inner = d.inner.lock().await;
    Ok(axum::Json(d.status_of(&inner)))
}

async fn put_deployment(
    State(d): State<Arc<Daemon>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    axum::Json(model): axum::Json<RegisteredModel>,
) -> Answer<DeploymentStatus> {
    check_token(&d, &headers)?;
    let port = d.port_of(&name)?;
    if !std::path::Path::new(&model.uri).is_file() {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "BadArgument",
            format!(
                "model {}:{}: no artifact file at {}",
                model.name, model.version, model.uri
            ),
        ));
    }
    let mut inner = d.inner.lock().await;
    let live = inner.state.traffic.get(&name).copied().unwrap_or(0);
    if live > 0 {
        return Err(refuse(
            StatusCode::CONFLICT,
            "DeploymentHasTraffic",
            format!(
                "deployment {name} takes {live}% of live traffic; updating it in place would fail requests: deploy to the other colour (deploy rollout) or move its traffic first"
            ),
        ));
    }
    if let Some(old) = inner.processes.remove(&name) {
        old.stop().await;
    }
    inner.failed.remove(&name);
    let record = DeploymentRecord {
        name: name.clone(),
        model,
        port,
    };
    inner.state.deployments.retain(|r| r.name != name);
    inner.state.deployments.push(record.clone());
    inner.state.deployments.sort_by(|a, b| a.name.cmp(&b.name));
    d.save(&inner)?;
    d.start_process(&mut inner, &record);
    d.wait_ready(&mut inner, &name).await?;
    let status = d.status_of(&inner);
    status
        .deployment(&name)
        .cloned()
        .map(axum::Json)
        .ok_or_else(|| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal",
                "deployment vanished".to_owned(),
            )
        })
}

fn names(inner: &Inner) -> Vec<&str> {
    inner
        .state
        .deployments
        .iter()
        .map(|d| d.name.as_str())
        .collect()
}

async fn put_traffic(
    State(d): State<Arc<Daemon>>,
    headers: HeaderMap,
    axum::Json(traffic): axum::Json<TrafficMap>,
) -> Answer<EndpointStatus> {
    check_token(&d, &headers)?;
    let mut inner = d.inner.lock().await;
    check_traffic(&traffic, &names(&inner)).map_err(|e| from_error(&e))?;
    for (name, &percent) in &traffic {
        let state = inner.processes.get(name).map(|p| p.status().state);
        if percent > 0 && state != Some(ProvisioningState::Succeeded) {
            return Err(refuse(
                StatusCode::CONFLICT,
                "DeploymentNotReady",
                format!(
                    "deployment {name} is {}: traffic is never shifted to a deployment that is not ready",
                    state.map_or("not running", ProvisioningState::as_str)
                ),
            ));
        }
    }
    let mirror = inner.state.mirror_traffic.clone();
    check_mirror_traffic(&mirror, &traffic, &names(&inner)).map_err(|e| from_error(&e))?;
    tracing::info!(traffic = %show_map(&traffic), "traffic set");
    inner.state.traffic = traffic.into_iter().filter(|(_, p)| *p > 0).collect();
    d.save(&inner)?;
    Ok(axum::Json(d.status_of(&inner)))
}

async fn put_mirror(
    State(d): State<Arc<Daemon>>,
    headers: HeaderMap,
    axum::Json(mirror): axum::Json<TrafficMap>,
) -> Answer<EndpointStatus> {
    check_token(&d, &headers)?;
    let mut inner = d.inner.lock().await;
    check_mirror_traffic(&mirror, &inner.state.traffic, &names(&inner))
        .map_err(|e| from_error(&e))?;
    inner.state.mirror_traffic = mirror.into_iter().filter(|(_, p)| *p > 0).collect();
    d.save(&inner)?;
    Ok(axum::Json(d.status_of(&inner)))
}

async fn keys(State(d): State<Arc<Daemon>>, headers: HeaderMap) -> Answer<EndpointKeys> {
    check_token(&d, &headers)?;
    Ok(axum::Json(d.inner.lock().await.state.keys.clone()))
}

async fn regenerate(
    State(d): State<Arc<Daemon>>,
    headers: HeaderMap,
    UrlPath(which): UrlPath<KeyKind>,
) -> Answer<EndpointKeys> {
    check_token(&d, &headers)?;
    let key = random_key().map_err(|e| from_error(&e))?;
    let mut inner = d.inner.lock().await;
    match which {
        KeyKind::Primary => inner.state.keys.primary_key = key,
        KeyKind::Secondary => inner.state.keys.secondary_key = key,
    }
    d.save(&inner)?;
    Ok(axum::Json(inner.state.keys.clone()))
}

async fn counters(
    State(d): State<Arc<Daemon>>,
    headers: HeaderMap,
) -> Answer<crate::target::TrafficCounters> {
    check_token(&d, &headers)?;
    Ok(axum::Json(d.router.snapshot()))
}

#[derive(Deserialize)]
struct Tail {
    tail: Option<usize>,
}

async fn logs(
    State(d): State<Arc<Daemon>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    Query(tail): Query<Tail>,
) -> Answer<String> {
    check_token(&d, &headers)?;
    tail_lines(&d.dir.log_file(&name), tail.tail.unwrap_or(LOGS_TAIL_LINES))
        .map(axum::Json)
        .map_err(|e| from_error(&e))
}

async fn delete_deployment(
    State(d): State<Arc<Daemon>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Answer<EndpointStatus> {
    check_token(&d, &headers)?;
    let mut inner = d.inner.lock().await;
    if !inner.state.deployments.iter().any(|r| r.name == name) {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the endpoint has no deployment named {name}"),
        ));
    }
    let live = inner.state.traffic.get(&name).copied().unwrap_or(0);
    if live > 0 {
        return Err(refuse(
            StatusCode::CONFLICT,
            "DeploymentHasTraffic",
            format!(
                "deployment {name} takes {live}% of live traffic: move it first (deploy traffic)"
            ),
        ));
    }
    inner.state.mirror_traffic.remove(&name);
    inner.state.deployments.retain(|r| r.name != name);
    inner.failed.remove(&name);
    d.save(&inner)?;
    if let Some(process) = inner.processes.remove(&name) {
        process.stop().await;
    }
    Ok(axum::Json(d.status_of(&inner)))
}

async fn delete_endpoint(State(d): State<Arc<Daemon>>, headers: HeaderMap) -> Answer<()> {
    check_token(&d, &headers)?;
    let mut inner = d.inner.lock().await;
    for (_, process) in std::mem::take(&mut inner.processes) {
        process.stop().await;
    }
    let _ = std::fs::remove_file(d.dir.endpoint_file());
    d.exit.notify_one();
    Ok(axum::Json(()))
}
