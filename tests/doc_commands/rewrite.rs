//! Turning a documented command into the one the check runs: `cargo run [--release] --example
//! NAME [--]` and `target/<profile>/examples/NAME` become the already built example binary, and
//! every documented port becomes a free one.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;

/// The ports the docs rely on through the defaults: `serve.port`, `deploy.local.port`,
/// `deploy.local.blue_port`, `deploy.local.green_port`, with the variable that moves each.
pub const DEFAULT_PORTS: [(u16, &str); 4] = [
    (5001, "FINBEH__SERVE__PORT"),
    (5100, "FINBEH__DEPLOY__LOCAL__PORT"),
    (5101, "FINBEH__DEPLOY__LOCAL__BLUE_PORT"),
    (5102, "FINBEH__DEPLOY__LOCAL__GREEN_PORT"),
];

/// Documented port → the free port used instead, for one run of the check.
pub struct Ports {
    map: BTreeMap<u16, u16>,
}

impl Ports {
    /// A free port for each default.
    pub fn new() -> Self {
        let map = DEFAULT_PORTS
            .iter()
            .map(|&(port, _)| (port, free_port()))
            .collect();
        Self { map }
    }

    /// The free port that stands for `documented` (a fresh one the first time).
    pub fn get(&mut self, documented: u16) -> u16 {
        *self.map.entry(documented).or_insert_with(free_port)
    }

    /// The variables that move the defaults to their free ports, for every command.
    pub fn env(&mut self) -> Vec<(&'static str, String)> {
        DEFAULT_PORTS
            .iter()
            .map(|&(port, name)| (name, self.get(port).to_string()))
            .collect()
    }

    /// `text` with each port after `:` or `--port ` replaced by its free port.
    pub fn rewrite(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
            let (before, from_digits) = rest.split_at(at);
            let len = from_digits
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(from_digits.len());
            let (digits, after) = from_digits.split_at(len);
            out.push_str(before);
            let preceded = out.ends_with(':') || out.ends_with("--port ");
            let is_port = preceded && (4..=5).contains(&digits.len());
            match digits.parse::<u16>() {
                Ok(port) if is_port => out.push_str(&self.get(port).to_string()),
                _ => out.push_str(digits),
            }
            rest = after;
        }
        out.push_str(rest);
        out
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free port on 127.0.0.1: {error}"))
}

/// The example names a command runs through `cargo run --example` or a `target/` path.
pub fn examples_named(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    // Shell punctuation glued to a word (`a;`, `b&&`) is not part of the name.
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|word| word.trim_end_matches([';', '&', '|', ')']))
        .collect();
    for (i, word) in words.iter().enumerate() {
        if *word == "--example"
            && let Some(name) = words.get(i + 1)
        {
            names.push((*name).to_owned());
        }
        if let Some(name) = target_example(word) {
            names.push(name.to_owned());
        }
    }
    names
}

/// `NAME` of `[./]target/<profile>/examples/NAME`.
fn target_example(word: &str) -> Option<&str> {
    let path = word.strip_prefix("./").unwrap_or(word);
    let rest = path.strip_prefix("target/")?;
    let (_profile, name) = rest.split_once("/examples/")?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// `text` with each `cargo run [flags] --example NAME [--]` and `target/<profile>/examples/NAME`
/// replaced by `examples_dir/NAME`.
pub fn with_binaries(text: &str, examples_dir: &Path) -> String {
    let binary = |name: &str| examples_dir.join(name).display().to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("cargo run") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "cargo run".len()..];
        let mut words = after.split_inclusive(char::is_whitespace).peekable();
        let mut consumed = 0;
        let mut name = None;
        while let Some(word) = words.next() {
            let trimmed = word.trim();
            match trimmed {
                "" | "--release" | "-q" | "--quiet" => consumed += word.len(),
                "--example" => {
                    consumed += word.len();
                    if let Some(next) = words.next() {
                        consumed += next.len();
                        name = Some(next.trim().to_owned());
                    }
                }
                "--" => {
                    consumed += word.len();
                    break;
                }
                _ => break,
            }
        }
        match name {
            Some(name) => {
                out.push(' ');
                out.push_str(&binary(&name));
                out.push(' ');
                rest = &after[consumed..];
            }
            None => {
                out.push_str("cargo run");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let words: Vec<String> = out
        .split_inclusive(char::is_whitespace)
        .map(|word| {
            let trimmed = word.trim_end();
            // Also in a command substitution: `"Bearer $(target/release/examples/deploy keys)"`.
            let (open, path) = trimmed
                .split_once("$(")
                .map_or(("", trimmed), |(before, path)| {
                    (&trimmed[..before.len() + 2], path)
                });
            match target_example(path) {
                Some(name) => format!("{open}{}{}", binary(name), &word[trimmed.len()..]),
                None => word.to_owned(),
            }
        })
        .collect();
    words.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_run_and_target_paths_become_binaries() {
        let dir = Path::new("/b");
        assert_eq!(
            with_binaries("X=1 cargo run --release --example serve -- --model m", dir),
            "X=1  /b/serve --model m"
        );
        assert_eq!(
            with_binaries("cargo run --example show_config", dir),
            " /b/show_config "
        );
        assert_eq!(
            with_binaries("./target/release/examples/deploy status\n", dir),
            "/b/deploy status\n"
        );
        assert_eq!(
            with_binaries(
                "-H \"Bearer $(target/release/examples/deploy keys)\" u",
                dir
            ),
            "-H \"Bearer $(/b/deploy keys)\" u"
        );
        assert_eq!(
            examples_named(
                "cargo build --release --example a --example b; target/debug/examples/c"
            ),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn documented_ports_move() {
        let mut ports = Ports::new();
        let serve = ports.get(5001);
        let text = ports.rewrite("curl http://127.0.0.1:5001/score --port 5021 -d 12345");
        let other = ports.get(5021);
        assert_eq!(
            text,
            format!("curl http://127.0.0.1:{serve}/score --port {other} -d 12345")
        );
    }
}
