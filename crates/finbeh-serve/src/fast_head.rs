//! Which request heads the connection answers itself: a plain `POST /score` over HTTP/1.1 with
//! a `Content-Length` body, nothing in its head that changes the framing or the connection, and
//! each header `/score` reads at most once. Any other head (or one that does not parse) is left
//! to hyper, which then decides everything about it, errors included.

use std::ops::Range;

use crate::metrics::ROUTES;

/// Headers a plain request may carry; a head with more goes to hyper.
pub(crate) const MAX_HEADERS: usize = 32;

/// Longest head taken here; a longer one goes to hyper (with its own, larger, limit).
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;

/// A plain `/score` head: its length and where the values `/score` reads are in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlainScore {
    /// Bytes of the head, up to and including the blank line.
    pub(crate) head_len: usize,
    /// The declared body length.
    pub(crate) content_length: usize,
    pub(crate) content_length_at: Range<usize>,
    pub(crate) authorization: Option<Range<usize>>,
    pub(crate) content_type: Option<Range<usize>>,
    pub(crate) content_encoding: Option<Range<usize>>,
    pub(crate) request_id: Option<Range<usize>>,
}

/// What the start of a buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Head {
    /// A plain `/score` head, whose body is at most the `body_limit` given.
    Plain(PlainScore),
    /// Not all of the head yet (and not over [`MAX_HEAD_BYTES`]).
    Partial,
    /// Anything else: hyper takes the connection from this request on.
    Other,
}

/// Reads the head at the start of `buffer`; bodies over `body_limit` are left to hyper.
pub(crate) fn parse(buffer: &[u8], body_limit: usize) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buffer.len() < MAX_HEAD_BYTES => return Head::Partial,
        Ok(httparse::Status::Partial) | Err(_) => return Head::Other,
    };
    if head_len > MAX_HEAD_BYTES
        || request.method != Some("POST")
        || request.path != Some(ROUTES[SCORE_ROUTE])
        || request.version != Some(1)
    {
        return Head::Other;
    }
    let base = buffer.as_ptr() as usize;
    let at = |value: &[u8]| {
        let start = (value.as_ptr() as usize).wrapping_sub(base);
        start..start + value.len()
    };
    let mut plain = PlainScore {
        head_len,
        content_length: 0,
        content_length_at: 0..0,
        authorization: None,
        content_type: None,
        content_encoding: None,
        request_id: None,
    };
    let mut content_length = None;
    for header in request.headers.iter() {
        let name = header.name.as_bytes();
        let slot = if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Head::Other;
            }
            content_length = Some(header.value);
            continue;
        } else if name.eq_ignore_ascii_case(b"authorization") {
            &mut plain.authorization
        } else if name.eq_ignore_ascii_case(b"content-type") {
            &mut plain.content_type
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            &mut plain.content_encoding
        } else if name.eq_ignore_ascii_case(b"x-request-id") {
            &mut plain.request_id
        } else if FRAMING.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            return Head::Other;
        } else {
            continue;
        };
        if slot.replace(at(header.value)).is_some() {
            return Head::Other; // repeated: hyper's path decides which one counts
        }
    }
    let Some(length) = content_length else {
        return Head::Other;
    };
    match plain_digits(length) {
        Some(n) if n <= body_limit => {
            plain.content_length = n;
            plain.content_length_at = at(length);
            Head::Plain(plain)
        }
        _ => Head::Other,
    }
}

/// The route index of `/score` in [`ROUTES`].
pub(crate) const SCORE_ROUTE: usize = 3;

/// Headers that change how a request is framed or what happens to the connection.
const FRAMING: [&[u8]; 5] = [
    b"transfer-encoding",
    b"connection",
    b"expect",
    b"upgrade",
    b"te",
];

/// `1234` (1 to 19 digits, nothing else) as a number.
fn plain_digits(value: &[u8]) -> Option<usize> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer k\r\nX-Request-Id: abc\r\nContent-Length: 4\r\n\r\nbody";

    fn plain(buffer: &[u8]) -> PlainScore {
        match parse(buffer, 1000) {
            Head::Plain(plain) => plain,
            other => panic!("{other:?} for {}", String::from_utf8_lossy(buffer)),
        }
    }

    #[test]
    fn a_plain_score_request_is_taken_with_its_values() {
        let head = plain(REQUEST);
        assert_eq!(head.head_len, REQUEST.len() - 4);
        assert_eq!(head.content_length, 4);
        let text = |range: Option<Range<usize>>| &REQUEST[range.unwrap_or(0..0)];
        assert_eq!(text(head.authorization), b"Bearer k");
        assert_eq!(text(head.content_type), b"application/json");
        assert_eq!(text(head.request_id), b"abc");
        assert_eq!(text(Some(head.content_length_at)), b"4");
        assert_eq!(head.content_encoding, None);
    }

    #[test]
    fn a_partial_head_waits_and_anything_unusual_goes_to_hyper() {
        assert_eq!(parse(&REQUEST[..20], 1000), Head::Partial);
        assert_eq!(parse(b"", 1000), Head::Partial);
        let with = |from: &str, to: &str| {
            let text = String::from_utf8_lossy(REQUEST).replacen(from, to, 1);
            parse(text.as_bytes(), 1000)
        };
        for (from, to) in [
            ("POST", "GET"),
            ("/score", "/score?x=1"),
            ("/score", "/labels"),
            ("HTTP/1.1", "HTTP/1.0"),
            ("Content-Length: 4", "Transfer-Encoding: chunked"),
            (
                "Content-Length: 4",
                "Content-Length: 4\r\nContent-Length: 4",
            ),
            ("Content-Length: 4", "Content-Length: +4"),
            ("Content-Length: 4", "Content-Length: 4, 4"),
            ("Content-Length: 4", "Content-Length: 2000"), // over the limit given
            ("Content-Length: 4\r\n", ""),
            ("Host: x", "Connection: close"),
            ("Host: x", "Expect: 100-continue"),
            ("Host: x", "Upgrade: h2c"),
            ("Host: x", "X-Request-Id: twice"),
            ("Host: x", "authorization: Bearer twice"),
            ("Host: x", "Content-Encoding: gzip\r\nContent-Encoding: br"),
            ("Host: x", "Bad Header: x"),
        ] {
            assert_eq!(with(from, to), Head::Other, "{from} -> {to}");
        }
        let long = format!("Host: {}", "x".repeat(MAX_HEAD_BYTES));
        assert_eq!(with("Host: x", &long), Head::Other);
        let many: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(with("Host: x\r\n", &many), Head::Other);
        // One content encoding is read by `/score` itself (415 unless identity).
        assert!(matches!(
            with("Host: x", "Content-Encoding: gzip"),
            Head::Plain(_)
        ));
    }
}
