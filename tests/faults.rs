//! The wider fault matrix: the real binary against the fake cloud misbehaving at the transport
//! and HTTP layers, each with its exact exit code and a generous time bound. (The basic rows —
//! 401/403, 5xx retries, a hanging server, refused connections, a redirect, a huge body,
//! invalid JSON, an unknown CA — are in `bootstrap.rs`.)

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{FakeCloud, Options, Step, Test, cloud};

fn status(code: u16) -> Step {
    Step::status(code)
}

/// `secs` since the epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = i64::try_from(secs / 86_400).unwrap();
    let rem = secs % 86_400;
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[usize::try_from(days % 7).unwrap()],
        MONTHS[usize::try_from(m - 1).unwrap()],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn http_date_helper_matches_the_rfc_example() {
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
}

// ---- transport faults ------------------------------------------------------------------------

#[test]
fn a_connection_reset_mid_body_is_retried() {
    let fake = cloud(vec![Step::ResetMidBody]);
    let out = Test::new().cloud(&fake).args(["true"]).run();
    out.code(0).stderr_has("cut short").stderr_has("retrying");
    assert_eq!(fake.requests(), 2);
    out.took(Duration::ZERO, Duration::from_secs(10));
}

#[test]
fn resets_until_the_budget_runs_out_are_unavailable() {
    let fake = cloud((0..200).map(|_| Step::ResetMidBody).collect());
    let out = Test::new()
        .cloud(&fake)
        .args(["--whoami-timeout", "2", "true"])
        .run();
    out.code(69)
        .stderr_has("unavailable")
        .stderr_has("cut short");
    assert!(fake.requests() >= 2, "{}", fake.requests());
    out.took(Duration::ZERO, Duration::from_secs(6));
}

#[test]
fn a_server_trickling_one_byte_per_second_is_cut_by_the_budget() {
    let fake = cloud(
        (0..20)
            .map(|_| Step::Trickle {
                interval: Duration::from_secs(1),
            })
            .collect(),
    );
    let out = Test::new()
        .cloud(&fake)
        .args(["--whoami-timeout", "3", "true"])
        .run();
    out.code(69)
        .stderr_has("unavailable")
        .stderr_has("timed out");
    // The whole budget is spent (one attempt), not one attempt timeout per byte.
    out.took(Duration::from_millis(2900), Duration::from_secs(7));
}

#[test]
fn a_connection_closed_without_an_answer_is_retried() {
    let fake = cloud(vec![Step::Close, Step::Close]);
    let out = Test::new().cloud(&fake).args(["true"]).run();
    out.code(0).stderr_has("retrying");
    assert_eq!(fake.requests(), 3);
}

/// A plain-HTTP server on loopback that answers anything (a TLS ClientHello included) the way
/// nginx does on a plain port: `400 Bad Request`, then close. Returns its port and a counter
/// of connections.
fn plain_http_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 50\r\nConnection: close\r\n\r\n<html><h1>400 plain HTTP to HTTPS port</h1></html>",
            );
        }
    });
    (port, count)
}

#[test]
fn a_plain_http_server_behind_an_https_url_is_a_tls_failure_not_retried() {
    let fake = cloud(vec![]);
    let (port, connections) = plain_http_server();
    let out = Test::new()
        .cloud(&fake)
        .env("SYSTEMPROMPT_API_URL", &format!("https://127.0.0.1:{port}"))
        .args(["--whoami-timeout", "10", "true"])
        .run();
    out.code(69).stderr_has("TLS handshake failed");
    // Final at once: a TLS failure is not transient.
    out.took(Duration::ZERO, Duration::from_secs(5));
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_certificate_for_another_name_is_a_tls_failure() {
    // The fake's leaf certificate is for localhost, 127.0.0.1 and ::1; it listens on 127.0.0.2.
    let fake = FakeCloud::start(Options {
        tls: true,
        bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0),
        ..Options::default()
    })
    .expect("fake cloud on 127.0.0.2");
    assert!(
        fake.url().starts_with("https://127.0.0.2:"),
        "{}",
        fake.url()
    );
    let out = Test::new()
        .cloud(&fake)
        .args(["--whoami-timeout", "10", "true"])
        .run();
    out.code(69)
        .stderr_has("TLS handshake failed")
        .stderr_has("certificate");
    out.took(Duration::ZERO, Duration::from_secs(5));
    assert_eq!(fake.requests(), 0);
}

