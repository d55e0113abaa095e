//! What `segment` and `pose` share when they go through a directory: warnings printed above the
//! progress bar, and a bad file reported at the end instead of stopping the files after it.

use std::io::{IsTerminal, Write};

use anyhow::bail;
use indicatif::ProgressBar;

/// Logs to stderr above `progress` (a truncated JPEG's warning, …), which is redrawn after each
/// line. `RUST_LOG` chooses the level (default `warn`).
pub fn log_above(progress: &ProgressBar) {
    let progress = progress.clone();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A test may have installed one already: keep it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time()
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(move || AboveProgress(progress.clone()))
        .try_init();
}

struct AboveProgress(ProgressBar);

impl Write for AboveProgress {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .suspend(|| std::io::stderr().write_all(buf))
            .map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The inputs of a batch that could not be processed, reported once the others are done.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    /// Records why an input failed; `err` names the file.
    pub fn add(&mut self, err: &anyhow::Error) {
        self.0.push(crate::one_line(err));
    }

    /// Nothing if all `total` inputs went through; otherwise prints every failure on its own line
    /// and fails, so the command exits with main's code for bad input (2).
    pub fn finish(self, total: usize) -> anyhow::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        for failure in &self.0 {
            eprintln!("bodyzone: {failure}");
        }
        bail!(
            "{} of {total} inputs failed (listed above); the outputs of the others are written",
            self.0.len()
        )
    }
}
