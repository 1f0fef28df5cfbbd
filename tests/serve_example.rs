//! The `serve` example as deployed: its listening socket, and SIGTERM with a stalled connection
//! open exits within the drain deadline (`serve.shutdown_timeout_ms`). Needs the example built,
//! as `cargo test` builds it.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The child server, killed on every path out of the test.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example_binary() -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/examples/serve
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir.join("examples").join("serve");
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo test` (which builds examples) or `cargo build --example serve`",
        binary.display()
    );
    binary
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
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/finbeh-train/tests/fixtures/model-v1.1.0.finbeh");
    let workdir = tempfile::tempdir().unwrap(); // no finbeh.toml there
    let port = free_port();
    let mut server = Server(
        Command::new(example_binary())
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
    loop {
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
    (server, port)
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
