//! Routes, handlers and the outer layer (request id, metrics, panic catching).

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::hash::BuildHasher;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use finbeh_data::RawValue;
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;
use tower::{Layer, Service};

use crate::config::ServerConfig;
use crate::explain;
use crate::explain_batch::ExplainBatcher;
use crate::explanation::{ExplainBuffer, ExplainRefusal};
use crate::labels_http;
use crate::metrics::{self, route_index};
use crate::model::ScoreBuffer;
use crate::request::{self, BodyError, DecodeError, MAX_DETAILS};
use crate::response::{self, ApiError, json_response, static_error};
use crate::sink::{self, PredictionRecord};
use crate::state::{AppState, Inner, LoadFailure, LoadedModel};

/// Longest `x-request-id` accepted (longer → 431).
pub const MAX_REQUEST_ID_LEN: usize = 100;

pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(crate) static X_MS_RUN_FN_EXEC_MS: HeaderName = HeaderName::from_static("x-ms-run-fn-exec-ms");
const PROMETHEUS_TEXT: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// Bodies larger than this (about 1,000 positional rows of 12 numbers) are scored on Tokio's
/// blocking pool rather than on the event loop.
pub(crate) const BLOCKING_BODY_BYTES: usize = 128 * 1024;
/// Rows a request may have explained on the event loop (each costs about as much as scoring a
/// few hundred rows); a request asking for more goes to the blocking pool.
const INLINE_EXPLAIN_ROWS: usize = 4;
/// Rows buffers larger than this (in cells) are released after the request instead of kept.
const KEEP_ROWS_CAPACITY: usize = 1 << 16;
/// Score buffers larger than this (in rows) are released after the request.
const KEEP_SCORE_ROWS: usize = 1 << 14;

/// The whole HTTP interface as a router; drive it with `tower::ServiceExt::oneshot` in tests or
/// hand it to [`serve`](crate::serve).
pub fn app(state: AppState) -> Router {
    let body_limit = state.inner.config.max_body_bytes();
    let observe = ObserveLayer {
        inner: Arc::clone(&state.inner),
    };
    Router::new()
        .route("/", get(healthy).fallback(not_allowed_get))
        .route("/health/live", get(live).fallback(not_allowed_get))
        .route("/health/ready", get(ready).fallback(not_allowed_get))
        .route("/swagger.json", get(swagger).fallback(not_allowed_get))
        .route("/metrics", get(metrics).fallback(not_allowed_get))
        .route("/score", post(score).fallback(not_allowed_post))
        .route(
            "/labels",
            post(labels_http::labels).fallback(not_allowed_post),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(observe)
        .with_state(state)
}

async fn healthy() -> Response {
    let mut response = Response::new(Body::from("Healthy"));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, TEXT_PLAIN);
    response
}

async fn live() -> Response {
    json_response(StatusCode::OK, Body::from(r#"{"status":"alive"}"#))
}

#[derive(Serialize)]
struct Readiness<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<ServingModel<'a>>,
    last_failed_load: Option<LoadFailure>,
}

#[derive(Serialize)]
struct ServingModel<'a> {
    name: &'a str,
    version: &'a str,
    path: String,
}

