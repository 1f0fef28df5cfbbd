//! Running the server on a socket: binding, accepting under the connection cap, handing
//! connections to worker event loops, signals (SIGHUP reload, SIGTERM/SIGINT drain).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::ServerConfig;
use crate::connection::{OpenConnection, Timeouts, drain, serve_connection};
use crate::error::ServeError;
use crate::http::app;
use crate::state::{AppState, Inner};

/// Connections waiting in one worker's queue at most; when every queue is full, new
/// connections are refused like those above the cap.
const WORKER_QUEUE: usize = 1024;

/// What a connection refused at the cap receives, written without waiting, before it is closed.
const REFUSED_ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 1\r\ncontent-type: application/json\r\ncontent-length: 105\r\n\r\n{\"error\":{\"code\":\"too_many_connections\",\"message\":\"too many open connections; retry later\",\"details\":[]}}";

/// First pause after an accept error that is not the client's (such as too many open files);
/// doubled on each further error, up to [`ACCEPT_BACKOFF_MAX`], and reset by a success.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `state` on `config`'s address until SIGTERM or SIGINT, then drains in-flight requests
/// for at most `shutdown_timeout_ms` and closes the connections left.
///
/// Logs the bound address, warns when no key is configured (no auth), and reloads the model on
/// SIGHUP (a failed reload keeps the old model). Runs on the caller's Tokio runtime (which needs
/// I/O and timers enabled), for embedding; [`run`] is the faster stand-alone server.
///
/// # Errors
/// [`ServeError::Bind`] when the address cannot be bound; [`ServeError::Io`] when signal
/// handlers cannot be installed.
pub async fn serve(config: ServerConfig, state: AppState) -> Result<(), ServeError> {
    let listener = bind(&config).await?;
    spawn_reload_on_sighup(state.clone())?;
    let shutdown = shutdown_signal()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (queue, incoming) = mpsc::channel(WORKER_QUEUE);
    let worker = tokio::spawn(worker(incoming, state.clone(), stop_rx));
    accept_until(listener, &state.inner, &[queue], shutdown).await;
    stop_tx.send_replace(true);
    if let Err(err) = worker.await {
        tracing::error!(error = %err, "the connection worker failed");
    }
    tracing::info!("finbeh-serve stopped");
    Ok(())
}

/// Connections the kernel holds for the acceptor (capped by `net.core.somaxconn`): a burst
/// larger than the queue would wait for SYN retransmits (1 s, then 3 s).
const ACCEPT_BACKLOG: u32 = 4096;

/// Binds `config`'s address (the first of its resolved addresses that binds).
async fn bind(config: &ServerConfig) -> Result<TcpListener, ServeError> {
    let address = format!("{}:{}", config.host(), config.port());
    let bind_error = |source| ServeError::Bind {
        address: address.clone(),
        source,
    };
    let mut last_error = None;
    for resolved in tokio::net::lookup_host((config.host(), config.port()))
        .await
        .map_err(bind_error)?
    {
        let socket = if resolved.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        };
        let listening = socket.and_then(|socket| {
            #[cfg(unix)]
            socket.set_reuseaddr(true)?; // as Tokio does: restart without waiting
            socket.bind(resolved)?;
            socket.listen(ACCEPT_BACKLOG)
        });
        match listening {
            Ok(listener) => {
                log_listening(config, &listener)?;
                return Ok(listener);
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(bind_error(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the host resolved to no address",
        )
    })))
}

/// Logs the bound address and the limits, warning when no key is configured (no auth).
fn log_listening(config: &ServerConfig, listener: &TcpListener) -> Result<(), ServeError> {
    let local = listener.local_addr()?;
    let max_connections = config.max_connections();
    if config.auth_required() {
        tracing::info!(address = %local, max_connections, "finbeh-serve listening; /score requires a bearer key");
    } else {
        tracing::warn!(
            address = %local,
            max_connections,
            "finbeh-serve listening WITHOUT authentication: no primary or secondary key is configured"
        );
    }
    Ok(())
}

/// Runs the server on `config.worker_threads()` event loops (one per CPU by default) until
/// SIGTERM or SIGINT, then drains in-flight requests for at most `shutdown_timeout_ms` and
/// closes the connections left.
///
/// Thread per core, as nginx does it: the calling thread binds the address, handles signals
/// (SIGHUP reload, SIGTERM/SIGINT drain) and accepts connections, handing them round-robin to
/// worker threads, each running its own single-threaded Tokio runtime. A connection then lives
/// on one thread, so a request never wakes another thread; Tokio's multi-threaded scheduler
/// spent more time waking and stealing than serving on small requests.
///
/// # Errors
/// As [`serve`], plus [`ServeError::Io`] when a runtime or thread cannot be started.
pub fn run(config: ServerConfig, state: AppState) -> Result<(), ServeError> {
    let acceptor = acceptor_runtime()?;
    let (listener, shutdown) = acceptor.block_on(async {
        let listener = bind(&config).await?;
        spawn_reload_on_sighup(state.clone())?;
        Ok::<_, ServeError>((listener, shutdown_signal()?))
    })?;
    run_workers(&acceptor, listener, &config, state, shutdown)
}

