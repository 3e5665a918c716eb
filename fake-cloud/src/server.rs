//! The async server: accept loop, per-connection keep-alive loop, routing, the real auth
//! logic, the rate limiter and every scripted [`Step`]'s (mis)behaviour.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use crate::Stats;
use crate::http::{self, Head, ReadError};
use crate::script::Step;
use crate::token::{self, Rejection};

/// The whoami path.
pub const WHOAMI_PATH: &str = "/api/v1/auth/me";
/// The stats path (not counted as a request).
pub const STATS_PATH: &str = "/_fake/stats";

const JSON: &str = "application/json";
const FILL_LEN: usize = 64 * 1024;
static FILL: [u8; FILL_LEN] = [b'a'; FILL_LEN];
/// One full chunk of chunked encoding around [`FILL`], formatted once.
static FULL_CHUNK: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut v = format!("{FILL_LEN:x}\r\n").into_bytes();
    v.extend_from_slice(&FILL);
    v.extend_from_slice(b"\r\n");
    v
});

/// A token bucket: `rate` tokens per second, capacity `rate`, refilled continuously.
pub struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: u32) -> Bucket {
        Bucket {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: Instant::now(),
        }
    }

    /// Take one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counters shared by every connection.
#[derive(Default)]
pub struct Counters {
    /// See [`Stats::requests`].
    pub requests: AtomicUsize,
    /// See [`Stats::ok`].
    pub ok: AtomicUsize,
    /// See [`Stats::unauthorized`].
    pub unauthorized: AtomicUsize,
    /// See [`Stats::rate_limited`].
    pub rate_limited: AtomicUsize,
    /// See [`Stats::scripted`].
    pub scripted: AtomicUsize,
    /// See [`Stats::connections`].
    pub connections: AtomicUsize,
    /// Filler bytes written by `HugeBody`/`HugeChunked` steps (see [`crate::FakeCloud::streamed`]).
    pub streamed_bytes: AtomicU64,
    /// `HugeBody`/`HugeChunked` steps that have ended (sent all, or the client went away).
    pub streams_ended: AtomicUsize,
}

/// The most request heads kept for [`crate::FakeCloud::seen`] (a benchmark's herd is not recorded
/// without bound).
pub const MAX_SEEN: usize = 10_000;

/// State shared by the accept loop, every connection and the [`crate::FakeCloud`] handle.
pub struct Shared {
    /// The steps still to take, in order.
    pub script: Mutex<VecDeque<Step>>,
    /// The step once the script is used up.
    pub default_step: Step,
    /// The email for valid tokens without an `email` claim.
    pub email: String,
    /// Log one line per request to stderr.
    pub log: bool,
    /// The rate limiter, if any.
    pub limiter: Option<Mutex<Bucket>>,
    /// The counters.
    pub counters: Counters,
    /// Paired with `arrived`: notified whenever a whoami request arrives.
    pub arrival_lock: Mutex<()>,
    /// Notified whenever a whoami request arrives or a stream ends.
    pub arrived: Condvar,
    /// Every request head read (any path), in arrival order, up to [`MAX_SEEN`].
    pub seen: Mutex<Vec<SeenRequest>>,
}

/// A request the fake read: what tests check about what the client sent. `Debug` hides the
/// values of `Authorization` and `Proxy-Authorization` (the fake never prints a token).
#[derive(Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The method, e.g. `GET` or `CONNECT`.
    pub method: String,
    /// The request target as sent (`/api/v1/auth/me`, `http://host/...`, `host:443`).
    pub target: String,
    /// The minor HTTP version (`0` or `1`).
    pub minor_version: u8,
    /// Header names (lower-cased) and values (trimmed), in order.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The first value of header `name` (give it in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for SeenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let hidden = matches!(n.as_str(), "authorization" | "proxy-authorization");
                (n.as_str(), if hidden { "***" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("SeenRequest")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("minor_version", &self.minor_version)
            .field("headers", &headers)
            .finish()
    }
}

