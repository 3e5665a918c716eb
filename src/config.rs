//! Environment variable names, and the raw environment (read with envy) validated into a typed
//! [`Config`]. Reports every problem in one run. No network I/O.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigProblem, Error};
use crate::token::{Claims, Secret};

/// Environment variable names, in one place.
pub mod vars {
    /// The API token (required, or its `_FILE`).
    pub const API_TOKEN: &str = "SYSTEMPROMPT_API_TOKEN";
    /// A file holding the API token.
    pub const API_TOKEN_FILE: &str = "SYSTEMPROMPT_API_TOKEN_FILE";
    /// The account's email (required, or its `_FILE`).
    pub const USER_EMAIL: &str = "SYSTEMPROMPT_USER_EMAIL";
    /// A file holding the account's email.
    pub const USER_EMAIL_FILE: &str = "SYSTEMPROMPT_USER_EMAIL_FILE";
    /// The API endpoint (optional).
    pub const API_URL: &str = "SYSTEMPROMPT_API_URL";
    /// `1` lets the app start when whoami fails.
    pub const ALLOW_UNVALIDATED: &str = "SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS";
    /// Total whoami budget in seconds (`--whoami-timeout`).
    pub const WHOAMI_TIMEOUT: &str = "SYSTEMPROMPT_WHOAMI_TIMEOUT";
    /// Path of the credentials file to write (`--write-credentials`).
    pub const WRITE_CREDENTIALS: &str = "SYSTEMPROMPT_WRITE_CREDENTIALS";
    /// `auto|always|never` (`--init`).
    pub const INIT: &str = "SYSTEMPROMPT_INIT";
    /// Grace period in seconds for leftover processes (`--grace`).
    pub const GRACE: &str = "SYSTEMPROMPT_GRACE";
    /// `1` removes the token from the app's environment (`--scrub-token`).
    pub const SCRUB_TOKEN: &str = "SYSTEMPROMPT_SCRUB_TOKEN";
    /// Log filter, `RUST_LOG` syntax (`--log`).
    pub const LOG: &str = "SYSTEMPROMPT_LOG";
    /// `text|json` (`--log-format`).
    pub const LOG_FORMAT: &str = "SYSTEMPROMPT_LOG_FORMAT";
    /// Extra PEM roots for TLS.
    pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
    /// Fly.io app name.
    pub const FLY_APP_NAME: &str = "FLY_APP_NAME";
    /// Fly.io machine id.
    pub const FLY_MACHINE_ID: &str = "FLY_MACHINE_ID";
    /// Fly.io region.
    pub const FLY_REGION: &str = "FLY_REGION";
}

/// The default API endpoint.
pub const DEFAULT_API_URL: &str = "https://api.systemprompt.io";
/// The default whoami budget.
pub const DEFAULT_WHOAMI_TIMEOUT: Duration = Duration::from_secs(30);
/// The default grace period for leftover processes.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// How the entrypoint runs the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitMode {
    /// Supervise when PID 1, exec otherwise.
    #[default]
    Auto,
    /// Always supervise (as a child subreaper when not PID 1).
    Always,
    /// Always exec.
    Never,
}

/// Option values given on the command line; each, when `None`, falls back to its variable.
/// Values are raw strings so that a bad one is reported with the others (exit 78).
#[derive(Debug, Clone, Default)]
pub struct CliSettings {
    /// `--whoami-timeout SECONDS`.
    pub whoami_timeout: Option<String>,
    /// `--write-credentials PATH`.
    pub write_credentials: Option<PathBuf>,
    /// `--init MODE`.
    pub init: Option<String>,
    /// `--grace SECONDS`.
    pub grace: Option<String>,
    /// `--scrub-token`.
    pub scrub_token: bool,
}

/// The validated configuration.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // independent yes/no settings, not a state machine
pub struct Config {
    /// The token (trimmed).
    pub token: Secret,
    /// Its decoded claims.
    pub claims: Claims,
    /// The account email (trimmed).
    pub email: String,
    /// The API URL, normalised (no trailing slash).
    pub api_url: String,
    /// The token came from `SYSTEMPROMPT_API_TOKEN_FILE`.
    pub token_from_file: bool,
    /// The email came from `SYSTEMPROMPT_USER_EMAIL_FILE`.
    pub email_from_file: bool,
    /// Total whoami budget.
    pub whoami_timeout: Duration,
    /// `SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS=1`.
    pub allow_unvalidated: bool,
    /// Where to write credentials.json, if anywhere.
    pub write_credentials: Option<PathBuf>,
    /// How to run the app.
    pub init: InitMode,
    /// Grace period for leftover processes.
    pub grace: Duration,
    /// Remove the token from the app's environment.
    pub scrub_token: bool,
    /// `SSL_CERT_FILE`, when set (not empty).
    pub ssl_cert_file: Option<PathBuf>,
}

/// The `--option / VARIABLE` names used as [`ConfigProblem::var`] for options that have both.
pub mod option_names {
    /// `--whoami-timeout` / `SYSTEMPROMPT_WHOAMI_TIMEOUT`.
    pub const WHOAMI_TIMEOUT: &str = "--whoami-timeout / SYSTEMPROMPT_WHOAMI_TIMEOUT";
    /// `--grace` / `SYSTEMPROMPT_GRACE`.
    pub const GRACE: &str = "--grace / SYSTEMPROMPT_GRACE";
    /// `--init` / `SYSTEMPROMPT_INIT`.
    pub const INIT: &str = "--init / SYSTEMPROMPT_INIT";
    /// `--write-credentials` / `SYSTEMPROMPT_WRITE_CREDENTIALS`.
    pub const WRITE_CREDENTIALS: &str = "--write-credentials / SYSTEMPROMPT_WRITE_CREDENTIALS";
}

/// The largest whoami budget accepted.
pub const MAX_WHOAMI_TIMEOUT: Duration = Duration::from_hours(1);
/// The largest grace period accepted.
pub const MAX_GRACE: Duration = Duration::from_mins(5);

/// The `SYSTEMPROMPT_` variables, as read by envy (prefix stripped, lowercased). No `Debug`:
/// it holds the token.
#[derive(serde::Deserialize, Default)]
struct RawEnv {
    api_token: Option<String>,
    api_token_file: Option<String>,
    user_email: Option<String>,
    user_email_file: Option<String>,
    api_url: Option<String>,
    allow_unvalidated_creds: Option<String>,
    whoami_timeout: Option<String>,
    write_credentials: Option<String>,
    init: Option<String>,
    grace: Option<String>,
    scrub_token: Option<String>,
}

/// The exact names [`RawEnv`] reads (the fuzz target draws variable names from it too).
#[doc(hidden)]
pub const RAW_ENV_VARS: [&str; 11] = [
    vars::API_TOKEN,
    vars::API_TOKEN_FILE,
    vars::USER_EMAIL,
    vars::USER_EMAIL_FILE,
    vars::API_URL,
    vars::ALLOW_UNVALIDATED,
    vars::WHOAMI_TIMEOUT,
    vars::WRITE_CREDENTIALS,
    vars::INIT,
    vars::GRACE,
    vars::SCRUB_TOKEN,
];

/// Read the `SYSTEMPROMPT_` variables with envy. Only the exact (upper-case) names are passed,
/// first occurrence winning like `getenv`, so envy never sees a duplicate field.
fn read_raw_env(env: &[(String, String)]) -> Result<RawEnv, envy::Error> {
    let mut picked: Vec<(String, String)> = Vec::new();
    for (name, value) in env {
        if RAW_ENV_VARS.contains(&name.as_str()) && !picked.iter().any(|(n, _)| n == name) {
            picked.push((name.clone(), value.clone()));
        }
    }
    envy::prefixed("SYSTEMPROMPT_").from_iter(picked)
}

/// The first value of `name` in `env`.
fn env_get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A value as shown in a message: quoted when short, otherwise only its length (a long value
/// may be a pasted secret).
fn shown(value: &str) -> String {
    const MAX_SHOWN: usize = 24;
    let n = value.chars().count();
    if n <= MAX_SHOWN {
        format!("{value:?}")
    } else {
        format!("a value of {n} characters")
    }
}

/// Overwrite a byte buffer that may hold a secret, then drop it.
fn zero_bytes(mut bytes: Vec<u8>) {
    bytes.fill(0);
    std::hint::black_box(&mut bytes);
}

/// Problems and warnings collected during [`load`].
#[derive(Default)]
struct Report {
    problems: Vec<ConfigProblem>,
    warnings: Vec<String>,
}

/// Where a required value (token or email) came from.
struct Sourced {
    value: Secret,
    /// The `_FILE` path, when it came from a file.
    file: Option<String>,
}

/// The validated flags and options of [`Config`].
#[allow(clippy::struct_excessive_bools)] // independent yes/no settings
struct Options {
    whoami_timeout: Duration,
    allow_unvalidated: bool,
    write_credentials: Option<PathBuf>,
    init: InitMode,
    grace: Duration,
    scrub_token: bool,
    ssl_cert_file: Option<PathBuf>,
}

/// What a required value is, for messages.
struct Required<'a> {
    var: &'a str,
    file_var: &'a str,
    /// `the token`, `the email`.
    what: &'a str,
    secret: bool,
}