/// [`run`] on a socket the caller bound (port 0 picks a free one), until `shutdown` completes;
/// installs no signal handler. For tests and for embedding that owns its socket and signals.
///
/// # Errors
/// [`ServeError::Io`] when the socket cannot be used or a runtime or thread cannot be started.
pub fn run_on(
    listener: std::net::TcpListener,
    config: ServerConfig,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let acceptor = acceptor_runtime()?;
    listener.set_nonblocking(true)?;
    let listener = acceptor.block_on(async { TcpListener::from_std(listener) })?;
    log_listening(&config, &listener)?;
    run_workers(&acceptor, listener, &config, state, shutdown)
}

fn acceptor_runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Starts the worker threads, accepts on `acceptor` until `shutdown`, then lets each worker
/// drain and waits for them.
fn run_workers(
    acceptor: &tokio::runtime::Runtime,
    listener: TcpListener,
    config: &ServerConfig,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let workers = config.worker_threads().unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut queues = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers);
    for index in 0..workers {
        let (queue, incoming) = mpsc::channel(WORKER_QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = state.clone();
        let stop = stop_rx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("finbeh-serve-{index}"))
            .spawn(move || runtime.block_on(worker(incoming, state, stop)))?;
        queues.push(queue);
        threads.push(thread);
    }
    tracing::debug!(workers, "worker event loops started");
    acceptor.block_on(accept_until(listener, &state.inner, &queues, shutdown));
    stop_tx.send_replace(true);
    drop(queues);
    for thread in threads {
        if thread.join().is_err() {
            tracing::error!("a worker thread panicked");
        }
    }
    tracing::info!("finbeh-serve stopped");
    Ok(())
}

/// A connection on its way to a worker, with its slot under the cap.
type Handover = (std::net::TcpStream, OpenConnection);

/// Serves the connections handed over on `incoming` until `stop`, then drains them.
async fn worker(
    mut incoming: mpsc::Receiver<Handover>,
    state: AppState,
    mut stop: watch::Receiver<bool>,
) {
    let config = &state.inner.config;
    let timeouts = Timeouts::of(config);
    let router = app(state.clone());
    let mut connections = tokio::task::JoinSet::new();
    let for_connections = stop.clone();
    loop {
        tokio::select! {
            handed = incoming.recv() => {
                let Some((stream, slot)) = handed else { break };
                let adopted = stream
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::TcpStream::from_std(stream));
                match adopted {
                    Ok(stream) => {
                        connections.spawn(serve_connection(
                            stream,
                            router.clone(),
                            state.clone(),
                            timeouts,
                            for_connections.clone(),
                            slot,
                        ));
                    }
                    Err(err) => tracing::debug!(error = %err, "cannot adopt a connection"),
                }
            }
            Some(_) = connections.join_next() => {}
            _ = stop.wait_for(|stopping| *stopping) => break,
        }
    }
    // Connections still queued are closed unanswered: the server is stopping.
    incoming.close();
    drain(connections, config.shutdown_timeout()).await;
}

/// Accepts until `shutdown`, refusing connections above the cap, and hands the others
/// round-robin to `queues`.
async fn accept_until(
    listener: TcpListener,
    inner: &Arc<Inner>,
    queues: &[mpsc::Sender<Handover>],
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = AcceptBackoff::default();
    let mut next = 0usize;
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff.succeeded();
                    stream
                }
                Err(err) => {
                    if let Some(pause) = backoff.failed(&err) {
                        inner.metrics.count_accept_error();
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
            },
        };
        // Small JSON answers must not wait for Nagle's algorithm.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        // Leave this thread's reactor so the worker's own reactor drives the connection.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(error = %err, "cannot hand a connection over");
                continue;
            }
        };
        let Some(slot) = OpenConnection::try_open(inner) else {
            refuse(&stream);
            continue;
        };
        match hand_over((stream, slot), queues, &mut next) {
            Ok(()) => {}
            Err(Handed::Full((stream, _slot))) => {
                inner.metrics.count_refused();
                refuse(&stream);
            }
            Err(Handed::AllStopped) => {
                tracing::error!("every worker event loop has stopped; shutting down");
                break;
            }
        }
    }
}