async fn ready(State(state): State<AppState>) -> Response {
    let model = state.current();
    let last_failed_load = state.last_failure();
    let body = match &model {
        Some(model) => {
            let info = model.scorer.info();
            Readiness {
                status: "ready",
                reason: None,
                model: Some(ServingModel {
                    name: &info.name,
                    version: &info.version,
                    path: model.path.display().to_string(),
                }),
                last_failed_load,
            }
        }
        None => Readiness {
            status: "not_ready",
            reason: Some(if last_failed_load.is_some() {
                "no model could be loaded; see last_failed_load"
            } else {
                "no model loaded yet"
            }),
            model: None,
            last_failed_load,
        },
    };
    let status = if model.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(
        status,
        Body::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

async fn swagger(State(state): State<AppState>) -> Response {
    match state.current() {
        Some(model) => json_response(StatusCode::OK, Body::from(model.swagger.clone())),
        None => static_error(StatusCode::SERVICE_UNAVAILABLE, response::NOT_READY),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let model = state.current();
    let info = model.as_ref().map(|m| m.scorer.info());
    let mut text = state
        .inner
        .metrics
        .render(info.map(|i| (i.name.as_str(), i.version.as_str())));
    if let Some(sink) = state.inner.prediction_sink.get() {
        metrics::render_prediction_log(&mut text, sink.as_ref());
    }
    let mut response = Response::new(Body::from(text));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, PROMETHEUS_TEXT);
    response
}

async fn not_found() -> Response {
    static_error(StatusCode::NOT_FOUND, response::NOT_FOUND)
}

async fn not_allowed_get() -> Response {
    method_not_allowed("GET, HEAD")
}

async fn not_allowed_post() -> Response {
    method_not_allowed("POST")
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = static_error(StatusCode::METHOD_NOT_ALLOWED, response::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Releases its admission slot when the request ends, however it ends.
pub(crate) struct InFlight<'a>(&'a Inner);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What `/score` reads from a request head: from hyper's `HeaderMap` here, or from the
/// connection's own parse of a plain request (`front.rs`), so both take one code path.
pub(crate) struct ScoreHead<'h> {
    pub(crate) authorization: Option<&'h [u8]>,
    pub(crate) content_type: Option<&'h [u8]>,
    /// The first `Content-Encoding` that is neither empty nor `identity`, trimmed.
    pub(crate) foreign_encoding: Option<Cow<'h, str>>,
    pub(crate) content_length: Option<&'h [u8]>,
}

impl<'h> ScoreHead<'h> {
    pub(crate) fn of(headers: &'h HeaderMap) -> Self {
        Self {
            authorization: headers
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
            content_type: headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes),
            foreign_encoding: foreign_encoding(
                headers
                    .get_all(header::CONTENT_ENCODING)
                    .iter()
                    .map(HeaderValue::as_bytes),
            ),
            content_length: headers
                .get(header::CONTENT_LENGTH)
                .map(HeaderValue::as_bytes),
        }
    }
}

/// The first coding of `values` that is neither empty nor `identity` (only those are read).
pub(crate) fn foreign_encoding<'h>(values: impl Iterator<Item = &'h [u8]>) -> Option<Cow<'h, str>> {
    values.map(String::from_utf8_lossy).find_map(|coding| {
        let trimmed = coding.trim();
        if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("identity") {
            return None;
        }
        Some(match coding {
            Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
            Cow::Owned(text) => Cow::Owned(text.trim().to_owned()),
        })
    })
}

/// A `/score` request let in: its admission slot and the model that will score it.
pub(crate) struct Admitted<'a> {
    _slot: InFlight<'a>,
    model: Arc<LoadedModel>,
}

/// Everything `/score` decides from the head, in order: too many in flight (429), the key
/// (401), a model (503), the media type (415), then what the body's headers refuse (415 for a
/// compressed body, 413 for a declared length over the limit).
pub(crate) fn admit<'a>(
    state: &'a AppState,
    head: &ScoreHead<'_>,
) -> Result<Admitted<'a>, Box<Response>> {
    let inner = &*state.inner;
    let previous = inner.metrics.in_flight.fetch_add(1, Ordering::AcqRel);
    let slot = InFlight(inner);
    if previous >= inner.config.max_concurrent_requests() {
        return Err(Box::new(static_error(
            StatusCode::TOO_MANY_REQUESTS,
            response::TOO_MANY_REQUESTS,
        )));
    }
    if let Some(refusal) = authorize(inner, head.authorization) {
        return Err(Box::new(refusal));
    }
    let Some(model) = state.current() else {
        return Err(Box::new(static_error(
            StatusCode::SERVICE_UNAVAILABLE,
            response::NOT_READY,
        )));
    };
    if !is_json(head.content_type) {
        return Err(Box::new(static_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            response::UNSUPPORTED_MEDIA_TYPE,
        )));
    }
    if let Some(refusal) = refuse_body_before_reading(head, &inner.config) {
        return Err(Box::new(refusal));
    }
    Ok(Admitted { _slot: slot, model })
}

