//! Running the server on a socket: binding, signals (SIGHUP reload, SIGTERM/SIGINT drain).

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::config::ServerConfig;
use crate::error::ServeError;
use crate::http::app;
use crate::state::AppState;

/// Serves `state` on `config`'s address until SIGTERM or SIGINT, then drains in-flight requests.
///
/// Logs the bound address, warns when no key is configured (no auth), and reloads the model on
/// SIGHUP (a failed reload keeps the old model). Runs on the caller's Tokio runtime (which needs
/// I/O and timers enabled), for embedding; [`run`] is the faster stand-alone server.
///
/// # Errors
/// [`ServeError::Bind`] when the address cannot be bound; [`ServeError::Io`] when signal
/// handlers cannot be installed or the accept loop fails.
pub async fn serve(config: ServerConfig, state: AppState) -> Result<(), ServeError> {
    let listener = bind(&config).await?;
    spawn_reload_on_sighup(state.clone())?;
    let listener = listener.tap_io(|stream| {
        // Small JSON answers must not wait for Nagle's algorithm.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
    });
    let shutdown = shutdown_signal()?;
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("finbeh-serve stopped after draining in-flight requests");
    Ok(())
}

/// Binds `config`'s address and logs it, warning when no key is configured (no auth).
async fn bind(config: &ServerConfig) -> Result<TcpListener, ServeError> {
    let address = format!("{}:{}", config.host(), config.port());
    let listener = TcpListener::bind((config.host(), config.port()))
        .await
        .map_err(|source| ServeError::Bind {
            address: address.clone(),
            source,
        })?;
    let local = listener.local_addr()?;
    if config.auth_required() {
        tracing::info!(address = %local, "finbeh-serve listening; /score requires a bearer key");
    } else {
        tracing::warn!(
            address = %local,
            "finbeh-serve listening WITHOUT authentication: no primary or secondary key is configured"
        );
    }
    Ok(listener)
}

/// Runs the server on `config.worker_threads()` event loops (one per CPU by default) until
/// SIGTERM or SIGINT, then drains in-flight requests.
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
    let workers = config.worker_threads().unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let acceptor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let threads = acceptor.block_on(accept_and_dispatch(&config, state, workers))?;
    let mut failure = None;
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => failure = Some(err),
            Err(_) => tracing::error!("a worker thread panicked"),
        }
    }
    if let Some(err) = failure {
        return Err(ServeError::Io(err));
    }
    tracing::info!("finbeh-serve stopped after draining in-flight requests");
    Ok(())
}

type WorkerThread = std::thread::JoinHandle<std::io::Result<()>>;

/// Binds, starts the workers, accepts until a shutdown signal, then tells the workers to drain.
async fn accept_and_dispatch(
    config: &ServerConfig,
    state: AppState,
    workers: usize,
) -> Result<Vec<WorkerThread>, ServeError> {
    let listener = bind(config).await?;
    let local = listener.local_addr()?;
    spawn_reload_on_sighup(state.clone())?;
    let mut shutdown = std::pin::pin!(shutdown_signal()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut queues = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers);
    for index in 0..workers {
        let (queue, incoming) = tokio::sync::mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = HandedOver { incoming, local };
        let router = app(state.clone());
        let mut stop = stop_rx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("finbeh-serve-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            let _ = stop.wait_for(|stopping| *stopping).await;
                        })
                        .await
                })
            })?;
        queues.push(queue);
        threads.push(thread);
    }
    tracing::debug!(workers, "worker event loops started");
    let mut next = 0usize;
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    accept_error(err).await;
                    continue;
                }
            },
        };
        // Small JSON answers must not wait for Nagle's algorithm.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        // Leave this thread's reactor so the worker's own reactor drives the connection.
        let mut stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(error = %err, "cannot hand a connection over");
                continue;
            }
        };
        let mut delivered = false;
        for _ in 0..queues.len() {
            next = (next + 1) % queues.len();
            let Some(queue) = queues.get(next) else { break };
            match queue.send(stream) {
                Ok(()) => {
                    delivered = true;
                    break;
                }
                Err(returned) => stream = returned.0,
            }
        }
        if !delivered {
            tracing::error!("every worker event loop has stopped; shutting down");
            break;
        }
    }
    stop_tx.send_replace(true);
    Ok(threads)
}

/// Connections accepted by the acceptor thread and handed to one worker's event loop.
struct HandedOver {
    incoming: tokio::sync::mpsc::UnboundedReceiver<std::net::TcpStream>,
    local: std::net::SocketAddr,
}

impl axum::serve::Listener for HandedOver {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some(stream) = self.incoming.recv().await else {
                // The acceptor is gone: shutdown is under way; nothing more will come.
                return std::future::pending().await;
            };
            let adopted = stream
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpStream::from_std(stream));
            match adopted {
                Ok(stream) => {
                    let peer = stream.peer_addr().unwrap_or(self.local);
                    return (stream, peer);
                }
                Err(err) => tracing::debug!(error = %err, "cannot adopt a connection"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// As axum does: per-connection errors are routine; others (such as too many open files) are
/// logged and retried after a pause.
async fn accept_error(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed; retrying in 1 s");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
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