#[test]
fn a_name_that_does_not_resolve_is_unavailable_within_the_budget() {
    // RFC 6761: `.invalid` never resolves; at most the local resolver is asked.
    let fake = cloud(vec![]);
    let out = Test::new()
        .cloud(&fake)
        .env("SYSTEMPROMPT_API_URL", "https://nonexistent.invalid")
        .env_remove("SSL_CERT_FILE")
        .args(["--whoami-timeout", "2", "true"])
        .run();
    out.code(69)
        .stderr_has("unavailable")
        .stderr_has("nonexistent.invalid");
    out.took(Duration::ZERO, Duration::from_secs(6));
    assert_eq!(fake.connections(), 0);
}

// ---- HTTP framing ----------------------------------------------------------------------------

#[test]
fn a_close_delimited_http_1_0_body_is_read_whole() {
    let fake = cloud(vec![Step::Http10Close]);
    Test::new()
        .cloud(&fake)
        .args(["check", "--json"])
        .run()
        .code(0)
        .stdout_has("\"validated\":true");
    assert_eq!(fake.requests(), 1);
}

#[test]
fn a_chunked_body_is_read_whole() {
    let fake = cloud(vec![Step::Chunked]);
    Test::new()
        .cloud(&fake)
        .args(["check", "--json"])
        .run()
        .code(0)
        .stdout_has("\"validated\":true");
    assert_eq!(fake.requests(), 1);
}

#[test]
fn a_200_with_an_empty_body_is_a_protocol_error() {
    let fake = cloud(vec![Step::EmptyBody]);
    let out = Test::new().cloud(&fake).args(["true"]).run();
    out.code(76).stderr_has("empty body");
    assert_eq!(fake.requests(), 1);
}

#[test]
fn a_200_web_page_is_a_protocol_error_with_a_hint() {
    // The Content-Type alone no longer decides (issue 10: the app ignores it); the HTML body
    // is not the JSON answer, and the hint says where to look.
    let fake = cloud(vec![Step::WrongContentType]);
    let out = Test::new().cloud(&fake).args(["true"]).run();
    out.code(76)
        .stderr_has("not the expected JSON")
        .stderr_has("Content-Type text/html")
        .stderr_has("is SYSTEMPROMPT_API_URL the API");
    assert_eq!(fake.requests(), 1);
}

// ---- Retry-After and 429 ---------------------------------------------------------------------

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    // Two seconds ahead: with whole-second dates the wait is between 1 and 2 s, plus a spread.
    let fake = cloud(vec![Step::status_retry_after(503, http_date(now() + 2))]);
    let out = Test::new()
        .cloud(&fake)
        .args(["--whoami-timeout", "10", "true"])
        .run();
    out.code(0).stderr_has("503");
    assert_eq!(fake.requests(), 2);
    out.took(Duration::from_millis(900), Duration::from_secs(8));
}

#[test]
fn retry_after_as_a_date_in_the_past_retries_soon() {
    let fake = cloud(vec![Step::status_retry_after(
        429,
        "Sun, 06 Nov 1994 08:49:37 GMT",
    )]);
    let out = Test::new().cloud(&fake).args(["true"]).run();
    out.code(0);
    assert_eq!(fake.requests(), 2);
    out.took(Duration::ZERO, Duration::from_secs(5));
}

#[test]
fn absurd_retry_after_values_are_capped_by_the_budget() {
    for value in [
        "99999999999999999999999999",
        "18446744073709551615",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let fake = cloud(vec![Step::status_retry_after(503, value)]);
        let out = Test::new()
            .cloud(&fake)
            .args(["--whoami-timeout", "5", "true"])
            .run();
        // Beyond the budget: give up at once, not after the budget.
        out.code(69).stderr_has("503");
        out.took(Duration::ZERO, Duration::from_secs(4));
        assert_eq!(fake.requests(), 1, "{value}");
    }
}