/// A `/score` body, shared (hyper's) or borrowed (the connection's own buffer).
pub(crate) enum ScoreBody<'b> {
    Shared(Bytes),
    Borrowed(&'b [u8]),
}

impl ScoreBody<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Shared(bytes) => bytes,
            Self::Borrowed(slice) => slice,
        }
    }

    fn to_shared(&self) -> Bytes {
        match self {
            Self::Shared(bytes) => bytes.clone(),
            Self::Borrowed(slice) => Bytes::copy_from_slice(slice),
        }
    }
}

/// What `/score` answers: the scores (written by hand into one buffer), or any other answer.
pub(crate) enum ScoreAnswer {
    Scored {
        /// The JSON body.
        answer: Vec<u8>,
        /// `x-ms-run-fn-exec-ms`, when it could be formatted.
        exec_ms: Option<HeaderValue>,
    },
    Other(Response),
}

impl IntoResponse for ScoreAnswer {
    fn into_response(self) -> Response {
        match self {
            Self::Scored { answer, exec_ms } => {
                let mut response = json_response(StatusCode::OK, Body::from(answer));
                if let Some(value) = exec_ms {
                    response
                        .headers_mut()
                        .insert(X_MS_RUN_FN_EXEC_MS.clone(), value);
                }
                response
            }
            Self::Other(response) => response,
        }
    }
}

async fn score(State(state): State<AppState>, request: Request) -> Response {
    let admitted = match admit(&state, &ScoreHead::of(request.headers())) {
        Ok(admitted) => admitted,
        Err(refusal) => return *refusal,
    };
    // Observe always sets the id; it is only needed when a log is attached.
    let request_id = state
        .inner
        .prediction_sink
        .get()
        .and(request.headers().get(&X_REQUEST_ID))
        .cloned();
    let body = match read_limited_body(&state.inner, request).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    score_admitted(
        &state.inner,
        admitted,
        ScoreBody::Shared(body),
        request_id.as_ref().map(HeaderValue::as_bytes),
    )
    .await
    .into_response()
}

