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
mod tests {
    use super::testing::{b64, token, token_with_payload};
    use super::*;

    const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; // {"alg":"HS256","typ":"JWT"}

    /// Asserts that neither the token nor any of its dot-separated parts shows in `text`.
    fn assert_no_leak(token: &str, text: &str) {
        assert!(!text.contains(token), "token leaked into {text:?}");
        for part in token.split(['.', '_']).filter(|p| p.len() >= 6) {
            assert!(
                !text.contains(part),
                "token part {part:?} leaked into {text:?}"
            );
        }
    }

    #[test]
    fn test_encoder_matches_known_vector() {
        assert_eq!(b64(br#"{"alg":"HS256","typ":"JWT"}"#), HEADER);
    }

    #[test]
    fn decodes_prefixed_and_bare_tokens() {
        let t = token(1_769_940_000);
        assert_eq!(
            decode_claims(&t),
            Ok(Claims {
                exp: Ok(1_769_940_000),
                iat: Some(1_769_853_600)
            })
        );
        let bare = t.strip_prefix("sp_live_").unwrap_or_default();
        assert_eq!(decode_claims(bare).map(|c| c.exp), Ok(Ok(1_769_940_000)));
        for prefix in ["sp_test_", "x_", "SP_LIVE_", "sp_live_v2_", "a1_b2_c3_"] {
            let t2 = format!("{prefix}{bare}");
            assert_eq!(
                decode_claims(&t2).map(|c| c.exp),
                Ok(Ok(1_769_940_000)),
                "{prefix}"
            );
        }
    }

    #[test]
    fn prefix_containing_eyj_and_header_containing_underscore() {
        let payload = b64(br#"{"exp":5}"#);
        // A prefix segment that itself contains "eyJ".
        let t = format!("keyJ_{HEADER}.{payload}.c2ln");
        assert_eq!(decode_claims(&t).map(|c| c.exp), Ok(Ok(5)));
        // A header whose base64url contains "_eyJ" is not split there.
        assert_eq!(split_prefix("eyJa_eyJb"), Ok(("", "eyJa_eyJb")));
        assert_eq!(
            split_prefix("sp_live_eyJa_eyJb"),
            Ok(("sp_live_", "eyJa_eyJb"))
        );
        assert_eq!(split_prefix("sp_eyJ_eyJb"), Ok(("sp_", "eyJ_eyJb")));
        assert_eq!(split_prefix("sp-eyJb"), Err(TokenError::BadPrefix));
        assert_eq!(split_prefix("abc"), Err(TokenError::NotJwtHeader));
    }

    #[test]
    fn bad_prefixes() {
        let rest = token(100).split_off("sp_live_".len());
        for prefix in [
            "sp-live-",
            "sp__live_",
            "_sp_",
            "sp live_",
            "sp_live",
            "sp_live_!",
            "é_",
        ] {
            let t = format!("{prefix}{rest}");
            let err = decode_claims(&t).err();
            assert!(
                matches!(
                    err,
                    Some(
                        TokenError::BadPrefix
                            | TokenError::Whitespace
                            | TokenError::InvalidCharacter
                            | TokenError::NotJwtHeader
                    )
                ),
                "{prefix}: {err:?}"
            );
        }
        assert_eq!(
            decode_claims(&format!("sp-live-{rest}")),
            Err(TokenError::BadPrefix)
        );
        assert_eq!(
            decode_claims(&format!("sp__live_{rest}")),
            Err(TokenError::BadPrefix)
        );
        assert_eq!(
            decode_claims(&format!("sp_live{rest}")),
            Err(TokenError::BadPrefix)
        );
        assert_eq!(decode_claims("abc.def.ghi"), Err(TokenError::NotJwtHeader));
    }

    #[test]
    fn structural_errors() {
        let good = token(100);
        assert_eq!(decode_claims(""), Err(TokenError::Empty));
        assert_eq!(
            decode_claims("sp_live_"),
            Err(TokenError::NotJwt { parts: 1 })
        );
        let two: String = good
            .rsplit_once('.')
            .map(|(a, _)| a.to_owned())
            .unwrap_or_default();
        assert_eq!(decode_claims(&two), Err(TokenError::NotJwt { parts: 2 }));
        assert_eq!(
            decode_claims(&format!("{good}.x")),
            Err(TokenError::NotJwt { parts: 4 })
        );
        assert_eq!(
            decode_claims(&format!("{good} ")),
            Err(TokenError::Whitespace)
        );
        assert_eq!(
            decode_claims(&good.replacen('.', ".\n", 1)),
            Err(TokenError::Whitespace)
        );
        assert_eq!(
            decode_claims(&good.replacen('.', "\u{0}.", 1)),
            Err(TokenError::Whitespace)
        );
        assert_eq!(
            decode_claims(&format!("\"{good}\"")),
            Err(TokenError::InvalidCharacter)
        );
        assert_eq!(
            decode_claims(&format!("{good}é")),
            Err(TokenError::InvalidCharacter)
        );
        assert_eq!(
            decode_claims(&format!("{good}+")),
            Err(TokenError::InvalidCharacter)
        );
        let long = format!("{good}{}", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(
            decode_claims(&long),
            Err(TokenError::TooLong { len: long.len() })
        );
        // Exactly at the limit is not "too long" (it fails later for other reasons or not at all).
        let sig_pad = MAX_TOKEN_LEN - good.len();
        let at_limit = format!("{good}{}", "A".repeat(sig_pad - sig_pad % 4));
        assert!(at_limit.len() <= MAX_TOKEN_LEN);
        assert!(decode_claims(&at_limit).is_ok());
    }

    #[test]
    fn part_errors() {
        let payload = b64(br#"{"exp":1}"#);
        assert_eq!(
            decode_claims(&format!("{HEADER}..c2ln")),
            Err(TokenError::EmptyPart {
                part: JwtPart::Payload
            })
        );
        assert_eq!(
            decode_claims(&format!("{HEADER}.{payload}.")),
            Err(TokenError::EmptyPart {
                part: JwtPart::Signature
            })
        );
        assert_eq!(
            decode_claims(&format!("{HEADER}.{payload}.==")),
            Err(TokenError::Base64 {
                part: JwtPart::Signature
            })
        );
        assert_eq!(
            decode_claims(&format!("{HEADER}.{payload}.c")),
            Err(TokenError::Base64 {
                part: JwtPart::Signature
            })
        );
        assert_eq!(
            decode_claims(&format!("{HEADER}x.{payload}.c2ln")),
            Err(TokenError::Base64 {
                part: JwtPart::Header
            })
        );
        assert_eq!(
            decode_claims(&format!("{HEADER}.{payload}=.c2ln")),
            Err(TokenError::Base64 {
                part: JwtPart::Payload
            })
        );
        // Truncated header: valid base64url but not JSON.
        assert_eq!(
            decode_claims(&format!("{}.{payload}.c2ln", &HEADER[..20])),
            Err(TokenError::NotJsonObject {
                part: JwtPart::Header
            })
        );
        // Header without alg.
        let no_alg = b64(br#"{"typ":"JWT"}"#);
        assert_eq!(
            decode_claims(&format!("{no_alg}.{payload}.c2ln")),
            Err(TokenError::NoAlg)
        );
        let alg_num = b64(br#"{"alg":1}"#);
        assert_eq!(
            decode_claims(&format!("{alg_num}.{payload}.c2ln")),
            Err(TokenError::NoAlg)
        );
        // Payload not an object.
        for p in [&b"[1,2]"[..], b"\"exp\"", b"12", b"{\"exp\":1", b"\xff\xfe"] {
            let t = format!("{HEADER}.{}.c2ln", b64(p));
            assert_eq!(
                decode_claims(&t),
                Err(TokenError::NotJsonObject {
                    part: JwtPart::Payload
                }),
                "{p:?}"
            );
        }
        // Padded parts are still a JWT; a padded payload is one whose expiry the app cannot
        // read (issue 10), a padded header or signature is fine.
        let padded = format!("{HEADER}.{}.c2ln", base64_padded(br#"{"exp":17}"#));
        assert_eq!(
            decode_claims(&padded).map(|c| c.exp),
            Ok(Err(ExpProblem::Encoding))
        );
        let padded = format!(
            "{}.{}.c2lnbg==",
            base64_padded(br#"{"alg":"x"}"#),
            b64(br#"{"exp":7}"#)
        );
        assert_eq!(decode_claims(&padded).map(|c| c.exp), Ok(Ok(7)));
    }

    #[test]
    fn the_payload_is_decoded_as_the_app_decodes_it() {
        let exact = br#"{"exp":17}"#;
        let unpadded = b64(exact);
        assert_eq!(unpadded.len() % 4, 2);
        let t = |payload: &str| decode_claims(&format!("{HEADER}.{payload}.c2ln")).map(|c| c.exp);
        assert_eq!(t(&unpadded), Ok(Ok(17)));
        assert_eq!(t(&format!("{unpadded}==")), Ok(Err(ExpProblem::Encoding)));
        // Non-canonical: the last character carries non-zero leftover bits ('Q' is 16, whose
        // low four bits are zero; 'R' is 17).
        assert!(unpadded.ends_with('Q'), "{unpadded}");
        let mut noncanonical = unpadded.clone();
        noncanonical.pop();
        noncanonical.push('R');
        assert_eq!(t(&noncanonical), Ok(Err(ExpProblem::Encoding)));
    }

    fn base64_padded(data: &[u8]) -> String {
        let mut s = b64(data);
        while !s.len().is_multiple_of(4) {
            s.push('=');
        }
        s
    }

    #[test]
    fn claims() {
        let c = |p: &str| decode_claims(&token_with_payload(p));
        let exp = |p: &str| c(p).map(|c| c.exp);
        assert_eq!(
            c(r#"{"exp":0,"iat":5}"#),
            Ok(Claims {
                exp: Ok(0),
                iat: Some(5)
            })
        );
        assert_eq!(exp(r#"{"exp":-1}"#), Ok(Ok(-1)));
        assert_eq!(exp(r#"{"exp":9223372036854775807}"#), Ok(Ok(i64::MAX)));
        assert_eq!(exp(r#"{"exp":-9223372036854775808}"#), Ok(Ok(i64::MIN)));
        assert_eq!(
            exp(r#"{"iat":5,"exp":3,"other":{"nested":[1,2]}}"#),
            Ok(Ok(3))
        );
        // A repeated key counts once, with its last value (see `app_exp`).
        assert_eq!(exp(r#"{"exp":1,"exp":2}"#), Ok(Ok(2)));
        // What the SystemPrompt app cannot read as an i64 (it then treats the token as expired).
        let fraction = ExpProblem::NotInteger("a number with a fraction or an exponent");
        for (payload, problem) in [
            ("{}", ExpProblem::Missing),
            (r#"{"iat":5}"#, ExpProblem::Missing),
            (r#"{"exp":null}"#, ExpProblem::NotInteger("null")),
            (
                r#"{"exp":"1769940000"}"#,
                ExpProblem::NotInteger("a string"),
            ),
            (r#"{"exp":true}"#, ExpProblem::NotInteger("a boolean")),
            (r#"{"exp":[1]}"#, ExpProblem::NotInteger("an array")),
            (r#"{"exp":{}}"#, ExpProblem::NotInteger("an object")),
            (r#"{"exp":1.7e9}"#, fraction),
            (r#"{"exp":1769940000.0}"#, fraction),
            (r#"{"exp":-0.5}"#, fraction),
            (r#"{"exp":1e30}"#, fraction),
            (r#"{"exp":9223372036854775808}"#, ExpProblem::OutOfRange),
            (r#"{"exp":18446744073709551615}"#, ExpProblem::OutOfRange),
        ] {
            assert_eq!(exp(payload), Ok(Err(problem)), "{payload}");
        }
        // `iat`: any number that fits, a fraction truncated; anything else is no `iat`.
        let iat = |p: &str| c(p).map(|c| c.iat);
        assert_eq!(
            iat(r#"{"exp":1,"iat":1769853600.75}"#),
            Ok(Some(1_769_853_600))
        );
        assert_eq!(iat(r#"{"exp":1,"iat":-3}"#), Ok(Some(-3)));
        for bad in [
            r#""x""#,
            "null",
            "true",
            "1e300",
            "18446744073709551615",
            "[1]",
        ] {
            assert_eq!(
                iat(&format!(r#"{{"exp":1,"iat":{bad}}}"#)),
                Ok(None),
                "{bad}"
            );
        }
    }

    #[test]
    fn login_time_is_a_sane_past_iat_or_now() {
        let at = |iat| Claims { exp: Ok(0), iat };
        let now: u64 = 1_769_940_000;
        let signed = |v: u64| i64::try_from(v).unwrap();
        assert_eq!(login_time(&at(Some(1_769_853_600)), now), 1_769_853_600);
        assert_eq!(login_time(&at(Some(0)), now), 0);
        assert_eq!(login_time(&at(Some(signed(now))), now), now);
        // In the future, before 1970, in milliseconds, past year 9999, or absent: now.
        for iat in [
            Some(signed(now) + 1),
            Some(-1),
            Some(1_769_853_600_000),
            Some(i64::MAX),
            None,
        ] {
            assert_eq!(login_time(&at(iat), now), now, "{iat:?}");
        }
        // Even with a clock past year 9999 (absurd), never a five-digit year from `iat`.
        let max = crate::timefmt::MAX_RFC3339;
        assert_eq!(login_time(&at(Some(signed(max))), max + 10), max);
        assert_eq!(login_time(&at(Some(signed(max + 1))), max + 10), max + 10);
    }

    #[test]
    fn expiry_classes() {
        let at = |exp| Claims {
            exp: Ok(exp),
            iat: None,
        };
        let missing = Claims {
            exp: Err(ExpProblem::Missing),
            iat: None,
        };
        assert_eq!(
            expiry(&missing, 100),
            Expiry::Unreadable(ExpProblem::Missing)
        );
        // exp == now is "expires soon", as in the app; expired means exp < now.
        assert_eq!(expiry(&at(100), 100), Expiry::ExpiresSoon { remaining: 0 });
        assert_eq!(expiry(&at(99), 100), Expiry::Expired { ago: 1 });
        assert_eq!(expiry(&at(100), 7300), Expiry::Expired { ago: 7200 });
        assert_eq!(expiry(&at(-5), 0), Expiry::Expired { ago: 5 });
        assert_eq!(
            expiry(&at(i64::MIN), u64::MAX),
            Expiry::Expired { ago: u64::MAX }
        );
        assert_eq!(expiry(&at(101), 100), Expiry::ExpiresSoon { remaining: 1 });
        assert_eq!(
            expiry(&at(3699), 100),
            Expiry::ExpiresSoon { remaining: 3599 }
        );
        assert_eq!(expiry(&at(3700), 100), Expiry::Valid { remaining: 3600 });
        assert_eq!(
            expiry(&at(i64::MAX), 0),
            Expiry::Valid {
                remaining: u64::try_from(i64::MAX).unwrap()
            }
        );
        assert_eq!(
            expiry(&at(5), u64::MAX),
            Expiry::Expired { ago: u64::MAX - 5 }
        );
    }

    #[test]
    fn secret_is_redacted_and_serialises_plainly() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: Secret,
        }
        let t = token(1_769_940_000);
        let s = Secret::new(t.clone());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s:#?}"), "Secret(***)");
        assert_eq!(s.expose(), t);
        assert_eq!(serde_json::to_string(&s).ok(), Some(format!("\"{t}\"")));
        assert_no_leak(&t, &format!("{:?}", Holder { token: s }));
    }

    #[test]
    fn secret_drop_runs_for_empty_and_large_values() {
        drop(Secret::new(String::new()));
        drop(Secret::new(String::with_capacity(1 << 16)));
        let mut v = String::with_capacity(100);
        v.push_str("abc");
        drop(Secret::new(v));
    }

    #[test]
    fn no_error_message_contains_the_token() {
        let good = token(1_769_940_000);
        let payload = b64(br#"{"exp":"soon","sub":"someone-secret-ish"}"#);
        let mut bad_tokens = vec![
            format!("{good} trailing"),
            format!("{good}.extra"),
            format!("\"{good}\""),
            good.replace("sp_live_", "sp-live-"),
            good.replace("eyJ", "xyJ"),
            format!("{HEADER}.{payload}.c2lnbmF0dXJl"),
            format!("{HEADER}.{payload}x.c2lnbmF0dXJl"),
            format!(
                "sp_live_{HEADER}.{}.c2lnbmF0dXJl",
                b64(b"[\"array-payload\"]")
            ),
            format!("{good}{}", "Q".repeat(MAX_TOKEN_LEN)),
            good.rsplit_once('.')
                .map(|(a, _)| a.to_owned())
                .unwrap_or_default(),
        ];
        bad_tokens.push(format!("{}.{}.", &HEADER, b64(b"{}")));
        for t in &bad_tokens {
            // A token whose only fault is its `exp` decodes, with the problem in `exp`.
            let shown = match decode_claims(t) {
                Ok(Claims {
                    exp: Err(problem), ..
                }) => {
                    format!("{problem} {problem:?} {problem:#?}")
                }
                Ok(claims) => panic!("{t}: {claims:?}"),
                Err(err) => format!("{err} {err:?} {err:#?}"),
            };
            assert_no_leak(t, &shown);
        }
    }

    #[test]
    fn messages_say_what_and_what_to_do() {
        let msg = TokenError::NotJwt { parts: 1 }.to_string();
        assert!(msg.starts_with(
            "not a JWT: expected three dot-separated parts after an optional prefix like sp_live_"
        ));
        assert!(msg.contains("copy the whole token"));
        for e in [
            TokenError::Empty,
            TokenError::TooLong { len: 1 },
            TokenError::Whitespace,
            TokenError::InvalidCharacter,
            TokenError::BadPrefix,
            TokenError::NotJwtHeader,
            TokenError::EmptyPart {
                part: JwtPart::Signature,
            },
            TokenError::Base64 {
                part: JwtPart::Payload,
            },
            TokenError::NotJsonObject {
                part: JwtPart::Header,
            },
            TokenError::NoAlg,
        ] {
            assert!(e.to_string().contains("copy the whole token"), "{e}");
        }
    }

    /// Deterministic mutation fuzz: `decode_claims` never panics.
    #[test]
    fn decode_never_panics_on_mutations() {
        let seed = token(1_769_940_000);
        let alphabet = b"._-=eyJ0aA \n\x00/+";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5000 {
            let mut b = seed.clone().into_bytes();
            for _ in 0..=(next() % 4) {
                let len = b.len() as u64;
                let at = usize::try_from(next() % len).unwrap_or(0);
                let c = alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap_or(0)];
                if next() % 2 == 0 {
                    b[at] = c;
                } else {
                    b.remove(at);
                }
            }
            let s = String::from_utf8_lossy(&b);
            let _ = decode_claims(&s);
        }
    }
}
