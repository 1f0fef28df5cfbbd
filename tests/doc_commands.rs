//! Every shell command in README.md and docs/*.md is run here (or by `.ci/run`), so none can rot.
//!
//! The convention (docs/README.md): commands live in ```` ```console ```` blocks, each on a line
//! starting with `$ `, output lines without it. The pages run in reading order (README.md, then
//! docs/*.md by name) in one scratch directory, so a page may use what an earlier one made
//! (the tour's `data/` and `out/`). `cargo run [--release] --example NAME [--]` and
//! `target/<profile>/examples/NAME` run the example binary `cargo test` built; every documented
//! port (the defaults 5001 and 5100–5102 through `FINBEH__SERVE__PORT` and
//! `FINBEH__DEPLOY__LOCAL__*PORT`, and any `:PORT` or `--port PORT`) is moved to a free one. A
//! command ending in ` &` runs in the background until the end of its page (a server is waited
//! for on `/health/ready`); `deploy.rollout.soak_seconds` is 1 (not 30) so rollouts are quick, and
//! `testing.deployments.max_p99_ms` 5000 (debug binaries on a busy machine); a
//! local endpoint a page left running is deleted with
//! `deploy delete-endpoint`. Each command must exit 0, or N where its output ends with a line
//! `[exit N]`; in a `console stable` block its standard
//! output must equal the documented one (`...` stands for any lines).
//!
//! Not run, and checked instead: a command that appears verbatim in `.ci/run` is run there (the
//! tests, the lints), and `cargo test|fmt|clippy` must;
//! `cargo build --example` needs the named examples built; `console bench` recipes (minutes on a
//! quiet machine, the peers' Python stack) must name scripts, examples and benches that exist,
//! and run in smoke mode when the peers are here (`doc_commands/bench.rs`; the test prints which
//! ran and which did not, and why);
//! and every `deploy --target azure` command of a ```` ```text ```` block (real Azure) must be a
//! call `tests/deploy_azure.rs` makes against the fake ARM. A shell fence (`sh`, `bash`) fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "doc_commands/bench.rs"]
mod bench;
#[path = "doc_commands/extract.rs"]
mod extract;
#[path = "doc_commands/rewrite.rs"]
mod rewrite;
#[path = "doc_commands/run.rs"]
mod run;

use std::path::{Path, PathBuf};

