//! Property tests (proptest) for the validators and the credentials schema, through the
//! library's public API:
//! - any valid configuration loads, and its credentials serialise to exactly the
//!   `credentials.json` shape (five keys, in order) and read back to the same values;
//! - any invalid email, URL or token is refused as `Error::Config` naming the variable, and no
//!   message contains the token;
//! - the URL validator's normal form is a fixed point.

use std::path::Path;

use proptest::prelude::*;
use serde::Deserialize;
use sp_entrypoint::config::{self, CliValues, vars};
use sp_entrypoint::credentials::{Credentials, Proven};
use sp_entrypoint::error::Error;
use sp_entrypoint::timefmt;
use sp_entrypoint::token;

/// base64url without padding, as tokens use it.
fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A well-formed token: an optional prefix, a header, claims with `exp`/`iat`, a signature.
fn token_strategy() -> impl Strategy<Value = (String, u64, u64)> {
    (
        prop::sample::select(vec!["", "sp_live_", "sp_test_", "abc_1_"]),
        4_000_000_000u64..5_000_000_000,
        1_000_000_000u64..2_000_000_000,
        "[a-z0-9_]{1,12}",
        prop::collection::vec(any::<u8>(), 16..64),
    )
        .prop_map(|(prefix, exp, iat, sub, sig)| {
            let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
            let claims = format!(r#"{{"sub":"{sub}","exp":{exp},"iat":{iat}}}"#);
            (
                format!("{prefix}{header}.{}.{}", b64(claims.as_bytes()), b64(&sig)),
                exp,
                iat,
            )
        })
}

/// Valid emails by the upstream rules (and free of `..`, leading/trailing dots).
fn email_strategy() -> impl Strategy<Value = String> {
    (
        "[a-z0-9]([a-z0-9+_-]{0,8}[a-z0-9])?(\\.[a-z0-9]{1,6}){0,2}",
        prop::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..3),
        "[a-z]{2,6}",
        any::<bool>(),
    )
        .prop_map(|(local, labels, tld, upper)| {
            let email = format!("{local}@{}.{tld}", labels.join("."));
            if upper { email.to_uppercase() } else { email }
        })
}

/// Valid API URLs and their normal form.
fn url_strategy() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){1,3}".prop_map(|h| ("https", h)),
            Just(("http", "localhost".to_owned())),
            (0u8..=255, 0u8..=255, 1u8..=254)
                .prop_map(|(a, b, c)| ("http", format!("127.{a}.{b}.{c}"))),
            Just(("http", "[::1]".to_owned())),
        ],
        prop::option::of(1u16..=65535),
        // Segments of `.` or `..` are refused (the URL parser reads them otherwise).
        prop::option::of(
            "(/[a-zA-Z0-9._~-]{1,8}){1,3}".prop_filter("a dot segment", |p| {
                p.split('/').all(|seg| seg != "." && seg != "..")
            }),
        ),
        any::<bool>(),
    )
        .prop_map(|((scheme, host), port, path, slash)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let path = path.unwrap_or_default();
            let norm = format!("{scheme}://{host}{port}{path}");
            let given = if slash {
                format!("{norm}/")
            } else {
                norm.clone()
            };
            (given, norm)
        })
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn no_files(_: &Path, _: u64) -> std::io::Result<Vec<u8>> {
    Err(std::io::ErrorKind::NotFound.into())
}

/// The upstream CLI's reading of the file: exactly these keys, nothing else.
#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Upstream {
    api_token: String,
    api_url: String,
    authenticated_at: String,
    user_email: String,
    last_validated_at: Option<String>,
}

