//! End-to-end tests: a real `FakeCloud` on loopback and a plain blocking client.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use fake_cloud::{FakeCloud, Options, Stats, Step};

/// A parsed response.
#[derive(Debug)]
struct Resp {
    version: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn addr(fake: &FakeCloud) -> SocketAddr {
    fake.local_addr()
}

fn request(path: &str, token: Option<&str>, close: bool) -> String {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n");
    if let Some(t) = token {
        req = format!("{req}Authorization: Bearer {t}\r\n");
    }
    if close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    req
}

/// Read one response (Content-Length, chunked, or to EOF).
fn read_resp(r: &mut impl BufRead) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap().to_owned();
    let status: u16 = parts.next().unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':').unwrap();
        headers.push((n.to_owned(), v.trim().to_owned()));
    }
    let mut resp = Resp {
        version,
        status,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = resp.header("content-length") {
        let mut body = vec![0; len.parse().unwrap()];
        r.read_exact(&mut body).unwrap();
        resp.body = body;
    } else if resp.header("transfer-encoding") == Some("chunked") {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim_end(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).unwrap();
            assert_eq!(&chunk[size..], b"\r\n");
            if size == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        r.read_to_end(&mut resp.body).unwrap();
    }
    resp
}

fn get(fake: &FakeCloud, path: &str, token: Option<&str>) -> Resp {
    let mut s = TcpStream::connect(addr(fake)).unwrap();
    s.write_all(request(path, token, true).as_bytes()).unwrap();
    read_resp(&mut BufReader::new(s))
}

const ME: &str = "/api/v1/auth/me";

#[test]
fn ok_unauthorized_not_found_and_stats() {
    let fake = FakeCloud::start(Options::default()).unwrap();
    assert!(fake.url().starts_with("http://127.0.0.1:"));
    assert!(!fake.url().ends_with('/'));
    assert!(fake.ca_pem_path().is_none());

    let good = fake.token("user@example.com", 3600);
    let r = get(&fake, ME, Some(&good));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["user"]["email"], "user@example.com");
    assert_eq!(j["user"]["id"], "user_1");
    assert_eq!(j["user"]["name"], "Fake User");
    assert_eq!(j["customer"]["status"], "active");
    assert_eq!(j["tenants"], serde_json::json!([]));
    assert!(j["enterprise"].is_null());
    assert_eq!(j["extra_field_to_ignore"], 1);

    for token in [
        None,
        Some("garbage".to_owned()),
        Some(fake.token("user@example.com", -10)),
        Some(fake_cloud::mint_token_with_payload(r#"{"exp":"later"}"#)),
    ] {
        let r = get(&fake, ME, token.as_deref());
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.json()["error"]["code"], "unauthorized");
        assert_eq!(r.json()["error"]["message"], "invalid or expired token");
    }

    // A token without exp and without email is accepted; the informational email fills in.
    let r = get(&fake, ME, Some(&fake_cloud::mint_token_with_payload("{}")));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["user"]["email"], fake_cloud::DEFAULT_EMAIL);

    let r = get(&fake, "/nope", Some(&good));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");

    let r = get(&fake, "/_fake/stats", None);
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["requests"], 6);
    assert_eq!(j["ok"], 2);
    assert_eq!(j["unauthorized"], 4);
    assert_eq!(j["rate_limited"], 0);
    assert_eq!(j["scripted"], 0);
    assert_eq!(
        fake.stats(),
        Stats {
            requests: 6,
            ok: 2,
            unauthorized: 4,
            rate_limited: 0,
            scripted: 0,
            connections: 8,
        }
    );
    assert_eq!(fake.requests(), 6);
    assert_eq!(fake.connections(), 8);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let fake = FakeCloud::start(Options::default()).unwrap();
    let token = fake.token("a@example.com", 60);
    let mut s = TcpStream::connect(addr(&fake)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for _ in 0..3 {
        s.write_all(request(ME, Some(&token), false).as_bytes())
            .unwrap();
        assert_eq!(read_resp(&mut r).status, 200);
    }
    // Pipelined: two requests in one write.
    let two = request(ME, Some(&token), false) + &request(ME, None, true);
    s.write_all(two.as_bytes()).unwrap();
    assert_eq!(read_resp(&mut r).status, 200);
    assert_eq!(read_resp(&mut r).status, 401);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(fake.connections(), 1);
    assert_eq!(fake.requests(), 5);
}

