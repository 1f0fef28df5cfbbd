//! [`LocalTarget`]: the `deploy` commands' side of the local endpoint. It starts the endpoint
//! daemon when needed, talks to it through the loopback control API named in `daemon.json`, and
//! tells the truth from the state files when the daemon is not running (after a reboot: every
//! deployment `Stopped`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, header};
use finbeh_config::{LocalDeploySettings, ValidSettings};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DeployError, Result, ServiceError, ServiceFailure};
use crate::local::daemon::{CONTROL_TOKEN_HEADER, ControlError};
use crate::local::state::{DaemonRecord, StateDir, pid_alive, tail_lines};
use crate::local::supervisor::SelfCommand;
use crate::target::{
    DEPLOYMENT_HEADER, DeploymentSpec, DeploymentStatus, DeploymentTarget, EndpointInfo,
    EndpointKeys, EndpointSpec, EndpointStatus, InvokeResponse, KeyKind, ProvisioningState,
    TrafficCounters, TrafficMap,
};

/// How long `start` waits for a new daemon to answer.
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(15);

/// Largest answer read from the endpoint or its daemon.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// The local deployment target: one endpoint (`deploy.local.endpoint_name`) whose daemon holds
/// a weighted router on `deploy.local.port` and supervised finbeh-serve processes on
/// `blue_port` / `green_port`.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    local: LocalDeploySettings,
    dir: StateDir,
    command: SelfCommand,
    client: Client<HttpConnector, Body>,
}

