//! The validators: pure functions from a trimmed value to a typed one, or to a message that says
//! what is wrong and what to do, and never repeats the value (email, API URL, yes/no, seconds,
//! `--init` mode, log filter).

use std::str::FromStr;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::time::Duration;

use tracing_subscriber::filter::Targets;

use super::InitMode;

/// The most characters an email address can have (RFC 5321's path limit, less the brackets).
pub const MAX_EMAIL: usize = 254;
/// The most characters an API URL can have.
pub const MAX_URL: usize = 2048;
/// The most characters a host name can have (RFC 1035), and one of its labels.
pub const MAX_HOST: usize = 253;
/// The most characters a label of a host name can have (RFC 1035).
pub const MAX_LABEL: usize = 63;
/// The most bytes a file path can have (Linux's `PATH_MAX`, with its NUL).
pub const MAX_PATH: usize = 4095;

/// Whether `c` is invisible formatting: Unicode's format characters (category Cf: the
/// bidirectional overrides and isolates, zero-width spaces and joiners, the soft hyphen, tag
/// characters...) and the line and paragraph separators. Shown in a log line, they reorder or
/// hide what follows.
pub fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{600}'..='\u{605}'
            | '\u{61C}'
            | '\u{6DD}'
            | '\u{70F}'
            | '\u{890}'..='\u{891}'
            | '\u{8E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Refuse what cannot be shown on one log line as it is: control characters and invisible
/// formatting ([`is_format`]). The message never repeats the value.
pub fn printable(value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        return Err("contains a control character (a newline, tab or escape?); remove it".into());
    }
    if value.chars().any(is_format) {
        return Err(
            "contains an invisible formatting character (a bidirectional override, a zero-width \
             space or joiner, a soft hyphen?), which would hide or reorder text in the logs; \
             type the value again without it"
                .into(),
        );
    }
    Ok(())
}

/// A file path we print: [`printable`], and at most [`MAX_PATH`] bytes.
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.len() > MAX_PATH {
        return Err(format!(
            "is longer than {MAX_PATH} bytes, more than a path can have (PATH_MAX); give a shorter path"
        ));
    }
    printable(path)
}

/// Check a PEM bundle of CA certificates (`SSL_CERT_FILE`'s contents): every PEM block
/// well-formed, at least one certificate, and at least one usable as a trust anchor. Returns
/// the certificates.
pub fn ca_bundle(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a valid PEM bundle ({e})"))?;
    if certs.is_empty() {
        return Err("contains no PEM CERTIFICATE block".to_owned());
    }
    let (added, _) = rustls::RootCertStore::empty().add_parsable_certificates(certs.clone());
    if added == 0 {
        return Err("none of its certificates is usable as a trust anchor".to_owned());
    }
    Ok(certs)
}

/// `1/true/yes/on` is `true`, `0/false/no/off` is `false` (case-insensitive), else `None`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Parse a non-negative decimal number of seconds (`30`, `0.5`, `1.25`) exactly, without
/// floating point: digits, optionally `.` and more digits (fractions beyond nanoseconds are
/// truncated). No sign, exponent or unit. A whole part too large for `u64` saturates.
pub fn parse_seconds(value: &str) -> Option<Duration> {
    let (whole, frac) = match value.split_once('.') {
        Some((w, f)) if !f.is_empty() => (w, f),
        Some(_) => return None,
        None => (value, ""),
    };
    if whole.is_empty()
        || !whole.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    // Only digits, so the one possible failure is overflow.
    let secs = whole.parse::<u64>().unwrap_or(u64::MAX);
    let mut nanos: u32 = 0;
    for i in 0..9 {
        let digit = frac.as_bytes().get(i).map_or(0, |c| u32::from(c - b'0'));
        nanos = nanos * 10 + digit;
    }
    Some(Duration::new(secs, nanos))
}

/// Parse `auto|always|never` (case-insensitive).
pub fn parse_init_mode(value: &str) -> Option<InitMode> {
    match value.to_ascii_lowercase().as_str() {
        "auto" => Some(InitMode::Auto),
        "always" => Some(InitMode::Always),
        "never" => Some(InitMode::Never),
        _ => None,
    }
}

const EMAIL_FIX: &str = "set it to the email of your SystemPrompt account, like user@example.com";

