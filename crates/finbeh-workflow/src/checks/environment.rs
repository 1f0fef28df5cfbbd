//! The environment level: the settings are valid, the files they name are reachable, and the
//! versions of this build.

use std::path::Path;
use std::time::Instant;

use finbeh_config::{ConfigError, DeployTarget, ValidSettings};

use crate::checks::report::{CheckLevel, CheckOutcome};
use crate::checks::versions::Versions;

const LEVEL: CheckLevel = CheckLevel::Environment;

/// The environment checks: settings, versions, the artifact file, every input file the settings
/// name and the directories the workflow writes to.
pub(crate) fn environment_checks(settings: &ValidSettings, model: &Path) -> Vec<CheckOutcome> {
    let started = Instant::now();
    let mut checks = vec![
        CheckOutcome::pass(LEVEL, "settings", settings_summary(settings)).timed(started),
        CheckOutcome::pass(LEVEL, "versions", Versions::of_this_build().to_string()),
    ];
    checks.push(readable_file("model file", model));
    if let Some(path) = &settings.data().path {
        checks.push(readable_file("data.path", path));
    }
    if let Some(path) = &settings.serve().model_path {
        checks.push(readable_file("serve.model_path", path));
    }
    if settings.monitor().enabled {
        let database = &settings.monitor().database_path;
        checks.push(writable_place("monitor.database_path", database, false));
    }
    if settings.deploy().target == DeployTarget::Local {
        let local = &settings.deploy().local;
        checks.push(writable_place(
            "deploy.local.registry_dir",
            &local.registry_dir,
            true,
        ));
        checks.push(writable_place(
            "deploy.local.state_dir",
            &local.state_dir,
            true,
        ));
    }
    checks
}

/// The environment level when the settings themselves are refused: one failed check listing
/// every problem.
pub fn settings_refused(error: &ConfigError) -> CheckOutcome {
    CheckOutcome::fail(LEVEL, "settings", error.to_string())
}

fn settings_summary(settings: &ValidSettings) -> String {
    let serve = settings.serve();
    let keys = match (&serve.primary_key, &serve.secondary_key) {
        (Some(_), Some(_)) => "primary and secondary",
        (Some(_), None) | (None, Some(_)) => "one",
        (None, None) => "none",
    };
    format!(
        "valid: deploy.target = {}, [serve] keys: {keys}, monitor.enabled = {}",
        match settings.deploy().target {
            DeployTarget::Azure => "azure",
            _ => "local",
        },
        settings.monitor().enabled
    )
}

/// A file (or, for `serve.model_path`, a directory) that must exist and open for reading.
fn readable_file(name: &str, path: &Path) -> CheckOutcome {
    let started = Instant::now();
    let outcome = match std::fs::metadata(path) {
        Err(error) => CheckOutcome::fail(LEVEL, name, format!("{}: {error}", path.display())),
        Ok(meta) if meta.is_dir() => match std::fs::read_dir(path) {
            Ok(_) => CheckOutcome::pass(LEVEL, name, format!("{} (directory)", path.display())),
            Err(error) => CheckOutcome::fail(LEVEL, name, format!("{}: {error}", path.display())),
        },
        Ok(meta) => match std::fs::File::open(path) {
            Ok(_) => CheckOutcome::pass(
                LEVEL,
                name,
                format!("{} ({} bytes)", path.display(), meta.len()),
            ),
            Err(error) => CheckOutcome::fail(LEVEL, name, format!("{}: {error}", path.display())),
        },
    };
    outcome.timed(started)
}

/// A place the workflow creates: the directory itself (`is_dir`) or the file's directory must
/// exist or be creatable under a writable ancestor.
fn writable_place(name: &str, path: &Path, is_dir: bool) -> CheckOutcome {
    let started = Instant::now();
    let dir = if is_dir { Some(path) } else { path.parent() };
    let dir = dir
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let ancestor = dir
        .ancestors()
        .find(|a| a.as_os_str().is_empty() || a.exists());
    let ancestor = match ancestor {
        Some(a) if a.as_os_str().is_empty() => Path::new("."),
        Some(a) => a,
        None => Path::new("/"),
    };
    let outcome = match std::fs::metadata(ancestor) {
        Ok(meta) if !meta.is_dir() => CheckOutcome::fail(
            LEVEL,
            name,
            format!(
                "{}: {} is a file, not a directory",
                path.display(),
                ancestor.display()
            ),
        ),
        Ok(meta) if meta.permissions().readonly() => CheckOutcome::fail(
            LEVEL,
            name,
            format!("{}: {} is read-only", path.display(), ancestor.display()),
        ),
        Ok(_) if ancestor == dir => {
            CheckOutcome::pass(LEVEL, name, format!("{} (exists)", path.display()))
        }
        Ok(_) => CheckOutcome::pass(
            LEVEL,
            name,
            format!(
                "{} (created on first use under {})",
                path.display(),
                ancestor.display()
            ),
        ),
        Err(error) => CheckOutcome::fail(
            LEVEL,
            name,
            format!("{}: {}: {error}", path.display(), ancestor.display()),
        ),
    };
    outcome.timed(started)
}
