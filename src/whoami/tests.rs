//! whoami against a scripted loopback HTTP responder (std `TcpListener`, a thread per
//! connection). No sleeps as synchronisation; no network but 127.0.0.1.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::policy::{Jitter, Tuning};
use super::{Identity, Request, run};
use crate::error::Error;
use crate::token::Secret;

const TOKEN: &str =
    "sp_live_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEyMyJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
const ME: &str = r#"{"user":{"id":"user_123","email":"user@example.com","name":"Optional Name"},
    "customer":{"id":"cus_1","status":"active"},"tenants":[],"enterprise":null}"#;

/// What the responder does with the n-th request (the last entry repeats).
#[derive(Clone)]
enum Reply {
    /// Send these bytes, then close.
    Raw(String),
    /// Never answer; wait for the client to hang up.
    Hang,
    /// Send this head, then up to 300 MB of spaces until the client hangs up.
    Endless(String),
}

fn http(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    Reply::Raw(format!("{out}\r\n{body}"))
}

fn json(status: &str, body: &str) -> Reply {
    http(status, &[("Content-Type", "application/json")], body)
}

struct Fake {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    /// Bytes written by each `Endless` reply, once it ended.
    streamed: mpsc::Receiver<u64>,
}

impl Fake {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    fn head(&self, i: usize) -> String {
        self.heads.lock().unwrap()[i].clone()
    }
}

fn serve(script: Vec<Reply>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (tx, streamed) = mpsc::channel();
    let (h, hd) = (hits.clone(), heads.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (script, hits, heads, tx) = (script.clone(), h.clone(), hd.clone(), tx.clone());
            std::thread::spawn(move || {
                let Some(head) = read_head(&mut conn) else {
                    return;
                };
                heads.lock().unwrap().push(head);
                let n = hits.fetch_add(1, Ordering::SeqCst);
                match &script[n.min(script.len() - 1)] {
                    Reply::Raw(bytes) => {
                        let _ = conn.write_all(bytes.as_bytes());
                    }
                    Reply::Hang => {
                        let mut sink = [0u8; 1024];
                        while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                    }
                    Reply::Endless(head) => {
                        let mut sent = 0u64;
                        if conn.write_all(head.as_bytes()).is_ok() {
                            let block = vec![b' '; 64 * 1024];
                            while sent < 300_000_000 && conn.write_all(&block).is_ok() {
                                sent += block.len() as u64;
                            }
                        }
                        let _ = tx.send(sent);
                    }
                }
            });
        }
    });
    Fake {
        addr,
        hits,
        heads,
        streamed,
    }
}

