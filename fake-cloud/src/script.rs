//! Scripted behaviour: the [`Step`] the fake takes for one whoami request, and the parser
//! for the binary's `--script` comma list.

use std::fmt;
use std::time::Duration;

/// What the fake does with one `GET /api/v1/auth/me` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Step {
    /// The real auth logic: 200 with the user for a valid token, 401 otherwise.
    #[default]
    Ok,
    /// Answer with an arbitrary status.
    Status {
        /// The status code.
        code: u16,
        /// A `Retry-After` header value sent verbatim (`"2"` or an HTTP date).
        retry_after: Option<String>,
        /// The body; defaults to a JSON error object naming the status.
        body: Option<String>,
        /// The `Content-Type`; defaults to `application/json`; an empty string sends none.
        content_type: Option<String>,
    },
    /// Wait this long, then behave as [`Step::Ok`].
    Delay(Duration),
    /// Read the request and never answer; keep the socket open until the client goes away.
    Hang,
    /// Answer with a redirect.
    Redirect {
        /// The status code (301, 302, 303, 307, 308...).
        code: u16,
        /// The `Location` header value.
        location: String,
    },
    /// 200 with `Content-Length: bytes` and that many filler bytes, sent fast.
    HugeBody {
        /// How many body bytes to send.
        bytes: u64,
    },
    /// 200 with chunked encoding (no length) and that many filler bytes.
    HugeChunked {
        /// How many body bytes to send.
        bytes: u64,
    },
    /// 200 `application/json` with the truncated body `{"user": `.
    InvalidJson,
    /// 200 `application/json` with `Content-Length: 0`.
    EmptyBody,
    /// 200 `text/html` with an HTML body.
    WrongContentType,
    /// Headers with `Content-Length: 500`, 20 body bytes, then a TCP reset (`SO_LINGER` 0).
    ResetMidBody,
    /// The real auth response, its body sent one byte per `interval`.
    Trickle {
        /// The pause before each body byte.
        interval: Duration,
    },
    /// The real auth response as `HTTP/1.0` without `Content-Length`, then close.
    Http10Close,
    /// The real auth response with `Transfer-Encoding: chunked`, in several chunks.
    Chunked,
    /// Read the request and close the connection without answering.
    Close,
}

impl Step {
    /// A plain status answer with no `Retry-After` and the default body.
    pub fn status(code: u16) -> Step {
        Step::Status {
            code,
            retry_after: None,
            body: None,
            content_type: None,
        }
    }

    /// An answer with this status, `Content-Type` (`""`: none) and body, whatever the token:
    /// for scripting any whoami answer, e.g. `Step::respond(200, "text/plain", "{...}")`.
    pub fn respond(code: u16, content_type: &str, body: impl Into<String>) -> Step {
        Step::Status {
            code,
            retry_after: None,
            body: Some(body.into()),
            content_type: Some(content_type.to_owned()),
        }
    }

    /// A status answer with a `Retry-After` value.
    pub fn status_retry_after(code: u16, retry_after: impl Into<String>) -> Step {
        Step::Status {
            code,
            retry_after: Some(retry_after.into()),
            body: None,
            content_type: None,
        }
    }

    /// The step's short name, for log lines.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Ok => "ok",
            Step::Status { .. } => "status",
            Step::Delay(_) => "delay",
            Step::Hang => "hang",
            Step::Redirect { .. } => "redirect",
            Step::HugeBody { .. } => "huge",
            Step::HugeChunked { .. } => "huge-chunked",
            Step::InvalidJson => "invalid-json",
            Step::EmptyBody => "empty",
            Step::WrongContentType => "wrong-type",
            Step::ResetMidBody => "reset",
            Step::Trickle { .. } => "trickle",
            Step::Http10Close => "http10",
            Step::Chunked => "chunked",
            Step::Close => "close",
        }
    }
}

/// A `--script` item that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The offending item.
    pub item: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad script step {:?}: {}", self.item, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Parse a comma-separated script such as `503,429:retry-after=2,ok`.
