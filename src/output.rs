//! The only way out: every line the entrypoint prints goes through [`stdout`], [`stderr`] or
//! the log writer [`LogWriter`], which redact it ([`crate::redact`]) and write it whole.
//!
//! A write that fails (a closed pipe, a full disk, a terminal gone) is not an error of ours:
//! it is dropped, never a panic, and the exit code stays what the table says. `print!` and
//! friends panic on a failed write (and a panic while printing a panic aborts), so the crate
//! denies them (`clippy::print_stdout`, `clippy::print_stderr` in `lib.rs`).

use std::io::Write;

use crate::redact;

/// Write `text` (redacted) to standard output; a failed write is ignored.
pub fn stdout(text: &str) {
    let clean = redact::redact(text);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(clean.as_bytes());
    let _ = out.flush();
}

/// Write `text` (redacted) to standard error; a failed write is ignored.
pub fn stderr(text: &str) {
    let clean = redact::redact(text);
    let _ = std::io::stderr().lock().write_all(clean.as_bytes());
}

/// Ignore `SIGPIPE` again (as the Rust runtime does at start-up) after a failed `exec`: std's
/// `Command::exec` resets it to the default action just before `execve`, so without this the
/// error line about the failure would kill us with `SIGPIPE` (141) on a closed stderr, instead
/// of exiting with the documented 126/127.
pub fn ignore_sigpipe_again() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: installing SIG_IGN runs no handler code; nothing else changes dispositions
    // concurrently (the caller is about to report an error and exit).
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// [`stdout`] plus a line break.
pub fn stdout_line(text: &str) {
    stdout(&format!("{text}\n"));
}

/// [`stderr`] plus a line break.
pub fn stderr_line(text: &str) {
    stderr(&format!("{text}\n"));
}

/// The log sink: standard error, redacted, failures ignored. tracing-subscriber formats each
/// event into one buffer and writes it with one `write_all`, so each call sees whole lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        stderr(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}
