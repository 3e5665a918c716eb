//! The one helper every integration test drives the real binary through: a `#[must_use]`
//! builder that starts from an empty environment, and an `Outcome` that has already been
//! scanned for any trace of the tokens it was given.
#![allow(dead_code, clippy::missing_panics_doc)]

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use fake_cloud::{FakeCloud, Options, Step};

/// The binary under test: `SP_ENTRYPOINT_BIN` (e.g. the static musl build in CI), else cargo's.
pub fn bin() -> PathBuf {
    std::env::var_os("SP_ENTRYPOINT_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_sp-entrypoint")),
        PathBuf::from,
    )
}

/// The email the fake cloud's tokens are minted for in most tests.
pub const EMAIL: &str = "dev@example.com";

/// A fake cloud on loopback (HTTP), serving `script` first, then the real auth logic.
pub fn cloud(script: Vec<Step>) -> FakeCloud {
    FakeCloud::start(Options {
        script,
        ..Options::default()
    })
    .expect("fake cloud starts")
}

/// A fake cloud over HTTPS with its own CA.
pub fn tls_cloud(script: Vec<Step>) -> FakeCloud {
    FakeCloud::start(Options {
        script,
        tls: true,
        ..Options::default()
    })
    .expect("fake cloud starts")
}

/// A fresh scratch directory under the target dir.
pub fn scratch(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("sp-it-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// One run of the binary.
#[must_use]
pub struct Test {
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    secrets: Vec<String>,
    stdin_null: bool,
    /// Run in a new mount namespace with this file bind-mounted on `/etc/resolv.conf`.
    resolv_conf: Option<PathBuf>,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    /// An empty environment but `PATH`.
    pub fn new() -> Self {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
        Test {
            args: Vec::new(),
            env: vec![("PATH".into(), path)],
            secrets: Vec::new(),
            stdin_null: true,
            resolv_conf: None,
        }
    }

    /// Point at `cloud` with a fresh valid token for [`EMAIL`].
    pub fn cloud(self, cloud: &FakeCloud) -> Self {
        let token = cloud.token(EMAIL, 86_400);
        self.url(cloud)
            .token(&token)
            .env("SYSTEMPROMPT_USER_EMAIL", EMAIL)
    }

    /// Only the URL (and the CA for TLS) of `cloud`.
    pub fn url(self, cloud: &FakeCloud) -> Self {
        let mut t = self.env("SYSTEMPROMPT_API_URL", &cloud.url());
        if let Some(ca) = cloud.ca_pem_path() {
            t = t.env("SSL_CERT_FILE", ca.to_str().expect("utf-8 path"));
        }
        t
    }

    /// Set `SYSTEMPROMPT_API_TOKEN` and remember it as a secret to scan for.
    pub fn token(self, token: &str) -> Self {
        self.secret(token).env("SYSTEMPROMPT_API_TOKEN", token)
    }

    /// Remember `s` as a secret: no output may contain it, or its payload or signature part.
    pub fn secret(mut self, s: &str) -> Self {
        self.secrets.push(s.to_owned());
        self
    }

    /// Set (or replace) a variable.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(name, _)| name != k);
        self.env.push((k.into(), v.into()));
        self
    }

    /// Set (or replace) a variable with any bytes (not necessarily UTF-8).
    pub fn env_os(mut self, k: &str, v: impl Into<OsString>) -> Self {
        self.env.retain(|(name, _)| name != k);
        self.env.push((k.into(), v.into()));
        self
    }

    /// Remove a variable.
    pub fn env_remove(mut self, k: &str) -> Self {
        self.env.retain(|(name, _)| name != k);
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command, for tests that need to drive the process themselves.
    pub fn command(&self) -> Command {
        let mut cmd = match &self.resolv_conf {
            None => Command::new(bin()),
            Some(conf) => {
                // `unshare` and `sh` exec in turn: the binary keeps the PID of the child. An
                // nsswitch.conf of `files dns` keeps glibc off other sources (systemd-resolved).
                let mut c = Command::new("unshare");
                c.args([
                    "--mount",
                    "sh",
                    "-c",
                    "mount --bind \"$0\" /etc/resolv.conf \
                     && { [ ! -e /etc/nsswitch.conf ] || mount --bind \"$1\" /etc/nsswitch.conf; } \
                     && shift && exec \"$@\"",
                ])
                .arg(conf)
                .arg(conf.with_file_name("nsswitch.conf"))
                .arg(bin());
                c
            }
        };
        cmd.args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if self.stdin_null {
            cmd.stdin(Stdio::null());
        }
        cmd
    }

    /// The same command as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`),
    /// or `None` (after one visible `skipped:` line) where that is not permitted.
    pub fn command_pid1(&self, test: &str) -> Option<Command> {
        let probe = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "true"])
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            skipped(test, "unshare --pid is not permitted here");
            return None;
        }
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc"])
            .arg(bin())
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if self.stdin_null {
            cmd.stdin(Stdio::null());
        }
        Some(cmd)
    }

    /// Run as PID 1 of a new PID namespace to completion (see [`Test::command_pid1`]); the
    /// output is scanned for secrets like [`Test::run`]'s.
    pub fn run_pid1(&self, test: &str) -> Option<Outcome> {
        let mut cmd = self.command_pid1(test)?;
        let start = Instant::now();
        let output = cmd.output().expect("run unshare");
        let out = outcome(&output, 0, start.elapsed());
        self.scan(&out);
        Some(out)
    }

    /// Start as PID 1 of a new PID namespace: the `unshare` child (stdout piped, stderr
    /// piped) and the host PID of our binary inside it, to signal.
    pub fn spawn_pid1(&self, test: &str) -> Option<(std::process::Child, u32)> {
        let mut cmd = self.command_pid1(test)?;
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn unshare");
        let pid1 = unshare_child(child.id()).expect("PID 1 of the namespace");
        Some((child, pid1))
    }

    /// Fail on any trace of the secrets in `out`.
    pub fn scan(&self, out: &Outcome) {
        for s in &self.secrets {
            assert_no_trace(s, &out.stdout, "stdout");
            assert_no_trace(s, &out.stderr, "stderr");
        }
    }

    /// Run `wrapper... [sh -c SCRIPT sh] BIN ARGS...` with this test's environment (the script,
    /// when given, ends with `exec "$@"`); the output is scanned for secrets like [`Test::run`]'s.
    pub fn run_wrapped(&self, wrapper: &[&str], script: Option<&str>) -> Outcome {
        let inner = self.command();
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..]);
        if let Some(script) = script {
            cmd.args(["sh", "-c", script, "sh"]);
        }
        cmd.arg(inner.get_program())
            .args(inner.get_args())
            .env_clear()
            .envs(
                inner
                    .get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .stdin(Stdio::null());
        let start = Instant::now();
        let output = cmd.output().expect("run the wrapper");
        let out = outcome(&output, 0, start.elapsed());
        self.scan(&out);
        out
    }

    /// The secrets to scan for.
    pub fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }

    /// Run to completion (bounded: killed after 60 s), scan the output for secrets.
    pub fn run(self) -> Outcome {
        let mut running = Captured::spawn(self.command());
        let status = wait_bounded(&mut running.child, Duration::from_mins(1));
        let outcome = running.finish(status);
        self.scan(&outcome);
        outcome
    }
}

fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the binary did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Fail when `text` holds `secret`, or its JWT payload or signature part, or any piece of 12
/// or more characters of them, in any letter case (any trace of it).
pub fn assert_no_trace(secret: &str, text: &str, what: &str) {
    assert!(!text.contains(secret), "{what} contains the token:\n{text}");
    let lower = text.to_ascii_lowercase();
    for part in secret.split('.').skip(1) {
        if part.len() >= 8 {
            assert!(
                !lower.contains(&part.to_ascii_lowercase()),
                "{what} contains part of the token:\n{text}"
            );
        }
        let part = part.to_ascii_lowercase();
        for piece in part.as_bytes().windows(12) {
            let piece = String::from_utf8_lossy(piece);
            assert!(
                !lower.contains(piece.as_ref()),
                "{what} contains a piece of the token ({piece}):\n{text}"
            );
        }
    }
}

/// An [`Outcome`] from a process the test drove itself (`pid` is its PID as the test saw it).
pub fn outcome(output: &std::process::Output, pid: u32, elapsed: Duration) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    Outcome {
        code: output
            .status
            .code()
            .unwrap_or_else(|| 128 + output.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed,
        pid,
    }
}

/// Send `sig` to `target` and wait for `child` (which runs it, or is `unshare` around it);
/// `elapsed` is measured from the signal. For the "stops within 1 s" tests.
pub fn signal_and_wait(
    child: std::process::Child,
    target: u32,
    sig: nix::sys::signal::Signal,
) -> Outcome {
    let pid = child.id();
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(target).expect("pid")),
        sig,
    )
    .expect("kill");
    let output = child.wait_with_output().expect("wait");
    outcome(&output, pid, sent.elapsed())
}