///
/// A comma right after `=Mon` .. `=Sun` and followed by a space belongs to an HTTP date, so
/// `503:retry-after=Wed, 21 Oct 2015 07:28:00 GMT,ok` works. Empty input gives an empty script.
///
/// Items (case-insensitive names):
/// `ok`; `CODE[:retry-after=V][:type=CT][:body=TEXT]` (e.g. `503`, `429:retry-after=2`);
/// `delay=DUR`; `hang`; `redirect=[CODE:]URL` (default 302); `huge=SIZE`; `huge-chunked=SIZE`;
/// `invalid-json`; `empty`; `wrong-type`; `reset`; `trickle=DUR`; `http10`; `chunked`; `close`.
/// `DUR` is `500ms`, `2s`, `1m` or bare seconds; `SIZE` is bytes with an optional `K`/`M`/`G`
/// (powers of 1024) suffix.
pub fn parse_script(text: &str) -> Result<Vec<Step>, ParseError> {
    let mut items: Vec<String> = Vec::new();
    for piece in text.split(',') {
        match items.last_mut() {
            Some(last) if piece.starts_with(' ') && ends_with_weekday(last) => {
                last.push(',');
                last.push_str(piece);
            }
            _ => items.push(piece.to_owned()),
        }
    }
    items
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .map(parse_step)
        .collect()
}

/// Whether `item` ends with `=Mon` .. `=Sun`: the start of an HTTP date, whose comma is
/// not an item separator.
fn ends_with_weekday(item: &str) -> bool {
    let lower = item.trim_end().to_ascii_lowercase();
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .any(|d| lower.ends_with(&format!("={d}")))
}

/// Parse one script item (see [`parse_script`]).
pub fn parse_step<'a>(item: &'a str) -> Result<Step, ParseError> {
    let err = |reason: &str| ParseError {
        item: item.to_owned(),
        reason: reason.to_owned(),
    };
    let (name, arg) = match item.split_once('=') {
        Some((n, a)) if !n.contains(':') => (n.trim().to_ascii_lowercase(), Some(a.trim())),
        _ => (item.trim().to_ascii_lowercase(), None),
    };
    let need = |a: Option<&'a str>| a.ok_or_else(|| err("needs a value after `=`"));
    let none = |a: Option<&str>, s: Step| match a {
        None => Ok(s),
        Some(_) => Err(err("takes no value")),
    };
    match name.as_str() {
        "ok" => none(arg, Step::Ok),
        "hang" => none(arg, Step::Hang),
        "invalid-json" => none(arg, Step::InvalidJson),
        "empty" => none(arg, Step::EmptyBody),
        "wrong-type" => none(arg, Step::WrongContentType),
        "reset" => none(arg, Step::ResetMidBody),
        "http10" => none(arg, Step::Http10Close),
        "chunked" => none(arg, Step::Chunked),
        "close" => none(arg, Step::Close),
        "delay" => Ok(Step::Delay(
            parse_duration(need(arg)?).ok_or_else(|| err("bad duration"))?,
        )),
        "trickle" => Ok(Step::Trickle {
            interval: parse_duration(need(arg)?).ok_or_else(|| err("bad duration"))?,
        }),
        "huge" => Ok(Step::HugeBody {
            bytes: parse_size(need(arg)?).ok_or_else(|| err("bad size"))?,
        }),
        "huge-chunked" => Ok(Step::HugeChunked {
            bytes: parse_size(need(arg)?).ok_or_else(|| err("bad size"))?,
        }),
        "redirect" => {
            let a = need(arg)?;
            let (code, location) = match a.split_once(':') {
                Some((c, rest)) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()) => {
                    (parse_code(c).ok_or_else(|| err("bad status code"))?, rest)
                }
                _ => (302, a),
            };
            if location.is_empty() {
                return Err(err("needs a location"));
            }
            Ok(Step::Redirect {
                code,
                location: location.to_owned(),
            })
        }
        _ => parse_status(item.trim()).ok_or_else(|| err("unknown step")),
    }
}

