//! The real server on a loopback socket (a free port), and raw HTTP/1.1 clients for it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use finbeh_config::ServeSettings;
use finbeh_serve::{AppState, ServerParams, run_on};

use super::{BINARY, loaded, send};

/// The record `common::loader`'s fake model scores.
pub const RECORD: &str =
    r#"{"income": 1200, "age": 30, "segment": "retail", "has_card": true, "opened": "2020-01-02"}"#;

/// The half request of the issue: a request line and one header, then nothing.
pub const HALF_REQUEST: &[u8] = b"POST /score HTTP/1.1\r\nHost: x\r\n";

/// Lets this process open `wanted` descriptors (up to the hard limit); returns the soft limit.
pub fn raise_open_file_limit(wanted: u64) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    if limit.current.is_some_and(|soft| soft < wanted) {
        limit.current = Some(wanted.min(hard));
        setrlimit(Resource::Nofile, limit).unwrap();
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// A server running [`run_on`] in a thread; stopped (and joined) on drop.
pub struct Running {
    pub address: SocketAddr,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

impl Running {
    pub fn start(edit: impl FnOnce(&mut ServeSettings)) -> Self {
        let mut settings = ServeSettings::default();
        edit(&mut settings);
        let params = ServerParams::from(&settings);
        let (state, dir) = loaded(params.clone(), BINARY, None);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(listen_on_a_free_port());
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = params.check().unwrap();
        let server_state = state.clone();
        let thread = std::thread::spawn(move || {
            run_on(listener, config, server_state, async move {
                let _ = stopped.await;
            })
            .unwrap();
        });
        Self {
            address,
            state,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
            runtime,
        }
    }

    /// `/metrics` read in-process (no connection, so it works at the cap too).
    pub fn metric(&self, name: &str) -> u64 {
        let app = finbeh_serve::app(self.state.clone());
        let text = self
            .runtime
            .block_on(send(&app, super::get("/metrics")))
            .text();
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }

    /// Waits (up to `within`) until `metric` equals `value`.
    pub fn wait_for_metric(&self, name: &str, value: u64, within: Duration) {
        let started = Instant::now();
        while self.metric(name) != value {
            assert!(
                started.elapsed() < within,
                "{name} stayed at {} instead of {value} for {within:?}",
                self.metric(name)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks the server to stop and returns how long `run_on` took to return.
    pub fn stop(&mut self) -> Duration {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        started.elapsed()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback listener on a free port with a deep accept queue (as `run`'s own), so that a
/// burst of connections on a busy machine waits for the acceptor instead of being dropped.
async fn listen_on_a_free_port() -> TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(4096).unwrap().into_std().unwrap()
}

/// One whole request on a new connection; the status and the time to the complete answer.
pub fn post_score(address: SocketAddr, body: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    (status_of(&answer), started.elapsed())
}

/// The status code of a raw HTTP/1.1 answer (0 when there is none).
pub fn status_of(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Whether the server closed `stream` (end of file or reset), waiting up to `within`.
pub fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0u8; 512];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer before the close (such as a refusal)
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

/// Descriptors this process has open.
pub fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// This process's resident memory, in KiB.
pub fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
