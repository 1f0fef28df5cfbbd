//! The open-connection cap on the real server: connections above it are refused at once with a
//! 503 and counted in /metrics; the server goes on serving below it.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::net::*;

#[test]
fn connections_over_the_cap_are_refused_at_once_and_counted() {
    const CAP: usize = 20;
    let server = Running::start(|s| {
        s.max_connections = CAP;
        s.worker_threads = 2;
    });
    let mut held: Vec<TcpStream> = (0..CAP)
        .map(|_| TcpStream::connect(server.address).unwrap())
        .collect();
    server.wait_for_metric(
        "finbeh_open_connections",
        CAP as u64,
        Duration::from_secs(10),
    );

    for _ in 0..5 {
        let started = Instant::now();
        let mut refused = TcpStream::connect(server.address).unwrap();
        refused
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut answer = Vec::new();
        // The answer, then the close (a reset is a close too).
        let _ = refused.read_to_end(&mut answer);
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(5), "refusal took {waited:?}");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.is_empty() || status_of(&answer) == 503, "{answer}");
    }
    assert_eq!(server.metric("finbeh_connections_refused_total"), 5);
    assert_eq!(server.metric("finbeh_open_connections"), CAP as u64);

    // Below the cap again, a normal request is served.
    held.pop();
    server.wait_for_metric(
        "finbeh_open_connections",
        CAP as u64 - 1,
        Duration::from_secs(10),
    );
    assert_eq!(post_score(server.address, RECORD).0, 200);
}