/// `CODE[:key=value]...` with keys `retry-after`, `type`, `body`; a `:` not followed by a
/// known key belongs to the previous value (HTTP dates contain colons).
fn parse_status(item: &str) -> Option<Step> {
    const KEYS: [&str; 3] = ["retry-after=", "type=", "body="];
    let mut segments = item.split(':');
    let code = parse_code(segments.next()?)?;
    let mut opts: Vec<(usize, String)> = Vec::new();
    for seg in segments {
        let lower = seg.trim_start().to_ascii_lowercase();
        if let Some(k) = KEYS.iter().position(|k| lower.starts_with(k)) {
            let value = &seg.trim_start()[KEYS[k].len()..];
            opts.push((k, value.to_owned()));
        } else {
            let last = opts.last_mut()?;
            last.1.push(':');
            last.1.push_str(seg);
        }
    }
    let mut step = Step::status(code);
    if let Step::Status {
        retry_after,
        body,
        content_type,
        ..
    } = &mut step
    {
        for (k, v) in opts {
            match k {
                0 => *retry_after = Some(v),
                1 => *content_type = Some(v),
                _ => *body = Some(v),
            }
        }
    }
    Some(step)
}

fn parse_code(text: &str) -> Option<u16> {
    let code: u16 = text.trim().parse().ok()?;
    (100..=999).contains(&code).then_some(code)
}

/// Parse `500ms`, `2s`, `1.5s`, `1m` or bare seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (num, unit) = split_number(text);
    let value: f64 = num.parse().ok()?;
    let secs = match unit.to_ascii_lowercase().as_str() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// Parse a byte count with an optional `K`/`M`/`G` suffix (powers of 1024, optional `B`/`iB`).
pub fn parse_size(text: &str) -> Option<u64> {
    let (num, unit) = split_number(text.trim());
    let value: u64 = num.parse().ok()?;
    let unit = unit.to_ascii_lowercase();
    let mult: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(mult)
}

fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_step() {
        let steps = parse_script(
            "503,503,ok,429:retry-after=2,hang,delay=2s,redirect=302:http://127.0.0.1:9/x,\
             huge=300M,invalid-json,reset,trickle=1s,http10,chunked,empty,wrong-type,close,\
             huge-chunked=1k,redirect=https://example.com/",
        )
        .unwrap();
        assert_eq!(
            steps,
            vec![
                Step::status(503),
                Step::status(503),
                Step::Ok,
                Step::status_retry_after(429, "2"),
                Step::Hang,
                Step::Delay(Duration::from_secs(2)),
                Step::Redirect {
                    code: 302,
                    location: "http://127.0.0.1:9/x".into()
                },
                Step::HugeBody {
                    bytes: 300 * 1024 * 1024
                },
                Step::InvalidJson,
                Step::ResetMidBody,
                Step::Trickle {
                    interval: Duration::from_secs(1)
                },
                Step::Http10Close,
                Step::Chunked,
                Step::EmptyBody,
                Step::WrongContentType,
                Step::Close,
                Step::HugeChunked { bytes: 1024 },
                Step::Redirect {
                    code: 302,
                    location: "https://example.com/".into()
                },
            ]
        );
    }

    #[test]
    fn status_options_and_http_dates() {
        let steps = parse_script(
            "503:retry-after=Wed, 21 Oct 2015 07:28:00 GMT,OK, 500:type=text/plain:body=oops: bad",
        )
        .unwrap();
        assert_eq!(
            steps,
            vec![
                Step::status_retry_after(503, "Wed, 21 Oct 2015 07:28:00 GMT"),
                Step::Ok,
                Step::Status {
                    code: 500,
                    retry_after: None,
                    body: Some("oops: bad".into()),
                    content_type: Some("text/plain".into()),
                },
            ]
        );
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_mins(1)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_size("10"), Some(10));
        assert_eq!(parse_size("2K"), Some(2048));
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size("1GB"), Some(1 << 30));
        assert_eq!(parse_size("1T"), None);
    }

    #[test]
    fn empty_and_errors() {
        assert_eq!(parse_script("").unwrap(), vec![]);
        assert_eq!(parse_script(" , ").unwrap(), vec![]);
        for bad in [
            "nope",
            "99",
            "1000",
            "delay",
            "delay=x",
            "hang=1",
            "huge=big",
            "redirect=",
            "503:what=1",
        ] {
            let e = parse_script(bad).unwrap_err();
            assert_eq!(e.item, bad);
            assert!(!e.to_string().is_empty());
        }
    }
}
