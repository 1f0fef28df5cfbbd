//! HTTP/1.1 answers written by hand for the requests a connection answers itself, byte for
//! byte as hyper writes them: the status line, the headers in order, `content-length`, then
//! `date` (cached per second, as hyper does).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;

/// Bodies of other answers (errors) are read up to this size; theirs are a few hundred bytes.
const MAX_OTHER_BODY: usize = 1 << 20;

/// Appends `200 OK` with a JSON `body` and the given extra headers (in order).
pub(crate) fn write_json_ok<'a>(
    out: &mut Vec<u8>,
    extra: impl IntoIterator<Item = (&'a HeaderName, &'a [u8])>,
    close: bool,
    body: &[u8],
) {
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n");
    for (name, value) in extra {
        write_header(out, name.as_str().as_bytes(), value);
    }
    finish_head(out, close, body.len());
    out.extend_from_slice(body);
}

/// Appends any other answer, its headers first then `extra` (in order).
pub(crate) async fn write_response<'a>(
    out: &mut Vec<u8>,
    response: Response,
    extra: impl IntoIterator<Item = (&'a HeaderName, &'a [u8])>,
    close: bool,
) {
    let (parts, body) = response.into_parts();
    let body = collect(body).await;
    write_status_line(out, parts.status);
    for (name, value) in &parts.headers {
        write_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    for (name, value) in extra {
        write_header(out, name.as_str().as_bytes(), value);
    }
    finish_head(out, close, body.len());
    out.extend_from_slice(&body);
}

/// The whole of a (full, in-memory) body.
async fn collect(body: Body) -> axum::body::Bytes {
    axum::body::to_bytes(body, MAX_OTHER_BODY)
        .await
        .unwrap_or_default()
}

fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn finish_head(out: &mut Vec<u8>, close: bool, body_len: usize) {
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"content-length: ");
    let mut digits = [0u8; 20];
    out.extend_from_slice(decimal(&mut digits, body_len as u64));
    out.extend_from_slice(b"\r\ndate: ");
    DATE.with(|date| out.extend_from_slice(date.borrow_mut().now()));
    out.extend_from_slice(b"\r\n\r\n");
}

/// `value` in decimal, written at the end of `digits`.
fn decimal(digits: &mut [u8; 20], mut value: u64) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(digit) = digits.get_mut(at) {
            *digit = b'0' + (value % 10) as u8;
        }
        value /= 10;
        if value == 0 || at == 0 {
            break;
        }
    }
    digits.get(at..).unwrap_or_default()
}

/// `date`'s value (`Wed, 02 Dec 2026 10:23:07 GMT`), formatted once per second per thread.
struct CachedDate {
    second: u64,
    text: Vec<u8>,
}

impl CachedDate {
    fn now(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now).into_bytes();
        }
        &self.text
    }
}

thread_local! {
    static DATE: RefCell<CachedDate> = const {
        RefCell::new(CachedDate { second: 0, text: Vec::new() })
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_exactly() {
        let mut digits = [0u8; 20];
        for value in [0u64, 7, 10, 117, 4096, u64::MAX] {
            assert_eq!(decimal(&mut digits, value), value.to_string().as_bytes());
        }
    }

    #[test]
    fn an_answer_is_one_complete_http_message() {
        let mut out = Vec::new();
        let id = HeaderName::from_static("x-request-id");
        write_json_ok(&mut out, [(&id, &b"abc"[..])], false, b"{}");
        let text = String::from_utf8(out).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert_eq!(body, "{}");
        let lines: Vec<&str> = head.lines().collect();
        assert_eq!(
            lines[..4],
            [
                "HTTP/1.1 200 OK",
                "content-type: application/json",
                "x-request-id: abc",
                "content-length: 2"
            ]
        );
        let date = lines[4].strip_prefix("date: ").unwrap_or_default();
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    }
}
