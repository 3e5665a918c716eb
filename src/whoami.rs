//! The one HTTPS call: `GET {api_url}/api/v1/auth/me`, with TLS roots that work in a scratch
//! image, no redirects, a capped body, one time budget and a retry policy for transient failures.
//!
//! - TLS: rustls + ring, the embedded webpki roots plus `SSL_CERT_FILE` (`tls`); never the
//!   platform verifier, never `/etc/ssl`. A loopback `http://` URL builds no roots at all.
//! - Proxies (`proxy`): `https_proxy` / `HTTPS_PROXY` / `all_proxy` / `ALL_PROXY` and
//!   `NO_PROXY` with curl's rules, decided by us for the one URL; never for a loopback URL.
//! - `localhost` is loopback: it is never looked up (no `/etc/hosts`, no DNS), it connects to
//!   127.0.0.1, then ::1.
//! - Retries (`policy`): connect errors, timeouts, a body cut short, 408, 429 and 5xx except
//!   501/505, with full-jitter backoff or `Retry-After` plus a spread; every retry is logged.
//!   401/403 are [`Error::Rejected`]; a redirect, another status, a bad body, an answer that
//!   is not valid HTTP/1.1 (bad status line or version, conflicting or oversized headers, a
//!   bad chunk) or a proxy's 407 is [`Error::Protocol`], at once; running out of budget is
//!   [`Error::Unavailable`].
//! - Two readings of a 2xx answer (`answer`): the proof (JSON with `user.email`, any
//!   `Content-Type`), and whether the SystemPrompt app would parse it in full
//!   ([`Identity::app_parse_error`]), which decides whether `last_validated_at` is written.
//! - The token travels only in a sensitive `Authorization` header and is redacted from every
//!   message built from what the server sent (`answer::redact`).

mod answer;
mod policy;
mod proxy;
mod tls;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderValue};
use reqwest::{Client, Response, StatusCode, Url};

use crate::config::vars;
use crate::error::{ConfigProblem, Error};
use crate::platform::Platform;
use crate::token::Secret;
use policy::{Jitter, Tuning, Wait};

/// Entry points into the pure parsing of API answers, for the fuzz targets in `fuzz/`. Not
/// part of the API: do not use.
#[doc(hidden)]
pub mod fuzzing {
    use std::time::Duration;

    /// `(id, email, name)` of a 2xx body sent with `content_type`, or the (redacted) reason it
    /// is refused.
    pub fn parse_user(
        content_type: &str,
        body: &[u8],
        secret: &str,
    ) -> Result<(String, String, Option<String>), String> {
        super::answer::parse_user(200, content_type, body, secret).map(|u| (u.id, u.email, u.name))
    }
    /// Why the SystemPrompt app would not parse this body (redacted), or `None`.
    pub fn app_parse_error(body: &[u8], secret: &str) -> Option<String> {
        super::answer::app_parse_error(body, secret)
    }
    /// The detail quoted from an error body.
    pub fn error_detail(body: &[u8], secret: &str) -> String {
        super::answer::error_detail(body, secret)
    }
    /// One sanitized line of at most `max` characters (plus an ellipsis).
    pub fn sanitize(text: &str, secret: &str, max: usize) -> String {
        super::answer::sanitize(text, secret, max)
    }
    /// `text` with the secret and its long segments replaced.
    pub fn redact(text: &str, secret: &str) -> String {
        super::answer::redact(text, secret)
    }
    /// A `Retry-After` value relative to `now`.
    pub fn parse_retry_after(value: &str, now: u64) -> Option<Duration> {
        super::policy::parse_retry_after(value, now)
    }
    /// A redirect target as shown in a message, resolved against `base` (`None`: `base` is
    /// not a URL).
    pub fn location_for_message(
        base: &str,
        location: Option<&str>,
        secret: &str,
    ) -> Option<String> {
        let base = reqwest::Url::parse(base).ok()?;
        Some(super::answer::location_for_message(&base, location, secret))
    }
}

