//! The local endpoint's state files in `deploy.local.state_dir`: `endpoint.json` (what should
//! run: keys, deployments, traffic; versioned) and `daemon.json` (who runs it: pid, control
//! port, control token), plus `logs/<deployment>.log`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DeployError, Result};
use crate::local_registry::{hex, read_bounded, write_atomically};
use crate::registry::RegisteredModel;
use crate::target::{EndpointKeys, TrafficMap};

/// The `endpoint.json` format this crate writes and reads.
pub const ENDPOINT_STATE_VERSION: u32 = 1;

const MAX_STATE_BYTES: u64 = 16 << 20;

/// What the endpoint should run, as `endpoint.json` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointState {
    pub(crate) format_version: u32,
    pub(crate) name: String,
    pub(crate) keys: EndpointKeys,
    pub(crate) deployments: Vec<DeploymentRecord>,
    pub(crate) traffic: TrafficMap,
    pub(crate) mirror_traffic: TrafficMap,
}

/// One deployment: its model and the port its process listens on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeploymentRecord {
    pub(crate) name: String,
    pub(crate) model: RegisteredModel,
    pub(crate) port: u16,
}

/// The running daemon, as `daemon.json` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DaemonRecord {
    pub(crate) format_version: u32,
    pub(crate) pid: u32,
    pub(crate) control_port: u16,
    pub(crate) token: String,
}

/// Paths of the state directory.
#[derive(Debug, Clone)]
pub(crate) struct StateDir(pub(crate) PathBuf);

impl StateDir {
    pub(crate) fn endpoint_file(&self) -> PathBuf {
        self.0.join("endpoint.json")
    }

    pub(crate) fn daemon_file(&self) -> PathBuf {
        self.0.join("daemon.json")
    }

    pub(crate) fn log_file(&self, deployment: &str) -> PathBuf {
        self.0.join("logs").join(format!("{deployment}.log"))
    }

    pub(crate) fn read_endpoint(&self) -> Result<Option<EndpointState>> {
        let state: Option<EndpointState> = read_json(&self.endpoint_file())?;
        if let Some(state) = &state {
            check_version(&self.endpoint_file(), state.format_version)?;
        }
        Ok(state)
    }

    pub(crate) fn write_endpoint(&self, state: &EndpointState) -> Result<()> {
        write_json(&self.endpoint_file(), state)
    }

    pub(crate) fn read_daemon(&self) -> Result<Option<DaemonRecord>> {
        let record: Option<DaemonRecord> = read_json(&self.daemon_file())?;
        if let Some(record) = &record {
            check_version(&self.daemon_file(), record.format_version)?;
        }
        Ok(record)
    }

    pub(crate) fn write_daemon(&self, record: &DaemonRecord) -> Result<()> {
        write_json(&self.daemon_file(), record)?;
        restrict_to_owner(&self.daemon_file())
    }
}

fn check_version(path: &Path, found: u32) -> Result<()> {
    if found == ENDPOINT_STATE_VERSION {
        Ok(())
    } else {
        Err(DeployError::StateFile {
            path: path.to_path_buf(),
            reason: format!(
                "format_version {found} is not supported (this finbeh reads {ENDPOINT_STATE_VERSION})"
            ),
        })
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(path, MAX_STATE_BYTES)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DeployError::StateFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DeployError::io("creating", dir, e))?;
    }
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| DeployError::StateFile {
        path: path.to_path_buf(),
        reason: format!("cannot encode: {e}"),
    })?;
    bytes.push(b'\n');
    write_atomically(path, &bytes)
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| DeployError::io("restricting", path, e))
}

#[cfg(not(unix))]
fn restrict_to_owner(_path: &Path) -> Result<()> {
    Ok(())
}

/// 32 random bytes as 64 hex digits (endpoint keys, the control token).
pub(crate) fn random_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        let n =
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())
                .map_err(|e| DeployError::io("reading random bytes", "getrandom", e.into()))?;
        filled += n;
    }
    Ok(hex(&bytes))
}

/// Whether a process with this pid exists (a stale pid after a reboot usually does not; a
/// reused one is caught by the control API's token check).
pub(crate) fn pid_alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
}

/// The last `tail` lines of a log file (empty when there is none).
pub(crate) fn tail_lines(path: &Path, tail: usize) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(String::new());
    };
    let len = file
        .metadata()
        .map_err(|e| DeployError::io("reading", path, e))?
        .len();
    // Read at most 256 bytes per line asked for, and at most 4 MiB.
    let window = u64::try_from(tail)
        .unwrap_or(u64::MAX)
        .saturating_mul(256)
        .clamp(4096, 4 << 20)
        .min(len);
    file.seek(SeekFrom::Start(len - window))
        .map_err(|e| DeployError::io("reading", path, e))?;
    let mut bytes = Vec::new();
    file.take(window)
        .read_to_end(&mut bytes)
        .map_err(|e| DeployError::io("reading", path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(tail);
    Ok(lines[start..].join("\n"))
}