/// Check an account email with the upstream rules. The error says what is wrong and what to
/// do, and never repeats the value.
///
/// Rules: exactly one `@`; a non-empty local part that neither starts nor ends with `.` and
/// has no `..`; a non-empty domain containing a `.`, not starting or ending with `.`, without
/// `..`, whose last label has at least 2 characters; no whitespace or control characters.
pub fn validate_email(email: &str) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{what}; {EMAIL_FIX}"));
    if email.is_empty() {
        return fail("is empty");
    }
    if email.chars().count() > MAX_EMAIL {
        return fail(&format!(
            "is longer than {MAX_EMAIL} characters, more than an email address can have"
        ));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail("contains whitespace or a control character");
    }
    if email.chars().any(is_format) {
        return fail(
            "contains an invisible formatting character (a bidirectional override, a zero-width space?)",
        );
    }
    let Some((local, domain)) = email.split_once('@') else {
        return fail("is not an email address: it has no '@'");
    };
    if domain.contains('@') {
        return fail("is not an email address: it has more than one '@'");
    }
    if local.is_empty() {
        return fail("has nothing before the '@'");
    }
    if local.starts_with('.') || local.ends_with('.') {
        return fail("the part before the '@' starts or ends with '.'");
    }
    if local.contains("..") {
        return fail("the part before the '@' contains '..'");
    }
    if domain.is_empty() {
        return fail("has nothing after the '@'");
    }
    if !domain.contains('.') {
        return fail("the domain (after the '@') has no '.'");
    }
    if domain.starts_with('.') || domain.ends_with('.') {
        return fail("the domain (after the '@') starts or ends with '.'");
    }
    if domain.contains("..") {
        return fail("the domain (after the '@') contains '..'");
    }
    if domain
        .rsplit('.')
        .next()
        .map_or(0, |tld| tld.chars().count())
        < 2
    {
        return fail("the top-level domain (after the last '.') is shorter than 2 characters");
    }
    Ok(())
}

const URL_FIX: &str =
    "use e.g. https://api.systemprompt.io (the default: unset the variable to use it)";

const HOST_READ_OTHERWISE: &str = "has a host that is neither a valid name nor a dotted-decimal IPv4 address (a last label that is a number, or a malformed xn-- label?)";