#[test]
fn script_is_consumed_in_order_then_default() {
    let other = FakeCloud::start(Options::default()).unwrap();
    let location = format!("{}/api/v1/auth/me", other.url());
    let fake = FakeCloud::start(Options::default().script([
        Step::status_retry_after(503, "2"),
        Step::status_retry_after(429, "Wed, 21 Oct 2015 07:28:00 GMT"),
        Step::Status {
            code: 500,
            retry_after: None,
            body: Some("plain oops".into()),
            content_type: Some("text/plain".into()),
        },
        Step::Redirect {
            code: 307,
            location: location.clone(),
        },
    ]))
    .unwrap();
    let token = fake.token("a@example.com", 60);

    let r = get(&fake, ME, Some(&token));
    assert_eq!((r.status, r.header("retry-after")), (503, Some("2")));
    assert_eq!(r.json()["error"]["code"], "scripted_status");
    let r = get(&fake, ME, Some(&token));
    assert_eq!(r.status, 429);
    assert_eq!(
        r.header("retry-after"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
    let r = get(&fake, ME, Some(&token));
    assert_eq!(r.status, 500);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.body, b"plain oops");
    let r = get(&fake, ME, Some(&token));
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some(location.as_str()));
    // Script used up: the default (real auth).
    assert_eq!(get(&fake, ME, Some(&token)).status, 200);

    // push_script appends.
    fake.push_script([Step::status(502)]);
    assert_eq!(get(&fake, ME, Some(&token)).status, 502);
    assert_eq!(get(&fake, ME, Some(&token)).status, 200);

    let s = fake.stats();
    assert_eq!((s.requests, s.scripted, s.ok), (7, 5, 2));
    // Nothing reached the origin the redirect points at.
    assert_eq!(other.connections(), 0);
    assert_eq!(other.requests(), 0);
}

#[test]
fn default_step_applies_after_script() {
    let fake = FakeCloud::start(
        Options::default()
            .script([Step::Ok])
            .default_step(Step::status(503)),
    )
    .unwrap();
    let token = fake.token("a@example.com", 60);
    assert_eq!(get(&fake, ME, Some(&token)).status, 200);
    assert_eq!(get(&fake, ME, Some(&token)).status, 503);
    assert_eq!(get(&fake, ME, Some(&token)).status, 503);
}

#[test]
fn huge_bodies_stream_and_survive_clients_leaving() {
    let fake = FakeCloud::start(Options::default().script([
        Step::HugeBody { bytes: 1 << 40 },
        Step::HugeBody {
            bytes: 3 * 65536 + 7,
        },
        Step::HugeChunked {
            bytes: 2 * 65536 + 5,
        },
        Step::HugeChunked { bytes: 1 << 40 },
    ]))
    .unwrap();

    // 1 TiB announced; read 1 MiB and hang up.
    let mut s = TcpStream::connect(addr(&fake)).unwrap();
    s.write_all(request(ME, None, true).as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"));
    let mut head = String::new();
    while line != "\r\n" {
        line.clear();
        r.read_line(&mut line).unwrap();
        head.push_str(&line);
    }
    assert!(head.contains("Content-Length: 1099511627776"), "{head}");
    let mut mib = vec![0; 1 << 20];
    r.read_exact(&mut mib).unwrap();
    drop(r);

    let r = get(&fake, ME, None);
    assert_eq!(r.body.len(), 3 * 65536 + 7);
    let r = get(&fake, ME, None);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.header("content-length").is_none());
    assert_eq!(r.body.len(), 2 * 65536 + 5);

    let mut s = TcpStream::connect(addr(&fake)).unwrap();
    s.write_all(request(ME, None, true).as_bytes()).unwrap();
    let mut buf = vec![0; 1 << 20];
    s.read_exact(&mut buf).unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(s);

    // The server still answers.
    let token = fake.token("a@example.com", 60);
    assert_eq!(get(&fake, ME, Some(&token)).status, 200);
    assert_eq!(fake.stats().scripted, 4);
}

#[test]
fn body_misbehaviours() {
    let fake = FakeCloud::start(Options::default().script([
        Step::InvalidJson,
        Step::EmptyBody,
        Step::WrongContentType,
        Step::Http10Close,
        Step::Chunked,
        Step::Delay(Duration::from_millis(20)),
        Step::Trickle {
            interval: Duration::from_millis(1),
        },
    ]))
    .unwrap();
    let token = fake.token("t@example.com", 60);

    let r = get(&fake, ME, Some(&token));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"{\"user\": "[..]));
    assert_eq!(r.header("content-type"), Some("application/json"));

    let r = get(&fake, ME, Some(&token));
    assert_eq!((r.status, r.header("content-length")), (200, Some("0")));
    assert!(r.body.is_empty());

    let r = get(&fake, ME, Some(&token));
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.body.starts_with(b"<!doctype html>"));

    let r = get(&fake, ME, Some(&token));
    assert_eq!((r.version.as_str(), r.status), ("HTTP/1.0", 200));
    assert!(r.header("content-length").is_none());
    assert_eq!(r.json()["user"]["email"], "t@example.com");

    for _ in 0..3 {
        let r = get(&fake, ME, Some(&token));
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["user"]["email"], "t@example.com");
    }
    assert_eq!(fake.stats().ok, 4);
}

