//! The API token: a redacting secret wrapper, JWT claims decoding (with its own base64url
//! decoder) and expiry classification. Pure, no I/O.
//!
//! The signature cannot be checked locally (there is no key); decoding only catches tokens
//! that were pasted wrong (truncated, wrapped, the wrong value) before anything is sent.
//! No error or `Debug` output ever contains any part of the token.

use std::fmt;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// `exp`: expiry, seconds since the epoch.
    pub exp: Option<u64>,
    /// `iat`: issued at (the login time), seconds since the epoch.
    pub iat: Option<u64>,
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
    /// `exp` or `iat` is not a non-negative number of seconds.
    #[error(
        "malformed JWT: the \"{claim}\" claim is not a non-negative number of seconds since the epoch; {COPY_HINT}, or ask SystemPrompt support if it persists"
    )]
    BadClaim {
        /// `exp` or `iat`.
        claim: &'static str,
    },
}

fn part_number(part: JwtPart) -> u8 {
    match part {
        JwtPart::Header => 1,
        JwtPart::Payload => 2,
        JwtPart::Signature => 3,
    }
}

/// The value of one base64url character, or `None`.
fn b64_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decode base64url (RFC 4648 §5).
///
/// Padding is optional: up to two trailing `=` are accepted when they make the length a
/// multiple of 4 (JWTs use none). `+`, `/`, whitespace and `=` elsewhere are rejected, as is
/// an impossible length (4n+1 characters). Non-zero bits left over in the last character are
/// ignored, as most decoders do.
pub fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    let unpadded = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(bytes);
    if unpadded.len() != bytes.len() && !bytes.len().is_multiple_of(4) {
        return None;
    }
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() * 3 / 4);
    for chunk in unpadded.chunks(4) {
        let mut acc: u32 = 0;
        for &c in chunk {
            acc = (acc << 6) | b64_value(c)?;
        }
        let be = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&be[1..4]), // 24 bits
            3 => out.extend_from_slice(&(acc >> 2).to_be_bytes()[2..4]), // 18 bits -> 2 bytes
            2 => out.push((acc >> 4).to_be_bytes()[3]), // 12 bits -> 1 byte
            _ => return None,
        }
    }
    Some(out)
}

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
    match base64url_decode(text) {
        Some(bytes) if !bytes.is_empty() => Ok(bytes),
        Some(_) => Err(TokenError::EmptyPart { part }),
        None => Err(TokenError::Base64 { part }),
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

/// Read a `NumericDate` claim: absent or `null` is `None`; a non-negative number is accepted
/// (RFC 7519 allows fractions; they are truncated); anything else is malformed.
fn numeric_date(
    claims: &serde_json::Map<String, serde_json::Value>,
    claim: &'static str,
) -> Result<Option<u64>, TokenError> {
    let bad = || TokenError::BadClaim { claim };
    match claims.get(claim) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                return Ok(Some(v));
            }
            let f = n.as_f64().ok_or_else(bad)?;
            // 2^64 as f64; larger (or negative, NaN) is out of range.
            if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(Some(f.trunc() as u64))
            } else {
                Err(bad())
            }
        }
        Some(_) => Err(bad()),
    }
}

