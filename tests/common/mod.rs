//! Helpers shared by the end-to-end tests.

use std::path::PathBuf;

/// `target/<profile>/examples/<name>`, built by `cargo test` (which builds examples).
pub fn example_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/<profile>/deps");
    let binary = profile_dir.join("examples").join(name);
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo test` (which builds examples) or `cargo build --example {name}`",
        binary.display()
    );
    binary
}
pub mod check_report;
pub mod local_endpoint;
