//! The whoami answer parsing (`src/whoami/answer.rs`, through `whoami::fuzzing`): the 2xx
//! body (both readings), the error detail, sanitizing and redaction, `Retry-After` and
//! redirect targets.
//!
//! Properties: no panic; nothing derived from a body ever contains the token or one of its
//! long segments (the fuzzer embeds them anywhere in the body, raw or JSON-escaped); a detail
//! is one line of at most `MAX_DETAIL` characters plus an ellipsis, without control characters.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sp_entrypoint::whoami::fuzzing as answer;

const TOKEN: &str = "sp_live_eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyXzEyMyIsImV4cCI6NDAwMDAwMDAwMCwiaWF0IjozOTk5OTEzNjAwfQ.bm90LWEtcmVhbC1zaWduYXR1cmUtYnV0LWJ5dGVz";
const MAX_DETAIL: usize = 200;

#[derive(Arbitrary, Debug)]
enum Piece {
    Text(String),
    Bytes(Vec<u8>),
    Token,
    /// One of the token's segments: 0 header (with prefix), 1 payload, 2 signature, 3 the JWT
    /// without the prefix, 4 the header without the prefix.
    Segment(u8),
    /// A whitespace or control character inside the token (a server that wraps it).
    SplitToken(u8, u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    body: Vec<Piece>,
    header: String,
    now: u64,
    max: u8,
}

fn segment(i: u8) -> &'static str {
    let jwt = TOKEN.trim_start_matches("sp_live_");
    let mut parts = TOKEN.split('.');
    let header = parts.next().unwrap_or("");
    let payload = parts.next().unwrap_or("");
    let sig = parts.next().unwrap_or("");
    match i % 5 {
        0 => header,
        1 => payload,
        2 => sig,
        3 => jwt,
        _ => header.trim_start_matches("sp_live_"),
    }
}

/// The long, distinctive pieces of the token that must never be shown.
fn leaked(text: &str) -> Option<&'static str> {
    (0..5).map(segment).find(|s| text.contains(s))
}

fuzz_target!(|input: Input| {
    let mut body = Vec::new();
    for p in &input.body {
        match p {
            Piece::Text(t) => body.extend_from_slice(t.as_bytes()),
            Piece::Bytes(b) => body.extend_from_slice(b),
            Piece::Token => body.extend_from_slice(TOKEN.as_bytes()),
            Piece::Segment(i) => body.extend_from_slice(segment(*i).as_bytes()),
            Piece::SplitToken(at, c) => {
                let at = usize::from(*at) % TOKEN.len();
                body.extend_from_slice(&TOKEN.as_bytes()[..at]);
                body.push(*c % 0x21);
                body.extend_from_slice(&TOKEN.as_bytes()[at..]);
            }
        }
    }

    match answer::parse_user(&input.header, &body, TOKEN) {
        Ok((id, email, name)) => {
            for t in [id.as_str(), email.as_str(), name.as_deref().unwrap_or("")] {
                assert!(leaked(t).is_none(), "leak in a parsed field: {t}");
                // Shown in log lines and messages: one line, no control characters.
                assert!(!t.chars().any(|c| c.is_control() || c == '\n'), "{t:?}");
            }
        }
        Err(reason) => assert!(leaked(&reason).is_none(), "leak in: {reason}"),
    }
    if let Some(reason) = answer::app_parse_error(&body, TOKEN) {
        assert!(leaked(&reason).is_none(), "leak in: {reason}");
        assert!(!reason.chars().any(char::is_control), "{reason:?}");
    }

    let detail = answer::error_detail(&body, TOKEN);
    assert!(leaked(&detail).is_none(), "leak in: {detail}");
    assert!(detail.chars().count() <= MAX_DETAIL + 1, "{detail}");
    assert!(!detail.chars().any(char::is_control), "{detail:?}");
    assert!(
        !detail.contains("  ") && detail.trim() == detail,
        "{detail:?}"
    );

    let text = String::from_utf8_lossy(&body);
    let max = usize::from(input.max);
    let line = answer::sanitize(&text, TOKEN, max);
    assert!(leaked(&line).is_none(), "leak in: {line}");
    assert!(line.chars().count() <= max + 1, "{line}");
    assert!(leaked(&answer::redact(&text, TOKEN)).is_none());

    let _ = answer::parse_retry_after(&input.header, input.now);
    let _ = answer::parse_retry_after(&text, input.now);
    if let Some(shown) =
        answer::location_for_message("https://api.example.com/api/v1/auth/me", Some(&text), TOKEN)
    {
        assert!(leaked(&shown).is_none(), "leak in: {shown}");
    }
});
