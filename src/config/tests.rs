//! Tests of [`super::load`] through its public entry: defaults, the command line over the
//! environment, blank and trimmed values, the token, email, URL and options, every problem in
//! one run, never the token. The helpers are shared with the tests of [`super::source`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::spec as vars;
use super::spec::{
    DEFAULT_API_URL, DEFAULT_GRACE, DEFAULT_WHOAMI_TIMEOUT, MAX_GRACE, MAX_WHOAMI_TIMEOUT,
};
use super::validate::parse_bool;
use super::*;
use crate::error::{ConfigProblem, Error};
use crate::token::testing::{token, token_with_payload};
use std::collections::HashMap;
use std::io;

pub(super) const EXP: u64 = 4_000_000_000;
pub(super) const EMAIL: &str = "user@example.com";

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn good_env() -> Vec<(String, String)> {
    let t = token(EXP);
    env(&[
        (vars::API_TOKEN.var, &t),
        (vars::USER_EMAIL.var, EMAIL),
        ("PATH", "/usr/bin"),
        ("HOME", "/root"),
    ])
}

/// `good_env` with `name` set to `value` (replacing it when present).
pub(super) fn with(
    mut base: Vec<(String, String)>,
    name: &str,
    value: &str,
) -> Vec<(String, String)> {
    base.retain(|(n, _)| n != name);
    base.push((name.to_owned(), value.to_owned()));
    base
}

pub(super) fn without(mut base: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
    base.retain(|(n, _)| n != name);
    base
}

pub(super) fn no_files(_: &Path, _: u64) -> io::Result<Vec<u8>> {
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "No such file or directory (os error 2)",
    ))
}

/// Files by path; one over the limit asked for is refused as `input::read_bounded` does.
pub(super) fn files(map: &[(&str, &[u8])]) -> impl Fn(&Path, u64) -> io::Result<Vec<u8>> + use<> {
    let map: HashMap<PathBuf, Vec<u8>> = map
        .iter()
        .map(|(p, c)| (PathBuf::from(p), c.to_vec()))
        .collect();
    move |p: &Path, limit: u64| match map.get(p) {
        Some(c) if c.len() as u64 > limit => {
            Err(io::Error::other(crate::input::InputError::TooLarge(limit)))
        }
        Some(c) => Ok(c.clone()),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        )),
    }
}

/// A CA certificate (the test CA of `whoami::tests`; public part only), for `SSL_CERT_FILE`.
const TEST_CA: &str = "\
-----BEGIN CERTIFICATE-----
MIIBpzCCAU2gAwIBAgIUcIOWQyUPZZ3aiQA3Q2m9iYUbckUwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVc3AtZW50cnlwb2ludCB0ZXN0IENBMCAXDTI2MTEyNzA5MzMy
N1oYDzIxMjYxMTAzMDkzMzI3WjAgMR4wHAYDVQQDDBVzcC1lbnRyeXBvaW50IHRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARgR8oEEioPplTDD17WJhga
89momM4HPwEsv4gufplOHynDMT2RX8Ep9Esv8VKtdVUpKWQWr7tO665Xz+wHMAwg
o2MwYTAdBgNVHQ4EFgQUr3MO2IuM9xU0sPVUmZBzTzqZ8RkwHwYDVR0jBBgwFoAU
r3MO2IuM9xU0sPVUmZBzTzqZ8RkwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8E
BAMCAgQwCgYIKoZIzj0EAwIDSAAwRQIhAKmfP/QhttBGcEpWZvfofIHJek7EtibH
uJu+GNKO5e0QAiACC7gMOITLEYAYSBf+cyg5iK/JZ9Cr//huI13CDBa/PA==
-----END CERTIFICATE-----
";

/// `env` read with `SSL_CERT_FILE`'s bundle at `path`.
fn ok_with_ca(env: &[(String, String)], path: &str) -> (Config, Vec<String>) {
    let read = files(&[(path, TEST_CA.as_bytes())]);
    match load(&CliValues::default(), env, &read).config {
        Ok(v) => v,
        Err(e) => panic!("expected a valid config, got: {e}"),
    }
}

