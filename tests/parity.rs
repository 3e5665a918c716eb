//! Issue 10, item by item: the entrypoint accepts exactly what the SystemPrompt app accepts
//! and writes exactly what it reads. Each test runs the real binary against the fake cloud,
//! with exact exit codes and file contents, and judges every credentials file with the
//! independent checker in `tests/contract`.

mod common;
mod contract;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{EMAIL, FakeCloud, Outcome, Step, Test, cloud, read, scratch};
use contract::{Expect, check_credentials_file};
use fake_cloud::{mint_token, mint_token_with_payload};

const JSON: &str = "application/json";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn unsigned(secs: i64) -> u64 {
    u64::try_from(secs).unwrap()
}

/// A whoami answer for `email` with `extra` top-level fields (JSON text after the user).
fn answer(email: &str, id: &str, extra: &str) -> String {
    format!(r#"{{"user":{{"id":{id},"email":"{email}","name":null}}{extra}}}"#)
}

/// Run `t` with `--write-credentials` into a fresh directory and the app `true`; returns the
/// outcome, the file path, and the clock before and after.
fn run_writing(t: Test, tag: &str) -> (Outcome, PathBuf, i64, i64) {
    let path = scratch(tag).join(".systemprompt/credentials.json");
    let before = now();
    let out = t
        .args(["--write-credentials", path.to_str().unwrap(), "true"])
        .run();
    (out, path, before, now())
}

fn file_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap()
}

// ---- 1. tokens whose expiry the app cannot read --------------------------------------------

/// A token (signed by the fake) with this payload, padded or made non-canonical.
fn odd_token(payload: &str, tweak: &str) -> String {
    let t = mint_token_with_payload(payload);
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    match tweak {
        "pad" => {
            assert_ne!(
                parts[1].len() % 4,
                0,
                "{payload}: pick one that needs padding"
            );
            while !parts[1].len().is_multiple_of(4) {
                parts[1].push('=');
            }
        }
        "noncanonical" => {
            // The last character's low bits are left over (2 or 4 of them): set one.
            let last = parts[1].pop().unwrap();
            let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let i = alphabet.find(last).unwrap();
            assert_eq!(i % 4, 0, "{payload}: leftover bits already set");
            parts[1].push(alphabet.as_bytes()[i + 1].into());
        }
        _ => {}
    }
    parts.join(".")
}

