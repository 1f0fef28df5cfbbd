//! The progress display: a spinner naming the running stage, drawn only when stderr is a
//! terminal (a pipe or a CI log gets the plain lines alone).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// The spinner of the running stage, if one is drawn.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A display when `wanted` and stderr is a terminal; otherwise nothing is drawn.
    pub(crate) fn new(wanted: bool) -> Self {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self { bar }
    }

    /// Names the stage now running.
    pub(crate) fn stage(&self, text: String) {
        if let Some(bar) = &self.bar {
            bar.reset_elapsed();
            bar.set_message(text);
        }
    }

    /// Prints a line above the spinner (or plainly without one).
    pub(crate) fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// Runs `work` with the spinner hidden (for work that draws a progress bar of its own).
    pub(crate) fn suspend<T>(&self, work: impl FnOnce() -> T) -> T {
        match &self.bar {
            Some(bar) => bar.suspend(work),
            None => work(),
        }
    }

    /// Removes the spinner.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