/// Decode the claims of `token` (`[prefix_]header.payload.signature`).
///
/// The optional prefix is `[A-Za-z0-9]+(_[A-Za-z0-9]+)*_` (e.g. `sp_live_`, `sp_test_`); the
/// JWT starts at the header, which always begins with `eyJ`. Each part is base64url (see
/// [`base64url_decode`]); the header must be a JSON object with an `alg` string; the payload a
/// JSON object whose `exp` and `iat`, when present, are non-negative numbers; the signature
/// non-empty. The token must be at most [`MAX_TOKEN_LEN`] bytes with no whitespace or control
/// characters (trim it first). The signature is not verified.
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
    let payload = json_object(JwtPart::Payload, &decode_part(JwtPart::Payload, payload)?)?;
    decode_part(JwtPart::Signature, signature)?;

    Ok(Claims {
        exp: numeric_date(&payload, "exp")?,
        iat: numeric_date(&payload, "iat")?,
    })
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
///
/// `exp <= now` is [`Expiry::Expired`] (`ago = now - exp`, so 0 at the exact second); fewer
/// than [`EXPIRES_SOON_SECS`] seconds left is [`Expiry::ExpiresSoon`]; otherwise
/// [`Expiry::Valid`]. No `exp` is [`Expiry::Unknown`].
pub fn expiry(claims: &Claims, now: u64) -> Expiry {
    match claims.exp {
        None => Expiry::Unknown,
        Some(exp) if exp <= now => Expiry::Expired { ago: now - exp },
        Some(exp) if exp - now < EXPIRES_SOON_SECS => Expiry::ExpiresSoon {
            remaining: exp - now,
        },
        Some(exp) => Expiry::Valid {
            remaining: exp - now,
        },
    }
}