enum Handed {
    /// Every queue is full; the connection is given back (dropping it closes it).
    Full(Handover),
    AllStopped,
}

/// Gives `connection` to the next worker with room in its queue.
fn hand_over(
    mut connection: Handover,
    queues: &[mpsc::Sender<Handover>],
    next: &mut usize,
) -> Result<(), Handed> {
    let mut stopped = 0;
    for _ in 0..queues.len() {
        *next = (*next + 1) % queues.len();
        let Some(queue) = queues.get(*next) else {
            break;
        };
        match queue.try_send(connection) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(returned)) => connection = returned,
            Err(mpsc::error::TrySendError::Closed(returned)) => {
                stopped += 1;
                connection = returned;
            }
        }
    }
    if stopped == queues.len() {
        Err(Handed::AllStopped)
    } else {
        Err(Handed::Full(connection))
    }
}

/// Answers 503 if the socket takes it at once (it is non-blocking), before the caller drops
/// (closes) it: a refusal costs no waiting.
fn refuse(mut stream: &std::net::TcpStream) {
    let _ = std::io::Write::write(&mut stream, REFUSED_ANSWER);
}

/// Pauses after accept errors that are not one client's: growing while they repeat (so
/// running out of descriptors never spins), logged once per run of errors.
#[derive(Default)]
struct AcceptBackoff {
    pause: Option<Duration>,
    failures: u64,
}

impl AcceptBackoff {
    /// The pause before accepting again, or `None` when the error was one client's and the
    /// next accept can follow at once.
    fn failed(&mut self, err: &std::io::Error) -> Option<Duration> {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
        if matches!(
            err.kind(),
            ConnectionAborted | ConnectionRefused | ConnectionReset
        ) {
            return None;
        }
        let pause = self.pause.map_or(ACCEPT_BACKOFF_MIN, |pause| {
            pause.saturating_mul(2).min(ACCEPT_BACKOFF_MAX)
        });
        if self.failures == 0 {
            tracing::error!(error = %err, "accept failed; pausing and retrying with growing pauses up to 1 s");
        } else {
            tracing::debug!(error = %err, pause_ms = pause.as_millis() as u64, "accept failed again");
        }
        self.failures += 1;
        self.pause = Some(pause);
        Some(pause)
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting connections again");
        }
        *self = Self::default();
    }
}

#[cfg(unix)]
fn spawn_reload_on_sighup(state: AppState) -> Result<(), ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the model");
            let state = state.clone();
            // Loading reads and verifies a file: keep it off the request workers.
            match tokio::task::spawn_blocking(move || state.reload()).await {
                Ok(Ok(path)) => tracing::info!(path = %path.display(), "reload done"),
                Ok(Err(_)) => {} // already logged with every path tried
                Err(err) => tracing::error!(error = %err, "reload task failed"),
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn spawn_reload_on_sighup(_state: AppState) -> Result<(), ServeError> {
    Ok(())
}

#[cfg(unix)]
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: draining in-flight requests"),
            _ = interrupt.recv() => tracing::info!("SIGINT: draining in-flight requests"),
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, ServeError> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};

    use super::{ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, AcceptBackoff, REFUSED_ANSWER};

    #[test]
    fn the_refusal_is_one_complete_http_answer() {
        let text = std::str::from_utf8(REFUSED_ANSWER).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        let length = format!("content-length: {}", body.len());
        assert!(head.lines().any(|line| line == length), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(json["error"]["code"], "too_many_connections");
    }

    #[test]
    fn running_out_of_descriptors_backs_off_and_a_success_resets() {
        let mut backoff = AcceptBackoff::default();
        let emfile = Error::from_raw_os_error(24); // EMFILE
        let enfile = Error::from_raw_os_error(23); // ENFILE
        let mut pauses = Vec::new();
        for _ in 0..10 {
            pauses.extend(backoff.failed(&emfile));
        }
        pauses.extend(backoff.failed(&enfile));
        assert_eq!(pauses.len(), 11, "every such error pauses: no spinning");
        assert_eq!(pauses[0], ACCEPT_BACKOFF_MIN);
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]), "{pauses:?}");
        assert_eq!(pauses[10], ACCEPT_BACKOFF_MAX);
        // One client's trouble does not pause the others.
        assert_eq!(
            backoff.failed(&Error::from(ErrorKind::ConnectionAborted)),
            None
        );
        backoff.succeeded();
        assert_eq!(backoff.failed(&emfile), Some(ACCEPT_BACKOFF_MIN));
    }
}