pub(super) fn ok(cli: &CliValues, env: &[(String, String)]) -> (Config, Vec<String>) {
    match load(cli, env, &no_files).config {
        Ok(v) => v,
        Err(e) => panic!("expected a valid config, got: {e}"),
    }
}

pub(super) fn problems_with(
    cli: &CliValues,
    env: &[(String, String)],
    read: &dyn Fn(&Path, u64) -> io::Result<Vec<u8>>,
) -> Vec<ConfigProblem> {
    match load(cli, env, read).config {
        Ok((c, _)) => panic!("expected problems, got {c:?}"),
        Err(Error::Config(p)) => p,
        Err(e) => panic!("expected Error::Config, got {e}"),
    }
}

pub(super) fn problems(env: &[(String, String)]) -> Vec<ConfigProblem> {
    problems_with(&CliValues::default(), env, &no_files)
}

/// The one problem reported.
pub(super) fn problem(env: &[(String, String)]) -> ConfigProblem {
    let mut p = problems(env);
    assert_eq!(p.len(), 1, "{p:#?}");
    p.remove(0)
}

pub(super) fn assert_no_token(token: &str, text: &str) {
    assert!(!text.contains(token), "token leaked into {text:?}");
    for part in token.split(['.', '_']).filter(|p| p.len() >= 6) {
        assert!(!text.contains(part), "token part leaked into {text:?}");
    }
}

// ---- defaults and the happy path ----

#[test]
fn minimal_env_gives_defaults() {
    let (c, warnings) = ok(&CliValues::default(), &good_env());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.token.expose(), token(EXP));
    assert_eq!(c.claims.exp, Ok(i64::try_from(EXP).unwrap()));
    assert_eq!(c.email, EMAIL);
    assert_eq!(c.api_url, DEFAULT_API_URL);
    assert!(!c.token_from_file && !c.email_from_file);
    assert_eq!(c.whoami_timeout, DEFAULT_WHOAMI_TIMEOUT);
    assert_eq!(c.grace, DEFAULT_GRACE);
    assert_eq!(c.init, InitMode::Auto);
    assert_eq!(c.on_expiry, OnExpiry::Warn);
    assert!(!c.allow_unvalidated && !c.scrub_token);
    assert_eq!(c.write_credentials, None);
    assert_eq!(c.ssl_cert_file, None);
}

#[test]
fn everything_from_the_environment() {
    let mut e = good_env();
    for (k, v) in [
        (vars::API_URL.var, "HTTPS://API-Sandbox.SystemPrompt.io/"),
        (vars::ALLOW_UNVALIDATED.var, "1"),
        (vars::SCRUB_TOKEN.var, "yes"),
        (vars::WHOAMI_TIMEOUT.var, "0.5"),
        (vars::GRACE.var, "0"),
        (vars::INIT.var, "Never"),
        (
            vars::WRITE_CREDENTIALS.var,
            "/app/.systemprompt/credentials.json",
        ),
        (vars::SSL_CERT_FILE.var, "/etc/ssl/extra.pem"),
        (vars::LOG.var, "debug"),
        // (FLY_APP_NAME was here too; with SCRUB_TOKEN it is refused since issue 10, see
        // scrub_token_is_refused_on_fly.)
        (vars::FLY_MACHINE_ID.var, "m-1"),
    ] {
        e = with(e, k, v);
    }
    let (c, warnings) = ok_with_ca(&e, "/etc/ssl/extra.pem");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.api_url, "https://api-sandbox.systemprompt.io");
    assert!(c.allow_unvalidated && c.scrub_token);
    assert_eq!(c.whoami_timeout, Duration::from_millis(500));
    assert_eq!(c.grace, Duration::ZERO);
    assert_eq!(c.init, InitMode::Never);
    assert_eq!(
        c.write_credentials,
        Some(PathBuf::from("/app/.systemprompt/credentials.json"))
    );
    assert_eq!(c.ssl_cert_file, Some(PathBuf::from("/etc/ssl/extra.pem")));
}

