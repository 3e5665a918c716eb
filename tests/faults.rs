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
        // Beyond the budget: give up at once, not after the budget; said as a sentence.
        out.code(69)
            .stderr_has("503")
            .stderr_has("the server asked to retry after more than a year, beyond the budget")
            .stderr_lacks("18446744073709551616");
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

// ---- malformed HTTP and the retry shape ------------------------------------------------------

/// A loopback server that reads one request head, answers every connection with `reply`, then
/// closes. Returns its URL and a counter of the requests it read.
fn raw_server(reply: Vec<u8>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match conn.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = conn.write_all(&reply);
        }
    });
    (url, count)
}

#[test]
fn malformed_http_answers_are_final_protocol_errors_not_retried() {
    let ok_head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n";
    let huge_header = format!("{ok_head}X-Padding: {}\r\n\r\n", "a".repeat(1024 * 1024));
    let cases: [(&str, String); 5] = [
        (
            "a bad chunk size",
            format!("{ok_head}Transfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"),
        ),
        (
            "two different Content-Length values",
            format!("{ok_head}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{{}}"),
        ),
        ("an oversized header", huge_header),
        (
            "an unknown protocol version",
            "HTTP/3.7 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                .to_owned(),
        ),
        (
            "a status line that is not HTTP",
            "SPDY/1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_owned(),
        ),
    ];
    let fake = cloud(vec![]);
    for (what, reply) in cases {
        let (url, requests) = raw_server(reply.into_bytes());
        let out = Test::new()
            .cloud(&fake)
            .env("SYSTEMPROMPT_API_URL", &url)
            .args(["--whoami-timeout", "10", "true"])
            .run();
        assert_eq!(out.code, 76, "{what}: {}", out.stderr);
        out.stderr_has("not valid HTTP/1.1")
            .stderr_lacks("retrying");
        assert_eq!(
            requests.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{what}: retried"
        );
        out.took(Duration::ZERO, Duration::from_secs(5));
    }
}

#[test]
fn a_proxy_asking_for_authentication_is_final_not_retried() {
    let (proxy, requests) = raw_server(
        b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
    );
    let fake = cloud(vec![]);
    // A name for the proxy to resolve (RFC 6761 `.invalid`); we never resolve it ourselves.
    let out = Test::new()
        .cloud(&fake)
        .env("SYSTEMPROMPT_API_URL", "https://api.systemprompt.invalid")
        .env("HTTPS_PROXY", &proxy)
        .args(["--whoami-timeout", "10", "true"])
        .run();
    out.code(76)
        .stderr_has("407 Proxy Authentication Required")
        .stderr_lacks("retrying");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    out.took(Duration::ZERO, Duration::from_secs(5));
    assert_eq!(fake.requests(), 0);
}

/// Against a server answering 503 forever, a 10 s budget: every wait comes from its attempt's
/// full backoff window and the call gives up once the next window does not fit (one last
/// attempt at most), instead of squeezing ever shorter waits into the budget's last second
/// (16 attempts, 8 of them in the last second, before this was fixed).
#[test]
fn a_persistent_503_is_retried_in_whole_backoff_windows_not_squeezed_into_the_budget() {
    let fake = cloud((0..1000).map(|_| status(503)).collect());
    let out = Test::new()
        .cloud(&fake)
        .args(["--whoami-timeout", "10", "true"])
        .run();
    out.code(69).stderr_has("503");
    let n = fake.requests();
    eprintln!("a persistent 503 with a 10 s budget: {n} requests");
    // Windows of 0.25, 0.5, 1, 2, 4, 5, 5... s: about 7 to 9 attempts fit in 10 s.
    assert!((4..=11).contains(&n), "{n} requests");
    // Each logged wait, with the attempt after it, fits in what was left; after a "last
    // attempt" nothing more is tried.
    let retries: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("retrying in"))
        .collect();
    assert_eq!(retries.len() + 1, n, "{}", out.stderr);
    let last = retries.iter().position(|l| l.contains("the last attempt"));
    assert!(
        last.is_none_or(|i| i + 1 == retries.len()),
        "{}",
        out.stderr
    );
    out.took(Duration::ZERO, Duration::from_secs(14));
}

// ---- a hanging DNS server ---------------------------------------------------------------------

#[test]
fn the_whoami_budget_holds_in_run_and_check_mode_with_a_hanging_dns_server() {
    let test = "the_whoami_budget_holds_in_run_and_check_mode_with_a_hanging_dns_server";
    let Some(dns) = common::SilentDns::start(test) else {
        return;
    };
    let fake = cloud(vec![]);
    for mode in [
        &["true"][..],
        &["check"],
        &["check", "--json"],
        &["--init", "always", "true"],
    ] {
        let out = Test::new()
            .cloud(&fake)
            .env("SYSTEMPROMPT_API_URL", "https://api.hang.invalid")
            .env_remove("SSL_CERT_FILE")
            .resolver(&dns)
            .args(["--whoami-timeout", "2"])
            .args(mode)
            .run();
        assert_eq!(out.code, 69, "{mode:?}: {}", out.stderr);
        out.stderr_has("timed out");
        // The resolver would hang for 2 x 30 s: the budget (2 s) ends it, in every mode.
        out.took(Duration::from_secs(2), Duration::from_secs(10));
    }
    assert_eq!(fake.requests(), 0);
}

