//! Tests of the flags and options of [`super::super::load`]: booleans, the escape hatch taken
//! only as exactly `1`, `--scrub-token` on Fly.io, the time ranges, the init and on-expiry
//! modes, empty command-line values, and the paths.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

// ---- flags and options ----

#[test]
fn boolean_values() {
    for (v, want) in [
        ("1", true),
        ("true", true),
        ("TRUE", true),
        ("Yes", true),
        ("on", true),
        ("0", false),
        ("false", false),
        ("No", false),
        ("OFF", false),
    ] {
        assert_eq!(parse_bool(v), Some(want), "{v}");
        let (c, _) = ok(
            &CliValues::default(),
            &with(good_env(), vars::SCRUB_TOKEN.var, v),
        );
        assert_eq!(c.scrub_token, want, "{v}");
    }
    for v in ["2", "y", "enable", "truee", "-1"] {
        assert_eq!(parse_bool(v), None, "{v}");
    }
    // (This used SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS, which takes only exactly `1` since
    // issue 10: see allow_unvalidated_is_exactly_1.)
    let p = problem(&with(good_env(), vars::SCRUB_TOKEN.var, "sure"));
    assert_eq!(p.var, vars::SCRUB_TOKEN.var);
    assert_eq!(
        p.message,
        "\"sure\" is not a yes/no value; use 1, true, yes or on to enable, or 0, false, no or off (or leave it unset) to disable"
    );
}

#[test]
fn allow_unvalidated_is_exactly_1() {
    // Issue 10: the app honours only exactly `1`; anything else is off, with one warning that
    // names the variable (never the value).
    let (c, warnings) = ok(
        &CliValues::default(),
        &with(good_env(), vars::ALLOW_UNVALIDATED.var, "1"),
    );
    assert!(c.allow_unvalidated);
    assert!(warnings.is_empty(), "{warnings:?}");
    for v in [
        "true", "yes", "on", "TRUE", " 1", "1 ", "1\n", "01", "0", "false", "perhaps",
    ] {
        let (c, warnings) = ok(
            &CliValues::default(),
            &with(good_env(), vars::ALLOW_UNVALIDATED.var, v),
        );
        assert!(!c.allow_unvalidated, "{v:?}");
        assert_eq!(
            warnings,
            [
                "SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS is set but not to exactly `1`, so it is off: only `1` is honoured (by the SystemPrompt app too, which would then refuse to start unvalidated)"
            ],
            "{v:?}"
        );
    }
    for v in ["", " ", "\n"] {
        let (c, warnings) = ok(
            &CliValues::default(),
            &with(good_env(), vars::ALLOW_UNVALIDATED.var, v),
        );
        assert!(!c.allow_unvalidated && warnings.is_empty(), "{v:?}");
    }
}

#[test]
fn scrub_token_is_refused_on_fly() {
    // Issue 10: on Fly.io the app reads only the environment; FLY_APP_NAME present, even
    // empty, means Fly.
    for fly in ["my-app", ""] {
        for (cli, env_value) in [
            (CliValues::default().with(&vars::SCRUB_TOKEN, "1"), None),
            (CliValues::default(), Some("1")),
        ] {
            let mut e = with(good_env(), vars::FLY_APP_NAME.var, fly);
            if let Some(v) = env_value {
                e = with(e, vars::SCRUB_TOKEN.var, v);
            }
            let p = problems_with(&cli, &e, &no_files);
            assert_eq!(p.len(), 1, "{p:?}");
            assert_eq!(p[0].var, "--scrub-token / SYSTEMPROMPT_SCRUB_TOKEN");
            assert!(
                p[0].message
                    .starts_with("cannot be used on Fly.io (FLY_APP_NAME is set)"),
                "{}",
                p[0].message
            );
        }
    }
    // Without --scrub-token, Fly is fine; off Fly, --scrub-token is fine.
    let (c, _) = ok(
        &CliValues::default(),
        &with(good_env(), vars::FLY_APP_NAME.var, ""),
    );
    assert!(!c.scrub_token);
    let (c, _) = ok(
        &CliValues::default().with(&vars::SCRUB_TOKEN, "1"),
        &good_env(),
    );
    assert!(c.scrub_token);
}

