//! Test tokens: minting and verifying `sp_test_` + HS256 JWTs with the fake's fixed key.
//!
//! The key is a constant so that a token minted by one process (`fake-cloud mint`) is
//! accepted by a fake server running in another.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use ring::hmac;
use serde_json::{Map, Value};

/// The HMAC-SHA256 key every fake signs and verifies with.
pub const SIGNING_KEY: &[u8] = b"fake-cloud-test-key";

/// The prefix of tokens minted by the fake.
pub const TOKEN_PREFIX: &str = "sp_test_";

/// The prefixes the fake strips before verifying a token (none is also accepted).
const ACCEPTED_PREFIXES: [&str; 2] = ["sp_test_", "sp_live_"];

const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Mint a valid token for `email` with the given `iat` and `exp` (seconds since the epoch).
///
/// The payload is `{"sub":"user_1","email":..,"iat":..,"exp":..}`.
pub fn mint_token(email: &str, iat: u64, exp: u64) -> String {
    let payload = serde_json::json!({
        "sub": "user_1",
        "email": email,
        "iat": iat,
        "exp": exp,
    });
    mint_token_with_payload(&payload.to_string())
}

/// Mint a correctly signed token whose payload is exactly `payload_json` (not validated:
/// tests use this for tokens without `exp`, with odd claims, or with a payload that is not JSON).
pub fn mint_token_with_payload(payload_json: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        b64url_encode(HEADER_JSON.as_bytes()),
        b64url_encode(payload_json.as_bytes())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, SIGNING_KEY);
    let sig = hmac::sign(&key, signing_input.as_bytes());
    format!(
        "{TOKEN_PREFIX}{signing_input}.{}",
        b64url_encode(sig.as_ref())
    )
}

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not three base64url parts, or the header or payload is not a JSON object.
    Malformed,
    /// The header's `alg` is not `HS256`.
    WrongAlgorithm,
    /// The signature does not verify with [`SIGNING_KEY`].
    BadSignature,
    /// `exp` is present but not a number.
    BadExpiry,
    /// `exp` is at or before `now`.
    Expired,
}

/// Verify `token` (with or without an `sp_test_`/`sp_live_` prefix) at time `now` and return
/// its claims. A token without `exp` never expires.
pub fn verify_token(token: &str, now: u64) -> Result<Map<String, Value>, Rejection> {
    let jwt = ACCEPTED_PREFIXES
        .iter()
        .find_map(|p| token.strip_prefix(p))
        .unwrap_or(token);
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed);
    };
    let header = decode_object(h)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(Rejection::WrongAlgorithm);
    }
    let sig = b64url_decode(s).ok_or(Rejection::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, SIGNING_KEY);
    let signing_input = &jwt[..h.len() + 1 + p.len()];
    hmac::verify(&key, signing_input.as_bytes(), &sig).map_err(|_| Rejection::BadSignature)?;
    let claims = decode_object(p)?;
    match claims.get("exp") {
        None | Some(Value::Null) => {}
        Some(exp) => {
            let exp = exp.as_f64().ok_or(Rejection::BadExpiry)?;
            #[allow(clippy::cast_precision_loss)]
            if exp <= now as f64 {
                return Err(Rejection::Expired);
            }
        }
    }
    Ok(claims)
}

fn decode_object(part: &str) -> Result<Map<String, Value>, Rejection> {
    let bytes = b64url_decode(part).ok_or(Rejection::Malformed)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Rejection::Malformed),
    }
}

/// How the fake decodes: base64url, padding tolerated (as before the crate took over).
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// base64url without padding.
pub fn b64url_encode(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decode base64url without padding (trailing `=` tolerated); `None` on any invalid input.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    DECODER.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_roundtrip() {
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len)
                .map(|i: u8| i.wrapping_mul(37).wrapping_add(250))
                .collect();
            let enc = b64url_encode(&data);
            assert!(!enc.contains('='));
            assert_eq!(b64url_decode(&enc).unwrap(), data);
        }
        assert_eq!(b64url_encode(b"\xfb\xff"), "-_8");
        assert!(b64url_decode("a+b").is_none());
        assert!(b64url_decode("abcde").is_none());
    }

    #[test]
    fn mint_verify_roundtrip() {
        let t = mint_token("a@example.com", 100, 200);
        assert!(t.starts_with("sp_test_"));
        assert_eq!(t.matches('.').count(), 2);
        let claims = verify_token(&t, 150).unwrap();
        assert_eq!(claims["email"], "a@example.com");
        assert_eq!(claims["sub"], "user_1");
        assert_eq!(claims["iat"], 100);
        assert_eq!(claims["exp"], 200);
        assert_eq!(verify_token(&t, 200), Err(Rejection::Expired));
        // Without the prefix, and with the live prefix, it still verifies.
        let bare = t.strip_prefix("sp_test_").unwrap();
        assert!(verify_token(bare, 150).is_ok());
        assert!(verify_token(&format!("sp_live_{bare}"), 150).is_ok());
    }

    #[test]
    fn header_is_standard() {
        let t = mint_token("a@example.com", 1, 2);
        let header = t
            .strip_prefix("sp_test_")
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        assert_eq!(header, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
    }

    #[test]
    fn rejections() {
        let t = mint_token("a@example.com", 100, 200);
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(verify_token(&tampered, 150), Err(Rejection::BadSignature));
        assert_eq!(verify_token("nope", 150), Err(Rejection::Malformed));
        assert_eq!(verify_token("a.b.c.d", 150), Err(Rejection::Malformed));
        assert_eq!(verify_token("", 150), Err(Rejection::Malformed));
        let no_exp = mint_token_with_payload(r#"{"email":"x@example.com"}"#);
        assert!(verify_token(&no_exp, u64::MAX).is_ok());
        let str_exp = mint_token_with_payload(r#"{"exp":"soon"}"#);
        assert_eq!(verify_token(&str_exp, 1), Err(Rejection::BadExpiry));
        let not_json = mint_token_with_payload("not json");
        assert_eq!(verify_token(&not_json, 1), Err(Rejection::Malformed));
        // Same payload signed with another algorithm name is refused.
        let parts: Vec<&str> = t.strip_prefix("sp_test_").unwrap().split('.').collect();
        let none_hdr = b64url_encode(br#"{"alg":"none"}"#);
        let forged = format!("{none_hdr}.{}.{}", parts[1], parts[2]);
        assert_eq!(verify_token(&forged, 150), Err(Rejection::WrongAlgorithm));
    }
}
