//! The `console bench` recipes (docs/performance.md) in smoke mode: when the peers' Python stack
//! is here (the peers' directory, the venv at /tmp/peers-venv and wrk), each recipe runs with
//! tiny sizes (`ROWS`, `DURATION`, `REPEATS`, `ROUNDS`, ... through the variables the scripts
//! read, and every row count of 10,000 or more in a command cut to 2,000), the examples this
//! test built instead of `target/release` (`FINBEH_EXAMPLES`), free ports, and every `/tmp/` path
//! moved into the scratch directory (the venv excepted), so nothing another run uses is touched.
//! The figures mean nothing; the point is that every recipe still runs. What is not run says why.

use std::path::{Path, PathBuf};

use crate::rewrite::Ports;

/// The peers' stack, when all of it is here.
pub struct Peers {
    /// The peers' scripts (`PEERS`, else `../shared/peers` of the repository, or one level up
    /// from a worktree).
    pub dir: PathBuf,
}

/// The venv `../shared/peers/setup.sh` makes.
const VENV: &str = "/tmp/peers-venv";

/// Row counts in smoke mode.
const SMOKE_ROWS: &str = "2000";

/// The peers, or why the recipes cannot run here.
pub fn peers(repo: &Path) -> Result<Peers, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("PEERS") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![
            repo.join("../shared/peers"),
            repo.join("../../shared/peers"),
        ],
    };
    let Some(dir) = candidates
        .iter()
        .find(|dir| dir.join("make_data.py").is_file())
    else {
        return Err(format!(
            "no peers directory (PEERS, or {}): see docs/performance.md",
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    };
    if !Path::new(VENV).join("bin/python").is_file() {
        return Err(format!("no venv at {VENV}: run the peers' setup.sh"));
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(name).is_file()))
    };
    if !on_path("wrk") {
        return Err("wrk is not installed: run the peers' setup.sh".to_owned());
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(Peers { dir })
}

