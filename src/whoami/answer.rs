//! Reading what the API answered: the identity a 2xx proves, whether the SystemPrompt app
//! would parse the same answer (which decides `last_validated_at`), the detail of an error
//! body, the redirect target; and keeping the token out of every one of them. Pure.

/// The longest detail quoted from an error body.
pub(crate) const MAX_DETAIL: usize = 200;

/// The longest email kept from an answer (longer than any valid address).
const MAX_EMAIL: usize = 320;

/// The identity a 2xx answer proves (the first reading; extra fields are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    /// `user.id` as sent (a number is shown as its digits); may be empty.
    pub id: String,
    /// `user.email`.
    pub email: String,
    /// `user.name`, when it is a string.
    pub name: Option<String>,
}

/// Whether a `Content-Type` says JSON (`application/json` or `*/*+json`). Only used to word
/// the hint when a body is not JSON: the app ignores the `Content-Type`, and so do we.
fn says_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.contains('/') && media.ends_with("+json"))
}

/// The first reading of a 2xx body (`status`), the proof: a JSON object whose `user.email`
/// is a non-empty string. `user.id` may be empty, a number or absent; the `Content-Type` is
/// not required (the app ignores it), only used for the hint when the body is not JSON. The
/// error is the reason, already redacted of `secret`.
pub(crate) fn parse_user(
    status: u16,
    content_type: &str,
    body: &[u8],
    secret: &str,
) -> Result<User, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(format!(
            "HTTP {status} with an empty body; expected JSON with user.email"
        ));
    }
    let me: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        let excerpt = sanitize(&String::from_utf8_lossy(body), secret, 60);
        let hint = if says_json(content_type) {
            String::new()
        } else {
            let got = if content_type.is_empty() {
                "none".to_owned()
            } else {
                sanitize(content_type, secret, 60)
            };
            format!(
                " (Content-Type {got}: is {} the API, not a web page or a captive portal?)",
                crate::config::vars::API_URL.var
            )
        };
        redact(
            &format!(
                "HTTP {status} body is not the expected JSON ({e}); it starts with: {excerpt}{hint}"
            ),
            secret,
        )
    })?;
    if !me.is_object() {
        return Err(format!(
            "HTTP {status} body is not the expected JSON (not an object)"
        ));
    }
    let Some(user) = me.get("user").filter(|u| u.is_object()) else {
        return Err(format!("HTTP {status} body has no \"user\" object"));
    };
    let email = match user.get("email") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s,
        _ => return Err(format!("HTTP {status} body has no user.email")),
    };
    let id = match user.get("id") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let name = user.get("name").and_then(serde_json::Value::as_str);
    // What the server sent ends up in log lines, error messages and the `check` report: one
    // line each, no control characters (no terminal escapes, no forged log lines), no token.
    // A real email has none of what this removes, so the email match is unaffected.
    Ok(User {
        id: sanitize(&id, secret, MAX_DETAIL),
        email: sanitize(email, secret, MAX_EMAIL),
        name: name.map(|n| sanitize(n, secret, MAX_DETAIL)),
    })
}

/// The second reading of a 2xx body: why the SystemPrompt app would fail to parse it (the
/// field and the reason, redacted of `secret`), or `None` when it parses. Only then may
/// `last_validated_at` be written, since the app skips its own whoami for 900 s after it.
///
/// The shape is the app's, as written down in `cloud-api.md` ("The whoami answer, as the app
/// parses it"); unknown fields are ignored, as there. The messages follow serde's wording (the
/// app deserialises with serde). One difference: a key given twice counts once, with its last
/// value (a typed serde struct refuses it); no server sends that.
pub(crate) fn app_parse_error(body: &[u8], secret: &str) -> Option<String> {
    let reason = match serde_json::from_slice::<Value>(body) {
        Ok(me) => app_shape(&me).err()?,
        Err(e) => e.to_string(),
    };
    Some(sanitize(&reason, secret, MAX_DETAIL))
}

use serde_json::{Map, Value};

/// serde's name for the type of `v`, as in its "invalid type" messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "floating point",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        Value::Object(_) => "map",
    }
}

/// `at.name` (or `name` at the top).
fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

