//! Reading what the API answered: the identity of a 200, the detail of an error body, the
//! redirect target; and keeping the token out of every one of them. Pure.

use serde::Deserialize;

/// The longest detail quoted from an error body.
pub(crate) const MAX_DETAIL: usize = 200;

/// The longest email kept from an answer (longer than any valid address).
const MAX_EMAIL: usize = 320;

/// The fields of a 200 answer that we read (extra fields are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct Me {
    user: Option<RawUser>,
}

#[derive(Deserialize)]
struct RawUser {
    id: Option<serde_json::Value>,
    email: Option<serde_json::Value>,
    name: Option<serde_json::Value>,
}

/// Whether a `Content-Type` is JSON (`application/json` or `*/*+json`).
pub(crate) fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.contains('/') && media.ends_with("+json"))
}

/// Parse a 200 body. The error is the reason, already redacted of `secret`.
pub(crate) fn parse_user(body: &[u8], secret: &str) -> Result<User, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("HTTP 200 with an empty body; expected JSON with user.email".to_owned());
    }
    let me: Me = serde_json::from_slice(body).map_err(|e| {
        let excerpt = sanitize(&String::from_utf8_lossy(body), secret, 60);
        redact(
            &format!("HTTP 200 body is not the expected JSON ({e}); it starts with: {excerpt}"),
            secret,
        )
    })?;
    let user = me.user.ok_or("HTTP 200 body has no \"user\" object")?;
    let email = match user.email {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s,
        _ => return Err("HTTP 200 body has no user.email".to_owned()),
    };
    let id = match user.id {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err("HTTP 200 body has no user.id".to_owned()),
    };
    let name = match user.name {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    // What the server sent ends up in log lines, error messages and the `check` report: one
    // line each, no control characters (no terminal escapes, no forged log lines), no token.
    // A real email has none of what this removes, so the email match is unaffected.
    Ok(User {
        id: sanitize(&id, secret, MAX_DETAIL),
        email: sanitize(&email, secret, MAX_EMAIL),
        name: name.map(|n| sanitize(&n, secret, MAX_DETAIL)),
    })
}

/// The detail of an error body: `error.message` of `{"error":{"code":..,"message":..}}` (or a
/// string `error` / top-level `message`), else a short sanitized prefix of a non-JSON body,
/// else empty. Never contains `secret`.
pub(crate) fn error_detail(body: &[u8], secret: &str) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let message = v
            .pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        return sanitize(message, secret, MAX_DETAIL);
    }
    sanitize(&String::from_utf8_lossy(body), secret, MAX_DETAIL)
}

/// One line of at most `max` characters: the secret replaced by `***` (before truncating, so
/// no prefix of it can survive), control characters dropped, whitespace runs collapsed.
pub(crate) fn sanitize(text: &str, secret: &str, max: usize) -> String {
    let clean = redact(text, secret);
    let mut out = String::new();
    let mut count = 0;
    for word in clean
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        let word: String = word.chars().filter(|c| !c.is_control()).collect();
        if !out.is_empty() {
            // The separator counts too: a word that starts at the limit is only an ellipsis.
            if count >= max {
                out.push('…');
                return out;
            }
            out.push(' ');
            count += 1;
        }
        for c in word.chars() {
            if count >= max {
                out.push('…');
                return out;
            }
            out.push(c);
            count += 1;
        }
    }
    out
}

/// `text` without the secret: the crate's one redaction ([`crate::redact`]), which withholds
/// any piece of 8 or more characters of it in any letter case, and anything shaped like a JWT.
pub(crate) fn redact(text: &str, secret: &str) -> String {
    crate::redact::redact_with(text, secret)
}