impl Shared {
    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicUsize| a.load(Ordering::SeqCst);
        Stats {
            requests: get(&c.requests),
            ok: get(&c.ok),
            unauthorized: get(&c.unauthorized),
            rate_limited: get(&c.rate_limited),
            scripted: get(&c.scripted),
            connections: get(&c.connections),
        }
    }

    /// Block until at least `n` whoami requests have arrived or `timeout` passes.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        let guard = self
            .arrival_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (_guard, result) = self
            .arrived
            .wait_timeout_while(guard, timeout, |()| {
                self.counters.requests.load(Ordering::SeqCst) < n
            })
            .unwrap_or_else(PoisonError::into_inner);
        !result.timed_out() || self.counters.requests.load(Ordering::SeqCst) >= n
    }

    /// Keep a copy of a request head (up to [`MAX_SEEN`]).
    fn record(&self, head: &Head) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() < MAX_SEEN {
            seen.push(SeenRequest {
                method: head.method.clone(),
                target: head.target.clone(),
                minor_version: head.minor_version,
                headers: head.headers.clone(),
            });
        }
    }

    /// Block until at least `n` streams have ended or `timeout` passes; returns whether they did.
    pub fn wait_streams(&self, n: usize, timeout: Duration) -> bool {
        let guard = self
            .arrival_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (_guard, _) = self
            .arrived
            .wait_timeout_while(guard, timeout, |()| {
                self.counters.streams_ended.load(Ordering::SeqCst) < n
            })
            .unwrap_or_else(PoisonError::into_inner);
        self.counters.streams_ended.load(Ordering::SeqCst) >= n
    }

    fn stream_ended(&self) {
        let _guard = self
            .arrival_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.counters.streams_ended.fetch_add(1, Ordering::SeqCst);
        self.arrived.notify_all();
    }

    fn count_request(&self) {
        let _guard = self
            .arrival_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.counters.requests.fetch_add(1, Ordering::SeqCst);
        self.arrived.notify_all();
    }

    fn next_step(&self) -> Step {
        let mut script = self.script.lock().unwrap_or_else(PoisonError::into_inner);
        script
            .pop_front()
            .unwrap_or_else(|| self.default_step.clone())
    }

    fn rate_limited(&self) -> bool {
        self.limiter.as_ref().is_some_and(|l| {
            !l.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(Instant::now())
        })
    }

    fn log(&self, line: std::fmt::Arguments<'_>) {
        if self.log {
            eprintln!("fake-cloud: {line}");
        }
    }
}

/// A plain or TLS connection.
enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What to do with the connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close gracefully (FIN, or TLS `close_notify`).
    Close,
    /// Drop the socket as it is (the response already closed it, or it failed).
    Abort,
}

/// Accept connections until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    shared.counters.connections.fetch_add(1, Ordering::SeqCst);
                    let _ = tcp.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let conn = match tls {
                            None => Conn::Plain(tcp),
                            Some(acceptor) => match acceptor.accept(tcp).await {
                                Ok(s) => Conn::Tls(Box::new(s)),
                                Err(e) => {
                                    shared.log(format_args!("TLS handshake failed: {e}"));
                                    return;
                                }
                            },
                        };
                        handle_conn(conn, &shared).await;
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    shared.log(format_args!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn handle_conn(mut conn: Conn, shared: &Shared) {
    let mut buf = Vec::with_capacity(2048);
    loop {
        let head = match http::read_request(&mut conn, &mut buf).await {
            Ok(head) => head,
            Err(ReadError::Closed) => return,
            Err(ReadError::TooLarge) => {
                return refuse(
                    &mut conn,
                    431,
                    "too_large",
                    "request head or body too large",
                )
                .await;
            }
            Err(ReadError::Malformed) => {
                return refuse(&mut conn, 400, "bad_request", "malformed HTTP/1.x request").await;
            }
        };
        shared.record(&head);
        let keep = head.keep_alive();
        match route(&mut conn, &head, shared, keep).await {
            Next::KeepAlive if keep => {}
            Next::KeepAlive | Next::Close => {
                let _ = conn.shutdown().await;
                return;
            }
            Next::Abort => return,
        }
    }
}

fn error_json(code: &str, message: &str) -> String {
    serde_json::json!({"error": {"code": code, "message": message}}).to_string()
}

/// Answer an unreadable request with `status` and a JSON error, then close the connection.
async fn refuse(conn: &mut Conn, status: u16, code: &str, message: &str) {
    let body = error_json(code, message);
    send(
        conn,
        status,
        &[("Content-Type", JSON)],
        body.as_bytes(),
        false,
    )
    .await;
    let _ = conn.shutdown().await;
}

/// Write a complete response with `Content-Length` (and `Connection: close` unless `keep`).
async fn send(
    conn: &mut Conn,
    code: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    keep: bool,
) -> Next {
    let len = body.len().to_string();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("Content-Length", &len));
    if !keep {
        all.push(("Connection", "close"));
    }
    let mut out = http::response_head(1, code, &all);
    out.extend_from_slice(body);
    match write_flush(conn, &out).await {
        Ok(()) if keep => Next::KeepAlive,
        Ok(()) => Next::Close,
        Err(_) => Next::Abort,
    }
}

async fn write_flush(conn: &mut Conn, data: &[u8]) -> io::Result<()> {
    conn.write_all(data).await?;
    conn.flush().await
}