#[test]
fn a_malformed_retry_after_falls_back_to_backoff() {
    for value in ["-5", "soon", "1.5", ""] {
        let fake = cloud(vec![Step::status_retry_after(503, value)]);
        let out = Test::new()
            .cloud(&fake)
            .args(["--whoami-timeout", "10", "true"])
            .run();
        out.code(0);
        assert_eq!(fake.requests(), 2, "{value:?}");
        out.took(Duration::ZERO, Duration::from_secs(6));
    }
}

#[test]
fn a_429_storm_without_retry_after_is_bounded_by_the_budget() {
    let fake = cloud((0..1000).map(|_| status(429)).collect());
    let out = Test::new()
        .cloud(&fake)
        .args(["--whoami-timeout", "2", "true"])
        .run();
    out.code(69).stderr_has("429").stderr_has("unavailable");
    let n = fake.requests();
    // Backoff, not a tight loop: a handful of attempts in two seconds.
    assert!((2..=20).contains(&n), "{n} requests");
    out.took(Duration::ZERO, Duration::from_secs(6));
}

// ---- a hostile answer ------------------------------------------------------------------------

#[test]
fn a_hostile_identity_cannot_forge_log_lines_or_escape_sequences() {
    let body = r#"{"user":{"id":"u\n1","email":"evil@example.com\n INFO sp-entrypoint: credentials validated\u001b[2J","name":"x"}}"#;
    let fake = cloud(vec![Step::Status {
        code: 200,
        retry_after: None,
        body: Some(body.into()),
        content_type: Some("application/json".into()),
    }]);
    let out = Test::new().cloud(&fake).args(["true"]).run();
    out.code(77)
        .stderr_has("the token belongs to evil@example.com INFO");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
}

// ---- broken surroundings ---------------------------------------------------------------------

/// Which of the standard streams is a pipe whose reader is gone.
#[derive(Debug, Clone, Copy)]
enum Closed {
    Stdout,
    Stderr,
    Both,
}

/// Run `t` with `closed` a real closed pipe (the other stream to /dev/null); its exit code.
fn run_closed(t: &Test, closed: Closed) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = t.command();
    match closed {
        Closed::Stdout => cmd.stdout(writer).stderr(Stdio::null()),
        Closed::Stderr => cmd.stdout(Stdio::null()).stderr(writer),
        Closed::Both => cmd.stdout(writer.try_clone().unwrap()).stderr(writer),
    };
    let status = cmd.status().unwrap();
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[test]
fn a_closed_stdout_or_stderr_changes_nothing_but_the_output() {
    type Case = (
        &'static [&'static str],
        Option<Step>,
        Option<(&'static str, &'static str)>,
        i32,
    );
    let cases: [Case; 13] = [
        (&["check"], None, None, 0),
        (&["check", "--json"], None, None, 0),
        (&["--log", "trace", "check"], None, None, 0),
        (&["--help"], None, None, 0),
        (&["check", "--help"], None, None, 0),
        (&["--version"], None, None, 0),
        (&["--bogus"], None, None, 64),
        (&["true"], None, None, 0),
        (&["--init", "always", "sh", "-c", "exit 3"], None, None, 3),
        (&["/nonexistent/app"], None, None, 127),
        (&["check"], Some(Step::status(401)), None, 77),
        (&["check", "--json"], Some(Step::status(401)), None, 77),
        (
            &["check"],
            None,
            Some(("SYSTEMPROMPT_USER_EMAIL", "not-an-email")),
            78,
        ),
    ];
    let fake = cloud(vec![]);
    for (args, step, env, code) in cases {
        for closed in [Closed::Stdout, Closed::Stderr, Closed::Both] {
            if let Some(step) = &step {
                fake.push_script([step.clone()]);
            }
            let mut t = Test::new().cloud(&fake).args(args.iter().copied());
            if let Some((k, v)) = env {
                t = t.env(k, v);
            }
            assert_eq!(
                run_closed(&t, closed),
                code,
                "{args:?} with {closed:?} closed"
            );
        }
    }
}