/// The alphabet of base64url (RFC 4648 §5).
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encode base64url without padding: the inverse of [`base64url_decode`], for building tokens in
/// tests, property tests and fuzz targets (the entrypoint itself never encodes).
#[doc(hidden)]
pub fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Test helpers shared with the config tests.
#[cfg(test)]
pub(crate) mod testing {
    pub use super::base64url_encode as b64;

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
    fn base64url_known_vectors() {
        // RFC 4648 §10, in the url-safe alphabet.
        for (enc, dec) in [
            ("", ""),
            ("Zg", "f"),
            ("Zm8", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg", "foob"),
            ("Zm9vYmE", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(
                base64url_decode(enc).as_deref(),
                Some(dec.as_bytes()),
                "{enc}"
            );
        }
        assert_eq!(base64url_decode("-_-_"), Some(vec![0xfb, 0xff, 0xbf]));
        assert_eq!(base64url_decode("AAAA"), Some(vec![0, 0, 0]));
        assert_eq!(base64url_decode("____"), Some(vec![255, 255, 255]));
    }

    #[test]
    fn base64url_padding_is_optional_but_must_be_right() {
        assert_eq!(base64url_decode("Zg=="), Some(b"f".to_vec()));
        assert_eq!(base64url_decode("Zm8="), Some(b"fo".to_vec()));
        assert_eq!(base64url_decode("Zg="), None);
        assert_eq!(base64url_decode("Zg==="), None);
        assert_eq!(base64url_decode("Zm9v="), None);
        assert_eq!(base64url_decode("Z=g="), None);
        assert_eq!(base64url_decode("="), None);
        assert_eq!(base64url_decode("=="), None);
    }

    #[test]
    fn base64url_rejects_invalid() {
        for bad in [
            "Z",
            "Zm9vY",
            "Zm+v",
            "Zm/v",
            "Zm9 v",
            "Zm9\nv",
            "Zm9v\u{e9}",
            "Zm9v%",
            "Zm.v",
        ] {
            assert_eq!(base64url_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base64url_round_trips_all_lengths() {
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 0..data.len() {
            assert_eq!(
                base64url_decode(&b64(&data[..len])).as_deref(),
                Some(&data[..len])
            );
        }
    }

    #[test]
    fn base64url_ignores_leftover_bits() {
        // "Zh" has non-zero low bits; decodes to "f" anyway.
        assert_eq!(base64url_decode("Zh"), Some(b"f".to_vec()));
    }

    #[test]
    fn decodes_prefixed_and_bare_tokens() {
        let t = token(1_769_940_000);
        assert_eq!(
            decode_claims(&t),
            Ok(Claims {
                exp: Some(1_769_940_000),
                iat: Some(1_769_853_600)
            })
        );
        let bare = t.strip_prefix("sp_live_").unwrap_or_default();
        assert_eq!(decode_claims(bare).map(|c| c.exp), Ok(Some(1_769_940_000)));
        for prefix in ["sp_test_", "x_", "SP_LIVE_", "sp_live_v2_", "a1_b2_c3_"] {
            let t2 = format!("{prefix}{bare}");
            assert_eq!(
                decode_claims(&t2).map(|c| c.exp),
                Ok(Some(1_769_940_000)),
                "{prefix}"
            );
        }
    }

    #[test]
    fn prefix_containing_eyj_and_header_containing_underscore() {
        let payload = b64(br#"{"exp":5}"#);
        // A prefix segment that itself contains "eyJ".
        let t = format!("keyJ_{HEADER}.{payload}.c2ln");
        assert_eq!(decode_claims(&t).map(|c| c.exp), Ok(Some(5)));
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
        // Padded parts are accepted.
        let padded = format!("{HEADER}.{}.c2ln", base64_padded(br#"{"exp":7}"#));
        assert_eq!(decode_claims(&padded).map(|c| c.exp), Ok(Some(7)));
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
        assert_eq!(c("{}"), Ok(Claims::default()));
        assert_eq!(c(r#"{"exp":null,"iat":null}"#), Ok(Claims::default()));
        assert_eq!(
            c(r#"{"exp":0}"#),
            Ok(Claims {
                exp: Some(0),
                iat: None
            })
        );
        assert_eq!(
            c(r#"{"exp":18446744073709551615}"#).map(|c| c.exp),
            Ok(Some(u64::MAX))
        );
        assert_eq!(
            c(r#"{"exp":1.7e9}"#).map(|c| c.exp),
            Ok(Some(1_700_000_000))
        );
        assert_eq!(
            c(r#"{"exp":1769940000.75}"#).map(|c| c.exp),
            Ok(Some(1_769_940_000))
        );
        assert_eq!(
            c(r#"{"iat":5,"other":{"nested":[1,2]}}"#),
            Ok(Claims {
                exp: None,
                iat: Some(5)
            })
        );
        for bad in [
            r#"{"exp":"1769940000"}"#,
            r#"{"exp":-1}"#,
            r#"{"exp":-0.5}"#,
            r#"{"exp":true}"#,
            r#"{"exp":[1]}"#,
            r#"{"exp":1e30}"#,
        ] {
            assert_eq!(c(bad), Err(TokenError::BadClaim { claim: "exp" }), "{bad}");
        }
        assert_eq!(
            c(r#"{"exp":1,"iat":"x"}"#),
            Err(TokenError::BadClaim { claim: "iat" })
        );
    }

    #[test]
    fn expiry_classes() {
        let at = |exp| Claims {
            exp: Some(exp),
            iat: None,
        };
        assert_eq!(expiry(&Claims::default(), 100), Expiry::Unknown);
        assert_eq!(expiry(&at(100), 100), Expiry::Expired { ago: 0 });
        assert_eq!(expiry(&at(100), 7300), Expiry::Expired { ago: 7200 });
        assert_eq!(expiry(&at(0), u64::MAX), Expiry::Expired { ago: u64::MAX });
        assert_eq!(expiry(&at(101), 100), Expiry::ExpiresSoon { remaining: 1 });
        assert_eq!(
            expiry(&at(3699), 100),
            Expiry::ExpiresSoon { remaining: 3599 }
        );
        assert_eq!(expiry(&at(3700), 100), Expiry::Valid { remaining: 3600 });
        assert_eq!(
            expiry(&at(u64::MAX), 0),
            Expiry::Valid {
                remaining: u64::MAX
            }
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
            let err = decode_claims(t).expect_err(t);
            assert_no_leak(t, &err.to_string());
            assert_no_leak(t, &format!("{err:?}"));
            assert_no_leak(t, &format!("{err:#?}"));
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
            TokenError::BadClaim { claim: "exp" },
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
