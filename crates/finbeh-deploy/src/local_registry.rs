//! The local model registry: a directory of versioned artifacts and one manifest.
//!
//! ```text
//! registry_dir/
//!   manifest.json                       {"format_version": 1, "models": [RegisteredModel, ..]}
//!   .lock                               flock'ed by every writer
//!   models/<name>/<version>/<name>.finbeh
//! ```
//!
//! Every write is a temp file, fsync, rename, then fsync of the directory, so a crash leaves the
//! old manifest or the new one. Writers hold an exclusive `flock` on `.lock` from reading the
//! manifest to renaming the new one, so two `register` calls (threads or processes) never take
//! the same version.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use finbeh_train::{ARTIFACT_EXTENSION, ModelArtifact};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DeployError, Result};
use crate::registry::{ModelRegistry, RegisteredModel, Tags};

/// The manifest format this crate writes and reads.
pub const REGISTRY_MANIFEST_VERSION: u32 = 1;

/// Largest artifact the registry accepts (the file is read whole to check it).
pub(crate) const MAX_ARTIFACT_BYTES: u64 = 4 << 30;

/// Largest manifest read (a manifest is a few hundred bytes per version).
const MAX_MANIFEST_BYTES: u64 = 256 << 20;

const MANIFEST_FILE: &str = "manifest.json";
const LOCK_FILE: &str = ".lock";

/// The manifest file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format_version: u32,
    models: Vec<RegisteredModel>,
}

impl Default for Manifest {
    fn default() -> Self {
        Self {
            format_version: REGISTRY_MANIFEST_VERSION,
            models: Vec::new(),
        }
    }
}

/// The local registry in `deploy.local.registry_dir` (see the module docs for the layout).
#[derive(Debug, Clone)]
pub struct LocalRegistry {
    dir: PathBuf,
}

impl LocalRegistry {
    /// A registry in `dir` (created on the first `register`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The registry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }

    fn read_manifest(&self) -> Result<Manifest> {
        read_manifest(&self.manifest_path())
    }

    /// Registers synchronously (what the async [`ModelRegistry::register`] runs on the blocking
    /// pool).
    pub fn register_blocking(&self, artifact: &Path, tags: &Tags) -> Result<RegisteredModel> {
        let bytes = read_bounded(artifact, MAX_ARTIFACT_BYTES)?;
        let model = ModelArtifact::from_bytes(&bytes)?;
        let meta = model.metadata();
        check_name(&meta.model_name)?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let mut all_tags = tags.clone();
        all_tags.insert("artifact_version".to_owned(), meta.model_version.clone());
        all_tags.insert("format_version".to_owned(), meta.format_version.clone());

        fs::create_dir_all(&self.dir).map_err(|e| DeployError::io("creating", &self.dir, e))?;
        let _lock = DirLock::acquire(&self.dir.join(LOCK_FILE))?;
        let mut manifest = self.read_manifest()?;
        let next = manifest
            .models
            .iter()
            .filter(|m| m.name == meta.model_name)
            .filter_map(|m| m.version.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| DeployError::Refused("no version number left".to_owned()))?;
        let version = next.to_string();
        let version_dir = self
            .dir
            .join("models")
            .join(&meta.model_name)
            .join(&version);
        fs::create_dir_all(&version_dir)
            .map_err(|e| DeployError::io("creating", &version_dir, e))?;
        let file = version_dir.join(format!("{}.{ARTIFACT_EXTENSION}", meta.model_name));
        write_atomically(&file, &bytes)?;
        let registered = RegisteredModel {
            name: meta.model_name.clone(),
            version,
            sha256,
            metrics: artifact_metrics(&model),
            tags: all_tags,
            created: finbeh_train::rfc3339_utc(SystemTime::now()),
            archived: false,
            // Absolute, so a deployment started from another directory finds it.
            uri: std::path::absolute(&file)
                .unwrap_or(file)
                .display()
                .to_string(),
        };
        manifest.models.push(registered.clone());
        self.write_manifest(&manifest)?;
        Ok(registered)
    }

    fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let path = self.manifest_path();
        let mut text = serde_json::to_vec_pretty(manifest).map_err(|e| DeployError::StateFile {
            path: path.clone(),
            reason: format!("cannot encode: {e}"),
        })?;
        text.push(b'\n');
        write_atomically(&path, &text)
    }

    /// One version, synchronously.
    pub fn get_blocking(&self, name: &str, version: &str) -> Result<RegisteredModel> {
        self.read_manifest()?
            .models
            .into_iter()
            .find(|m| m.name == name && m.version == version)
            .ok_or_else(|| DeployError::ModelNotFound {
                name: name.to_owned(),
                version: Some(version.to_owned()),
            })
    }

    /// Every version (of one model), oldest first, synchronously.
    pub fn list_blocking(&self, name: Option<&str>) -> Result<Vec<RegisteredModel>> {
        Ok(self
            .read_manifest()?
            .models
            .into_iter()
            .filter(|m| name.is_none_or(|n| m.name == n))
            .collect())
    }

    /// The newest version that is not archived, synchronously.
    pub fn latest_blocking(&self, name: &str) -> Result<RegisteredModel> {
        self.list_blocking(Some(name))?
            .into_iter()
            .filter(|m| !m.archived)
            .max_by_key(|m| m.version.parse::<u64>().unwrap_or(0))
            .ok_or_else(|| DeployError::ModelNotFound {
                name: name.to_owned(),
                version: None,
            })
    }

    /// Archives a version, synchronously.
    pub fn archive_blocking(&self, name: &str, version: &str) -> Result<RegisteredModel> {
        let _lock = DirLock::acquire(&self.dir.join(LOCK_FILE))?;
        let mut manifest = self.read_manifest()?;
        let model = manifest
            .models
            .iter_mut()
            .find(|m| m.name == name && m.version == version)
            .ok_or_else(|| DeployError::ModelNotFound {
                name: name.to_owned(),
                version: Some(version.to_owned()),
            })?;
        model.archived = true;
        let archived = model.clone();
        self.write_manifest(&manifest)?;
        Ok(archived)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Self) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let registry = self.clone();
        tokio::task::spawn_blocking(move || work(registry))
            .await
            .map_err(|e| DeployError::Refused(format!("registry task failed: {e}")))?
    }
}