/// What the call needs.
#[derive(Debug)]
pub struct Request<'a> {
    /// The normalised API URL (no trailing slash), `https://` or loopback `http://`.
    pub api_url: &'a str,
    /// The token, sent as `Authorization: Bearer` (marked sensitive).
    pub token: &'a Secret,
    /// Total budget for all attempts and waits.
    pub budget: Duration,
    /// Extra PEM roots (`SSL_CERT_FILE`).
    pub ssl_cert_file: Option<PathBuf>,
    /// Where the container runs (the fix in a refusal names its way to rotate the token).
    pub platform: Platform,
}

/// The account whoami answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `user.id`.
    pub user_id: String,
    /// `user.email`.
    pub email: String,
    /// `user.name`, when present.
    pub name: Option<String>,
    /// Duration of the successful attempt.
    pub latency: Duration,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
    /// Why the SystemPrompt app would fail to parse this same answer (the field and the
    /// reason); `None` when it parses. Only a `None` allows writing `last_validated_at`.
    pub app_parse_error: Option<String>,
}

/// Call whoami within the budget, retrying only transient failures.
///
/// Needs a tokio runtime with the IO and time drivers (`new_current_thread().enable_all()`).
pub async fn whoami(req: &Request<'_>) -> Result<Identity, Error> {
    run(req, &Tuning::DEFAULT, &mut Jitter::new()).await
}

/// The path of the whoami endpoint under the API URL.
const ME_PATH: &str = "/api/v1/auth/me";

/// How much of an error body is read for its detail.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// How one attempt ended.
enum Outcome {
    /// A 2xx with an identity, and whether the app would parse the answer.
    Done(answer::User, Option<String>),
    /// Worth another attempt (if the budget allows).
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Final: no retry can help.
    Fatal(Fatal),
}

enum Fatal {
    Rejected {
        status: u16,
        detail: String,
    },
    Protocol(String),
    /// A TLS failure (bad certificate, handshake refused): unavailable, but not transient.
    Tls(String),
}