#[test]
fn cli_wins_over_the_environment() {
    let mut e = good_env();
    for (k, v) in [
        (vars::WHOAMI_TIMEOUT.var, "not-a-number"),
        (vars::GRACE.var, "-1"),
        (vars::INIT.var, "bogus"),
        (vars::WRITE_CREDENTIALS.var, "/from/env.json"),
        (vars::SCRUB_TOKEN.var, "maybe"),
    ] {
        e = with(e, k, v);
    }
    let cli = CliValues::default()
        .with(&vars::WHOAMI_TIMEOUT, "12.25")
        .with(&vars::WRITE_CREDENTIALS, "/from/cli.json")
        .with(&vars::INIT, "ALWAYS")
        .with(&vars::GRACE, "300")
        .with(&vars::SCRUB_TOKEN, "1");
    let (c, _) = ok(&cli, &e);
    assert_eq!(c.whoami_timeout, Duration::from_millis(12_250));
    assert_eq!(c.grace, MAX_GRACE);
    assert_eq!(c.init, InitMode::Always);
    assert_eq!(c.write_credentials, Some(PathBuf::from("/from/cli.json")));
    assert!(c.scrub_token);
}

#[test]
fn scrub_flag_false_on_cli_falls_back_to_env() {
    let (c, _) = ok(
        &CliValues::default(),
        &with(good_env(), vars::SCRUB_TOKEN.var, "on"),
    );
    assert!(c.scrub_token);
    let p = problem(&with(good_env(), vars::SCRUB_TOKEN.var, "maybe"));
    assert_eq!(p.var, vars::SCRUB_TOKEN.var);
}

#[test]
fn unrelated_and_unknown_variables_are_ignored() {
    let e = with(
        with(good_env(), "SYSTEMPROMPT_SOMETHING_NEW", "x"),
        "systemprompt_api_token",
        "garbage",
    );
    let e = with(
        with(e, "SYSTEMPROMPT_api_url", "ftp://x"),
        "SYSTEMPROMPT_LOG_FORMAT",
        "json",
    );
    ok(&CliValues::default(), &e);
}

#[test]
fn duplicate_variables_first_one_wins() {
    let mut e = good_env();
    e.push((vars::USER_EMAIL.var.to_owned(), "not an email".to_owned()));
    e.push((vars::API_TOKEN.var.to_owned(), "junk".to_owned()));
    let (c, _) = ok(&CliValues::default(), &e);
    assert_eq!(c.email, EMAIL);
}

// ---- empty means unset; whitespace is trimmed with a warning ----

#[test]
fn empty_and_blank_values_count_as_unset() {
    let mut e = good_env();
    for k in [
        vars::API_URL.var,
        vars::ALLOW_UNVALIDATED.var,
        vars::SCRUB_TOKEN.var,
        vars::WHOAMI_TIMEOUT.var,
        vars::GRACE.var,
        vars::INIT.var,
        vars::WRITE_CREDENTIALS.var,
        vars::SSL_CERT_FILE.var,
        vars::API_TOKEN_FILE.var,
        vars::USER_EMAIL_FILE.var,
    ] {
        e = with(e, k, if k.len() % 2 == 0 { "" } else { " \t\n" });
    }
    let (c, warnings) = ok(&CliValues::default(), &e);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.api_url, DEFAULT_API_URL);
    assert_eq!(c.whoami_timeout, DEFAULT_WHOAMI_TIMEOUT);
    assert_eq!(c.write_credentials, None);
    assert_eq!(c.ssl_cert_file, None);

    let p = problems(&with(
        with(good_env(), vars::API_TOKEN.var, ""),
        vars::USER_EMAIL.var,
        "   ",
    ));
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!(p[0].var, vars::API_TOKEN.var);
    assert_eq!(p[1].var, vars::USER_EMAIL.var);
}

