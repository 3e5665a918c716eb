//! Secret hygiene, end to end: the token appears in no output — at any log level (`--log trace`
//! turns the libraries' logs on too), in either log format, in `check --json`, `--help`, a usage
//! error or a panic — and never in a process's command line. Every run goes through
//! `common::Test::run`, which scans stdout and stderr for the token and its parts; the servers
//! here echo the token back in every place a server can (bodies, content types, redirect
//! targets, `Retry-After`) to make sure none of it is repeated.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{EMAIL, FakeCloud, Step, Test, cloud, read, scratch, tls_cloud};

/// The log settings every scenario runs under.
const LOG_MODES: [&[&str]; 3] = [
    &[],
    &["--log", "trace"],
    &["--log", "trace", "--log-format", "json"],
];

/// Every way the token can be echoed: whole, without its prefix, each part.
fn echo(token: &str) -> String {
    let jwt = token.split_once('_').map_or(token, |(_, r)| r);
    let jwt = jwt.split_once('_').map_or(jwt, |(_, r)| r);
    let parts: Vec<&str> = token.split('.').collect();
    format!("bad token {token} (jwt {jwt}; parts {})", parts.join(" | "))
}

/// A test against `fake` with `token` (registered as the secret) for [`EMAIL`].
fn with_token(fake: &FakeCloud, token: &str) -> Test {
    Test::new()
        .url(fake)
        .token(token)
        .env("SYSTEMPROMPT_USER_EMAIL", EMAIL)
}

fn body_step(code: u16, body: String, content_type: &str) -> Step {
    Step::Status {
        code,
        retry_after: None,
        body: Some(body),
        content_type: Some(content_type.to_owned()),
    }
}

/// A scenario: a fresh fake (kept alive for the run) and the test, token registered.
type Build = dyn Fn() -> (Vec<FakeCloud>, Test);

/// Run `build`'s scenario under every log mode, as an app run (`true`, expecting `run_code`)
/// and as `check --json` (expecting `check_code`). Returns the stderr of the trace runs.
fn matrix(build: &Build, run_code: i32, check_code: i32) -> Vec<String> {
    let mut traces = Vec::new();
    for mode in LOG_MODES {
        for (tail, code) in [
            (&["true"][..], run_code),
            (&["check", "--json"][..], check_code),
        ] {
            let (_fakes, t) = build();
            assert!(!t.secrets().is_empty(), "no secret registered");
            let out = t
                .args(mode.iter().copied())
                .args(tail.iter().copied())
                .run();
            out.code(code);
            if tail[0] == "check" && !out.stdout.trim().is_empty() {
                // A report (after whoami, whatever it answered) is one JSON object; earlier
                // failures (configuration, expiry) print only the error line.
                let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
                    .unwrap_or_else(|e| panic!("check --json: {e}: {}", out.stdout));
                assert!(v.get("api_token").is_none(), "{v}");
            }
            if !mode.is_empty() {
                traces.push(out.stderr.clone());
            }
        }
    }
    traces
}

// ---- success ---------------------------------------------------------------------------------

#[test]
fn success_at_every_level_and_format() {
    let traces = matrix(
        &|| {
            let fake = cloud(vec![]);
            let t = Test::new().cloud(&fake);
            (vec![fake], t)
        },
        0,
        0,
    );
    // The libraries' own logs really were on (so they were scanned too).
    assert!(
        traces
            .iter()
            .any(|s| s.contains("hyper") || s.contains("reqwest")),
        "no library log lines at trace:\n{}",
        traces[0]
    );
    assert!(
        traces
            .iter()
            .any(|s| s.contains("TRACE") || s.contains("\"TRACE\""))
    );
}

#[test]
fn success_over_tls_at_trace() {
    matrix(
        &|| {
            let fake = tls_cloud(vec![Step::Chunked]);
            let t = Test::new().cloud(&fake);
            (vec![fake], t)
        },
        0,
        0,
    );
}

// ---- each failure class, with the server echoing the token -----------------------------------

#[test]
fn refused_with_the_token_echoed_in_the_body() {
    matrix(
        &|| {
            let fake = cloud(vec![]);
            let token = fake.token(EMAIL, 86_400);
            let json =
                serde_json::json!({"error": {"code": "unauthorized", "message": echo(&token)}});
            fake.push_script([
                body_step(401, json.to_string(), "application/json"),
                body_step(403, echo(&token), "text/plain"),
            ]);
            {
                let t = with_token(&fake, &token);
                (vec![fake], t)
            }
        },
        77,
        77,
    );
}

