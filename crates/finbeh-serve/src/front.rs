//! The front of every connection: plain `POST /score` requests (`fast_head.rs`) are read,
//! answered and written here, through the very `/score` code of the router's route
//! ([`admit`], [`score_admitted`]) and the outer behaviour of its `Observe` layer (the request
//! id, 431 for a long one, metrics, the panic guard). The first request that is anything else
//! hands the connection, with the bytes read so far, to hyper and the router for the rest of its
//! life. This skips, per request, hyper's dispatcher and body channel, the router and its boxed
//! services, and the `Response` of a 200 (issue 14).

use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Instant;

use axum::http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connection::Activity;
use crate::fast_head::{self, Head, PlainScore, SCORE_ROUTE};
use crate::http::{
    BLOCKING_BODY_BYTES, MAX_REQUEST_ID_LEN, ScoreAnswer, ScoreBody, ScoreHead,
    X_MS_RUN_FN_EXEC_MS, X_REQUEST_ID, admit, body_cut_short, foreign_encoding,
    new_request_id_bytes, panic_response, score_admitted,
};
use crate::response::{self, static_error};
use crate::state::AppState;
use crate::wire;

/// Room kept for each read.
const READ_CHUNK: usize = 8 * 1024;
/// A read buffer or answer buffer larger than this is released once empty.
const KEEP_BYTES: usize = 256 * 1024;

/// How the front ended.
pub(crate) enum Ended {
    /// The connection is done (closed by the client, an error, or after a closing answer).
    Closed,
    /// A request the front does not answer is at the start of the buffer: hyper's from now on.
    HandOver,
}

/// Bytes read from the connection and not yet used.
#[derive(Default)]
pub(crate) struct ReadBuffer {
    data: Vec<u8>,
    start: usize,
}

impl ReadBuffer {
    fn pending(&self) -> &[u8] {
        self.data.get(self.start..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.data.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
            if self.data.capacity() > KEEP_BYTES {
                self.data = Vec::new();
            }
        }
    }

    /// Reads once into room for at least `want` more bytes; `Ok(0)` is the end of the stream.
    async fn read_more(&mut self, stream: &mut TcpStream, want: usize) -> std::io::Result<usize> {
        if self.start > 0 && self.data.capacity() - self.data.len() < want {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.reserve(want.max(READ_CHUNK));
        stream.read_buf(&mut self.data).await
    }

    /// What was read and not used, for hyper.
    pub(crate) fn into_pending(mut self) -> Vec<u8> {
        self.data.drain(..self.start);
        self.data
    }
}

/// Answers plain `/score` requests on `stream` until the connection ends or a request is not
/// plain; `draining` (shutdown) makes the next answer the last.
pub(crate) async fn serve_plain(
    stream: &mut TcpStream,
    buffer: &mut ReadBuffer,
    state: &AppState,
    activity: &Activity,
    draining: &AtomicBool,
) -> Ended {
    let inner = &*state.inner;
    // Bigger bodies are scored on the blocking pool or refused at once: hyper's path does both.
    let body_limit = BLOCKING_BODY_BYTES.min(inner.config.max_body_bytes());
    let mut out = Vec::new();
    loop {
        let plain = loop {
            match fast_head::parse(buffer.pending(), body_limit) {
                Head::Plain(plain) => break plain,
                Head::Other => return Ended::HandOver,
                Head::Partial => match buffer.read_more(stream, READ_CHUNK).await {
                    Ok(0) | Err(_) => return Ended::Closed,
                    Ok(_) => activity.bytes_read(),
                },
            }
        };
        activity.request_started();
        let started = Instant::now();
        let id = RequestId::of(&plain, buffer.pending());
        let handled = {
            let mut handling = pin!(handle(state, &plain, &id, buffer, stream, activity));
            // The router's `Observe` layer guards each poll of a handler the same way.
            poll_fn(
                |cx| match catch_unwind(AssertUnwindSafe(|| handling.as_mut().poll(cx))) {
                    Ok(Poll::Ready(answer)) => Poll::Ready(Ok(answer)),
                    Ok(Poll::Pending) => Poll::Pending,
                    Err(panic) => Poll::Ready(Err(panic)),
                },
            )
            .await
        };
        let answer =
            handled.unwrap_or_else(|panic| ScoreAnswer::Other(panic_response(panic.as_ref())));
        activity.request_answered();
        let whole = plain.head_len + plain.content_length;
        // A body not read (a refusal from the head) is skipped when it is all here; otherwise
        // the connection closes after the answer, as hyper does.
        let close = draining.load(Ordering::Acquire) || buffer.pending().len() < whole;
        let answered_id = (!id.too_long).then(|| id.text());
        let status = write_answer(&mut out, answer, answered_id, close).await;
        inner.metrics.record(SCORE_ROUTE, status, started.elapsed());
        if stream.write_all(&out).await.is_err() || close {
            return Ended::Closed;
        }
        out.clear();
        if out.capacity() > KEEP_BYTES {
            out = Vec::new();
        }
        buffer.consume(whole);
    }
}

/// `/score` for a plain request: what the router's route and its `Observe` layer do, with the
/// head parsed here and the body read into this connection's buffer.
async fn handle(
    state: &AppState,
    plain: &PlainScore,
    id: &RequestId,
    buffer: &mut ReadBuffer,
    stream: &mut TcpStream,
    activity: &Activity,
) -> ScoreAnswer {
    if id.too_long {
        return ScoreAnswer::Other(static_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            response::REQUEST_ID_TOO_LONG,
        ));
    }
    let admitted = {
        let pending = buffer.pending();
        let value = |range: &Option<std::ops::Range<usize>>| {
            range.clone().and_then(|range| pending.get(range))
        };
        admit(
            state,
            &ScoreHead {
                authorization: value(&plain.authorization),
                content_type: value(&plain.content_type),
                foreign_encoding: foreign_encoding(value(&plain.content_encoding).into_iter()),
                content_length: pending.get(plain.content_length_at.clone()),
            },
        )
    };
    let admitted = match admitted {
        Ok(admitted) => admitted,
        Err(refusal) => return ScoreAnswer::Other(*refusal),
    };
    let whole = plain.head_len + plain.content_length;
    if buffer.pending().len() < whole {
        let read = async {
            while buffer.pending().len() < whole {
                let want = whole - buffer.pending().len();
                match buffer.read_more(stream, want).await {
                    Ok(0) | Err(_) => return false,
                    Ok(_) => activity.bytes_read(),
                }
            }
            true
        };
        match tokio::time::timeout(state.inner.config.request_timeout(), read).await {
            Ok(true) => {}
            Ok(false) => return ScoreAnswer::Other(body_cut_short()),
            Err(_) => {
                return ScoreAnswer::Other(static_error(
                    StatusCode::REQUEST_TIMEOUT,
                    response::REQUEST_TIMEOUT,
                ));
            }
        }
    }
    let body = buffer
        .pending()
        .get(plain.head_len..whole)
        .unwrap_or_default();
    score_admitted(
        &state.inner,
        admitted,
        ScoreBody::Borrowed(body),
        Some(id.text()),
    )
    .await
}

