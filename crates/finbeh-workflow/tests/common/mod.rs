//! Shared by the finbeh-workflow tests: the committed artifacts and a real finbeh server on a
//! free loopback port, stopped and joined on drop.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use finbeh_config::{MonitorSettings, Secret, ServeSettings, Settings, ValidSettings};
use finbeh_monitor::{LogIdentity, PredictionLog, PredictionLogParams};
use finbeh_serve::{AppState, ServerParams, artifact_loader, run_on};

/// The current-format artifact the checks test.
pub fn model() -> PathBuf {
    fixture("model-v1.3.0.finbeh")
}

/// Another committed artifact (older format, another training run).
pub fn other_model() -> PathBuf {
    fixture("model-v1.0.0.finbeh")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../finbeh-train/tests/fixtures")
        .join(name)
}

/// Default settings, validated.
pub fn settings() -> ValidSettings {
    Settings::default().check().unwrap()
}

/// A finbeh server (`run_on`, one worker) serving `model` on a free port.
pub struct Server {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    log: Option<std::sync::Arc<PredictionLog>>,
}

impl Server {
    /// Serves `model` with these keys; `edit` adjusts the rest of `[serve]`.
    pub fn start(
        model: &Path,
        keys: (Option<&str>, Option<&str>),
        edit: impl FnOnce(&mut ServeSettings),
    ) -> Self {
        Self::start_logged(model, keys, edit, None)
    }

    /// [`Self::start`], recording every request in the prediction log at `database`.
    pub fn start_logged(
        model: &Path,
        keys: (Option<&str>, Option<&str>),
        edit: impl FnOnce(&mut ServeSettings),
        database: Option<&Path>,
    ) -> Self {
        let mut serve = ServeSettings {
            worker_threads: 1,
            primary_key: keys.0.map(|k| Secret::new(k.to_owned())),
            secondary_key: keys.1.map(|k| Secret::new(k.to_owned())),
            ..ServeSettings::default()
        };
        edit(&mut serve);
        let config = ServerParams::from(&serve).check().unwrap();
        let state = AppState::new(config.clone(), artifact_loader());
        // A model that fails to load leaves the server unready, as in production.
        let _ = state.load(Some(model), None);
        let log = database.map(|path| {
            let monitor = MonitorSettings {
                enabled: true,
                database_path: path.to_path_buf(),
                ..MonitorSettings::default()
            };
            let config = PredictionLogParams::from(&monitor).check().unwrap();
            let identity = LogIdentity {
                endpoint: "checks".to_owned(),
                deployment: "blue".to_owned(),
            };
            let log = std::sync::Arc::new(PredictionLog::open(&config, identity).unwrap());
            state.set_prediction_sink(log.clone()).unwrap();
            log
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            run_on(listener, config, state, async move {
                let _ = stopped.await;
            })
            .unwrap();
        });
        Self {
            address,
            stop: Some(stop),
            thread: Some(thread),
            log,
        }
    }

    /// Stops the server and closes its prediction log (committing what is pending).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(log) = self.log.take() {
            let _ = log.close();
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/score", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A TCP proxy on a free port in front of `upstream` that holds every chunk of the answers for
/// `delay`: a slow network to a real server. Its threads end when the test process does.
pub fn slow_proxy(upstream: SocketAddr, delay: std::time::Duration) -> SocketAddr {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(upstream) else {
                continue;
            };
            let (mut client_read, mut server_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_read, &mut server_write);
                let _ = server_write.shutdown(std::net::Shutdown::Both);
            });
            let (mut server_read, mut client_write) = (server, client);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 16 * 1024];
                while let Ok(n) = server_read.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    std::thread::sleep(delay);
                    if client_write.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                // The server closed: close the client's side too, so it does not reuse it.
                let _ = client_write.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    address
}

/// An HTTP server on a free port that is not finbeh: every request gets
/// `500 Internal Server Error` with a plain-text body. Its thread ends with the test process.
pub fn plain_500_server() -> SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    let mut any = false;
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        any = true;
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(value) =
                            line.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    if !any {
                        return;
                    }
                    let mut body = vec![0u8; length.min(1 << 20)];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\nbroken";
                    if stream.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}