/// `v` as an object, or the error at `at`.
fn object<'v>(v: &'v Value, at: &str) -> Result<&'v Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{at}: invalid type: {}, expected a struct", kind(v)))
}

/// A field that is optional (absent or `null` is `None`), as serde reads an `Option`.
fn optional<'v>(o: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    o.get(name).filter(|v| !v.is_null())
}

/// A field that is required (absent is an error; `null` fails its type check).
fn required<'v>(o: &'v Map<String, Value>, at: &str, name: &str) -> Result<&'v Value, String> {
    o.get(name)
        .ok_or_else(|| format!("{at}: missing field `{name}`"))
}

/// A string field, required or optional.
fn string(o: &Map<String, Value>, at: &str, name: &str, needed: bool) -> Result<(), String> {
    let v = if needed {
        Some(required(o, at, name)?)
    } else {
        optional(o, name)
    };
    match v {
        Some(v) if !v.is_string() => Err(format!(
            "{}: invalid type: {}, expected a string",
            join(at, name),
            kind(v)
        )),
        _ => Ok(()),
    }
}

/// A required integer field (a 64-bit signed integer, as the app's plan sizes).
fn integer(o: &Map<String, Value>, at: &str, name: &str) -> Result<(), String> {
    let v = required(o, at, name)?;
    if v.as_i64().is_some() {
        Ok(())
    } else {
        Err(format!(
            "{}: invalid type: {}, expected i64",
            join(at, name),
            kind(v)
        ))
    }
}

/// An optional field that, when present, is one of `variants`.
fn variant(o: &Map<String, Value>, at: &str, name: &str, variants: &[&str]) -> Result<(), String> {
    let Some(v) = optional(o, name) else {
        return Ok(());
    };
    let expected = || {
        let names: Vec<String> = variants.iter().map(|n| format!("`{n}`")).collect();
        names.join(", ")
    };
    match v.as_str() {
        Some(s) if variants.contains(&s) => Ok(()),
        Some(s) => Err(format!(
            "{}: unknown variant `{s}`, expected one of {}",
            join(at, name),
            expected()
        )),
        None => Err(format!(
            "{}: invalid type: {}, expected one of {}",
            join(at, name),
            kind(v),
            expected()
        )),
    }
}

