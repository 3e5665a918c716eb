//! The property behind issue 10, on generated inputs: tokens (claims of every type and range,
//! padded and non-canonical payloads, prefixes), emails and whoami answers, each run through
//! the real binary with `--write-credentials` against the fake cloud, and judged by the
//! independent checker in `tests/contract`:
//!
//! - whenever the checker would reject the token (the app cannot read `exp`, or it is past),
//!   the binary refused it with 77 before sending anything, and wrote nothing;
//! - whenever the binary starts the app and writes a file, the checker accepts the file as the
//!   app would: the token not expired, `authenticated_at` a real past instant, the server's
//!   email, and `last_validated_at` set exactly when the app would have parsed the answer;
//! - and it does start the app whenever the app would accept the token, the answer and the
//!   email (it refuses nothing the app accepts, bar the documented stricter email rule).
//!
//! Cases: 48 in `cargo test`; set `PROPTEST_CASES` for a longer run (README, "Development").

mod common;
mod contract;

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Step, Test, cloud, read, scratch};
use contract::{Expect, check_credentials_file};
use proptest::prelude::*;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

const DAY: i64 = 86_400;
const YEAR: i64 = 365 * DAY;

/// A claim as generated: relative times are resolved against the clock when the case runs
/// (never within 10 s of now, so that the second the binary reads cannot change the verdict).
#[derive(Debug, Clone)]
enum Claim {
    Absent,
    Null,
    /// `now + offset`, as an integer.
    In(i64),
    /// An absolute integer (extremes, milliseconds, past year 9999).
    At(i128),
    /// `now + offset` with a fraction, or in exponent form.
    Float(i64, bool),
    Text,
    Bool,
}

impl Claim {
    fn json(&self, now: i64) -> Option<String> {
        Some(match self {
            Claim::Absent => return None,
            Claim::Null => "null".to_owned(),
            Claim::In(off) => (now + off).to_string(),
            Claim::At(v) => v.to_string(),
            Claim::Float(off, false) => format!("{}.5", now + off),
            // The same second in exponent form, e.g. `1.7699e9` (an f64 to a JSON parser).
            Claim::Float(off, true) => format!("{}e0", now + off),
            Claim::Text => format!("\"{}\"", now + DAY),
            Claim::Bool => "true".to_owned(),
        })
    }
}

fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        1 => -10 * YEAR..-10i64,  // expired (or a past login)
        1 => 10i64..3_590,        // expires soon
        3 => 3_610i64..10 * YEAR, // valid
    ]
}

fn exp_claim() -> impl Strategy<Value = Claim> {
    prop_oneof![
        12 => offset().prop_map(Claim::In),
        1 => Just(Claim::Absent),
        1 => Just(Claim::Null),
        1 => prop_oneof![
            Just(i128::from(i64::MAX)),
            Just(i128::from(i64::MAX) + 1),
            Just(i128::from(u64::MAX)),
            Just(i128::from(i64::MIN)),
            -1_000_000i128..0,
        ]
        .prop_map(Claim::At),
        1 => (offset(), any::<bool>()).prop_map(|(o, e)| Claim::Float(o, e)),
        1 => Just(Claim::Text),
        1 => Just(Claim::Bool),
    ]
}

fn iat_claim() -> impl Strategy<Value = Claim> {
    prop_oneof![
        4 => (-30 * DAY..-10i64).prop_map(Claim::In),
        1 => (10i64..YEAR).prop_map(Claim::In),
        1 => (1_600_000_000_000i128..1_800_000_000_000).prop_map(Claim::At), // milliseconds
        1 => (253_402_300_800i128..300_000_000_000).prop_map(Claim::At),     // year 10000+
        1 => prop_oneof![Just(i128::from(i64::MIN)), -100i128..0].prop_map(Claim::At),
        1 => Just(Claim::Absent),
        1 => Just(Claim::Null),
        1 => (-DAY..-10i64, any::<bool>()).prop_map(|(o, e)| Claim::Float(o, e)),
        1 => Just(Claim::Text),
    ]
}

/// How the payload is written: as the app expects, padded, or with leftover bits set.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Canonical,
    Padded,
    NonCanonical,
}

#[derive(Debug, Clone)]
struct TokenSpec {
    prefix: &'static str,
    exp: Claim,
    iat: Claim,
    encoding: Encoding,
    filler: String,
    signature: Vec<u8>,
}