/// What a run gave.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code, or 128+N for a signal.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
    /// The PID the binary ran as.
    pub pid: u32,
}

impl Outcome {
    /// Assert the exit code, showing the output when it differs.
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    /// Assert the run took at least `min` and less than `limit` (generous bounds: a test of a
    /// deadline or a wait, never of speed).
    pub fn took(&self, min: Duration, limit: Duration) -> &Self {
        assert!(
            self.elapsed >= min && self.elapsed < limit,
            "took {:?}, expected [{min:?}, {limit:?})\nstderr:\n{}",
            self.elapsed,
            self.stderr
        );
        self
    }
    /// Assert stderr contains `s`.
    pub fn stderr_has(&self, s: &str) -> &Self {
        assert!(
            self.stderr.contains(s),
            "stderr lacks {s:?}:\n{}",
            self.stderr
        );
        self
    }
    /// Assert stderr lacks `s`.
    pub fn stderr_lacks(&self, s: &str) -> &Self {
        assert!(
            !self.stderr.contains(s),
            "stderr has {s:?}:\n{}",
            self.stderr
        );
        self
    }
    /// Assert stdout contains `s`.
    pub fn stdout_has(&self, s: &str) -> &Self {
        assert!(
            self.stdout.contains(s),
            "stdout lacks {s:?}:\n{}",
            self.stdout
        );
        self
    }
}

/// The host PID of the process `unshare --fork` started (PID 1 inside its namespace).
pub fn unshare_child(unshare_pid: u32) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{unshare_pid}/task/{unshare_pid}/children"))
                .unwrap_or_default();
        if let Some(pid) = children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
        {
            return Some(pid);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Shell: wait (polling every 10 ms, up to 5 s) until the process `pid` (a shell word, e.g.
/// `$PPID` or `1`) is the lean supervisor, i.e. its command line is `... __supervise --child ...`.
///
/// The app may run before its parent re-executes itself (`init::run` spawns the app, then hands
/// off): about 20 µs natively, about 8 ms under qemu-user, where the parent's command line reads
/// as empty during the exec. The pattern is written so that it cannot match itself: the
/// bootstrap's own command line holds this very script (`sh -c SCRIPT`), and a plain
/// `__supervise` there would end the wait before the hand-off.
pub fn wait_for_handoff(pid: &str) -> String {
    format!(
        "i=0; while [ $i -lt 500 ] && ! tr '\\0' ' ' < /proc/{pid}/cmdline 2>/dev/null | grep -q '__supervis[e] --child'; do i=$((i+1)); sleep 0.01; done;"
    )
}

/// One visible `skipped: TEST: WHY` line: straight to fd 2, past the test harness's capture of
/// `eprintln!` (which shows a passing test's output only with `--nocapture`).
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// Why the binary under test cannot become a child subreaper here, if it cannot (probed once,
/// by the supervisor itself, which says so on stderr). qemu-user (7.2) refuses
/// `PR_SET_CHILD_SUBREAPER` to the binary it emulates (EINVAL).
pub fn subreaper_refused() -> Option<&'static str> {
    static REFUSED: OnceLock<Option<String>> = OnceLock::new();
    REFUSED
        .get_or_init(|| {
            let out = Command::new(bin())
                .args(["__supervise", "--grace-ms", "0", "--", "true"])
                .stdin(Stdio::null())
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .find(|l| l.contains("cannot become a child subreaper"))
                .map(str::to_owned)
        })
        .as_deref()
}

/// Why the binary under test runs emulated here, if it does: its ELF machine is not the host's
/// (the aarch64 release binary on an x86-64 host, run by qemu-user through `binfmt_misc`).
pub fn emulated() -> Option<&'static str> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        let mut header = [0u8; 20];
        let mut f = std::fs::File::open(bin()).ok()?;
        f.read_exact(&mut header).ok()?;
        let arch = match u16::from_le_bytes([header[18], header[19]]) {
            62 => "x86_64",
            183 => "aarch64",
            other => return Some(format!("an ELF binary for machine {other}, run emulated")),
        };
        (arch != std::env::consts::ARCH).then(|| {
            format!(
                "the {arch} binary runs under emulation on this {} host",
                std::env::consts::ARCH
            )
        })
    })
    .as_deref()
}