/// The keys of a pretty-printed top-level object, in file order.
fn keys(json: &str) -> Vec<String> {
    json.lines()
        .filter(|l| l.starts_with("  \""))
        .filter_map(|l| {
            l.trim()
                .strip_prefix('"')?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

/// The one problem on `var`, after asserting the error is a configuration error without the
/// token (or any long part of it) anywhere.
fn refused_on(result: Result<(config::Config, Vec<String>), Error>, var: &str, secret: &str) {
    let problems = match result {
        Err(Error::Config(p)) => p,
        Err(other) => panic!("not a configuration error: {other}"),
        Ok((c, _)) => panic!("accepted: {c:?}"),
    };
    assert!(
        problems.iter().any(|p| p.var == var),
        "no problem names {var}: {problems:#?}"
    );
    let text = Error::Config(problems).to_string();
    assert!(!text.contains(secret), "token in: {text}");
    for part in secret.split(['.', '_']).filter(|p| p.len() >= 8) {
        assert!(!text.contains(part), "token part in: {text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_configurations_give_the_exact_credentials_json(
        (tok, exp, iat) in token_strategy(),
        email in email_strategy(),
        (url, norm) in url_strategy(),
        validated in prop::option::of(0u64..253_402_300_799),
        pad in prop::sample::select(vec!["", " ", "\n", "\t \r\n"]),
    ) {
        let e = env(&[
            (vars::API_TOKEN.var, &format!("{pad}{tok}{pad}")),
            (vars::USER_EMAIL.var, &format!("{email}{pad}")),
            (vars::API_URL.var, &url),
        ]);
        let (cfg, _warnings) = config::load(&CliValues::default(), &e, &no_files).config
            .unwrap_or_else(|err| panic!("refused {email} {url}: {err}"));
        prop_assert_eq!(cfg.token.expose(), tok.as_str());
        prop_assert_eq!(&cfg.email, &email);
        prop_assert_eq!(&cfg.api_url, &norm);
        prop_assert_eq!(
            (cfg.claims.exp, cfg.claims.iat),
            (Ok(exp.cast_signed()), Some(iat.cast_signed()))
        );

        // The credentials as the bootstrap builds them.
        // At a `now` after every generated `iat` (all in the past, so each is the login time);
        // whoami proved the configured address itself.
        let proven = validated.map(|at| Proven {
            email: &cfg.email,
            validated_at: Some(at),
        });
        let creds = Credentials::new(&cfg, 2_000_000_000, proven);
        let json = creds.to_json();
        prop_assert!(json.ends_with("}\n"), "no final newline");
        prop_assert_eq!(
            keys(&json),
            ["api_token", "api_url", "authenticated_at", "user_email", "last_validated_at"]
        );
        let back: Upstream = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(
            back,
            Upstream {
                api_token: tok.clone(),
                api_url: norm.clone(),
                authenticated_at: timefmt::rfc3339(iat),
                user_email: email.clone(),
                last_validated_at: validated.map(timefmt::rfc3339),
            }
        );
        let read = time::OffsetDateTime::parse(
            &timefmt::rfc3339(iat),
            &time::format_description::well_known::Rfc3339,
        );
        prop_assert_eq!(read.map(time::OffsetDateTime::unix_timestamp).ok(), Some(iat.cast_signed()));
        // `Debug` never shows the token.
        let debug = format!("{creds:?} {cfg:?}");
        prop_assert!(!debug.contains(&tok));
    }

    #[test]
    fn invalid_emails_are_refused_naming_the_variable(
        (tok, _, _) in token_strategy(),
        email in email_strategy(),
        mutation in 0usize..9,
        at in any::<prop::sample::Index>(),
    ) {
        let (local, domain) = email.split_once('@').unwrap();
        let bad = match mutation {
            0 => email.replace('@', ""),
            1 => format!("{local}@@{domain}"),
            2 => format!("{local}@{domain}@x.io"),
            3 => {
                let i = at.index(email.len() + 1);
                let (a, b) = email.split_at(i.min(email.len()));
                format!("{a} {b}").trim().replace(' ', "\u{a0}")
            }
            4 => format!(".{email}"),
            5 => format!("{local}.@{domain}"),
            6 => format!("{local}@{}", domain.replacen('.', "..", 1)),
            7 => format!("{local}@{}x", domain.rsplit_once('.').unwrap().0.to_owned() + "."),
            _ => format!("@{domain}"),
        };
        prop_assume!(config::validate_email(&bad).is_err());
        let e = env(&[(vars::API_TOKEN.var, &tok), (vars::USER_EMAIL.var, &bad)]);
        refused_on(config::load(&CliValues::default(), &e, &no_files).config, vars::USER_EMAIL.var, &tok);
    }

    #[test]
    fn invalid_urls_are_refused_naming_the_variable(
        (tok, _, _) in token_strategy(),
        email in email_strategy(),
        (url, norm) in url_strategy(),
        mutation in 0usize..9,
    ) {
        let rest = norm.split_once("://").unwrap().1;
        let bad = match mutation {
            0 => format!("http://{}", rest.replace("localhost", "example.com").replace("127.", "128.").replace("[::1]", "[::2]")),
            1 => format!("{url}?token=x"),
            2 => format!("{url}#frag"),
            3 => format!("https://user:pw@{rest}"),
            4 => format!("ftp://{rest}"),
            5 => rest.to_owned(),
            6 => format!("{norm} "),
            7 => norm.replacen("://", "://:", 1),
            _ => format!("{norm}/a b"),
        };
        prop_assume!(config::validate_api_url(bad.trim()).is_err());
        let e = env(&[(vars::API_TOKEN.var, &tok), (vars::USER_EMAIL.var, &email), (vars::API_URL.var, &bad)]);
        refused_on(config::load(&CliValues::default(), &e, &no_files).config, vars::API_URL.var, &tok);
    }

    #[test]
    fn invalid_tokens_are_refused_naming_the_variable(
        (tok, _, _) in token_strategy(),
        email in email_strategy(),
        mutation in 0usize..6,
        at in any::<prop::sample::Index>(),
        c in prop::sample::select(vec!['"', '\'', ' ', '+', '/', '\u{1}', 'é', '\n']),
    ) {
        let i = at.index(tok.len());
        let bad = match mutation {
            0 => tok[..i].to_owned(),
            1 => format!("{}{c}{}", &tok[..i], &tok[i..]),
            2 => tok.replacen('.', "", 1),
            3 => format!("{tok}.{}", &tok[i..]),
            4 => format!("\"{tok}\""),
            _ => tok.replace("eyJ", "eyK"),
        };
        prop_assume!(!bad.trim().is_empty());
        prop_assume!(token::decode_claims(bad.trim()).is_err());
        let e = env(&[(vars::API_TOKEN.var, &bad), (vars::USER_EMAIL.var, &email)]);
        refused_on(config::load(&CliValues::default(), &e, &no_files).config, vars::API_TOKEN.var, &tok);
    }

    #[test]
    fn the_url_normal_form_is_a_fixed_point((url, norm) in url_strategy(), upper in any::<bool>()) {
        let given = if upper {
            // Scheme and host are case-insensitive; the path is not.
            let (scheme_host, path) = url.split_at(url[8..].find('/').map_or(url.len(), |i| i + 8));
            format!("{}{path}", scheme_host.to_uppercase())
        } else {
            url.clone()
        };
        let got = config::validate_api_url(&given).unwrap_or_else(|e| panic!("{given}: {e}"));
        prop_assert_eq!(&got, &norm);
        prop_assert_eq!(config::validate_api_url(&got), Ok(got.clone()));
    }
}
