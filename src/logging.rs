//! Logging: tracing-subscriber to stderr, unbuffered (an `exec` drops anything buffered), as
//! text or JSON lines, filtered RUST_LOG-style with `filter::Targets` (no regex engine), with the
//! Fly.io machine context as fields when present. Quiet by default: one info line on success.
//! Every line goes through [`crate::output::LogWriter`]: redacted, and a closed stderr ignored.

use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogFormat;

/// The default filter: our own info lines, everyone else's warnings.
pub const DEFAULT_FILTER: &str = "warn,sp_entrypoint=info";

/// Parse a RUST_LOG-style filter. A bare level (`debug`) applies to our crate and to the
/// dependencies alike, which is what someone debugging a TLS or proxy problem wants.
pub fn parse_filter(spec: &str) -> Result<Targets, String> {
    Targets::from_str(spec).map_err(|e| {
        format!(
            "not a log filter ({e}); use a level such as `debug`, or `warn,sp_entrypoint=debug`"
        )
    })
}

/// The Fly.io machine context, when running on Fly.
#[derive(Debug, Default, Clone)]
pub struct FlyContext {
    /// `FLY_APP_NAME`.
    pub app: Option<String>,
    /// `FLY_MACHINE_ID`.
    pub machine: Option<String>,
    /// `FLY_REGION`.
    pub region: Option<String>,
}

/// Install the global subscriber. Returns the span that carries the Fly fields: keep it
/// entered for the life of the bootstrap.
pub fn init(filter: Targets, format: LogFormat, fly: &FlyContext) -> tracing::Span {
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
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
    match (&fly.app, &fly.machine, &fly.region) {
        (None, None, None) => tracing::info_span!("sp-entrypoint"),
        (app, machine, region) => tracing::info_span!(
            "sp-entrypoint",
            fly_app = app.as_deref(),
            fly_machine = machine.as_deref(),
            fly_region = region.as_deref()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_or_explain() {
        assert!(parse_filter(DEFAULT_FILTER).is_ok());
        assert!(parse_filter("debug").is_ok());
        assert!(parse_filter("warn,sp_entrypoint=trace").is_ok());
        let err = parse_filter("sp_entrypoint=loud").unwrap_err();
        assert!(err.contains("not a log filter"), "{err}");
    }
}
