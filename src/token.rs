//! The API token: a redacting secret wrapper, JWT claims decoding (base64url by the `base64`
//! crate) and expiry classification, both as the SystemPrompt app reads them. Pure, no I/O.
//!
//! The signature cannot be checked locally (there is no key); decoding only catches tokens
//! that were pasted wrong (truncated, wrapped, the wrong value) before anything is sent.
//! No error or `Debug` output ever contains any part of the token.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};

/// A secret string (the API token). `Debug` prints `Secret(***)`; there is no `Display`.
///
/// On drop, the whole heap buffer (length and spare capacity) is overwritten with zeros, in
/// safe code (see the `Drop` impl). This is best effort: copies made before the value was
/// wrapped (the process environment, I/O buffers) are not covered.
///
/// **`Serialize` writes the plain value.** It exists only so that the credentials file
/// (`credentials.json`) can hold the token; never serialise a `Secret` anywhere else (logs,
/// reports, error bodies).
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

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        let capacity = bytes.capacity();
        bytes.clear();
        // Writes zeros over the whole allocation without reallocating (len <= capacity).
        bytes.resize(capacity, 0);
        // Keep the writes from being optimised away as dead stores before the free.
        std::hint::black_box(&mut bytes);
    }
}

/// Serialises the **plain token** as a JSON string. Used only to write `credentials.json`.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The claims the entrypoint reads from the token's payload. Unknown claims are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `exp` as the SystemPrompt app reads it (seconds since the epoch, a 64-bit signed
    /// integer), or why the app could not read it (it then treats the token as expired).
    pub exp: Result<i64, ExpProblem>,
    /// `iat` (issued at, the login time), seconds since the epoch, when it is a number that
    /// fits (a fraction is truncated); `None` otherwise. Only [`login_time`] reads it.
    pub iat: Option<i64>,
}

/// No claims at all: no `exp` (unreadable, [`ExpProblem::Missing`]) and no `iat`.
impl Default for Claims {
    fn default() -> Claims {
        Claims {
            exp: Err(ExpProblem::Missing),
            iat: None,
        }
    }
}

/// Why the SystemPrompt app could not read a token's `exp` (it then treats the token as
/// expired, and refuses a credentials file holding it). The message follows "the token's
/// expiry cannot be read: ".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExpProblem {
    /// The payload is valid base64url only with padding or non-zero trailing bits; the app
    /// decodes unpadded, canonical base64url.
    #[error(
        "the payload is not unpadded, canonical base64url (padding `=` or non-zero trailing bits)"
    )]
    Encoding,
    /// No `exp` claim.
    #[error("the payload has no \"exp\" claim")]
    Missing,
    /// `exp` is not an integer: `null`, a fraction or exponent, a string, a boolean, an array
    /// or an object.
    #[error("\"exp\" is {0}, not an integer number of seconds")]
    NotInteger(&'static str),
    /// `exp` is an integer outside the 64-bit signed range.
    #[error("\"exp\" is an integer outside the 64-bit signed range")]
    OutOfRange,
}

/// The longest token accepted, in bytes (16 KiB). Real tokens are well under 2 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Below this many seconds left, a token "expires soon" (the upstream CLI's one hour).
pub const EXPIRES_SOON_SECS: u64 = 3600;

/// One of the three dot-separated parts of a JWT, named in [`TokenError`] messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtPart {
    /// The first part (algorithm and type).
    Header,
    /// The second part (the claims).
    Payload,
    /// The third part.
    Signature,
}

impl fmt::Display for JwtPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwtPart::Header => "header",
            JwtPart::Payload => "payload",
            JwtPart::Signature => "signature",
        })
    }
}

const COPY_HINT: &str = "copy the whole token again (sp_live_eyJ...): the `api_token` of the .systemprompt/credentials.json that `just login` writes";

/// Why a token is malformed. Messages never include any part of the token; each says what is
/// wrong and what to do. They are written to follow `SYSTEMPROMPT_API_TOKEN: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Nothing at all.
    #[error("empty; {COPY_HINT}")]
    Empty,
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error(
        "too long ({len} bytes, at most {MAX_TOKEN_LEN}); this is not an API token, {COPY_HINT}"
    )]
    TooLong {
        /// The length in bytes.
        len: usize,
    },
    /// Whitespace or a control character inside (surrounding whitespace is trimmed earlier).
    #[error(
        "contains whitespace or a control character (a line break from wrapping?); {COPY_HINT} as one line"
    )]
    Whitespace,
    /// A character that is in neither a prefix nor base64url.
    #[error(
        "contains a character that cannot appear in a token (only letters, digits, '-', '_', '.' and '=' can; quotes?); {COPY_HINT}"
    )]
    InvalidCharacter,
    /// Not three dot-separated parts.
    #[error(
        "not a JWT: expected three dot-separated parts after an optional prefix like sp_live_, found {parts}; {COPY_HINT}"
    )]
    NotJwt {
        /// How many parts there were.
        parts: usize,
    },
    /// Something precedes the JWT that is not a prefix like `sp_live_`.
    #[error(
        "not a JWT: what precedes the header is not a prefix like sp_live_ (letters and digits, separated by and ending with '_'); {COPY_HINT}"
    )]
    BadPrefix,
    /// The first part does not start like a JWT header (`eyJ`, the base64 of `{"`).
    #[error(
        "not a JWT: the header does not start with eyJ (a JSON object in base64url); {COPY_HINT}"
    )]
    NotJwtHeader,
    /// A part is empty.
    #[error("not a JWT: the {part} (part {}) is empty; {COPY_HINT}", part_number(*.part))]
    EmptyPart {
        /// Which part.
        part: JwtPart,
    },
    /// A part is not valid base64url.
    #[error("not a JWT: the {part} is not valid base64url; {COPY_HINT}")]
    Base64 {
        /// Which part.
        part: JwtPart,
    },
    /// The header or payload does not decode to a JSON object.
    #[error("not a JWT: the {part} is not a JSON object; {COPY_HINT}")]
    NotJsonObject {
        /// Which part.
        part: JwtPart,
    },
    /// The header has no `alg` string.
    #[error("not a JWT: the header has no \"alg\"; {COPY_HINT}")]
    NoAlg,
}

