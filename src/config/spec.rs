//! The settings spec: one declaration per setting (variable, option, kind with its default and
//! bounds, one help line, whether a pasted token is refused in it), and what is derived from
//! it: the variables envy reads ([`super::source`]), the command-line options and their merging
//! ([`crate::cli`]), the ENVIRONMENT section of `--help`, the pasted-token check, and the
//! README's variable table (checked by a test below).
//!
//! To add a setting: one entry in the `settings!` list below, one row in README's table, and the
//! code that uses it (a [`super::Config`] field filled in [`super::load`]).

use std::fmt::Write as _;
use std::time::Duration;

/// A command-line option of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt {
    /// The long name without dashes, e.g. `grace`.
    pub long: &'static str,
    /// The value's name in `--help`, e.g. `SECONDS`; `None` for a flag (`--scrub-token`).
    pub value_name: Option<&'static str>,
}

impl Opt {
    /// `--long`.
    pub fn flag(&self) -> String {
        format!("--{}", self.long)
    }
}

/// What a setting's value is, with its default and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (a name, a path, a URL), with the default shown in `--help` and the README.
    Text {
        /// The default as shown, if any.
        default: Option<&'static str>,
    },
    /// A file path given on the command line (clap refuses an empty one, exit 64).
    Path,
    /// A yes/no value: `1/true/yes/on` or `0/false/no/off`; unset is no. Its option is a flag.
    YesNo,
    /// On only for exactly `1`, as the SystemPrompt app reads it; any other non-blank value
    /// is off, with a warning naming the variable. Its option (if any) is a flag.
    ExactlyOne,
    /// A number of seconds.
    Seconds {
        /// The value when unset.
        default: Duration,
        /// The largest value accepted.
        max: Duration,
        /// Whether 0 is accepted.
        zero_ok: bool,
    },
    /// One of a few words (case-insensitive in the variable; exact on the command line).
    Choice {
        /// The words, each with its help (shown by `--help` when not empty).
        values: &'static [(&'static str, &'static str)],
        /// The default word.
        default: &'static str,
        /// Whether clap refuses another word on the command line (exit 64); otherwise the
        /// word is checked with the other settings (exit 78).
        clap_checks: bool,
    },
}

/// Who reads a setting's variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The entrypoint, through envy ([`super::source::Env`]).
    Us,
    /// Read where it is used, not through envy: the proxy variables (all the spellings curl
    /// reads), by `whoami`'s proxy decision.
    Library,
}

/// One setting: everything the code, `--help` and the README need to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable.
    pub var: &'static str,
    /// The command-line option, if any (the option wins over the variable).
    pub option: Option<Opt>,
    /// The value's kind, default and bounds.
    pub kind: Kind,
    /// One help line (the option's help when there is an option).
    pub help: &'static str,
    /// Whether a value holding the token is refused (values that can reach a message or a log
    /// line). The token, email and `_FILE`s are checked where they are read.
    pub refuse_pasted_token: bool,
    /// Who reads the variable.
    pub reader: Reader,
}

impl Setting {
    /// The default as shown in `--help` and the README (`None`: no default).
    pub fn default_shown(&self) -> Option<String> {
        match self.kind {
            Kind::Text { default } => default.map(str::to_owned),
            Kind::Path => None,
            Kind::YesNo | Kind::ExactlyOne => Some("0".to_owned()),
            Kind::Seconds { default, .. } => Some(default.as_secs().to_string()),
            Kind::Choice { default, .. } => Some(default.to_owned()),
        }
    }

    /// The name used in problems about an option's value: `--option / VARIABLE`, or the
    /// variable alone when there is no option.
    pub fn problem_name(&self) -> String {
        match self.option {
            Some(o) => format!("--{} / {}", o.long, self.var),
            None => self.var.to_owned(),
        }
    }

    /// The option's help line in `--help`: the help, the variable and the default.
    pub fn option_help(&self) -> String {
        let mut s = format!("{} [env: {}]", self.help, self.var);
        if !matches!(self.kind, Kind::YesNo | Kind::ExactlyOne)
            && let Some(d) = self.default_shown()
        {
            let _ = write!(s, " [default: {d}]");
        }
        s
    }
}

const fn ours(
    var: &'static str,
    kind: Kind,
    help: &'static str,
    refuse_pasted_token: bool,
) -> Setting {
    Setting {
        var,
        option: None,
        kind,
        help,
        refuse_pasted_token,
        reader: Reader::Us,
    }
}

const fn with_option(
    var: &'static str,
    long: &'static str,
    value_name: Option<&'static str>,
    kind: Kind,
    help: &'static str,
    refuse_pasted_token: bool,
) -> Setting {
    Setting {
        var,
        option: Some(Opt { long, value_name }),
        kind,
        help,
        refuse_pasted_token,
        reader: Reader::Us,
    }
}

const TEXT: Kind = Kind::Text { default: None };