/// The whoami answer as the SystemPrompt app deserialises it (`cloud-api.md`): `user` with
/// string `id` and `email` and an optional `name`; optional `customer {id, status?}`;
/// `tenants` absent (an empty list) or a list, never `null`, of `{id, name, database_url,
/// subscription_status?, status?, plan?}`; optional `enterprise {id, name, domain, plan?}`.
fn app_shape(me: &Value) -> Result<(), String> {
    let me = me
        .as_object()
        .ok_or_else(|| format!("invalid type: {}, expected a struct", kind(me)))?;
    let user = object(
        required(me, "", "user").map_err(|_| "missing field `user`".to_owned())?,
        "user",
    )?;
    string(user, "user", "id", true)?;
    string(user, "user", "email", true)?;
    string(user, "user", "name", false)?;
    if let Some(c) = optional(me, "customer") {
        let c = object(c, "customer")?;
        string(c, "customer", "id", true)?;
        string(c, "customer", "status", false)?;
    }
    match me.get("tenants") {
        None => {}
        Some(Value::Array(tenants)) => {
            for (i, t) in tenants.iter().enumerate() {
                let at = format!("tenants[{i}]");
                let t = object(t, &at)?;
                for name in ["id", "name", "database_url"] {
                    string(t, &at, name, true)?;
                }
                let subscription = ["active", "trialing", "past_due", "paused", "canceled"];
                variant(t, &at, "subscription_status", &subscription)?;
                variant(
                    t,
                    &at,
                    "status",
                    &["pending", "active", "suspended", "deleted"],
                )?;
                if let Some(plan) = optional(t, "plan") {
                    let at = format!("{at}.plan");
                    let plan = object(plan, &at)?;
                    string(plan, &at, "id", false)?;
                    string(plan, &at, "name", true)?;
                    integer(plan, &at, "memory_mb")?;
                    integer(plan, &at, "volume_gb")?;
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "tenants: invalid type: {}, expected a sequence",
                kind(other)
            ));
        }
    }
    if let Some(e) = optional(me, "enterprise") {
        let e = object(e, "enterprise")?;
        for name in ["id", "name", "domain"] {
            string(e, "enterprise", name, true)?;
        }
        string(e, "enterprise", "plan", false)?;
    }
    Ok(())
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
        let u = parse(body).unwrap();
        assert_eq!(
            u,
            User {
                id: "user_123".into(),
                email: "user@example.com".into(),
                name: Some("N".into())
            }
        );
        let u = parse(br#"{"user":{"id":42,"email":"a@b.co","name":null}}"#).unwrap();
        assert_eq!((u.id.as_str(), u.name), ("42", None));
    }

    fn parse(body: &[u8]) -> Result<User, String> {
        parse_user(200, "application/json", body, TOKEN)
    }

    #[test]
    fn the_proof_needs_only_user_email() {
        // Issue 10: an empty or missing user.id, any 2xx status and any Content-Type prove
        // the token as well as a 200 `application/json` does (the app accepts them too).
        for body in [
            &br#"{"user":{"id":"","email":"a@b.co"}}"#[..],
            br#"{"user":{"email":"a@b.co"}}"#,
            br#"{"user":{"id":null,"email":"a@b.co"}}"#,
        ] {
            let u = parse(body).unwrap();
            assert_eq!((u.id.as_str(), u.email.as_str()), ("", "a@b.co"));
        }
        for (status, content_type) in [(201, ""), (203, "text/plain"), (299, "text/html")] {
            let u = parse_user(
                status,
                content_type,
                br#"{"user":{"id":"u","email":"a@b.co"}}"#,
                TOKEN,
            )
            .unwrap();
            assert_eq!(u.email, "a@b.co");
        }
    }

    #[test]
    fn a_body_that_is_not_json_gets_a_hint_when_the_content_type_is_not_json() {
        let err = parse_user(
            200,
            "text/html; charset=utf-8",
            b"<html>login</html>",
            TOKEN,
        )
        .unwrap_err();
        assert!(
            err.contains("not the expected JSON")
                && err.contains(
                    "Content-Type text/html; charset=utf-8: is SYSTEMPROMPT_API_URL the API"
                ),
            "{err}"
        );
        let err = parse_user(202, "", b"<html>", TOKEN).unwrap_err();
        assert!(
            err.starts_with("HTTP 202 body") && err.contains("Content-Type none"),
            "{err}"
        );
        let err = parse_user(200, "application/problem+json", b"{", TOKEN).unwrap_err();
        assert!(!err.contains("Content-Type"), "{err}");
    }

    const APP_OK: &str = r#"{"user":{"id":"user_123","email":"user@example.com","name":"N"},
        "customer":{"id":"cus_1","status":"active"},
        "tenants":[{"id":"t1","name":"T","database_url":"postgres://x","subscription_status":"past_due",
            "status":"suspended","plan":{"id":null,"name":"p","memory_mb":512,"volume_gb":1},"extra":[1]}],
        "enterprise":{"id":"e","name":"E","domain":"example.com","plan":"gold"},"more":{}}"#;

    #[test]
    fn the_app_shape_accepts_what_the_app_parses() {
        assert_eq!(app_parse_error(APP_OK.as_bytes(), TOKEN), None);
        for body in [
            r#"{"user":{"id":"","email":"a@b.co"}}"#,
            r#"{"user":{"id":"u","email":"a@b.co","name":null},"customer":null,"enterprise":null}"#,
            r#"{"user":{"id":"u","email":"a@b.co"},"tenants":[]}"#,
            r#"{"user":{"id":"u","email":"a@b.co"},"customer":{"id":"c"}}"#,
            r#"{"user":{"id":"u","email":"a@b.co"},"tenants":[{"id":"t","name":"n","database_url":""}]}"#,
        ] {
            assert_eq!(app_parse_error(body.as_bytes(), TOKEN), None, "{body}");
        }
    }

    #[test]
    fn the_app_shape_names_the_field_it_would_reject() {
        let user = r#""user":{"id":"u","email":"a@b.co"}"#;
        let tenant = r#""id":"t","name":"n","database_url":"d""#;
        for (body, field) in [
            (
                format!("{{{user},\"tenants\":null}}"),
                "tenants: invalid type: null",
            ),
            (
                r#"{"user":{"id":7,"email":"a@b.co"}}"#.to_owned(),
                "user.id: invalid type: integer",
            ),
            (
                r#"{"user":{"email":"a@b.co"}}"#.to_owned(),
                "user: missing field `id`",
            ),
            (
                format!("{{{user},\"tenants\":[{{\"id\":\"t\",\"name\":\"n\"}}]}}"),
                "tenants[0]: missing field `database_url`",
            ),
            (
                format!("{{{user},\"tenants\":[{{{tenant},\"status\":\"archived\"}}]}}"),
                "tenants[0].status: unknown variant `archived`",
            ),
            (
                format!("{{{user},\"tenants\":[{{{tenant},\"subscription_status\":\"Active\"}}]}}"),
                "tenants[0].subscription_status: unknown variant `Active`",
            ),
            (
                format!(
                    "{{{user},\"tenants\":[{{{tenant},\"plan\":{{\"name\":\"p\",\"memory_mb\":1.5,\"volume_gb\":1}}}}]}}"
                ),
                "tenants[0].plan.memory_mb: invalid type: floating point",
            ),
            (
                format!("{{{user},\"customer\":{{\"status\":\"x\"}}}}"),
                "customer: missing field `id`",
            ),
            (
                format!("{{{user},\"enterprise\":{{\"id\":\"e\",\"name\":\"E\"}}}}"),
                "enterprise: missing field `domain`",
            ),
            (r#"{"tenants":[]}"#.to_owned(), "missing field `user`"),
            ("[1]".to_owned(), "invalid type: sequence"),
            (
                format!("{{{user},\"tenants\":[{{{tenant},\"plan\":7}}]}}"),
                "tenants[0].plan: invalid type: integer, expected a struct",
            ),
        ] {
            let err = app_parse_error(body.as_bytes(), TOKEN);
            assert!(
                err.as_deref().is_some_and(|e| e.starts_with(field)),
                "{body}: {err:?}"
            );
        }
    }

    #[test]
    fn the_app_shape_error_never_carries_the_token_or_a_line_break() {
        let body = format!(
            r#"{{"user":{{"id":"u","email":"a@b.co"}},"tenants":[{{"id":"t","name":"n","database_url":"d","status":"{TOKEN}\n\u001b[2J"}}]}}"#
        );
        let err = app_parse_error(body.as_bytes(), TOKEN).unwrap();
        assert!(
            !err.contains("eyJ") && !err.contains('\n') && !err.contains('\u{1b}'),
            "{err}"
        );
        assert!(
            err.starts_with("tenants[0].status: unknown variant"),
            "{err}"
        );
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
            (br#"{"user":{"id":"u","email":" "}}"#, "no user.email"),
            (br#"{"user":"a@b.co"}"#, "no \"user\""),
        ] {
            let err = parse(body).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        let err = parse(format!("oops {TOKEN}").as_bytes()).unwrap_err();
        assert!(!err.contains("eyJ"), "{err}");
    }

    #[test]
    fn identity_fields_are_single_lines_without_control_characters() {
        // Found by review (now a property of the whoami_answer fuzz target): a server (or
        // whatever answers at the URL) could put a line break or a terminal escape into
        // user.email, user.id or user.name, which reach the email-mismatch error, the success
        // log line and `check`.
        let body = br#"{"user":{"id":"u\n1","email":"evil@example.com\nINFO forged line\u001b[2J","name":"N\r\u0007ame"}}"#;
        let u = parse(body).unwrap();
        assert_eq!(u.id, "u 1");
        assert_eq!(u.email, "evil@example.com INFO forged line [2J");
        assert_eq!(u.name.as_deref(), Some("N ame"));
        let long = format!(
            r#"{{"user":{{"id":"u","email":"{}@example.com"}}}}"#,
            "a".repeat(240)
        );
        assert_eq!(parse(long.as_bytes()).unwrap().email.len(), 252);
    }

    #[test]
    fn content_types_that_say_json() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
        ] {
            assert!(says_json(ok), "{ok}");
        }
        for bad in [
            "",
            "text/html",
            "text/plain; charset=utf-8",
            "application/jsonx",
            "+json",
        ] {
            assert!(!says_json(bad), "{bad}");
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