impl LocalTarget {
    /// The target for `[deploy.local]`; `command` is how to start the daemon (`<program>
    /// <leading args> daemon`), normally the `deploy` example binary itself.
    pub fn new(settings: &ValidSettings, command: SelfCommand) -> Self {
        let local = settings.deploy().local.clone();
        Self {
            dir: StateDir(local.state_dir.clone()),
            local,
            command,
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    /// The running daemon, or why there is none (no state, stale pid, control API silent).
    async fn daemon(&self) -> Result<DaemonRecord> {
        let not_running = |reason: String| DeployError::NotRunning {
            endpoint: self.local.endpoint_name.clone(),
            reason,
        };
        let Some(record) = self.dir.read_daemon()? else {
            return Err(not_running(format!(
                "no daemon ({} does not exist): `deploy start` starts it",
                self.dir.daemon_file().display()
            )));
        };
        if !pid_alive(record.pid) {
            return Err(not_running(format!(
                "stale pid {} in {} (the machine restarted or the daemon was killed): `deploy start` restores the endpoint",
                record.pid,
                self.dir.daemon_file().display()
            )));
        }
        let probe = self.send(&record, Method::GET, "/status", None).await;
        match probe {
            Ok((status, _)) if status < 400 => Ok(record),
            Ok((status, _)) => Err(not_running(format!(
                "pid {} answers the control port {} with {status}: not this endpoint's daemon",
                record.pid, record.control_port
            ))),
            Err(e) => Err(not_running(format!(
                "pid {} does not answer on the control port {}: {e}",
                record.pid, record.control_port
            ))),
        }
    }

    /// Starts the daemon when it is not running (restoring `endpoint.json`), and waits until it
    /// answers. What `deploy start` runs.
    pub async fn start(&self) -> Result<EndpointStatus> {
        if self.daemon().await.is_err() {
            self.spawn_daemon().await?;
        }
        // Restored deployments start in the background: wait until none is still starting.
        let deadline = Duration::from_millis(self.local.health_timeout_ms) + DAEMON_START_TIMEOUT;
        let started = Instant::now();
        loop {
            let status = self.status().await?;
            let starting = status
                .deployments
                .iter()
                .any(|d| d.state == ProvisioningState::Creating);
            if !starting || started.elapsed() > deadline {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn spawn_daemon(&self) -> Result<()> {
        let logs = self.dir.0.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| DeployError::io("creating", &logs, e))?;
        let log_path = logs.join("daemon.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| DeployError::io("opening", &log_path, e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| DeployError::io("opening", &log_path, e))?;
        let _ = std::fs::remove_file(self.dir.daemon_file());
        let mut command = std::process::Command::new(&self.command.program);
        command
            .args(&self.command.leading_args)
            .arg("daemon")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let mut child = command.spawn().map_err(|e| {
            DeployError::io("starting the endpoint daemon", &self.command.program, e)
        })?;
        let pid = child.id();
        // Reap the daemon when it exits while this process still runs (no zombie).
        std::thread::spawn(move || child.wait());
        let started = Instant::now();
        loop {
            if let Ok(Some(record)) = self.dir.read_daemon()
                && record.pid == pid
                && self.daemon().await.is_ok()
            {
                return Ok(());
            }
            if !pid_alive(pid) || started.elapsed() > DAEMON_START_TIMEOUT {
                let tail = tail_lines(&log_path, 20).unwrap_or_default();
                return Err(DeployError::Service(Box::new(ServiceFailure {
                    operation: "starting the endpoint daemon".to_owned(),
                    status: None,
                    error: ServiceError::new(
                        "DaemonNotStarted",
                        format!(
                            "the daemon (pid {pid}) did not answer within {} s",
                            DAEMON_START_TIMEOUT.as_secs()
                        ),
                    ),
                    logs_tail: Some(tail),
                    hint: Some(format!(
                        "is port {} (deploy.local.port) free? see {}",
                        self.local.port,
                        log_path.display()
                    )),
                })));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn send(
        &self,
        record: &DaemonRecord,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>)> {
        let url = format!("http://127.0.0.1:{}{path}", record.control_port);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header(CONTROL_TOKEN_HEADER, &record.token);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .map_err(|e| transport(&url, e))?;
        self.exchange(&url, request).await
    }

    async fn exchange(&self, url: &str, request: Request<Body>) -> Result<(u16, Vec<u8>)> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| transport(url, e))?;
        let status = response.status().as_u16();
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| transport(url, e))?
            .to_bytes()
            .to_vec();
        Ok((status, body))
    }

    /// Calls the control API and decodes the answer; an error answer becomes
    /// [`DeployError::Service`] with the daemon's code, log tail and hint.
    async fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let record = self.daemon().await?;
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| DeployError::Refused(format!("{operation}: cannot encode: {e}")))?;
        let (status, answer) = self.send(&record, method, path, body).await?;
        if status >= 400 {
            let failure: ControlError = serde_json::from_slice(&answer).unwrap_or(ControlError {
                error: ServiceError::new(
                    format!("Http{status}"),
                    String::from_utf8_lossy(&answer).into_owned(),
                ),
                logs_tail: None,
                hint: None,
            });
            if failure.error.code == "BadArgument" && failure.logs_tail.is_none() {
                return Err(DeployError::Refused(failure.error.message));
            }
            return Err(DeployError::Service(Box::new(ServiceFailure {
                operation: operation.to_owned(),
                status: Some(status),
                error: failure.error,
                logs_tail: failure.logs_tail,
                hint: failure.hint,
            })));
        }
        serde_json::from_slice(&answer).map_err(|e| DeployError::Transport {
            url: path.to_owned(),
            reason: format!("{operation}: unreadable answer: {e}"),
        })
    }

    /// The endpoint as `endpoint.json` describes it, every process `Stopped` (the daemon is
    /// not running).
    fn stopped_status(&self, reason: &DeployError) -> Result<EndpointStatus> {
        let Some(state) = self.dir.read_endpoint()? else {
            return Err(DeployError::NotRunning {
                endpoint: self.local.endpoint_name.clone(),
                reason: format!(
                    "no endpoint in {}: deploy rollout (or deploy start) creates it",
                    self.dir.0.display()
                ),
            });
        };
        Ok(EndpointStatus {
            endpoint: EndpointInfo {
                name: state.name,
                url: self.url(),
                state: ProvisioningState::Stopped,
            },
            deployments: state
                .deployments
                .iter()
                .map(|d| DeploymentStatus {
                    name: d.name.clone(),
                    state: ProvisioningState::Stopped,
                    model: d.model.reference(),
                    detail: Some(reason.to_string()),
                })
                .collect(),
            traffic: state.traffic,
            mirror_traffic: state.mirror_traffic,
        })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/score", self.local.port)
    }
}

fn transport(url: &str, error: impl std::fmt::Display) -> DeployError {
    DeployError::Transport {
        url: url.to_owned(),
        reason: error.to_string(),
    }
}

const NO_BODY: Option<&()> = None;

impl DeploymentTarget for LocalTarget {
    fn endpoint_name(&self) -> &str {
        &self.local.endpoint_name
    }

    async fn create_or_update_endpoint(&self, spec: &EndpointSpec) -> Result<EndpointStatus> {
        if spec.name != self.local.endpoint_name {
            return Err(DeployError::Refused(format!(
                "the local target serves one endpoint, deploy.local.endpoint_name = {:?}, not {:?}",
                self.local.endpoint_name, spec.name
            )));
        }
        self.start().await
    }

    async fn create_or_update_deployment(&self, spec: &DeploymentSpec) -> Result<DeploymentStatus> {
        self.call(
            &format!("create deployment {}", spec.name),
            Method::PUT,
            &format!("/deployments/{}", spec.name),
            Some(&spec.model),
        )
        .await
    }

    async fn set_traffic(&self, traffic: &TrafficMap) -> Result<()> {
        self.call::<EndpointStatus>("set traffic", Method::PUT, "/traffic", Some(traffic))
            .await
            .map(drop)
    }

    async fn set_mirror_traffic(&self, mirror: &TrafficMap) -> Result<()> {
        self.call::<EndpointStatus>("set mirror traffic", Method::PUT, "/mirror", Some(mirror))
            .await
            .map(drop)
    }

    async fn status(&self) -> Result<EndpointStatus> {
        match self.daemon().await {
            Ok(_) => self.call("status", Method::GET, "/status", NO_BODY).await,
            Err(reason) => self.stopped_status(&reason),
        }
    }

    async fn logs(&self, deployment: &str, tail: usize) -> Result<String> {
        // Read from the file: logs stay readable when the daemon is down.
        tail_lines(&self.dir.log_file(deployment), tail)
    }

    async fn list_keys(&self) -> Result<EndpointKeys> {
        self.call("list keys", Method::GET, "/keys", NO_BODY).await
    }

    async fn regenerate_key(&self, which: KeyKind) -> Result<EndpointKeys> {
        let which = match which {
            KeyKind::Primary => "primary",
            KeyKind::Secondary => "secondary",
        };
        self.call(
            "regenerate key",
            Method::POST,
            &format!("/keys/regenerate/{which}"),
            NO_BODY,
        )
        .await
    }

    async fn invoke(&self, body: &[u8], deployment: Option<&str>) -> Result<InvokeResponse> {
        let keys = self.list_keys().await?;
        let url = self.url();
        let mut request = Request::post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", keys.primary_key),
            );
        if let Some(name) = deployment {
            request = request.header(DEPLOYMENT_HEADER, name);
        }
        let request = request
            .body(Body::from(body.to_vec()))
            .map_err(|e| transport(&url, e))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| transport(&url, e))?;
        let status = response.status().as_u16();
        let answered_by = response
            .headers()
            .get(DEPLOYMENT_HEADER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| transport(&url, e))?
            .to_bytes()
            .to_vec();
        Ok(InvokeResponse {
            status,
            deployment: answered_by,
            body,
        })
    }

    async fn traffic_counters(&self) -> Result<Option<TrafficCounters>> {
        self.call("read traffic counters", Method::GET, "/counters", NO_BODY)
            .await
            .map(Some)
    }

    async fn delete_deployment(&self, name: &str) -> Result<()> {
        self.call::<EndpointStatus>(
            &format!("delete deployment {name}"),
            Method::DELETE,
            &format!("/deployments/{name}"),
            NO_BODY,
        )
        .await
        .map(drop)
    }

    async fn delete_endpoint(&self) -> Result<()> {
        match self.daemon().await {
            Ok(record) => {
                self.call::<()>("delete endpoint", Method::DELETE, "/endpoint", NO_BODY)
                    .await?;
                let started = Instant::now();
                while pid_alive(record.pid) {
                    if started.elapsed() > Duration::from_secs(30) {
                        return Err(DeployError::Timeout {
                            what: format!("endpoint daemon pid {} to exit", record.pid),
                            seconds: started.elapsed().as_secs_f64(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Err(_) => {
                // Not running: its deployment processes died with it (parent death signal).
                for file in [self.dir.endpoint_file(), self.dir.daemon_file()] {
                    if file.exists() {
                        std::fs::remove_file(&file)
                            .map_err(|e| DeployError::io("removing", &file, e))?;
                    }
                }
            }
        }
        Ok(())
    }
}