#[test]
fn missing_token_and_email_messages() {
    let p = problems(&env(&[]));
    assert_eq!(
            p,
            vec![
                ConfigProblem {
                    var: vars::API_TOKEN.var.into(),
                    message: "not set; pass it to the container (`docker run -e SYSTEMPROMPT_API_TOKEN`, with SYSTEMPROMPT_API_TOKEN set where docker runs), or mount a file holding it and set SYSTEMPROMPT_API_TOKEN_FILE to its path".into(),
                },
                ConfigProblem {
                    var: vars::USER_EMAIL.var.into(),
                    message: "not set; pass it to the container (`docker run -e SYSTEMPROMPT_USER_EMAIL`, with SYSTEMPROMPT_USER_EMAIL set where docker runs), or mount a file holding it and set SYSTEMPROMPT_USER_EMAIL_FILE to its path".into(),
                },
            ]
        );
    let shown = Error::Config(p).to_string();
    assert!(
        shown.starts_with(
            "invalid configuration (2 problems):\n  - SYSTEMPROMPT_API_TOKEN: not set;"
        ),
        "{shown}"
    );
}

#[test]
fn missing_variables_name_the_platforms_own_way_to_set_them() {
    // Fly.io: FLY_APP_NAME is set on every Machine (even empty counts).
    let fly = problems(&env(&[("FLY_APP_NAME", "")]));
    assert_eq!(fly.len(), 2, "{fly:#?}");
    assert!(
        fly[0]
            .message
            .contains("`fly secrets set --stage SYSTEMPROMPT_API_TOKEN=... && fly deploy`"),
        "{fly:#?}"
    );
    // Kubernetes: KUBERNETES_SERVICE_HOST is set in every pod.
    let k8s = problems(&env(&[("KUBERNETES_SERVICE_HOST", "10.0.0.1")]));
    assert!(k8s[1].message.contains("secretKeyRef"), "{k8s:#?}");
    assert!(!k8s[1].message.contains("fly "), "{k8s:#?}");
    // Anything else: Docker.
    let docker = problems(&env(&[]));
    assert!(
        docker[0]
            .message
            .contains("docker run -e SYSTEMPROMPT_API_TOKEN")
    );
    for p in [&fly, &k8s, &docker] {
        assert!(
            p[0].message.contains("SYSTEMPROMPT_API_TOKEN_FILE"),
            "{p:#?}"
        );
    }
    // And the loaded configuration carries the platform to the later fixes.
    let cli = CliValues::default();
    let (c, _) = ok(&cli, &with(good_env(), "FLY_APP_NAME", "my-app"));
    assert_eq!(c.platform, crate::platform::Platform::Fly);
    let (c, _) = ok(&cli, &good_env());
    assert_eq!(c.platform, crate::platform::Platform::Docker);
}

#[test]
fn surrounding_whitespace_is_trimmed_with_a_warning() {
    let t = token(EXP);
    let e = with(
        with(good_env(), vars::API_TOKEN.var, &format!("  {t}\n")),
        vars::USER_EMAIL.var,
        "\tuser@example.com ",
    );
    let e = with(
        with(e, vars::API_URL.var, " https://api.systemprompt.io/ "),
        vars::GRACE.var,
        "2\n",
    );
    let (c, warnings) = ok(&CliValues::default(), &e);
    assert_eq!(c.token.expose(), t);
    assert_eq!(c.email, EMAIL);
    assert_eq!(c.api_url, DEFAULT_API_URL);
    assert_eq!(c.grace, Duration::from_secs(2));
    assert_eq!(
        warnings,
        vec![
            "SYSTEMPROMPT_API_TOKEN had surrounding whitespace (a trailing newline?); it was trimmed",
            "SYSTEMPROMPT_USER_EMAIL had surrounding whitespace (a trailing newline?); it was trimmed",
            "SYSTEMPROMPT_API_URL had surrounding whitespace (a trailing newline?); it was trimmed",
            "SYSTEMPROMPT_GRACE had surrounding whitespace (a trailing newline?); it was trimmed",
        ]
    );
    for w in &warnings {
        assert_no_token(&t, w);
    }
}

