//! An independent check of what the SystemPrompt app accepts, written from the facts in
//! `cloud-api.md` ("How the SystemPrompt app reads what we hand it"), not from the
//! entrypoint's code: its own strict base64url decoder, `serde_json::Value` walks, and the
//! `time` crate's RFC 3339 parser. The integration and property tests judge the binary's
//! output with it.
#![allow(dead_code, clippy::missing_panics_doc)]

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The value of one character of the URL-safe base64 alphabet (RFC 4648 §5).
fn sextet(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decode as the app does: URL-safe alphabet, no padding (a `=` anywhere is an error), and
/// the bits left over in the last character must be zero (canonical).
pub fn strict_base64url(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in bytes {
        acc = (acc << 6) | sextet(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
        acc &= (1 << bits) - 1;
    }
    // 2 or 4 bits left over: they must all be zero.
    (acc == 0).then_some(out)
}

/// The token's `exp` as the app reads it: three dot-separated parts (a prefix such as
/// `sp_live_` only ever sits in the first), the payload decoded strictly, `exp` a 64-bit
/// signed integer. `None`: the app treats the token as expired.
pub fn app_exp(token: &str) -> Option<i64> {
    let parts: Vec<&str> = token.split('.').collect();
    let [_, payload, _] = parts[..] else {
        return None;
    };
    let claims: Value = serde_json::from_slice(&strict_base64url(payload)?).ok()?;
    claims.as_object()?.get("exp")?.as_i64()
}

/// Whether the app would refuse the token at `now`: an `exp` it cannot read, or `exp < now`.
pub fn app_refuses_token(token: &str, now: i64) -> bool {
    app_exp(token).is_none_or(|exp| exp < now)
}

/// The email rule the app applies to `user_email` when it loads the file (cloud-api.md,
/// "Email rules used upstream").
pub fn app_accepts_email(email: &str) -> bool {
    let mut halves = email.split('@');
    let (Some(local), Some(domain), None) = (halves.next(), halves.next(), halves.next()) else {
        return false;
    };
    let dots_ok =
        |s: &str| !s.is_empty() && !s.starts_with('.') && !s.ends_with('.') && !s.contains("..");
    dots_ok(local)
        && dots_ok(domain)
        && domain.contains('.')
        && domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.chars().count() >= 2)
        && !email.contains(['\n', '\r'])
}

fn is_str(v: Option<&Value>) -> bool {
    v.is_some_and(Value::is_string)
}

/// Absent or `null` (an optional field), or `pred` holds.
fn optional(v: Option<&Value>, pred: impl Fn(&Value) -> bool) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(v) => pred(v),
    }
}

fn one_of(allowed: &'static [&'static str]) -> impl Fn(&Value) -> bool {
    move |v| v.as_str().is_some_and(|s| allowed.contains(&s))
}

/// Whether the app parses a whoami answer (cloud-api.md, "The whoami answer, as the app
/// parses it"): any 2xx, JSON whatever the `Content-Type`, `user` with string `id` and
/// `email`, and the optional `customer`, `tenants` (never `null`) and `enterprise` shapes.
pub fn app_parses_answer(status: u16, body: &str) -> bool {
    if !(200..300).contains(&status) {
        return false;
    }
    let Ok(Value::Object(me)) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let user_ok = me.get("user").and_then(Value::as_object).is_some_and(|u| {
        is_str(u.get("id")) && is_str(u.get("email")) && optional(u.get("name"), Value::is_string)
    });
    let customer_ok = optional(me.get("customer"), |c| {
        c.as_object()
            .is_some_and(|c| is_str(c.get("id")) && optional(c.get("status"), Value::is_string))
    });
    let plan_ok = |p: &Value| {
        p.as_object().is_some_and(|p| {
            optional(p.get("id"), Value::is_string)
                && is_str(p.get("name"))
                && p.get("memory_mb").and_then(Value::as_i64).is_some()
                && p.get("volume_gb").and_then(Value::as_i64).is_some()
        })
    };
    let tenant_ok = |t: &Value| {
        t.as_object().is_some_and(|t| {
            is_str(t.get("id"))
                && is_str(t.get("name"))
                && is_str(t.get("database_url"))
                && optional(
                    t.get("subscription_status"),
                    one_of(&["active", "trialing", "past_due", "paused", "canceled"]),
                )
                && optional(
                    t.get("status"),
                    one_of(&["pending", "active", "suspended", "deleted"]),
                )
                && optional(t.get("plan"), plan_ok)
        })
    };
    // Missing is an empty list; `null` is a parse error.
    let all_tenants_ok = match me.get("tenants") {
        None => true,
        Some(Value::Array(ts)) => ts.iter().all(tenant_ok),
        Some(_) => false,
    };
    let enterprise_ok = optional(me.get("enterprise"), |e| {
        e.as_object().is_some_and(|e| {
            is_str(e.get("id"))
                && is_str(e.get("name"))
                && is_str(e.get("domain"))
                && optional(e.get("plan"), Value::is_string)
        })
    });
    user_ok && customer_ok && all_tenants_ok && enterprise_ok
}

