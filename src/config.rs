//! Environment variable names, and the raw environment (read with envy) validated into a typed
//! [`Config`]. Reports every problem in one run. No network I/O.
//!
//! OWNER: config helper. CONTRACT (keep these signatures).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
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
    /// Log filter, RUST_LOG syntax (`--log`).
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

/// Validate `env` (name/value pairs; values already lossily UTF-8) and `cli` into a [`Config`].
/// `read_file` reads `_FILE` variables (injected for tests). Returns the config and warnings
/// to log (e.g. trimmed whitespace). Every problem is reported at once as [`Error::Config`].
/// Token expiry is NOT checked here (see [`crate::token::expiry`]).
pub fn load(
    _cli: &CliSettings,
    _env: &[(String, String)],
    _read_file: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<(Config, Vec<String>), Error> {
    unimplemented!("config helper")
}