/// Writes `answer` with its `x-request-id` (none for a refused one) into `out`; returns its
/// status.
async fn write_answer(
    out: &mut Vec<u8>,
    answer: ScoreAnswer,
    id: Option<&[u8]>,
    close: bool,
) -> StatusCode {
    let id = id.map(|id| (&X_REQUEST_ID, id));
    match answer {
        ScoreAnswer::Scored { answer, exec_ms } => {
            let exec_ms = exec_ms
                .as_ref()
                .map(|ms| (&X_MS_RUN_FN_EXEC_MS, ms.as_bytes()));
            wire::write_json_ok(out, exec_ms.into_iter().chain(id), close, &answer);
            StatusCode::OK
        }
        ScoreAnswer::Other(response) => {
            let status = response.status();
            wire::write_response(out, response, id, close).await;
            status
        }
    }
}

/// The request's `x-request-id`: the client's (up to [`MAX_REQUEST_ID_LEN`] bytes), or a new one.
struct RequestId {
    text: [u8; MAX_REQUEST_ID_LEN],
    len: usize,
    too_long: bool,
}

impl RequestId {
    fn of(plain: &PlainScore, pending: &[u8]) -> Self {
        let mut id = Self {
            text: [0; MAX_REQUEST_ID_LEN],
            len: 0,
            too_long: false,
        };
        let given = plain
            .request_id
            .clone()
            .and_then(|range| pending.get(range));
        match given {
            Some(given) if given.len() > MAX_REQUEST_ID_LEN => id.too_long = true,
            Some(given) => id.set(given),
            None => id.set(&new_request_id_bytes()),
        }
        id
    }

    fn set(&mut self, text: &[u8]) {
        if let Some(slot) = self.text.get_mut(..text.len()) {
            slot.copy_from_slice(text);
            self.len = text.len();
        }
    }

    /// The id answered; a too-long one is answered with none (431, as the router's layer does).
    fn text(&self) -> &[u8] {
        self.text.get(..self.len).unwrap_or_default()
    }
}