/// Read a file written by an app under test.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A DNS server on a loopback address of its own (`127.77.N.1:53`, UDP) that reads queries
/// and never answers, and a `resolv.conf` naming only it (with a 30 s timeout per try): with
/// [`Test::resolver`], the binary's name lookups hang as they do behind a broken resolver.
pub struct SilentDns {
    socket: std::net::UdpSocket,
    /// The `resolv.conf` to bind-mount.
    pub resolv_conf: PathBuf,
}

impl SilentDns {
    /// Start one, or `None` (after one visible `skipped:` line) where binding port 53 or a
    /// mount namespace is not permitted.
    pub fn start(test: &str) -> Option<SilentDns> {
        static N: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);
        let probe = Command::new("unshare")
            .args(["--mount", "true"])
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            skipped(test, "unshare --mount is not permitted here");
            return None;
        }
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let addr = std::net::Ipv4Addr::new(127, 77, n, 1);
        let socket = match std::net::UdpSocket::bind((addr, 53)) {
            Ok(s) => s,
            Err(e) => {
                skipped(test, &format!("cannot bind {addr}:53 ({e})"));
                return None;
            }
        };
        let resolv_conf = scratch("dns").join("resolv.conf");
        std::fs::write(
            &resolv_conf,
            format!("nameserver {addr}\noptions timeout:30 attempts:2\n"),
        )
        .expect("write resolv.conf");
        std::fs::write(
            resolv_conf.with_file_name("nsswitch.conf"),
            "hosts: files dns\n",
        )
        .expect("write nsswitch.conf");
        Some(SilentDns {
            socket,
            resolv_conf,
        })
    }

    /// Wait (up to `limit`) for a query to arrive; `true` when one did.
    pub fn wait_for_query(&self, limit: Duration) -> bool {
        self.socket
            .set_read_timeout(Some(limit))
            .expect("set_read_timeout");
        let mut buf = [0u8; 512];
        self.socket.recv_from(&mut buf).is_ok()
    }
}

impl Test {
    /// Resolve names through `dns` only (in a new mount namespace; see [`SilentDns`]).
    pub fn resolver(mut self, dns: &SilentDns) -> Self {
        self.resolv_conf = Some(dns.resolv_conf.clone());
        self
    }
}

impl Test {
    /// Run to completion like [`Test::run`], and measure the child's peak RSS (KiB, from
    /// `wait4(2)`'s `ru_maxrss`: this child's own, not the largest of the test's children).
    // The child is reaped by wait4 below (which `Child::wait` cannot replace: it drops the rusage).
    #[allow(clippy::zombie_processes)]
    pub fn run_measured(self) -> (Outcome, u64) {
        let mut running = Captured::spawn(self.command());
        let (child, pid) = (&mut running.child, running.pid);
        let deadline = Instant::now() + Duration::from_mins(1);
        let (status, maxrss) = loop {
            let mut status = 0;
            // SAFETY: a zeroed rusage is a valid value of this plain C struct.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: both pointers are to live locals; WNOHANG makes the call return at once.
            let got = unsafe {
                libc::wait4(
                    i32::try_from(pid).expect("pid"),
                    &raw mut status,
                    libc::WNOHANG,
                    &raw mut usage,
                )
            };
            assert!(got >= 0, "wait4: {}", std::io::Error::last_os_error());
            if got > 0 {
                let code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
                break (code, u64::try_from(usage.ru_maxrss).unwrap_or(0));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the binary did not finish within a minute");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let outcome = running.finish(status);
        self.scan(&outcome);
        (outcome, maxrss)
    }
}

/// A child of [`Test`] running with both outputs read by threads of their own (so that a full
/// pipe never blocks it).
struct Captured {
    child: std::process::Child,
    pid: u32,
    start: Instant,
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<Vec<u8>>,
}

impl Captured {
    fn spawn(mut cmd: Command) -> Captured {
        let start = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the binary");
        let reader = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut s = Vec::new();
                let _ = pipe.read_to_end(&mut s);
                s
            })
        };
        let out = reader(Box::new(child.stdout.take().expect("stdout")));
        let err = reader(Box::new(child.stderr.take().expect("stderr")));
        Captured {
            pid: child.id(),
            child,
            start,
            out,
            err,
        }
    }

    /// The outcome of the child that ended with `code` (its outputs read to their end).
    fn finish(self, code: i32) -> Outcome {
        let elapsed = self.start.elapsed();
        Outcome {
            code,
            stdout: String::from_utf8_lossy(&self.out.join().expect("stdout reader")).into_owned(),
            stderr: String::from_utf8_lossy(&self.err.join().expect("stderr reader")).into_owned(),
            elapsed,
            pid: self.pid,
        }
    }
}
