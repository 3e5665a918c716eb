//! whoami against the project's fake cloud (`fake-cloud`, scripted per request) on loopback.
//! No sleeps as synchronisation; no network but 127.0.0.1.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use fake_cloud::{FakeCloud, Options, SeenRequest, Step};

use super::policy::{Jitter, Tuning};
use super::{Identity, Request, run};
use crate::error::Error;
use crate::token::Secret;

const TOKEN: &str =
    "sp_live_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEyMyJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
const ME: &str = r#"{"user":{"id":"user_123","email":"user@example.com","name":"Optional Name"},
    "customer":{"id":"cus_1","status":"active"},"tenants":[],"enterprise":null}"#;

const JSON: &str = "application/json";

/// A fake cloud over plain HTTP that takes `script`, one step per request (then answers as
/// the real auth logic would, which refuses [`TOKEN`]: it is not signed with the fake's key).
fn serve(script: Vec<Step>) -> FakeCloud {
    FakeCloud::start(Options::default().script(script)).unwrap()
}

/// 200 `application/json` with the identity of [`ME`].
fn me() -> Step {
    Step::respond(200, JSON, ME)
}

/// The `i`-th request the fake read.
fn seen(fake: &FakeCloud, i: usize) -> SeenRequest {
    fake.seen()[i].clone()
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

/// See [`capture_logs`].
static KEEP_TWO_DISPATCHERS: LazyLock<[tracing::Dispatch; 2]> = LazyLock::new(|| {
    [(); 2].map(|()| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()))
});

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
    // tracing-core 0.1.36 caches each callsite's interest when it is first hit. While at most
    // one dispatcher is registered, that interest comes from the *hitting thread's* default
    // (`Rebuilder::JustOne`): a test running without a subscriber that first hits a callsite
    // while this capture's dispatcher is the only one caches "never", and this thread's events
    // from it are lost (seen: the retry's WARN line missing under load, 2 runs in 40). Two
    // dispatchers that live as long as the process keep it past "just one": every registration
    // then asks every live dispatcher (this one included) under the registry's lock.
    LazyLock::force(&KEEP_TWO_DISPATCHERS);
    let out = tracing::subscriber::with_default(subscriber, f);
    let logs = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, logs)
}

