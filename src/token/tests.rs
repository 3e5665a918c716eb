//! Unit tests of [`super`]: decoding, expiry classes, and that no message repeats the token.
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