/// Scores an admitted request's body and hands it to the prediction log (if any, and if it
/// samples it); the rest of `/score` after the body is read.
pub(crate) async fn score_admitted(
    inner: &Inner,
    admitted: Admitted<'_>,
    body: ScoreBody<'_>,
    request_id: Option<&[u8]>,
) -> ScoreAnswer {
    let model = &admitted.model;
    let started = Instant::now();
    let max_rows = inner.config.max_rows_per_request();
    let sink = inner.prediction_sink.get().filter(|sink| sink.sample());
    let capture = sink.is_some();
    // A big batch would hold this event loop (and every connection on it) for milliseconds:
    // score it on the blocking pool instead.
    let first = if body.as_slice().len() > BLOCKING_BODY_BYTES {
        on_blocking_pool(
            model,
            &body.to_shared(),
            max_rows,
            capture,
            INLINE_EXPLAIN_ROWS,
            None,
        )
        .await
    } else {
        Ok(score_body(
            model,
            body.as_slice(),
            max_rows,
            capture,
            INLINE_EXPLAIN_ROWS,
        ))
    };
    let mut outcome = match first {
        Ok(Scoring::Answered(outcome)) => outcome,
        // Explanations of more than a few rows: on the blocking pool too, but only as many at
        // once as the gate lets through, so they cannot take every core from plain requests.
        Ok(Scoring::Elsewhere) => {
            let gate = explain::heavy_explain_permit().await;
            match on_blocking_pool(
                model,
                &body.to_shared(),
                max_rows,
                capture,
                usize::MAX,
                gate,
            )
            .await
            {
                Ok(Scoring::Answered(outcome)) => outcome,
                Ok(Scoring::Elsewhere) | Err(()) => {
                    return ScoreAnswer::Other(static_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        response::INTERNAL_ERROR,
                    ));
                }
            }
        }
        Err(()) => {
            return ScoreAnswer::Other(static_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                response::INTERNAL_ERROR,
            ));
        }
    };
    if let Ok(scored) = &mut outcome
        && let Some(pending) = scored.pending.take()
    {
        match explain_batched(model, *pending).await {
            Ok(answer) => scored.answer = answer,
            Err(error) => outcome = Err(error),
        }
    }
    if let Some(sink) = sink {
        let (status, error_code, (inputs, predicted, probabilities)) = match &mut outcome {
            Ok(scored) => (StatusCode::OK, None, std::mem::take(&mut scored.logged)),
            Err(error) => (error.status, Some(error.code), Default::default()),
        };
        sink.record(PredictionRecord {
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            request_id: request_id
                .map(|id| String::from_utf8_lossy(id).into_owned())
                .unwrap_or_default(),
            route: "/score",
            model: Arc::clone(&model.info),
            latency_ms: started.elapsed().as_secs_f64() * 1e3,
            status: status.as_u16(),
            error_code,
            inputs,
            predicted,
            probabilities,
        });
    }
    match outcome {
        Ok(Scored { answer, n_rows, .. }) => {
            inner.metrics.add_rows_scored(n_rows);
            let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            ScoreAnswer::Scored {
                answer,
                exec_ms: milliseconds_header(elapsed_ms),
            }
        }
        Err(error) => ScoreAnswer::Other(error.into_response()),
    }
}

/// 401 (with `WWW-Authenticate: Bearer`) unless the request carries a configured key.
pub(crate) fn authorize(inner: &Inner, authorization: Option<&[u8]>) -> Option<Response> {
    if authorized(&inner.config.keys(), authorization) {
        return None;
    }
    let mut response = static_error(StatusCode::UNAUTHORIZED, response::UNAUTHORIZED);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

/// Reads a request's body under the body limit and the read timeout (413, 415 for a
/// compressed body, 400, 408), as `/labels` does.
pub(crate) async fn read_body(inner: &Inner, request: Request) -> Result<Bytes, Response> {
    if let Some(refusal) =
        refuse_body_before_reading(&ScoreHead::of(request.headers()), &inner.config)
    {
        return Err(refusal);
    }
    read_limited_body(inner, request).await
}

/// Reads a request's body under the body limit and the read timeout (413, 400, 408).
async fn read_limited_body(inner: &Inner, request: Request) -> Result<Bytes, Response> {
    match tokio::time::timeout(
        inner.config.request_timeout(),
        Bytes::from_request(request, &()),
    )
    .await
    {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(payload_too_large(inner.config.max_body_bytes()))
        }
        Ok(Err(rejection)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!(
                "the request body could not be read: {}",
                rejection.body_text()
            ),
        )
        .into_response()),
        Err(_) => Err(static_error(
            StatusCode::REQUEST_TIMEOUT,
            response::REQUEST_TIMEOUT,
        )),
    }
}

/// 400 for a body whose connection ended before all of it arrived.
pub(crate) fn body_cut_short() -> Response {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_body",
        "the request body could not be read: the connection ended before all of it arrived",
    )
    .into_response()
}

fn payload_too_large(limit: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    )
    .into_response()
}