#[test]
fn protocol_errors_with_the_token_echoed() {
    // Another 4xx, a 200 that is not JSON, a JSON content type holding the token, a redirect to
    // a URL holding it.
    for make in [
        |t: &str| {
            body_step(
                400,
                serde_json::json!({"message": echo(t)}).to_string(),
                "application/json",
            )
        },
        |t: &str| body_step(200, echo(t), "application/json"),
        |t: &str| body_step(200, "{}".into(), &format!("text/html; x={t}")),
        |t: &str| Step::Redirect {
            code: 302,
            location: format!("https://elsewhere.invalid/{t}/x?token={t}#{t}"),
        },
    ] {
        matrix(
            &move || {
                let fake = cloud(vec![]);
                let token = fake.token(EMAIL, 86_400);
                fake.push_script([make(&token), make(&token)]);
                {
                    let t = with_token(&fake, &token);
                    (vec![fake], t)
                }
            },
            76,
            76,
        );
    }
}

#[test]
fn unavailable_with_the_token_echoed() {
    matrix(
        &|| {
            let fake = cloud(vec![]);
            let token = fake.token(EMAIL, 86_400);
            fake.push_script((0..50).map(|_| Step::Status {
                code: 503,
                retry_after: Some(token.clone()),
                body: Some(echo(&token)),
                content_type: Some("text/plain".into()),
            }));
            let t = with_token(&fake, &token).args(["--whoami-timeout", "0.5"]);
            (vec![fake], t)
        },
        69,
        69,
    );
}

#[test]
fn tls_failure() {
    matrix(
        &|| {
            let fake = tls_cloud(vec![]);
            let t = Test::new().cloud(&fake).env_remove("SSL_CERT_FILE");
            (vec![fake], t)
        },
        69,
        69,
    );
}

#[test]
fn email_mismatch_and_expired_token() {
    matrix(
        &|| {
            let fake = cloud(vec![]);
            let token = fake.token("someone.else@example.com", 86_400);
            let t = with_token(&fake, &token);
            (vec![fake], t)
        },
        77,
        77,
    );
    matrix(
        &|| {
            let fake = cloud(vec![]);
            let token = fake.token(EMAIL, -3600);
            let t = with_token(&fake, &token);
            (vec![fake], t)
        },
        77,
        77,
    );
}

#[test]
fn escape_hatch_after_a_refusal() {
    matrix(
        &|| {
            let fake = cloud(vec![]);
            let token = fake.token(EMAIL, 86_400);
            fake.push_script([body_step(401, echo(&token), "text/plain")]);
            let t = with_token(&fake, &token).env("SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS", "1");
            (vec![fake], t)
        },
        0,
        77,
    );
}

#[test]
fn configuration_errors_with_the_token_in_the_wrong_place() {
    type Misplace = fn(Test, &str) -> Test;
    let cases: [Misplace; 6] = [
        // Wrapped by a line break.
        |t, tok| {
            t.env(
                "SYSTEMPROMPT_API_TOKEN",
                &format!("{}\n{}", &tok[..40], &tok[40..]),
            )
        },
        // Quoted.
        |t, tok| t.env("SYSTEMPROMPT_API_TOKEN", &format!("\"{tok}\"")),
        // In the `_FILE` variables instead of paths.
        |t, tok| {
            t.env_remove("SYSTEMPROMPT_API_TOKEN")
                .env("SYSTEMPROMPT_API_TOKEN_FILE", tok)
        },
        |t, tok| {
            t.env_remove("SYSTEMPROMPT_API_TOKEN")
                .env_remove("SYSTEMPROMPT_USER_EMAIL")
                .env("SYSTEMPROMPT_USER_EMAIL_FILE", tok)
        },
        // Swapped with the email; inside the email; in the URL and an option.
        |t, tok| {
            t.env("SYSTEMPROMPT_API_TOKEN", EMAIL)
                .env("SYSTEMPROMPT_USER_EMAIL", tok)
        },
        |t, tok| {
            t.env("SYSTEMPROMPT_USER_EMAIL", &format!("dev@{tok}"))
                .env(
                    "SYSTEMPROMPT_API_URL",
                    &format!("https://api.systemprompt.io/{tok}"),
                )
                .env("SYSTEMPROMPT_INIT", tok)
        },
    ];
    for misplace in cases {
        matrix(
            &move || {
                let fake = cloud(vec![]);
                let token = fake.token(EMAIL, 86_400);
                let t = misplace(Test::new().cloud(&fake).secret(&token), &token);
                (vec![fake], t)
            },
            78,
            78,
        );
    }
}