async fn route(conn: &mut Conn, head: &Head, shared: &Shared, keep: bool) -> Next {
    match (head.method.as_str(), head.path.as_str()) {
        ("GET", STATS_PATH) => {
            let body = shared.stats().to_json();
            send(conn, 200, &[("Content-Type", JSON)], body.as_bytes(), keep).await
        }
        ("GET", WHOAMI_PATH) => whoami(conn, head, shared, keep).await,
        (_, WHOAMI_PATH | STATS_PATH) => {
            let body = error_json("method_not_allowed", "use GET");
            let headers = [("Content-Type", JSON), ("Allow", "GET")];
            send(conn, 405, &headers, body.as_bytes(), keep).await
        }
        _ => {
            let body = error_json("not_found", "no such endpoint");
            send(conn, 404, &[("Content-Type", JSON)], body.as_bytes(), keep).await
        }
    }
}

/// The outcome of the real auth logic.
struct AuthResponse {
    code: u16,
    body: String,
    verdict: &'static str,
}

/// Check the bearer token (never logged) and build the 200 or 401 response; counts it.
fn authorize(head: &Head, shared: &Shared) -> AuthResponse {
    let bearer = head.header("authorization").and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    let checked = match bearer {
        None | Some("") => Err("missing"),
        Some(tok) => token::verify_token(tok, token::now_secs()).map_err(|r| match r {
            Rejection::Expired => "expired",
            _ => "bad",
        }),
    };
    match checked {
        Ok(claims) => {
            shared.counters.ok.fetch_add(1, Ordering::SeqCst);
            let email = claims
                .get("email")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(&shared.email);
            let id = claims
                .get("sub")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("user_1");
            let body = serde_json::json!({
                "user": {"id": id, "email": email, "name": "Fake User"},
                "customer": {"id": "cus_1", "status": "active"},
                "tenants": [],
                "enterprise": null,
                "extra_field_to_ignore": 1,
            });
            AuthResponse {
                code: 200,
                body: body.to_string(),
                verdict: "ok",
            }
        }
        Err(verdict) => {
            shared.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
            AuthResponse {
                code: 401,
                body: error_json("unauthorized", "invalid or expired token"),
                verdict,
            }
        }
    }
}

async fn whoami(conn: &mut Conn, head: &Head, shared: &Shared, keep: bool) -> Next {
    shared.count_request();
    if shared.rate_limited() {
        shared.counters.rate_limited.fetch_add(1, Ordering::SeqCst);
        shared.log(format_args!("GET {WHOAMI_PATH} rate limited -> 429"));
        let body = error_json("rate_limited", "too many requests");
        let headers = [("Content-Type", JSON), ("Retry-After", "1")];
        return send(conn, 429, &headers, body.as_bytes(), keep).await;
    }
    let step = shared.next_step();
    if step != Step::Ok {
        shared.counters.scripted.fetch_add(1, Ordering::SeqCst);
    }
    match step {
        Step::Ok | Step::Delay(_) | Step::Trickle { .. } | Step::Http10Close | Step::Chunked => {
            auth_step(conn, head, shared, step, keep).await
        }
        other => {
            shared.log(format_args!(
                "GET {WHOAMI_PATH} step={} (auth not checked)",
                other.name()
            ));
            scripted_step(conn, shared, other, keep).await
        }
    }
}

/// The steps that answer with the real auth logic's response, delivered in some way.
async fn auth_step(conn: &mut Conn, head: &Head, shared: &Shared, step: Step, keep: bool) -> Next {
    if let Step::Delay(d) = step {
        tokio::time::sleep(d).await;
    }
    let a = authorize(head, shared);
    shared.log(format_args!(
        "GET {WHOAMI_PATH} step={} auth={} -> {}",
        step.name(),
        a.verdict,
        a.code
    ));
    let body = a.body.as_bytes();
    match step {
        Step::Trickle { interval } => {
            let len = body.len().to_string();
            let mut headers = vec![("Content-Type", JSON), ("Content-Length", len.as_str())];
            if !keep {
                headers.push(("Connection", "close"));
            }
            let head = http::response_head(1, a.code, &headers);
            if write_flush(conn, &head).await.is_err() {
                return Next::Abort;
            }
            for b in body {
                tokio::time::sleep(interval).await;
                if write_flush(conn, std::slice::from_ref(b)).await.is_err() {
                    return Next::Abort;
                }
            }
            Next::KeepAlive
        }
        Step::Http10Close => {
            let mut out = http::response_head(0, a.code, &[("Content-Type", JSON)]);
            out.extend_from_slice(body);
            match write_flush(conn, &out).await {
                Ok(()) => Next::Close,
                Err(_) => Next::Abort,
            }
        }
        Step::Chunked => {
            let mut headers = vec![("Content-Type", JSON), ("Transfer-Encoding", "chunked")];
            if !keep {
                headers.push(("Connection", "close"));
            }
            let mut out = http::response_head(1, a.code, &headers);
            for piece in body.chunks(body.len().div_ceil(4).max(1)) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            match write_flush(conn, &out).await {
                Ok(()) => Next::KeepAlive,
                Err(_) => Next::Abort,
            }
        }
        _ => send(conn, a.code, &[("Content-Type", JSON)], body, keep).await,
    }
}