/// What can be refused from the headers alone, before waiting for a body: a compressed body
/// (415 naming the coding; only `identity` is read) and a declared `Content-Length` above the
/// body limit (413 at once, rather than 408 after the read timeout).
fn refuse_body_before_reading(head: &ScoreHead<'_>, config: &ServerConfig) -> Option<Response> {
    if let Some(coding) = &head.foreign_encoding {
        let mut response = ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
            format!(
                "Content-Encoding `{}` is not supported; send the body uncompressed",
                coding.chars().take(64).collect::<String>()
            ),
        )
        .into_response();
        // RFC 7694: say which codings are accepted.
        response.headers_mut().insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        return Some(response);
    }
    let declared = head
        .content_length
        .and_then(header_text)
        .and_then(|value| value.trim().parse::<u64>().ok())?;
    let limit = config.max_body_bytes();
    (declared > limit as u64).then(|| payload_too_large(limit))
}

/// A header value as text when it is visible ASCII (as `HeaderValue::to_str` decides).
fn header_text(value: &[u8]) -> Option<&str> {
    if value
        .iter()
        .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b))
    {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// `12.345`, formatted on the stack (no String per request).
pub(crate) fn milliseconds_header(milliseconds: f64) -> Option<HeaderValue> {
    let mut digits = [0u8; 32];
    let mut cursor = &mut digits[..];
    std::io::Write::write_fmt(&mut cursor, format_args!("{milliseconds:.3}")).ok()?;
    let len = 32 - cursor.len();
    HeaderValue::from_bytes(digits.get(..len)?).ok()
}

/// `application/json`, with or without parameters such as `charset`.
fn is_json(content_type: Option<&[u8]>) -> bool {
    content_type
        .and_then(header_text)
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether the request carries one of the configured keys (always true without keys).
fn authorized(keys: &[Option<&[u8]>; 2], authorization: Option<&[u8]>) -> bool {
    if keys.iter().all(Option::is_none) {
        return true;
    }
    let Some(value) = authorization else {
        return false;
    };
    let Some((scheme, token)) = value.split_at_checked(7) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return false;
    }
    // Both keys are always compared so timing does not reveal which one matched.
    let mut matched = false;
    for key in keys.iter().flatten() {
        matched |= constant_time_eq(token, key);
    }
    matched
}

/// Compares in time that depends only on the key's length, not on where bytes differ.
fn constant_time_eq(given: &[u8], key: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != key.len());
    for (i, &k) in key.iter().enumerate() {
        diff |= given.get(i).copied().unwrap_or(0) ^ k;
    }
    std::hint::black_box(diff) == 0
}

/// Per-thread buffers reused across requests so a 1-row request allocates only its answer.
#[derive(Default)]
struct ScoreScratch {
    rows: Vec<RawValue<'static>>,
    scores: ScoreBuffer,
    explanations: ExplainBuffer,
    decode: request::Scratch,
}

thread_local! {
    static SCRATCH: RefCell<ScoreScratch> = RefCell::new(ScoreScratch::default());
}

/// Reuses a rows buffer's memory for values of another lifetime (empties it first).
fn recycle<'b>(mut rows: Vec<RawValue<'_>>) -> Vec<RawValue<'b>> {
    if rows.capacity() > KEEP_ROWS_CAPACITY {
        return Vec::new();
    }
    rows.clear();
    // Empty, same layout: the standard library collects in place, keeping the allocation.
    rows.into_iter().map(|_| RawValue::Missing).collect()
}