fn part_number(part: JwtPart) -> u8 {
    match part {
        JwtPart::Header => 1,
        JwtPart::Payload => 2,
        JwtPart::Signature => 3,
    }
}

/// How the header and signature are decoded: base64url (RFC 4648 §5), padding optional,
/// non-zero leftover bits ignored. These parts only have to be recognisably a JWT's.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// How the SystemPrompt app decodes the payload: base64url without padding, canonical (a `=`
/// anywhere, or non-zero leftover bits, is an error).
const STRICT: GeneralPurpose = URL_SAFE_NO_PAD;

/// Whether `p` is a token prefix: `[A-Za-z0-9]+(_[A-Za-z0-9]+)*_`.
fn is_prefix(p: &str) -> bool {
    let Some(body) = p.strip_suffix('_') else {
        return false;
    };
    !body.is_empty()
        && body
            .split('_')
            .all(|seg| !seg.is_empty() && seg.bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// Split `first` (everything before the first `.`) into the prefix and the JWT header.
///
/// The header begins at the first position that starts with `eyJ` and is either the start of
/// the token or right after a `_` with a valid prefix before it.
fn split_prefix(first: &str) -> Result<(&str, &str), TokenError> {
    let candidates = std::iter::once(0).chain(
        first
            .bytes()
            .enumerate()
            .filter(|&(_, c)| c == b'_')
            .map(|(i, _)| i + 1),
    );
    for at in candidates {
        let (prefix, header) = first.split_at(at);
        if header.starts_with("eyJ") && (prefix.is_empty() || is_prefix(prefix)) {
            return Ok((prefix, header));
        }
    }
    if first.contains("eyJ") {
        Err(TokenError::BadPrefix)
    } else {
        Err(TokenError::NotJwtHeader)
    }
}

fn decode_part(part: JwtPart, text: &str) -> Result<Vec<u8>, TokenError> {
    if text.is_empty() {
        return Err(TokenError::EmptyPart { part });
    }
    match LENIENT.decode(text) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        Ok(_) => Err(TokenError::EmptyPart { part }),
        Err(_) => Err(TokenError::Base64 { part }),
    }
}

fn json_object(
    part: JwtPart,
    bytes: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(TokenError::NotJsonObject { part }),
    }
}

/// `exp` as the SystemPrompt app reads it: the payload decoded strictly ([`STRICT`]), `exp` a
/// 64-bit signed integer (absent, `null`, a fraction, an exponent or an out-of-range integer
/// is an error). A key given twice counts once, with its last value: what cloud-api.md says of
/// the app does not cover it, and a typed decoder to mimic serde's refusal would cost 8 KB of
/// binary for a token no issuer writes.
fn app_exp(
    payload_text: &str,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<i64, ExpProblem> {
    // The strict decoding only decides; the bytes are the same as the lenient decoding's.
    if STRICT.decode(payload_text).is_err() {
        return Err(ExpProblem::Encoding);
    }
    match claims.get("exp") {
        None => Err(ExpProblem::Missing),
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(exp) => Ok(exp),
            None if n.is_f64() => Err(ExpProblem::NotInteger(
                "a number with a fraction or an exponent",
            )),
            None => Err(ExpProblem::OutOfRange),
        },
        Some(serde_json::Value::Null) => Err(ExpProblem::NotInteger("null")),
        Some(serde_json::Value::Bool(_)) => Err(ExpProblem::NotInteger("a boolean")),
        Some(serde_json::Value::String(_)) => Err(ExpProblem::NotInteger("a string")),
        Some(serde_json::Value::Array(_)) => Err(ExpProblem::NotInteger("an array")),
        Some(serde_json::Value::Object(_)) => Err(ExpProblem::NotInteger("an object")),
    }
}

