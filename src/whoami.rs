//! The one HTTPS call: `GET {api_url}/api/v1/auth/me`, with TLS roots that work in a scratch
//! image, no redirects, a capped body, one time budget and a retry policy for transient failures.
//!
//! OWNER: whoami helper. CONTRACT (keep these signatures).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::token::Secret;

/// What the call needs.
#[derive(Debug)]
pub struct Request<'a> {
    /// The normalised API URL (no trailing slash), `https://` or loopback `http://`.
    pub api_url: &'a str,
    /// The token, sent as `Authorization: Bearer` (marked sensitive).
    pub token: &'a Secret,
    /// Total budget for all attempts and waits.
    pub budget: Duration,
    /// Extra PEM roots (`SSL_CERT_FILE`).
    pub ssl_cert_file: Option<PathBuf>,
}

/// The account whoami answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `user.id`.
    pub user_id: String,
    /// `user.email`.
    pub email: String,
    /// `user.name`, when present.
    pub name: Option<String>,
    /// Duration of the successful attempt.
    pub latency: Duration,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
}

/// Call whoami within the budget, retrying only transient failures.
pub async fn whoami(_req: &Request<'_>) -> Result<Identity, Error> {
    unimplemented!("whoami helper")
}