#[test]
fn credentials_file_failure_and_command_not_found() {
    let dir = scratch("secrets-73");
    std::fs::write(dir.join("file"), "").unwrap();
    let below_a_file = dir.join("file/credentials.json");
    let path = below_a_file.to_str().unwrap().to_owned();
    matrix(
        &move || {
            let fake = cloud(vec![]);
            let t = Test::new()
                .cloud(&fake)
                .args(["--write-credentials", &path]);
            (vec![fake], t)
        },
        73,
        73,
    );
    for mode in LOG_MODES {
        let fake = cloud(vec![]);
        Test::new()
            .cloud(&fake)
            .args(mode.iter().copied())
            .args(["/nonexistent/app"])
            .run()
            .code(127);
    }
}

// ---- help, usage, panics ---------------------------------------------------------------------

#[test]
fn help_version_and_usage_errors_with_the_token_in_the_environment() {
    let fake = cloud(vec![]);
    for (args, code) in [
        (&["--help"][..], 0),
        (&["-h"], 0),
        (&["check", "--help"], 0),
        (&["--version"], 0),
        (&["--bogus", "true"], 64),
        (&["--log", "trace", "--init", "sometimes", "true"], 78),
        (&[], 64),
    ] {
        let out = Test::new().cloud(&fake).args(args.iter().copied()).run();
        out.code(code);
    }
    assert_eq!(fake.requests(), 0);
}

#[test]
fn a_panic_prints_no_secret_and_exits_70() {
    // The child: this test binary again, with the entrypoint's panic hook installed, panicking
    // with the token in a formatted message.
    if let Some(token) = std::env::var_os("SP_SECRETS_PANIC_TOKEN") {
        sp_entrypoint::install_panic_hook();
        panic!("the token is {}", token.to_string_lossy());
    }
    let fake = cloud(vec![]);
    let token = fake.token(EMAIL, 86_400);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_panic_prints_no_secret_and_exits_70",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SP_SECRETS_PANIC_TOKEN", &token)
        .env("RUST_BACKTRACE", "full")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(70), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("internal error: panic at tests/secrets.rs") && stderr.contains("withheld"),
        "{stderr}"
    );
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
    common::assert_no_trace(&token, &stdout, "stdout");
    common::assert_no_trace(&token, &stderr, "stderr");
}

// ---- argv ------------------------------------------------------------------------------------

/// Wait until `pid`'s command line is the entrypoint's (the exec from the test harness done).
fn cmdline_of(pid: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&raw).replace('\0', " ");
        if text.contains("--whoami-timeout") || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_token_is_never_in_a_command_line() {
    // The entrypoint's own, while whoami hangs.
    let fake = cloud(vec![Step::Hang]);
    let t = Test::new()
        .cloud(&fake)
        .args(["--whoami-timeout", "10", "true"]);
    let token = t.secrets()[0].clone();
    let mut child = t
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(fake.wait_for_requests(1, Duration::from_secs(10)));
    let cmdline = cmdline_of(child.id());
    assert!(cmdline.contains("--whoami-timeout"), "{cmdline}");
    common::assert_no_trace(&token, &cmdline, "/proc/PID/cmdline");
    child.kill().unwrap();
    child.wait().unwrap();

    // The supervisor's (`--init always`, the app's parent) and the app's.
    let fake = cloud(vec![]);
    let dir = scratch("cmdline");
    let script = format!(
        "{wait} tr '\\0' ' ' < /proc/$PPID/cmdline > {d}/parent; tr '\\0' ' ' < /proc/$$/cmdline > {d}/own",
        wait = common::wait_for_handoff("$PPID"),
        d = dir.display()
    );
    let t = Test::new()
        .cloud(&fake)
        .args(["--init", "always", "sh", "-c", &script]);
    let token = t.secrets()[0].clone();
    t.run().code(0);
    let parent = read(&dir.join("parent"));
    assert!(parent.contains("__supervise --child"), "{parent}");
    common::assert_no_trace(&token, &parent, "supervisor cmdline");
    common::assert_no_trace(&token, &read(&dir.join("own")), "app cmdline");
}

// ---- --scrub-token ---------------------------------------------------------------------------