impl Report {
    fn problem(&mut self, var: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            var: var.to_owned(),
            message: message.into(),
        });
    }

    /// `value` trimmed, or `None` when empty or whitespace-only (unset). Warns when trimmed.
    fn trimmed<'v>(&mut self, name: &str, value: &'v str) -> Option<&'v str> {
        let t = value.trim();
        if t.is_empty() {
            return None;
        }
        if t.len() != value.len() {
            self.warnings.push(format!(
                "{name} had surrounding whitespace (a trailing newline?); it was trimmed"
            ));
        }
        Some(t)
    }

    fn trimmed_owned(&mut self, name: &str, value: Option<&str>) -> Option<String> {
        value.and_then(|v| self.trimmed(name, v)).map(str::to_owned)
    }

    /// Resolve `VAR` / `VAR_FILE` into a trimmed value.
    fn required(
        &mut self,
        r: &Required<'_>,
        raw: Option<String>,
        raw_file: Option<&str>,
        read_file: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Option<Sourced> {
        let raw = raw.map(Secret::new);
        let value = raw
            .as_ref()
            .and_then(|s| self.trimmed(r.var, s.expose()))
            .map(|v| Secret::new(v.to_owned()));
        let path = self.trimmed_owned(r.file_var, raw_file);
        match (value, path) {
            (Some(_), Some(_)) => {
                self.problem(
                    &format!("{} / {}", r.var, r.file_var),
                    format!(
                        "both are set; set only one: unset {} to use {}, or unset {} to read it from the file",
                        r.file_var, r.var, r.var
                    ),
                );
                None
            }
            (Some(value), None) => Some(Sourced { value, file: None }),
            (None, Some(path)) => self.read_required(r, path, read_file),
            (None, None) => {
                self.problem(
                    r.var,
                    format!(
                        "not set; set it (fly secrets set {}=...) or {} to a file holding it",
                        r.var, r.file_var
                    ),
                );
                None
            }
        }
    }

    fn read_required(
        &mut self,
        r: &Required<'_>,
        path: String,
        read_file: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Option<Sourced> {
        // Any `_FILE` (not only the token's): the value is quoted in the messages below, and
        // the token pasted into the wrong variable must not be.
        if looks_like_token(&path) {
            let fix = if r.secret {
                format!(
                    "put the token in {} instead, or set {} to the path of a file holding it",
                    r.var, r.file_var
                )
            } else {
                format!(
                    "put the token in {}, and set {} to the path of a file holding {}",
                    vars::API_TOKEN,
                    r.file_var,
                    r.what
                )
            };
            self.problem(
                r.file_var,
                format!("holds what looks like the token itself, not a path; {fix}"),
            );
            return None;
        }
        let bytes = match read_file(Path::new(&path)) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.problem(
                    r.file_var,
                    format!("cannot read {path:?}: {e}; check the path and that the file (a mounted secret?) exists and is readable by this user"),
                );
                return None;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => Secret::new(text),
            Err(e) => {
                zero_bytes(e.into_bytes());
                self.problem(
                    r.file_var,
                    format!(
                        "{path:?} is not UTF-8 text; write {} into it as plain text",
                        r.what
                    ),
                );
                return None;
            }
        };
        let content = text.expose();
        // Even the one final newline of a text file is reported: the value the app gets from
        // the environment differs from the file's bytes, and the log should say so.
        let body = content;
        let trimmed = body.trim();
        if trimmed.is_empty() {
            self.problem(
                r.file_var,
                format!("{path:?} is empty; write {} into it", r.what),
            );
            return None;
        }
        if trimmed.len() != body.len() {
            self.warnings.push(format!(
                "{} had surrounding whitespace in {path:?} (a trailing newline?); it was trimmed",
                r.file_var
            ));
        }
        Some(Sourced {
            value: Secret::new(trimmed.to_owned()),
            file: Some(path),
        })
    }

    /// A yes/no variable; unset or empty is `false`.
    fn flag(&mut self, var: &str, raw: Option<&str>) -> bool {
        let Some(v) = self.trimmed_owned(var, raw) else {
            return false;
        };
        parse_bool(&v).unwrap_or_else(|| {
            self.problem(
                var,
                format!(
                    "{} is not a yes/no value; use 1, true, yes or on to enable, or 0, false, no or off (or leave it unset) to disable",
                    shown(&v)
                ),
            );
            false
        })
    }

    /// The option's value: the command line's when given, else the variable's. `Err` when the
    /// command-line value is empty (already reported).
    fn pick(
        &mut self,
        option: (&str, &str),
        cli: Option<&str>,
        env: Option<&str>,
        hint: &str,
    ) -> Result<Option<String>, ()> {
        let (flag, var) = option;
        let Some(v) = cli else {
            return Ok(self.trimmed_owned(var, env));
        };
        if let Some(t) = self.trimmed(flag, v) {
            Ok(Some(t.to_owned()))
        } else {
            self.problem(
                &format!("{flag} / {var}"),
                format!("{flag} is given an empty value; {hint}"),
            );
            Err(())
        }
    }

    /// A number of seconds, at most `max`, and more than 0 unless `zero_ok`.
    fn seconds(
        &mut self,
        option: (&str, &str),
        cli: Option<&str>,
        env: Option<&str>,
        default: Duration,
        max: Duration,
        zero_ok: bool,
    ) -> Duration {
        let name = format!("{} / {}", option.0, option.1);
        let range = if zero_ok {
            format!("from 0 to {}", max.as_secs())
        } else {
            format!("more than 0 and at most {}", max.as_secs())
        };
        let hint = format!(
            "give a number of seconds ({range}), like {}",
            default.as_secs()
        );
        let Ok(value) = self.pick(option, cli, env, &hint) else {
            return default;
        };
        let Some(v) = value else { return default };
        match parse_seconds(&v) {
            None => {
                self.problem(
                    &name,
                    format!("{} is not a number of seconds; {hint}, or 0.5", shown(&v)),
                );
                default
            }
            Some(d) if d.is_zero() && !zero_ok => {
                self.problem(&name, format!("must be more than 0 seconds; {hint}"));
                default
            }
            Some(d) if d > max => {
                self.problem(
                    &name,
                    format!(
                        "{} is more than the maximum of {} seconds; {hint}",
                        shown(&v),
                        max.as_secs()
                    ),
                );
                default
            }
            Some(d) => d,
        }
    }

    /// The token from `SYSTEMPROMPT_API_TOKEN` or its `_FILE`, with its claims.
    fn token(
        &mut self,
        raw: Option<String>,
        raw_file: Option<&str>,
        read_file: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Option<(Sourced, Claims)> {
        let req = Required {
            var: vars::API_TOKEN,
            file_var: vars::API_TOKEN_FILE,
            what: "the token",
            secret: true,
        };
        let token = self.required(&req, raw, raw_file, read_file)?;
        match crate::token::decode_claims(token.value.expose()) {
            Ok(claims) => Some((token, claims)),
            Err(e) => {
                let (var, message) = match &token.file {
                    None => (vars::API_TOKEN, e.to_string()),
                    Some(path) => (vars::API_TOKEN_FILE, format!("the token in {path:?}: {e}")),
                };
                self.problem(var, message);
                None
            }
        }
    }

    /// The email from `SYSTEMPROMPT_USER_EMAIL` or its `_FILE`, and whether it came from the file.
    fn email(
        &mut self,
        raw: Option<String>,
        raw_file: Option<&str>,
        read_file: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Option<(String, bool)> {
        let req = Required {
            var: vars::USER_EMAIL,
            file_var: vars::USER_EMAIL_FILE,
            what: "the email",
            secret: false,
        };
        let email = self.required(&req, raw, raw_file, read_file)?;
        if contains_token(email.value.expose()) {
            let var = if email.file.is_some() {
                vars::USER_EMAIL_FILE
            } else {
                vars::USER_EMAIL
            };
            self.problem(var, TOKEN_ELSEWHERE);
            return None;
        }
        match validate_email(email.value.expose()) {
            Ok(()) => Some((email.value.expose().to_owned(), email.file.is_some())),
            Err(msg) => {
                match &email.file {
                    None => self.problem(vars::USER_EMAIL, msg),
                    Some(path) => self.problem(
                        vars::USER_EMAIL_FILE,
                        format!("the email in {path:?} {msg}"),
                    ),
                }
                None
            }
        }
    }

    /// The flags and options (each defaulted when invalid, with a problem recorded).
    fn options(&mut self, cli: &CliSettings, raw: &RawEnv, env: &[(String, String)]) -> Options {
        let allow_unvalidated = self.flag(
            vars::ALLOW_UNVALIDATED,
            raw.allow_unvalidated_creds.as_deref(),
        );
        // The flag wins when given; the variable is not even looked at then.
        let scrub_token =
            cli.scrub_token || self.flag(vars::SCRUB_TOKEN, raw.scrub_token.as_deref());
        let whoami_timeout = self.seconds(
            ("--whoami-timeout", vars::WHOAMI_TIMEOUT),
            cli.whoami_timeout.as_deref(),
            raw.whoami_timeout.as_deref(),
            DEFAULT_WHOAMI_TIMEOUT,
            MAX_WHOAMI_TIMEOUT,
            false,
        );
        let grace = self.seconds(
            ("--grace", vars::GRACE),
            cli.grace.as_deref(),
            raw.grace.as_deref(),
            DEFAULT_GRACE,
            MAX_GRACE,
            true,
        );
        let init_hint = "use auto, always or never";
        let init = match self.pick(
            ("--init", vars::INIT),
            cli.init.as_deref(),
            raw.init.as_deref(),
            init_hint,
        ) {
            Ok(Some(v)) => parse_init_mode(&v).unwrap_or_else(|| {
                self.problem(
                    option_names::INIT,
                    format!("{} is not a mode; {init_hint} (default: auto)", shown(&v)),
                );
                InitMode::Auto
            }),
            Ok(None) | Err(()) => InitMode::Auto,
        };
        let write_credentials = match &cli.write_credentials {
            Some(p) if p.as_os_str().is_empty() => {
                self.problem(
                    option_names::WRITE_CREDENTIALS,
                    "--write-credentials is given an empty path; give the path of the credentials.json to write, or leave it out",
                );
                None
            }
            Some(p) => Some(p.clone()),
            None => self
                .trimmed_owned(vars::WRITE_CREDENTIALS, raw.write_credentials.as_deref())
                .map(PathBuf::from),
        };
        let ssl_cert_file = self
            .trimmed_owned(vars::SSL_CERT_FILE, env_get(env, vars::SSL_CERT_FILE))
            .map(PathBuf::from);
        Options {
            whoami_timeout,
            allow_unvalidated,
            write_credentials,
            init,
            grace,
            scrub_token,
            ssl_cert_file,
        }
    }

    /// Replace every occurrence of `secret` in the messages (defence in depth; messages are
    /// built never to include it).
    fn redact(&mut self, secret: &str) {
        if secret.len() < 8 {
            return;
        }
        for p in &mut self.problems {
            if p.message.contains(secret) {
                p.message = p.message.replace(secret, "***");
            }
            if p.var.contains(secret) {
                p.var = p.var.replace(secret, "***");
            }
        }
        for w in &mut self.warnings {
            if w.contains(secret) {
                *w = w.replace(secret, "***");
            }
        }
    }
}

/// The problem of a variable that holds the token (or a value with the token inside).
const TOKEN_ELSEWHERE: &str = "holds what looks like the API token; put the token in SYSTEMPROMPT_API_TOKEN (or a file named by SYSTEMPROMPT_API_TOKEN_FILE) and give this variable its own value";

/// The variables (other than the token's and the `_FILE`s, checked on their own) whose values
/// can reach a message or a log line, checked by [`load`] for a pasted token.
const SHOWN_VARS: [&str; 8] = [
    vars::API_URL,
    vars::ALLOW_UNVALIDATED,
    vars::WHOAMI_TIMEOUT,
    vars::WRITE_CREDENTIALS,
    vars::INIT,
    vars::GRACE,
    vars::SCRUB_TOKEN,
    vars::SSL_CERT_FILE,
];

/// Whether `value` contains a JWT whose header and payload decode: the token, or the token
/// with text around it (e.g. `user@sp_live_eyJ...`, or a URL path ending in it). The
/// signature is not required to be intact: text appended to the token changes only it.
fn contains_token(value: &str) -> bool {
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=')))
        .any(|run| {
            run.match_indices("eyJ").any(|(i, _)| {
                let mut parts = run[i..].split('.');
                match (parts.next(), parts.next()) {
                    (Some(header), Some(payload)) => {
                        crate::token::decode_claims(&format!("{header}.{payload}.AA")).is_ok()
                    }
                    _ => false,
                }
            })
        })
}

/// Whether a `_FILE` value is really a token pasted in the wrong variable.
fn looks_like_token(value: &str) -> bool {
    crate::token::decode_claims(value).is_ok()
        || (value.contains("eyJ") && value.matches('.').count() >= 2)
}

/// `1/true/yes/on` is `true`, `0/false/no/off` is `false` (case-insensitive), else `None`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Parse a non-negative decimal number of seconds (`30`, `0.5`, `1.25`) exactly, without
/// floating point: digits, optionally `.` and more digits (fractions beyond nanoseconds are
/// truncated). No sign, exponent or unit. A whole part too large for `u64` saturates.
pub fn parse_seconds(value: &str) -> Option<Duration> {
    let (whole, frac) = match value.split_once('.') {
        Some((w, f)) if !f.is_empty() => (w, f),
        Some(_) => return None,
        None => (value, ""),
    };
    if whole.is_empty()
        || !whole.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    // Only digits, so the one possible failure is overflow.
    let secs = whole.parse::<u64>().unwrap_or(u64::MAX);
    let mut nanos: u32 = 0;
    for i in 0..9 {
        let digit = frac.as_bytes().get(i).map_or(0, |c| u32::from(c - b'0'));
        nanos = nanos * 10 + digit;
    }
    Some(Duration::new(secs, nanos))
}

/// Parse `auto|always|never` (case-insensitive).
pub fn parse_init_mode(value: &str) -> Option<InitMode> {
    match value.to_ascii_lowercase().as_str() {
        "auto" => Some(InitMode::Auto),
        "always" => Some(InitMode::Always),
        "never" => Some(InitMode::Never),
        _ => None,
    }
}

const EMAIL_FIX: &str = "set it to the email of your SystemPrompt account, like user@example.com";

/// Check an account email with the upstream rules. The error says what is wrong and what to
/// do, and never repeats the value.
///
/// Rules: exactly one `@`; a non-empty local part that neither starts nor ends with `.` and
/// has no `..`; a non-empty domain containing a `.`, not starting or ending with `.`, without
/// `..`, whose last label has at least 2 characters; no whitespace or control characters.
pub fn validate_email(email: &str) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{what}; {EMAIL_FIX}"));
    if email.is_empty() {
        return fail("is empty");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail("contains whitespace or a control character");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return fail("is not an email address: it has no '@'");
    };
    if domain.contains('@') {
        return fail("is not an email address: it has more than one '@'");
    }
    if local.is_empty() {
        return fail("has nothing before the '@'");
    }
    if local.starts_with('.') || local.ends_with('.') {
        return fail("the part before the '@' starts or ends with '.'");
    }
    if local.contains("..") {
        return fail("the part before the '@' contains '..'");
    }
    if domain.is_empty() {
        return fail("has nothing after the '@'");
    }
    if !domain.contains('.') {
        return fail("the domain (after the '@') has no '.'");
    }
    if domain.starts_with('.') || domain.ends_with('.') {
        return fail("the domain (after the '@') starts or ends with '.'");
    }
    if domain.contains("..") {
        return fail("the domain (after the '@') contains '..'");
    }
    if domain
        .rsplit('.')
        .next()
        .map_or(0, |tld| tld.chars().count())
        < 2
    {
        return fail("the top-level domain (after the last '.') is shorter than 2 characters");
    }
    Ok(())
}

const URL_FIX: &str =
    "use e.g. https://api.systemprompt.io (the default: unset the variable to use it)";

/// Check an API URL and return it normalised: scheme and host lowercased, no trailing `/`.
///
/// Rules: `https://`, or `http://` only for a loopback host (`localhost`, `127.0.0.0/8`,
/// `[::1]`); a host (a name of letters, digits, `-`, `_`, `.` without empty labels, an IPv4
/// address, or an IPv6 address in brackets); an optional port 1-65535; an optional path (such
/// as `/cloud`) of URL characters; no user info, query or fragment; no whitespace or control
/// characters. The error says what is wrong and what to do, and never repeats the value.
pub fn validate_api_url(url: &str) -> Result<String, String> {
    let fail = |what: &str| Err(format!("{what}; {URL_FIX}"));
    let fail_fix = |what: &str, fix: &str| Err(format!("{what}; {fix}"));
    if url.is_empty() {
        return fail("is empty");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail("contains whitespace or a control character");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return fail("is not an absolute URL (no https://)");
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return fail("has a scheme other than https:// (or http:// for localhost)");
    }
    if rest.contains('#') {
        return fail_fix(
            "has a fragment (#...)",
            "remove it: give only the base URL, like https://api.systemprompt.io",
        );
    }
    if rest.contains('?') {
        return fail_fix(
            "has a query (?...)",
            "remove it: give only the base URL, like https://api.systemprompt.io",
        );
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return fail_fix(
            "contains user info (user@host)",
            "remove it (the token is sent in a header): give only the base URL, like https://api.systemprompt.io",
        );
    }
    if authority.is_empty() {
        return fail("has no host");
    }
    let (host, loopback, port) = match parse_authority(authority) {
        Ok(parts) => parts,
        Err(what) => return fail(what),
    };
    if scheme == "http" && !loopback {
        return fail_fix(
            "uses http://, which is allowed only for localhost, 127.0.0.0/8 and [::1]",
            "use https://, like https://api.systemprompt.io",
        );
    }
    if !valid_path(path) {
        return fail("has a path with characters not allowed in a URL (encode them as %XX)");
    }
    let path = path.trim_end_matches('/');
    let normalised = format!("{scheme}://{host}{port}{path}");
    // whoami parses the URL with the WHATWG parser, which reads a name whose last label is a
    // number as an IPv4 address (`0p.50` is invalid, `10.0x1` is 10.0.0.1) and checks `xn--`
    // labels: accept only what it parses to the same host.
    let same_host = reqwest::Url::parse(&normalised)
        .is_ok_and(|u| host.starts_with('[') || u.host_str() == Some(host.as_str()));
    if !same_host {
        return fail(
            "has a host that is neither a valid name nor a dotted-decimal IPv4 address (a last label that is a number, or a malformed xn-- label?)",
        );
    }
    Ok(normalised)
}

/// Split an authority (no user info) into the normalised host, whether it is loopback, and
/// the normalised `:port` (or `""`). The error says what is wrong.
fn parse_authority(authority: &str) -> Result<(String, bool, String), &'static str> {
    let (host, loopback, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (inner, after) = bracketed
            .split_once(']')
            .ok_or("has an IPv6 address without its closing ']'")?;
        let addr = inner
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| "has an invalid IPv6 address in [...]")?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("has something other than :PORT after the IPv6 address")?,
            ),
        };
        (format!("[{addr}]"), addr.is_loopback(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err(
                "has more than one ':' in the host (an IPv6 address goes in brackets, like [::1])",
            );
        }
        if host.is_empty() {
            return Err("has no host");
        }
        if !host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        {
            return Err(
                "has a host name with characters other than letters, digits, '-', '_' and '.' (use the xn-- form of an international name)",
            );
        }
        if host.split('.').any(str::is_empty) {
            return Err("has a host name with an empty label (a leading, trailing or doubled '.')");
        }
        let host = host.to_ascii_lowercase();
        let loopback = host == "localhost"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|a| a.is_loopback());
        (host, loopback, port)
    };
    let port = match port {
        None => String::new(),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|c| c.is_ascii_digit()) => format!(":{n}"),
            _ => return Err("has an invalid port (use a number from 1 to 65535)"),
        },
    };
    Ok((host, loopback, port))
}