/// The inputs, predicted classes and probabilities a prediction-log record takes.
type LoggedRows = (Vec<RawValue<'static>>, Vec<usize>, Vec<f64>);

/// A scored body: the answer, its row count and, when a log wants them, the rows to log.
struct Scored {
    answer: Vec<u8>,
    n_rows: usize,
    logged: LoggedRows,
    /// A 1-row explanation left for the batcher (the answer is written when it is back).
    pending: Option<Box<Pending>>,
}

/// A scored row whose explanation the [`ExplainBatcher`] gives.
struct Pending {
    scores: ScoreBuffer,
    record: Vec<RawValue<'static>>,
    request: explain::ExplainRequest,
}

/// Explains a scored row through the process-wide batcher and writes the answer.
async fn explain_batched(model: &Arc<LoadedModel>, pending: Pending) -> Result<Vec<u8>, ApiError> {
    static BATCHER: OnceLock<ExplainBatcher> = OnceLock::new();
    let batcher = BATCHER.get_or_init(ExplainBatcher::new);
    let buffer = match batcher.explain(&model.scorer, &pending.record).await {
        Some(Ok(buffer)) if buffer.is_consistent(1) => buffer,
        Some(Err(refusal)) => return Err(refusal_error(refusal)),
        _ => {
            tracing::error!("an explanation task failed or returned a malformed explanation");
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the model produced inconsistent explanations; it has been logged",
            ));
        }
    };
    Ok(response::write_scores(
        model,
        &pending.scores,
        Some(response::Explained {
            request: pending.request,
            buffer: &buffer,
            columns: &model.scorer.info().input_columns,
            rows: &pending.record,
        }),
    ))
}

/// [`score_body`] on Tokio's blocking pool, holding `gate` (if any) until it ends; `Err` (logged)
/// when the task failed.
async fn on_blocking_pool(
    model: &Arc<LoadedModel>,
    body: &Bytes,
    max_rows: usize,
    capture: bool,
    explain_limit: usize,
    gate: Option<OwnedSemaphorePermit>,
) -> Result<Scoring, ()> {
    let (model, body) = (Arc::clone(model), body.clone());
    let task = move || {
        let _gate = gate;
        score_body(&model, &body, max_rows, capture, explain_limit)
    };
    tokio::task::spawn_blocking(task).await.map_err(|err| {
        tracing::error!(error = %err, "a scoring task failed; answered 500");
    })
}

/// What [`score_body`] did with a body.
enum Scoring {
    Answered(Result<Scored, ApiError>),
    /// It asks to explain more rows than allowed here: score it where blocking is fine.
    Elsewhere,
}

/// Decodes and scores one body; the synchronous core of `/score`. With `capture`, the rows
/// for the prediction log are built too. A body asking to explain more than `explain_limit`
/// rows is left for elsewhere.
fn score_body(
    model: &LoadedModel,
    body: &[u8],
    max_rows: usize,
    capture: bool,
    explain_limit: usize,
) -> Scoring {
    SCRATCH.with(|cell| {
        let mut fresh = ScoreScratch::default();
        let mut borrowed = cell.try_borrow_mut();
        let scratch = match &mut borrowed {
            Ok(scratch) => &mut **scratch,
            Err(_) => &mut fresh,
        };
        let mut rows = recycle(std::mem::take(&mut scratch.rows));
        // A UTF-8 byte order mark is not JSON, but editors write one; the CSV reader skips it too.
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let result = score_rows(
            model,
            body,
            max_rows,
            capture,
            explain_limit,
            &mut rows,
            scratch,
        );
        scratch.rows = recycle(rows);
        scratch.scores.shrink_if_larger_than(KEEP_SCORE_ROWS);
        match result {
            Ok(Some(scored)) => Scoring::Answered(Ok(scored)),
            Ok(None) => Scoring::Elsewhere,
            Err(error) => Scoring::Answered(Err(error)),
        }
    })
}