async fn run(req: &Request<'_>, tuning: &Tuning, jitter: &mut Jitter) -> Result<Identity, Error> {
    let start = Instant::now();
    let deadline = start + req.budget;
    let secret = req.token.expose();
    let url = me_url(req.api_url)?;
    let auth = bearer(secret)?;
    let client = build_client(&url, req.ssl_cert_file.as_deref(), tuning, secret)?;
    let mut attempt = 0u32;
    // Whether the attempt about to be made is the last one (see `policy`).
    let mut last = false;
    loop {
        attempt += 1;
        let limit = tuning
            .attempt_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        tracing::debug!(
            "whoami attempt {attempt}: GET {url} (timeout {})",
            secs(limit)
        );
        let began = Instant::now();
        let outcome =
            match tokio::time::timeout(limit, attempt_once(&client, &url, &auth, secret, tuning))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retry {
                    reason: format!("timed out after {}", secs(limit)),
                    retry_after: None,
                },
            };
        let fail = |last: String| Error::Unavailable {
            url: url.to_string(),
            attempts: attempt,
            elapsed: secs(start.elapsed()),
            last: answer::redact(&last, secret),
        };
        match outcome {
            Outcome::Done(user, app_parse_error) => {
                return Ok(Identity {
                    user_id: user.id,
                    email: user.email,
                    name: user.name,
                    latency: began.elapsed(),
                    attempts: attempt,
                    app_parse_error,
                });
            }
            Outcome::Fatal(Fatal::Rejected { status, detail }) => {
                return Err(Error::Rejected {
                    status,
                    detail,
                    platform: req.platform,
                });
            }
            Outcome::Fatal(Fatal::Protocol(reason)) => {
                return Err(Error::Protocol {
                    url: url.to_string(),
                    reason: answer::redact(&reason, secret),
                });
            }
            Outcome::Fatal(Fatal::Tls(reason)) => return Err(fail(reason)),
            Outcome::Retry {
                reason,
                retry_after,
            } => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                let wait = policy::next_wait(
                    tuning,
                    attempt,
                    retry_after,
                    remaining,
                    jitter.next_u64(),
                    last,
                );
                let (delay, note) = match wait {
                    Wait::Sleep(delay) => (delay, ""),
                    Wait::Last(delay) => {
                        (delay, "; the last attempt, as the next wait would not fit")
                    }
                    Wait::GiveUp(why) => return Err(fail(format!("{reason}; {why}"))),
                };
                last = matches!(wait, Wait::Last(_));
                tracing::warn!(
                    "whoami attempt {attempt} failed: {}; retrying in {} ({} of the budget left{note})",
                    answer::redact(&reason, secret),
                    secs(delay),
                    secs(remaining)
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// `{api_url}/api/v1/auth/me`. The API URL was validated by [`crate::config`] with the one URL
/// rule (and the same parser), so it is trusted here as it is.
fn me_url(api_url: &str) -> Result<Url, Error> {
    Url::parse(&format!("{api_url}{ME_PATH}")).map_err(|e| {
        Error::Internal(format!(
            "the validated API URL does not parse ({e}); this is a bug, please report it"
        ))
    })
}

/// `Bearer <token>`, marked sensitive; the temporary copy is wiped.
fn bearer(secret: &str) -> Result<HeaderValue, Error> {
    let mut raw = format!("Bearer {secret}").into_bytes();
    let value = HeaderValue::from_bytes(&raw);
    raw.fill(0);
    std::hint::black_box(&raw);
    let mut value = value.map_err(|_| {
        Error::Config(vec![ConfigProblem {
            var: vars::API_TOKEN.var.to_owned(),
            message: "contains characters not allowed in an HTTP header (a newline or control character?); \
                      set it to the token alone"
                .to_owned(),
        }])
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn build_client(
    url: &Url,
    ssl_cert_file: Option<&Path>,
    tuning: &Tuning,
    secret: &str,
) -> Result<Client, Error> {
    let tls = if url.scheme() == "https" {
        tls::https_config(ssl_cert_file)?
    } else {
        tls::plain_http_config()?
    };
    // reqwest's own reading of the proxy variables is off: `proxy::route` decides.
    let mut builder = Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .referer(false)
        .user_agent(concat!("sp-entrypoint/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(tuning.attempt_timeout)
        // reqwest's TCP keepalive (15 s idle, then 3 probes 15 s apart) and TCP_USER_TIMEOUT
        // (30 s) cost 5 system calls per connection and cannot act within an attempt (10 s);
        // BENCHMARKS.md ("No keepalive") has the one case, between attempts, where they could.
        .tcp_keepalive(None)
        .tcp_keepalive_interval(None)
        .tcp_keepalive_retries(None)
        .tcp_user_timeout(None)
        .no_proxy();
    let route = if tuning.env_proxy {
        proxy::route(url, &|name| std::env::var(name).ok())
    } else {
        proxy::Route::Direct
    };
    if let proxy::Route::Via {
        var,
        url: proxy_url,
    } = route
    {
        let bad = |message: &str| {
            Error::Config(vec![ConfigProblem {
                var: var.to_owned(),
                message: message.to_owned(),
            }])
        };
        if crate::redact::Redactor::with_secret(secret).matches(&proxy_url) {
            return Err(bad(
                "holds the API token (pasted into the wrong variable?); set it to the proxy URL",
            ));
        }
        let proxy = reqwest::Proxy::https(proxy_url.as_str()).map_err(|_| {
            bad("is not a proxy URL; use e.g. http://proxy.example.com:3128, or unset it")
        })?;
        tracing::debug!(
            "whoami goes through the proxy {} ({var})",
            proxy::shown(&proxy_url)
        );
        builder = builder.proxy(proxy);
    }
    // `localhost` means this machine: never resolved through /etc/hosts or DNS, whose answer
    // could be another host receiving the token over plain HTTP (port 0: the URL's port).
    if url
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case("localhost"))
    {
        builder = builder.resolve_to_addrs(
            "localhost",
            &[
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
            ],
        );
    }
    builder
        .build()
        .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))
}

async fn attempt_once(
    client: &Client,
    url: &Url,
    auth: &HeaderValue,
    secret: &str,
    tuning: &Tuning,
) -> Outcome {
    let sent = client
        .get(url.clone())
        .header(header::AUTHORIZATION, auth.clone())
        .header(header::ACCEPT, "application/json")
        .send()
        .await;
    let mut resp = match sent {
        Ok(resp) => resp,
        Err(e) => return transport_failure(&e),
    };
    let status = resp.status();
    let code = status.as_u16();
    match code {
        // Any 2xx, whatever its Content-Type, is read as JSON (as the app does).
        200..=299 => {
            let content_type = header_str(&resp, header::CONTENT_TYPE).unwrap_or_default();
            match read_body(&mut resp, tuning.max_body).await {
                Ok(body) => match answer::parse_user(code, &content_type, &body, secret) {
                    Ok(user) => Outcome::Done(user, answer::app_parse_error(&body, secret)),
                    Err(reason) => protocol(reason),
                },
                Err(BodyError::TooLarge) => protocol(format!(
                    "HTTP {code} body larger than {} bytes",
                    tuning.max_body
                )),
                Err(BodyError::Broken(e)) => match malformed(&e) {
                    Some(what) => protocol(format!(
                        "HTTP {code} body is not valid HTTP/1.1 framing ({what}); is SYSTEMPROMPT_API_URL the API, \
                         and is no proxy or middlebox in the way?"
                    )),
                    None => Outcome::Retry {
                        reason: body_failure(&e),
                        retry_after: None,
                    },
                },
            }
        }
        401 | 403 => {
            let body = read_prefix(&mut resp, MAX_ERROR_BODY).await;
            Outcome::Fatal(Fatal::Rejected {
                status: code,
                detail: answer::error_detail(&body, secret),
            })
        }
        300..=399 => {
            let location = header_str(&resp, header::LOCATION);
            protocol(format!(
                "redirect (HTTP {code}) to {} not followed: the token is only ever sent to {}; \
                 set it to the final URL",
                answer::location_for_message(url, location.as_deref(), secret),
                vars::API_URL.var
            ))
        }
        408 | 429 | 500..=599 if code != 501 && code != 505 => {
            let retry_after = header_str(&resp, header::RETRY_AFTER)
                .and_then(|v| policy::parse_retry_after(&v, crate::timefmt::now_unix()));
            Outcome::Retry {
                reason: status_text(status),
                retry_after,
            }
        }
        _ => {
            let body = read_prefix(&mut resp, MAX_ERROR_BODY).await;
            let detail = answer::error_detail(&body, secret);
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            };
            let hint = if code < 300 {
                "expected HTTP 2xx".to_owned()
            } else {
                format!(
                    "check {} (the API base URL, e.g. {})",
                    vars::API_URL.var,
                    crate::config::DEFAULT_API_URL
                )
            };
            protocol(format!("{}{detail}; {hint}", status_text(status)))
        }
    }
}

fn protocol(reason: String) -> Outcome {
    Outcome::Fatal(Fatal::Protocol(reason))
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(r) => format!("HTTP {} {r}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

fn header_str(resp: &Response, name: header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

enum BodyError {
    TooLarge,
    Broken(reqwest::Error),
}

/// The whole body, refusing (without reading on) anything over `max` bytes.
async fn read_body(resp: &mut Response, max: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Broken)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Up to `max` bytes of an error body; whatever arrived if reading fails.
async fn read_prefix(resp: &mut Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < max {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(max - body.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// A failed send: TLS failures, an answer that is not valid HTTP/1.1 and a proxy asking for
/// credentials are final; everything else (refused, reset, DNS, a proxy failing to connect,
/// no answer) is retried.
fn transport_failure(e: &reqwest::Error) -> Outcome {
    if let Some(tls) = find_tls_error(e) {
        return Outcome::Fatal(Fatal::Tls(format!(
            "TLS handshake failed: {tls}; if the API (or a proxy) uses a private CA, set {} to a PEM bundle with it",
            vars::SSL_CERT_FILE.var
        )));
    }
    if let Some(what) = malformed(e) {
        return protocol(format!(
            "the answer is not valid HTTP/1.1 ({what}); is SYSTEMPROMPT_API_URL the API, and is no proxy or \
             middlebox in the way?"
        ));
    }
    if let Some(what) = proxy_refusal(e) {
        return protocol(what);
    }
    let reason = if e.is_timeout() {
        "timed out".to_owned()
    } else if let Some(reason) = find_io_kind(e).and_then(io_reason) {
        reason.to_owned()
    } else if e.is_connect() {
        format!("cannot connect: {}", innermost(e))
    } else {
        innermost(e)
    };
    Outcome::Retry {
        reason,
        retry_after: None,
    }
}

/// What is malformed in an answer that is not valid HTTP/1.1: hyper's parse errors (status
/// line, version, a bad or conflicting header, a head too large) and the I/O errors hyper's
/// body decoder reports for bad framing (`InvalidInput`/`InvalidData`: a bad chunk size);
/// `None` for anything else. A TLS error wrapped in an I/O error
/// is not one of these.
fn malformed(e: &reqwest::Error) -> Option<String> {
    if find_tls_error(e).is_some() {
        return None;
    }
    sources(e).find_map(|s| {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            return h.is_parse().then(|| h.to_string());
        }
        s.downcast_ref::<std::io::Error>()
            .filter(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
                )
            })
            .map(ToString::to_string)
    })
}

/// A proxy's refusal that no retry can change: `407 Proxy Authentication Required` to the
/// `CONNECT` (hyper-util reports it as a tunnel error; its type is private, so the message it
/// displays is what identifies it), or a proxy answer too long to parse.
fn proxy_refusal(e: &reqwest::Error) -> Option<String> {
    let text = sources(e)
        .map(ToString::to_string)
        .find(|t| t.starts_with("tunnel error: "))?;
    if text.contains("authorization required") {
        Some(
            "the proxy answered 407 Proxy Authentication Required; put its credentials in the proxy URL \
             (HTTPS_PROXY=http://user:password@host:port) or set NO_PROXY for the API host"
                .to_owned(),
        )
    } else if text.contains("too long") {
        Some(format!(
            "the proxy's answer is not valid HTTP ({}); check HTTPS_PROXY",
            text.trim_start_matches("tunnel error: ")
        ))
    } else {
        None
    }
}

fn body_failure(e: &reqwest::Error) -> String {
    let what = find_io_kind(e)
        .and_then(io_reason)
        .map_or_else(|| innermost(e), str::to_owned);
    format!("the body was cut short ({what})")
}

fn io_reason(kind: std::io::ErrorKind) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match kind {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::TimedOut => "timed out",
        K::UnexpectedEof => "connection closed early",
        K::BrokenPipe => "broken pipe",
        K::NetworkUnreachable => "network unreachable",
        K::HostUnreachable => "host unreachable",
        K::AddrNotAvailable => "address not available",
        _ => return None,
    })
}

/// The chain of causes, looking inside `io::Error`s too (their `source()` skips the wrapped
/// error, and hyper-rustls nests a rustls error in two of them).
fn sources(e: &reqwest::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e as &(dyn std::error::Error + 'static)), |e| {
        match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        }
    })
}

fn find_tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    sources(e).find_map(|s| s.downcast_ref::<rustls::Error>())
}

/// The first I/O error kind in the chain that says something (not `Other`).
fn find_io_kind(e: &reqwest::Error) -> Option<std::io::ErrorKind> {
    sources(e)
        .filter_map(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
        .find(|k| io_reason(*k).is_some())
}

/// The innermost cause's message (reqwest's outer ones only repeat the URL).
fn innermost(e: &reqwest::Error) -> String {
    sources(e)
        .last()
        .map_or_else(|| e.to_string(), ToString::to_string)
}

/// A duration for humans: `250ms`, `1.5s`, `30.0s`; from an hour on `2h 5m`, `3d 4h`, and
/// "more than a year" beyond (a `Retry-After` of 10^20 seconds is no number to print).
fn secs(d: Duration) -> String {
    const YEAR: Duration = Duration::from_hours(365 * 24);
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_hours(1) {
        format!("{:.1}s", d.as_secs_f64())
    } else if d <= YEAR {
        crate::timefmt::human_duration(d.as_secs())
    } else {
        "more than a year".to_owned()
    }
}