/// The steps that answer without looking at the token.
async fn scripted_step(conn: &mut Conn, shared: &Shared, step: Step, keep: bool) -> Next {
    match step {
        Step::Status {
            code,
            retry_after,
            body,
            content_type,
        } => {
            let body = body.unwrap_or_else(|| {
                error_json("scripted_status", &format!("scripted status {code}"))
            });
            let mut headers = match content_type.as_deref() {
                None => vec![("Content-Type", JSON)],
                Some("") => vec![],
                Some(ct) => vec![("Content-Type", ct)],
            };
            if let Some(ra) = retry_after.as_deref() {
                headers.push(("Retry-After", ra));
            }
            send(conn, code, &headers, body.as_bytes(), keep).await
        }
        Step::Hang => {
            let mut scratch = [0u8; 1024];
            loop {
                match conn.read(&mut scratch).await {
                    Ok(0) | Err(_) => return Next::Abort,
                    Ok(_) => {}
                }
            }
        }
        Step::Redirect { code, location } => {
            let headers = [("Location", location.as_str()), ("Content-Type", JSON)];
            send(conn, code, &headers, b"", keep).await
        }
        Step::HugeBody { bytes } => {
            let next = huge_body(conn, shared, bytes, false, keep).await;
            shared.stream_ended();
            next
        }
        Step::HugeChunked { bytes } => {
            let next = huge_body(conn, shared, bytes, true, keep).await;
            shared.stream_ended();
            next
        }
        Step::InvalidJson => send(conn, 200, &[("Content-Type", JSON)], b"{\"user\": ", keep).await,
        Step::EmptyBody => send(conn, 200, &[("Content-Type", JSON)], b"", keep).await,
        Step::WrongContentType => {
            let body = b"<!doctype html><html><head><title>Sign in</title></head>\
                <body><h1>Sign in</h1></body></html>";
            let headers = [("Content-Type", "text/html; charset=utf-8")];
            send(conn, 200, &headers, body, keep).await
        }
        Step::ResetMidBody => {
            let headers = [("Content-Type", JSON), ("Content-Length", "500")];
            let mut out = http::response_head(1, 200, &headers);
            out.extend_from_slice(br#"{"user":{"id":"user_"#);
            let _ = write_flush(conn, &out).await;
            let _ = conn.tcp().set_zero_linger();
            Next::Abort
        }
        // `Close`, and the auth steps (never routed here).
        _ => Next::Abort,
    }
}

/// Stream `bytes` filler bytes as fast as the client takes them; stop if it goes away.
async fn huge_body(
    conn: &mut Conn,
    shared: &Shared,
    bytes: u64,
    chunked: bool,
    keep: bool,
) -> Next {
    let len = bytes.to_string();
    let mut headers = vec![("Content-Type", JSON)];
    headers.push(if chunked {
        ("Transfer-Encoding", "chunked")
    } else {
        ("Content-Length", len.as_str())
    });
    if !keep {
        headers.push(("Connection", "close"));
    }
    if conn
        .write_all(&http::response_head(1, 200, &headers))
        .await
        .is_err()
    {
        return Next::Abort;
    }
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left).map_or(FILL_LEN, |l| l.min(FILL_LEN));
        let written = if chunked && n == FILL_LEN {
            conn.write_all(&FULL_CHUNK).await
        } else if chunked {
            let mut piece = format!("{n:x}\r\n").into_bytes();
            piece.extend_from_slice(&FILL[..n]);
            piece.extend_from_slice(b"\r\n");
            conn.write_all(&piece).await
        } else {
            conn.write_all(&FILL[..n]).await
        };
        if written.is_err() {
            return Next::Abort;
        }
        shared
            .counters
            .streamed_bytes
            .fetch_add(n as u64, Ordering::SeqCst);
        left -= n as u64;
    }
    if chunked && conn.write_all(b"0\r\n\r\n").await.is_err() {
        return Next::Abort;
    }
    match conn.flush().await {
        Ok(()) => Next::KeepAlive,
        Err(_) => Next::Abort,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_continuously() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2);
        b.last = t0;
        assert!(b.take(t0));
        assert!(b.take(t0));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_millis(400)));
        assert!(b.take(t0 + Duration::from_millis(600)));
        // Capacity is the rate: a long pause gives back only `rate` tokens.
        let later = t0 + Duration::from_secs(100);
        assert!(b.take(later));
        assert!(b.take(later));
        assert!(!b.take(later));
    }
}