#[test]
fn connection_misbehaviours() {
    let fake =
        FakeCloud::start(Options::default().script([Step::Close, Step::ResetMidBody, Step::Hang]))
            .unwrap();

    // Close: EOF without a byte.
    let mut s = TcpStream::connect(addr(&fake)).unwrap();
    s.write_all(request(ME, None, false).as_bytes()).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.is_empty());

    // ResetMidBody: a 500-byte promise, 20 bytes, then a reset.
    let mut s = TcpStream::connect(addr(&fake)).unwrap();
    s.write_all(request(ME, None, false).as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    let err = loop {
        match s.read(&mut buf) {
            Ok(0) => panic!("clean EOF instead of a reset"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let text = String::from_utf8(got).unwrap();
    assert!(text.contains("Content-Length: 500"));
    assert_eq!(text.split("\r\n\r\n").nth(1).unwrap().len(), 20);

    // Hang: no answer (a read timeout here is the assertion, not synchronisation).
    let mut s = TcpStream::connect(addr(&fake)).unwrap();
    s.write_all(request(ME, None, false).as_bytes()).unwrap();
    assert!(fake.wait_for_requests(3, Duration::from_secs(10)));
    assert!(!fake.wait_for_requests(4, Duration::from_millis(1)));
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let e = s.read(&mut buf).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    drop(s);
    assert_eq!(fake.stats().scripted, 3);
}

#[test]
fn rate_limit_answers_429() {
    let fake = FakeCloud::start(Options::default().rate_limit(2)).unwrap();
    let token = fake.token("a@example.com", 60);
    let mut s = TcpStream::connect(addr(&fake)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut limited = 0;
    for _ in 0..10 {
        s.write_all(request(ME, Some(&token), false).as_bytes())
            .unwrap();
        let resp = read_resp(&mut r);
        if resp.status == 429 {
            assert_eq!(resp.header("retry-after"), Some("1"));
            assert_eq!(resp.json()["error"]["code"], "rate_limited");
            limited += 1;
        } else {
            assert_eq!(resp.status, 200);
        }
    }
    let stats = fake.stats();
    assert_eq!(stats.rate_limited, limited);
    assert_eq!(stats.requests, 10);
    assert_eq!(stats.ok + stats.rate_limited, 10);
    // Capacity 2 plus at most a couple of refills while the loop ran.
    assert!(stats.ok >= 2 && stats.ok <= 4, "{stats}");
}

#[test]
fn many_concurrent_connections() {
    fake_cloud::raise_fd_limit().unwrap();
    let fake = FakeCloud::start(Options::default()).unwrap();
    let token = fake.token("herd@example.com", 60);
    let req = request(ME, Some(&token), true);
    // Open them all first, so the server holds 1000 connections at once.
    let mut conns: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(addr(&fake)).unwrap())
        .collect();
    for c in &mut conns {
        c.write_all(req.as_bytes()).unwrap();
    }
    for c in conns {
        assert_eq!(read_resp(&mut BufReader::new(c)).status, 200);
    }
    assert_eq!(fake.connections(), 1000);
    assert_eq!(fake.stats().ok, 1000);
}

#[test]
fn drop_stops_the_server() {
    let fake = FakeCloud::start(Options::default().script([Step::Hang])).unwrap();
    let a = addr(&fake);
    // A hanging connection must not keep the fake alive.
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(request(ME, None, false).as_bytes()).unwrap();
    drop(fake);
    let mut buf = [0; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    assert!(TcpStream::connect(a).is_err());
}

fn tls_get(fake: &FakeCloud, server_name: &str, token: &str) -> Resp {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fake.ca_pem_path().unwrap()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr(fake)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request(ME, Some(token), true).as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    // The fake closes with close_notify after `Connection: close`.
    tls.read_to_end(&mut raw).unwrap();
    read_resp(&mut BufReader::new(raw.as_slice()))
}

#[test]
fn tls_with_generated_ca() {
    let fake = FakeCloud::start(Options::default().tls(true)).unwrap();
    assert!(fake.url().starts_with("https://127.0.0.1:"));
    let ca = fake.ca_pem_path().unwrap().to_owned();
    let pem = std::fs::read_to_string(&ca).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let token = fake.token("tls@example.com", 60);
    for name in ["127.0.0.1", "localhost"] {
        let r = tls_get(&fake, name, &token);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["user"]["email"], "tls@example.com");
    }
    drop(fake);
    assert!(!ca.exists(), "temp CA file removed on drop");
}

#[test]
fn tls_on_ipv6_with_ca_out() {
    let dir = std::env::temp_dir().join(format!("fake-cloud-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_out = dir.join("ca.pem");
    let fake = FakeCloud::start(Options::default().tls(true).ipv6().ca_out(&ca_out)).unwrap();
    assert!(fake.url().starts_with("https://[::1]:"), "{}", fake.url());
    assert_eq!(fake.ca_pem_path(), Some(ca_out.as_path()));
    let token = fake.token("v6@example.com", 60);
    assert_eq!(tls_get(&fake, "::1", &token).status, 200);
    drop(fake);
    assert!(ca_out.exists(), "ca_out is left in place");
    std::fs::remove_dir_all(&dir).unwrap();
}