/// Check an API URL and return it normalised: scheme and host lowercased, no trailing `/`.
///
/// Rules: `https://`, or `http://` only for a loopback host (`localhost`, `127.0.0.0/8`,
/// `[::1]`); a host (a name of letters, digits, `-`, `_`, `.` without empty labels, an IPv4
/// address, or an IPv6 address in brackets); an optional port 1-65535; an optional path (such
/// as `/cloud`) of URL characters; no user info, query or fragment; no whitespace or control
/// characters. The URL is parsed by the `url` crate (the parser whoami uses), and refused when
/// it reads anything other than what was written (a host such as `10.0x1`, which it reads as
/// 10.0.0.1; a path with `.` or `..` segments). The error says what is wrong and what to do,
/// and never repeats the value.
pub fn validate_api_url(text: &str) -> Result<String, String> {
    let fail = |what: &str| Err(format!("{what}; {URL_FIX}"));
    let fail_fix = |what: &str, fix: &str| Err(format!("{what}; {fix}"));
    // The stricter rules, on the text as written.
    if text.is_empty() {
        return fail("is empty");
    }
    if text.chars().count() > MAX_URL {
        return fail(&format!(
            "is longer than {MAX_URL} characters, too long for the base URL of an API"
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail("contains whitespace or a control character");
    }
    if text.chars().any(is_format) {
        return fail(
            "contains an invisible formatting character (a bidirectional override, a zero-width space?)",
        );
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return fail("is not an absolute URL (no https://)");
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return fail("has a scheme other than https:// (or http:// for localhost)");
    }
    let base_only = "remove it: give only the base URL, like https://api.systemprompt.io";
    if rest.contains('#') {
        return fail_fix("has a fragment (#...)", base_only);
    }
    if rest.contains('?') {
        return fail_fix("has a query (?...)", base_only);
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return fail_fix(
            "contains user info (user@host)",
            "remove it (the token is sent in a header): give only the base URL, like https://api.systemprompt.io",
        );
    }
    let (host, port) = match written_authority(authority) {
        Ok(parts) => parts,
        Err(what) => return fail(what),
    };
    // What the URL parser reads: exactly what was written, or it is refused.
    let parsed = match url::Url::parse(text) {
        Ok(parsed) => parsed,
        Err(url::ParseError::InvalidIpv6Address) => {
            return fail("has an invalid IPv6 address in [...]");
        }
        Err(_) => return fail(HOST_READ_OTHERWISE),
    };
    let (read_host, loopback) = match parsed.host() {
        Some(url::Host::Domain(name)) if name == host => (name, name == "localhost"),
        Some(url::Host::Ipv4(addr)) if addr.to_string() == host => {
            (host.as_str(), addr.is_loopback())
        }
        Some(url::Host::Ipv6(addr)) if host.starts_with('[') => {
            (parsed.host_str().unwrap_or_default(), addr.is_loopback())
        }
        _ => return fail(HOST_READ_OTHERWISE),
    };
    if port.is_some_and(|p| parsed.port_or_known_default() != Some(p)) {
        return fail("has an invalid port (use a number from 1 to 65535)");
    }
    if scheme == "http" && !loopback {
        return fail_fix(
            "uses http://, which is allowed only for localhost, 127.0.0.0/8 and [::1]",
            "use https://, like https://api.systemprompt.io",
        );
    }
    if !valid_path(path) {
        return fail("has a path with characters not allowed in a URL (encode them as %XX)");
    }
    let read_path = parsed.path();
    if read_path != path && !(path.is_empty() && read_path == "/") {
        return fail(
            "has a path that a URL parser reads otherwise (a `.` or `..` segment, plain or %-encoded?)",
        );
    }
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let path = read_path.trim_end_matches('/');
    Ok(format!("{scheme}://{read_host}{port}{path}"))
}

/// The host as written (lowercased; an IPv6 address keeps its brackets) and the port as
/// written (checked: 1-65535), from an authority without user info. The error says what is
/// wrong.
fn written_authority(authority: &str) -> Result<(String, Option<u16>), &'static str> {
    if authority.is_empty() {
        return Err("has no host");
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority
            .find(']')
            .ok_or("has an IPv6 address without its closing ']'")?;
        let (host, after) = authority.split_at(end + 1);
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("has something other than :PORT after the IPv6 address")?,
            ),
        };
        (host.to_ascii_lowercase(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err(
                "has more than one ':' in the host (an IPv6 address goes in brackets, like [::1])",
            );
        }
        if host.is_empty() {
            return Err("has no host");
        }
        if !host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        {
            return Err(
                "has a host name with characters other than letters, digits, '-', '_' and '.' (use the xn-- form of an international name)",
            );
        }
        if host.split('.').any(str::is_empty) {
            return Err("has a host name with an empty label (a leading, trailing or doubled '.')");
        }
        if host.len() > MAX_HOST {
            return Err("has a host name longer than 253 characters, more than DNS allows");
        }
        if host.split('.').any(|label| label.len() > MAX_LABEL) {
            return Err(
                "has a host name with a label (between dots) longer than 63 characters, more than DNS allows",
            );
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|c| c.is_ascii_digit()) => Some(n),
            _ => return Err("has an invalid port (use a number from 1 to 65535)"),
        },
    };
    Ok((host, port))
}

