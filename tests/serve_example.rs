//! The `serve` example as deployed: its listening socket, SIGTERM with a stalled connection
//! open exits within the drain deadline (`serve.shutdown_timeout_ms`), and the prediction log
//! survives `kill -9` in the middle of a load. Needs the example built,
//! as `cargo test` builds it.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::example_binary;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The child server, killed on every path out of the test.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the example on a free port with `env` settings; returns once it listens.
fn start(env: &[(&str, &str)]) -> (Server, u16) {
    let (server, port, _) = start_logged(env);
    (server, port)
}

/// As [`start`], also returning the log lines written before "listening".
fn start_logged(env: &[(&str, &str)]) -> (Server, u16, String) {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/finbeh-train/tests/fixtures/model-v1.1.0.finbeh");
    let workdir = tempfile::tempdir().unwrap(); // no finbeh.toml there
    let port = free_port();
    let mut server = Server(
        Command::new(example_binary("serve"))
            .args([
                "--model",
                model.to_str().unwrap(),
                "--port",
                &port.to_string(),
            ])
            .current_dir(workdir.path())
            .envs(env.iter().copied())
            .env("FINBEH__LOGGING__FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Wait for the "listening" line.
    let mut log = BufReader::new(server.0.stderr.take().unwrap());
    let mut line = String::new();
    let mut before = String::new();
    loop {
        before.push_str(&line);
        line.clear();
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "the server exited before listening"
        );
        if line.contains("listening") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    (server, port, before)
}

/// A burst of connections waits in the kernel's accept queue rather than being dropped (which
/// costs a client a 1 s SYN retransmit): the queue is 4,096 deep, or `somaxconn` if smaller.
#[test]
fn the_accept_queue_is_deep() {
    let (_server, port) = start(&[]);
    let somaxconn: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // `ss` shows a listening socket's accept queue size as its Send-Q.
    let listing = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("`ss` (iproute2) lists the listening socket");
    let listing = String::from_utf8(listing.stdout).unwrap();
    let queue: u64 = listing
        .split_whitespace()
        .nth(2)
        .and_then(|send_q| send_q.parse().ok())
        .unwrap_or_else(|| panic!("no listening socket on {port}: {listing:?}"));
    assert_eq!(queue, somaxconn.min(4096));
}

#[test]
fn sigterm_with_a_stalled_connection_exits_within_the_drain_deadline() {
    const DEADLINE: Duration = Duration::from_millis(1_000);
    let (mut server, port) = start(&[
        (
            "FINBEH__SERVE__SHUTDOWN_TIMEOUT_MS",
            &DEADLINE.as_millis().to_string(),
        ),
        ("FINBEH__SERVE__HEADER_READ_TIMEOUT_MS", "60000"),
        ("FINBEH__SERVE__WORKER_THREADS", "2"),
    ]);
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(b"POST /score HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200)); // let the server take the half request

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < DEADLINE + Duration::from_secs(5),
            "still running {:?} after SIGTERM (deadline {DEADLINE:?})",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    println!("SIGTERM to exit with one stalled connection: {took:?} (deadline {DEADLINE:?})");
    assert!(exit.success(), "{exit:?}");
    assert!(took >= DEADLINE, "exited before the deadline: {took:?}");
}

/// One keep-alive exchange: sends `body` to /score with `id`, returns the status code.
fn score_on(stream: &mut TcpStream, body: &str, id: &str) -> Option<u16> {
    let request = format!(
        "POST /score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         x-request-id: {id}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).ok()?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))?
        .trim()
        .parse()
        .ok()?;
    let mut answer = vec![0u8; length];
    stream.read_exact(&mut answer).ok()?;
    head.get(9..12)?.parse().ok()
}

/// `kill -9` in the middle of a load: the log opens cleanly (`PRAGMA integrity_check`), every
/// committed request is whole (both its rows), and nothing answered more than one batch
/// interval (plus a margin for scheduling) before the kill is missing.
#[test]
fn the_prediction_log_survives_kill_9_mid_load() {
    const BATCH_INTERVAL_MS: u64 = 50;
    const MARGIN: Duration = Duration::from_millis(500);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    let (mut server, port, startup_log) = start_logged(&[
        ("FINBEH__MONITOR__ENABLED", "true"),
        ("FINBEH__MONITOR__DATABASE_PATH", db.to_str().unwrap()),
        (
            "FINBEH__MONITOR__BATCH_INTERVAL_MS",
            &BATCH_INTERVAL_MS.to_string(),
        ),
        ("FINBEH__SERVE__WORKER_THREADS", "2"),
    ]);
    assert!(
        startup_log.contains("prediction log on") && startup_log.contains("log.sqlite"),
        "{startup_log}"
    );
    let artifact = finbeh_train::ModelArtifact::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("crates/finbeh-train/tests/fixtures/model-v1.1.0.finbeh"),
    )
    .unwrap();
    let record = serde_json::Value::Array(artifact.metadata().golden_set[0].record.clone());
    let body = serde_json::json!({"data": [record, record]}).to_string();

    // request id → when its 200 arrived
    let answered: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    // A steady load, well under a full batch (8,192 rows) per interval, so that batches are
    // closed by the interval, the bound this test checks.
    let clients: Vec<_> = (0..2)
        .map(|client| {
            let (answered, body) = (Arc::clone(&answered), body.clone());
            std::thread::spawn(move || {
                let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                for i in 0.. {
                    let id = format!("c{client}-{i}");
                    match score_on(&mut stream, &body, &id) {
                        Some(200) => {
                            answered.lock().unwrap().insert(id, Instant::now());
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Some(status) => panic!("{id} answered {status}"),
                        None => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2_500));
    let killed_at = Instant::now();
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
    for client in clients {
        client.join().unwrap();
    }
    let answered = answered.lock().unwrap();

    let connection = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let mut logged: HashMap<String, i64> = HashMap::new();
    let mut statement = connection
        .prepare("SELECT request_id, count(*), min(http_status), max(http_status) FROM predictions GROUP BY request_id")
        .unwrap();
    let rows = statement
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (id, count, min_status, max_status) = row.unwrap();
        assert_eq!((count, min_status, max_status), (2, 200, 200), "{id}");
        logged.insert(id, count);
    }
    let must_be_there: Vec<&String> = answered
        .iter()
        .filter(|(_, at)| **at + Duration::from_millis(BATCH_INTERVAL_MS) + MARGIN < killed_at)
        .map(|(id, _)| id)
        .collect();
    assert!(
        must_be_there.len() > 100,
        "too little load to test: {} requests answered early enough",
        must_be_there.len()
    );
    let missing: Vec<_> = must_be_there
        .iter()
        .filter(|id| !logged.contains_key(**id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} answered requests missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    // Only answered requests (or ones in flight at the kill) can be logged.
    assert!(
        logged.len() <= answered.len() + 2,
        "{} > {}",
        logged.len(),
        answered.len()
    );
}
