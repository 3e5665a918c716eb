//! Logging: tracing-subscriber to stderr, unbuffered (an `exec` drops anything buffered), as
//! text or JSON lines, filtered RUST_LOG-style with `filter::Targets` (no regex engine), with the
//! Fly.io machine context as fields when present. Quiet by default: one info line on success.
//! The settings themselves are resolved in [`crate::config`].
//!
//! The final error line goes out through [`report_error`]: in text mode the plain
//! `sp-entrypoint: error: ...` line (or block); in JSON mode a log line like every other, with
//! timestamp, target, the Fly fields and `exit_code`, never filtered out.
//! Every line goes through [`crate::output::LogWriter`]: redacted, and a closed stderr ignored.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings};
use crate::error::Error;

/// The target of the final error line and of the span with the Fly fields, which every filter
/// lets through at level error: the final line is never filtered out, and always has them.
const FINAL_TARGET: &str = "sp_entrypoint::exit";

/// The installed logging: its format, and the span that carries the Fly fields.
#[derive(Debug, Clone)]
pub struct Logger {
    format: LogFormat,
    span: tracing::Span,
}

impl Logger {
    /// Run `f` inside the span that carries the Fly fields.
    pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        self.span.in_scope(f)
    }
}

/// Install the global subscriber. Returns the [`Logger`]: run the bootstrap in its scope.
pub fn init(settings: &LogSettings) -> Logger {
    let filter = settings
        .filter
        .clone()
        .with_target(FINAL_TARGET, LevelFilter::ERROR);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(crate::output::LogWriter)
                    .with_ansi(false)
                    .with_target(false)
                    .without_time(),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(crate::output::LogWriter)
                    .with_current_span(true)
                    .with_span_list(false)
                    .flatten_event(true),
            )
            .try_init(),
    };
    // A second init (only possible in tests) keeps the first subscriber; that is fine.
    drop(result);
    let fly = &settings.fly;
    let span = match (&fly.app, &fly.machine, &fly.region) {
        (None, None, None) => tracing::error_span!(target: FINAL_TARGET, "sp-entrypoint"),
        (app, machine, region) => tracing::error_span!(
            target: FINAL_TARGET,
            "sp-entrypoint",
            fly_app = app.as_deref(),
            fly_machine = machine.as_deref(),
            fly_region = region.as_deref()
        ),
    };
    Logger {
        format: settings.format,
        span,
    }
}

/// Print the final error: the plain line (or block) on stderr, or, in JSON mode, a log line
/// with `exit_code`. `log` is `None` when the bootstrap failed before logging was set up.
pub fn report_error(e: &Error, log: Option<&Logger>) {
    match log {
        Some(log) if log.format == LogFormat::Json => log.in_scope(|| {
            tracing::error!(target: FINAL_TARGET, exit_code = e.code(), "{e}");
        }),
        _ => crate::output::stderr_line(&format!("sp-entrypoint: error: {e}")),
    }
}
