//! Tests of the `fake-cloud` binary: `mint`, `run` and `serve`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_fake-cloud");

#[test]
fn mint_prints_a_valid_token() {
    let out = Command::new(BIN)
        .args(["mint", "--email", "m@example.com", "--ttl", "60"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = fake_cloud::verify_token(token.trim(), fake_cloud::now_secs()).unwrap();
    assert_eq!(claims["email"], "m@example.com");

    let out = Command::new(BIN)
        .args(["mint", "--email", "m@example.com", "--ttl", "-5"])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        fake_cloud::verify_token(token.trim(), fake_cloud::now_secs()),
        Err(fake_cloud::Rejection::Expired)
    );
}

#[test]
fn run_sets_the_env_and_passes_the_exit_code_on() {
    let out = Command::new(BIN)
        .args(["run", "--tls", "--email", "r@example.com", "--"])
        .args(["sh", "-c"])
        .arg(
            r#"echo "$SYSTEMPROMPT_API_TOKEN|$SYSTEMPROMPT_USER_EMAIL|$SYSTEMPROMPT_API_URL|$SSL_CERT_FILE"; test -s "$SSL_CERT_FILE" || exit 9; exit 7"#,
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let parts: Vec<&str> = stdout.trim().split('|').collect();
    assert_eq!(parts.len(), 4);
    assert!(fake_cloud::verify_token(parts[0], fake_cloud::now_secs()).is_ok());
    assert_eq!(parts[1], "r@example.com");
    assert!(parts[2].starts_with("https://127.0.0.1:"));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("r@example.com"), "{stderr}");
    assert!(stderr.contains(parts[2]), "{stderr}");
    assert!(stderr.contains("requests=0"), "{stderr}");
    assert!(
        !stderr.contains(parts[0]),
        "the token must never be printed"
    );
    assert!(
        !stderr.contains("sp_test_"),
        "the token must never be printed"
    );
}

#[test]
fn run_reports_signals_and_missing_commands() {
    let status = Command::new(BIN)
        .args(["run", "--", "sh", "-c", "kill -TERM $$"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(128 + 15));
    let status = Command::new(BIN)
        .args(["run", "--", "/nonexistent/command"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(127));
    let status = Command::new(BIN)
        .args(["run", "--script", "bogus", "--", "true"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn serve_prints_the_url_answers_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("fake-cloud-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url_file = dir.join("url");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--quiet",
            "--script",
            "503:retry-after=3",
            "--url-file",
        ])
        .arg(&url_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("fake-cloud listening on ")
        .unwrap();
    assert_eq!(std::fs::read_to_string(&url_file).unwrap(), url);

    let hostport = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(hostport).unwrap();
    s.write_all(b"GET /api/v1/auth/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{resp}"
    );
    assert!(resp.contains("Retry-After: 3\r\n"), "{resp}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("requests=1"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