/// `None` when the body asks to explain more than `explain_limit` rows.
fn score_rows<'a>(
    model: &LoadedModel,
    body: &'a [u8],
    max_rows: usize,
    capture: bool,
    explain_limit: usize,
    rows: &mut Vec<RawValue<'a>>,
    scratch: &mut ScoreScratch,
) -> Result<Option<Scored>, ApiError> {
    let info = model.scorer.info();
    let n_rows = request::decode_body(
        body,
        &request::ModelColumns::new(&info.input_columns, &info.ignored_columns),
        max_rows,
        rows,
        &mut scratch.decode,
    )
    .map_err(|error| match error {
        BodyError::Malformed(err) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {err}"),
        ),
        BodyError::Decode(error) => decode_error(error),
    })?;
    if scratch.decode.explain().is_some() && n_rows > explain_limit {
        return Ok(None);
    }
    let scores = &mut scratch.scores;
    scores.reset(info.classes.len());
    scores.reserve(n_rows);
    model
        .scorer
        .score(rows, n_rows, scores)
        .map_err(|problem| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                format!("the model cannot read this input: {problem}"),
            )
            .with_details(vec![problem])
        })?;
    if !scores.is_consistent(n_rows) {
        tracing::error!(
            expected_rows = n_rows,
            got_rows = scores.n_rows(),
            "the scorer returned output that does not match the request"
        );
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the model produced inconsistent output; it has been logged",
        ));
    }
    let logged = if capture {
        sink::capture_rows(info.input_columns.len(), rows, scores)
    } else {
        LoggedRows::default()
    };
    if let Some(request) = scratch.decode.explain()
        && n_rows == 1
        && explain_limit == INLINE_EXPLAIN_ROWS
    {
        let record = sink::capture_rows(info.input_columns.len(), rows, scores).0;
        return Ok(Some(Scored {
            answer: Vec::new(),
            n_rows,
            logged,
            pending: Some(Box::new(Pending {
                scores: scores.clone(),
                record,
                request,
            })),
        }));
    }
    let explained = match scratch.decode.explain() {
        Some(request) => {
            let buffer = &mut scratch.explanations;
            // Binary models explain the positive class only, as `probabilities` reports it.
            let n_outputs = match info.classes.len() {
                2 => 1,
                n => n,
            };
            buffer.reset(n_outputs, info.input_columns.len());
            explain_rows(model, rows, n_rows, buffer)?;
            Some(response::Explained {
                request,
                buffer,
                columns: &info.input_columns,
                rows,
            })
        }
        None => None,
    };
    Ok(Some(Scored {
        answer: response::write_scores(model, scores, explained),
        n_rows,
        logged,
        pending: None,
    }))
}

/// Explains the scored rows; a model that cannot explain, or a row it cannot, is a 400.
fn explain_rows(
    model: &LoadedModel,
    rows: &[RawValue<'_>],
    n_rows: usize,
    buffer: &mut ExplainBuffer,
) -> Result<(), ApiError> {
    model
        .scorer
        .explain(rows, n_rows, buffer)
        .map_err(refusal_error)?;
    if !buffer.is_consistent(n_rows) {
        tracing::error!(
            expected_rows = n_rows,
            "the scorer returned explanations that do not match the request"
        );
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the model produced inconsistent explanations; it has been logged",
        ));
    }
    Ok(())
}

/// A scorer's refusal to explain, as the client's 400.
fn refusal_error(refusal: ExplainRefusal) -> ApiError {
    match refusal {
        ExplainRefusal::Unavailable(reason) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "explanations_unavailable",
            format!("this model cannot explain its predictions: {reason}"),
        ),
        ExplainRefusal::Row(problem) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!("the model cannot explain this input: {problem}"),
        )
        .with_details(vec![problem]),
    }
}

fn decode_error(error: DecodeError) -> ApiError {
    match error {
        DecodeError::InvalidExplain(message) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_explain", message)
        }
        DecodeError::UnknownShape(message) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_shape",
            format!(
                "{message}; accepted: {{\"data\": [[...]]}}, {{\"data\": [{{...}}]}}, one record, a list of records, {{\"input_data\": {{\"columns\", \"data\"}}}}, {{\"dataframe_split\": {{\"columns\", \"data\"}}}}, {{\"dataframe_records\": [...]}}"
            ),
        ),
        DecodeError::Empty => ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_data",
            "the request holds no rows",
        ),
        DecodeError::TooManyRows(given, limit) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "too_many_rows",
            format!("the request holds {given} rows; at most {limit} are allowed per request"),
        ),
        DecodeError::Invalid { details, total } => {
            let message = if total > details.len() {
                format!("{total} problems in the input (first {MAX_DETAILS} listed)")
            } else if total == 1 {
                "1 problem in the input".to_owned()
            } else {
                format!("{total} problems in the input")
            };
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message).with_details(details)
        }
    }
}

