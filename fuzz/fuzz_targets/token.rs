//! `token::decode_claims` and `token::base64url_decode` on arbitrary input.
//!
//! Properties: no panic; an error message never contains the input (the token); an accepted
//! token has exactly three parts, each of which decodes; encoding arbitrary bytes and decoding
//! them gives the bytes back; the decoder accepts exactly the base64url alphabet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sp_entrypoint::token::base64url_encode as b64;
use sp_entrypoint::token::{base64url_decode, decode_claims, expiry};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fuzz_target!(|data: &[u8]| {
    // Round trip of arbitrary bytes, unpadded and padded.
    let enc = b64(data);
    assert_eq!(base64url_decode(&enc).as_deref(), Some(data));
    let mut padded = enc.clone();
    while padded.len() % 4 != 0 {
        padded.push('=');
    }
    assert_eq!(base64url_decode(&padded).as_deref(), Some(data));

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The decoder never accepts a character outside the alphabet (and '=' only as padding).
    if let Some(out) = base64url_decode(text) {
        let body = text.trim_end_matches('=');
        assert!(body.bytes().all(|c| ALPHABET.contains(&c)), "{text:?}");
        assert!(text.len() - body.len() <= 2);
        assert!(out.len() <= text.len() * 3 / 4 + 1);
    }
    // As a token, and as the payload of a token around fuzzed claims. (`TokenError` holds no
    // text, so its message cannot repeat the input; that is checked for the second, whose
    // header makes it distinctive.)
    for (token, distinctive) in [
        (text.to_owned(), false),
        (
            format!("sp_live_eyJhbGciOiJIUzI1NiJ9.{}.c2ln", b64(data)),
            true,
        ),
    ] {
        match decode_claims(&token) {
            Ok(claims) => {
                let jwt = token.rsplitn(3, '.').collect::<Vec<_>>();
                assert_eq!(jwt.len(), 3);
                for part in &jwt[..2] {
                    assert!(base64url_decode(part).is_some_and(|b| !b.is_empty()));
                }
                let _ = expiry(&claims, 1_700_000_000);
                let _ = expiry(&claims, u64::MAX);
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    !distinctive || !msg.contains(token.as_str()),
                    "the message repeats the token: {msg}"
                );
            }
        }
    }
});
