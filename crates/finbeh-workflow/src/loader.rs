//! How `workflow_runner` (and the endpoint roles it plays) read the settings: finbeh-config's
//! layers, over the workflow's own defaults.

use std::path::Path;

use finbeh_config::{Loader, Settings};

/// finbeh's built-in defaults with `monitor.enabled = true`: the workflow promises a monitored
/// endpoint (its report reads the deployments' prediction logs). A file or a variable that sets
/// `monitor.enabled = false` still wins, and the report stage then says why it has no log.
pub fn workflow_defaults() -> Settings {
    let mut settings = Settings::default();
    settings.monitor.enabled = true;
    settings
}

/// The settings of `workflow_runner`: [`workflow_defaults`] < the TOML file (`config`, else
/// `./finbeh.toml` when present) < the process environment.
pub fn workflow_loader(config: Option<&Path>) -> Loader {
    Loader::new()
        .defaults(workflow_defaults())
        .file(config)
        .env_from_process()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_logs_unless_told_not_to() {
        let loaded = Loader::new().defaults(workflow_defaults());
        assert!(loaded.load().unwrap().monitor().enabled);
        let off = loaded.env([("FINBEH__MONITOR__ENABLED", "false")]);
        assert!(!off.load().unwrap().monitor().enabled);
        // Everything else is finbeh's default.
        let mut expected = Settings::default();
        expected.monitor.enabled = true;
        assert_eq!(workflow_defaults(), expected);
    }
}