/// RFC 3986 path characters: unreserved, sub-delims, `:`, `@`, `/`, and `%XX`.
fn valid_path(path: &str) -> bool {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

/// The default log filter: our own info lines, everyone else's warnings.
pub const DEFAULT_FILTER: &str = "warn,sp_entrypoint=info";

/// Parse a RUST_LOG-style filter. A bare level (`debug`) applies to our crate and to the
/// dependencies alike, which is what someone debugging a TLS or proxy problem wants.
pub fn parse_filter(spec: &str) -> Result<Targets, String> {
    Targets::from_str(spec).map_err(|e| {
        format!(
            "not a log filter ({e}); use a level such as `debug`, or `warn,sp_entrypoint=debug`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rules() {
        for good in [
            "user@example.com",
            "a@b.co",
            "first.last+tag@mail.example.org",
            "x_y-z@sub.domain.io",
            "ü@exämple.de",
        ] {
            assert_eq!(validate_email(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("userexample.com", "no '@'"),
            ("a@b@example.com", "more than one '@'"),
            ("@example.com", "nothing before the '@'"),
            (".user@example.com", "starts or ends with '.'"),
            ("user.@example.com", "starts or ends with '.'"),
            ("us..er@example.com", "contains '..'"),
            ("user@", "nothing after the '@'"),
            ("user@localhost", "has no '.'"),
            ("user@.example.com", "starts or ends with '.'"),
            ("user@example.com.", "starts or ends with '.'"),
            ("user@example..com", "contains '..'"),
            ("user@example.c", "shorter than 2 characters"),
            ("user @example.com", "whitespace"),
            ("user@example.com\n", "whitespace"),
            ("user@exa\u{0}mple.com", "control character"),
            ("user@exa\u{a0}mple.com", "whitespace"),
        ] {
            let err = validate_email(bad).err().unwrap_or_default();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(
                err.ends_with(
                    "set it to the email of your SystemPrompt account, like user@example.com"
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn length_limits_hold_at_their_boundaries() {
        let email = |n: usize| format!("{}@example.com", "a".repeat(n - 12));
        assert_eq!(validate_email(&email(254)), Ok(()));
        let err = validate_email(&email(255)).unwrap_err();
        assert!(err.starts_with("is longer than 254 characters"), "{err}");
        let url = |n: usize| format!("https://example.com/{}", "p".repeat(n - 20));
        assert!(validate_api_url(&url(2048)).is_ok());
        let err = validate_api_url(&url(2049)).unwrap_err();
        assert!(err.starts_with("is longer than 2048 characters"), "{err}");
        let label = |n: usize| format!("https://{}.example.com", "l".repeat(n));
        assert!(validate_api_url(&label(63)).is_ok());
        let err = validate_api_url(&label(64)).unwrap_err();
        assert!(err.contains("longer than 63 characters"), "{err}");
        // 4 * 63 + 3 dots = 255; trimmed to 253 and 254.
        let host = |n: usize| {
            let mut h = [
                "x".repeat(63),
                "x".repeat(63),
                "x".repeat(63),
                "x".repeat(63),
            ]
            .join(".");
            h.truncate(n);
            format!("https://{h}.io")
        };
        assert!(validate_api_url(&host(250)).is_ok());
        let err = validate_api_url(&host(251)).unwrap_err();
        assert!(err.contains("longer than 253 characters"), "{err}");
    }

    #[test]
    fn invisible_formatting_and_control_characters_are_refused() {
        for c in [
            '\u{202e}',
            '\u{202a}',
            '\u{2066}',
            '\u{200b}',
            '\u{200d}',
            '\u{feff}',
            '\u{ad}',
            '\u{2028}',
            '\u{e0041}',
        ] {
            assert!(is_format(c), "{c:?}");
            let err = printable(&format!("a{c}b")).unwrap_err();
            assert!(err.contains("invisible formatting"), "{err}");
            let err = validate_email(&format!("us{c}er@example.com")).unwrap_err();
            assert!(
                err.contains("invisible formatting") || err.contains("whitespace"),
                "{c:?}: {err}"
            );
        }
        for c in ['a', 'é', '\u{4e2d}', ' ', '-', '\u{1F600}'] {
            assert!(!is_format(c), "{c:?}");
        }
        assert!(printable("/app/crédentials.json").is_ok());
        assert!(
            printable("a\u{1b}[2J")
                .unwrap_err()
                .contains("control character")
        );
        assert!(validate_path(&"p".repeat(MAX_PATH)).is_ok());
        assert!(validate_path(&"p".repeat(MAX_PATH + 1)).is_err());
    }

    #[test]
    fn url_accepts_and_normalises() {
        for (input, want) in [
            ("https://api.systemprompt.io", "https://api.systemprompt.io"),
            (
                "https://api.systemprompt.io/",
                "https://api.systemprompt.io",
            ),
            (
                "HTTPS://API.SystemPrompt.IO//",
                "https://api.systemprompt.io",
            ),
            (
                "https://api-sandbox.systemprompt.io",
                "https://api-sandbox.systemprompt.io",
            ),
            (
                "https://example.com:8443/cloud/",
                "https://example.com:8443/cloud",
            ),
            (
                "https://example.com/Cloud/V1",
                "https://example.com/Cloud/V1",
            ),
            ("https://example.com:0443", "https://example.com:443"),
            ("https://10.0.0.1", "https://10.0.0.1"),
            ("https://fake_cloud:8080", "https://fake_cloud:8080"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("HTTP://LocalHost", "http://localhost"),
            ("http://127.0.0.1:1", "http://127.0.0.1:1"),
            ("http://127.255.0.9:65535/x", "http://127.255.0.9:65535/x"),
            ("http://[::1]:9000/", "http://[::1]:9000"),
            ("http://[0:0:0:0:0:0:0:1]", "http://[::1]"),
            ("https://[2001:DB8::1]:443", "https://[2001:db8::1]:443"),
            (
                "https://example.com/a%2Fb/~x",
                "https://example.com/a%2Fb/~x",
            ),
        ] {
            assert_eq!(validate_api_url(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn url_rejections() {
        for (bad, why) in [
            ("", "is empty"),
            ("api.systemprompt.io", "not an absolute URL"),
            ("ftp://api.systemprompt.io", "scheme other than https"),
            ("https//api.systemprompt.io", "not an absolute URL"),
            ("http://api.systemprompt.io", "allowed only for localhost"),
            ("http://128.0.0.1", "allowed only for localhost"),
            ("http://localhost.evil.com", "allowed only for localhost"),
            ("http://[::2]", "allowed only for localhost"),
            ("https://", "has no host"),
            ("https:///path", "has no host"),
            ("https://:443", "has no host"),
            ("https://user:pw@example.com", "user info"),
            ("https://example.com?x=1", "query"),
            ("https://example.com/#frag", "fragment"),
            ("https://example.com:", "invalid port"),
            ("https://example.com:0", "invalid port"),
            ("https://example.com:65536", "invalid port"),
            ("https://example.com:+80", "invalid port"),
            ("https://example.com:80x", "invalid port"),
            ("https://example.com:99999999999999999999", "invalid port"),
            ("https://::1", "more than one ':'"),
            ("https://[::1", "closing ']'"),
            ("https://[nope]", "invalid IPv6"),
            ("https://[::1]x", "other than :PORT"),
            ("https://exa mple.com", "whitespace"),
            ("https://example.com\n", "whitespace"),
            ("https://exämple.com", "xn--"),
            ("https://example..com", "empty label"),
            ("https://.example.com", "empty label"),
            ("https://example.com/a b", "whitespace"),
            ("https://example.com/a\"b", "path"),
            ("https://example.com/a%zz", "path"),
            ("https://example.com/a%2", "path"),
            ("https://example.com/\\x", "path"),
        ] {
            let err = validate_api_url(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(
                err.contains("https://api.systemprompt.io"),
                "{bad:?}: no fix in {err}"
            );
        }
    }

    #[test]
    fn url_paths_the_url_parser_reads_otherwise_are_refused() {
        for bad in [
            "https://example.com/a/../b",
            "https://example.com/.",
            "https://example.com/cloud/..",
            "https://example.com/%2e%2E/x",
            "https://example.com/a/./b",
        ] {
            let err = validate_api_url(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(err.contains("reads otherwise"), "{bad:?}: {err}");
            assert!(
                err.contains("https://api.systemprompt.io"),
                "{bad:?}: {err}"
            );
        }
        for good in ["https://example.com/a.b/..c/.d", "https://example.com/%2F"] {
            assert_eq!(validate_api_url(good).as_deref(), Ok(good));
        }
    }

    #[test]
    fn url_hosts_the_url_parser_reads_otherwise_are_refused() {
        // Found by the validators fuzz target: whoami's (WHATWG) URL parser reads a host whose
        // last label is a number as an IPv4 address, so `0p.50` passed validation and then
        // failed in whoami, and `10.0x1` would have been contacted as 10.0.0.1.
        for bad in [
            "https://0p.50",
            "https://10.0x1",
            "https://1.2.3.4.5",
            "https://api.example.123",
            "https://0x7f.0.0.1",
        ] {
            let err = validate_api_url(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(err.contains("dotted-decimal IPv4"), "{bad:?}: {err}");
        }
        for good in [
            "https://api.example.io",
            "https://10.0.0.1",
            "https://a.b-c.d9",
        ] {
            assert_eq!(validate_api_url(good).as_deref(), Ok(good));
        }
    }

    #[test]
    fn seconds_parsing() {
        assert_eq!(parse_seconds("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds("007.250"), Some(Duration::from_millis(7250)));
        assert_eq!(parse_seconds("1.0000000019"), Some(Duration::new(1, 1)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        assert_eq!(
            parse_seconds("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in [
            "", ".", ".5", "5.", "-1", "+1", "1e3", "inf", "NaN", "30s", "1,5", "1.2.3", " 1",
            "0x10", "１",
        ] {
            assert_eq!(parse_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn filters_parse_or_explain() {
        assert!(parse_filter(DEFAULT_FILTER).is_ok());
        assert!(parse_filter("debug").is_ok());
        assert!(parse_filter("warn,sp_entrypoint=trace").is_ok());
        let err = parse_filter("sp_entrypoint=loud").unwrap_err();
        assert!(err.contains("not a log filter"), "{err}");
    }
}
