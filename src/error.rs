//! The one error type of the entrypoint and the one exit-code table.
//!
//! Every failure the entrypoint can report is a variant of [`Error`]; [`Error::code`] maps it
//! to the documented exit code (see `EXIT CODES` in `--help` and the README). Messages name
//! the variable or step at fault *and the fix*. No variant ever carries the token.

use std::path::PathBuf;

use crate::config::vars;
use crate::platform::Platform;

/// The exit-code table (sysexits.h where one fits, shell conventions for the rest): one list,
/// from which the constants and the table of `--help` come; a test checks README's table
/// against it.
pub mod exit {
    use std::fmt::Write as _;

    /// One row of the table.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Code {
        /// The code as shown (`64`, or `128+N` for the signal base).
        pub shown: &'static str,
        /// What it means.
        pub meaning: &'static str,
    }

    /// Declares each code as a constant and [`CODES`] as the table, in order.
    macro_rules! codes {
        ($( $(#[$doc:meta])* $name:ident = $code:literal, $shown:literal, $meaning:literal; )*) => {
            $( $(#[$doc])* pub const $name: u8 = $code; )*
            /// The table, in the order of `--help` and the README.
            pub const CODES: &[Code] = &[$(Code { shown: $shown, meaning: $meaning }),*];
        };
    }

    codes! {
        /// Success (`check`), or the app's own exit code.
        SUCCESS = 0, "0", "success (check), or the app's own exit code";
        /// Usage: bad options, no command (`EX_USAGE`).
        USAGE = 64, "64", "usage: bad options, no command";
        /// API unavailable: unreachable, timed out, TLS failure, 5xx/429 until the budget ran out (`EX_UNAVAILABLE`).
        UNAVAILABLE = 69, "69", "API unavailable: unreachable, timed out, TLS failure, 5xx/429 until the budget ran out";
        /// Internal failure: an OS call that should not fail (`EX_SOFTWARE`).
        SOFTWARE = 70, "70", "internal error (an OS call that should not fail)";
        /// The credentials file cannot be written (`EX_CANTCREAT`).
        CANT_CREATE = 73, "73", "the credentials file cannot be written";
        /// API protocol error: a redirect, another 4xx, malformed HTTP, an unexpected or oversized body (`EX_PROTOCOL`).
        PROTOCOL = 76, "76", "API protocol error: a redirect, another 4xx, malformed HTTP, a body that is not the expected JSON or is too large";
        /// Credentials refused: token expired (or its expiry unreadable by the app), 401/403, email mismatch (`EX_NOPERM`).
        REFUSED = 77, "77", "credentials refused: token expired (or an expiry the app cannot read), 401/403, email mismatch";
        /// Configuration: a variable or `_FILE` missing or invalid, a malformed token (`EX_CONFIG`).
        CONFIG = 78, "78", "configuration: a variable or _FILE missing or invalid, malformed token";
        /// COMMAND was found but could not be executed.
        NOT_EXECUTABLE = 126, "126", "COMMAND found but not executable";
        /// COMMAND was not found.
        NOT_FOUND = 127, "127", "COMMAND not found";
        /// Base for "ended by signal N": the exit code is `SIGNAL_BASE + N`.
        SIGNAL_BASE = 128, "128+N", "ended by signal N (143 = SIGTERM, 130 = SIGINT, 137 = SIGKILL)";
    }

    /// The table as printed in `--help`.
    pub fn table() -> String {
        let mut out = String::from("EXIT CODES:");
        for c in CODES {
            let _ = write!(out, "\n  {:<8} {}", c.shown, c.meaning);
        }
        out
    }
}

/// One configuration problem: the variable (or option) at fault and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The environment variable or option name, e.g. `SYSTEMPROMPT_USER_EMAIL`.
    pub var: String,
    /// What is wrong and how to fix it. Never contains a secret value.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.var, self.message)
    }
}

/// Every way the entrypoint can fail. `Display` is the one line (or block) printed on stderr.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line (clap already formatted the message).
    #[error("{0}")]
    Usage(String),

    /// One or more configuration problems, all reported together.
    #[error("invalid configuration ({} problem{}):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, join_problems(.0))]
    Config(Vec<ConfigProblem>),

    /// The token's `exp` is in the past; nothing was sent.
    #[error(
        "{token} expired at {expired_at} ({ago} ago); log in again (`just login`; the new token is the `api_token` in the .systemprompt/credentials.json it writes), then {rotate}",
        token = vars::API_TOKEN.var,
        rotate = .platform.rotate_token()
    )]
    Expired {
        /// RFC 3339 time of expiry.
        expired_at: String,
        /// Human duration since expiry, e.g. `2h 5m`.
        ago: String,
        /// Where the container runs: the fix names its way to rotate the token.
        platform: Platform,
    },

    /// The token's `exp` cannot be read the way the SystemPrompt app reads it (which then
    /// treats the token as expired); nothing was sent.
    #[error(
        "{token}: the token's expiry cannot be read: {problem}; the SystemPrompt app would treat it as expired (and refuse the credentials), so nothing was sent; log in again (`just login`; the new token is the `api_token` in the .systemprompt/credentials.json it writes), then {rotate}",
        token = vars::API_TOKEN.var,
        rotate = .platform.rotate_token()
    )]
    ExpiryUnreadable {
        /// Why `exp` cannot be read.
        problem: crate::token::ExpProblem,
        /// Where the container runs: the fix names its way to rotate the token.
        platform: Platform,
    },

    /// The API answered 401 or 403.
    #[error("the API refused the token (HTTP {status}{}); check {token} and {api_url}; for a new token, log in again (`just login`), then {rotate}", detail_suffix(.detail), token = vars::API_TOKEN.var, api_url = vars::API_URL.var, rotate = .platform.rotate_token())]
    Rejected {
        /// 401 or 403.
        status: u16,
        /// The error message from the body, when there was one (never echoes the token).
        detail: String,
        /// Where the container runs: the fix names its way to rotate the token.
        platform: Platform,
    },

    /// whoami succeeded for another account.
    #[error(
        "the token belongs to {actual}, not {email}={expected}; set the email of the account that issued the token",
        email = vars::USER_EMAIL.var
    )]
    EmailMismatch {
        /// The configured email.
        expected: String,
        /// The email the API returned.
        actual: String,
    },

    /// The API could not be reached within the budget.
    #[error("the API at {url} is unavailable after {attempts} attempt{} in {elapsed}: {last}; raise --whoami-timeout or check the network", if *.attempts == 1 { "" } else { "s" })]
    Unavailable {
        /// The whoami URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Human elapsed time, e.g. `30.0s`.
        elapsed: String,
        /// The last failure.
        last: String,
    },

    /// The API answered something the entrypoint does not accept.
    #[error("unexpected answer from the API at {url}: {reason}")]
    Protocol {
        /// The whoami URL.
        url: String,
        /// What was wrong (a redirect, status, body).
        reason: String,
    },

    /// The credentials file could not be written.
    #[error("cannot write the credentials file {}: {reason}; check {setting} and the directory's permissions", .path.display(), setting = vars::WRITE_CREDENTIALS.problem_name())]
    WriteCredentials {
        /// The path asked for.
        path: PathBuf,
        /// What failed.
        reason: String,
    },

    /// COMMAND was not found in `PATH`.
    #[error("command not found: {command}; check the image's CMD and PATH")]
    NotFound {
        /// The command as given.
        command: String,
    },

    /// COMMAND exists but cannot be executed.
    #[error(
        "cannot execute {command}: {reason}; check its mode (+x), its interpreter line and the architecture"
    )]
    NotExecutable {
        /// The command as given.
        command: String,
        /// The OS error.
        reason: String,
    },

    /// The entrypoint was stopped by a signal before the app started.
    #[error("stopped by signal {name} before the app started")]
    Signal {
        /// The signal number.
        number: i32,
        /// Its name, e.g. `SIGTERM`.
        name: String,
    },

    /// An internal failure (an OS call that should not fail).
    #[error("internal error: {0}")]
    Internal(String),
}

