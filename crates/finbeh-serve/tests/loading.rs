//! Model path resolution, start-up loading errors and settings validation.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::PathBuf;

use common::*;
use finbeh_config::{Loader, Secret, ServeSettings};
use finbeh_serve::{
    AppState, MODEL_SEARCH_DEPTH, ServeError, ServerParams, model_path_or_output_dir,
    resolve_model_paths,
};

#[test]
fn nothing_given_is_no_model_source() {
    assert!(matches!(
        resolve_model_paths(None, None),
        Err(ServeError::NoModelSource)
    ));
    let err = resolve_model_paths(None, None).unwrap_err().to_string();
    assert!(
        err.contains("--model") && err.contains("AZUREML_MODEL_DIR"),
        "{err}"
    );
}

#[test]
fn serve_model_path_else_the_output_dir_with_an_artifact_else_azureml_model_dir() {
    let output_dir = tempfile::tempdir().unwrap();
    let configured = PathBuf::from("elsewhere/model.finbeh");
    // serve.model_path wins.
    assert_eq!(
        model_path_or_output_dir(Some(&configured), output_dir.path()),
        Some(configured)
    );
    // An output directory without an artifact (or none at all) leaves it to AZUREML_MODEL_DIR.
    assert_eq!(model_path_or_output_dir(None, output_dir.path()), None);
    let missing = output_dir.path().join("missing");
    assert_eq!(model_path_or_output_dir(None, &missing), None);
    // With the artifact `train` writes there, the output directory is the model path.
    std::fs::write(output_dir.path().join("model.finbeh"), "x").unwrap();
    assert_eq!(
        model_path_or_output_dir(None, output_dir.path()),
        Some(output_dir.path().to_path_buf())
    );
}

#[test]
fn an_explicit_file_is_tried_as_is_and_wins_over_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("any-name.bin");
    std::fs::write(&file, "x").unwrap();
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("m.finbeh"), "x").unwrap();
    assert_eq!(
        resolve_model_paths(Some(&file), Some(other.path())).unwrap(),
        vec![file]
    );
}

