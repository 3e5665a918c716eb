//! `config::validate_email`, `config::validate_api_url` and the small value parsers.
//!
//! Properties: no panic; an accepted URL is normalised idempotently, parses as a URL (the
//! same parser whoami uses) with the same scheme, no user info, query or fragment, and is
//! `https` unless loopback; an accepted email has one `@` and no whitespace; messages never
//! repeat a long input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sp_entrypoint::config::{
    parse_bool, parse_init_mode, parse_seconds, validate_api_url, validate_email,
};

/// Whether `msg` repeats `input` (only meaningful for inputs unlikely to be message text).
fn repeats(msg: &str, input: &str) -> bool {
    input.len() >= 12
        && input.bytes().any(|c| c.is_ascii_digit() || c == b'%')
        && msg.contains(input)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match validate_email(s) {
        Ok(()) => {
            assert_eq!(s.matches('@').count(), 1, "{s:?}");
            assert!(!s.chars().any(char::is_whitespace), "{s:?}");
            let (local, domain) = s.split_once('@').unwrap();
            assert!(!local.is_empty() && domain.contains('.'), "{s:?}");
        }
        Err(msg) => assert!(!repeats(&msg, s), "{msg}"),
    }
    for candidate in [
        s.to_owned(),
        format!("https://{s}"),
        format!("http://127.0.0.1:{s}"),
    ] {
        match validate_api_url(&candidate) {
            Ok(norm) => {
                assert_eq!(
                    validate_api_url(&norm).as_deref(),
                    Ok(norm.as_str()),
                    "not idempotent: {candidate:?}"
                );
                assert!(!norm.ends_with('/'), "{norm}");
                let me = format!("{norm}/api/v1/auth/me");
                let url = url::Url::parse(&me)
                    .unwrap_or_else(|e| panic!("accepted {candidate:?} -> {norm:?}, but {e}"));
                assert!(
                    url.username().is_empty() && url.password().is_none(),
                    "{norm}"
                );
                assert!(url.query().is_none() && url.fragment().is_none(), "{norm}");
                assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{norm}");
                match url.scheme() {
                    "https" => {}
                    "http" => {
                        let host = url.host_str().unwrap_or("");
                        let loopback = host == "localhost"
                            || host
                                .trim_start_matches('[')
                                .trim_end_matches(']')
                                .parse::<std::net::IpAddr>()
                                .is_ok_and(|ip| ip.is_loopback());
                        assert!(loopback, "plain http to a non-loopback host: {norm}");
                    }
                    other => panic!("scheme {other} accepted: {norm}"),
                }
            }
            Err(msg) => assert!(!repeats(&msg, &candidate), "{msg}"),
        }
    }
    if let Some(d) = parse_seconds(s) {
        assert!(s.bytes().all(|c| c.is_ascii_digit() || c == b'.'), "{s:?}");
        let _ = d;
    }
    let _ = parse_bool(s);
    let _ = parse_init_mode(s);
});
