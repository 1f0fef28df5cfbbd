//! A local endpoint in a temporary directory, driven through the `deploy` example binary; on
//! drop `deploy delete-endpoint`, then every process whose command line names the directory is
//! killed by pid.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::example_binary;

/// Rollout settings that finish in about a second.
pub const FAST_ROLLOUT: &str = "steps = [100]\nsoak_seconds = 0.2";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct LocalEndpoint {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl LocalEndpoint {
    /// `finbeh.toml` with free ports, `[deploy.rollout]` = `rollout`, plus `extra` TOML.
    pub fn new(rollout: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (port, blue, green) = (free_port(), free_port(), free_port());
        let config = format!(
            "[deploy.local]\nregistry_dir = \"{reg}\"\nstate_dir = \"{state}\"\nport = {port}\n\
             blue_port = {blue}\ngreen_port = {green}\nhealth_timeout_ms = 30000\n\n\
             [deploy.rollout]\n{rollout}\n\n[logging]\nformat = \"json\"\n\n{extra}\n",
            reg = dir.path().join("registry").display(),
            state = dir.path().join("endpoint").display(),
        );
        std::fs::write(dir.path().join("finbeh.toml"), config).unwrap();
        Self { dir, port }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("finbeh.toml")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/score", self.port)
    }

    /// Runs an example binary with `--config` and `args` in the endpoint's directory.
    pub fn run(&self, example: &str, args: &[&str]) -> Output {
        Command::new(example_binary(example))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// Runs an example with `--json`; its exit success and last stdout line as JSON.
    pub fn json(&self, example: &str, args: &[&str]) -> (bool, Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(example, &all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        let value = serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "{example} {args:?}: {e}\nstdout: {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.success(), value)
    }

    /// `deploy rollout --model PATH`; panics unless it succeeded.
    pub fn rollout(&self, model: &Path) {
        let (ok, report) = self.json("deploy", &["rollout", "--model", model.to_str().unwrap()]);
        assert!(ok, "rollout failed: {report}");
    }

    /// Both endpoint keys.
    pub fn keys(&self) -> (String, String) {
        let (ok, keys) = self.json("deploy", &["keys"]);
        assert!(ok, "{keys}");
        let key = |name: &str| keys[name].as_str().unwrap().to_owned();
        (key("primary_key"), key("secondary_key"))
    }

    /// Pids of live processes whose command line names this endpoint's directory.
    pub fn processes(&self) -> Vec<i32> {
        let needle = self.dir.path().to_str().unwrap().to_owned();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
            });
            if alive && String::from_utf8_lossy(&cmdline).contains(&needle) {
                found.push(pid);
            }
        }
        found
    }

    /// `deploy delete-endpoint`; returns the processes still alive 10 s later.
    pub fn delete(&self) -> Vec<i32> {
        // Also on the way out of a failed test: never panic here.
        if let Ok(deploy) = std::panic::catch_unwind(|| example_binary("deploy")) {
            let _ = Command::new(deploy)
                .arg("--config")
                .arg(self.config())
                .arg("delete-endpoint")
                .output();
        }
        let started = Instant::now();
        loop {
            let left = self.processes();
            if left.is_empty() || started.elapsed() > Duration::from_secs(10) {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LocalEndpoint {
    fn drop(&mut self) {
        for pid in self.delete() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}
