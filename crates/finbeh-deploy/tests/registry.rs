//! The local registry: versions under concurrent registration, verification before anything is
//! written, SHA-256 and metrics in the manifest, latest and archive.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use finbeh_deploy::{LocalRegistry, Tags};

fn fixture_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../finbeh-train/tests/fixtures/model-v1.1.0.finbeh")
}

#[test]
fn concurrent_registrations_from_threads_never_share_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::new(dir.path());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let registry = registry.clone();
            std::thread::spawn(move || {
                (0..3)
                    .map(|i| {
                        let tags = Tags::from([("run".to_owned(), format!("{t}-{i}"))]);
                        registry.register_blocking(&fixture_model(), &tags).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let registered: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let versions: BTreeSet<u64> = registered
        .iter()
        .map(|m| m.version.parse().unwrap())
        .collect();
    assert_eq!(versions, (1..=24).collect::<BTreeSet<_>>());
    let listed = registry.list_blocking(None).unwrap();
    assert_eq!(listed.len(), 24, "every registration is in the manifest");
    for model in &listed {
        let bytes = std::fs::read(&model.uri).unwrap();
        assert_eq!(bytes, std::fs::read(fixture_model()).unwrap());
        assert_eq!(model.sha256.len(), 64);
        assert!(model.tags.contains_key("run"));
        assert!(model.tags.contains_key("artifact_version"));
    }
}

#[test]
fn latest_skips_archived_versions_and_metrics_come_from_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::new(dir.path());
    let first = registry
        .register_blocking(&fixture_model(), &Tags::new())
        .unwrap();
    let second = registry
        .register_blocking(&fixture_model(), &Tags::new())
        .unwrap();
    assert_eq!(
        (first.version.as_str(), second.version.as_str()),
        ("1", "2")
    );
    assert!(
        second.metrics.contains_key("roc_auc"),
        "{:?}",
        second.metrics
    );
    assert_eq!(first.sha256, second.sha256);
    assert_eq!(registry.latest_blocking(&first.name).unwrap().version, "2");
    registry.archive_blocking(&first.name, "2").unwrap();
    assert_eq!(registry.latest_blocking(&first.name).unwrap().version, "1");
    assert!(registry.get_blocking(&first.name, "2").unwrap().archived);
    let missing = registry.get_blocking(&first.name, "9").unwrap_err();
    assert!(missing.to_string().contains("version 9"), "{missing}");
}

#[test]
fn a_corrupted_artifact_is_refused_and_nothing_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(fixture_model()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    let bad = dir.path().join("bad.finbeh");
    std::fs::write(&bad, bytes).unwrap();
    let registry = LocalRegistry::new(dir.path().join("registry"));
    let err = registry.register_blocking(&bad, &Tags::new()).unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    assert!(registry.list_blocking(None).unwrap().is_empty());
}