/// RFC 3986 path characters: unreserved, sub-delims, `:`, `@`, `/`, and `%XX`.
fn valid_path(path: &str) -> bool {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

/// Validate `env` (name/value pairs; values already lossily UTF-8) and `cli` into a [`Config`].
/// `read_file` reads `_FILE` variables (injected for tests). Returns the config and warnings
/// to log (e.g. trimmed whitespace). Every problem is reported at once as [`Error::Config`].
/// Token expiry is NOT checked here (see [`crate::token::expiry`]).
///
/// Empty or whitespace-only variables count as unset; command-line values win over variables
/// (an empty command-line value is a problem). [`ConfigProblem::var`] is the variable at fault,
/// `X / X_FILE` when both are set, or `--option / VARIABLE` for options. No message or warning
/// contains the token.
pub fn load(
    cli: &CliSettings,
    env: &[(String, String)],
    read_file: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<(Config, Vec<String>), Error> {
    let mut r = Report::default();
    let mut raw = match read_raw_env(env) {
        Ok(raw) => raw,
        Err(e) => {
            // Unreachable with all-string fields and de-duplicated names; reported, not panicked.
            r.problem(
                "SYSTEMPROMPT_*",
                format!("the environment cannot be read ({e}); check the SYSTEMPROMPT_ variables"),
            );
            RawEnv::default()
        }
    };

    let token = r.token(
        raw.api_token.take(),
        raw.api_token_file.as_deref(),
        read_file,
    );
    let email = r.email(
        raw.user_email.take(),
        raw.user_email_file.as_deref(),
        read_file,
    );
    let api_url = match r.trimmed_owned(vars::API_URL, raw.api_url.as_deref()) {
        None => Some(DEFAULT_API_URL.to_owned()),
        Some(url) => validate_api_url(&url)
            .map_err(|msg| r.problem(vars::API_URL, msg))
            .ok(),
    };
    let opts = r.options(cli, &raw, env);
    // A token pasted into another variable must reach no message or log line (the email and
    // the `_FILE`s are checked where they are read).
    for name in SHOWN_VARS {
        if env_get(env, name).is_some_and(contains_token) {
            r.problem(name, TOKEN_ELSEWHERE);
        }
    }
    let cli_values = [
        ("--whoami-timeout", cli.whoami_timeout.clone()),
        (
            "--write-credentials",
            cli.write_credentials
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        ),
        ("--init", cli.init.clone()),
        ("--grace", cli.grace.clone()),
    ];
    for (flag, value) in cli_values {
        if value.as_deref().is_some_and(contains_token) {
            r.problem(flag, TOKEN_ELSEWHERE);
        }
    }

    if let Some((t, _)) = &token {
        r.redact(t.value.expose());
    }
    match (token, email, api_url) {
        (Some((token, claims)), Some((email, email_from_file)), Some(api_url))
            if r.problems.is_empty() =>
        {
            let config = Config {
                token_from_file: token.file.is_some(),
                token: token.value,
                claims,
                email,
                api_url,
                email_from_file,
                whoami_timeout: opts.whoami_timeout,
                allow_unvalidated: opts.allow_unvalidated,
                write_credentials: opts.write_credentials,
                init: opts.init,
                grace: opts.grace,
                scrub_token: opts.scrub_token,
                ssl_cert_file: opts.ssl_cert_file,
            };
            Ok((config, r.warnings))
        }
        _ => {
            if r.problems.is_empty() {
                // Unreachable: every missing part above records a problem.
                r.problem(
                    "SYSTEMPROMPT_*",
                    "the configuration is incomplete; this is a bug, please report it",
                );
            }
            Err(Error::Config(r.problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::testing::{token, token_with_payload};
    use std::collections::HashMap;
    use std::io;

    const EXP: u64 = 4_000_000_000;
    const EMAIL: &str = "user@example.com";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn good_env() -> Vec<(String, String)> {
        let t = token(EXP);
        env(&[
            (vars::API_TOKEN, &t),
            (vars::USER_EMAIL, EMAIL),
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
        ])
    }

    /// `good_env` with `name` set to `value` (replacing it when present).
    fn with(mut base: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
        base.retain(|(n, _)| n != name);
        base.push((name.to_owned(), value.to_owned()));
        base
    }

    fn without(mut base: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
        base.retain(|(n, _)| n != name);
        base
    }

    fn no_files(_: &Path) -> io::Result<Vec<u8>> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        ))
    }

    fn files(map: &[(&str, &[u8])]) -> impl Fn(&Path) -> io::Result<Vec<u8>> + use<> {
        let map: HashMap<PathBuf, Vec<u8>> = map
            .iter()
            .map(|(p, c)| (PathBuf::from(p), c.to_vec()))
            .collect();
        move |p: &Path| {
            map.get(p).cloned().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "No such file or directory (os error 2)",
                )
            })
        }
    }

    fn ok(cli: &CliSettings, env: &[(String, String)]) -> (Config, Vec<String>) {
        match load(cli, env, &no_files) {
            Ok(v) => v,
            Err(e) => panic!("expected a valid config, got: {e}"),
        }
    }

    fn problems_with(
        cli: &CliSettings,
        env: &[(String, String)],
        read: &dyn Fn(&Path) -> io::Result<Vec<u8>>,
    ) -> Vec<ConfigProblem> {
        match load(cli, env, read) {
            Ok((c, _)) => panic!("expected problems, got {c:?}"),
            Err(Error::Config(p)) => p,
            Err(e) => panic!("expected Error::Config, got {e}"),
        }
    }

    fn problems(env: &[(String, String)]) -> Vec<ConfigProblem> {
        problems_with(&CliSettings::default(), env, &no_files)
    }

    /// The one problem reported.
    fn problem(env: &[(String, String)]) -> ConfigProblem {
        let mut p = problems(env);
        assert_eq!(p.len(), 1, "{p:#?}");
        p.remove(0)
    }

    fn assert_no_token(token: &str, text: &str) {
        assert!(!text.contains(token), "token leaked into {text:?}");
        for part in token.split(['.', '_']).filter(|p| p.len() >= 6) {
            assert!(!text.contains(part), "token part leaked into {text:?}");
        }
    }

    // ---- defaults and the happy path ----

    #[test]
    fn minimal_env_gives_defaults() {
        let (c, warnings) = ok(&CliSettings::default(), &good_env());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.token.expose(), token(EXP));
        assert_eq!(c.claims.exp, Ok(i64::try_from(EXP).unwrap()));
        assert_eq!(c.email, EMAIL);
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert!(!c.token_from_file && !c.email_from_file);
        assert_eq!(c.whoami_timeout, DEFAULT_WHOAMI_TIMEOUT);
        assert_eq!(c.grace, DEFAULT_GRACE);
        assert_eq!(c.init, InitMode::Auto);
        assert!(!c.allow_unvalidated && !c.scrub_token);
        assert_eq!(c.write_credentials, None);
        assert_eq!(c.ssl_cert_file, None);
    }

    #[test]
    fn everything_from_the_environment() {
        let mut e = good_env();
        for (k, v) in [
            (vars::API_URL, "HTTPS://API-Sandbox.SystemPrompt.io/"),
            (vars::ALLOW_UNVALIDATED, "1"),
            (vars::SCRUB_TOKEN, "yes"),
            (vars::WHOAMI_TIMEOUT, "0.5"),
            (vars::GRACE, "0"),
            (vars::INIT, "Never"),
            (
                vars::WRITE_CREDENTIALS,
                "/app/.systemprompt/credentials.json",
            ),
            (vars::SSL_CERT_FILE, "/etc/ssl/extra.pem"),
            (vars::LOG, "debug"),
            (vars::FLY_APP_NAME, "my-app"),
        ] {
            e = with(e, k, v);
        }
        let (c, warnings) = ok(&CliSettings::default(), &e);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.api_url, "https://api-sandbox.systemprompt.io");
        assert!(c.allow_unvalidated && c.scrub_token);
        assert_eq!(c.whoami_timeout, Duration::from_millis(500));
        assert_eq!(c.grace, Duration::ZERO);
        assert_eq!(c.init, InitMode::Never);
        assert_eq!(
            c.write_credentials,
            Some(PathBuf::from("/app/.systemprompt/credentials.json"))
        );
        assert_eq!(c.ssl_cert_file, Some(PathBuf::from("/etc/ssl/extra.pem")));
    }

    #[test]
    fn cli_wins_over_the_environment() {
        let mut e = good_env();
        for (k, v) in [
            (vars::WHOAMI_TIMEOUT, "not-a-number"),
            (vars::GRACE, "-1"),
            (vars::INIT, "bogus"),
            (vars::WRITE_CREDENTIALS, "/from/env.json"),
            (vars::SCRUB_TOKEN, "maybe"),
        ] {
            e = with(e, k, v);
        }
        let cli = CliSettings {
            whoami_timeout: Some("12.25".into()),
            write_credentials: Some(PathBuf::from("/from/cli.json")),
            init: Some("ALWAYS".into()),
            grace: Some("300".into()),
            scrub_token: true,
        };
        let (c, _) = ok(&cli, &e);
        assert_eq!(c.whoami_timeout, Duration::from_millis(12_250));
        assert_eq!(c.grace, MAX_GRACE);
        assert_eq!(c.init, InitMode::Always);
        assert_eq!(c.write_credentials, Some(PathBuf::from("/from/cli.json")));
        assert!(c.scrub_token);
    }

    #[test]
    fn scrub_flag_false_on_cli_falls_back_to_env() {
        let (c, _) = ok(
            &CliSettings::default(),
            &with(good_env(), vars::SCRUB_TOKEN, "on"),
        );
        assert!(c.scrub_token);
        let p = problem(&with(good_env(), vars::SCRUB_TOKEN, "maybe"));
        assert_eq!(p.var, vars::SCRUB_TOKEN);
    }

    #[test]
    fn unrelated_and_unknown_variables_are_ignored() {
        let e = with(
            with(good_env(), "SYSTEMPROMPT_SOMETHING_NEW", "x"),
            "systemprompt_api_token",
            "garbage",
        );
        let e = with(
            with(e, "SYSTEMPROMPT_api_url", "ftp://x"),
            "SYSTEMPROMPT_LOG_FORMAT",
            "json",
        );
        ok(&CliSettings::default(), &e);
    }

    #[test]
    fn duplicate_variables_first_one_wins() {
        let mut e = good_env();
        e.push((vars::USER_EMAIL.to_owned(), "not an email".to_owned()));
        e.push((vars::API_TOKEN.to_owned(), "junk".to_owned()));
        let (c, _) = ok(&CliSettings::default(), &e);
        assert_eq!(c.email, EMAIL);
    }

    // ---- empty means unset; whitespace is trimmed with a warning ----

    #[test]
    fn empty_and_blank_values_count_as_unset() {
        let mut e = good_env();
        for k in [
            vars::API_URL,
            vars::ALLOW_UNVALIDATED,
            vars::SCRUB_TOKEN,
            vars::WHOAMI_TIMEOUT,
            vars::GRACE,
            vars::INIT,
            vars::WRITE_CREDENTIALS,
            vars::SSL_CERT_FILE,
            vars::API_TOKEN_FILE,
            vars::USER_EMAIL_FILE,
        ] {
            e = with(e, k, if k.len() % 2 == 0 { "" } else { " \t\n" });
        }
        let (c, warnings) = ok(&CliSettings::default(), &e);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.whoami_timeout, DEFAULT_WHOAMI_TIMEOUT);
        assert_eq!(c.write_credentials, None);
        assert_eq!(c.ssl_cert_file, None);

        let p = problems(&with(
            with(good_env(), vars::API_TOKEN, ""),
            vars::USER_EMAIL,
            "   ",
        ));
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!(p[0].var, vars::API_TOKEN);
        assert_eq!(p[1].var, vars::USER_EMAIL);
    }

    #[test]
    fn missing_token_and_email_messages() {
        let p = problems(&env(&[]));
        assert_eq!(
            p,
            vec![
                ConfigProblem {
                    var: vars::API_TOKEN.into(),
                    message: "not set; set it (fly secrets set SYSTEMPROMPT_API_TOKEN=...) or SYSTEMPROMPT_API_TOKEN_FILE to a file holding it".into(),
                },
                ConfigProblem {
                    var: vars::USER_EMAIL.into(),
                    message: "not set; set it (fly secrets set SYSTEMPROMPT_USER_EMAIL=...) or SYSTEMPROMPT_USER_EMAIL_FILE to a file holding it".into(),
                },
            ]
        );
        let shown = Error::Config(p).to_string();
        assert!(
            shown.starts_with(
                "invalid configuration (2 problems):\n  - SYSTEMPROMPT_API_TOKEN: not set;"
            ),
            "{shown}"
        );
    }

    #[test]
    fn surrounding_whitespace_is_trimmed_with_a_warning() {
        let t = token(EXP);
        let e = with(
            with(good_env(), vars::API_TOKEN, &format!("  {t}\n")),
            vars::USER_EMAIL,
            "\tuser@example.com ",
        );
        let e = with(
            with(e, vars::API_URL, " https://api.systemprompt.io/ "),
            vars::GRACE,
            "2\n",
        );
        let (c, warnings) = ok(&CliSettings::default(), &e);
        assert_eq!(c.token.expose(), t);
        assert_eq!(c.email, EMAIL);
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.grace, Duration::from_secs(2));
        assert_eq!(
            warnings,
            vec![
                "SYSTEMPROMPT_API_TOKEN had surrounding whitespace (a trailing newline?); it was trimmed",
                "SYSTEMPROMPT_USER_EMAIL had surrounding whitespace (a trailing newline?); it was trimmed",
                "SYSTEMPROMPT_API_URL had surrounding whitespace (a trailing newline?); it was trimmed",
                "SYSTEMPROMPT_GRACE had surrounding whitespace (a trailing newline?); it was trimmed",
            ]
        );
        for w in &warnings {
            assert_no_token(&t, w);
        }
    }

    // ---- _FILE ----

    #[test]
    fn token_and_email_from_files() {
        let t = token(EXP);
        let token_file = format!("{t}\n");
        let read = files(&[
            ("/run/secrets/token", token_file.as_bytes()),
            ("/run/secrets/email", b"user@example.com"),
        ]);
        let e = env(&[
            (vars::API_TOKEN_FILE, "/run/secrets/token"),
            (vars::USER_EMAIL_FILE, "/run/secrets/email"),
        ]);
        let (c, warnings) =
            load(&CliSettings::default(), &e, &read).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            warnings,
            vec![
                "SYSTEMPROMPT_API_TOKEN_FILE had surrounding whitespace in \"/run/secrets/token\" (a trailing newline?); it was trimmed"
            ],
            "the trimmed newline is reported, naming the variable"
        );
        assert_eq!(c.token.expose(), t);
        assert_eq!(c.email, EMAIL);
        assert!(c.token_from_file && c.email_from_file);
    }

    #[test]
    fn file_contents_are_trimmed_with_a_warning() {
        let t = token(EXP);
        let token_file = format!("\n  {t}\r\n\r\n");
        let read = files(&[
            ("/s/t", token_file.as_bytes()),
            ("/s/e", b"user@example.com\r\n"),
        ]);
        let e = env(&[
            (vars::API_TOKEN_FILE, " /s/t "),
            (vars::USER_EMAIL_FILE, "/s/e"),
        ]);
        let (c, warnings) =
            load(&CliSettings::default(), &e, &read).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.token.expose(), t);
        assert_eq!(c.email, EMAIL);
        assert_eq!(
            warnings,
            vec![
                "SYSTEMPROMPT_API_TOKEN_FILE had surrounding whitespace (a trailing newline?); it was trimmed",
                "SYSTEMPROMPT_API_TOKEN_FILE had surrounding whitespace in \"/s/t\" (a trailing newline?); it was trimmed",
                "SYSTEMPROMPT_USER_EMAIL_FILE had surrounding whitespace in \"/s/e\" (a trailing newline?); it was trimmed",
            ]
        );
    }

    #[test]
    fn missing_file_names_the_variable_path_and_os_error() {
        let e = with(
            without(good_env(), vars::API_TOKEN),
            vars::API_TOKEN_FILE,
            "/run/secrets/nope",
        );
        let p = problem(&e);
        assert_eq!(p.var, vars::API_TOKEN_FILE);
        assert!(
            p.message.starts_with(
                "cannot read \"/run/secrets/nope\": No such file or directory (os error 2); check"
            ),
            "{}",
            p.message
        );
    }

    #[test]
    fn unreadable_non_utf8_and_empty_files() {
        let read = files(&[
            ("/s/bin", b"\xff\xfe\x00token"),
            ("/s/empty", b" \n"),
            ("/s/e-bin", b"\xc3\x28"),
        ]);
        let e = env(&[
            (vars::API_TOKEN_FILE, "/s/bin"),
            (vars::USER_EMAIL_FILE, "/s/e-bin"),
        ]);
        let p = problems_with(&CliSettings::default(), &e, &read);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!(p[0].var, vars::API_TOKEN_FILE);
        assert_eq!(
            p[0].message,
            "\"/s/bin\" is not UTF-8 text; write the token into it as plain text"
        );
        assert_eq!(p[1].var, vars::USER_EMAIL_FILE);
        assert!(p[1].message.contains("not UTF-8"));

        let e = env(&[
            (vars::API_TOKEN_FILE, "/s/empty"),
            (vars::USER_EMAIL, EMAIL),
        ]);
        let p = problems_with(&CliSettings::default(), &e, &read);
        assert_eq!(
            p[0].message,
            "\"/s/empty\" is empty; write the token into it"
        );

        let denied = |_: &Path| -> io::Result<Vec<u8>> {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "Permission denied (os error 13)",
            ))
        };
        let e = env(&[(vars::API_TOKEN_FILE, "/s/t"), (vars::USER_EMAIL, EMAIL)]);
        let p = problems_with(&CliSettings::default(), &e, &denied);
        assert!(
            p[0].message.contains("Permission denied (os error 13)"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn variable_and_file_both_set() {
        let e = with(
            with(good_env(), vars::API_TOKEN_FILE, "/s/t"),
            vars::USER_EMAIL_FILE,
            "/s/e",
        );
        let p = problems(&e);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!(
            p[0].var,
            "SYSTEMPROMPT_API_TOKEN / SYSTEMPROMPT_API_TOKEN_FILE"
        );
        assert_eq!(
            p[0].message,
            "both are set; set only one: unset SYSTEMPROMPT_API_TOKEN_FILE to use SYSTEMPROMPT_API_TOKEN, or unset SYSTEMPROMPT_API_TOKEN to read it from the file"
        );
        assert_eq!(
            p[1].var,
            "SYSTEMPROMPT_USER_EMAIL / SYSTEMPROMPT_USER_EMAIL_FILE"
        );
        // An empty variable beside a file is not "both".
        let read = files(&[("/s/e", b"user@example.com\n")]);
        let e = with(
            with(good_env(), vars::USER_EMAIL, ""),
            vars::USER_EMAIL_FILE,
            "/s/e",
        );
        load(&CliSettings::default(), &e, &read).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn token_pasted_into_the_file_variable_is_not_echoed() {
        let t = token(EXP);
        let e = with(
            without(good_env(), vars::API_TOKEN),
            vars::API_TOKEN_FILE,
            &t,
        );
        let p = problem(&e);
        assert_eq!(p.var, vars::API_TOKEN_FILE);
        assert!(
            p.message
                .starts_with("holds what looks like the token itself"),
            "{}",
            p.message
        );
        assert_no_token(&t, &p.to_string());
    }

    #[test]
    fn token_pasted_into_the_email_file_variable_is_not_echoed() {
        // Found by the config_load fuzz target: with no token variable to redact with, the
        // "cannot read" message quoted the path, which was the token.
        let t = token(EXP);
        let e = with(
            without(without(good_env(), vars::API_TOKEN), vars::USER_EMAIL),
            vars::USER_EMAIL_FILE,
            &t,
        );
        let all = problems(&e);
        assert_eq!(all.len(), 2, "{all:#?}");
        let p = all
            .iter()
            .find(|p| p.var == vars::USER_EMAIL_FILE)
            .unwrap_or_else(|| panic!("{all:#?}"));
        assert!(
            p.message
                .starts_with("holds what looks like the token itself"),
            "{}",
            p.message
        );
        assert!(p.message.contains(vars::API_TOKEN), "{}", p.message);
        for p in &all {
            assert_no_token(&t, &p.to_string());
        }
    }

    #[test]
    fn a_token_inside_another_value_is_refused_and_not_echoed() {
        // Found by the config_load fuzz target: `user@<token>` is a valid email by the upstream
        // rules, and would have been logged; so would a URL path or a file path holding it.
        let t = token(EXP);
        let jwt = t.trim_start_matches("sp_live_");
        for (var, value) in [
            (vars::USER_EMAIL, format!("user@{t}")),
            (vars::USER_EMAIL, format!("user@{jwt}.com")),
            (vars::USER_EMAIL, t.clone()),
            (vars::API_URL, format!("https://api.systemprompt.io/{t}")),
            (vars::WRITE_CREDENTIALS, format!("/tmp/{t}x")),
            (vars::SSL_CERT_FILE, format!("/etc/{jwt}")),
            (vars::INIT, t.clone()),
        ] {
            let e = with(good_env(), var, &value);
            let all = problems(&e);
            assert!(
                all.iter()
                    .any(|p| p.var == var && p.message == TOKEN_ELSEWHERE),
                "{var}={value}: {all:#?}"
            );
            for p in &all {
                assert_no_token(&t, &p.to_string());
            }
        }
        let read = files(&[("/s/e", format!("me@{t}").as_bytes())]);
        let e = with(
            without(good_env(), vars::USER_EMAIL),
            vars::USER_EMAIL_FILE,
            "/s/e",
        );
        let err = load(&CliSettings::default(), &e, &read)
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_else(|| panic!("accepted"));
        assert!(
            err.contains("USER_EMAIL_FILE: holds what looks like the API token"),
            "{err}"
        );
        assert_no_token(&t, &err);
        let cli = CliSettings {
            write_credentials: Some(PathBuf::from(format!("/x/{t}"))),
            ..CliSettings::default()
        };
        let all = problems_with(&cli, &good_env(), &no_files);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_eq!(all[0].var, "--write-credentials");
        // Look-alikes are not tokens.
        for fine in [
            "bob@mail.heyJoe.co.uk",
            "a@eyJ.b.c",
            "eyJhbGciOiJIUzI1NiJ9@x.io",
        ] {
            assert!(!contains_token(fine), "{fine}");
        }
    }

    // ---- token ----

    #[test]
    fn malformed_token_is_reported_on_the_supplying_variable() {
        let p = problem(&with(good_env(), vars::API_TOKEN, "sp_live_abc"));
        assert_eq!(p.var, vars::API_TOKEN);
        assert!(
            p.to_string().starts_with(
                "SYSTEMPROMPT_API_TOKEN: not a JWT: expected three dot-separated parts after an optional prefix like sp_live_"
            ),
            "{p}"
        );
        assert!(p.message.contains("copy the whole token"));

        let bad = token_with_payload(r#"{"exp":"tomorrow"}"#);
        let read = files(&[("/s/t", bad.as_bytes())]);
        let e = with(
            without(good_env(), vars::API_TOKEN),
            vars::API_TOKEN_FILE,
            "/s/t",
        );
        let p = problems_with(&CliSettings::default(), &e, &read);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].var, vars::API_TOKEN_FILE);
        assert!(
            p[0].message
                .starts_with("the token in \"/s/t\": malformed JWT: the \"exp\" claim"),
            "{}",
            p[0].message
        );
        assert_no_token(&bad, &p[0].to_string());
    }

    #[test]
    fn expired_token_is_not_a_config_problem() {
        let (c, _) = ok(
            &CliSettings::default(),
            &with(good_env(), vars::API_TOKEN, &token(1)),
        );
        assert_eq!(c.claims.exp, Ok(1));
    }

    // ---- email ----

    #[test]
    fn email_rules() {
        for good in [
            "user@example.com",
            "a@b.co",
            "first.last+tag@mail.example.org",
            "x_y-z@sub.domain.io",
            "ü@exämple.de",
        ] {
            assert_eq!(validate_email(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("userexample.com", "no '@'"),
            ("a@b@example.com", "more than one '@'"),
            ("@example.com", "nothing before the '@'"),
            (".user@example.com", "starts or ends with '.'"),
            ("user.@example.com", "starts or ends with '.'"),
            ("us..er@example.com", "contains '..'"),
            ("user@", "nothing after the '@'"),
            ("user@localhost", "has no '.'"),
            ("user@.example.com", "starts or ends with '.'"),
            ("user@example.com.", "starts or ends with '.'"),
            ("user@example..com", "contains '..'"),
            ("user@example.c", "shorter than 2 characters"),
            ("user @example.com", "whitespace"),
            ("user@example.com\n", "whitespace"),
            ("user@exa\u{0}mple.com", "control character"),
            ("user@exa\u{a0}mple.com", "whitespace"),
        ] {
            let err = validate_email(bad).err().unwrap_or_default();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(
                err.ends_with(
                    "set it to the email of your SystemPrompt account, like user@example.com"
                ),
                "{err}"
            );
        }
        let p = problem(&with(good_env(), vars::USER_EMAIL, "someone@nowhere"));
        assert_eq!(p.var, vars::USER_EMAIL);
        assert_eq!(
            p.to_string(),
            "SYSTEMPROMPT_USER_EMAIL: the domain (after the '@') has no '.'; set it to the email of your SystemPrompt account, like user@example.com"
        );
    }

    // ---- URL ----

    #[test]
    fn url_accepts_and_normalises() {
        for (input, want) in [
            ("https://api.systemprompt.io", "https://api.systemprompt.io"),
            (
                "https://api.systemprompt.io/",
                "https://api.systemprompt.io",
            ),
            (
                "HTTPS://API.SystemPrompt.IO//",
                "https://api.systemprompt.io",
            ),
            (
                "https://api-sandbox.systemprompt.io",
                "https://api-sandbox.systemprompt.io",
            ),
            (
                "https://example.com:8443/cloud/",
                "https://example.com:8443/cloud",
            ),
            (
                "https://example.com/Cloud/V1",
                "https://example.com/Cloud/V1",
            ),
            ("https://example.com:0443", "https://example.com:443"),
            ("https://10.0.0.1", "https://10.0.0.1"),
            ("https://fake_cloud:8080", "https://fake_cloud:8080"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("HTTP://LocalHost", "http://localhost"),
            ("http://127.0.0.1:1", "http://127.0.0.1:1"),
            ("http://127.255.0.9:65535/x", "http://127.255.0.9:65535/x"),
            ("http://[::1]:9000/", "http://[::1]:9000"),
            ("http://[0:0:0:0:0:0:0:1]", "http://[::1]"),
            ("https://[2001:DB8::1]:443", "https://[2001:db8::1]:443"),
            (
                "https://example.com/a%2Fb/~x",
                "https://example.com/a%2Fb/~x",
            ),
        ] {
            assert_eq!(validate_api_url(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn url_rejections() {
        for (bad, why) in [
            ("", "is empty"),
            ("api.systemprompt.io", "not an absolute URL"),
            ("ftp://api.systemprompt.io", "scheme other than https"),
            ("https//api.systemprompt.io", "not an absolute URL"),
            ("http://api.systemprompt.io", "allowed only for localhost"),
            ("http://128.0.0.1", "allowed only for localhost"),
            ("http://localhost.evil.com", "allowed only for localhost"),
            ("http://[::2]", "allowed only for localhost"),
            ("https://", "has no host"),
            ("https:///path", "has no host"),
            ("https://:443", "has no host"),
            ("https://user:pw@example.com", "user info"),
            ("https://example.com?x=1", "query"),
            ("https://example.com/#frag", "fragment"),
            ("https://example.com:", "invalid port"),
            ("https://example.com:0", "invalid port"),
            ("https://example.com:65536", "invalid port"),
            ("https://example.com:+80", "invalid port"),
            ("https://example.com:80x", "invalid port"),
            ("https://example.com:99999999999999999999", "invalid port"),
            ("https://::1", "more than one ':'"),
            ("https://[::1", "closing ']'"),
            ("https://[nope]", "invalid IPv6"),
            ("https://[::1]x", "other than :PORT"),
            ("https://exa mple.com", "whitespace"),
            ("https://example.com\n", "whitespace"),
            ("https://exämple.com", "xn--"),
            ("https://example..com", "empty label"),
            ("https://.example.com", "empty label"),
            ("https://example.com/a b", "whitespace"),
            ("https://example.com/a\"b", "path"),
            ("https://example.com/a%zz", "path"),
            ("https://example.com/a%2", "path"),
            ("https://example.com/\\x", "path"),
        ] {
            let err = validate_api_url(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(
                err.contains("https://api.systemprompt.io"),
                "{bad:?}: no fix in {err}"
            );
        }
    }

    #[test]
    fn url_problem_in_load() {
        let p = problem(&with(
            good_env(),
            vars::API_URL,
            "http://api.systemprompt.io",
        ));
        assert_eq!(p.var, vars::API_URL);
        assert_eq!(
            p.message,
            "uses http://, which is allowed only for localhost, 127.0.0.0/8 and [::1]; use https://, like https://api.systemprompt.io"
        );
    }

    #[test]
    fn url_hosts_the_url_parser_reads_otherwise_are_refused() {
        // Found by the validators fuzz target: whoami's (WHATWG) URL parser reads a host whose
        // last label is a number as an IPv4 address, so `0p.50` passed validation and then
        // failed in whoami, and `10.0x1` would have been contacted as 10.0.0.1.
        for bad in [
            "https://0p.50",
            "https://10.0x1",
            "https://1.2.3.4.5",
            "https://api.example.123",
            "https://0x7f.0.0.1",
        ] {
            let err = validate_api_url(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(err.contains("dotted-decimal IPv4"), "{bad:?}: {err}");
        }
        for good in [
            "https://api.example.io",
            "https://10.0.0.1",
            "https://a.b-c.d9",
        ] {
            assert_eq!(validate_api_url(good).as_deref(), Ok(good));
        }
    }

    // ---- flags and options ----

    #[test]
    fn boolean_values() {
        for (v, want) in [
            ("1", true),
            ("true", true),
            ("TRUE", true),
            ("Yes", true),
            ("on", true),
            ("0", false),
            ("false", false),
            ("No", false),
            ("OFF", false),
        ] {
            assert_eq!(parse_bool(v), Some(want), "{v}");
            let (c, _) = ok(
                &CliSettings::default(),
                &with(good_env(), vars::ALLOW_UNVALIDATED, v),
            );
            assert_eq!(c.allow_unvalidated, want, "{v}");
        }
        for v in ["2", "y", "enable", "truee", "-1"] {
            assert_eq!(parse_bool(v), None, "{v}");
        }
        let p = problem(&with(good_env(), vars::ALLOW_UNVALIDATED, "sure"));
        assert_eq!(p.var, vars::ALLOW_UNVALIDATED);
        assert_eq!(
            p.message,
            "\"sure\" is not a yes/no value; use 1, true, yes or on to enable, or 0, false, no or off (or leave it unset) to disable"
        );
    }

    #[test]
    fn seconds_parsing() {
        assert_eq!(parse_seconds("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds("007.250"), Some(Duration::from_millis(7250)));
        assert_eq!(parse_seconds("1.0000000019"), Some(Duration::new(1, 1)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        assert_eq!(
            parse_seconds("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in [
            "", ".", ".5", "5.", "-1", "+1", "1e3", "inf", "NaN", "30s", "1,5", "1.2.3", " 1",
            "0x10", "１",
        ] {
            assert_eq!(parse_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn whoami_timeout_range() {
        let name = "--whoami-timeout / SYSTEMPROMPT_WHOAMI_TIMEOUT";
        let (c, _) = ok(
            &CliSettings::default(),
            &with(good_env(), vars::WHOAMI_TIMEOUT, "3600"),
        );
        assert_eq!(c.whoami_timeout, MAX_WHOAMI_TIMEOUT);
        for (v, why) in [
            ("0", "must be more than 0 seconds"),
            ("0.000", "must be more than 0 seconds"),
            ("3600.001", "more than the maximum of 3600 seconds"),
            ("99999999999999999999999", "more than the maximum"),
            ("abc", "\"abc\" is not a number of seconds"),
            ("-5", "is not a number of seconds"),
        ] {
            let p = problem(&with(good_env(), vars::WHOAMI_TIMEOUT, v));
            assert_eq!(p.var, name);
            assert!(p.message.contains(why), "{v}: {}", p.message);
            assert!(
                p.message
                    .contains("give a number of seconds (more than 0 and at most 3600), like 30"),
                "{}",
                p.message
            );
        }
        let cli = CliSettings {
            whoami_timeout: Some("0".into()),
            ..CliSettings::default()
        };
        let p = problems_with(&cli, &good_env(), &no_files);
        assert_eq!(p[0].var, name);
    }

    #[test]
    fn grace_range() {
        let (c, _) = ok(&CliSettings::default(), &with(good_env(), vars::GRACE, "0"));
        assert_eq!(c.grace, Duration::ZERO);
        let (c, _) = ok(
            &CliSettings::default(),
            &with(good_env(), vars::GRACE, "2.5"),
        );
        assert_eq!(c.grace, Duration::from_millis(2500));
        let p = problem(&with(good_env(), vars::GRACE, "301"));
        assert_eq!(p.var, "--grace / SYSTEMPROMPT_GRACE");
        assert_eq!(
            p.message,
            "\"301\" is more than the maximum of 300 seconds; give a number of seconds (from 0 to 300), like 5"
        );
    }

    #[test]
    fn init_modes() {
        for (v, want) in [
            ("auto", InitMode::Auto),
            ("AUTO", InitMode::Auto),
            ("always", InitMode::Always),
            ("Never", InitMode::Never),
        ] {
            let (c, _) = ok(&CliSettings::default(), &with(good_env(), vars::INIT, v));
            assert_eq!(c.init, want);
        }
        let p = problem(&with(good_env(), vars::INIT, "tini"));
        assert_eq!(p.var, "--init / SYSTEMPROMPT_INIT");
        assert_eq!(
            p.message,
            "\"tini\" is not a mode; use auto, always or never (default: auto)"
        );
    }

    #[test]
    fn empty_cli_values_are_problems() {
        let cli = CliSettings {
            whoami_timeout: Some(" ".into()),
            write_credentials: Some(PathBuf::new()),
            init: Some(String::new()),
            grace: Some(String::new()),
            scrub_token: false,
        };
        let p = problems_with(&cli, &good_env(), &no_files);
        let vars: Vec<&str> = p.iter().map(|p| p.var.as_str()).collect();
        assert_eq!(
            vars,
            [
                "--whoami-timeout / SYSTEMPROMPT_WHOAMI_TIMEOUT",
                "--grace / SYSTEMPROMPT_GRACE",
                "--init / SYSTEMPROMPT_INIT",
                "--write-credentials / SYSTEMPROMPT_WRITE_CREDENTIALS",
            ]
        );
        assert!(
            p[0].message
                .starts_with("--whoami-timeout is given an empty value; give a number of seconds"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn write_credentials_and_ssl_cert_file() {
        let e = with(
            with(good_env(), vars::WRITE_CREDENTIALS, " /app/creds.json\n"),
            vars::SSL_CERT_FILE,
            "/etc/ca.pem",
        );
        let (c, warnings) = ok(&CliSettings::default(), &e);
        assert_eq!(c.write_credentials, Some(PathBuf::from("/app/creds.json")));
        assert_eq!(c.ssl_cert_file, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("SYSTEMPROMPT_WRITE_CREDENTIALS had surrounding whitespace")
        );
    }

    // ---- all at once; never the token ----

    #[test]
    fn every_problem_is_reported_in_one_run() {
        let e = env(&[
            (vars::API_TOKEN, "sp_live_not.a.jwt"),
            (vars::USER_EMAIL, "nobody"),
            (vars::API_URL, "http://api.systemprompt.io"),
            (vars::ALLOW_UNVALIDATED, "perhaps"),
            (vars::SCRUB_TOKEN, "2"),
            (vars::WHOAMI_TIMEOUT, "0"),
            (vars::GRACE, "1h"),
            (vars::INIT, "sometimes"),
        ]);
        let p = problems(&e);
        let vars: Vec<&str> = p.iter().map(|p| p.var.as_str()).collect();
        assert_eq!(
            vars,
            [
                vars::API_TOKEN,
                vars::USER_EMAIL,
                vars::API_URL,
                vars::ALLOW_UNVALIDATED,
                vars::SCRUB_TOKEN,
                option_names::WHOAMI_TIMEOUT,
                option_names::GRACE,
                option_names::INIT,
            ]
        );
        let shown = Error::Config(p).to_string();
        assert!(
            shown.starts_with(
                "invalid configuration (8 problems):\n  - SYSTEMPROMPT_API_TOKEN: not a JWT"
            ),
            "{shown}"
        );
        assert_eq!(shown.lines().count(), 9);
    }

    #[test]
    fn the_token_never_appears_in_any_message_or_debug() {
        let t = token(EXP);
        let bare = t.strip_prefix("sp_live_").unwrap_or_default().to_owned();
        let truncated = t[..t.len() - 20].replace('.', "");
        let cases: Vec<Vec<(String, String)>> = vec![
            // The token in every wrong place at once.
            env(&[
                (vars::API_TOKEN, &format!(" {t} x")),
                (vars::USER_EMAIL, &t),
                (vars::API_URL, &t),
                (vars::ALLOW_UNVALIDATED, &t),
                (vars::SCRUB_TOKEN, &t),
                (vars::WHOAMI_TIMEOUT, &t),
                (vars::GRACE, &t),
                (vars::INIT, &t),
                (vars::USER_EMAIL_FILE, &t),
            ]),
            env(&[
                (vars::API_TOKEN, &truncated),
                (vars::USER_EMAIL, &format!("{bare}@example.com")),
            ]),
            env(&[
                (vars::API_TOKEN, &format!("\"{t}\"")),
                (vars::API_URL, &format!("https://x.io/?{t}")),
            ]),
            env(&[(vars::API_TOKEN_FILE, &t), (vars::USER_EMAIL, EMAIL)]),
            env(&[
                (vars::API_TOKEN, &t),
                (vars::API_TOKEN_FILE, &t),
                (vars::USER_EMAIL, &format!("{t}@x")),
            ]),
            env(&[
                (vars::API_TOKEN, &format!("{t}\n{t}")),
                (vars::API_URL, &format!("https://{bare}:1@x.io")),
            ]),
        ];
        let cli = CliSettings {
            whoami_timeout: Some(t.clone()),
            init: Some(t.clone()),
            ..CliSettings::default()
        };
        for (i, e) in cases.iter().enumerate() {
            for cli in [&CliSettings::default(), &cli] {
                let read = files(&[]);
                match load(cli, e, &read) {
                    Ok((c, w)) => panic!("case {i}: accepted {c:?} {w:?}"),
                    Err(err) => {
                        assert_no_token(&t, &err.to_string());
                        assert_no_token(&t, &format!("{err:?}"));
                    }
                }
            }
        }
        // The success path: Debug of the config and the warnings.
        let (c, w) = ok(
            &CliSettings::default(),
            &with(good_env(), vars::API_TOKEN, &format!("\n{t}\n")),
        );
        assert_no_token(&t, &format!("{c:?} {c:#?} {w:?}"));
        assert!(format!("{c:?}").contains("Secret(***)"));
    }
}