/// `iat` when it is a number of seconds that fits an `i64` (a fraction is truncated);
/// anything else is `None` (the login time then falls back to now, see [`login_time`]).
fn issued_at(claims: &serde_json::Map<String, serde_json::Value>) -> Option<i64> {
    let n = claims.get("iat")?.as_number()?;
    if let Some(v) = n.as_i64() {
        return Some(v);
    }
    let f = n.as_f64()?;
    // -2^63 ..= 2^63 (exclusive) as f64; beyond (or NaN) does not fit.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        #[allow(clippy::cast_possible_truncation)]
        Some(f.trunc() as i64)
    } else {
        None
    }
}

/// Decode the claims of `token` (`[prefix_]header.payload.signature`).
///
/// The optional prefix is `[A-Za-z0-9]+(_[A-Za-z0-9]+)*_` (e.g. `sp_live_`, `sp_test_`); the
/// JWT starts at the header, which always begins with `eyJ`. Each part is base64url (padding
/// optional here); the header must be a JSON object with an `alg` string; the payload a JSON
/// object; the signature non-empty. The token must be at most [`MAX_TOKEN_LEN`] bytes with no
/// whitespace or control characters (trim it first). The signature is not verified.
///
/// A well-formed token whose `exp` the SystemPrompt app could not read (see [`ExpProblem`])
/// is not an error here: it is [`Claims::exp`]'s `Err`, and [`expiry`] calls it
/// [`Expiry::Unreadable`].
pub fn decode_claims(token: &str) -> Result<Claims, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong { len: token.len() });
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TokenError::Whitespace);
    }
    if !token
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'='))
    {
        return Err(TokenError::InvalidCharacter);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [first, payload, signature] = parts[..] else {
        return Err(TokenError::NotJwt { parts: parts.len() });
    };
    let (_prefix, header) = split_prefix(first)?;

    let header = json_object(JwtPart::Header, &decode_part(JwtPart::Header, header)?)?;
    if !header.get("alg").is_some_and(serde_json::Value::is_string) {
        return Err(TokenError::NoAlg);
    }
    let payload_text = payload;
    let payload = json_object(JwtPart::Payload, &decode_part(JwtPart::Payload, payload)?)?;
    decode_part(JwtPart::Signature, signature)?;

    Ok(Claims {
        exp: app_exp(payload_text, &payload),
        iat: issued_at(&payload),
    })
}

/// Where a token stands relative to `now`, as the SystemPrompt app sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// An hour or more left.
    Valid {
        /// Seconds left.
        remaining: u64,
    },
    /// Less than an hour left (warn); `exp == now` is still here, as in the app.
    ExpiresSoon {
        /// Seconds left (0 at the exact second).
        remaining: u64,
    },
    /// Expired: `exp < now` (refuse before any request).
    Expired {
        /// Seconds since expiry (at least 1).
        ago: u64,
    },
    /// The app cannot read `exp` and treats the token as expired (refuse before any request).
    Unreadable(ExpProblem),
}

/// Classify the token's expiry at `now` (seconds since the epoch), as the app does.
///
/// `exp < now` is [`Expiry::Expired`]; fewer than [`EXPIRES_SOON_SECS`] seconds left
/// (`exp == now` included) is [`Expiry::ExpiresSoon`]; otherwise [`Expiry::Valid`]. An `exp`
/// the app cannot read is [`Expiry::Unreadable`].
pub fn expiry(claims: &Claims, now: u64) -> Expiry {
    let exp = match claims.exp {
        Ok(exp) => i128::from(exp),
        Err(problem) => return Expiry::Unreadable(problem),
    };
    let now = i128::from(now);
    let secs = |d: i128| u64::try_from(d).unwrap_or(u64::MAX);
    if exp < now {
        Expiry::Expired {
            ago: secs(now - exp),
        }
    } else if exp - now < i128::from(EXPIRES_SOON_SECS) {
        Expiry::ExpiresSoon {
            remaining: secs(exp - now),
        }
    } else {
        Expiry::Valid {
            remaining: secs(exp - now),
        }
    }
}

/// The login time written as `authenticated_at`: the token's `iat` when it is a sane past
/// instant (not before the epoch, not after `now`, and at most [`crate::timefmt::MAX_RFC3339`],
/// the last second of year 9999, which the app can still parse); otherwise `now`.
pub fn login_time(claims: &Claims, now: u64) -> u64 {
    claims
        .iat
        .and_then(|iat| u64::try_from(iat).ok())
        .filter(|&iat| iat <= now && iat <= crate::timefmt::MAX_RFC3339)
        .unwrap_or(now)
}

/// Test helpers shared with the config tests.
#[cfg(test)]
pub(crate) mod testing {
    use base64::Engine as _;

    /// base64url without padding (what tokens use).
    pub fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    }

    /// A token `sp_live_<header>.<payload>.<signature>` with the given payload JSON.
    pub fn token_with_payload(payload: &str) -> String {
        format!(
            "sp_live_{}.{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64(payload.as_bytes()),
            b64(b"not-a-real-signature-but-bytes")
        )
    }

    /// A well-formed token expiring at `exp`, issued 24 h earlier.
    pub fn token(exp: u64) -> String {
        token_with_payload(&format!(
            r#"{{"sub":"user_123","exp":{exp},"iat":{}}}"#,
            exp.saturating_sub(86_400)
        ))
    }
}

#[cfg(test)]
mod tests;