/// An app that writes its environment and its parent's to `dir`.
/// With `supervised`, it first waits for the parent's hand-off to the lean supervisor.
fn env_recorder(dir: &std::path::Path, supervised: bool) -> Vec<String> {
    let wait = if supervised {
        common::wait_for_handoff("$PPID")
    } else {
        String::new()
    };
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "env > {d}/env; {wait} tr '\\0' '\\n' < /proc/$PPID/environ > {d}/parent-env",
            d = dir.display()
        ),
    ]
}

#[test]
fn scrub_token_with_write_credentials_the_app_env_lacks_it_and_the_file_has_it() {
    for (source, init) in [("env", "never"), ("file", "never"), ("env", "always")] {
        let fake = cloud(vec![]);
        let dir = scratch("scrub");
        let creds = dir.join("creds/credentials.json");
        let mut t = Test::new().cloud(&fake);
        let token = t.secrets()[0].clone();
        if source == "file" {
            let f = dir.join("token");
            std::fs::write(&f, format!("{token}\n")).unwrap();
            t = t
                .env_remove("SYSTEMPROMPT_API_TOKEN")
                .env("SYSTEMPROMPT_API_TOKEN_FILE", f.to_str().unwrap());
        }
        t.args([
            "--scrub-token",
            "--init",
            init,
            "--write-credentials",
            creds.to_str().unwrap(),
        ])
        .args(env_recorder(&dir, init == "always"))
        .run()
        .code(0);
        let env = read(&dir.join("env"));
        assert!(
            !env.contains("SYSTEMPROMPT_API_TOKEN"),
            "{source}/{init}: {env}"
        );
        common::assert_no_trace(&token, &env, "the app's environment");
        assert!(
            env.contains(&format!("SYSTEMPROMPT_USER_EMAIL={EMAIL}")),
            "{env}"
        );
        let file: serde_json::Value = serde_json::from_str(&read(&creds)).unwrap();
        assert_eq!(file["api_token"], token.as_str(), "{source}/{init}");
        if init == "always" {
            // The app's parent is the lean supervisor: an empty environment.
            let parent = read(&dir.join("parent-env"));
            assert!(parent.trim().is_empty(), "supervisor environ: {parent}");
        }
    }
}

// ---- the token goes to SYSTEMPROMPT_API_URL and nowhere else -----------------------------------

/// A loopback listener standing in for a proxy: counts the connections it is offered (and
/// answers none of them).
struct Listener {
    url: String,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Listener {
    fn on(ip: &str, port: u16) -> Listener {
        let listener = std::net::TcpListener::bind((ip, port)).expect("bind the listener");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = connections.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(conn);
            }
        });
        Listener { url, connections }
    }
    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn the_token_never_goes_to_a_proxy_for_a_loopback_api() {
    let proxy = Listener::on("127.0.0.1", 0);
    let every_proxy = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ];
    for tls in [false, true] {
        let fake = if tls {
            tls_cloud(vec![])
        } else {
            cloud(vec![])
        };
        let port = fake.local_addr().port();
        let scheme = if tls { "https" } else { "http" };
        for api in [fake.url(), format!("{scheme}://localhost:{port}")] {
            for no_proxy in [None, Some("*"), Some("example.com")] {
                for tail in [&["check"][..], &["true"]] {
                    let mut t = Test::new().cloud(&fake).env("SYSTEMPROMPT_API_URL", &api);
                    for var in every_proxy {
                        t = t.env(var, &proxy.url);
                    }
                    if let Some(list) = no_proxy {
                        t = t.env("NO_PROXY", list);
                    }
                    t.args(tail.iter().copied()).run().code(0);
                }
            }
        }
        assert_eq!(fake.requests(), 12, "every run reached the API directly");
    }
    assert_eq!(
        proxy.connections(),
        0,
        "the proxy was offered a connection carrying the token"
    );
}

#[test]
fn localhost_is_never_looked_up_so_hosts_files_cannot_redirect_the_token() {
    // A private mount namespace where /etc/hosts says localhost is 127.0.0.2, with a listener
    // there on the fake cloud's port: a lookup would send the token to it.
    if !std::process::Command::new("unshare")
        .args(["--mount", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        common::skipped(
            "localhost_is_never_looked_up",
            "unshare --mount is not permitted here",
        );
        return;
    }
    let fake = cloud(vec![]);
    let port = fake.local_addr().port();
    let decoy = Listener::on("127.0.0.2", port);
    let dir = scratch("hosts");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "127.0.0.2 localhost\n").unwrap();
    let script = format!(
        "mount --bind {} /etc/hosts && getent hosts localhost | grep -q 127.0.0.2 && exec \"$@\"",
        hosts.display()
    );
    for tail in [&["check"][..], &["true"]] {
        let t = Test::new()
            .cloud(&fake)
            .env("SYSTEMPROMPT_API_URL", &format!("http://localhost:{port}"))
            .args(tail.iter().copied());
        t.run_wrapped(&["unshare", "--mount"], Some(&script))
            .code(0);
    }
    assert_eq!(fake.requests(), 2);
    assert_eq!(
        decoy.connections(),
        0,
        "localhost was resolved through /etc/hosts"
    );
}