// ---- token ----

#[test]
fn malformed_token_is_reported_on_the_supplying_variable() {
    let p = problem(&with(good_env(), vars::API_TOKEN.var, "sp_live_abc"));
    assert_eq!(p.var, vars::API_TOKEN.var);
    assert!(
            p.to_string().starts_with(
                "SYSTEMPROMPT_API_TOKEN: not a JWT: expected three dot-separated parts after an optional prefix like sp_live_"
            ),
            "{p}"
        );
    assert!(p.message.contains("copy the whole token"));

    // (A string `exp` was the example here; since issue 10 it is a token whose expiry the app
    // cannot read, refused with 77 after the configuration: see the test below.)
    let bad = token_with_payload(r#"["exp","tomorrow"]"#);
    let read = files(&[("/s/t", bad.as_bytes())]);
    let e = with(
        without(good_env(), vars::API_TOKEN.var),
        vars::API_TOKEN_FILE.var,
        "/s/t",
    );
    let p = problems_with(&CliValues::default(), &e, &read);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].var, vars::API_TOKEN_FILE.var);
    assert!(
        p[0].message
            .starts_with("the token in \"/s/t\": not a JWT: the payload is not a JSON object"),
        "{}",
        p[0].message
    );
    assert_no_token(&bad, &p[0].to_string());
}

#[test]
fn expired_token_is_not_a_config_problem() {
    let (c, _) = ok(
        &CliValues::default(),
        &with(good_env(), vars::API_TOKEN.var, &token(1)),
    );
    assert_eq!(c.claims.exp, Ok(1));
}

