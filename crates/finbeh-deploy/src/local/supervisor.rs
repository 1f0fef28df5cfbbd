//! One supervised finbeh-serve process per deployment: started as `<self> serve-deployment`,
//! its output appended to `logs/<deployment>.log`, restarted (with backoff) when it exits, and
//! stopped with SIGTERM (then SIGKILL after the drain deadline).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::target::ProvisioningState;

/// How the daemon starts itself again in another role (`daemon`, `serve-deployment`): the
/// program and the arguments that come before the subcommand (e.g. `--config FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfCommand {
    /// The executable (the `deploy` example binary).
    pub program: PathBuf,
    /// Arguments before the subcommand.
    pub leading_args: Vec<OsString>,
}

impl SelfCommand {
    pub(crate) fn command(&self, subcommand: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command.args(&self.leading_args).arg(subcommand);
        command
    }
}

/// What the supervisor knows of one deployment's process.
#[derive(Debug, Clone)]
pub(crate) struct ProcessStatus {
    pub(crate) state: ProvisioningState,
    pub(crate) restarts: u32,
    pub(crate) last_exit: Option<String>,
    pub(crate) pid: Option<u32>,
}

impl ProcessStatus {
    pub(crate) fn detail(&self) -> Option<String> {
        (self.restarts > 0 || self.last_exit.is_some()).then(|| {
            format!(
                "restarted {} time(s); last exit: {}",
                self.restarts,
                self.last_exit.as_deref().unwrap_or("none")
            )
        })
    }
}

/// A running (supervised) deployment process.
pub(crate) struct Supervised {
    pub(crate) status: Arc<Mutex<ProcessStatus>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Supervised {
    /// Starts supervising `serve-deployment` for `name` on `port` with `model`.
    pub(crate) fn start(
        command: &SelfCommand,
        name: &str,
        port: u16,
        model: &Path,
        log: PathBuf,
        shutdown_timeout: Duration,
    ) -> Self {
        let status = Arc::new(Mutex::new(ProcessStatus {
            state: ProvisioningState::Creating,
            restarts: 0,
            last_exit: None,
            pid: None,
        }));
        let (stop, stopped) = watch::channel(false);
        let mut child_command = command.command("serve-deployment");
        child_command
            .arg("--name")
            .arg(name)
            .arg("--port")
            .arg(port.to_string())
            .arg("--model")
            .arg(model)
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let task = tokio::spawn(supervise(
            child_command,
            name.to_owned(),
            port,
            log,
            Arc::clone(&status),
            stopped,
            shutdown_timeout,
        ));
        Self { status, stop, task }
    }

    pub(crate) fn status(&self) -> ProcessStatus {
        lock(&self.status).clone()
    }

    /// Stops the process (SIGTERM, SIGKILL after the deadline) and waits for it.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn lock(status: &Mutex<ProcessStatus>) -> std::sync::MutexGuard<'_, ProcessStatus> {
    status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn supervise(
    mut command: tokio::process::Command,
    name: String,
    port: u16,
    log: PathBuf,
    status: Arc<Mutex<ProcessStatus>>,
    mut stopped: watch::Receiver<bool>,
    shutdown_timeout: Duration,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let log_file = log
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .and_then(|_| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
            });
        let (out, err) = match log_file.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
            Err(e) => {
                let mut s = lock(&status);
                s.state = ProvisioningState::Failed;
                s.last_exit = Some(format!("cannot open {}: {e}", log.display()));
                return;
            }
        };
        command.stdout(out).stderr(err);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let mut s = lock(&status);
                s.state = ProvisioningState::Failed;
                s.last_exit = Some(format!("cannot start the deployment process: {e}"));
                return;
            }
        };
        lock(&status).pid = child.id();
        let ready = tokio::spawn(mark_ready_when_healthy(port, Arc::clone(&status)));
        tokio::select! {
            exit = child.wait() => {
                ready.abort();
                let exit = exit.map_or_else(|e| e.to_string(), |s| s.to_string());
                if *stopped.borrow() {
                    return;
                }
                {
                    let mut s = lock(&status);
                    s.restarts = s.restarts.saturating_add(1);
                    s.last_exit = Some(exit.clone());
                    s.pid = None;
                    if s.state == ProvisioningState::Succeeded {
                        s.state = ProvisioningState::Updating;
                    }
                }
                append_line(&log, &format!(
                    "[finbeh-deploy] deployment {name} exited ({exit}); restarting in {} ms",
                    backoff.as_millis()
                ));
                tracing::warn!(deployment = %name, %exit, "deployment process exited; restarting");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stopped.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            _ = stopped.changed() => {
                ready.abort();
                terminate(&mut child, shutdown_timeout).await;
                lock(&status).pid = None;
                return;
            }
        }
    }
}

/// SIGTERM (finbeh-serve drains), then SIGKILL after `timeout`.
async fn terminate(child: &mut tokio::process::Child, timeout: Duration) {
    if let Some(pid) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    if tokio::time::timeout(timeout, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

fn append_line(log: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// Polls `/health/ready` until it answers 200, then marks the deployment `Succeeded`.
async fn mark_ready_when_healthy(port: u16, status: Arc<Mutex<ProcessStatus>>) {
    let client: Client<HttpConnector, Body> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let Ok(uri) = format!("http://127.0.0.1:{port}/health/ready").parse::<axum::http::Uri>() else {
        return;
    };
    loop {
        let request = axum::http::Request::get(uri.clone()).body(Body::empty());
        if let Ok(request) = request
            && let Ok(response) = client.request(request).await
            && response.status().is_success()
        {
            lock(&status).state = ProvisioningState::Succeeded;
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