const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl TokenSpec {
    fn build(&self, email: &str, now: i64) -> String {
        let mut claims = format!(
            r#"{{"sub":"user_1","email":"{email}","x":"{}""#,
            self.filler
        );
        for (name, claim) in [("exp", &self.exp), ("iat", &self.iat)] {
            if let Some(v) = claim.json(now) {
                let _ = write!(claims, r#","{name}":{v}"#);
            }
        }
        claims.push('}');
        let mut payload = URL_SAFE_NO_PAD.encode(claims.as_bytes());
        match self.encoding {
            Encoding::Padded => {
                while !payload.len().is_multiple_of(4) {
                    payload.push('=');
                }
            }
            // Leftover bits exist when the length is not a multiple of 4: set the lowest.
            Encoding::NonCanonical if !payload.len().is_multiple_of(4) => {
                let last = payload.pop().unwrap_or('A');
                let i = ALPHABET.find(last).unwrap_or(0);
                payload.push(char::from(ALPHABET.as_bytes()[(i | 1) % 64]));
            }
            Encoding::Canonical | Encoding::NonCanonical => {}
        }
        format!(
            "{}{}.{payload}.{}",
            self.prefix,
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(&self.signature)
        )
    }
}

fn token_spec() -> impl Strategy<Value = TokenSpec> {
    (
        prop::sample::select(vec!["", "sp_live_", "sp_test_", "sp_live_v2_", "x1_"]),
        exp_claim(),
        iat_claim(),
        prop_oneof![
            6 => Just(Encoding::Canonical),
            1 => Just(Encoding::Padded),
            1 => Just(Encoding::NonCanonical),
        ],
        "[a-z]{0,3}",
        prop::collection::vec(any::<u8>(), 8..40),
    )
        .prop_map(
            |(prefix, exp, iat, encoding, filler, signature)| TokenSpec {
                prefix,
                exp,
                iat,
                encoding,
                filler,
                signature,
            },
        )
}

/// Flip the case of the letters where `mask` has a bit set.
fn recase(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// The configured email and the server's (the same address in another case, or another one).
fn emails() -> impl Strategy<Value = (String, String)> {
    (
        "[a-z][a-z0-9._+-]{0,6}[a-z0-9]@[a-z][a-z0-9-]{0,6}[a-z0-9]\\.(com|io|co|example)",
        any::<u64>(),
        any::<u64>(),
        prop::option::weighted(0.1, "[a-z]{1,6}@other\\.example"),
    )
        .prop_filter("no '..'", |(e, ..)| !e.contains(".."))
        .prop_filter("no '.@'", |(e, ..)| !e.contains(".@"))
        .prop_map(|(base, typed, served, other)| {
            (
                recase(&base, typed),
                other.unwrap_or_else(|| recase(&base, served)),
            )
        })
}

/// One of `good` (what the app accepts, twice as likely) or `bad`.
fn pick(good: &[&'static str], bad: &[&'static str]) -> impl Strategy<Value = &'static str> {
    let mut all: Vec<&'static str> = good.iter().chain(good).copied().collect();
    all.extend_from_slice(bad);
    prop::sample::select(all)
}

/// A whoami answer for `email`: its status, `Content-Type` and body (as JSON text). Each part
/// leans to what the app accepts, so that both stamped and unstamped files are exercised.
fn answer(email: String) -> impl Strategy<Value = (u16, &'static str, String)> {
    let id = pick(
        &[r#""id":"user_1","#, r#""id":"","#],
        &[r#""id":42,"#, r#""id":null,"#, ""],
    );
    let name = pick(
        &["", r#","name":null"#, r#","name":"N""#],
        &[r#","name":7"#],
    );
    let tenant = (
        pick(
            &[r#""id":"t","name":"n","database_url":"postgres://db""#],
            &[
                r#""id":"t","name":"n""#,
                r#""id":1,"name":"n","database_url":"d""#,
            ],
        ),
        pick(
            &[
                "",
                r#","status":"active""#,
                r#","status":"deleted""#,
                r#","status":"pending""#,
                r#","status":null"#,
            ],
            &[r#","status":"archived""#],
        ),
        pick(
            &[
                "",
                r#","subscription_status":"past_due""#,
                r#","subscription_status":"canceled""#,
            ],
            &[r#","subscription_status":"Active""#],
        ),
        pick(
            &[
                "",
                r#","plan":{"name":"p","memory_mb":512,"volume_gb":1}"#,
                r#","plan":{"id":"x","name":"p","memory_mb":-1,"volume_gb":10}"#,
            ],
            &[
                r#","plan":{"name":"p","memory_mb":1.5,"volume_gb":1}"#,
                r#","plan":{"name":"p","memory_mb":512}"#,
            ],
        ),
    )
        .prop_map(|(a, b, c, d)| format!("{{{a}{b}{c}{d},\"extra\":[1]}}"));
    let tenants = prop_oneof![
        3 => Just(String::new()),
        1 => Just(r#","tenants":null"#.to_owned()),
        2 => Just(r#","tenants":[]"#.to_owned()),
        3 => prop::collection::vec(tenant, 1..3)
            .prop_map(|ts| format!(r#","tenants":[{}]"#, ts.join(","))),
    ];
    let customer = pick(
        &[
            "",
            r#","customer":null"#,
            r#","customer":{"id":"c","status":"active"}"#,
        ],
        &[r#","customer":{"status":"active"}"#],
    );
    let enterprise = pick(
        &[
            "",
            r#","enterprise":null"#,
            r#","enterprise":{"id":"e","name":"E","domain":"example.com","plan":"gold"}"#,
        ],
        &[r#","enterprise":{"id":"e","name":"E"}"#],
    );
    (
        prop::sample::select(vec![200u16, 200, 200, 201, 203, 204, 299]),
        prop::sample::select(vec!["application/json", "text/plain", ""]),
        (id, name, tenants, customer, enterprise),
    )
        .prop_map(move |(status, content_type, (id, name, tenants, customer, enterprise))| {
            let body = if status == 204 {
                String::new()
            } else {
                format!(r#"{{"user":{{{id}"email":"{email}"{name}}}{tenants}{customer}{enterprise}}}"#)
            };
            (status, content_type, body)
        })
}

fn case() -> impl Strategy<Value = (TokenSpec, (String, String), (u16, &'static str, String))> {
    (token_spec(), emails()).prop_flat_map(|(token, (typed, served))| {
        (Just(token), Just((typed, served.clone())), answer(served))
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_binary_writes_only_what_the_app_accepts(
        (spec, (typed, served), (status, content_type, body)) in case()
    ) {
        let fake = cloud(vec![Step::respond(status, content_type, body.clone())]);
        let now0 = now();
        let token = spec.build(&typed.to_ascii_lowercase(), now0);
        let path = scratch("prop").join(".systemprompt/credentials.json");
        let before = now();
        let out = Test::new()
            .url(&fake)
            .token(&token)
            .env("SYSTEMPROMPT_USER_EMAIL", &typed)
            .args(["--write-credentials", path.to_str().unwrap_or_default(), "true"])
            .run();
        let after = now();
        let token_refused = contract::app_refuses_token(&token, before);
        prop_assert_eq!(token_refused, contract::app_refuses_token(&token, after), "flaky case: {}", token);
        if token_refused {
            // The app would treat it as expired: refused before any request, no file.
            prop_assert_eq!(out.code, 77, "{}", out.stderr);
            prop_assert_eq!(fake.requests(), 0);
            prop_assert!(!path.exists());
        } else if out.code == 0 {
            prop_assert!(path.exists(), "no file after exit 0");
            let text = read(&path);
            let verdict = check_credentials_file(&text, &Expect {
                before,
                after,
                email: &served,
                answer_accepted: contract::app_parses_answer(status, &body),
            });
            prop_assert!(verdict.is_ok(), "{:?}\nfile: {}\nanswer: {} {}\nstderr: {}", verdict, text, status, body, out.stderr);
        } else {
            prop_assert!(!path.exists(), "a file after exit {}", out.code);
        }
        // Nothing the app accepts is refused: a readable, unexpired token, the same address
        // (in any case) and an answer carrying it start the app.
        let proven = (200..300).contains(&status) && !body.is_empty();
        if !token_refused && proven && served.eq_ignore_ascii_case(&typed) {
            prop_assert_eq!(out.code, 0, "{}\nanswer: {} {}", out.stderr, status, body);
        }
    }
}