#[test]
fn tokens_whose_expiry_the_app_cannot_read_are_refused_before_any_request() {
    let fake = cloud(vec![]);
    let exp = now() + 86_400;
    let big = "9223372036854775808"; // 2^63
    let cases = [
        (
            format!(r#"{{"email":"{EMAIL}"}}"#),
            "",
            "has no \"exp\" claim",
        ),
        (
            format!(r#"{{"email":"{EMAIL}","exp":null}}"#),
            "",
            "\"exp\" is null",
        ),
        (
            format!(r#"{{"email":"{EMAIL}","exp":{exp}.5}}"#),
            "",
            "\"exp\" is a number with a fraction or an exponent",
        ),
        (
            format!(r#"{{"email":"{EMAIL}","exp":{big}}}"#),
            "",
            "outside the 64-bit signed range",
        ),
        (
            format!(r#"{{"email":"{EMAIL}","exp":"{exp}"}}"#),
            "",
            "\"exp\" is a string",
        ),
        // 57 bytes of JSON: 76 characters, no padding needed... so use 56 bytes (75 + '=').
        (
            format!(r#"{{"email":"{EMAIL}","exp":{exp},"x":"ab"}}"#),
            "pad",
            "not unpadded, canonical base64url",
        ),
        (
            format!(r#"{{"email":"{EMAIL}","exp":{exp},"x":"ab"}}"#),
            "noncanonical",
            "not unpadded, canonical base64url",
        ),
    ];
    for (payload, tweak, why) in cases {
        let token = odd_token(&payload, tweak);
        assert!(
            contract::app_refuses_token(&token, now()),
            "{payload} {tweak}"
        );
        let (out, path, _, _) = run_writing(
            Test::new()
                .url(&fake)
                .token(&token)
                .env("SYSTEMPROMPT_USER_EMAIL", EMAIL),
            "unreadable",
        );
        out.code(77)
            .stderr_has("SYSTEMPROMPT_API_TOKEN: the token's expiry cannot be read")
            .stderr_has(why)
            .stderr_has("the SystemPrompt app would treat it as expired");
        assert!(!path.exists(), "{payload} {tweak}: a file was written");
    }
    assert_eq!(fake.requests(), 0);
}

#[test]
fn an_expiry_the_app_cannot_read_is_no_escape_hatch_case_and_check_says_so() {
    let fake = cloud(vec![]);
    let token = mint_token_with_payload(&format!(r#"{{"email":"{EMAIL}"}}"#));
    let base = || {
        Test::new()
            .url(&fake)
            .token(&token)
            .env("SYSTEMPROMPT_USER_EMAIL", EMAIL)
    };
    base()
        .env("SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS", "1")
        .args(["true"])
        .run()
        .code(77)
        .stderr_has("would treat it as expired");
    base()
        .args(["check", "--json"])
        .run()
        .code(77)
        .stderr_has("would treat it as expired");
    assert_eq!(fake.requests(), 0);
}

// ---- 2. authenticated_at --------------------------------------------------------------------

#[test]
fn authenticated_at_is_a_sane_past_iat_or_now() {
    let t0 = now();
    let past = t0 - 3_600;
    let cases = [
        (past, Some(past)),      // a normal login time: kept exactly
        (past * 1000, None),     // milliseconds: year 58000-something
        (t0 + 7_200, None),      // in the future
        (253_402_300_800, None), // 10000-01-01T00:00:00Z
    ];
    for (iat, kept) in cases {
        let fake = cloud(vec![]);
        let token = mint_token(EMAIL, unsigned(iat), unsigned(t0 + 86_400));
        let t = Test::new()
            .url(&fake)
            .token(&token)
            .env("SYSTEMPROMPT_USER_EMAIL", EMAIL);
        let (out, path, before, after) = run_writing(t, "iat");
        out.code(0);
        let text = read(&path);
        check_credentials_file(
            &text,
            &Expect {
                before,
                after,
                email: EMAIL,
                answer_accepted: true,
            },
        )
        .unwrap_or_else(|e| panic!("iat {iat}: {e}\n{text}"));
        let at = contract::rfc3339(file_json(&path)["authenticated_at"].as_str().unwrap()).unwrap();
        match kept {
            Some(iat) => assert_eq!(at, iat),
            None => assert!((before..=after).contains(&at), "iat {iat}: {at}"),
        }
    }
}

// ---- 3. the email in the file ----------------------------------------------------------------

#[test]
fn the_file_gets_the_servers_email_not_the_typed_one() {
    let fake = cloud(vec![]);
    let server = "ops@example.com";
    let token = fake.token(server, 86_400);
    let t = Test::new()
        .url(&fake)
        .token(&token)
        .env("SYSTEMPROMPT_USER_EMAIL", "Ops@Example.COM");
    let (out, path, before, after) = run_writing(t, "email");
    out.code(0);
    let text = read(&path);
    check_credentials_file(
        &text,
        &Expect {
            before,
            after,
            email: server,
            answer_accepted: true,
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(file_json(&path)["user_email"], server);
}

#[test]
fn without_whoami_the_escape_hatch_writes_the_configured_email_unstamped() {
    let fake = cloud(vec![Step::status(503); 20]);
    let typed = "Ops@Example.COM";
    let t = Test::new()
        .url(&fake)
        .token(&fake.token("ops@example.com", 86_400))
        .env("SYSTEMPROMPT_USER_EMAIL", typed)
        .env("SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS", "1")
        .env("SYSTEMPROMPT_WHOAMI_TIMEOUT", "1");
    let (out, path, _, _) = run_writing(t, "hatch");
    out.code(0).stderr_has("UNVALIDATED credentials");
    let v = file_json(&path);
    assert_eq!(v["user_email"], typed);
    assert_eq!(v["last_validated_at"], serde_json::Value::Null);
}

#[test]
fn a_server_email_the_app_would_refuse_is_never_written() {
    // 'İ' (U+0130) lowercases to "i̇" (two characters): the configured address (top-level
    // label "i̇", two characters) matches the server's case-insensitively, but the server's
    // top-level label "İ" is one character long, which the app refuses when it loads the file.
    let typed = "ops@example.i\u{307}";
    let server = "ops@example.\u{130}";
    assert_eq!(server.to_lowercase(), typed.to_lowercase());
    assert!(contract::app_accepts_email(typed) && !contract::app_accepts_email(server));
    let fake = cloud(vec![Step::respond(200, JSON, answer(server, "\"u\"", ""))]);
    let t = Test::new()
        .url(&fake)
        .token(&fake.token(typed, 86_400))
        .env("SYSTEMPROMPT_USER_EMAIL", typed);
    let (out, path, _, _) = run_writing(t, "dotless");
    out.code(76).stderr_has(
        "matches SYSTEMPROMPT_USER_EMAIL but is not an address the SystemPrompt app accepts",
    );
    assert!(!path.exists());
    assert_eq!(fake.requests(), 1);
}

#[test]
fn the_readme_write_credentials_example_works() {
    // README, "Where the app reads the credentials file": the app (here `cat`) finds the file.
    let fake = cloud(vec![]);
    let dir = scratch("readme");
    let path = dir.join(".systemprompt/credentials.json");
    let p = path.to_str().unwrap();
    // (`cat` itself would print the token, which the harness refuses to see on any output.)
    let out = Test::new()
        .cloud(&fake)
        .args(["--write-credentials", p, "--", "grep", "user_email", p])
        .run();
    out.code(0)
        .stdout_has(&format!(r#""user_email": "{EMAIL}""#));
    let v = file_json(&path);
    assert_eq!(v["api_url"], fake.url().as_str());
    assert!(dir.join(".systemprompt/.gitignore").exists());
}

// ---- 4. --scrub-token on Fly.io --------------------------------------------------------------

#[test]
fn scrub_token_on_fly_is_a_configuration_error() {
    let fake = cloud(vec![]);
    for fly in ["my-app", ""] {
        for how in ["option", "variable"] {
            let mut t = Test::new().cloud(&fake).env("FLY_APP_NAME", fly);
            t = if how == "option" {
                t.args(["--scrub-token"])
            } else {
                t.env("SYSTEMPROMPT_SCRUB_TOKEN", "1")
            };
            let (out, path, _, _) = run_writing(t, "fly");
            out.code(78)
                .stderr_has("--scrub-token / SYSTEMPROMPT_SCRUB_TOKEN: cannot be used on Fly.io (FLY_APP_NAME is set)");
            assert!(!path.exists());
        }
    }
    assert_eq!(fake.requests(), 0);
    // Off Fly.io it still works.
    let (out, path, _, _) = run_writing(Test::new().cloud(&fake).args(["--scrub-token"]), "nofly");
    out.code(0);
    assert!(path.exists());
}

// ---- 5. whoami answers -----------------------------------------------------------------------

/// Run against one scripted answer; returns the outcome and the file (if written).
fn with_answer(
    status: u16,
    content_type: &str,
    body: &str,
) -> (Outcome, Option<serde_json::Value>, i64, i64, FakeCloud) {
    let fake = cloud(vec![Step::respond(status, content_type, body)]);
    let t = Test::new().cloud(&fake);
    let (out, path, before, after) = run_writing(t, "answer");
    let file = path.exists().then(|| file_json(&path));
    if let Some(v) = &file {
        check_credentials_file(
            &v.to_string(),
            &Expect {
                before,
                after,
                email: EMAIL,
                answer_accepted: contract::app_parses_answer(status, body),
            },
        )
        .unwrap_or_else(|e| panic!("{status} {body}: {e}"));
    }
    (out, file, before, after, fake)
}

#[test]
fn answers_the_app_accepts_prove_and_stamp() {
    for (status, content_type, body) in [
        (201, JSON, answer(EMAIL, "\"\"", "")),
        (
            203,
            "text/plain",
            answer(EMAIL, "\"u1\"", r#","tenants":[]"#),
        ),
        (
            200,
            "",
            answer(EMAIL, "\"u1\"", r#","customer":null,"enterprise":null"#),
        ),
        (
            299,
            "text/html",
            answer(
                EMAIL,
                "\"u1\"",
                r#","tenants":[{"id":"t","name":"n","database_url":"postgres://db","status":"active","subscription_status":"trialing","plan":{"name":"p","memory_mb":512,"volume_gb":1}}]"#,
            ),
        ),
    ] {
        assert!(contract::app_parses_answer(status, &body));
        let (out, file, before, after, fake) = with_answer(status, content_type, &body);
        out.code(0).stderr_lacks("last_validated_at not written");
        let stamp = file.unwrap()["last_validated_at"]
            .as_str()
            .map(contract::rfc3339);
        assert!(
            matches!(stamp, Some(Some(t)) if (before..=after).contains(&t)),
            "{body}"
        );
        assert_eq!(fake.requests(), 1);
    }
}

#[test]
fn answers_the_app_would_not_parse_prove_but_are_not_stamped() {
    let tenant = r#""id":"t","name":"n","database_url":"d""#;
    for (body, field) in [
        (
            answer(EMAIL, "\"u1\"", r#","tenants":null"#),
            "tenants: invalid type: null",
        ),
        (answer(EMAIL, "42", ""), "user.id: invalid type: integer"),
        (
            answer(EMAIL, "\"u1\"", r#","tenants":[{"id":"t","name":"n"}]"#),
            "tenants[0]: missing field `database_url`",
        ),
        (
            answer(
                EMAIL,
                "\"u1\"",
                &format!(r#","tenants":[{{{tenant},"status":"archived"}}]"#),
            ),
            "tenants[0].status: unknown variant `archived`",
        ),
    ] {
        assert!(!contract::app_parses_answer(200, &body));
        let (out, file, _, _, _) = with_answer(200, JSON, &body);
        out.code(0).stderr_has(&format!(
            "last_validated_at not written: the SystemPrompt app would not parse the whoami answer ({field}"
        ));
        assert_eq!(
            out.stderr.matches("last_validated_at not written").count(),
            1
        );
        let v = file.unwrap();
        assert_eq!(v["last_validated_at"], serde_json::Value::Null, "{body}");
        assert_eq!(v["user_email"], EMAIL);
    }
}

#[test]
fn check_says_which_reading_failed() {
    let body = answer(EMAIL, "\"u1\"", r#","tenants":null"#);
    let fake = cloud(vec![
        Step::respond(200, JSON, &body),
        Step::respond(200, JSON, &body),
    ]);
    let out = Test::new().cloud(&fake).args(["check", "--json"]).run();
    out.code(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["validated"], true);
    assert_eq!(v["app_parses_answer"], false);
    assert!(
        v["app_parse_error"]
            .as_str()
            .unwrap()
            .starts_with("tenants: invalid type: null"),
        "{v}"
    );
    let out = Test::new().cloud(&fake).args(["check"]).run();
    out.code(0)
        .stdout_has("validated:         yes")
        .stdout_has("app parses answer: NO (tenants: invalid type: null")
        .stdout_has("last_validated_at is withheld");
    // And when both readings pass.
    let fake = cloud(vec![]);
    let out = Test::new().cloud(&fake).args(["check", "--json"]).run();
    let v: serde_json::Value = serde_json::from_str(out.code(0).stdout.trim()).unwrap();
    assert_eq!(
        (v["app_parses_answer"].clone(), v["app_parse_error"].clone()),
        (true.into(), serde_json::Value::Null)
    );
}

// ---- 6. exp == now ---------------------------------------------------------------------------

#[test]
fn exp_equal_to_now_expires_soon_and_is_not_expired() {
    // The binary reads the clock itself: when the second turns between minting and its
    // start, the token is one second expired (77) and the attempt is repeated.
    for attempt in 0..10 {
        let fake = cloud(vec![Step::respond(200, JSON, answer(EMAIL, "\"u1\"", ""))]);
        let exp = now();
        let token = mint_token(EMAIL, unsigned(exp - 60), unsigned(exp));
        let out = Test::new()
            .url(&fake)
            .token(&token)
            .env("SYSTEMPROMPT_USER_EMAIL", EMAIL)
            .args(["true"])
            .run();
        if out.code == 0 {
            out.stderr_has("SYSTEMPROMPT_API_TOKEN expires in 0s");
            assert_eq!(fake.requests(), 1);
            return;
        }
        out.code(77).stderr_has("(1s ago)");
        assert_eq!(fake.requests(), 0, "attempt {attempt}");
    }
    panic!("the clock turned a second during each of 10 attempts");
}

#[test]
fn exp_one_second_ago_is_expired() {
    let fake = cloud(vec![]);
    let exp = now() - 1;
    let token = mint_token(EMAIL, unsigned(exp - 60), unsigned(exp));
    Test::new()
        .url(&fake)
        .token(&token)
        .env("SYSTEMPROMPT_USER_EMAIL", EMAIL)
        .args(["true"])
        .run()
        .code(77)
        .stderr_has("SYSTEMPROMPT_API_TOKEN expired at");
    assert_eq!(fake.requests(), 0);
}

// ---- 7. the escape hatch is exactly `1` ------------------------------------------------------

#[test]
fn the_escape_hatch_is_only_exactly_1() {
    for value in ["true", "yes", "on", " 1", "1 "] {
        let fake = cloud(vec![Step::status(503); 20]);
        let out = Test::new()
            .cloud(&fake)
            .env("SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS", value)
            .env("SYSTEMPROMPT_WHOAMI_TIMEOUT", "1")
            .args(["true"])
            .run();
        out.code(69)
            .stderr_has("SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS is set but not to exactly `1`, so it is off: only `1` is honoured (by the SystemPrompt app too")
            .stderr_lacks("UNVALIDATED credentials");
    }
    let fake = cloud(vec![Step::status(503); 20]);
    Test::new()
        .cloud(&fake)
        .env("SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS", "1")
        .env("SYSTEMPROMPT_WHOAMI_TIMEOUT", "1")
        .args(["true"])
        .run()
        .code(0)
        .stderr_has("SECURITY: SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS=1: starting the app with UNVALIDATED credentials")
        .stderr_lacks("not to exactly `1`");
}