impl ModelRegistry for LocalRegistry {
    async fn register(&self, artifact: &Path, tags: &Tags) -> Result<RegisteredModel> {
        let (artifact, tags) = (artifact.to_path_buf(), tags.clone());
        self.blocking(move |r| r.register_blocking(&artifact, &tags))
            .await
    }

    async fn get(&self, name: &str, version: &str) -> Result<RegisteredModel> {
        self.get_blocking(name, version)
    }

    async fn list(&self, name: Option<&str>) -> Result<Vec<RegisteredModel>> {
        self.list_blocking(name)
    }

    async fn latest(&self, name: &str) -> Result<RegisteredModel> {
        self.latest_blocking(name)
    }

    async fn archive(&self, name: &str, version: &str) -> Result<RegisteredModel> {
        let (name, version) = (name.to_owned(), version.to_owned());
        self.blocking(move |r| r.archive_blocking(&name, &version))
            .await
    }
}

/// Reads a manifest file; a missing file is an empty registry.
fn read_manifest(path: &Path) -> Result<Manifest> {
    if !path.exists() {
        return Ok(Manifest::default());
    }
    let bytes = read_bounded(path, MAX_MANIFEST_BYTES)?;
    let bad = |reason: String| DeployError::StateFile {
        path: path.to_path_buf(),
        reason,
    };
    #[derive(Deserialize)]
    struct Version {
        format_version: u32,
    }
    let version: Version =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a registry manifest: {e}")))?;
    if version.format_version != REGISTRY_MANIFEST_VERSION {
        return Err(bad(format!(
            "registry manifest format_version {} is not supported (this finbeh reads {REGISTRY_MANIFEST_VERSION})",
            version.format_version
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("registry manifest: {e}")))
}

/// Model names become directory names: letters, digits, `.`, `_`, `-`, not starting with `.`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(DeployError::Refused(format!(
            "model name {name:?} cannot be registered: use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.'"
        )))
    }
}

pub(crate) fn artifact_metrics(model: &ModelArtifact) -> BTreeMap<String, f64> {
    let mut metrics = BTreeMap::new();
    if let Some(eval) = &model.metadata().evaluation {
        metrics.insert("accuracy".to_owned(), eval.accuracy);
        metrics.insert("roc_auc".to_owned(), eval.roc_auc);
        metrics.insert("log_loss".to_owned(), eval.log_loss);
        metrics.insert("macro_f1".to_owned(), eval.macro_f1);
        if let Some(binary) = &eval.binary {
            metrics.insert("pr_auc".to_owned(), binary.pr_auc);
            metrics.insert("precision".to_owned(), binary.precision);
            metrics.insert("recall".to_owned(), binary.recall);
            metrics.insert("threshold".to_owned(), binary.threshold);
        }
    }
    metrics.retain(|_, v| v.is_finite());
    metrics
}

/// Reads a whole file, refusing one over `max` bytes before allocating for it.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    let len = fs::metadata(path)
        .map_err(|e| DeployError::io("reading", path, e))?
        .len();
    if len > max {
        return Err(DeployError::Refused(format!(
            "{} is {len} bytes, over the limit of {max}",
            path.display()
        )));
    }
    fs::read(path).map_err(|e| DeployError::io("reading", path, e))
}

/// Writes `bytes` to `path` through a temp file in the same directory: write, fsync, rename,
/// fsync the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per process and call: two writers never share a temp file.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.{}.{call}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp).map_err(|e| DeployError::io("creating", &temp, e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| DeployError::io("writing", &temp, e))?;
        fs::rename(&temp, path).map_err(|e| DeployError::io("renaming into", path, e))?;
        if let Ok(dir_handle) = File::open(dir) {
            dir_handle
                .sync_all()
                .map_err(|e| DeployError::io("syncing", dir, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// An exclusive `flock` on a lock file, released on drop (and by the kernel if the process
/// dies).
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| DeployError::io("opening lock file", path, e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| DeployError::io("locking", path, e.into()))?;
        Ok(Self { _file: file })
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_of_another_format_version_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(MANIFEST_FILE),
            r#"{"format_version": 2, "models": []}"#,
        )
        .unwrap();
        let err = LocalRegistry::new(dir.path())
            .list_blocking(None)
            .unwrap_err();
        assert!(err.to_string().contains("format_version 2"), "{err}");
    }

    #[test]
    fn committed_v1_manifest_reads() {
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry-manifest-v1.json");
        let manifest = read_manifest(&fixture).unwrap();
        assert_eq!(manifest.format_version, 1);
        assert_eq!(manifest.models.len(), 2);
        assert_eq!(manifest.models[1].version, "2");
        assert!(manifest.models[0].archived);
        assert_eq!(manifest.models[1].metrics["roc_auc"], 0.91);
    }

    #[test]
    fn unsafe_model_names_are_refused() {
        for name in ["", "../x", "a/b", ".hidden"] {
            assert!(check_name(name).is_err(), "{name}");
        }
        assert!(check_name("banking-rf_1.0").is_ok());
    }
}
