//! Which artifact the checks and the troubleshooter read when no `--model` is given.

use std::path::{Path, PathBuf};

use finbeh_config::ValidSettings;
use finbeh_serve::{ServeError, model_path_or_output_dir, resolve_model_paths};

use crate::error::Result;

/// The artifact to check: `explicit` (`--model`, a file or a directory to search), else
/// `serve.model_path`, else `model.output_dir` when it holds one; the first artifact file found
/// as `serve` would look for it.
///
/// # Errors
/// [`ServeError::NoModelSource`] when nothing names a model;
/// [`ServeError::NoModelLoaded`] with every path tried and why it held no artifact.
pub fn find_model(settings: &ValidSettings, explicit: Option<&Path>) -> Result<PathBuf> {
    let root = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => model_path_or_output_dir(
            settings.serve().model_path.as_deref(),
            &settings.model().output_dir,
        ),
    };
    let found = resolve_model_paths(root.as_deref(), None)?;
    Ok(found.into_iter().next().ok_or(ServeError::NoModelSource)?)
}
