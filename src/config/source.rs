//! Where values come from: the environment (read once, by envy, for exactly the variables of
//! the spec), the command line ([`CliValues`], the option winning over its variable), `_FILE`
//! variables, trimming (blank counts as unset; surrounding whitespace is trimmed with a
//! warning), and the refusal of a token pasted where it could reach a message.
//!
//! Problems and warnings are collected in a [`Report`], so that every problem is reported in one
//! run.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;

use super::spec::{self, SETTINGS, Setting};
use crate::error::ConfigProblem;
use crate::redact::Redactor;
use crate::token::Secret;

/// The variables of the spec that the entrypoint reads, as read by envy, and those of them
/// whose value is not UTF-8. No `Debug`: it holds the token.
#[derive(Default)]
pub struct Env(HashMap<String, String>, Vec<&'static str>);

impl Env {
    /// Read the spec's variables from `env` (name/value pairs) with envy. Only the exact
    /// (upper-case) names are passed, first occurrence winning like `getenv`, so envy never
    /// sees a duplicate field. A value that is not UTF-8 is kept lossily (so that it counts as
    /// set) and its variable remembered, to be refused (see [`Env::not_utf8`]).
    pub fn read<K: AsRef<OsStr>, V: AsRef<OsStr>>(env: &[(K, V)]) -> Result<Env, envy::Error> {
        let mut picked: Vec<(String, String)> = Vec::new();
        let mut not_utf8 = Vec::new();
        for (name, value) in env {
            let Some(setting) = spec::read_by_us().find(|s| name.as_ref() == s.var) else {
                continue;
            };
            if picked.iter().any(|(n, _)| n == setting.var) {
                continue;
            }
            let value = value.as_ref();
            if value.to_str().is_none() {
                not_utf8.push(setting.var);
            }
            picked.push((setting.var.to_owned(), value.to_string_lossy().into_owned()));
        }
        envy::from_iter(picked).map(|values| Env(values, not_utf8))
    }

    /// The variables whose value is not UTF-8.
    pub fn not_utf8(&self) -> &[&'static str] {
        &self.1
    }

    /// The raw value of `setting`'s variable, as set (not trimmed; may be blank).
    pub fn get(&self, setting: &Setting) -> Option<&str> {
        self.0
            .get(&setting.var.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Take the raw value out (for the secrets, so that no copy stays behind).
    pub fn take(&mut self, setting: &Setting) -> Option<String> {
        self.0.remove(&setting.var.to_ascii_lowercase())
    }
}

/// Values given on the command line, by setting (a flag's value is `1`). Values are raw so that
/// a bad one is reported with the others (exit 78).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliValues(Vec<(&'static str, OsString)>);

impl CliValues {
    /// `self` with `setting`'s option given `value` (replacing an earlier one).
    #[must_use]
    pub fn with(mut self, setting: &'static Setting, value: impl Into<OsString>) -> Self {
        self.set(setting, value.into());
        self
    }

    /// Give `setting`'s option `value` (replacing an earlier one).
    pub fn set(&mut self, setting: &'static Setting, value: OsString) {
        self.0.retain(|(v, _)| *v != setting.var);
        self.0.push((setting.var, value));
    }

    /// The value given for `setting`'s option.
    pub fn get(&self, setting: &Setting) -> Option<&OsStr> {
        self.0
            .iter()
            .find(|(v, _)| *v == setting.var)
            .map(|(_, value)| value.as_os_str())
    }

    /// `later` over `self`: options given after `check` win over those given before it.
    #[must_use]
    pub fn merged(mut self, later: CliValues) -> CliValues {
        for (var, value) in later.0 {
            self.0.retain(|(v, _)| *v != var);
            self.0.push((var, value));
        }
        self
    }

    /// The setting and value of each option given.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Setting, &OsStr)> {
        self.0.iter().filter_map(|(var, value)| {
            SETTINGS
                .iter()
                .find(|s| s.var == *var)
                .map(|s| (*s, value.as_os_str()))
        })
    }
}

/// A value as shown in a message: quoted when short, otherwise only its length (a long value
/// may be a pasted secret).
pub(super) fn shown(value: &str) -> String {
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

/// Reads a `_FILE` or `SSL_CERT_FILE`, at most the given number of bytes (injected for tests;
/// the entrypoint's is [`crate::input::read_bounded`]).
pub type ReadFile<'a> = &'a dyn Fn(&Path, u64) -> std::io::Result<Vec<u8>>;

/// What to say about a file that could not be read: the reason [`crate::input`] gives (a FIFO,
/// a device, too large) or the OS error.
pub(super) fn read_failure(e: &std::io::Error) -> (String, bool) {
    use crate::input::InputError;
    match e.get_ref().and_then(|i| i.downcast_ref::<InputError>()) {
        Some(InputError::Io(io)) => (io.to_string(), true),
        Some(other) => (other.to_string(), false),
        None => (e.to_string(), true),
    }
}

/// Problems and warnings collected while loading.
#[derive(Default)]
pub struct Report {
    /// Where the container runs (`None`: not detected, taken as Docker): the fixes name its
    /// own way to set a variable.
    pub platform: Option<crate::platform::Platform>,
    /// Every problem, in the order found.
    pub problems: Vec<ConfigProblem>,
    /// Warnings to log when the configuration is valid.
    pub warnings: Vec<String>,
    /// The token as given (the variable's raw value, the `_FILE`'s contents), for the
    /// pasted-token refusal and the redaction of the messages: the one redaction of
    /// [`crate::redact`].
    secret: Redactor,
}

/// A required value (token or email) and where it came from.
pub(super) struct Sourced {
    pub(super) value: Secret,
    /// The `_FILE` path, when it came from a file.
    pub(super) file: Option<String>,
}

/// A required value: its variable, its `_FILE` variable, and what it is, for messages.
pub(super) struct Required {
    pub(super) var: &'static Setting,
    pub(super) file_var: &'static Setting,
    /// `the token`, `the email`.
    pub(super) what: &'static str,
    pub(super) secret: bool,
}

/// The problem of a variable that holds the token (or a value with the token inside).
/// How to set a required variable that is missing, in the platform's own terms (`None`: not
/// detected, taken as Docker).
pub(super) fn set_it(
    platform: Option<crate::platform::Platform>,
    var: &str,
    file_var: &str,
) -> String {
    use crate::platform::Platform;
    match platform.unwrap_or(Platform::Docker) {
        Platform::Fly => format!(
            "set it as a secret (`fly secrets set --stage {var}=... && fly deploy`), or set {file_var} to a file holding it"
        ),
        Platform::Kubernetes => format!(
            "set it from a Secret (`env: valueFrom: secretKeyRef`), or mount the Secret as a volume and set {file_var} to the file"
        ),
        Platform::Docker => format!(
            "pass it to the container (`docker run -e {var}`, with {var} set where docker runs), or mount a file holding it and set {file_var} to its path"
        ),
    }
}

pub(super) fn token_elsewhere() -> String {
    format!(
        "holds what looks like the API token; put the token in {} (or a file named by {}) and give this variable its own value",
        spec::API_TOKEN.var,
        spec::API_TOKEN_FILE.var
    )
}

impl Report {
    /// Record where the container runs: the fixes name its own way to set a variable.
    pub fn set_platform(&mut self, platform: crate::platform::Platform) {
        self.platform = Some(platform);
    }

    /// Record a problem with `var` (a variable, an option, or `--option / VARIABLE`).
    pub fn problem(&mut self, var: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            var: var.to_owned(),
            message: message.into(),
        });
    }

    /// `value` trimmed, or `None` when empty or whitespace-only (unset). Warns when trimmed.
    pub(super) fn trimmed<'v>(&mut self, name: &str, value: &'v str) -> Option<&'v str> {
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

    /// `setting`'s variable, trimmed (`None` when unset or blank).
    pub(super) fn var(&mut self, env: &Env, setting: &Setting) -> Option<String> {
        env.get(setting)
            .and_then(|v| self.trimmed(setting.var, v))
            .map(str::to_owned)
    }

    /// The option's value: the command line's when given, else the variable's (trimmed).
    /// `None` when unset, or when the command-line value is empty (reported, with `hint`: the
    /// variable is not looked at then).
    pub(super) fn pick(
        &mut self,
        setting: &'static Setting,
        cli: &CliValues,
        env: &Env,
        hint: &str,
    ) -> Option<String> {
        let (Some(opt), Some(v)) = (setting.option, cli.get(setting)) else {
            return self.var(env, setting);
        };
        let flag = opt.flag();
        let value = self.trimmed(&flag, &v.to_string_lossy()).map(str::to_owned);
        if value.is_none() {
            self.problem(
                &setting.problem_name(),
                format!("{flag} is given an empty value; {hint}"),
            );
        }
        value
    }

    /// Resolve `VAR` / `VAR_FILE` into a trimmed value.
    pub(super) fn required(
        &mut self,
        r: &Required,
        env: &mut Env,
        read_file: ReadFile<'_>,
    ) -> Option<Sourced> {
        let raw = env.take(r.var).map(Secret::new);
        if r.secret
            && let Some(raw) = &raw
        {
            self.secret.add(raw.expose());
        }
        let value = raw
            .as_ref()
            .and_then(|s| self.trimmed(r.var.var, s.expose()))
            .map(|v| Secret::new(v.to_owned()));
        let path = self.var(env, r.file_var);
        let (var, file_var) = (r.var.var, r.file_var.var);
        match (value, path) {
            (Some(_), Some(_)) => {
                self.problem(
                    &format!("{var} / {file_var}"),
                    format!(
                        "both are set; set only one: unset {file_var} to use {var}, or unset {var} to read it from the file"
                    ),
                );
                None
            }
            (Some(value), None) => Some(Sourced { value, file: None }),
            (None, Some(path)) => self.read_required(r, path, read_file),
            (None, None) => {
                self.problem(
                    var,
                    format!("not set; {}", set_it(self.platform, var, file_var)),
                );
                None
            }
        }
    }

    fn read_required(
        &mut self,
        r: &Required,
        path: String,
        read_file: ReadFile<'_>,
    ) -> Option<Sourced> {
        let (var, file_var) = (r.var.var, r.file_var.var);
        // Any `_FILE` (not only the token's): the value is quoted in the messages below, and
        // the token pasted into the wrong variable must not be.
        if looks_like_token(&path) || self.holds_token(&path) {
            let fix = if r.secret {
                format!(
                    "put the token in {var} instead, or set {file_var} to the path of a file holding it"
                )
            } else {
                format!(
                    "put the token in {}, and set {file_var} to the path of a file holding {}",
                    spec::API_TOKEN.var,
                    r.what
                )
            };
            self.problem(
                file_var,
                format!("holds what looks like the token itself, not a path; {fix}"),
            );
            return None;
        }
        if let Err(msg) = super::validate::validate_path(&path) {
            self.problem(file_var, msg);
            return None;
        }
        let bytes = match read_file(Path::new(&path), crate::input::MAX_SECRET_FILE) {
            Ok(bytes) => bytes,
            Err(e) => {
                let message = match read_failure(&e) {
                    (why, true) => format!(
                        "cannot read {path:?}: {why}; check the path and that the file (a mounted secret?) exists and is readable by this user"
                    ),
                    (why, false) => format!(
                        "cannot use {path:?}: {why}; point {file_var} at the file holding {} \
                         (Docker and Kubernetes mount secrets as files)",
                        r.what
                    ),
                };
                self.problem(file_var, message);
                return None;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => {
                if r.secret {
                    self.secret.add(&text);
                }
                Secret::new(text)
            }
            Err(e) => {
                zero_bytes(e.into_bytes());
                self.problem(
                    file_var,
                    format!(
                        "{path:?} is not UTF-8 text; write {} into it as plain text",
                        r.what
                    ),
                );
                return None;
            }
        };
        // Even the one final newline of a text file is reported: the value the app gets from
        // the environment differs from the file's bytes, and the log should say so.
        let body = text.expose();
        let trimmed = body.trim();
        if trimmed.is_empty() {
            self.problem(
                file_var,
                format!("{path:?} is empty; write {} into it", r.what),
            );
            return None;
        }
        if trimmed.len() != body.len() {
            self.warnings.push(format!(
                "{file_var} had surrounding whitespace in {path:?} (a trailing newline?); it was trimmed"
            ));
        }
        Some(Sourced {
            value: Secret::new(trimmed.to_owned()),
            file: Some(path),
        })
    }

    /// Whether `value` holds the token: a decodable JWT ([`contains_token`]), or any piece of 8
    /// or more characters of the token as given, in any letter case (a token pasted whole, cut,
    /// or lowercased by a template), as [`crate::redact`] finds it.
    pub(super) fn holds_token(&self, value: &str) -> bool {
        contains_token(value) || self.secret.holds_piece(value)
    }

    /// A token pasted into another variable or option must reach no message or log line: refuse
    /// every setting the spec marks (the email and the `_FILE`s are checked where they are read).
    /// Called once the token has been read, so that pieces of it are recognised too.
    pub(super) fn refuse_pasted_tokens(&mut self, env: &Env, cli: &CliValues) {
        for s in SETTINGS.iter().filter(|s| s.refuse_pasted_token) {
            if env.get(s).is_some_and(|v| self.holds_token(v)) {
                self.instead_of_other_problems(s.var, token_elsewhere());
            }
        }
        for (s, value) in cli.iter() {
            if let Some(opt) = s.option
                && s.refuse_pasted_token
                && self.holds_token(&value.to_string_lossy())
            {
                self.instead_of_other_problems(&opt.flag(), token_elsewhere());
            }
        }
    }

    /// Record `message` for `name` in place of every other problem found with that variable or
    /// option (whose messages may quote its value: a path, a mode).
    fn instead_of_other_problems(&mut self, name: &str, message: String) {
        self.problems
            .retain(|p| !p.var.split(" / ").any(|named| named == name));
        self.problem(name, message);
    }

    /// Refuse every variable whose value is not UTF-8, in place of any other problem found with
    /// its lossy reading: a path with other bytes would be another path (U+FFFD in its name),
    /// an email would be sent as another address.
    pub(super) fn refuse_non_utf8(&mut self, env: &Env) {
        for var in env.not_utf8() {
            let fix = if spec::WRITE_CREDENTIALS.var == *var {
                "set it to a UTF-8 path, or give the path with --write-credentials (which takes any bytes)"
            } else {
                "set it as UTF-8 text"
            };
            self.instead_of_other_problems(
                var,
                format!("is not valid UTF-8 (it holds bytes no UTF-8 text has); {fix}"),
            );
        }
    }

    /// Withhold the token as given (the variable's raw value, the `_FILE`'s contents) from
    /// every message and warning, with the crate's one redaction (defence in depth; messages
    /// are built never to include it).
    pub(super) fn redact(&mut self) {
        let r = &self.secret;
        for p in &mut self.problems {
            p.message = r.redact(&p.message).into_owned();
            p.var = r.redact(&p.var).into_owned();
        }
        for w in &mut self.warnings {
            *w = r.redact(w).into_owned();
        }
    }
}

/// Whether `value` contains a JWT whose header and payload decode: the token, or the token
/// with text around it (e.g. `user@sp_live_eyJ...`, or a URL path ending in it). The
/// signature is not required to be intact: text appended to the token changes only it.
pub(super) fn contains_token(value: &str) -> bool {
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

#[cfg(test)]
mod tests {
    //! `_FILE` resolution and the refusal of pasted tokens, through [`crate::config::load`]
    //! (the helpers are the load tests').

    use super::super::tests::{
        EMAIL, EXP, assert_no_token, env, files, good_env, no_files, problem, problems,
        problems_with, with, without,
    };
    use super::{contains_token, token_elsewhere};
    use crate::config::{CliValues, load, spec as vars};
    use crate::token::testing::token;
    use std::io;
    use std::path::Path;

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
            (vars::API_TOKEN_FILE.var, "/run/secrets/token"),
            (vars::USER_EMAIL_FILE.var, "/run/secrets/email"),
        ]);
        let (c, warnings) = load(&CliValues::default(), &e, &read)
            .config
            .unwrap_or_else(|e| panic!("{e}"));
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
            (vars::API_TOKEN_FILE.var, " /s/t "),
            (vars::USER_EMAIL_FILE.var, "/s/e"),
        ]);
        let (c, warnings) = load(&CliValues::default(), &e, &read)
            .config
            .unwrap_or_else(|e| panic!("{e}"));
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
            without(good_env(), vars::API_TOKEN.var),
            vars::API_TOKEN_FILE.var,
            "/run/secrets/nope",
        );
        let p = problem(&e);
        assert_eq!(p.var, vars::API_TOKEN_FILE.var);
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
            (vars::API_TOKEN_FILE.var, "/s/bin"),
            (vars::USER_EMAIL_FILE.var, "/s/e-bin"),
        ]);
        let p = problems_with(&CliValues::default(), &e, &read);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!(p[0].var, vars::API_TOKEN_FILE.var);
        assert_eq!(
            p[0].message,
            "\"/s/bin\" is not UTF-8 text; write the token into it as plain text"
        );
        assert_eq!(p[1].var, vars::USER_EMAIL_FILE.var);
        assert!(p[1].message.contains("not UTF-8"));

        let e = env(&[
            (vars::API_TOKEN_FILE.var, "/s/empty"),
            (vars::USER_EMAIL.var, EMAIL),
        ]);
        let p = problems_with(&CliValues::default(), &e, &read);
        assert_eq!(
            p[0].message,
            "\"/s/empty\" is empty; write the token into it"
        );

        let denied = |_: &Path, _: u64| -> io::Result<Vec<u8>> {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "Permission denied (os error 13)",
            ))
        };
        let e = env(&[
            (vars::API_TOKEN_FILE.var, "/s/t"),
            (vars::USER_EMAIL.var, EMAIL),
        ]);
        let p = problems_with(&CliValues::default(), &e, &denied);
        assert!(
            p[0].message.contains("Permission denied (os error 13)"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn variable_and_file_both_set() {
        let e = with(
            with(good_env(), vars::API_TOKEN_FILE.var, "/s/t"),
            vars::USER_EMAIL_FILE.var,
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
            with(good_env(), vars::USER_EMAIL.var, ""),
            vars::USER_EMAIL_FILE.var,
            "/s/e",
        );
        load(&CliValues::default(), &e, &read)
            .config
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn token_pasted_into_the_file_variable_is_not_echoed() {
        let t = token(EXP);
        let e = with(
            without(good_env(), vars::API_TOKEN.var),
            vars::API_TOKEN_FILE.var,
            &t,
        );
        let p = problem(&e);
        assert_eq!(p.var, vars::API_TOKEN_FILE.var);
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
            without(
                without(good_env(), vars::API_TOKEN.var),
                vars::USER_EMAIL.var,
            ),
            vars::USER_EMAIL_FILE.var,
            &t,
        );
        let all = problems(&e);
        assert_eq!(all.len(), 2, "{all:#?}");
        let p = all
            .iter()
            .find(|p| p.var == vars::USER_EMAIL_FILE.var)
            .unwrap_or_else(|| panic!("{all:#?}"));
        assert!(
            p.message
                .starts_with("holds what looks like the token itself"),
            "{}",
            p.message
        );
        assert!(p.message.contains(vars::API_TOKEN.var), "{}", p.message);
        for p in &all {
            assert_no_token(&t, &p.to_string());
        }
    }

    #[test]
    fn a_token_as_the_log_format_is_not_echoed_even_without_a_token_to_redact() {
        let t = token(EXP);
        let e = env(&[(vars::LOG_FORMAT.var, &t), (vars::USER_EMAIL.var, EMAIL)]);
        let all = problems(&e);
        assert!(
            all.iter()
                .any(|p| p.var == vars::LOG_FORMAT.var && p.message == token_elsewhere()),
            "{all:#?}"
        );
        for p in &all {
            assert_no_token(&t, &p.to_string());
        }
        // A short value is still quoted.
        let p = problems(&with(good_env(), vars::LOG_FORMAT.var, "xml"));
        assert_eq!(
            p[0].message,
            "`xml` is not a log format; use `text` or `json`"
        );
    }

    #[test]
    fn a_piece_of_the_token_in_any_case_is_refused_in_every_variable_and_option() {
        // The token as given is recognised by any piece of 8 or more characters, in any letter
        // case (a template or a shell that lowercased it, a value cut short): not only a
        // decodable JWT. From the variable, and from a `_FILE`.
        let t = token(EXP);
        let jwt = &t[t.find("eyJ").unwrap_or(0)..];
        let pieces = [
            t.to_ascii_lowercase(),
            t.to_ascii_uppercase(),
            format!("x-{}-y", &jwt[10..30]),
            jwt[40..48].to_ascii_lowercase(),
        ];
        let from_file = files(&[("/s/t", t.as_bytes())]);
        let token_file = with(
            without(good_env(), vars::API_TOKEN.var),
            vars::API_TOKEN_FILE.var,
            "/s/t",
        );
        for var in [
            &vars::LOG,
            &vars::LOG_FORMAT,
            &vars::FLY_APP_NAME,
            &vars::FLY_MACHINE_ID,
            &vars::FLY_REGION,
            &vars::INIT,
            &vars::GRACE,
            &vars::SSL_CERT_FILE,
            &vars::WRITE_CREDENTIALS,
            &vars::USER_EMAIL,
        ] {
            for value in &pieces {
                type Reader<'r> = &'r dyn Fn(&Path, u64) -> io::Result<Vec<u8>>;
                let sources: [(Vec<(String, String)>, Reader<'_>); 2] =
                    [(good_env(), &no_files), (token_file.clone(), &from_file)];
                for (base, read) in sources {
                    let e = with(base, var.var, value);
                    let all = problems_with(&CliValues::default(), &e, read);
                    assert!(
                        all.iter()
                            .any(|p| p.var == var.var && p.message == token_elsewhere()),
                        "{}={value}: {all:#?}",
                        var.var
                    );
                    for p in &all {
                        assert_no_token(&t, &p.to_string());
                        assert!(!p.to_string().contains(value.as_str()), "{p}");
                    }
                }
            }
        }
        let cli = CliValues::default().with(&vars::LOG, t.to_ascii_lowercase());
        let all = problems_with(&cli, &good_env(), &no_files);
        assert!(all.iter().any(|p| p.var == "--log"), "{all:#?}");
        // A value that merely shares short runs with the token is fine.
        let e = with(good_env(), vars::FLY_REGION.var, "eyJhbGc");
        assert!(load(&CliValues::default(), &e, &no_files).config.is_ok());
    }

    #[test]
    fn a_token_inside_another_value_is_refused_and_not_echoed() {
        // Found by the config_load fuzz target: `user@<token>` is a valid email by the upstream
        // rules, and would have been logged; so would a URL path or a file path holding it.
        let t = token(EXP);
        let jwt = t.trim_start_matches("sp_live_");
        for (var, value) in [
            (vars::USER_EMAIL.var, format!("user@{t}")),
            (vars::USER_EMAIL.var, format!("user@{jwt}.com")),
            (vars::USER_EMAIL.var, t.clone()),
            (
                vars::API_URL.var,
                format!("https://api.systemprompt.io/{t}"),
            ),
            (vars::WRITE_CREDENTIALS.var, format!("/tmp/{t}x")),
            (vars::SSL_CERT_FILE.var, format!("/etc/{jwt}")),
            (vars::INIT.var, t.clone()),
            (vars::LOG_FORMAT.var, t.clone()),
        ] {
            let e = with(good_env(), var, &value);
            let all = problems(&e);
            assert!(
                all.iter()
                    .any(|p| p.var == var && p.message == token_elsewhere()),
                "{var}={value}: {all:#?}"
            );
            for p in &all {
                assert_no_token(&t, &p.to_string());
            }
        }
        let read = files(&[("/s/e", format!("me@{t}").as_bytes())]);
        let e = with(
            without(good_env(), vars::USER_EMAIL.var),
            vars::USER_EMAIL_FILE.var,
            "/s/e",
        );
        let err = load(&CliValues::default(), &e, &read)
            .config
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_else(|| panic!("accepted"));
        assert!(
            err.contains("USER_EMAIL_FILE: holds what looks like the API token"),
            "{err}"
        );
        assert_no_token(&t, &err);
        let cli = CliValues::default().with(&vars::WRITE_CREDENTIALS, format!("/x/{t}"));
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
}
