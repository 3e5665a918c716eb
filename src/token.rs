//! The API token: a redacting secret wrapper and JWT claims decoding. Pure, no I/O.
//!
//! OWNER: config helper. CONTRACT (keep these signatures; add private helpers freely).

use std::fmt;

/// A secret string (the API token). `Debug` prints `Secret(***)`; there is no `Display`.
/// The bytes are zeroed on drop.
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    /// The secret value, for the one place that must send or write it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The claims the entrypoint reads from the token's payload. Unknown claims are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// `exp`: expiry, seconds since the epoch.
    pub exp: Option<u64>,
    /// `iat`: issued at (the login time), seconds since the epoch.
    pub iat: Option<u64>,
}

/// Why a token is malformed. Messages never include any part of the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Placeholder until implemented.
    #[error("malformed token")]
    Malformed,
}

/// Decode the claims of `token` (`[prefix_]header.payload.signature`).
pub fn decode_claims(_token: &str) -> Result<Claims, TokenError> {
    unimplemented!("config helper")
}

/// Where a token stands relative to `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// More than an hour left.
    Valid {
        /// Seconds left.
        remaining: u64,
    },
    /// Less than an hour left (warn).
    ExpiresSoon {
        /// Seconds left.
        remaining: u64,
    },
    /// Expired (refuse before any request).
    Expired {
        /// Seconds since expiry.
        ago: u64,
    },
    /// No `exp` claim.
    Unknown,
}

/// Classify the token's expiry at `now` (seconds since the epoch).
pub fn expiry(_claims: &Claims, _now: u64) -> Expiry {
    unimplemented!("config helper")
}
