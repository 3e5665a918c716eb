//! [`load`]: the command line and the environment validated into the typed settings: the
//! logging settings (always, so that the problems can be reported in the chosen format) and the
//! [`Config`] of the bootstrap, or every problem at once. No network I/O.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use tracing_subscriber::filter::Targets;

use super::source::{
    CliValues, Env, ReadFile, Report, Required, Sourced, read_failure, shown, token_elsewhere,
};
use super::spec::{
    self, ALLOW_UNVALIDATED, API_TOKEN, API_TOKEN_FILE, API_URL, DEFAULT_API_URL, GRACE, INIT,
    Kind, LOG, LOG_FORMAT, ON_EXPIRY, SCRUB_TOKEN, SSL_CERT_FILE, Setting, USER_EMAIL,
    USER_EMAIL_FILE, WHOAMI_TIMEOUT, WRITE_CREDENTIALS,
};
use super::validate::{
    DEFAULT_FILTER, ca_bundle, parse_bool, parse_filter, parse_init_mode, parse_seconds, printable,
    validate_api_url, validate_email, validate_path,
};
use crate::error::Error;
use crate::platform::Platform;
use crate::token::{Claims, Secret};

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

/// `--on-expiry` / `SYSTEMPROMPT_ON_EXPIRY`: what the token-expiry watch ([`crate::expiry`]) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExpiry {
    /// Warn before `exp`, log an error at `exp`; the app keeps running.
    #[default]
    Warn,
    /// As `warn`, and stop the app at `exp` (SIGTERM, SIGKILL after `--grace`).
    Stop,
    /// No watch.
    Off,
}

impl OnExpiry {
    /// Parse `warn|stop|off` (case-insensitive, surrounding whitespace ignored).
    pub fn parse(value: &str) -> Option<OnExpiry> {
        match value.trim().to_ascii_lowercase().as_str() {
            "warn" => Some(OnExpiry::Warn),
            "stop" => Some(OnExpiry::Stop),
            "off" => Some(OnExpiry::Off),
            _ => None,
        }
    }

    /// `warn`, `stop` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnExpiry::Warn => "warn",
            OnExpiry::Stop => "stop",
            OnExpiry::Off => "off",
        }
    }
}

/// The log line format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shipping.
    Json,
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

/// The logging settings. A bad value is a configuration problem (reported with the others) and
/// the default stands in for it meanwhile.
#[derive(Debug)]
pub struct LogSettings {
    /// Text or JSON lines.
    pub format: LogFormat,
    /// What is logged.
    pub filter: Targets,
    /// Fields added to every line.
    pub fly: FlyContext,
}

/// The validated configuration of the bootstrap.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // independent yes/no settings, not a state machine
pub struct Config {
    /// The token (trimmed).
    pub token: Secret,
    /// Its decoded claims.
    pub claims: Claims,
    /// The account email (trimmed).
    pub email: String,
    /// The API URL, normalised (no trailing slash); whoami trusts it as it is.
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
    /// Grace period for leftover processes (and for the app, stopped at expiry).
    pub grace: Duration,
    /// What the token-expiry watch does.
    pub on_expiry: OnExpiry,
    /// Remove the token from the app's environment.
    pub scrub_token: bool,
    /// `SSL_CERT_FILE`, when set (not empty).
    pub ssl_cert_file: Option<PathBuf>,
    /// Where the container runs (from the environment): fixes name the platform's commands.
    pub platform: Platform,
}

/// What [`load`] gives: the logging settings, always, and the configuration with the warnings
/// to log, or every problem.
#[derive(Debug)]
pub struct Loaded {
    /// The logging settings (defaults where a value was bad).
    pub log: LogSettings,
    /// The configuration and warnings (e.g. trimmed whitespace), or [`Error::Config`].
    pub config: Result<(Config, Vec<String>), Error>,
}