#[test]
fn server_text_quoting_pieces_of_the_token_in_any_case_is_redacted() {
    // 20-character pieces, lowercased and uppercased parts, in an error body; a redirect whose
    // host is a part of the token (URL parsing lowercases it).
    let pieces = |t: &str| {
        let jwt = &t[t.find("eyJ").unwrap()..];
        let mut quoted: Vec<String> = (0..jwt.len().saturating_sub(20))
            .step_by(7)
            .map(|i| jwt[i..i + 20].to_owned())
            .collect();
        for part in t.split('.') {
            quoted.push(part.to_ascii_lowercase());
            quoted.push(part.to_ascii_uppercase());
        }
        quoted.join(" ")
    };
    matrix(
        &move || {
            let fake = cloud(vec![]);
            let token = fake.token(EMAIL, 86_400);
            let json = serde_json::json!({"error": {"code": "x", "message": pieces(&token)}});
            fake.push_script([
                body_step(401, json.to_string(), "application/json"),
                body_step(401, json.to_string(), "application/json"),
            ]);
            let t = with_token(&fake, &token);
            (vec![fake], t)
        },
        77,
        77,
    );
    matrix(
        &|| {
            let fake = cloud(vec![]);
            let token = fake.token(EMAIL, 86_400);
            let sig = token.rsplit('.').next().unwrap().to_owned();
            let payload = token.split('.').nth(1).unwrap()[..40].to_owned();
            let step = || Step::Redirect {
                code: 302,
                location: format!("https://{sig}.example.com/{payload}"),
            };
            fake.push_script([step(), step()]);
            let t = with_token(&fake, &token);
            (vec![fake], t)
        },
        76,
        76,
    );
}

#[test]
fn a_token_pasted_into_any_variable_or_option_is_refused_without_being_echoed() {
    let fake = cloud(vec![]);
    let vars = [
        "SYSTEMPROMPT_LOG_FORMAT",
        "SYSTEMPROMPT_LOG",
        "FLY_APP_NAME",
        "FLY_MACHINE_ID",
        "FLY_REGION",
        "SYSTEMPROMPT_INIT",
        "SYSTEMPROMPT_GRACE",
        "SYSTEMPROMPT_WHOAMI_TIMEOUT",
        "SYSTEMPROMPT_SCRUB_TOKEN",
        "SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS",
        "SYSTEMPROMPT_WRITE_CREDENTIALS",
        "SSL_CERT_FILE",
        "SYSTEMPROMPT_API_URL",
        "SYSTEMPROMPT_USER_EMAIL",
        "SYSTEMPROMPT_USER_EMAIL_FILE",
        "SYSTEMPROMPT_API_TOKEN_FILE",
    ];
    for var in vars {
        for mode in LOG_MODES {
            // The container's own token, and another one of the same account (an old secret):
            // pasted as they are, and lowercased by a template or a shell. The same second's
            // tokens are identical, so the other one is minted with another lifetime.
            let token = fake.token(EMAIL, 86_400);
            let other = fake.token(EMAIL, 86_400 - 7);
            for value in [
                token.clone(),
                format!("x-{}", token.to_ascii_lowercase()),
                format!("x-{}", other.to_ascii_lowercase()),
            ] {
                let out = with_token(&fake, &token)
                    .secret(&other)
                    .env(var, &value)
                    .args(mode.iter().copied())
                    .args(["check"])
                    .run();
                out.code(78).stderr_has(var);
            }
        }
    }
    // Options: clap echoes the values it refuses (64); the others are configuration (78).
    for (option, code) in [
        ("--log-format", 64),
        ("--log", 78),
        ("--init", 78),
        ("--grace", 78),
        ("--whoami-timeout", 78),
        ("--write-credentials", 78),
    ] {
        let t = Test::new().cloud(&fake);
        let token = t.secrets()[0].clone();
        t.args([option, &token, "check"]).run().code(code);
    }
    assert_eq!(fake.requests(), 0);
}