/// Adds the outer behaviour to every route: request id, metrics and panic catching.
#[derive(Clone)]
struct ObserveLayer {
    inner: Arc<Inner>,
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, service: S) -> Observe<S> {
        Observe {
            service,
            inner: Arc::clone(&self.inner),
        }
    }
}

#[derive(Clone)]
struct Observe<S> {
    service: S,
    inner: Arc<Inner>,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let route = route_index(request.uri().path());
        let request_id = match request.headers().get(&X_REQUEST_ID) {
            Some(id) if id.len() > MAX_REQUEST_ID_LEN => {
                return ObserveFuture {
                    service: None,
                    early: Some(static_error(
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        response::REQUEST_ID_TOO_LONG,
                    )),
                    request_id: None,
                    route,
                    started,
                    inner: Arc::clone(&self.inner),
                };
            }
            Some(id) => id.clone(),
            None => {
                // Handlers (the prediction log) see the id the client will be answered with.
                let id = new_request_id();
                request
                    .headers_mut()
                    .insert(X_REQUEST_ID.clone(), id.clone());
                id
            }
        };
        ObserveFuture {
            service: Some(self.service.call(request)),
            early: None,
            request_id: Some(request_id),
            route,
            started,
            inner: Arc::clone(&self.inner),
        }
    }
}

struct ObserveFuture<F> {
    service: Option<F>,
    early: Option<Response>,
    request_id: Option<HeaderValue>,
    route: usize,
    started: Instant,
    inner: Arc<Inner>,
}

impl<F> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut response = if let Some(response) = this.early.take() {
            response
        } else if let Some(service) = this.service.as_mut() {
            match catch_unwind(AssertUnwindSafe(|| Pin::new(service).poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Ok(response))) => response,
                Ok(Poll::Ready(Err(never))) => match never {},
                Err(panic) => panic_response(panic.as_ref()),
            }
        } else {
            static_error(StatusCode::INTERNAL_SERVER_ERROR, response::INTERNAL_ERROR)
        };
        this.service = None;
        if let Some(id) = this.request_id.take() {
            response.headers_mut().insert(X_REQUEST_ID.clone(), id);
        }
        this.inner
            .metrics
            .record(this.route, response.status(), this.started.elapsed());
        Poll::Ready(Ok(response))
    }
}

/// The 500 answer to a handler that panicked, logged with the panic's message.
pub(crate) fn panic_response(panic: &(dyn Any + Send)) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-text panic payload)");
    tracing::error!(panic = message, "a request handler panicked; answered 500");
    static_error(StatusCode::INTERNAL_SERVER_ERROR, response::INTERNAL_ERROR)
}

/// A cheap unique id: a per-process random prefix and a counter.
fn new_request_id() -> HeaderValue {
    let id = new_request_id_bytes();
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("finbeh"))
}

/// [`new_request_id`]'s text: `prefix-counter` in hex, 25 bytes.
pub(crate) fn new_request_id_bytes() -> [u8; 25] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: OnceLock<u32> = OnceLock::new();
    let prefix = *PREFIX.get_or_init(|| {
        let seed = std::hash::RandomState::new()
            .hash_one((std::process::id(), std::time::SystemTime::now()));
        (seed >> 32) as u32 ^ seed as u32
    });
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = [0u8; 25];
    hex_into(&mut id[..8], u64::from(prefix));
    id[8] = b'-';
    hex_into(&mut id[9..], count);
    id
}

fn hex_into(out: &mut [u8], mut value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}