#[test]
fn an_expiry_the_app_cannot_read_is_not_a_config_problem() {
    // Issue 10: refused before any request with 77 (lib's expiry stage), not 78.
    let (c, _) = ok(
        &CliValues::default(),
        &with(
            good_env(),
            vars::API_TOKEN.var,
            &token_with_payload(r#"{"exp":"tomorrow"}"#),
        ),
    );
    assert_eq!(
        c.claims.exp,
        Err(crate::token::ExpProblem::NotInteger("a string"))
    );
}

// ---- email ----

#[test]
fn email_problem_in_load() {
    let p = problem(&with(good_env(), vars::USER_EMAIL.var, "someone@nowhere"));
    assert_eq!(p.var, vars::USER_EMAIL.var);
    assert_eq!(
        p.to_string(),
        "SYSTEMPROMPT_USER_EMAIL: the domain (after the '@') has no '.'; set it to the email of your SystemPrompt account, like user@example.com"
    );
}

// ---- URL ----

#[test]
fn url_problem_in_load() {
    let p = problem(&with(
        good_env(),
        vars::API_URL.var,
        "http://api.systemprompt.io",
    ));
    assert_eq!(p.var, vars::API_URL.var);
    assert_eq!(
        p.message,
        "uses http://, which is allowed only for localhost, 127.0.0.0/8 and [::1]; use https://, like https://api.systemprompt.io"
    );
}

// ---- all at once; never the token ----

#[test]
fn every_problem_is_reported_in_one_run() {
    let e = env(&[
        (vars::API_TOKEN.var, "sp_live_not.a.jwt"),
        (vars::USER_EMAIL.var, "nobody"),
        (vars::API_URL.var, "http://api.systemprompt.io"),
        (vars::ALLOW_UNVALIDATED.var, "perhaps"), // a warning since issue 10, not a problem
        (vars::SCRUB_TOKEN.var, "2"),
        (vars::WHOAMI_TIMEOUT.var, "0"),
        (vars::GRACE.var, "1h"),
        (vars::INIT.var, "sometimes"),
    ]);
    let p = problems(&e);
    let vars: Vec<&str> = p.iter().map(|p| p.var.as_str()).collect();
    assert_eq!(
        vars,
        [
            vars::API_TOKEN.var,
            vars::USER_EMAIL.var,
            vars::API_URL.var,
            vars::SCRUB_TOKEN.var,
            "--whoami-timeout / SYSTEMPROMPT_WHOAMI_TIMEOUT",
            "--grace / SYSTEMPROMPT_GRACE",
            "--init / SYSTEMPROMPT_INIT",
        ]
    );
    let shown = Error::Config(p).to_string();
    assert!(
        shown.starts_with(
            "invalid configuration (7 problems):\n  - SYSTEMPROMPT_API_TOKEN: not a JWT"
        ),
        "{shown}"
    );
    assert_eq!(shown.lines().count(), 8);
}

#[test]
fn the_token_never_appears_in_any_message_or_debug() {
    let t = token(EXP);
    let bare = t.strip_prefix("sp_live_").unwrap_or_default().to_owned();
    let truncated = t[..t.len() - 20].replace('.', "");
    let cases: Vec<Vec<(String, String)>> = vec![
        // The token in every wrong place at once.
        env(&[
            (vars::API_TOKEN.var, &format!(" {t} x")),
            (vars::USER_EMAIL.var, &t),
            (vars::API_URL.var, &t),
            (vars::ALLOW_UNVALIDATED.var, &t),
            (vars::SCRUB_TOKEN.var, &t),
            (vars::WHOAMI_TIMEOUT.var, &t),
            (vars::GRACE.var, &t),
            (vars::INIT.var, &t),
            (vars::USER_EMAIL_FILE.var, &t),
        ]),
        env(&[
            (vars::API_TOKEN.var, &truncated),
            (vars::USER_EMAIL.var, &format!("{bare}@example.com")),
        ]),
        env(&[
            (vars::API_TOKEN.var, &format!("\"{t}\"")),
            (vars::API_URL.var, &format!("https://x.io/?{t}")),
        ]),
        env(&[
            (vars::API_TOKEN_FILE.var, &t),
            (vars::USER_EMAIL.var, EMAIL),
        ]),
        env(&[
            (vars::API_TOKEN.var, &t),
            (vars::API_TOKEN_FILE.var, &t),
            (vars::USER_EMAIL.var, &format!("{t}@x")),
        ]),
        env(&[
            (vars::API_TOKEN.var, &format!("{t}\n{t}")),
            (vars::API_URL.var, &format!("https://{bare}:1@x.io")),
        ]),
    ];
    let cli = CliValues::default()
        .with(&vars::WHOAMI_TIMEOUT, t.clone())
        .with(&vars::INIT, t.clone());
    for (i, e) in cases.iter().enumerate() {
        for cli in [&CliValues::default(), &cli] {
            let read = files(&[]);
            match load(cli, e, &read).config {
                Ok((c, w)) => panic!("case {i}: accepted {c:?} {w:?}"),
                Err(err) => {
                    assert_no_token(&t, &err.to_string());
                    assert_no_token(&t, &format!("{err:?}"));
                }
            }
        }
    }
    // The success path: Debug of the config and the warnings.
    let (c, w) = ok(
        &CliValues::default(),
        &with(good_env(), vars::API_TOKEN.var, &format!("\n{t}\n")),
    );
    assert_no_token(&t, &format!("{c:?} {c:#?} {w:?}"));
    assert!(format!("{c:?}").contains("Secret(***)"));
}

#[test]
fn non_utf8_values_are_refused_naming_the_variable() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let bad = |text: &str| {
        let mut b = text.as_bytes().to_vec();
        b.push(0xff);
        OsString::from_vec(b)
    };
    let mut e: Vec<(OsString, OsString)> = good_env()
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| k != vars::USER_EMAIL.var)
        .collect();
    e.push((vars::USER_EMAIL.var.into(), bad("user@example.com")));
    e.push((vars::WRITE_CREDENTIALS.var.into(), bad("/app/creds.json")));
    e.push((vars::GRACE.var.into(), bad("5")));
    let p = match load(&CliValues::default(), &e, &no_files).config {
        Err(Error::Config(p)) => p,
        other => panic!("{other:?}"),
    };
    // One problem each (the lossy reading's own problems are dropped), naming the variable.
    let vars: Vec<&str> = p.iter().map(|p| p.var.as_str()).collect();
    assert_eq!(
        vars,
        [
            vars::USER_EMAIL.var,
            vars::WRITE_CREDENTIALS.var,
            vars::GRACE.var
        ],
        "{p:#?}"
    );
    assert!(
        p.iter()
            .all(|p| p.message.starts_with("is not valid UTF-8"))
    );
    assert!(
        p[1].message.contains("--write-credentials"),
        "{}",
        p[1].message
    );
}

