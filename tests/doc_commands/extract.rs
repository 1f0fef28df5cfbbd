//! Reading the commands out of a Markdown page (the convention of docs/README.md).
//!
//! Commands live in ```` ```console ```` blocks, one per line starting with `$ `; a line ending
//! in `\` continues on the next. The lines after a command, up to the next `$ ` or the end of
//! the block, are its documented output; a last output line `[exit N]` says it exits N on purpose
//! (a check that finds a fault). An info string `console stable` says the output is
//! compared with the real one (a line `...` stands for any number of lines); `console bench`
//! marks benchmark recipes (minutes on a quiet machine, the peers' Python stack), which are
//! checked for what they name rather than run. Shell code in any other fence (`sh`, `bash`,
//! `shell`) breaks the convention.

use std::fmt;

/// What the block's info string says about its commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Run; output shown for the reader only.
    Console,
    /// Run; output compared.
    Stable,
    /// A benchmark recipe: checked, not run.
    Bench,
}

/// One `$ ` command of a page.
#[derive(Debug, Clone)]
pub struct DocCommand {
    /// The page, relative to the repository root.
    pub file: String,
    /// 1-based line of the `$ `.
    pub line: usize,
    /// The command as written, continuation lines joined with a newline (the `\` kept).
    pub text: String,
    /// The documented output lines.
    pub output: Vec<String>,
    /// What the block says about it.
    pub kind: BlockKind,
}

impl DocCommand {
    /// Ends with ` &`: a background process the check stops at the end of the page.
    pub fn is_background(&self) -> bool {
        self.text.trim_end().ends_with(" &")
    }

    /// The exit code the page documents: a last output line `[exit N]`, else 0.
    pub fn expected_exit(&self) -> i32 {
        self.output
            .iter()
            .rev()
            .find(|line| !line.trim().is_empty())
            .and_then(|line| {
                line.trim()
                    .strip_prefix("[exit ")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }

    /// The documented output without the `[exit N]` line.
    pub fn expected_output(&self) -> &[String] {
        match self.output.iter().rposition(|line| !line.trim().is_empty()) {
            Some(last) if self.expected_exit() != 0 => &self.output[..last],
            _ => &self.output,
        }
    }
}

impl fmt::Display for DocCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}`",
            self.file,
            self.line,
            self.text.replace("\\\n", " ")
        )
    }
}

/// A fence that holds shell code outside the convention.
#[derive(Debug)]
pub struct Misplaced {
    /// The page.
    pub file: String,
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The fence's info string.
    pub info: String,
}

/// A fence with an `sh`/`bash`/`shell`/`zsh` info string: commands there escape the check.
const SHELL_INFOS: [&str; 4] = ["sh", "bash", "shell", "zsh"];

/// The commands of one page, and the shell fences that break the convention.
pub fn commands(file: &str, markdown: &str) -> (Vec<DocCommand>, Vec<Misplaced>) {
    let mut found: Vec<DocCommand> = Vec::new();
    let mut misplaced = Vec::new();
    // The open fence's marker (``` or ~~~, any length) and the block's kind when it is console.
    let mut fence: Option<(String, Option<BlockKind>)> = None;
    let mut continuing = false;
    // Output lines belong to a command of the same block only.
    let mut block_start = 0;
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        if let Some((marker, kind)) = &fence {
            if trimmed.starts_with(marker.as_str()) && trimmed.trim_end() == marker.as_str() {
                fence = None;
                continuing = false;
                continue;
            }
            let Some(kind) = *kind else { continue };
            if continuing {
                if let Some(last) = found.last_mut() {
                    last.text.push('\n');
                    last.text.push_str(line);
                }
                continuing = line.trim_end().ends_with('\\');
            } else if let Some(command) = line.strip_prefix("$ ") {
                found.push(DocCommand {
                    file: file.to_owned(),
                    line: number,
                    text: command.to_owned(),
                    output: Vec::new(),
                    kind,
                });
                continuing = command.trim_end().ends_with('\\');
            } else if found.len() > block_start
                && let Some(last) = found.last_mut()
            {
                last.output.push(line.to_owned());
            }
            continue;
        }
        let marker: String = trimmed
            .chars()
            .take_while(|&c| c == '`' || c == '~')
            .collect();
        if marker.len() < 3 {
            continue;
        }
        let info = trimmed[marker.len()..].trim();
        let mut words = info.split_whitespace();
        let kind = match (words.next(), words.next()) {
            (Some("console"), None) => Some(BlockKind::Console),
            (Some("console"), Some("stable")) => Some(BlockKind::Stable),
            (Some("console"), Some("bench")) => Some(BlockKind::Bench),
            (Some(first), _) if SHELL_INFOS.contains(&first) => {
                misplaced.push(Misplaced {
                    file: file.to_owned(),
                    line: number,
                    info: info.to_owned(),
                });
                None
            }
            _ => None,
        };
        fence = Some((marker, kind));
        block_start = found.len();
        continuing = false;
    }
    (found, misplaced)
}

/// Whether `actual` matches the documented output, where a line `...` stands for any number of
/// lines and trailing spaces do not count.
pub fn output_matches(documented: &[String], actual: &str) -> bool {
    let actual: Vec<&str> = actual.lines().map(str::trim_end).collect();
    let documented: Vec<&str> = documented.iter().map(|line| line.trim_end()).collect();
    matches_from(&documented, &actual)
}

fn matches_from(documented: &[&str], actual: &[&str]) -> bool {
    match documented.split_first() {
        None => actual.is_empty(),
        Some((&"...", rest)) => (0..=actual.len()).any(|skip| matches_from(rest, &actual[skip..])),
        Some((line, rest)) => actual
            .split_first()
            .is_some_and(|(first, others)| first == line && matches_from(rest, others)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_outputs_and_continuations() {
        let page =
            "text\n```console stable\n$ echo a \\\n  b\na b\n$ true\n```\n\n```sh\nls\n```\n";
        let (found, misplaced) = commands("p.md", page);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].text, "echo a \\\n  b");
        assert_eq!(found[0].output, ["a b"]);
        assert_eq!(found[0].line, 3);
        assert_eq!(found[0].kind, BlockKind::Stable);
        assert!(found[1].output.is_empty());
        assert_eq!(found[1].expected_exit(), 0);
        assert_eq!(misplaced.len(), 1);
        assert_eq!(misplaced[0].line, 9);
    }

    #[test]
    fn a_documented_exit_code() {
        let page = "```console\n$ false\nsome output\n[exit 1]\n```\n";
        let (found, _) = commands("p.md", page);
        assert_eq!(found[0].expected_exit(), 1);
        assert_eq!(found[0].expected_output(), ["some output"]);
    }

    #[test]
    fn ellipsis_matches_any_lines() {
        let documented = ["a".to_owned(), "...".to_owned(), "z".to_owned()];
        assert!(output_matches(&documented, "a\nz\n"));
        assert!(output_matches(&documented, "a\nb\nc\nz\n"));
        assert!(!output_matches(&documented, "a\nb\n"));
        assert!(!output_matches(&documented, "b\nz\n"));
    }
}
