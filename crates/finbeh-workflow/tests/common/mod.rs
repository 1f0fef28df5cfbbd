//! Shared by the finbeh-workflow tests: the committed artifacts and a real finbeh server on a
//! free loopback port, stopped and joined on drop.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use finbeh_config::{Secret, ServeSettings, Settings, ValidSettings};
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
}

impl Server {
    /// Serves `model` with these keys; `edit` adjusts the rest of `[serve]`.
    pub fn start(
        model: &Path,
        keys: (Option<&str>, Option<&str>),
        edit: impl FnOnce(&mut ServeSettings),
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
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/score", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