/// The default API endpoint.
pub const DEFAULT_API_URL: &str = "https://api.systemprompt.io";
/// The default whoami budget.
pub const DEFAULT_WHOAMI_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest whoami budget accepted.
pub const MAX_WHOAMI_TIMEOUT: Duration = Duration::from_hours(1);
/// The default grace period for leftover processes (also the supervisor's own default).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// The largest grace period accepted.
pub const MAX_GRACE: Duration = Duration::from_mins(5);

/// Declares each setting as a constant and [`SETTINGS`] as the list of all of them, in the
/// order of `--help` and the README.
macro_rules! settings {
    ($( $(#[$doc:meta])* $name:ident = $setting:expr; )*) => {
        $( $(#[$doc])* pub const $name: Setting = $setting; )*
        /// Every setting, in the order of `--help` and the README.
        pub const SETTINGS: &[&Setting] = &[$(&$name),*];
    };
}

settings! {
    /// The API token (required, or its `_FILE`).
    API_TOKEN = ours("SYSTEMPROMPT_API_TOKEN", TEXT, "the API token (required, or the _FILE form)", false);
    /// A file holding the API token.
    API_TOKEN_FILE = ours("SYSTEMPROMPT_API_TOKEN_FILE", TEXT, "a file holding the token (Docker/Kubernetes secrets)", false);
    /// The account's email (required, or its `_FILE`).
    USER_EMAIL = ours("SYSTEMPROMPT_USER_EMAIL", TEXT, "the account's email (required, or the _FILE form)", false);
    /// A file holding the account's email.
    USER_EMAIL_FILE = ours("SYSTEMPROMPT_USER_EMAIL_FILE", TEXT, "a file holding the email", false);
    /// The API endpoint.
    API_URL = ours("SYSTEMPROMPT_API_URL", Kind::Text { default: Some(DEFAULT_API_URL) }, "API endpoint", true);
    /// `1` lets the app start when whoami fails.
    ALLOW_UNVALIDATED = ours("SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS", Kind::ExactlyOne, "exactly 1 = start the app even when whoami fails", true);
    /// Total whoami budget in seconds.
    WHOAMI_TIMEOUT = with_option(
        "SYSTEMPROMPT_WHOAMI_TIMEOUT", "whoami-timeout", Some("SECONDS"),
        Kind::Seconds { default: DEFAULT_WHOAMI_TIMEOUT, max: MAX_WHOAMI_TIMEOUT, zero_ok: false },
        "Total time budget for whoami, retries included, in seconds", true);
    /// Path of the credentials file to write.
    WRITE_CREDENTIALS = with_option(
        "SYSTEMPROMPT_WRITE_CREDENTIALS", "write-credentials", Some("PATH"), Kind::Path,
        "Write credentials.json (mode 0600, atomically) to PATH for apps that read it", true);
    /// How to run the app: `auto|always|never`.
    INIT = with_option(
        "SYSTEMPROMPT_INIT", "init", Some("MODE"),
        Kind::Choice { values: &[("auto", ""), ("always", ""), ("never", "")], default: "auto", clap_checks: false },
        "auto: supervise as PID 1, exec otherwise; always: supervise (as a subreaper); never: exec", true);
    /// Grace period in seconds for leftover processes.
    GRACE = with_option(
        "SYSTEMPROMPT_GRACE", "grace", Some("SECONDS"),
        Kind::Seconds { default: DEFAULT_GRACE, max: MAX_GRACE, zero_ok: true },
        "Seconds leftover processes get between SIGTERM and SIGKILL after the app exits", true);
    /// `1` removes the token from the app's environment.
    SCRUB_TOKEN = with_option(
        "SYSTEMPROMPT_SCRUB_TOKEN", "scrub-token", None, Kind::YesNo,
        "Remove SYSTEMPROMPT_API_TOKEN from the app's environment (use with --write-credentials; refused on Fly.io, where the app reads only the environment)", true);
    /// Log filter, `RUST_LOG` syntax.
    LOG = with_option(
        "SYSTEMPROMPT_LOG", "log", Some("FILTER"), Kind::Text { default: Some("info") },
        "Log filter, RUST_LOG syntax, e.g. `debug` or `warn,sp_entrypoint=debug`", true);
    /// Log line format: `text|json`.
    LOG_FORMAT = with_option(
        "SYSTEMPROMPT_LOG_FORMAT", "log-format", Some("FORMAT"),
        Kind::Choice {
            values: &[("text", "One human-readable line per event"), ("json", "One JSON object per line, for log shipping")],
            default: "text",
            clap_checks: true,
        },
        "Log line format", true);
    /// Extra PEM roots for TLS.
    SSL_CERT_FILE = ours("SSL_CERT_FILE", TEXT, "extra PEM root certificates, added to the embedded roots", true);
    /// Proxy for the whoami call (read by `whoami`, never for a loopback API URL).
    HTTPS_PROXY = Setting { reader: Reader::Library, ..ours("HTTPS_PROXY", TEXT, "proxy for the whoami call", false) };
    /// Hosts that bypass the proxy (read by `whoami`, as curl reads it).
    NO_PROXY = Setting { reader: Reader::Library, ..ours("NO_PROXY", TEXT, "proxy for the whoami call", false) };
    /// Fly.io app name.
    FLY_APP_NAME = ours("FLY_APP_NAME", TEXT, "added to every log line when present", true);
    /// Fly.io machine id.
    FLY_MACHINE_ID = ours("FLY_MACHINE_ID", TEXT, "added to every log line when present", true);
    /// Fly.io region.
    FLY_REGION = ours("FLY_REGION", TEXT, "added to every log line when present", true);
}

/// The settings that have a command-line option.
pub fn with_options() -> impl Iterator<Item = (&'static Setting, Opt)> {
    SETTINGS.iter().filter_map(|s| s.option.map(|o| (*s, o)))
}

/// The settings whose variables the entrypoint reads (through envy).
pub fn read_by_us() -> impl Iterator<Item = &'static Setting> {
    SETTINGS.iter().copied().filter(|s| s.reader == Reader::Us)
}

/// The ENVIRONMENT section of `--help`: one line per setting (settings with the same help and
/// no option share a line).
pub fn environment_help() -> String {
    let mut out =
        String::from("ENVIRONMENT (values are never printed; empty or blank counts as unset):");
    let mut i = 0;
    while i < SETTINGS.len() {
        let s = SETTINGS[i];
        let mut names = vec![s.var];
        while s.option.is_none()
            && let Some(next) = SETTINGS.get(i + names.len())
            && next.option.is_none()
            && next.help == s.help
        {
            names.push(next.var);
        }
        i += names.len();
        let text = match (s.option, s.kind) {
            (Some(o), Kind::YesNo | Kind::ExactlyOne) => {
                format!("= --{} (1/0) [default: 0]", o.long)
            }
            (Some(o), _) => format!(
                "= --{} [default: {}]",
                o.long,
                s.default_shown().unwrap_or_else(|| "none".to_owned())
            ),
            (None, _) => match s.default_shown() {
                Some(d) => format!("{} [default: {d}]", s.help),
                None => s.help.to_owned(),
            },
        };
        let names = names.join(", ");
        let pad = 35usize.saturating_sub(names.len()).max(2);
        let _ = write!(out, "\n  {names}{:pad$}{text}", "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of README's "Environment variables" table: (variable, option, default).
    fn readme_rows() -> Vec<(String, String, String)> {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Environment variables")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or_else(|| panic!("README has no Environment variables section"));
        let mut rows = Vec::new();
        for line in section.lines().filter(|l| l.starts_with("| `")) {
            let line = line.replace("\\|", "/");
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            let [vars, option, default, _meaning] = cells[..] else {
                panic!("README row without four cells: {line}")
            };
            for var in vars.split(", ") {
                rows.push((
                    var.trim_matches('`').to_owned(),
                    option.to_owned(),
                    default.to_owned(),
                ));
            }
        }
        rows
    }

    #[test]
    fn the_readme_table_and_the_spec_agree() {
        let rows = readme_rows();
        let in_readme: Vec<&str> = rows.iter().map(|(v, _, _)| v.as_str()).collect();
        let in_spec: Vec<&str> = SETTINGS.iter().map(|s| s.var).collect();
        assert_eq!(
            in_readme, in_spec,
            "README's table and the spec list different variables"
        );
        for (s, (var, option, default)) in SETTINGS.iter().zip(&rows) {
            match s.option {
                Some(o) => assert!(
                    option.starts_with(&format!("`--{}", o.long)),
                    "{var}: README says option {option:?}, the spec --{}",
                    o.long
                ),
                None => assert!(
                    option.is_empty(),
                    "{var}: README gives an option {option:?}"
                ),
            }
            match s.default_shown() {
                Some(d) => assert!(
                    default.starts_with(&format!("`{d}`")),
                    "{var}: README says default {default:?}, the spec {d:?}"
                ),
                None => assert!(
                    default.is_empty() || default == "required",
                    "{var}: README says default {default:?}, the spec none"
                ),
            }
        }
    }

    #[test]
    fn every_setting_is_in_the_help_and_nothing_else() {
        let help = environment_help();
        let mut listed = Vec::new();
        for line in help.lines().skip(1) {
            let names = line.trim_start().split("  ").next().unwrap_or_default();
            listed.extend(names.split(", ").map(str::to_owned));
        }
        let in_spec: Vec<&str> = SETTINGS.iter().map(|s| s.var).collect();
        assert_eq!(listed, in_spec, "{help}");
        for (s, o) in with_options() {
            assert!(
                help.contains(&format!("{}  ", s.var))
                    && help.contains(&format!("= --{} ", o.long)),
                "{help}"
            );
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in SETTINGS.iter().enumerate() {
            for b in &SETTINGS[i + 1..] {
                assert_ne!(a.var, b.var);
                if let (Some(x), Some(y)) = (a.option, b.option) {
                    assert_ne!(x.long, y.long);
                }
            }
        }
    }
}