/// A redirect target for a message: scheme, host, port and path of `location` resolved
/// against `base`; never its query, fragment or user info.
pub(crate) fn location_for_message(
    base: &reqwest::Url,
    location: Option<&str>,
    secret: &str,
) -> String {
    let Some(location) = location else {
        return "(no Location header)".to_owned();
    };
    match base.join(location.trim()) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let host = u.host_str().unwrap_or("");
            let shown = format!("{}://{host}{port}{}", u.scheme(), u.path());
            sanitize(&shown, secret, MAX_DETAIL)
        }
        Err(_) => "(an unparseable Location)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str =
        "sp_live_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEyMyJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

    #[test]
    fn parses_user_ignoring_extra_fields() {
        let body = br#"{"user":{"id":"user_123","email":"user@example.com","name":"N","x":1},
            "customer":{"id":"cus_1","status":"active"},"tenants":[],"enterprise":null,"more":{}}"#;
        let u = parse_user(body, TOKEN).unwrap();
        assert_eq!(
            u,
            User {
                id: "user_123".into(),
                email: "user@example.com".into(),
                name: Some("N".into())
            }
        );
        let u = parse_user(br#"{"user":{"id":42,"email":"a@b.co","name":null}}"#, TOKEN).unwrap();
        assert_eq!((u.id.as_str(), u.name), ("42", None));
    }

    #[test]
    fn rejects_bodies_without_an_identity() {
        for (body, needle) in [
            (&b""[..], "empty body"),
            (b"  \n", "empty body"),
            (b"<html>hello</html>", "not the expected JSON"),
            (b"[1,2]", "not the expected JSON"),
            (br#"{"customer":{}}"#, "no \"user\""),
            (br#"{"user":{"id":"u"}}"#, "no user.email"),
            (br#"{"user":{"id":"u","email":7}}"#, "no user.email"),
            (br#"{"user":{"email":"a@b.co"}}"#, "no user.id"),
        ] {
            let err = parse_user(body, TOKEN).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        let err = parse_user(format!("oops {TOKEN}").as_bytes(), TOKEN).unwrap_err();
        assert!(!err.contains("eyJ"), "{err}");
    }

    #[test]
    fn identity_fields_are_single_lines_without_control_characters() {
        // Found by review (now a property of the whoami_answer fuzz target): a server (or
        // whatever answers at the URL) could put a line break or a terminal escape into
        // user.email, user.id or user.name, which reach the email-mismatch error, the success
        // log line and `check`.
        let body = br#"{"user":{"id":"u\n1","email":"evil@example.com\nINFO forged line\u001b[2J","name":"N\r\u0007ame"}}"#;
        let u = parse_user(body, TOKEN).unwrap();
        assert_eq!(u.id, "u 1");
        assert_eq!(u.email, "evil@example.com INFO forged line [2J");
        assert_eq!(u.name.as_deref(), Some("N ame"));
        let long = format!(
            r#"{{"user":{{"id":"u","email":"{}@example.com"}}}}"#,
            "a".repeat(240)
        );
        assert_eq!(parse_user(long.as_bytes(), TOKEN).unwrap().email.len(), 252);
    }

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "",
            "text/html",
            "text/plain; charset=utf-8",
            "application/jsonx",
            "+json",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    #[test]
    fn error_details() {
        let structured = br#"{"error":{"code":"unauthorized","message":"Token has expired"}}"#;
        assert_eq!(error_detail(structured, TOKEN), "Token has expired");
        assert_eq!(error_detail(br#"{"error":"nope"}"#, TOKEN), "nope");
        assert_eq!(error_detail(br#"{"other":1}"#, TOKEN), "");
        assert_eq!(error_detail(b"", TOKEN), "");
        assert_eq!(
            error_detail(b"  Unauthorized\r\n\x1b[31mred\t", TOKEN),
            "Unauthorized [31mred"
        );
        let long = "x".repeat(1000);
        assert_eq!(
            error_detail(long.as_bytes(), TOKEN).chars().count(),
            MAX_DETAIL + 1
        );
    }

    #[test]
    fn sanitize_stays_within_its_limit_at_a_word_boundary() {
        // Found by the whoami_answer fuzz target: a word ending exactly at the limit used to
        // be followed by the separator and then the ellipsis (max + 2 characters).
        assert_eq!(sanitize("abc def", TOKEN, 3), "abc…");
        assert_eq!(sanitize("abc def", TOKEN, 4), "abc …");
        assert_eq!(sanitize("abc", TOKEN, 3), "abc");
        assert_eq!(sanitize("a b c", TOKEN, 0), "…");
        for max in 0..12 {
            let line = sanitize("ab cd  ef\tgh ij", TOKEN, max);
            assert!(line.chars().count() <= max + 1, "{max}: {line:?}");
        }
    }

    #[test]
    fn the_token_never_survives() {
        let (header, rest) = TOKEN.split_once('.').unwrap();
        let jwt = TOKEN.trim_start_matches("sp_live_");
        let sig = TOKEN.rsplit('.').next().unwrap();
        for echoed in [TOKEN, jwt, sig, header, rest] {
            let json = format!(r#"{{"error":{{"code":"x","message":"bad token {echoed}"}}}}"#);
            let text = format!("bad token {echoed} here");
            // Also where truncation would cut it in half.
            let cut = format!("{}{echoed}", "y".repeat(MAX_DETAIL - 10));
            for body in [json, text, cut] {
                let d = error_detail(body.as_bytes(), TOKEN);
                assert!(!d.contains("eyJ") && !d.contains("c2ln"), "{d}");
            }
        }
        assert_eq!(redact("a sp_live_x b", ""), "a sp_live_x b");
    }

    #[test]
    fn redirect_targets_hide_queries() {
        let base = reqwest::Url::parse("https://api.example.com/api/v1/auth/me").unwrap();
        let shown = location_for_message(
            &base,
            Some("https://u:p@login.example.com:8443/sso?token=abc#f"),
            TOKEN,
        );
        assert_eq!(shown, "https://login.example.com:8443/sso");
        assert_eq!(
            location_for_message(&base, Some("/v2/me?x=1"), TOKEN),
            "https://api.example.com/v2/me"
        );
        assert_eq!(
            location_for_message(&base, None, TOKEN),
            "(no Location header)"
        );
        assert_eq!(
            location_for_message(&base, Some("http://[::1"), TOKEN),
            "(an unparseable Location)"
        );
    }
}
