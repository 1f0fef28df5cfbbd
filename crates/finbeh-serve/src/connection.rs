//! One client connection: plain `POST /score` requests answered by its front (`front.rs`), then,
//! from the first request that is anything else, HTTP/1.1 through hyper and the router; closed
//! when a request head is too slow to arrive or a keep-alive connection idles too long, and
//! drained (then closed) on shutdown.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::Service;

use crate::config::ServerConfig;
use crate::front::{self, Ended, ReadBuffer};
use crate::state::{AppState, Inner};

/// The time limits of a connection between requests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// From connecting, or from the first byte of a request, to its complete head.
    pub(crate) header_read: Duration,
    /// From the end of an answer to the first byte of the next request.
    pub(crate) keep_alive: Duration,
}

impl Timeouts {
    pub(crate) fn of(config: &ServerConfig) -> Self {
        Self {
            header_read: config.header_read_timeout(),
            keep_alive: config.keep_alive_timeout(),
        }
    }
}

/// Holds one slot of the open-connection cap; gives it back when the connection ends.
pub(crate) struct OpenConnection(Arc<Inner>);

impl OpenConnection {
    /// A slot, or `None` (counted as refused) when `max_connections` are open already.
    pub(crate) fn try_open(inner: &Arc<Inner>) -> Option<Self> {
        let metrics = &inner.metrics;
        let previous = metrics.open_connections.fetch_add(1, Ordering::AcqRel);
        let slot = Self(Arc::clone(inner)); // gives the slot back if refused below
        if previous >= inner.config.max_connections() {
            metrics.count_refused();
            return None;
        }
        Some(slot)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0
            .metrics
            .open_connections
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a connection is between requests, which decides the time limit that applies.
const CONNECTED: u8 = 0; // no byte yet: header-read limit
const READING_HEAD: u8 = 1; // a request has begun: header-read limit
const BUSY: u8 = 2; // a request is being answered: no limit here (the handler has its own)
const IDLE: u8 = 3; // answered, waiting for the next request: keep-alive limit

/// A connection's phase and when it began, shared by its socket, its service and its watchdog
/// (atomics: the request path takes no lock).
pub(crate) struct Activity {
    origin: Instant,
    phase: AtomicU8,
    since_ms: AtomicU64,
    in_flight: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            phase: AtomicU8::new(CONNECTED),
            since_ms: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// Bytes arrived: a request begins unless one is under way.
    pub(crate) fn bytes_read(&self) {
        let phase = self.phase.load(Ordering::Acquire);
        if phase == CONNECTED || phase == IDLE {
            self.enter(READING_HEAD);
        }
    }

    pub(crate) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.phase.store(BUSY, Ordering::Release);
    }

    pub(crate) fn request_answered(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.enter(IDLE);
        }
    }

    /// No request under way: nothing read since connecting, or since the last answer.
    fn between_requests(&self) -> bool {
        matches!(self.phase.load(Ordering::Acquire), CONNECTED | IDLE)
    }

    /// Resolves with the phase whose time limit ran out.
    ///
    /// The phase changes without waking this future, so it looks again at least every
    /// `shortest` limit: a deadline is missed by at most that much.
    async fn expired(&self, timeouts: Timeouts) -> u8 {
        let shortest = timeouts.header_read.min(timeouts.keep_alive);
        loop {
            let phase = self.phase.load(Ordering::Acquire);
            let limit = match phase {
                CONNECTED | READING_HEAD => timeouts.header_read,
                IDLE => timeouts.keep_alive,
                // A request is being answered (the handler has its own limits).
                _ => {
                    tokio::time::sleep(shortest).await;
                    continue;
                }
            };
            let since = Duration::from_millis(self.since_ms.load(Ordering::Relaxed));
            let deadline = self.origin + since + limit;
            let now = Instant::now();
            if now >= deadline && self.phase.load(Ordering::Acquire) == phase {
                return phase;
            }
            tokio::time::sleep_until(deadline.min(now + shortest)).await;
        }
    }
}

/// The socket, noting when bytes arrive; first it gives hyper what the front read and left.
struct Watched {
    prefix: Vec<u8>,
    at: usize,
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = this.prefix.get(this.at..).filter(|rest| !rest.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..n).unwrap_or_default());
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Marks the request answered however its future ends (done or dropped).
struct Answering(Arc<Activity>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.request_answered();
    }
}

/// Serves one connection until the client closes it, a time limit runs out, or shutdown
/// (`stop` turns true) lets its request in progress finish: plain `/score` requests in the
/// front, and from the first other request on, hyper with the router.
pub(crate) async fn serve_connection(
    mut stream: TcpStream,
    router: Router,
    state: AppState,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
    slot: OpenConnection,
) {
    let activity = Arc::new(Activity::new());
    // A connection with no request begun is closed at once on shutdown (as nginx does).
    if *stop.borrow() {
        return;
    }
    let draining = AtomicBool::new(false);
    let mut buffer = ReadBuffer::default();
    {
        let mut plain = std::pin::pin!(front::serve_plain(
            &mut stream,
            &mut buffer,
            &state,
            &activity,
            &draining,
        ));
        loop {
            tokio::select! {
                ended = plain.as_mut() => match ended {
                    Ended::Closed => return,
                    Ended::HandOver => break,
                },
                phase = activity.expired(timeouts) => {
                    timed_out(&slot, phase);
                    return; // dropping the stream closes the socket
                }
                _ = stop.wait_for(|stopping| *stopping), if !draining.load(Ordering::Acquire) => {
                    // Answer the request in progress, if any, then close.
                    draining.store(true, Ordering::Release);
                    if activity.between_requests() {
                        return;
                    }
                }
            }
        }
    }
    let mut draining = draining.load(Ordering::Acquire);
    let io = TokioIo::new(Watched {
        prefix: buffer.into_pending(),
        at: 0,
        stream,
        activity: Arc::clone(&activity),
    });
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        requests.request_started();
        let answering = Answering(Arc::clone(&requests));
        let mut router = router.clone();
        let answer = router.call(request);
        async move {
            let answer = answer.await;
            drop(answering);
            answer
        }
    });
    // Stopping already: the request that came in is answered, then the connection closes.
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(!draining)
        .serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                break;
            }
            phase = activity.expired(timeouts) => {
                timed_out(&slot, phase);
                break; // dropping the connection closes the socket
            }
            _ = stop.wait_for(|stopping| *stopping), if !draining => {
                // Answer the request in progress, if any, then close.
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
    drop(slot);
}

fn timed_out(slot: &OpenConnection, phase: u8) {
    let what = if phase == IDLE {
        "keep-alive"
    } else {
        "header-read"
    };
    tracing::debug!(timeout = what, "closing a connection: time limit reached");
    slot.0.metrics.count_timed_out();
}

/// Waits for `stop`, then up to `deadline` for `tasks` to finish; the rest are cancelled (their
/// sockets closed) when `tasks` is dropped.
pub(crate) async fn drain(mut tasks: tokio::task::JoinSet<()>, deadline: Duration) {
    let finished = tokio::time::timeout(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            closed = tasks.len(),
            deadline_ms = deadline.as_millis() as u64,
            "shutdown deadline reached; closing the connections still open"
        );
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}