/// The smoke data in the scratch directory: the peers' data set at [`SMOKE_ROWS`] rows and its
/// request bodies, so no recipe (nor the peers' `wrk_any.sh`, which falls back to
/// `/tmp/peers-data/data.csv` when its bodies are missing) reads anything outside the scratch.
pub fn prepare(scratch: &Path, peers: &Peers) -> Result<(), String> {
    let tmp = scratch.join("tmp");
    let data = tmp.join("peers-data").join("data.csv");
    let python = Path::new(VENV).join("bin/python");
    let run = |args: &[&Path], what: &str| -> Result<(), String> {
        let output = std::process::Command::new(&python)
            .args(args)
            .output()
            .map_err(|e| format!("{what}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    run(
        &[
            &peers.dir.join("make_data.py"),
            Path::new(SMOKE_ROWS),
            &data,
        ],
        "make_data.py",
    )?;
    run(
        &[
            &peers.dir.join("make_bodies.py"),
            &data,
            &tmp.join("peers-bench"),
        ],
        "make_bodies.py",
    )
}

/// Why a recipe command is not run even when the peers are here.
pub fn not_run(text: &str) -> Option<&'static str> {
    let text = text.trim();
    if text.starts_with("cargo bench") {
        Some("cargo bench compiles the release profile and runs criterion: minutes")
    } else if text.contains("setup.sh") {
        Some("installs the peers (pip, apt); they are installed")
    } else if text.contains("callgrind_") {
        Some("valgrind over a debug build takes minutes")
    } else if text.contains("BASELINE_DEPLOY=") {
        Some("needs an older deploy binary built at that path")
    } else if text.contains("git worktree add") || text.contains("/tmp/serve-base") {
        Some("checks out and builds an older commit beside this one (release, minutes)")
    } else if text.contains("/tmp/serve-before") {
        Some("needs the older serve binary built at that path (the one-binary form runs)")
    } else if text.contains("drift_vs_evidently") {
        Some("runs cargo bench --bench monitor_log (release, minutes)")
    } else {
        None
    }
}

/// The variables of every smoke command: tiny sizes, the built examples, the peers, free ports
/// and scratch directories.
pub fn env(
    scratch: &Path,
    peers: &Peers,
    examples_dir: &Path,
    ports: &mut Ports,
) -> Vec<(&'static str, String)> {
    let tmp = |name: &str| scratch.join("tmp").join(name).display().to_string();
    // The recipes' `/tmp/...` paths land here.
    let _ = std::fs::create_dir_all(scratch.join("tmp"));
    let mut env = vec![
        ("FINBEH_EXAMPLES", examples_dir.display().to_string()),
        ("PEERS", peers.dir.display().to_string()),
        ("VENV", VENV.to_owned()),
        ("DURATION", "1".to_owned()),
        ("REPEATS", "1".to_owned()),
        ("ROUNDS", "1".to_owned()),
        ("OFFLINE_ROUNDS", "1".to_owned()),
        ("SERVE_ROUNDS", "1".to_owned()),
        ("ROWS", SMOKE_ROWS.to_owned()),
        ("ROWS_1M", "5000".to_owned()),
        ("DATA_ROWS", SMOKE_ROWS.to_owned()),
        ("OUT", tmp("bench-out")),
        ("DATA", tmp("peers-data")),
        ("DATA_1M", tmp("peers-1m")),
        ("BENCH_DIR", tmp("peers-bench")),
        ("MODEL_DIR", tmp("peers-model")),
        ("PEER_MODEL", tmp("peers-model")),
        ("NGX_DIR", tmp("peers-nginx")),
        // The workflow and the forests of a debug build, kept small.
        ("FINBEH__DATA__SYNTHETIC_ROWS", SMOKE_ROWS.to_owned()),
        ("FINBEH__MODEL__N_ESTIMATORS", "10".to_owned()),
        ("FINBEH__LOGGING__LEVEL", "warn".to_owned()),
    ];
    for (name, documented) in [
        ("PORT", 5003),
        ("NGINX_PORT", 5002),
        ("DIRECT_PORT", 5301),
        ("ROUTER_PORT", 5310),
        ("BASE_PORT", 5320),
        ("PORT_BASE", 5100),
    ] {
        env.push((name, ports.get(documented).to_string()));
    }
    // Not the FINBEH__…PORT variables of the other pages: the scripts set ports in their
    // configs, which those would override.
    env
}

/// `text` in smoke mode: the peers' directory for `../shared/peers`, the scratch directory for
/// `/tmp/` (not the venv), the smoke sizes for inline `DURATION=`, `REPEATS=`, `ROUNDS=`, and
/// [`SMOKE_ROWS`] for every whole number of 10,000 or more.
pub fn smoke(text: &str, scratch: &Path, peers: &Peers, examples_dir: &Path) -> String {
    let venv_mark = "\u{1}venv\u{1}";
    let text = text
        .replace("../shared/peers", &peers.dir.display().to_string())
        .replace(VENV, venv_mark)
        .replace("/tmp/", &format!("{}/", scratch.join("tmp").display()))
        .replace(venv_mark, VENV);
    let words: Vec<String> = text
        .split_inclusive(char::is_whitespace)
        .map(|word| {
            let trimmed = word.trim_end();
            let tail = &word[trimmed.len()..];
            // `NAME=target/release/examples/X` (a script's binary argument) is the built example.
            if let Some((name, path)) = trimmed.split_once('=')
                && let Some(example) = path
                    .strip_prefix("./")
                    .unwrap_or(path)
                    .strip_prefix("target/release/examples/")
            {
                return format!("{name}={}{tail}", examples_dir.join(example).display());
            }
            for name in ["DURATION=", "REPEATS=", "ROUNDS="] {
                if let Some(value) = trimmed.strip_prefix(name)
                    && value.chars().all(|c| c.is_ascii_digit())
                {
                    return format!("{name}1{tail}");
                }
            }
            match trimmed.parse::<u64>() {
                Ok(n) if n >= 10_000 => format!("{SMOKE_ROWS}{tail}"),
                _ => word.to_owned(),
            }
        })
        .collect();
    words.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_mode_shrinks_sizes_and_moves_tmp() {
        let peers = Peers {
            dir: PathBuf::from("/p"),
        };
        let scratch = Path::new("/s");
        assert_eq!(
            smoke(
                "BENCH_DIR=/tmp/m REPEATS=3 DURATION=10 x /tmp/peers-venv/bin/python ../shared/peers/a.py 100000 --rows 1000000 --threads 2",
                scratch,
                &peers,
                Path::new("/e")
            ),
            "BENCH_DIR=/s/tmp/m REPEATS=1 DURATION=1 x /tmp/peers-venv/bin/python /p/a.py 2000 --rows 2000 --threads 2"
        );
        assert_eq!(
            smoke(
                "scripts/b.sh m new=target/release/examples/serve old=./target/release/examples/x",
                scratch,
                &peers,
                Path::new("/e")
            ),
            "scripts/b.sh m new=/e/serve old=/e/x"
        );
        assert_eq!(
            not_run("cargo bench --bench forest -- --quick"),
            Some("cargo bench compiles the release profile and runs criterion: minutes")
        );
        assert_eq!(not_run("scripts/bench_workflow.sh 2"), None);
    }
}
