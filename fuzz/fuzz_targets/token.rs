//! `token::decode_claims` and `token::expiry` on arbitrary input.
//!
//! Properties: no panic; an error message never contains the input (the token); an accepted
//! token has exactly three parts; when `exp` is read, the payload is canonical unpadded
//! base64url (the `base64` crate's strict decoder accepts it) holding that integer `exp`, as
//! the SystemPrompt app reads it; when it is not, the token is never classified as valid.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use sp_entrypoint::token::{Expiry, decode_claims, expiry};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // As a token, and as the payload of a token around fuzzed claims (padded too). (`TokenError`
    // holds no text, so its message cannot repeat the input; that is checked for the others,
    // whose header makes them distinctive.)
    let payload = URL_SAFE_NO_PAD.encode(data);
    for (token, distinctive) in [
        (text.to_owned(), false),
        (format!("sp_live_eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln"), true),
        (
            format!("sp_live_eyJhbGciOiJIUzI1NiJ9.{payload}==.c2ln"),
            true,
        ),
    ] {
        match decode_claims(&token) {
            Ok(claims) => {
                let jwt = token.rsplitn(3, '.').collect::<Vec<_>>();
                assert_eq!(jwt.len(), 3);
                match claims.exp {
                    Ok(exp) => {
                        let bytes = URL_SAFE_NO_PAD.decode(jwt[1]).expect("strict payload");
                        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
                        assert_eq!(v["exp"].as_i64(), Some(exp));
                    }
                    Err(_) => {
                        assert!(matches!(expiry(&claims, 0), Expiry::Unreadable(_)));
                    }
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
