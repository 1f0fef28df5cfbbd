//! The router on its socket, thread per core as finbeh-serve does it: an acceptor hands each
//! client connection round-robin to a worker thread with its own single-threaded Tokio runtime,
//! where the connection lives (with its connections to the deployments) until it closes. A
//! request therefore never wakes another thread, and nothing on its path takes a shared lock.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::error::{DeployError, Result};
use crate::local::router::{ClientConnection, RouterShared};

/// Connections waiting in one worker's queue at most; when every queue is full a new
/// connection is closed at once.
const WORKER_QUEUE: usize = 1024;

/// Pause after an accept error that is not the client's (such as too many open files).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// How long connections may finish their request in progress on shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The running router: its acceptor task and worker threads.
pub(crate) struct RouterServer {
    stop: watch::Sender<bool>,
    acceptor: tokio::task::JoinHandle<()>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

/// Router threads for this machine: one per CPU.
pub(crate) fn router_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl RouterServer {
    /// Serves `shared` on `listener` with `threads` worker threads (counter shards
    /// `0..threads`); the acceptor runs on the caller's runtime.
    pub(crate) fn start(
        listener: TcpListener,
        shared: &Arc<RouterShared>,
        threads: usize,
    ) -> Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let mut queues = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        for index in 0..threads.max(1) {
            let (queue, incoming) = mpsc::channel(WORKER_QUEUE);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| DeployError::io("starting a router thread's runtime", "", e))?;
            let (shared, stopped) = (Arc::clone(shared), stopped.clone());
            let thread = std::thread::Builder::new()
                .name(format!("finbeh-router-{index}"))
                .spawn(move || runtime.block_on(worker(incoming, shared, index, stopped)))
                .map_err(|e| DeployError::io("starting", "a router thread", e))?;
            queues.push(queue);
            workers.push(thread);
        }
        let acceptor = tokio::spawn(accept(listener, queues, stopped));
        Ok(Self {
            stop,
            acceptor,
            workers,
        })
    }

    /// Stops accepting, lets each connection finish its request in progress (for at most
    /// [`DRAIN_TIMEOUT`]), and waits for the threads.
    pub(crate) async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.acceptor.await;
        let workers = self.workers;
        let _ = tokio::task::spawn_blocking(move || {
            for worker in workers {
                if worker.join().is_err() {
                    tracing::error!("a router thread panicked");
                }
            }
        })
        .await;
    }
}

/// Accepts until `stopped`, handing connections round-robin to the workers' queues.
async fn accept(
    listener: TcpListener,
    queues: Vec<mpsc::Sender<std::net::TcpStream>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut next = 0usize;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::debug!(%error, "router accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Small answers go out at once, not after a delayed ACK.
        let _ = stream.set_nodelay(true);
        // Leave this runtime's reactor so the worker's own reactor drives the connection.
        let Ok(mut stream) = stream.into_std() else {
            continue;
        };
        for _ in 0..queues.len() {
            next = (next + 1) % queues.len();
            match queues.get(next).map(|queue| queue.try_send(stream)) {
                Some(Err(
                    mpsc::error::TrySendError::Full(back) | mpsc::error::TrySendError::Closed(back),
                )) => stream = back,
                _ => break,
            }
        }
    }
}

/// Serves the connections handed over on `incoming` until `stopped`, then drains them.
async fn worker(
    mut incoming: mpsc::Receiver<std::net::TcpStream>,
    shared: Arc<RouterShared>,
    shard: usize,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let for_connections = stopped.clone();
    loop {
        tokio::select! {
            handed = incoming.recv() => {
                let Some(stream) = handed else { break };
                let adopted = stream
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::TcpStream::from_std(stream));
                match adopted {
                    Ok(stream) => {
                        let client = Arc::new(ClientConnection::new(Arc::clone(&shared), shard));
                        connections.spawn(serve_connection(stream, client, for_connections.clone()));
                    }
                    Err(error) => tracing::debug!(%error, "cannot adopt a router connection"),
                }
            }
            Some(_) = connections.join_next() => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
    }
    incoming.close();
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            closed = connections.len(),
            "router shutdown deadline reached; closing the connections still open"
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Serves one client connection until the client closes it, or until `stopped` lets its
/// request in progress finish.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    client: Arc<ClientConnection>,
    mut stopped: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let client = Arc::clone(&client);
        async move { Ok::<_, std::convert::Infallible>(client.handle(request).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "router connection ended with an error");
            }
            return;
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}