/// An RFC 3339 time as seconds since the epoch, read by the `time` crate (four-digit years
/// only, as the app's parser).
pub fn rfc3339(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// What the test knows about the run that wrote a credentials file.
pub struct Expect<'a> {
    /// The clock just before the binary started.
    pub before: i64,
    /// The clock just after it ended.
    pub after: i64,
    /// The email the app's own login would write: the server's `user.email` (or the
    /// configured one when whoami was bypassed).
    pub email: &'a str,
    /// Whether the app would have accepted the whoami answer (then `last_validated_at` may be
    /// set, and must be).
    pub answer_accepted: bool,
}

/// Whether the app would load `text` as its credentials file and trust it as the entrypoint
/// meant: `Err` says what it would refuse or what differs.
pub fn check_credentials_file(text: &str, expect: &Expect<'_>) -> Result<(), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let field = |name: &str| v.get(name).and_then(Value::as_str);
    let token = field("api_token").ok_or("api_token is not a string")?;
    let url = field("api_url").ok_or("api_url is not a string")?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("api_url {url:?} is not a URL"));
    }
    // The token: the app reads `exp` and refuses the file when it cannot, or when expired.
    match app_exp(token) {
        None => return Err("the app cannot read the token's exp (treated as expired)".into()),
        Some(exp) if exp < expect.before => return Err(format!("the token expired at {exp}")),
        Some(_) => {}
    }
    // authenticated_at: RFC 3339 (four-digit year), a real past instant.
    let at = field("authenticated_at").ok_or("authenticated_at is not a string")?;
    let at_secs = rfc3339(at).ok_or_else(|| format!("authenticated_at {at:?} is not RFC 3339"))?;
    if at_secs < 0 || at_secs > expect.after {
        return Err(format!("authenticated_at {at} is not a past instant"));
    }
    // user_email: valid by the app's rule, and the server's value.
    let email = field("user_email").ok_or("user_email is not a string")?;
    if !app_accepts_email(email) {
        return Err(format!("the app refuses user_email {email:?}"));
    }
    if email != expect.email {
        return Err(format!("user_email {email:?}, expected {:?}", expect.email));
    }
    // last_validated_at: absent/null, or RFC 3339 from this run; set exactly when the app
    // would have accepted the answer.
    match v.get("last_validated_at") {
        None | Some(Value::Null) if !expect.answer_accepted => Ok(()),
        None | Some(Value::Null) => {
            Err("last_validated_at is null after an answer the app accepts".into())
        }
        Some(_) if !expect.answer_accepted => Err(
            "last_validated_at is set, but the app would not have parsed the whoami answer".into(),
        ),
        Some(Value::String(s)) => match rfc3339(s) {
            Some(t) if (expect.before..=expect.after).contains(&t) => Ok(()),
            _ => Err(format!("last_validated_at {s:?} is not a time of this run")),
        },
        Some(other) => Err(format!("last_validated_at is {other}")),
    }
}

#[cfg(test)]
mod self_check {
    use super::*;

    #[test]
    fn the_strict_decoder_refuses_padding_and_leftover_bits() {
        assert_eq!(strict_base64url("Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(strict_base64url("Zg").as_deref(), Some(&b"f"[..]));
        assert_eq!(strict_base64url("Zm8").as_deref(), Some(&b"fo"[..]));
        for bad in ["Zg==", "Zm8=", "Zh", "Zm9", "Z", "Zm+v", "Zm/v"] {
            assert_eq!(strict_base64url(bad), None, "{bad}");
        }
    }
}