/// Validate `env` (name/value pairs, as the OS gives them) and `cli` into the logging
/// settings and a [`Config`]. `read_file` reads `_FILE` variables (injected for tests). Every
/// problem is reported at once as [`Error::Config`]. Token expiry is NOT checked here (see
/// [`crate::token::expiry`]).
///
/// Empty or whitespace-only variables count as unset; command-line values win over variables
/// (an empty command-line value is a problem). [`crate::error::ConfigProblem::var`] is the
/// variable at fault, `X / X_FILE` when both are set, or `--option / VARIABLE` for options. No
/// message or warning contains the token.
pub fn load<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    cli: &CliValues,
    env: &[(K, V)],
    read_file: ReadFile<'_>,
) -> Loaded {
    let mut r = Report::default();
    r.set_platform(Platform::detect(|name| {
        env.iter()
            .any(|(k, _)| AsRef::<std::ffi::OsStr>::as_ref(k) == name)
    }));
    let mut env = Env::read(env).unwrap_or_else(|e| {
        // Unreachable with string values and de-duplicated names; reported, not panicked.
        r.problem(
            "SYSTEMPROMPT_*",
            format!("the environment cannot be read ({e}); check the SYSTEMPROMPT_ variables"),
        );
        Env::default()
    });
    let mut log = r.log_settings(cli, &env);
    let token = r.token(&mut env, read_file);
    let email = r.email(&mut env, read_file);
    let api_url = match r.var(&env, &API_URL) {
        None => Some(DEFAULT_API_URL.to_owned()),
        Some(url) => validate_api_url(&url)
            .map_err(|msg| r.problem(API_URL.var, msg))
            .ok(),
    };
    let options = r.options(cli, &env, read_file);
    r.refuse_pasted_tokens(&env, cli);
    r.refuse_non_utf8(&env);
    // A `FLY_*` value refused above (a pasted token, which only now can be recognised in any
    // letter case; bytes that are not UTF-8) stays out of every log line, the error's included.
    for (setting, field) in [
        (&spec::FLY_APP_NAME, &mut log.fly.app),
        (&spec::FLY_MACHINE_ID, &mut log.fly.machine),
        (&spec::FLY_REGION, &mut log.fly.region),
    ] {
        if r.problems.iter().any(|p| p.var == setting.var) {
            *field = None;
        }
    }
    r.redact();
    let config = match (token, email, api_url) {
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
                ..options
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
    };
    Loaded { log, config }
}

