//! Logs written to a file or a pipe carry no ANSI colour codes.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

use finbeh_config::{LoggingSettings, init_logging};

/// Set in the child process this test starts.
const CHILD: &str = "FINBEH_LOGGING_TEST_CHILD";

#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    if std::env::var_os(CHILD).is_some() {
        init_logging(&LoggingSettings::default()).unwrap();
        tracing::info!(rows = 3, "scored");
        tracing::warn!("slow");
        return;
    }
    // Re-run this very test in a child whose stderr is a pipe.
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "logs_to_a_pipe_have_no_colour_codes",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("scored") && stderr.contains("rows"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "colour codes in {stderr:?}");
}