fn join_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl Error {
    /// The exit code of this error, from the one table in [`exit`].
    #[must_use]
    pub fn code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Config(_) => exit::CONFIG,
            Error::Expired { .. }
            | Error::ExpiryUnreadable { .. }
            | Error::Rejected { .. }
            | Error::EmailMismatch { .. } => exit::REFUSED,
            Error::Unavailable { .. } => exit::UNAVAILABLE,
            Error::Protocol { .. } => exit::PROTOCOL,
            Error::WriteCredentials { .. } => exit::CANT_CREATE,
            Error::NotFound { .. } => exit::NOT_FOUND,
            Error::NotExecutable { .. } => exit::NOT_EXECUTABLE,
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Error::Signal { number, .. } => exit::SIGNAL_BASE.saturating_add(*number as u8),
            Error::Internal(_) => exit::SOFTWARE,
        }
    }

    /// Whether `SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS=1` may let the app start despite this error:
    /// only a failed whoami (unavailable, refused by the API, protocol, email mismatch), never
    /// configuration or an expired token.
    #[must_use]
    pub fn is_whoami_failure(&self) -> bool {
        matches!(
            self,
            Error::Rejected { .. }
                | Error::EmailMismatch { .. }
                | Error::Unavailable { .. }
                | Error::Protocol { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::exit;
    use super::{Error, Platform};

    #[test]
    fn token_fixes_explain_login_and_name_the_platforms_rotation() {
        for platform in [Platform::Fly, Platform::Kubernetes, Platform::Docker] {
            let expired = Error::Expired {
                expired_at: "2026-01-01T00:00:00Z".into(),
                ago: "2h".into(),
                platform,
            }
            .to_string();
            let rejected = Error::Rejected {
                status: 401,
                detail: String::new(),
                platform,
            }
            .to_string();
            for message in [&expired, &rejected] {
                assert!(message.contains("`just login`"), "{message}");
                assert!(message.ends_with(platform.rotate_token()), "{message}");
            }
            assert!(expired.contains("`api_token`"), "{expired}");
        }
        let fly = Error::Expired {
            expired_at: String::new(),
            ago: String::new(),
            platform: Platform::Fly,
        }
        .to_string();
        assert!(fly.contains("fly secrets set --stage"), "{fly}");
        let docker = Error::Expired {
            expired_at: String::new(),
            ago: String::new(),
            platform: Platform::Docker,
        }
        .to_string();
        assert!(!docker.contains("fly "), "{docker}");
    }

    /// The rows of README's "Exit codes" table: (code, meaning without backticks).
    fn readme_rows() -> Vec<(String, String)> {
        let readme = include_str!("../README.md");
        let section = readme
            .split("## Exit codes")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or_else(|| panic!("README has no Exit codes section"));
        section
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| code"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
                (cells[0].to_owned(), cells[1].replace('`', ""))
            })
            .collect()
    }

    #[test]
    fn the_readme_table_and_the_list_agree() {
        let listed: Vec<(String, String)> = exit::CODES
            .iter()
            .map(|c| (c.shown.to_owned(), c.meaning.to_owned()))
            .collect();
        assert_eq!(readme_rows(), listed);
    }

    #[test]
    fn the_help_table_has_every_code() {
        let table = exit::table();
        assert!(
            table.starts_with("EXIT CODES:\n  0        success (check)"),
            "{table}"
        );
        assert!(table.contains("\n  128+N    ended by signal N"), "{table}");
        assert_eq!(table.lines().count(), exit::CODES.len() + 1);
    }
}
