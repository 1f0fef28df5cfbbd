//! The router's connections to the deployments. Each client connection keeps one keep-alive
//! HTTP/1.1 connection per deployment it has used: HTTP/1.1 answers one request at a time per
//! connection, so a client connection never needs more, and no pool or lock is shared between
//! client connections.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The request body the router forwards (read whole first: it is bounded by
/// `serve.max_body_bytes`, and a request refused by a closed connection is sent again).
pub(crate) type ForwardBody = Full<Bytes>;

/// One client connection's connections to the deployments, by port, with when each was last
/// used.
#[derive(Debug)]
pub(crate) struct Backends {
    /// Longest idle time after which a kept connection is not used again: the deployment
    /// closes it at its keep-alive timeout, and a request sent just as it does would fail.
    max_idle: Duration,
    open: Vec<(u16, SendRequest<ForwardBody>, Instant)>,
}

impl Backends {
    /// No connections yet; a deployment closes idle ones after `keep_alive`
    /// (`serve.keep_alive_timeout_ms`), so they are reused for at most half of that.
    pub(crate) fn new(keep_alive: Duration) -> Self {
        Self {
            max_idle: keep_alive / 2,
            open: Vec::new(),
        }
    }

    /// Takes the connection to `port` out (the caller puts it back when the exchange is done),
    /// or `None` when there is none, or only one idle too long to trust.
    pub(crate) fn take(&mut self, port: u16, now: Instant) -> Option<SendRequest<ForwardBody>> {
        let at = self.open.iter().position(|(p, _, _)| *p == port)?;
        let (_, sender, last_used) = self.open.swap_remove(at);
        (now.saturating_duration_since(last_used) <= self.max_idle).then_some(sender)
    }

    /// Keeps `sender` for the next request to `port`, unless one is kept already.
    pub(crate) fn put(&mut self, port: u16, sender: SendRequest<ForwardBody>, now: Instant) {
        if !sender.is_closed() && !self.open.iter().any(|(p, _, _)| *p == port) {
            self.open.push((port, sender, now));
        }
    }
}

/// Opens a keep-alive connection to the deployment on `127.0.0.1:port`; the connection is
/// driven by a task on the current thread's runtime until either side closes it.
async fn connect(port: u16) -> Result<SendRequest<ForwardBody>, String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
    // Small answers go out at once, not after a delayed ACK.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with 127.0.0.1:{port}: {e}"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, port, "connection to a deployment ended");
        }
    });
    Ok(sender)
}

/// Sends `request` to the deployment on `port` over `kept` (else a new connection) and waits
/// for the answer's head. When the kept connection turns out closed before the request went
/// out (the deployment closed an idle keep-alive connection, or restarted), the request is
/// sent once more on a new connection. Gives back the connection to keep, if it still works.
pub(crate) async fn exchange(
    kept: Option<SendRequest<ForwardBody>>,
    port: u16,
    request: Request<ForwardBody>,
) -> (
    Result<Response<Incoming>, String>,
    Option<SendRequest<ForwardBody>>,
) {
    let mut request = request;
    let mut kept = kept;
    let mut last_error = String::new();
    for _attempt in 0..2 {
        let mut sender = match kept.take() {
            Some(sender) => sender,
            None => match connect(port).await {
                Ok(sender) => sender,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            },
        };
        if let Err(e) = sender.ready().await {
            last_error = format!("connection to 127.0.0.1:{port} closed: {e}");
            continue;
        }
        match sender.try_send_request(request).await {
            Ok(response) => return (Ok(response), Some(sender)),
            Err(mut failed) => {
                last_error = failed.error().to_string();
                match failed.take_message() {
                    // Never written: safe to send again on a new connection.
                    Some(unsent) => request = unsent,
                    None => return (Err(last_error), None),
                }
            }
        }
    }
    (Err(last_error), None)
}