#[test]
fn ssl_cert_file_is_checked_with_the_other_settings() {
    let e = with(
        with(good_env(), vars::SSL_CERT_FILE.var, "/ca.pem"),
        vars::USER_EMAIL.var,
        "nope",
    );
    let big = vec![b'x'; 17 << 20];
    for (contents, why) in [
        (&b"junk"[..], "contains no PEM CERTIFICATE block"),
        (
            &b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"[..],
            "none of its certificates is usable as a trust anchor",
        ),
        (&big[..], "it is larger than 16 MiB"),
    ] {
        let p = problems_with(&CliValues::default(), &e, &files(&[("/ca.pem", contents)]));
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!(p[0].var, vars::USER_EMAIL.var);
        assert_eq!(p[1].var, vars::SSL_CERT_FILE.var);
        assert!(
            p[1].message.starts_with(&format!("/ca.pem: {why}")),
            "{}",
            p[1].message
        );
    }
    let p = problems_with(&CliValues::default(), &e, &no_files);
    assert!(
        p[1].message.contains("No such file or directory"),
        "{}",
        p[1].message
    );
}

#[test]
fn paths_and_fly_fields_are_refused_when_not_printable() {
    for (var, value, why) in [
        (
            vars::WRITE_CREDENTIALS.var,
            "/app/\u{202e}nosj.creds",
            "invisible formatting",
        ),
        (
            vars::SSL_CERT_FILE.var,
            "/etc/ca\n.pem",
            "control character",
        ),
        (vars::FLY_REGION.var, "ams\u{200d}", "invisible formatting"),
        (vars::FLY_MACHINE_ID.var, "m\u{7}", "control character"),
        (
            vars::API_TOKEN_FILE.var,
            "/run/\u{2067}token",
            "invisible formatting",
        ),
    ] {
        let mut e = with(good_env(), var, value);
        if var == vars::API_TOKEN_FILE.var {
            e = without(e, vars::API_TOKEN.var);
        }
        let p = problem(&e);
        assert_eq!(p.var, var);
        assert!(p.message.contains(why), "{var}: {}", p.message);
        assert!(!p.message.contains(value), "{var}: echoed");
    }
    let long = format!("/{}", "d".repeat(4095));
    let p = problem(&with(good_env(), vars::WRITE_CREDENTIALS.var, &long));
    assert!(
        p.message.contains("longer than 4095 bytes"),
        "{}",
        p.message
    );
    let p = problem(&without(
        with(good_env(), vars::USER_EMAIL_FILE.var, "/e\u{202e}"),
        vars::USER_EMAIL.var,
    ));
    assert_eq!(p.var, vars::USER_EMAIL_FILE.var);
}

#[test]
fn a_file_too_large_or_not_regular_is_named_with_its_variable() {
    let big = vec![b'a'; 64 * 1024 + 1];
    let e = with(
        without(good_env(), vars::API_TOKEN.var),
        vars::API_TOKEN_FILE.var,
        "/big",
    );
    let p = problems_with(&CliValues::default(), &e, &files(&[("/big", &big)]));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].var, vars::API_TOKEN_FILE.var);
    assert_eq!(
        p[0].message,
        "cannot use \"/big\": it is larger than 64 KiB; point SYSTEMPROMPT_API_TOKEN_FILE at the file holding the token (Docker and Kubernetes mount secrets as files)"
    );
}

mod options;