#[test]
fn a_stop_signal_during_a_hanging_dns_lookup_ends_the_bootstrap_at_once() {
    let test = "a_stop_signal_during_a_hanging_dns_lookup_ends_the_bootstrap_at_once";
    let fake = cloud(vec![]);
    for mode in [&["true"][..], &["check"], &["--init", "always", "true"]] {
        // A server of its own per run: a query left over from the last one is no signal.
        let Some(dns) = common::SilentDns::start(test) else {
            return;
        };
        let t = Test::new()
            .cloud(&fake)
            .env("SYSTEMPROMPT_API_URL", "https://api.hang.invalid")
            .env_remove("SSL_CERT_FILE")
            .resolver(&dns)
            .args(["--whoami-timeout", "60"])
            .args(mode);
        let child = t
            .command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        assert!(
            dns.wait_for_query(Duration::from_secs(20)),
            "no DNS query arrived"
        );
        let pid = child.id();
        let out = common::signal_and_wait(child, pid, nix::sys::signal::Signal::SIGTERM);
        t.scan(&out);
        assert_eq!(out.code, 143, "{mode:?}: {}", out.stderr);
        assert!(out.stderr.contains("SIGTERM"), "{mode:?}: {}", out.stderr);
        eprintln!(
            "{mode:?}: SIGTERM during a DNS lookup answered in {:?}",
            out.elapsed
        );
        out.took(Duration::ZERO, Duration::from_secs(1));
    }
}

// ---- files that never end or never open ------------------------------------------------------

/// A valid token for `fake` in a file, for the `_FILE` tests.
fn token_file(fake: &FakeCloud, dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let token = fake.token(common::EMAIL, 86_400);
    let path = dir.join("token");
    std::fs::write(&path, &token).unwrap();
    (token, path)
}

#[test]
fn a_file_variable_naming_dev_zero_or_a_huge_sparse_file_is_refused_with_bounded_memory() {
    let fake = cloud(vec![]);
    let dir = common::scratch("huge-files");
    let sparse = dir.join("sparse");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let sparse = sparse.to_str().unwrap();
    let (_, token_path) = token_file(&fake, &dir);
    let token_path = token_path.to_str().unwrap();
    for (var, path, what) in [
        (
            "SYSTEMPROMPT_API_TOKEN_FILE",
            "/dev/zero",
            "a character device",
        ),
        ("SYSTEMPROMPT_API_TOKEN_FILE", sparse, "larger than"),
        ("SYSTEMPROMPT_USER_EMAIL_FILE", sparse, "larger than"),
        ("SSL_CERT_FILE", "/dev/zero", "a character device"),
        ("SSL_CERT_FILE", sparse, "larger than"),
    ] {
        let mut t = Test::new().cloud(&fake);
        if var == "SYSTEMPROMPT_API_TOKEN_FILE" {
            t = t.env_remove("SYSTEMPROMPT_API_TOKEN");
        }
        if var == "SYSTEMPROMPT_USER_EMAIL_FILE" {
            t = t
                .env_remove("SYSTEMPROMPT_USER_EMAIL")
                .env_remove("SYSTEMPROMPT_API_TOKEN")
                .env("SYSTEMPROMPT_API_TOKEN_FILE", token_path);
        }
        let (out, peak_kib) = t.env(var, path).args(["true"]).run_measured();
        assert_eq!(out.code, 78, "{var}={path}: {}", out.stderr);
        out.stderr_has(var).stderr_has(what);
        eprintln!("{var}={path}: peak RSS {peak_kib} KiB");
        // Refused unread (a device; a size over the limit). wait4's figure is an upper bound:
        // it includes this test process's pages at the fork. Reading 8 GiB would not fit.
        assert!(
            peak_kib < 32 * 1024,
            "{var}={path}: peak RSS {peak_kib} KiB"
        );
        out.took(Duration::ZERO, Duration::from_secs(10));
    }
    assert_eq!(fake.requests(), 0);
}

#[test]
fn a_file_variable_naming_a_fifo_without_a_writer_is_refused_at_once() {
    let fake = cloud(vec![]);
    let dir = common::scratch("fifo");
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let fifo = fifo.to_str().unwrap();
    for var in [
        "SYSTEMPROMPT_API_TOKEN_FILE",
        "SYSTEMPROMPT_USER_EMAIL_FILE",
        "SSL_CERT_FILE",
    ] {
        let mut t = Test::new().cloud(&fake);
        if let Some(plain) = var
            .strip_suffix("_FILE")
            .filter(|v| v.starts_with("SYSTEMPROMPT"))
        {
            t = t.env_remove(plain);
        }
        let out = t.env(var, fifo).args(["true"]).run();
        assert_eq!(out.code, 78, "{var}: {}", out.stderr);
        out.stderr_has(var).stderr_has("a FIFO");
        out.took(Duration::ZERO, Duration::from_secs(10));
    }
    // `/dev/stdin` under `docker run -i`: a pipe that nobody writes to.
    let t = Test::new()
        .cloud(&fake)
        .env_remove("SYSTEMPROMPT_API_TOKEN")
        .env("SYSTEMPROMPT_API_TOKEN_FILE", "/dev/stdin")
        .args(["true"]);
    let mut child = t
        .command()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let start = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    drop(stdin);
    let out = common::outcome(&output, 0, start.elapsed());
    t.scan(&out);
    out.code(78)
        .stderr_has("SYSTEMPROMPT_API_TOKEN_FILE")
        .stderr_has("a FIFO");
    out.took(Duration::ZERO, Duration::from_secs(10));
    assert_eq!(fake.requests(), 0);
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
