//! JSON answers: the score answer written by hand into one buffer, and the error envelope.

use std::borrow::Cow;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::RowError;
use crate::explain::{self, ExplainRequest};
use crate::explanation::ExplainBuffer;
use crate::model::{ModelInfo, ScoreBuffer};
use crate::state::LoadedModel;
use finbeh_data::{InputColumn, RawValue};

pub(crate) const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The JSON token of a class label, which always carries the label's exact text: a label that
/// is an integer written canonically (`-1`, `0`, `42`: no sign but `-`, no leading zero, at most
/// 64 bits) is that JSON number, whose text is the label; any other label (`"007"`, `"1.50"`,
/// `"1e3"`, `"+5"`, `"abc"`) is a JSON string.
pub(crate) fn label_token(label: &str) -> Box<[u8]> {
    let canonical_integer = label
        .parse::<i64>()
        .is_ok_and(|number| number.to_string() == label);
    let token = if canonical_integer {
        label.to_owned()
    } else {
        json_string(label)
    };
    token.into_bytes().into_boxed_slice()
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// `},"model":{"name":"..","version":".."}}`-style fixed end of every score answer.
pub(crate) fn answer_tail(info: &ModelInfo) -> Box<[u8]> {
    format!(
        "],\"model\":{{\"name\":{},\"version\":{}}}}}",
        json_string(&info.name),
        json_string(&info.version)
    )
    .into_bytes()
    .into_boxed_slice()
}

/// Writes `{"predictions":[..],"probabilities":[..],"model":{..}}` for the scored rows.
///
/// Binary models report P(class 1) per row; multi-class models one list per row.
/// With `explained`, the explanations go between the probabilities and the model.
pub(crate) fn write_scores(
    model: &LoadedModel,
    scores: &ScoreBuffer,
    explained: Option<Explained<'_>>,
) -> Vec<u8> {
    let n_classes = scores.n_classes();
    let n_rows = scores.n_rows();
    let binary = n_classes == 2;
    let per_row = if binary { 24 } else { 2 + 24 * n_classes };
    let mut out = Vec::with_capacity(64 + model.answer_tail.len() + n_rows * (8 + per_row));
    out.extend_from_slice(b"{\"predictions\":[");
    for (i, &class) in scores.predictions().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match model.class_tokens.get(class) {
            Some(token) => out.extend_from_slice(token),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b"],\"probabilities\":[");
    for (i, row) in scores.probabilities().chunks(n_classes.max(1)).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if binary {
            write_f64(&mut out, row.get(1).copied().unwrap_or(f64::NAN));
        } else {
            out.push(b'[');
            for (j, &p) in row.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                write_f64(&mut out, p);
            }
            out.push(b']');
        }
    }
    match explained {
        Some(e) => {
            // The tail starts by closing the probabilities.
            let (close, rest) = model.answer_tail.split_at(1.min(model.answer_tail.len()));
            out.extend_from_slice(close);
            explain::write_explanations(&mut out, e.request, e.buffer, e.columns, e.rows);
            out.extend_from_slice(rest);
        }
        None => out.extend_from_slice(&model.answer_tail),
    }
    out
}

/// What a request's explanations are written from.
pub(crate) struct Explained<'a> {
    pub(crate) request: ExplainRequest,
    pub(crate) buffer: &'a ExplainBuffer,
    pub(crate) columns: &'a [InputColumn],
    pub(crate) rows: &'a [RawValue<'a>],
}

/// Shortest round-trip decimal; a non-finite value (a model bug) becomes `null`.
fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        // Writing a finite f64 into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &value);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// An error answer: `{"error": {"code", "message", "details": [{"row", "field", "problem"}]}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: Cow<'static, str>,
    pub(crate) details: Vec<RowError>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: &'a str,
    message: &'a str,
    details: &'a [RowError],
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub(crate) fn with_details(mut self, details: Vec<RowError>) -> Self {
        self.details = details;
        self
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        let envelope = Envelope {
            error: ErrorFields {
                code: self.code,
                message: &self.message,
                details: &self.details,
            },
        };
        serde_json::to_vec(&envelope).unwrap_or_else(|_| {
            br#"{"error":{"code":"internal_error","message":"could not encode the error","details":[]}}"#.to_vec()
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, Body::from(self.to_json()))
    }
}

pub(crate) fn json_response(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, APPLICATION_JSON);
    response
}

/// A pre-rendered error answer for the hot rejection paths (no formatting per request).
pub(crate) fn static_error(status: StatusCode, body: &'static str) -> Response {
    json_response(status, Body::from(body))
}

pub(crate) const UNAUTHORIZED: &str = r#"{"error":{"code":"unauthorized","message":"missing or wrong bearer key: send `Authorization: Bearer <key>`","details":[]}}"#;
pub(crate) const TOO_MANY_REQUESTS: &str = r#"{"error":{"code":"too_many_requests","message":"too many scoring requests in flight; retry later","details":[]}}"#;
pub(crate) const NOT_READY: &str = r#"{"error":{"code":"not_ready","message":"no verified model is loaded yet; see /health/ready","details":[]}}"#;
pub(crate) const NOT_FOUND: &str =
    r#"{"error":{"code":"not_found","message":"no such route; see /swagger.json","details":[]}}"#;
pub(crate) const METHOD_NOT_ALLOWED: &str = r#"{"error":{"code":"method_not_allowed","message":"method not allowed on this route; see the Allow header","details":[]}}"#;
pub(crate) const UNSUPPORTED_MEDIA_TYPE: &str = r#"{"error":{"code":"unsupported_media_type","message":"send the body as Content-Type: application/json","details":[]}}"#;
pub(crate) const REQUEST_ID_TOO_LONG: &str = r#"{"error":{"code":"request_header_fields_too_large","message":"x-request-id is longer than 100 characters","details":[]}}"#;
pub(crate) const INTERNAL_ERROR: &str = r#"{"error":{"code":"internal_error","message":"the server failed while handling this request; it has been logged","details":[]}}"#;
pub(crate) const REQUEST_TIMEOUT: &str = r#"{"error":{"code":"request_timeout","message":"the request body did not arrive in time","details":[]}}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_their_exact_text() {
        for (label, token) in [
            ("-1", "-1"),
            ("0", "0"),
            ("42", "42"),
            ("9223372036854775807", "9223372036854775807"),
            ("007", r#""007""#),
            ("1.50", r#""1.50""#),
            ("1e3", r#""1e3""#),
            ("+5", r#""+5""#),
            ("-0", r#""-0""#),
            ("9223372036854775808", r#""9223372036854775808""#),
            ("abc", r#""abc""#),
            ("say \"hi\"", r#""say \"hi\"""#),
        ] {
            let text = String::from_utf8(label_token(label).into_vec()).unwrap();
            assert_eq!(text, token, "{label}");
            // The JSON value's text (a string's content, a number's digits) is the label.
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            let back = parsed
                .as_str()
                .map_or_else(|| parsed.to_string(), str::to_owned);
            assert_eq!(back, label);
        }
    }
}
