//! The one redaction (`src/redact.rs`): a token built by the fuzzer (a prefix and three
//! base64url parts of arbitrary bytes), registered as given or wrapped by a line break, and a
//! text assembled from arbitrary strings, the token, any piece of 8 or more characters of it,
//! each in its own letter case.
//!
//! Properties: no panic; the output holds no piece of 8 or more characters of the token's
//! secret part (anything after the prefix), in any letter case (checked naively, by substring
//! search on lowercased text); text holding a piece is changed; text holding no piece of the
//! token and no `eyJ` (nothing shaped like a JWT) comes out unchanged.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use sp_entrypoint::redact::{MIN_PIECE, Redactor, redact_with};

/// base64url without padding, as tokens use it.
fn base64url_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

#[derive(Arbitrary, Debug)]
enum Case {
    Same,
    Lower,
    Upper,
    /// Flip the case of the letters whose bit is set (cycling through the 64 bits).
    Mixed(u64),
}

#[derive(Arbitrary, Debug)]
enum Piece {
    Text(String),
    Token(Case),
    /// `len` (at least 8) characters of the token from `start`.
    Slice { start: u16, len: u16, case: Case },
}

#[derive(Arbitrary, Debug)]
struct Input {
    prefix: u8,
    header: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
    /// Register the token wrapped by a line break at this position (`None`: as it is).
    wrap_at: Option<u16>,
    pieces: Vec<Piece>,
}

const PREFIXES: [&str; 4] = ["", "sp_live_", "sp_test_", "org_team_key_"];

fn apply(case: &Case, s: &str) -> String {
    match case {
        Case::Same => s.to_owned(),
        Case::Lower => s.to_ascii_lowercase(),
        Case::Upper => s.to_ascii_uppercase(),
        Case::Mixed(bits) => s
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if bits >> (i % 64) & 1 == 1 {
                    if c.is_ascii_lowercase() {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                } else {
                    c
                }
            })
            .collect(),
    }
}

fuzz_target!(|input: Input| {
    let prefix = PREFIXES[usize::from(input.prefix) % PREFIXES.len()];
    // `{"alg"` encodes to `eyJhbGci`: every header starts like a real JWT's.
    let mut header = b"{\"alg\"".to_vec();
    header.extend_from_slice(&input.header);
    let token = format!(
        "{prefix}{}.{}.{}",
        base64url_encode(&header),
        base64url_encode(&input.payload),
        base64url_encode(&input.signature)
    );
    let registered = match input.wrap_at {
        Some(at) => {
            let at = usize::from(at) % token.len();
            format!("{}\n{}", &token[..at], &token[at..])
        }
        None => token.clone(),
    };

    // The secret part starts at the JWT (`eyJ`), as the redactor reads the prefix.
    let secret_from = token.find("eyJ").unwrap_or(0);
    let mut text = String::new();
    let mut has_piece = false;
    for p in &input.pieces {
        match p {
            Piece::Text(t) => text.push_str(t),
            Piece::Token(case) => {
                has_piece |= token.len() >= MIN_PIECE;
                text.push_str(&apply(case, &token));
            }
            Piece::Slice { start, len, case } => {
                let start = usize::from(*start) % token.len();
                let len = usize::from(*len).max(MIN_PIECE);
                let end = (start + len).min(token.len());
                // A piece of the secret: 8 or more characters, reaching past the prefix.
                has_piece |= end - start >= MIN_PIECE && end > secret_from;
                text.push_str(&apply(case, &token[start..end]));
            }
        }
    }

    let redactor = Redactor::with_secret(&registered);
    let out = redactor.redact(&text).into_owned();
    assert_eq!(out, redact_with(&text, &registered));

    let token_lower = token.to_ascii_lowercase();
    let holds_piece = |s: &str| {
        let lower = s.to_ascii_lowercase();
        token_lower
            .as_bytes()
            .windows(MIN_PIECE)
            .enumerate()
            .filter(|(start, _)| start + MIN_PIECE > secret_from)
            .map(|(_, piece)| String::from_utf8_lossy(piece).into_owned())
            .find(|piece| lower.contains(piece.as_str()))
    };
    if let Some(piece) = holds_piece(&out) {
        panic!("piece {piece:?} of the token left in {out:?}");
    }
    if has_piece {
        assert_ne!(out, text);
    } else if holds_piece(&text).is_none() && !text.contains("eyJ") {
        assert_eq!(out, text);
    }
});