#[test]
fn whoami_timeout_range() {
    let name = "--whoami-timeout / SYSTEMPROMPT_WHOAMI_TIMEOUT";
    let (c, _) = ok(
        &CliValues::default(),
        &with(good_env(), vars::WHOAMI_TIMEOUT.var, "3600"),
    );
    assert_eq!(c.whoami_timeout, MAX_WHOAMI_TIMEOUT);
    for (v, why) in [
        ("0", "must be more than 0 seconds"),
        ("0.000", "must be more than 0 seconds"),
        ("3600.001", "more than the maximum of 3600 seconds"),
        ("99999999999999999999999", "more than the maximum"),
        ("abc", "\"abc\" is not a number of seconds"),
        ("-5", "is not a number of seconds"),
    ] {
        let p = problem(&with(good_env(), vars::WHOAMI_TIMEOUT.var, v));
        assert_eq!(p.var, name);
        assert!(p.message.contains(why), "{v}: {}", p.message);
        assert!(
            p.message
                .contains("give a number of seconds (more than 0 and at most 3600), like 30"),
            "{}",
            p.message
        );
    }
    let cli = CliValues::default().with(&vars::WHOAMI_TIMEOUT, "0");
    let p = problems_with(&cli, &good_env(), &no_files);
    assert_eq!(p[0].var, name);
}

#[test]
fn grace_range() {
    let (c, _) = ok(
        &CliValues::default(),
        &with(good_env(), vars::GRACE.var, "0"),
    );
    assert_eq!(c.grace, Duration::ZERO);
    let (c, _) = ok(
        &CliValues::default(),
        &with(good_env(), vars::GRACE.var, "2.5"),
    );
    assert_eq!(c.grace, Duration::from_millis(2500));
    let p = problem(&with(good_env(), vars::GRACE.var, "301"));
    assert_eq!(p.var, "--grace / SYSTEMPROMPT_GRACE");
    assert_eq!(
        p.message,
        "\"301\" is more than the maximum of 300 seconds; give a number of seconds (from 0 to 300), like 5"
    );
}

#[test]
fn init_modes() {
    for (v, want) in [
        ("auto", InitMode::Auto),
        ("AUTO", InitMode::Auto),
        ("always", InitMode::Always),
        ("Never", InitMode::Never),
    ] {
        let (c, _) = ok(&CliValues::default(), &with(good_env(), vars::INIT.var, v));
        assert_eq!(c.init, want);
    }
    let p = problem(&with(good_env(), vars::INIT.var, "tini"));
    assert_eq!(p.var, "--init / SYSTEMPROMPT_INIT");
    assert_eq!(
        p.message,
        "\"tini\" is not a mode; use auto, always or never (default: auto)"
    );
}

#[test]
fn on_expiry_modes() {
    for (v, want) in [
        ("warn", OnExpiry::Warn),
        ("STOP", OnExpiry::Stop),
        ("off\n", OnExpiry::Off),
    ] {
        let (c, _) = ok(
            &CliValues::default(),
            &with(good_env(), vars::ON_EXPIRY.var, v),
        );
        assert_eq!(c.on_expiry, want, "{v:?}");
    }
    // The option wins.
    let cli = CliValues::default().with(&vars::ON_EXPIRY, "stop");
    let (c, _) = ok(&cli, &with(good_env(), vars::ON_EXPIRY.var, "off"));
    assert_eq!(c.on_expiry, OnExpiry::Stop);
    let p = problem(&with(good_env(), vars::ON_EXPIRY.var, "kill"));
    assert_eq!(p.var, "--on-expiry / SYSTEMPROMPT_ON_EXPIRY");
    assert_eq!(
        p.message,
        "\"kill\" is not a mode; use warn, stop or off (default: warn)"
    );
}

#[test]
fn empty_cli_values_are_problems() {
    let cli = CliValues::default()
        .with(&vars::WHOAMI_TIMEOUT, " ")
        .with(&vars::WRITE_CREDENTIALS, "")
        .with(&vars::INIT, "")
        .with(&vars::GRACE, "");
    let p = problems_with(&cli, &good_env(), &no_files);
    let vars: Vec<&str> = p.iter().map(|p| p.var.as_str()).collect();
    assert_eq!(
        vars,
        [
            "--whoami-timeout / SYSTEMPROMPT_WHOAMI_TIMEOUT",
            "--grace / SYSTEMPROMPT_GRACE",
            "--init / SYSTEMPROMPT_INIT",
            "--write-credentials / SYSTEMPROMPT_WRITE_CREDENTIALS",
        ]
    );
    assert!(
        p[0].message
            .starts_with("--whoami-timeout is given an empty value; give a number of seconds"),
        "{}",
        p[0].message
    );
}

#[test]
fn write_credentials_and_ssl_cert_file() {
    let e = with(
        with(
            good_env(),
            vars::WRITE_CREDENTIALS.var,
            " /app/creds.json\n",
        ),
        vars::SSL_CERT_FILE.var,
        "/etc/ca.pem",
    );
    let (c, warnings) = ok_with_ca(&e, "/etc/ca.pem");
    assert_eq!(c.write_credentials, Some(PathBuf::from("/app/creds.json")));
    assert_eq!(c.ssl_cert_file, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("SYSTEMPROMPT_WRITE_CREDENTIALS had surrounding whitespace"));
}