fn read_head(conn: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn tuning() -> Tuning {
    Tuning {
        env_proxy: false,
        ..Tuning::DEFAULT
    }
}

fn call(
    url: &str,
    budget: Duration,
    ssl_cert_file: Option<std::path::PathBuf>,
) -> (Result<Identity, Error>, Duration) {
    call_with(url, budget, ssl_cert_file, &tuning())
}

fn call_with(
    url: &str,
    budget: Duration,
    ssl_cert_file: Option<std::path::PathBuf>,
    tuning: &Tuning,
) -> (Result<Identity, Error>, Duration) {
    let token = Secret::new(TOKEN.to_owned());
    let req = Request {
        api_url: url,
        token: &token,
        budget,
        ssl_cert_file,
        platform: crate::platform::Platform::Fly,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    let res = rt.block_on(run(&req, tuning, &mut Jitter::new()));
    let elapsed = start.elapsed();
    if let Err(e) = &res {
        let shown = format!("{e} {e:?}");
        assert!(
            !shown.contains("eyJ") && !shown.contains("c2ln"),
            "token leaked: {shown}"
        );
    }
    (res, elapsed)
}

const BUDGET: Duration = Duration::from_secs(10);

fn protocol_reason(res: Result<Identity, Error>) -> String {
    match res {
        Err(e @ Error::Protocol { .. }) => {
            assert_eq!(e.code(), 76);
            e.to_string()
        }
        other => panic!("expected Protocol, got {other:?}"),
    }
}

fn unavailable(res: Result<Identity, Error>) -> (u32, String) {
    match res {
        Err(Error::Unavailable { attempts, last, .. }) => (attempts, last),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Logs emitted (at every level) while `f` runs on this thread.
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf(Arc::new(Mutex::new(Vec::new())));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let logs = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, logs)
}

#[test]
fn ok_200_is_parsed_and_the_request_is_right() {
    let fake = serve(vec![json("200 OK", ME)]);
    let (res, _) = call(&fake.url(), BUDGET, None);
    let id = res.unwrap();
    assert_eq!(
        (id.user_id.as_str(), id.email.as_str()),
        ("user_123", "user@example.com")
    );
    assert_eq!(
        (id.name.as_deref(), id.attempts),
        (Some("Optional Name"), 1)
    );
    assert!(id.latency < BUDGET);
    let head = fake.head(0).to_ascii_lowercase();
    assert!(
        head.starts_with("get /api/v1/auth/me http/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "\r\nauthorization: bearer {}\r\n",
            TOKEN.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert!(head.contains("\r\naccept: application/json\r\n"), "{head}");
    assert!(
        head.contains(&format!(
            "\r\nuser-agent: sp-entrypoint/{}\r\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{head}"
    );
    assert_eq!(fake.hits(), 1);
}

#[test]
fn trailing_slash_and_localhost_work() {
    let fake = serve(vec![json("200 OK", ME)]);
    let url = format!("http://localhost:{}/", fake.addr.port());
    assert!(call(&url, BUDGET, None).0.is_ok());
}

#[test]
fn rejected_401_is_not_retried_and_never_echoes_the_token() {
    let body = format!(r#"{{"error":{{"code":"unauthorized","message":"bad token {TOKEN}"}}}}"#);
    let fake = serve(vec![json("401 Unauthorized", &body)]);
    let (res, _) = call(&fake.url(), BUDGET, None);
    match res {
        Err(e @ Error::Rejected { .. }) => {
            assert_eq!(e.code(), 77);
            let Error::Rejected {
                status,
                detail,
                platform,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!((*status, detail.as_str()), (401, "bad token ***"));
            // The fix is the platform's (the request says Fly.io): staged, then deployed.
            assert_eq!(*platform, crate::platform::Platform::Fly);
            let message = e.to_string();
            assert!(
                message.contains("`just login`")
                    && message.contains(
                        "fly secrets set --stage SYSTEMPROMPT_API_TOKEN=... && fly deploy"
                    ),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.hits(), 1);
}

#[test]
fn forbidden_403_with_plain_text_detail() {
    let fake = serve(vec![http(
        "403 Forbidden",
        &[("Content-Type", "text/plain")],
        "account\r\nsuspended\x07",
    )]);
    match call(&fake.url(), BUDGET, None).0 {
        Err(Error::Rejected {
            status: 403,
            detail,
            ..
        }) => assert_eq!(detail, "account suspended"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.hits(), 1);
}

#[test]
fn other_4xx_and_501_are_protocol_errors_not_retried() {
    for status in [
        "404 Not Found",
        "400 Bad Request",
        "405 Method Not Allowed",
        "501 Not Implemented",
    ] {
        let fake = serve(vec![json(
            status,
            r#"{"error":{"code":"x","message":"no such route"}}"#,
        )]);
        let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
        assert!(
            reason.contains(&format!("HTTP {status} (no such route)")),
            "{reason}"
        );
        assert_eq!(fake.hits(), 1, "{status}");
    }
}

#[test]
fn other_2xx_is_a_protocol_error() {
    let fake = serve(vec![http("204 No Content", &[], "")]);
    let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
    assert!(
        reason.contains("HTTP 204 No Content; expected HTTP 200"),
        "{reason}"
    );
}

#[test]
fn a_503_then_200_is_retried_and_logged_without_the_token() {
    let fake = serve(vec![
        http(
            "503 Service Unavailable",
            &[],
            &format!("down, your token {TOKEN}"),
        ),
        json("200 OK", ME),
    ]);
    let ((res, _), logs) = capture_logs(|| call(&fake.url(), BUDGET, None));
    assert_eq!(res.unwrap().attempts, 2);
    assert_eq!(fake.hits(), 2);
    assert!(
        logs.contains("WARN")
            && logs.contains("whoami attempt 1 failed: HTTP 503 Service Unavailable; retrying in"),
        "{logs}"
    );
    assert!(!logs.contains("eyJ") && !logs.contains("c2ln"), "{logs}");
}

#[test]
fn a_429_retry_after_is_honoured() {
    let fake = serve(vec![
        http("429 Too Many Requests", &[("Retry-After", "1")], ""),
        json("200 OK", ME),
    ]);
    let (res, elapsed) = call(&fake.url(), BUDGET, None);
    assert_eq!(res.unwrap().attempts, 2);
    // 1 s plus a spread of up to 2 s.
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(3500),
        "{elapsed:?}"
    );
}

#[test]
fn a_retry_after_beyond_the_budget_stops_at_once() {
    let fake = serve(vec![http(
        "429 Too Many Requests",
        &[("Retry-After", "60")],
        "",
    )]);
    let (res, elapsed) = call(&fake.url(), Duration::from_secs(5), None);
    let (attempts, last) = unavailable(res);
    assert_eq!((attempts, fake.hits()), (1, 1));
    assert!(
        last.contains(
            "HTTP 429 Too Many Requests; the server asked to retry after 60.0s, beyond the budget"
        ),
        "{last}"
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn a_silent_server_cannot_stretch_the_budget() {
    let fake = serve(vec![Reply::Hang]);
    let (res, elapsed) = call(&fake.url(), Duration::from_secs(1), None);
    let (attempts, last) = unavailable(res);
    assert_eq!(attempts, 1);
    assert!(
        last.starts_with("timed out after 9") || last.starts_with("timed out after 1.0s"),
        "{last}"
    );
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(1100),
        "{elapsed:?}"
    );
}

#[test]
fn connection_refused_is_retried_within_the_budget() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (res, elapsed) = call(&url, Duration::from_secs(1), None);
    let (attempts, last) = unavailable(res);
    assert!(attempts >= 2, "{attempts}");
    assert!(last.starts_with("connection refused"), "{last}");
    assert!(elapsed <= Duration::from_millis(1050), "{elapsed:?}");
}

#[test]
fn a_body_cut_short_is_retried() {
    let cut = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n{\"user\":";
    let fake = serve(vec![Reply::Raw(cut.to_owned()), json("200 OK", ME)]);
    let ((res, _), logs) = capture_logs(|| call(&fake.url(), BUDGET, None));
    assert_eq!(res.unwrap().attempts, 2);
    assert!(logs.contains("the body was cut short"), "{logs}");
}

#[test]
fn redirects_are_not_followed() {
    let fake = serve(vec![http(
        "302 Found",
        &[("Location", "http://127.0.0.1:1/elsewhere?token=abc")],
        "",
    )]);
    let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
    assert!(
        reason.contains("redirect (HTTP 302) to http://127.0.0.1:1/elsewhere not followed: the token is only ever sent to SYSTEMPROMPT_API_URL; set it to the final URL"),
        "{reason}"
    );
    assert!(!reason.contains("token=abc"), "{reason}");
    assert_eq!(fake.hits(), 1);
}

#[test]
fn bodies_over_1_mib_are_refused_with_bounded_memory() {
    let declared = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 314572800\r\nConnection: close\r\n\r\n";
    let undeclared =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
    for head in [declared, undeclared] {
        let fake = serve(vec![Reply::Endless(head.to_owned())]);
        let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
        assert!(
            reason.contains("HTTP 200 body larger than 1048576 bytes"),
            "{reason}"
        );
        // The server could push far less than its 300 MB before we hung up.
        let sent = fake.streamed.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(sent < 64 * 1024 * 1024, "{sent}");
        assert_eq!(fake.hits(), 1);
    }
}

#[test]
fn invalid_json_empty_body_and_missing_email_are_protocol_errors() {
    for (body, needle) in [
        ("{not json", "not the expected JSON"),
        ("", "empty body"),
        (r#"{"user":{"id":"u1"}}"#, "no user.email"),
    ] {
        let fake = serve(vec![json("200 OK", body)]);
        let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
        assert!(reason.contains(needle), "{reason}");
        assert_eq!(fake.hits(), 1);
    }
}

#[test]
fn a_wrong_content_type_is_a_protocol_error() {
    for headers in [&[("Content-Type", "text/html; charset=utf-8")][..], &[]] {
        let fake = serve(vec![http("200 OK", headers, ME)]);
        let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
        assert!(reason.contains("expected application/json"), "{reason}");
    }
}

#[test]
fn an_invalid_ssl_cert_file_is_a_config_error() {
    let path = std::env::temp_dir().join(format!(
        "sp-entrypoint-whoami-{}-bad.pem",
        std::process::id()
    ));
    std::fs::write(&path, "not a bundle").unwrap();
    let (res, _) = call("https://127.0.0.1:1", BUDGET, Some(path.clone()));
    match res {
        Err(e @ Error::Config(_)) => {
            assert_eq!(e.code(), 78);
            let Error::Config(problems) = &e else {
                unreachable!()
            };
            assert_eq!(problems[0].var, "SSL_CERT_FILE");
        }
        other => panic!("{other:?}"),
    }
    // A loopback http:// URL builds no TLS roots, so it does not even read the file.
    let fake = serve(vec![json("200 OK", ME)]);
    assert!(call(&fake.url(), BUDGET, Some(path.clone())).0.is_ok());
    let _ = std::fs::remove_file(path);
}

#[test]
fn urls_and_tokens_that_must_not_be_sent() {
    // whoami trusts the URL config validated: the one URL rule refuses these before any call.
    for url in ["http://api.systemprompt.io", "ftp://127.0.0.1", "not a url"] {
        assert!(crate::config::validate_api_url(url).is_err(), "{url}");
    }
    let token = Secret::new("abc\ndef".to_owned());
    let req = Request {
        api_url: "http://127.0.0.1:1",
        token: &token,
        budget: BUDGET,
        ssl_cert_file: None,
        platform: crate::platform::Platform::Docker,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(run(&req, &tuning(), &mut Jitter::new())) {
        Err(Error::Config(p)) => {
            assert_eq!(p[0].var, "SYSTEMPROMPT_API_TOKEN");
            assert!(!p[0].message.contains("abc"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{req:?}").contains("abc"));
}

/// Run in a child process (so the parent's environment is never mutated) by
/// `proxy_environment_is_honoured`; does nothing on its own.
#[test]
#[ignore = "run by proxy_environment_is_honoured in a child process"]
fn proxy_child() {
    let Ok(url) = std::env::var("WHOAMI_PROXY_CHILD_URL") else {
        return;
    };
    let (res, _) = call_with(&url, Duration::from_secs(1), None, &Tuning::DEFAULT);
    println!("child result: {res:?}");
}

#[test]
fn proxy_environment_is_honoured() {
    let child = |url: &str, env: &[(&str, String)]| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "whoami::tests::proxy_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("WHOAMI_PROXY_CHILD_URL", url)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // HTTPS_PROXY: a CONNECT to the proxy, the API host unresolved by us.
    let proxy = serve(vec![http("403 Forbidden", &[], "")]);
    child(
        "https://api.example.invalid",
        &[("HTTPS_PROXY", proxy.url())],
    );
    assert!(proxy.hits() >= 1);
    assert!(
        proxy
            .head(0)
            .starts_with("CONNECT api.example.invalid:443 HTTP/1.1\r\n"),
        "{}",
        proxy.head(0)
    );
    // HTTP_PROXY for a loopback http:// URL, then NO_PROXY exempting it.
    let proxy = serve(vec![json("200 OK", ME)]);
    let direct = serve(vec![json("200 OK", ME)]);
    let out = child(&direct.url(), &[("HTTP_PROXY", proxy.url())]);
    assert!(out.contains("child result: Ok("), "{out}");
    assert_eq!((proxy.hits(), direct.hits()), (1, 0));
    assert!(
        proxy
            .head(0)
            .starts_with(&format!("GET {}/api/v1/auth/me HTTP/1.1\r\n", direct.url())),
        "{}",
        proxy.head(0)
    );
    let out = child(
        &direct.url(),
        &[
            ("HTTP_PROXY", proxy.url()),
            ("NO_PROXY", "127.0.0.1".to_owned()),
        ],
    );
    assert!(out.contains("child result: Ok("), "{out}");
    assert_eq!((proxy.hits(), direct.hits()), (1, 1));
}

// A private CA and a leaf for localhost / 127.0.0.1 (test-only key, generated with openssl).
const TEST_CA: &str = "\
-----BEGIN CERTIFICATE-----
MIIBpzCCAU2gAwIBAgIUcIOWQyUPZZ3aiQA3Q2m9iYUbckUwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVc3AtZW50cnlwb2ludCB0ZXN0IENBMCAXDTI2MTEyNzA5MzMy
N1oYDzIxMjYxMTAzMDkzMzI3WjAgMR4wHAYDVQQDDBVzcC1lbnRyeXBvaW50IHRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARgR8oEEioPplTDD17WJhga
89momM4HPwEsv4gufplOHynDMT2RX8Ep9Esv8VKtdVUpKWQWr7tO665Xz+wHMAwg
o2MwYTAdBgNVHQ4EFgQUr3MO2IuM9xU0sPVUmZBzTzqZ8RkwHwYDVR0jBBgwFoAU
r3MO2IuM9xU0sPVUmZBzTzqZ8RkwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8E
BAMCAgQwCgYIKoZIzj0EAwIDSAAwRQIhAKmfP/QhttBGcEpWZvfofIHJek7EtibH
uJu+GNKO5e0QAiACC7gMOITLEYAYSBf+cyg5iK/JZ9Cr//huI13CDBa/PA==
-----END CERTIFICATE-----
";
const TEST_LEAF: &str = "\
-----BEGIN CERTIFICATE-----
MIIBtTCCAVygAwIBAgIUKoGs3l8weueIU59DigMFPQfkIDQwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVc3AtZW50cnlwb2ludCB0ZXN0IENBMCAXDTI2MTEyNzA5MzMy
N1oYDzIxMjYxMTAzMDkzMzI3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQ7oSCRO7wIplgBGdQH0Qoa///q64jK16O7DsGB
xP2maAPgyWja3zrijqfoq4vwPgj5rhAg8p9wyLAjOlIZGBWTo34wfDAaBgNVHREE
EzARgglsb2NhbGhvc3SHBH8AAAEwCQYDVR0TBAIwADATBgNVHSUEDDAKBggrBgEF
BQcDATAdBgNVHQ4EFgQUEjVyuYqrh0X2JJRuIJIvKvpxd7UwHwYDVR0jBBgwFoAU
r3MO2IuM9xU0sPVUmZBzTzqZ8RkwCgYIKoZIzj0EAwIDRwAwRAIgZs5Gf9EDVVU9
8B5pGFiNt0qOzDuEDMKUOiia95ZU9bUCICQ4HQX1so5C17HJL2KjigmLYhkgo24q
53JAWrK0TpK5
-----END CERTIFICATE-----
";
const TEST_LEAF_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwtf96JCmCk17cN+h
/lhWZ1aM1vMszIMzLwcXnyFLFGGhRANCAAQ7oSCRO7wIplgBGdQH0Qoa///q64jK
16O7DsGBxP2maAPgyWja3zrijqfoq4vwPgj5rhAg8p9wyLAjOlIZGBWT
-----END PRIVATE KEY-----
";

/// A TLS responder with the test leaf: answers every request with `reply` (a `Reply::Raw`).
fn serve_tls(reply: &str) -> Fake {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_slice(TEST_LEAF.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(TEST_LEAF_KEY.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (_tx, streamed) = mpsc::channel();
    let (h, hd, reply) = (hits.clone(), heads.clone(), reply.to_owned());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(tcp) = conn else { continue };
            let (config, hits, heads, reply) =
                (config.clone(), h.clone(), hd.clone(), reply.clone());
            std::thread::spawn(move || {
                let Ok(server) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(server, tcp);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                heads
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                hits.fetch_add(1, Ordering::SeqCst);
                let _ = tls.write_all(reply.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    Fake {
        addr,
        hits,
        heads,
        streamed,
    }
}

fn ok_reply() -> String {
    match json("200 OK", ME) {
        Reply::Raw(r) => r,
        _ => unreachable!(),
    }
}

#[test]
fn https_trusts_the_ssl_cert_file_bundle() {
    let fake = serve_tls(&ok_reply());
    let path = std::env::temp_dir().join(format!(
        "sp-entrypoint-whoami-{}-ca.pem",
        std::process::id()
    ));
    std::fs::write(&path, TEST_CA).unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}", fake.addr.port());
        let (res, _) = call(&url, BUDGET, Some(path.clone()));
        assert_eq!(res.unwrap().email, "user@example.com", "{host}");
    }
    assert_eq!(fake.hits(), 2);
    assert!(fake.head(0).starts_with("GET /api/v1/auth/me HTTP/1.1\r\n"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn an_untrusted_certificate_fails_at_once_without_retrying() {
    let fake = serve_tls(&ok_reply());
    let url = format!("https://127.0.0.1:{}", fake.addr.port());
    let (res, elapsed) = call(&url, BUDGET, None);
    let (attempts, last) = unavailable(res);
    assert_eq!(attempts, 1);
    assert!(
        last.contains("TLS handshake failed: invalid peer certificate: UnknownIssuer"),
        "{last}"
    );
    assert!(last.contains("set SSL_CERT_FILE"), "{last}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(fake.hits(), 0);
}