use extract::{BlockKind, DocCommand};
use rewrite::Ports;
use run::Shell;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, then docs/*.md by name: the order a new user reads them.
fn pages() -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.ends_with(".md").then(|| format!("docs/{name}"))
        })
        .collect();
    names.sort();
    names.insert(0, "README.md".to_owned());
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(repo().join(&name)).unwrap();
            (name, text)
        })
        .collect()
}

/// What the scratch directory links from the repository, for the paths the pages name.
const REPO_ENTRIES: [&str; 6] = [
    "crates",
    "scripts",
    "benches",
    "examples",
    "finbeh.example.toml",
    "Dockerfile",
];

/// How the check deals with one command.
enum Plan {
    /// Run with bash.
    Run,
    /// Run by `.ci/run`, which must hold it verbatim (the tests, the lints: minutes, or this very
    /// test).
    Ci,
    /// `cargo build --example ...`: the examples must be built.
    Built,
    /// A benchmark recipe: what it names must exist.
    Bench,
}

fn plan(command: &DocCommand, ci: &str) -> Plan {
    let text = command.text.trim();
    if command.kind == BlockKind::Bench {
        Plan::Bench
    } else if ci.contains(text)
        || ["cargo test", "cargo fmt", "cargo clippy"]
            .iter()
            .any(|prefix| text.starts_with(prefix))
    {
        Plan::Ci
    } else if text.starts_with("cargo build") {
        Plan::Built
    } else {
        Plan::Run
    }
}

#[test]
fn every_documented_command_runs() {
    let examples_dir = common::example_binary("deploy")
        .parent()
        .unwrap()
        .to_path_buf();
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    // Paths the pages name relative to the repository root, read-only.
    for entry in REPO_ENTRIES {
        std::os::unix::fs::symlink(repo().join(entry), scratch.path().join(entry)).unwrap();
    }
    let mut ports = Ports::new();
    let mut env = ports.env();
    env.push(("NO_COLOR", "1".to_owned()));
    // A rollout soaks each traffic step 30 s by default; 1 s keeps the check quick.
    env.push(("FINBEH__DEPLOY__ROLLOUT__SOAK_SECONDS", "1".to_owned()));
    // Debug binaries on a busy machine: test_deployments' p99 budget (250 ms) is not the point.
    env.push((
        "FINBEH__TESTING__DEPLOYMENTS__MAX_P99_MS",
        "5000".to_owned(),
    ));
    let mut shell = Shell::new(scratch.path().to_path_buf(), env);
    let peers = bench::peers(&repo());
    let mut bench_shell = peers.as_ref().ok().map(|peers| {
        let env = bench::env(scratch.path(), peers, &examples_dir, &mut ports);
        Shell::new(scratch.path().to_path_buf(), env)
    });
    if let Ok(peers) = &peers
        && let Err(e) = bench::prepare(scratch.path(), peers)
    {
        panic!("smoke data for the bench recipes: {e}");
    }
    let (mut bench_ran, mut bench_not_run) = (Vec::new(), Vec::new());
    let mut failures = Vec::new();
    let mut ran = 0;
    for (page, markdown) in pages() {
        let (commands, misplaced) = extract::commands(&page, &markdown);
        for fence in misplaced {
            failures.push(format!(
                "{}:{}: a ```{} block: write commands in a ```console block, each after `$ `",
                fence.file, fence.line, fence.info
            ));
        }
        failures.extend(azure_commands_not_tested(&page, &markdown));
        for command in &commands {
            let started = std::time::Instant::now();
            let problem = match plan(command, &ci) {
                Plan::Ci => (!ci.contains(command.text.trim()))
                    .then(|| "not run here and not in .ci/run".to_owned()),
                Plan::Built => missing_examples(command, &examples_dir),
                Plan::Bench => {
                    let why_not = match (&peers, bench::not_run(&command.text)) {
                        (Err(absent), _) => Some(absent.clone()),
                        (Ok(_), Some(why)) => Some(why.to_owned()),
                        (Ok(_), None) => None,
                    };
                    match (why_not, &peers, bench_shell.as_mut()) {
                        _ if command.text.trim().starts_with("cargo build") => {
                            missing_examples(command, &examples_dir)
                        }
                        (None, Ok(peers), Some(bench_shell)) => {
                            bench_ran.push(command.to_string());
                            let smoke =
                                bench::smoke(&command.text, scratch.path(), peers, &examples_dir);
                            let smoke = DocCommand {
                                text: smoke,
                                ..command.clone()
                            };
                            run_one(&smoke, bench_shell, &mut ports, &examples_dir)
                                .map(|problem| format!("(bench recipe, smoke mode) {problem}"))
                        }
                        (why, _, _) => {
                            bench_not_run.push(format!("{command}: {}", why.unwrap_or_default()));
                            bench_problem(command)
                        }
                    }
                }
                Plan::Run => {
                    ran += 1;
                    run_one(command, &mut shell, &mut ports, &examples_dir)
                }
            };
            eprintln!("{:6.1} s  {command}", started.elapsed().as_secs_f64());
            if let Some(problem) = problem {
                failures.push(format!(
                    "{command}\n    {}",
                    problem.replace('\n', "\n    ")
                ));
            }
        }
        shell.stop_background();
        if let Some(bench_shell) = bench_shell.as_mut() {
            bench_shell.stop_background();
        }
        delete_local_endpoint(&mut shell, &examples_dir);
    }
    // Straight to stderr, not through `eprintln!`: the harness would hide it when the test passes.
    let summary = format!(
        "\nbench recipes run in smoke mode: {}\n  {}\nbench recipes not run (their names checked only): {}\n  {}\n",
        bench_ran.len(),
        bench_ran.join("\n  "),
        bench_not_run.len(),
        bench_not_run.join("\n  ")
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), summary.as_bytes());
    assert!(ran > 0, "no documented command was found");
    assert!(
        failures.is_empty(),
        "{} documented command(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs one command; `Some(problem)` when it fails or its stable output differs.
fn run_one(
    command: &DocCommand,
    shell: &mut Shell,
    ports: &mut Ports,
    examples_dir: &Path,
) -> Option<String> {
    let text = rewrite::with_binaries(&ports.rewrite(&command.text), examples_dir);
    if command.is_background() {
        let text = text.trim_end().trim_end_matches('&');
        return shell
            .start(text, serve_port(text, ports, examples_dir))
            .err();
    }
    let finished = match shell.run(&text) {
        Ok(finished) => finished,
        Err(problem) => return Some(problem),
    };
    let expected = command.expected_exit();
    if finished.code != Some(expected) {
        return Some(format!(
            "exit {:?}, documented {expected}; stderr:\n{}\nstdout:\n{}",
            finished.code,
            run::tail(&finished.stderr),
            run::tail(&finished.stdout)
        ));
    }
    let documented = command.expected_output();
    (command.kind == BlockKind::Stable && !extract::output_matches(documented, &finished.stdout))
        .then(|| {
            format!(
                "output differs; documented:\n{}\nactual:\n{}",
                documented.join("\n"),
                finished.stdout.trim_end()
            )
        })
}

/// The port a background `serve` listens on: its `--port`, else `serve.port` moved.
fn serve_port(text: &str, ports: &mut Ports, examples_dir: &Path) -> Option<u16> {
    let serve = examples_dir.join("serve").display().to_string();
    if !text.split_whitespace().any(|word| word == serve) {
        return None;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let given = words
        .iter()
        .position(|word| *word == "--port")
        .and_then(|at| words.get(at + 1))
        .and_then(|port| port.parse().ok());
    Some(given.unwrap_or_else(|| ports.get(5001)))
}

fn missing_examples(command: &DocCommand, examples_dir: &Path) -> Option<String> {
    let missing: Vec<String> = rewrite::examples_named(&command.text)
        .into_iter()
        .filter(|name| !examples_dir.join(name).is_file())
        .collect();
    (!missing.is_empty()).then(|| format!("examples not built: {}", missing.join(", ")))
}

/// What a benchmark recipe names that does not exist: scripts, bench inputs, examples, benches.
fn bench_problem(command: &DocCommand) -> Option<String> {
    let mut missing = Vec::new();
    let words: Vec<&str> = command.text.split_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        let path = word.strip_prefix("./").unwrap_or(word);
        if (path.starts_with("scripts/") || path.starts_with("benches/"))
            && !repo().join(path).exists()
        {
            missing.push(format!("file {path}"));
        }
        if *word == "--bench"
            && let Some(name) = words.get(i + 1)
            && !repo().join("benches").join(format!("{name}.rs")).is_file()
        {
            missing.push(format!("bench {name}"));
        }
    }
    for name in rewrite::examples_named(&command.text) {
        if !repo().join("examples").join(format!("{name}.rs")).is_file() {
            missing.push(format!("example {name}"));
        }
    }
    (!missing.is_empty()).then(|| format!("names what does not exist: {}", missing.join(", ")))
}

/// A local endpoint a page left running is deleted before the next page.
fn delete_local_endpoint(shell: &mut Shell, examples_dir: &Path) {
    if !shell.dir.join("out/endpoint/daemon.json").is_file() {
        return;
    }
    let deploy = examples_dir.join("deploy");
    let result = shell.run(&format!("{} delete-endpoint", deploy.display()));
    if let Ok(finished) = result
        && finished.code != Some(0)
    {
        panic!("deploy delete-endpoint failed:\n{}", finished.stderr);
    }
}

/// The `deploy --target azure` commands of ```` ```text ```` blocks that `tests/deploy_azure.rs`
/// does not make against the fake ARM (same subcommand and flags; any value for a variable).
fn azure_commands_not_tested(page: &str, markdown: &str) -> Vec<String> {
    let test = std::fs::read_to_string(repo().join("tests/deploy_azure.rs")).unwrap();
    let calls = deploy_calls(&test);
    let mut problems = Vec::new();
    for (index, line) in markdown.lines().enumerate() {
        let line = line.trim().trim_start_matches("$ ");
        if !(line.contains("--example deploy") && line.contains("--target azure")) {
            continue;
        }
        let Some((_, args)) = line.split_once("--target azure") else {
            continue;
        };
        let args: Vec<&str> = args.split_whitespace().collect();
        let tested = calls.iter().any(|call| {
            call.len() == args.len()
                && call
                    .iter()
                    .zip(&args)
                    .all(|(token, arg)| token.as_deref().is_none_or(|literal| literal == *arg))
        });
        if !tested {
            problems.push(format!(
                "{page}:{}: `{line}` needs real Azure and tests/deploy_azure.rs makes no such call against the fake ARM",
                index + 1
            ));
        }
    }
    problems
}

/// The argument lists of `deploy(&config, &[...])` calls: a literal, or `None` for a variable.
fn deploy_calls(test: &str) -> Vec<Vec<Option<String>>> {
    test.match_indices("deploy(&")
        .filter_map(|(at, _)| {
            let rest = &test[at..];
            let open = rest.find("&[")?;
            let close = rest[open..].find(']')? + open;
            let list = &rest[open + 2..close];
            Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|token| !token.is_empty())
                    .map(|token| {
                        token
                            .strip_prefix('"')
                            .and_then(|t| t.strip_suffix('"'))
                            .map(str::to_owned)
                    })
                    .collect(),
            )
        })
        .collect()
}
