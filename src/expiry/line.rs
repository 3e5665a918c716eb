//! The watch's lines: the bootstrap's log format (text or JSON, the same shape as
//! tracing-subscriber's), its filter (reduced to what it lets through for [`TARGET`]) and the
//! Fly.io fields, written by hand so that the lean supervisor and the watcher process need no
//! subscriber.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::Level;
use tracing_subscriber::filter::Targets;

use super::TARGET;
use crate::config::{FlyContext, LogFormat};
use crate::timefmt;

/// The least severe level of the watch's lines that the log filter lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shown {
    /// Warnings and errors.
    #[default]
    Warn,
    /// Errors only.
    Error,
    /// Nothing.
    Off,
}

impl Shown {
    /// What `filter` lets through for [`TARGET`].
    pub fn from_filter(filter: &Targets) -> Shown {
        if filter.would_enable(TARGET, &Level::WARN) {
            Shown::Warn
        } else if filter.would_enable(TARGET, &Level::ERROR) {
            Shown::Error
        } else {
            Shown::Off
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Shown::Warn => "warn",
            Shown::Error => "error",
            Shown::Off => "off",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Shown> {
        match s {
            "warn" => Some(Shown::Warn),
            "error" => Some(Shown::Error),
            "off" => Some(Shown::Off),
            _ => None,
        }
    }
}

/// A line's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineLevel {
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
}

/// How the watch's lines look: the bootstrap's format, filter and Fly.io fields.
#[derive(Debug, Clone, Default)]
pub struct Style {
    /// Text or JSON.
    pub format: LogFormat,
    /// What the filter lets through.
    pub shown: Shown,
    /// The Fly.io machine fields.
    pub fly: FlyContext,
}

impl Style {
    /// Render one line (without the newline), or `None` when the filter mutes it.
    /// `fields` are extra key/values (strings or numbers).
    pub fn render(
        &self,
        level: LineLevel,
        message: &str,
        fields: &[(&str, serde_json::Value)],
        now: SystemTime,
    ) -> Option<String> {
        match (self.shown, level) {
            (Shown::Off, _) | (Shown::Error, LineLevel::Warn) => return None,
            _ => {}
        }
        let fly = [
            ("fly_app", &self.fly.app),
            ("fly_machine", &self.fly.machine),
            ("fly_region", &self.fly.region),
        ];
        let mut line = String::new();
        match self.format {
            LogFormat::Text => {
                let level = match level {
                    LineLevel::Warn => " WARN",
                    LineLevel::Error => "ERROR",
                };
                let span: Vec<String> = fly
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v:?}")))
                    .collect();
                let _ = write!(line, "{level} sp-entrypoint");
                if !span.is_empty() {
                    let _ = write!(line, "{{{}}}", span.join(" "));
                }
                let _ = write!(line, ": {message}");
                for (k, v) in fields {
                    let _ = match v {
                        serde_json::Value::String(s) => write!(line, " {k}={s}"),
                        other => write!(line, " {k}={other}"),
                    };
                }
            }
            LogFormat::Json => {
                let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
                let secs = timefmt::rfc3339(since.as_secs());
                let timestamp = format!(
                    "{}.{:06}Z",
                    secs.trim_end_matches('Z'),
                    since.subsec_micros()
                );
                let level = match level {
                    LineLevel::Warn => "WARN",
                    LineLevel::Error => "ERROR",
                };
                // Keys in the bootstrap's order (tracing-subscriber's JSON lines): timestamp,
                // level, message, fields, target, span.
                let q = |s: &str| serde_json::Value::from(s).to_string();
                let _ = write!(
                    line,
                    "{{\"timestamp\":{},\"level\":{},\"message\":{}",
                    q(&timestamp),
                    q(level),
                    q(message)
                );
                for (k, v) in fields {
                    let _ = write!(line, ",{}:{v}", q(k));
                }
                line.push_str(",\"target\":");
                line.push_str(&q(TARGET));
                line.push_str(",\"span\":{");
                for (k, v) in fly {
                    if let Some(v) = v {
                        let _ = write!(line, "{}:{},", q(k), q(v));
                    }
                }
                line.push_str("\"name\":\"sp-entrypoint\"}}");
            }
        }
        Some(line)
    }

    /// Write one line to stderr (see [`Style::render`]), through [`crate::output`] (redacted;
    /// a closed stderr is ignored).
    pub fn emit(&self, level: LineLevel, message: &str, fields: &[(&str, serde_json::Value)]) {
        if let Some(line) = self.render(level, message, fields, SystemTime::now()) {
            crate::output::stderr_line(&line);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::time::Duration;

    /// A style for tests: `fly` adds an app and a region.
    pub(in crate::expiry) fn style(format: LogFormat, shown: Shown, fly: bool) -> Style {
        Style {
            format,
            shown,
            fly: if fly {
                FlyContext {
                    app: Some("app".into()),
                    machine: None,
                    region: Some("ams".into()),
                }
            } else {
                FlyContext::default()
            },
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(secs * 1_000_000 + 42)
    }

    #[test]
    fn text_lines_look_like_the_bootstraps() {
        let s = style(LogFormat::Text, Shown::Warn, true);
        let line = s
            .render(
                LineLevel::Warn,
                "soon",
                &[
                    ("expires_at", "2030-01-01T00:00:00Z".into()),
                    ("n", 5.into()),
                ],
                at(0),
            )
            .unwrap();
        assert_eq!(
            line,
            " WARN sp-entrypoint{fly_app=\"app\" fly_region=\"ams\"}: soon expires_at=2030-01-01T00:00:00Z n=5"
        );
        let s = style(LogFormat::Text, Shown::Warn, false);
        assert_eq!(
            s.render(LineLevel::Error, "gone", &[], at(0)).unwrap(),
            "ERROR sp-entrypoint: gone"
        );
    }

    #[test]
    fn json_lines_have_the_bootstraps_shape() {
        let s = style(LogFormat::Json, Shown::Warn, true);
        let line = s
            .render(
                LineLevel::Error,
                "gone",
                &[("expires_at", "2030-01-01T00:00:00Z".into())],
                at(1_900_000_000),
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["message"], "gone");
        assert_eq!(v["expires_at"], "2030-01-01T00:00:00Z");
        assert_eq!(v["target"], TARGET);
        assert_eq!(v["timestamp"], "2030-03-17T17:46:40.000042Z");
        assert_eq!(v["span"]["fly_app"], "app");
        assert_eq!(v["span"]["name"], "sp-entrypoint");
        assert!(v["span"].get("fly_machine").is_none());
    }

    #[test]
    fn the_filter_decides() {
        use crate::config::validate::{DEFAULT_FILTER, parse_filter};
        let f = |spec: &str| Shown::from_filter(&parse_filter(spec).unwrap());
        assert_eq!(f(DEFAULT_FILTER), Shown::Warn);
        assert_eq!(f("error"), Shown::Error);
        assert_eq!(f("warn,sp_entrypoint=error"), Shown::Error);
        assert_eq!(f("warn,sp_entrypoint::expiry=off"), Shown::Off);
        assert_eq!(f("off"), Shown::Off);
        assert!(
            style(LogFormat::Text, Shown::Error, false)
                .render(LineLevel::Warn, "x", &[], at(0))
                .is_none()
        );
        assert!(
            style(LogFormat::Json, Shown::Off, false)
                .render(LineLevel::Error, "x", &[], at(0))
                .is_none()
        );
    }
}