#[test]
fn ok_200_is_parsed_and_the_request_is_right() {
    let fake = serve(vec![me()]);
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
    let head = seen(&fake, 0);
    assert_eq!(
        (
            head.method.as_str(),
            head.target.as_str(),
            head.minor_version
        ),
        ("GET", "/api/v1/auth/me", 1),
        "{head:?}"
    );
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(head.header("authorization"), Some(bearer.as_str()));
    assert_eq!(head.header("accept"), Some("application/json"));
    let agent = format!("sp-entrypoint/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(head.header("user-agent"), Some(agent.as_str()));
    assert_eq!(fake.requests(), 1);
}

#[test]
fn localhost_works() {
    // (This was `trailing_slash_and_localhost_work`: whoami now takes the URL config
    // normalised, without a trailing slash (config's tests check that); the fake cloud, unlike
    // the old hand-written responder, answers only the exact path, so the slash is left out.)
    let fake = serve(vec![me()]);
    let url = format!("http://localhost:{}", fake.local_addr().port());
    assert!(call(&url, BUDGET, None).0.is_ok());
    assert_eq!(seen(&fake, 0).target, "/api/v1/auth/me");
}

#[test]
fn rejected_401_is_not_retried_and_never_echoes_the_token() {
    let body = format!(r#"{{"error":{{"code":"unauthorized","message":"bad token {TOKEN}"}}}}"#);
    let fake = serve(vec![Step::respond(401, JSON, body)]);
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
    assert_eq!(fake.requests(), 1);
}

#[test]
fn forbidden_403_with_plain_text_detail() {
    let fake = serve(vec![Step::respond(
        403,
        "text/plain",
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
    assert_eq!(fake.requests(), 1);
}

#[test]
fn other_4xx_and_501_are_protocol_errors_not_retried() {
    for (code, status) in [
        (404, "404 Not Found"),
        (400, "400 Bad Request"),
        (405, "405 Method Not Allowed"),
        (501, "501 Not Implemented"),
    ] {
        let fake = serve(vec![Step::respond(
            code,
            JSON,
            r#"{"error":{"code":"x","message":"no such route"}}"#,
        )]);
        let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
        assert!(
            reason.contains(&format!("HTTP {status} (no such route)")),
            "{reason}"
        );
        assert_eq!(fake.requests(), 1, "{status}");
    }
}

#[test]
fn any_2xx_with_the_identity_proves_the_token() {
    // Issue 10: the app reads any 2xx as JSON; a 201 or 203 with the identity is a proof.
    for status in [201, 203, 299] {
        let fake = serve(vec![Step::respond(status, JSON, ME)]);
        let id = call(&fake.url(), BUDGET, None).0.unwrap();
        assert_eq!(
            (id.email.as_str(), id.app_parse_error),
            ("user@example.com", None)
        );
    }
    // A 2xx without a body is still no proof.
    let fake = serve(vec![Step::respond(204, "", "")]);
    let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
    assert!(
        reason.contains("HTTP 204 with an empty body; expected JSON with user.email"),
        "{reason}"
    );
}

#[test]
fn a_503_then_200_is_retried_and_logged_without_the_token() {
    let fake = serve(vec![
        Step::respond(503, "", format!("down, your token {TOKEN}")),
        me(),
    ]);
    let ((res, _), logs) = capture_logs(|| call(&fake.url(), BUDGET, None));
    assert_eq!(res.unwrap().attempts, 2);
    assert_eq!(fake.requests(), 2);
    assert!(
        logs.contains("WARN")
            && logs.contains("whoami attempt 1 failed: HTTP 503 Service Unavailable; retrying in"),
        "{logs}"
    );
    assert!(!logs.contains("eyJ") && !logs.contains("c2ln"), "{logs}");
}

#[test]
fn a_429_retry_after_is_honoured() {
    let fake = serve(vec![Step::status_retry_after(429, "1"), me()]);
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
    let fake = serve(vec![Step::status_retry_after(429, "60")]);
    let (res, elapsed) = call(&fake.url(), Duration::from_secs(5), None);
    let (attempts, last) = unavailable(res);
    assert_eq!((attempts, fake.requests()), (1, 1));
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
    let fake = serve(vec![Step::Hang]);
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
    // Content-Length 500, 20 bytes of JSON, then a TCP reset.
    let fake = serve(vec![Step::ResetMidBody, me()]);
    let ((res, _), logs) = capture_logs(|| call(&fake.url(), BUDGET, None));
    assert_eq!(res.unwrap().attempts, 2);
    assert!(logs.contains("the body was cut short"), "{logs}");
}

#[test]
fn redirects_are_not_followed() {
    let fake = serve(vec![Step::Redirect {
        code: 302,
        location: "http://127.0.0.1:1/elsewhere?token=abc".to_owned(),
    }]);
    let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
    assert!(
        reason.contains("redirect (HTTP 302) to http://127.0.0.1:1/elsewhere not followed: the token is only ever sent to SYSTEMPROMPT_API_URL; set it to the final URL"),
        "{reason}"
    );
    assert!(!reason.contains("token=abc"), "{reason}");
    assert_eq!(fake.requests(), 1);
}

#[test]
fn bodies_over_1_mib_are_refused_with_bounded_memory() {
    // 300 MB announced (Content-Length), then 300 MB chunked without a length.
    let bytes = 300_000_000;
    for step in [Step::HugeBody { bytes }, Step::HugeChunked { bytes }] {
        let fake = serve(vec![step.clone()]);
        let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
        assert!(
            reason.contains("HTTP 200 body larger than 1048576 bytes"),
            "{reason}"
        );
        // The fake could push far less than its 300 MB before we hung up.
        assert!(
            fake.wait_for_streams(1, Duration::from_secs(10)),
            "{step:?}"
        );
        let (_, sent) = fake.streamed();
        assert!(sent < 64 * 1024 * 1024, "{step:?}: {sent}");
        assert_eq!(fake.requests(), 1);
    }
}

#[test]
fn invalid_json_empty_body_and_missing_email_are_protocol_errors() {
    for (body, needle) in [
        ("{not json", "not the expected JSON"),
        ("", "empty body"),
        (r#"{"user":{"id":"u1"}}"#, "no user.email"),
    ] {
        let fake = serve(vec![Step::respond(200, JSON, body)]);
        let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
        assert!(reason.contains(needle), "{reason}");
        assert_eq!(fake.requests(), 1);
    }
}

#[test]
fn the_content_type_is_not_required_but_a_web_page_is_no_proof() {
    // Issue 10: the app ignores the Content-Type, so the proof does too.
    for content_type in ["text/html; charset=utf-8", ""] {
        let fake = serve(vec![Step::respond(200, content_type, ME)]);
        let id = call(&fake.url(), BUDGET, None).0.unwrap();
        assert_eq!(id.email, "user@example.com");
    }
    // A captive portal's page is not JSON: refused, with the hint.
    let fake = serve(vec![Step::WrongContentType]);
    let reason = protocol_reason(call(&fake.url(), BUDGET, None).0);
    assert!(
        reason.contains("not the expected JSON")
            && reason
                .contains("Content-Type text/html; charset=utf-8: is SYSTEMPROMPT_API_URL the API"),
        "{reason}"
    );
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
    let fake = serve(vec![me()]);
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
    let proxy = serve(vec![]);
    child(
        "https://api.example.invalid",
        &[("HTTPS_PROXY", proxy.url())],
    );
    let head = seen(&proxy, 0);
    assert_eq!(
        (
            head.method.as_str(),
            head.target.as_str(),
            head.minor_version
        ),
        ("CONNECT", "api.example.invalid:443", 1),
        "{head:?}"
    );
    // A loopback API URL never goes through a proxy, whatever the variables say (the token
    // would travel in clear text to the proxy; see `proxy`).
    let proxy = serve(vec![me()]);
    let direct = serve(vec![me(), me(), me(), me()]);
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "HTTPS_PROXY"] {
        let out = child(&direct.url(), &[(var, proxy.url())]);
        assert!(out.contains("child result: Ok("), "{var}: {out}");
    }
    assert_eq!((proxy.requests(), direct.requests()), (0, 4));
    // A proxy variable holding something that is not a URL is a configuration error naming it.
    let out = child(
        "https://api.example.invalid",
        &[("HTTPS_PROXY", "http://[::1".to_owned())],
    );
    assert!(
        out.contains("HTTPS_PROXY") && out.contains("Config"),
        "{out}"
    );
}

/// A fake cloud over HTTPS (a freshly generated CA, a leaf for localhost, 127.0.0.1, ::1).
fn serve_tls(script: Vec<Step>) -> FakeCloud {
    FakeCloud::start(Options::default().tls(true).script(script)).unwrap()
}

#[test]
fn https_trusts_the_ssl_cert_file_bundle() {
    let fake = serve_tls(vec![me(), me()]);
    let ca = fake.ca_pem_path().unwrap().to_path_buf();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}", fake.local_addr().port());
        let (res, _) = call(&url, BUDGET, Some(ca.clone()));
        assert_eq!(res.unwrap().email, "user@example.com", "{host}");
    }
    assert_eq!(fake.requests(), 2);
    let head = seen(&fake, 0);
    assert_eq!(
        (
            head.method.as_str(),
            head.target.as_str(),
            head.minor_version
        ),
        ("GET", "/api/v1/auth/me", 1)
    );
}

#[test]
fn an_untrusted_certificate_fails_at_once_without_retrying() {
    let fake = serve_tls(vec![me()]);
    let url = format!("https://127.0.0.1:{}", fake.local_addr().port());
    let (res, elapsed) = call(&url, BUDGET, None);
    let (attempts, last) = unavailable(res);
    assert_eq!(attempts, 1);
    assert!(
        last.contains("TLS handshake failed: invalid peer certificate: UnknownIssuer"),
        "{last}"
    );
    assert!(last.contains("set SSL_CERT_FILE"), "{last}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(fake.requests(), 0);
}