#[test]
fn usage_errors_and_command_not_found_never_echo_the_token() {
    let fake = cloud(vec![]);
    let t = Test::new().cloud(&fake);
    let token = t.secrets()[0].clone();
    // An unknown option, a stray value, and an app named by the token.
    t.args([format!("--{token}"), "true".into()]).run().code(64);
    Test::new()
        .cloud(&fake)
        .args(["check", &token])
        .run()
        .code(64);
    for mode in LOG_MODES {
        Test::new()
            .cloud(&fake)
            .args(mode.iter().copied())
            .args([format!("/nonexistent/{token}")])
            .run()
            .code(127)
            .stderr_has("command not found");
    }
    // The token only in a file (not yet read when clap reports), pasted into an option clap
    // checks and echoes: withheld as JWT-shaped text.
    let dir = scratch("usage-file");
    let file = dir.join("token");
    std::fs::write(&file, &token).unwrap();
    Test::new()
        .cloud(&fake)
        .env_remove("SYSTEMPROMPT_API_TOKEN")
        .env("SYSTEMPROMPT_API_TOKEN_FILE", file.to_str().unwrap())
        .secret(&token)
        .args(["--log-format", &token, "check"])
        .run()
        .code(64);
}

#[test]
fn a_crash_while_the_token_is_in_memory_leaves_no_core_dump() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    // Core dumps as a careless platform may enable them: unlimited size, into the working
    // directory (when core_pattern writes files there). The crash is a SIGABRT (what an abort
    // on panic raises); a SIGSEGV from kill(2) is swallowed by std's stack-overflow handler.
    fn allow_cores(cmd: &mut Command, dir: &std::path::Path) {
        cmd.current_dir(dir);
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_CORE,
                    nix::sys::resource::RLIM_INFINITY,
                    nix::sys::resource::RLIM_INFINITY,
                )
                .map_err(std::io::Error::from)
            });
        }
    }
    if let Some(why) = common::emulated() {
        // qemu-user writes a core file of its own for a guest that dies of a signal
        // (qemu_<name>_<time>_<pid>.core), whatever the guest's PR_SET_DUMPABLE says.
        common::skipped(
            "a_crash_while_the_token_is_in_memory_leaves_no_core_dump",
            &format!("{why}, and qemu-user dumps the guest's core itself"),
        );
        return;
    }
    // The control: a dumpable process crashing the same way does dump here.
    let control_dir = scratch("core-control");
    let mut control = Command::new("sh");
    control.args(["-c", "kill -ABRT $$"]).stdin(Stdio::null());
    allow_cores(&mut control, &control_dir);
    let status = control.status().unwrap();
    let _ = std::fs::remove_dir_all(&control_dir);
    if !status.core_dumped() {
        common::skipped(
            "a_crash_while_the_token_is_in_memory_leaves_no_core_dump",
            &format!(
                "this machine writes no core dumps (core_pattern: {})",
                std::fs::read_to_string("/proc/sys/kernel/core_pattern")
                    .unwrap_or_default()
                    .trim()
            ),
        );
        return;
    }
    let fake = cloud(vec![]);
    let dir = scratch("core");
    for tail in [&["check"][..], &["true"]] {
        fake.push_script([Step::Hang]);
        let t = Test::new()
            .cloud(&fake)
            .args(["--whoami-timeout", "20"])
            .args(tail.iter().copied());
        let mut cmd = t.command();
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        allow_cores(&mut cmd, &dir);
        let mut child = cmd.spawn().unwrap();
        // The token is in memory: whoami is waiting for the hanging server.
        let before = fake.requests();
        assert!(fake.wait_for_requests(before + 1, Duration::from_secs(20)));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
            nix::sys::signal::Signal::SIGABRT,
        )
        .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(nix::sys::signal::Signal::SIGABRT as i32),
            "{status:?}"
        );
        assert!(!status.core_dumped(), "a core dump was written: {status:?}");
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "core files: {left:?}");
}

#[test]
fn the_panic_hook_cannot_panic_on_a_closed_stderr() {
    // As `a_panic_prints_no_secret_and_exits_70`, with stderr a pipe whose reader is gone:
    // printing the line fails, and the hook still exits 70 (not SIGABRT from a double panic).
    if std::env::var_os("SP_SECRETS_PANIC_CLOSED").is_some() {
        sp_entrypoint::install_panic_hook();
        panic!("a literal message");
    }
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_panic_hook_cannot_panic_on_a_closed_stderr",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SP_SECRETS_PANIC_CLOSED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(70), "{status:?}");
}