#[test]
fn a_missing_explicit_path_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.finbeh");
    match resolve_model_paths(Some(&missing), None) {
        Err(ServeError::NoModelLoaded { tried }) => {
            assert_eq!(tried.len(), 1);
            assert_eq!(tried[0].path, missing);
            assert_eq!(tried[0].reason, "does not exist");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_azureml_directory_is_searched_recursively_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let nested = root.join("churn/3");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(nested.join("b.finbeh"), "x").unwrap();
    std::fs::write(root.join("a.finbeh"), "x").unwrap();
    std::fs::write(root.join("notes.txt"), "x").unwrap();
    std::fs::write(nested.join("model.finbeh.bak"), "x").unwrap();
    let mut deep = root.to_path_buf();
    for level in 0..MODEL_SEARCH_DEPTH {
        deep.push(format!("d{level}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("too-deep.finbeh"), "x").unwrap();
    let found = resolve_model_paths(None, Some(root)).unwrap();
    assert_eq!(found, vec![root.join("a.finbeh"), nested.join("b.finbeh")]);
}

#[test]
fn an_empty_directory_says_what_was_searched() {
    let dir = tempfile::tempdir().unwrap();
    let err = resolve_model_paths(None, Some(dir.path())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(text.contains("no *.finbeh file"), "{text}");
}

#[test]
fn when_nothing_loads_every_path_and_reason_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.finbeh"), "broken: checksum mismatch").unwrap();
    std::fs::write(dir.path().join("b.finbeh"), "garbage").unwrap();
    std::fs::write(dir.path().join("c.finbeh"), "m 1 single").unwrap();
    let state = AppState::new(ServerParams::default().check().unwrap(), loader(None));
    match state.load(None, Some(dir.path())) {
        Err(ServeError::NoModelLoaded { tried }) => {
            let paths: Vec<PathBuf> = tried.iter().map(|t| t.path.clone()).collect();
            assert_eq!(
                paths,
                ["a", "b", "c"].map(|n| dir.path().join(format!("{n}.finbeh")))
            );
            assert!(tried[0].reason.contains("checksum mismatch"));
            assert!(tried[1].reason.contains("not a fake artifact"));
            assert!(tried[2].reason.contains("at least 2"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!state.is_ready());

    // The first candidate that loads wins; later broken ones are not reached.
    std::fs::write(dir.path().join("b.finbeh"), BINARY).unwrap();
    let path = state.load(None, Some(dir.path())).unwrap();
    assert_eq!(path, dir.path().join("b.finbeh"));
    assert_eq!(state.scorer().unwrap().info().version, "1.0.0");
}

#[test]
fn reload_without_a_prior_load_is_an_error() {
    let state = AppState::new(ServerParams::default().check().unwrap(), loader(None));
    assert!(matches!(state.reload(), Err(ServeError::NoModelSource)));
}

#[test]
fn settings_are_validated_and_errors_name_the_setting() {
    let cases: [(ServerParams, &str); 12] = [
        (
            ServerParams(ServeSettings {
                host: " ".into(),
                ..ServeSettings::default()
            }),
            "host",
        ),
        (
            ServerParams(ServeSettings {
                primary_key: Some(Secret::new(String::new())),
                ..ServeSettings::default()
            }),
            "primary_key",
        ),
        (
            ServerParams(ServeSettings {
                secondary_key: Some(Secret::new("has space".into())),
                ..ServeSettings::default()
            }),
            "secondary_key",
        ),
        (
            ServerParams(ServeSettings {
                max_body_bytes: 1,
                ..ServeSettings::default()
            }),
            "max_body_bytes",
        ),
        (
            ServerParams(ServeSettings {
                max_rows_per_request: 0,
                ..ServeSettings::default()
            }),
            "max_rows_per_request",
        ),
        (
            ServerParams(ServeSettings {
                max_concurrent_requests: 0,
                ..ServeSettings::default()
            }),
            "max_concurrent_requests",
        ),
        (
            ServerParams(ServeSettings {
                request_timeout_ms: 0,
                ..ServeSettings::default()
            }),
            "request_timeout_ms",
        ),
        (
            ServerParams(ServeSettings {
                worker_threads: 1025,
                ..ServeSettings::default()
            }),
            "worker_threads",
        ),
        (
            ServerParams(ServeSettings {
                header_read_timeout_ms: 0,
                ..ServeSettings::default()
            }),
            "header_read_timeout_ms",
        ),
        (
            ServerParams(ServeSettings {
                keep_alive_timeout_ms: 0,
                ..ServeSettings::default()
            }),
            "keep_alive_timeout_ms",
        ),
        (
            ServerParams(ServeSettings {
                shutdown_timeout_ms: 600_001,
                ..ServeSettings::default()
            }),
            "shutdown_timeout_ms",
        ),
        (
            ServerParams(ServeSettings {
                max_connections: usize::MAX,
                ..ServeSettings::default()
            }),
            "max_connections",
        ),
    ];
    for (params, setting) in cases {
        match params.check() {
            Err(ServeError::Settings(err)) => {
                let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
                assert_eq!(keys, [format!("serve.{setting}")], "{err}");
                assert!(err.to_string().contains(&format!("serve.{setting}")));
            }
            other => panic!("{setting}: unexpected {other:?}"),
        }
    }
    let config = ServerParams::default().check().unwrap();
    assert_eq!((config.host(), config.port()), ("127.0.0.1", 5001));
    assert_eq!(config.max_body_bytes(), 4 * 1024 * 1024);
    assert_eq!(config.max_rows_per_request(), 10_000);
    assert_eq!(config.max_concurrent_requests(), 256);
    assert_eq!(config.request_timeout().as_millis(), 5000);
    assert!(!config.auth_required());
}

#[test]
fn keys_never_appear_in_debug_output() {
    let params = ServerParams(ServeSettings {
        primary_key: Some(Secret::new("super-secret-primary".into())),
        secondary_key: Some(Secret::new("super-secret-secondary".into())),
        ..ServeSettings::default()
    });
    let shown = format!("{params:?} {:?}", params.clone().check().unwrap());
    assert!(!shown.contains("super-secret"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
}

#[test]
fn server_params_come_from_the_serve_settings() {
    let settings = Loader::new()
        .env([
            ("FINBEH__SERVE__HOST", "0.0.0.0"),
            ("FINBEH__SERVE__PORT", "6123"),
            ("FINBEH__SERVE__MODEL_PATH", "/models/churn.finbeh"),
            ("FINBEH__SERVE__PRIMARY_KEY", "env-primary-key"),
            ("FINBEH__SERVE__MAX_BODY_BYTES", "65536"),
            ("FINBEH__SERVE__MAX_ROWS_PER_REQUEST", "500"),
            ("FINBEH__SERVE__MAX_CONCURRENT_REQUESTS", "7"),
            ("FINBEH__SERVE__REQUEST_TIMEOUT_MS", "1500"),
            ("FINBEH__SERVE__WORKER_THREADS", "3"),
            ("FINBEH__SERVE__HEADER_READ_TIMEOUT_MS", "2500"),
            ("FINBEH__SERVE__KEEP_ALIVE_TIMEOUT_MS", "4500"),
            ("FINBEH__SERVE__MAX_CONNECTIONS", "40"),
            ("FINBEH__SERVE__SHUTDOWN_TIMEOUT_MS", "0"),
        ])
        .load()
        .unwrap();
    let config = ServerParams::from(settings.serve()).check().unwrap();
    assert_eq!((config.host(), config.port()), ("0.0.0.0", 6123));
    assert_eq!(
        config.model_path(),
        Some(PathBuf::from("/models/churn.finbeh").as_path())
    );
    assert!(config.auth_required());
    assert_eq!(config.max_body_bytes(), 65536);
    assert_eq!(config.max_rows_per_request(), 500);
    assert_eq!(config.max_concurrent_requests(), 7);
    assert_eq!(config.request_timeout().as_millis(), 1500);
    assert_eq!(config.worker_threads(), Some(3));
    assert_eq!(config.header_read_timeout().as_millis(), 2500);
    assert_eq!(config.keep_alive_timeout().as_millis(), 4500);
    assert_eq!(config.max_connections(), 40);
    assert!(config.shutdown_timeout().is_zero());
    assert!(!format!("{config:?}").contains("env-primary-key"));

    // The defaults agree, and `worker_threads = 0` means one per CPU.
    let defaults = Loader::new().load().unwrap();
    let from_defaults = ServerParams::from(defaults.serve());
    assert_eq!(from_defaults, ServerParams::default());
    assert_eq!(from_defaults.check().unwrap().worker_threads(), None);
}

/// `show_config` (finbeh-config's `Settings::check`) and the server accept the same `[serve]`
/// values: one set of ranges. Each case is a boundary one of them used to judge differently.
#[test]
fn the_configuration_and_the_server_agree_on_every_serve_value() {
    type Edit = Box<dyn Fn(&mut ServeSettings)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "host with a space",
            Box::new(|s| s.host = "local host".into()),
        ),
        (
            "key with a space",
            Box::new(|s| s.primary_key = Some(Secret::new("a b".into()))),
        ),
        (
            "non-ASCII key",
            Box::new(|s| s.secondary_key = Some(Secret::new("clé".into()))),
        ),
        ("1-byte body limit", Box::new(|s| s.max_body_bytes = 1)),
        ("2-byte body limit", Box::new(|s| s.max_body_bytes = 2)),
        ("2 GiB body limit", Box::new(|s| s.max_body_bytes = 2 << 30)),
        (
            "10^7 rows",
            Box::new(|s| s.max_rows_per_request = 10_000_000),
        ),
        (
            "10^7 requests",
            Box::new(|s| s.max_concurrent_requests = 10_000_000),
        ),
        (
            "1-hour body timeout",
            Box::new(|s| s.request_timeout_ms = 3_600_000),
        ),
        ("2,000 threads", Box::new(|s| s.worker_threads = 2000)),
        ("1,024 threads", Box::new(|s| s.worker_threads = 1024)),
        (
            "zero header timeout",
            Box::new(|s| s.header_read_timeout_ms = 0),
        ),
        ("zero drain", Box::new(|s| s.shutdown_timeout_ms = 0)),
    ];
    for (case, edit) in cases {
        let mut settings = finbeh_config::Settings::default();
        edit(&mut settings.serve);
        let server = ServerParams::from(&settings.serve).check().map(drop);
        let configuration = settings.check().map(drop);
        assert_eq!(
            server.is_ok(),
            configuration.is_ok(),
            "{case}: server {server:?}, configuration {configuration:?}"
        );
    }
}
