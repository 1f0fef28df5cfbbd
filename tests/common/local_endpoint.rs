//! A local endpoint in a temporary directory, driven through the example binaries (`deploy`,
//! `workflow_runner`, ...) with `--config`; on drop `deploy delete-endpoint`, then every process
//! whose command line names the directory is killed by pid.
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
    /// The router's port.
    pub port: u16,
    /// The `green` deployment's port.
    pub green_port: u16,
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
        Self {
            dir,
            port,
            green_port: green,
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("finbeh.toml")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/score", self.port)
    }

    /// The endpoint's state directory (`deploy.local.state_dir`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("endpoint")
    }

    /// Runs an example binary with `--config` and `args` in the endpoint's directory.
    pub fn run(&self, example: &str, args: &[&str]) -> Output {
        self.run_env(example, args, &[])
    }

    /// [`Self::run`] with extra environment variables (`FINBEH__…`) for this call.
    pub fn run_env(&self, example: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(example_binary(example))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .current_dir(self.dir.path())
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs an example with `--json`; its exit success and last stdout line as JSON.
    pub fn json(&self, example: &str, args: &[&str]) -> (bool, Value) {
        self.json_env(example, args, &[])
    }

    /// [`Self::json`] with extra environment variables for this call.
    pub fn json_env(&self, example: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run_env(example, &all, env);
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

    /// `deploy rollout --model PATH` with `env`: its exit success and its report.
    pub fn try_rollout(&self, model: &Path, env: &[(&str, &str)]) -> (bool, Value) {
        self.json_env(
            "deploy",
            &["rollout", "--model", model.to_str().unwrap()],
            env,
        )
    }

    /// `deploy rollout --model PATH`; panics unless it succeeded.
    pub fn rollout(&self, model: &Path) {
        let (ok, report) = self.try_rollout(model, &[]);
        assert!(ok, "rollout failed: {report}");
    }

    /// `deploy status`.
    pub fn status(&self) -> Value {
        let (ok, status) = self.json("deploy", &["status"]);
        assert!(ok, "{status}");
        status
    }

    /// Both endpoint keys.
    pub fn keys(&self) -> (String, String) {
        let (ok, keys) = self.json("deploy", &["keys"]);
        assert!(ok, "{keys}");
        let key = |name: &str| keys[name].as_str().unwrap().to_owned();
        (key("primary_key"), key("secondary_key"))
    }

    /// The endpoint daemon's pid (`daemon.json`).
    pub fn daemon_pid(&self) -> i32 {
        let text = std::fs::read_to_string(self.state_dir().join("daemon.json")).unwrap();
        let record: Value = serde_json::from_str(&text).unwrap();
        i32::try_from(record["pid"].as_u64().unwrap()).unwrap()
    }

    /// Live processes whose command line names this endpoint's directory: pid and command line
    /// (arguments joined by spaces).
    pub fn processes(&self) -> Vec<(i32, String)> {
        let needle = self.dir.path().to_str().unwrap().to_owned();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&needle) && !is_zombie(pid) {
                found.push((pid, cmdline));
            }
        }
        found
    }

    /// Waits (10 s at most) until no process of this endpoint is left; returns those left.
    pub fn wait_for_no_process(&self) -> Vec<(i32, String)> {
        let started = Instant::now();
        loop {
            let left = self.processes();
            if left.is_empty() || started.elapsed() > Duration::from_secs(10) {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `deploy delete-endpoint`; returns the processes still alive 10 s later.
    pub fn delete(&self) -> Vec<(i32, String)> {
        // Also on the way out of a failed test: never panic here.
        if let Ok(deploy) = std::panic::catch_unwind(|| example_binary("deploy")) {
            let _ = Command::new(deploy)
                .arg("--config")
                .arg(self.config())
                .arg("delete-endpoint")
                .output();
        }
        self.wait_for_no_process()
    }

    /// `deploy delete-endpoint`, which must succeed and leave no process of this endpoint.
    pub fn delete_leaving_no_process(&self) {
        let out = self.run("deploy", &["delete-endpoint"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            self.wait_for_no_process(),
            Vec::new(),
            "orphans after delete-endpoint"
        );
    }
}

/// A process that is gone or a zombie.
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

impl Drop for LocalEndpoint {
    fn drop(&mut self) {
        for (pid, _) in self.delete() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}