/// A value, or `None` when unset, empty or blank (not trimmed, no warning).
fn non_blank(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

impl Report {
    /// The logging settings; their problems come first in the report.
    fn log_settings(&mut self, cli: &CliValues, env: &Env) -> LogSettings {
        let format = match cli.get(&LOG_FORMAT).map(|v| v.to_string_lossy()) {
            Some(v) => parse_log_format(&v).unwrap_or_default(),
            None => match non_blank(env.get(&LOG_FORMAT)) {
                None => LogFormat::Text,
                Some(v) => parse_log_format(v.trim()).unwrap_or_else(|| {
                    self.problem(
                        LOG_FORMAT.var,
                        format!(
                            "{} is not a log format; use `text` or `json`",
                            quoted(v.trim())
                        ),
                    );
                    LogFormat::Text
                }),
            },
        };
        let cli_filter = cli.get(&LOG).map(|v| v.to_string_lossy().into_owned());
        let (filter_var, filter_spec) = match (&cli_filter, non_blank(env.get(&LOG))) {
            (Some(s), _) => ("--log", s.as_str()),
            (None, Some(s)) => (LOG.var, s.trim()),
            (None, None) => ("", DEFAULT_FILTER),
        };
        let filter = parse_filter(filter_spec).unwrap_or_else(|message| {
            self.problem(filter_var, message);
            parse_filter(DEFAULT_FILTER).unwrap_or_default()
        });
        // Added to every log line: refused (and left out) when not printable as it is.
        let mut fly = |s: &Setting| {
            let v = non_blank(env.get(s))?;
            match printable(v) {
                Ok(()) => Some(v.to_owned()),
                Err(msg) => {
                    self.problem(s.var, msg);
                    None
                }
            }
        };
        let fly = FlyContext {
            app: fly(&spec::FLY_APP_NAME),
            machine: fly(&spec::FLY_MACHINE_ID),
            region: fly(&spec::FLY_REGION),
        };
        LogSettings {
            format,
            filter,
            fly,
        }
    }

    /// The token from `SYSTEMPROMPT_API_TOKEN` or its `_FILE`, with its claims.
    fn token(&mut self, env: &mut Env, read_file: ReadFile<'_>) -> Option<(Sourced, Claims)> {
        let req = Required {
            var: &API_TOKEN,
            file_var: &API_TOKEN_FILE,
            what: "the token",
            secret: true,
        };
        let token = self.required(&req, env, read_file)?;
        match crate::token::decode_claims(token.value.expose()) {
            Ok(claims) => Some((token, claims)),
            Err(e) => {
                let (var, message) = match &token.file {
                    None => (API_TOKEN.var, e.to_string()),
                    Some(path) => (API_TOKEN_FILE.var, format!("the token in {path:?}: {e}")),
                };
                self.problem(var, message);
                None
            }
        }
    }

    /// The email from `SYSTEMPROMPT_USER_EMAIL` or its `_FILE`, and whether it came from the file.
    fn email(&mut self, env: &mut Env, read_file: ReadFile<'_>) -> Option<(String, bool)> {
        let req = Required {
            var: &USER_EMAIL,
            file_var: &USER_EMAIL_FILE,
            what: "the email",
            secret: false,
        };
        let email = self.required(&req, env, read_file)?;
        let var = if email.file.is_some() {
            USER_EMAIL_FILE.var
        } else {
            USER_EMAIL.var
        };
        if self.holds_token(email.value.expose()) {
            self.problem(var, token_elsewhere());
            return None;
        }
        match validate_email(email.value.expose()) {
            Ok(()) => Some((email.value.expose().to_owned(), email.file.is_some())),
            Err(msg) => {
                match &email.file {
                    None => self.problem(var, msg),
                    Some(path) => self.problem(var, format!("the email in {path:?} {msg}")),
                }
                None
            }
        }
    }

    /// A yes/no setting: its flag when given on the command line (the variable is not even
    /// looked at then), else its variable; unset or empty is `false`.
    fn yes_no(&mut self, setting: &'static Setting, cli: &CliValues, env: &Env) -> bool {
        if cli.get(setting).is_some() {
            return true;
        }
        let Some(v) = self.var(env, setting) else {
            return false;
        };
        parse_bool(&v).unwrap_or_else(|| {
            self.problem(
                setting.var,
                format!(
                    "{} is not a yes/no value; use 1, true, yes or on to enable, or 0, false, no or off (or leave it unset) to disable",
                    shown(&v)
                ),
            );
            false
        })
    }

    /// On only for exactly `1` (the option, or the variable as set, untrimmed), as the
    /// SystemPrompt app reads it; any other non-blank value is off, with a warning naming the
    /// variable (never its value: it may be something pasted in the wrong place).
    fn exactly_one(&mut self, setting: &'static Setting, cli: &CliValues, env: &Env) -> bool {
        if cli.get(setting).is_some() {
            return true;
        }
        match env.get(setting) {
            Some("1") => true,
            Some(v) if !v.trim().is_empty() => {
                self.warnings.push(format!(
                    "{} is set but not to exactly `1`, so it is off: only `1` is honoured (by the SystemPrompt app too, which would then refuse to start unvalidated)",
                    setting.var
                ));
                false
            }
            _ => false,
        }
    }

    /// A number of seconds within the setting's bounds; its default when unset or invalid.
    fn seconds(&mut self, setting: &'static Setting, cli: &CliValues, env: &Env) -> Duration {
        let Kind::Seconds {
            default,
            max,
            zero_ok,
        } = setting.kind
        else {
            self.problem(
                setting.var,
                "is not a number of seconds; this is a bug, please report it",
            );
            return Duration::ZERO;
        };
        let name = setting.problem_name();
        let range = if zero_ok {
            format!("from 0 to {}", max.as_secs())
        } else {
            format!("more than 0 and at most {}", max.as_secs())
        };
        let hint = format!(
            "give a number of seconds ({range}), like {}",
            default.as_secs()
        );
        let Some(v) = self.pick(setting, cli, env, &hint) else {
            return default;
        };
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

    /// The flags and options (each defaulted when invalid, with a problem recorded), as a
    /// [`Config`] whose token, email and URL are still to be filled in.
    fn options(&mut self, cli: &CliValues, env: &Env, read_file: ReadFile<'_>) -> Config {
        let allow_unvalidated = self.exactly_one(&ALLOW_UNVALIDATED, cli, env);
        let scrub_token = self.yes_no(&SCRUB_TOKEN, cli, env);
        // On Fly.io (its app-name variable present, even empty) the app never reads the file:
        // without the token in its environment it has no credentials at all.
        if scrub_token && env.get(&spec::FLY_APP_NAME).is_some() {
            self.problem(
                &SCRUB_TOKEN.problem_name(),
                format!(
                    "cannot be used on Fly.io ({} is set): there the SystemPrompt app reads its credentials only from the environment, never from a credentials file, so it would have none; drop {}",
                    spec::FLY_APP_NAME.var,
                    SCRUB_TOKEN.problem_name()
                ),
            );
        }
        let whoami_timeout = self.seconds(&WHOAMI_TIMEOUT, cli, env);
        let grace = self.seconds(&GRACE, cli, env);
        let init_hint = "use auto, always or never";
        let init = match self.pick(&INIT, cli, env, init_hint) {
            Some(v) => parse_init_mode(&v).unwrap_or_else(|| {
                self.problem(
                    &INIT.problem_name(),
                    format!(
                        "{} is not a mode; {init_hint} (default: {})",
                        shown(&v),
                        INIT.default_shown().unwrap_or_default()
                    ),
                );
                InitMode::Auto
            }),
            None => InitMode::Auto,
        };
        let on_expiry_hint = "use warn, stop or off";
        let on_expiry = match self.pick(&ON_EXPIRY, cli, env, on_expiry_hint) {
            Some(v) => OnExpiry::parse(&v).unwrap_or_else(|| {
                self.problem(
                    &ON_EXPIRY.problem_name(),
                    format!(
                        "{} is not a mode; {on_expiry_hint} (default: {})",
                        shown(&v),
                        ON_EXPIRY.default_shown().unwrap_or_default()
                    ),
                );
                OnExpiry::Warn
            }),
            None => OnExpiry::Warn,
        };
        let write_credentials = match cli.get(&WRITE_CREDENTIALS) {
            Some(p) if p.is_empty() => {
                self.problem(
                    &WRITE_CREDENTIALS.problem_name(),
                    "--write-credentials is given an empty path; give the path of the credentials.json to write, or leave it out",
                );
                None
            }
            Some(p) => self
                .path(&WRITE_CREDENTIALS.problem_name(), &p.to_string_lossy())
                .then(|| PathBuf::from(p)),
            None => self
                .var(env, &WRITE_CREDENTIALS)
                .filter(|p| self.path(WRITE_CREDENTIALS.var, p))
                .map(PathBuf::from),
        };
        let ssl_cert_file = self.ssl_cert_file(env, read_file);
        Config {
            token: Secret::new(String::new()),
            claims: Claims::default(),
            email: String::new(),
            api_url: String::new(),
            token_from_file: false,
            email_from_file: false,
            whoami_timeout,
            allow_unvalidated,
            write_credentials,
            init,
            grace,
            on_expiry,
            scrub_token,
            ssl_cert_file,
            platform: self.platform.unwrap_or(Platform::Docker),
        }
    }
}

impl Report {
    /// Whether `path` can be printed as it is and is not too long (a problem with `name`
    /// recorded otherwise).
    fn path(&mut self, name: &str, path: &str) -> bool {
        validate_path(path)
            .map_err(|msg| self.problem(name, msg))
            .is_ok()
    }

    /// `SSL_CERT_FILE`, checked with the other settings: a readable PEM bundle with at least one
    /// usable CA certificate (whoami reads it again to build its roots).
    fn ssl_cert_file(&mut self, env: &Env, read_file: ReadFile<'_>) -> Option<PathBuf> {
        let path = self.var(env, &SSL_CERT_FILE)?;
        // A token pasted here is refused (without being repeated) by `refuse_pasted_tokens`.
        if super::source::contains_token(&path) || !self.path(SSL_CERT_FILE.var, &path) {
            return None;
        }
        let fix =
            "point it at a PEM bundle of CA certificates, or unset it to use the built-in roots";
        let checked = read_file(std::path::Path::new(&path), crate::input::MAX_CA_BUNDLE)
            .map_err(|e| read_failure(&e).0)
            .and_then(|pem| ca_bundle(&pem));
        match checked {
            Ok(_) => Some(PathBuf::from(path)),
            Err(why) => {
                self.problem(SSL_CERT_FILE.var, format!("{path}: {why}; {fix}"));
                None
            }
        }
    }
}

/// A value in backquotes when short, otherwise only its length (a long value may be the token).
fn quoted(value: &str) -> String {
    if value.chars().count() <= 24 {
        format!("`{value}`")
    } else {
        shown(value)
    }
}

/// `text|json` (case-insensitive).
fn parse_log_format(value: &str) -> Option<LogFormat> {
    match value.to_ascii_lowercase().as_str() {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        _ => None,
    }
}
