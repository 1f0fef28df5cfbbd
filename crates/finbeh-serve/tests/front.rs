//! The connection's front answers plain `POST /score` requests itself (issue 14); everything
//! else goes to hyper and the router. The front must answer byte for byte what hyper and the
//! router answer: each request below is sent twice on the real server, plain (the front) and
//! with a `TE: trailers` header (which sends it to hyper, and changes nothing else), and the two
//! answers are compared whole, but for the date and the measured milliseconds.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::net::*;
use finbeh_config::Secret;

const KEY: &str = "front-key-0123456789";

fn start() -> Running {
    Running::start(|s| {
        s.primary_key = Some(Secret::new(KEY.into()));
        s.worker_threads = 1;
        s.request_timeout_ms = 1_000;
    })
}

/// A `/score` request with `headers` (each ending in `\r\n`) and `body`.
fn request(headers: &str, body: &str) -> String {
    format!(
        "POST /score HTTP/1.1\r\nhost: x\r\n{headers}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn keyed(body: &str, id: &str) -> String {
    request(
        &format!(
            "content-type: application/json\r\nauthorization: Bearer {KEY}\r\nx-request-id: {id}\r\n"
        ),
        body,
    )
}

/// One answer read from `stream`: the head's lines and the body.
fn read_answer(stream: &mut TcpStream) -> (Vec<String>, Vec<u8>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let lines: Vec<String> = String::from_utf8(head)
        .unwrap()
        .trim_end()
        .lines()
        .map(str::to_owned)
        .collect();
    let length: usize = lines
        .iter()
        .find_map(|line| line.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (lines, body)
}

/// The answer to `request` on a new connection, with what differs between two answers to the
/// same request blanked: the date, the measured time and a generated request id's counter.
fn answer_to(address: SocketAddr, request: &str) -> (Vec<String>, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let (lines, body) = read_answer(&mut stream);
    let lines = lines
        .into_iter()
        .map(|line| {
            if let Some(date) = line.strip_prefix("date: ") {
                assert!(httpdate::parse_http_date(date).is_ok(), "{line}");
                "date: (now)".to_owned()
            } else if let Some(ms) = line.strip_prefix("x-ms-run-fn-exec-ms: ") {
                assert!(ms.parse::<f64>().is_ok(), "{line}");
                "x-ms-run-fn-exec-ms: (measured)".to_owned()
            } else if let Some(id) = line.strip_prefix("x-request-id: ")
                && id.len() == 25
                && id.as_bytes()[8] == b'-'
            {
                format!("x-request-id: {}-(counter)", &id[..8])
            } else {
                line
            }
        })
        .collect();
    (lines, String::from_utf8_lossy(&body).into_owned())
}

fn via_hyper(request: &str) -> String {
    request.replacen("host: x\r\n", "host: x\r\nte: trailers\r\n", 1)
}

#[test]
fn the_front_answers_exactly_as_hyper_and_the_router() {
    let server = start();
    let record = RECORD;
    let long_id = "i".repeat(101);
    let cases = [
        ("one record", keyed(record, "front-1")),
        (
            "positional",
            keyed(
                r#"{"data": [[1200, 30, "retail", true, "2020-01-02"], [5, 60, "x", false, null]]}"#,
                "front-2",
            ),
        ),
        (
            "no id: one is generated",
            request(
                &format!("content-type: application/json\r\nauthorization: Bearer {KEY}\r\n"),
                record,
            ),
        ),
        (
            "no key",
            request(
                "content-type: application/json\r\nx-request-id: front-3\r\n",
                record,
            ),
        ),
        (
            "a wrong key",
            keyed(record, "front-4").replace(KEY, "wrong"),
        ),
        (
            "not json",
            keyed(record, "front-5").replace("application/json", "text/plain"),
        ),
        (
            "compressed",
            keyed(record, "front-6")
                .replace("x-request-id", "content-encoding: gzip\r\nx-request-id"),
        ),
        (
            "identity encoding",
            keyed(record, "front-7")
                .replace("x-request-id", "content-encoding: identity\r\nx-request-id"),
        ),
        ("malformed", keyed("{\"data\": [[1,", "front-8")),
        ("empty body", keyed("", "front-9")),
        (
            "unknown column",
            keyed(
                r#"{"income": 1, "age": 2, "segment": "a", "has_card": true, "opened": "2020-01-02", "color": 1}"#,
                "front-10",
            ),
        ),
        (
            "a panicking model",
            keyed(&record.replace("retail", "panic"), "front-11"),
        ),
        ("an id too long", keyed(record, &long_id)),
        (
            "lower and upper case names",
            keyed(record, "front-12")
                .replace("content-type", "Content-Type")
                .replace("x-request-id", "X-Request-ID"),
        ),
    ];
    for (what, plain) in &cases {
        let front = answer_to(server.address, plain);
        let hyper = answer_to(server.address, &via_hyper(plain));
        assert_eq!(front, hyper, "{what}");
    }
    // Both ways were taken: every case twice, all counted by route and status.
    let answered: u64 = [200, 400, 401, 415, 431, 500]
        .iter()
        .map(|status| {
            server.metric(&format!(
                "finbeh_http_requests_total{{route=\"/score\",status=\"{status}\"}}"
            ))
        })
        .sum();
    assert_eq!(answered, 2 * cases.len() as u64);
}

#[test]
fn a_connection_goes_on_with_hyper_after_a_request_the_front_does_not_take() {
    let server = start();
    let mut stream = TcpStream::connect(server.address).unwrap();
    // Two plain requests written at once (pipelined), answered in order.
    let twice = format!("{}{}", keyed(RECORD, "p-1"), keyed(RECORD, "p-2"));
    stream.write_all(twice.as_bytes()).unwrap();
    for id in ["p-1", "p-2"] {
        let (head, _) = read_answer(&mut stream);
        assert_eq!(head[0], "HTTP/1.1 200 OK");
        assert!(head.contains(&format!("x-request-id: {id}")), "{head:?}");
    }
    // A body that comes after its head, in pieces.
    let split = keyed(RECORD, "p-3");
    let (head, body) = split.split_at(split.len() - RECORD.len() + 10);
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(body.as_bytes()).unwrap();
    assert_eq!(read_answer(&mut stream).0[0], "HTTP/1.1 200 OK");
    // Another route on the same connection: hyper's from here on, and still keep-alive.
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let (head, body) = read_answer(&mut stream);
    assert_eq!(head[0], "HTTP/1.1 200 OK");
    assert_eq!(body, br#"{"status":"alive"}"#);
    stream.write_all(keyed(RECORD, "p-4").as_bytes()).unwrap();
    let (head, _) = read_answer(&mut stream);
    assert!(head.contains(&"x-request-id: p-4".to_owned()), "{head:?}");
}

#[test]
fn a_body_that_stops_coming_is_408_and_the_connection_closes() {
    let server = start();
    let mut stream = TcpStream::connect(server.address).unwrap();
    let whole = keyed(RECORD, "slow-1");
    stream
        .write_all(&whole.as_bytes()[..whole.len() - 5])
        .unwrap();
    let (head, body) = read_answer(&mut stream);
    assert_eq!(head[0], "HTTP/1.1 408 Request Timeout", "{head:?}");
    assert!(String::from_utf8_lossy(&body).contains("request_timeout"));
    assert!(head.contains(&"connection: close".to_owned()), "{head:?}");
    assert!(closed_by_server(&mut stream, Duration::from_secs(5)));
}

#[test]
fn a_refusal_before_the_body_arrived_closes_the_connection() {
    let server = start();
    let mut stream = TcpStream::connect(server.address).unwrap();
    let unauthorized = request("content-type: application/json\r\n", RECORD);
    // The head alone: 401 at once, without waiting for the body.
    stream
        .write_all(&unauthorized.as_bytes()[..unauthorized.len() - RECORD.len()])
        .unwrap();
    let (head, _) = read_answer(&mut stream);
    assert_eq!(head[0], "HTTP/1.1 401 Unauthorized");
    assert!(closed_by_server(&mut stream, Duration::from_secs(5)));
    // With the body there, the connection stays open for the next request.
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream.write_all(unauthorized.as_bytes()).unwrap();
    assert_eq!(read_answer(&mut stream).0[0], "HTTP/1.1 401 Unauthorized");
    stream.write_all(keyed(RECORD, "after").as_bytes()).unwrap();
    assert_eq!(read_answer(&mut stream).0[0], "HTTP/1.1 200 OK");
}
