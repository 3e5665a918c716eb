//! The token-expiry watch, end to end: the real binary, the fake cloud minting tokens that
//! expire a few seconds after boot, and PID namespaces (`unshare --pid --fork --mount-proc`,
//! skipped with one visible line where not permitted) to see every process.
//!
//! The 60-, 10- and 1-minute thresholds are tested in real time with tokens that expire a
//! few seconds after the threshold (`exp` = now + 60 min + [`SOON`] gives the 60-minute
//! warning [`SOON`] after boot): no test-only knob shortens them. Lines are awaited as they arrive
//! (bounded); their arrival is checked against the wall clock and `exp`. Nothing sleeps to
//! synchronise; the only polling is a bounded wait for processes to disappear, which has no
//! event.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{EMAIL, FakeCloud, Outcome, Test, cloud};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sp_entrypoint::timefmt::rfc3339;

/// Generous bound for a line that is due, counted from when it is due.
const LATE: Duration = Duration::from_secs(15);

/// Seconds from minting to `exp` for "a token that expires a few seconds after boot": long
/// enough for a bootstrap on a loaded machine to finish its whoami call (the fake cloud
/// refuses an expired token) before `exp`.
const SOON: u64 = 6;

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

/// A token for [`EMAIL`] expiring `ttl` seconds from now, and its `exp`.
fn token(ttl: u64) -> (String, u64) {
    let now = fake_cloud::now_secs();
    (fake_cloud::mint_token(EMAIL, now, now + ttl), now + ttl)
}

/// A run against `fake` with a token expiring in `ttl` seconds.
fn with_token(fake: &FakeCloud, ttl: u64) -> (Test, u64) {
    let (tok, exp) = token(ttl);
    let t = Test::new()
        .url(fake)
        .token(&tok)
        .env("SYSTEMPROMPT_USER_EMAIL", EMAIL);
    (t, exp)
}

/// A running binary whose stderr is read line by line as it comes, each line stamped with
/// the wall-clock time (ms) it arrived.
struct Live {
    child: Child,
    lines: Receiver<(u64, String)>,
    seen: Vec<(u64, String)>,
    stdout: Receiver<String>,
    started: Instant,
}

impl Live {
    fn start(mut cmd: Command) -> Live {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send((now_ms(), line)).is_err() {
                    break;
                }
            }
        });
        let (otx, stdout_rx) = channel();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            let _ = otx.send(s);
        });
        Live {
            child,
            lines,
            seen: Vec::new(),
            stdout: stdout_rx,
            started: Instant::now(),
        }
    }

    fn stderr(&self) -> String {
        self.seen
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Wait (bounded by `limit`) for a stderr line containing `pat`; returns it and when it
    /// arrived (ms since the epoch).
    fn wait_line(&mut self, pat: &str, limit: Duration) -> (u64, String) {
        let deadline = Instant::now() + limit;
        if let Some(hit) = self.seen.iter().find(|(_, l)| l.contains(pat)) {
            return hit.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(item) = self.lines.recv_timeout(left) else {
                let _ = self.child.kill();
                panic!(
                    "no line with {pat:?} within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            };
            self.seen.push(item.clone());
            if item.1.contains(pat) {
                return item;
            }
        }
    }

    /// Signal the process we started.
    fn signal(&self, sig: Signal) {
        kill(
            Pid::from_raw(i32::try_from(self.child.id()).expect("pid")),
            sig,
        )
        .expect("kill");
    }

    /// Wait (bounded) for the exit; the whole output, scanned for `t`'s secrets.
    fn finish(mut self, t: &Test) -> Outcome {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + Duration::from_mins(1);
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("did not exit; stderr:\n{}", self.stderr());
            }
            // Drain as we go so that a chatty child never blocks on a full pipe.
            while let Ok(item) = self.lines.try_recv() {
                self.seen.push(item);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = self.started.elapsed();
        while let Ok(item) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(item);
        }
        let out = Outcome {
            code: status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            stdout: self
                .stdout
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_default(),
            stderr: self.stderr(),
            elapsed,
            pid: self.child.id(),
        };
        t.scan(&out);
        out
    }
}

/// Assert a line arrived no earlier than `due_ms` and at most [`LATE`] after it.
fn arrived_on_time(line: &(u64, String), due_ms: u64) {
    let late = Duration::from_millis(line.0.saturating_sub(due_ms));
    assert!(
        line.0 >= due_ms && late < LATE,
        "line due at {due_ms} arrived at {} ({} ms early or {late:?} late): {}",
        line.0,
        due_ms.saturating_sub(line.0),
        line.1
    );
}

/// A named case of a test that runs several at once.
type Case<'a> = (&'a str, Box<dyn FnOnce() + Send>);

/// Run the cases at once, each in its own thread (they mostly wait for `exp`), and fail,
/// naming the failed ones, after all have ended.
fn concurrently(cases: Vec<Case<'_>>) {
    std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .into_iter()
            .map(|(name, case)| (name, scope.spawn(case)))
            .collect();
        let mut failed = Vec::new();
        for (name, handle) in handles {
            if handle.join().is_err() {
                failed.push(name);
            }
        }
        assert!(failed.is_empty(), "failed cases: {failed:?}");
    });
}

/// The app used by most tests: says it is ready, then waits (for the test to end it).
const LONG_APP: [&str; 3] = ["sh", "-c", "echo ready; exec sleep 60"];

// ---------------------------------------------------------------------------------------------
// warn: the lines and their times
// ---------------------------------------------------------------------------------------------

/// `warn` on the exec path and supervised: the error line at `exp`, in text, and nothing
/// else from the watch; the app keeps running until we stop it.
fn error_line_at_exp(init: &str) {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, SOON);
    let t = t.args(["--init", init]).args(LONG_APP);
    let mut running = Live::start(t.command());
    let line = running.wait_line("expired at", LATE + Duration::from_secs(SOON));
    arrived_on_time(&line, exp * 1000);
    let at = rfc3339(exp);
    assert!(
        line.1
            .starts_with("ERROR sp-entrypoint: SYSTEMPROMPT_API_TOKEN expired at ")
            && line.1.contains(&format!("expired at {at}"))
            && line.1.contains("the app's API calls now fail with 401")
            && line
                .1
                .contains("restart the container with the new SYSTEMPROMPT_API_TOKEN value")
            && line
                .1
                .ends_with(&format!("expires_at={at} on_expiry=warn platform=docker")),
        "{}",
        line.1
    );
    // Still running: it ends when we say so, with its own code.
    running.signal(Signal::SIGTERM);
    let out = running.finish(&t);
    out.code(143);
    assert_eq!(out.stdout, "ready\n");
    assert_eq!(
        out.stderr.matches("sp_entrypoint::expiry").count()
            + out.stderr.matches("SYSTEMPROMPT_API_TOKEN expire").count(),
        2,
        "one boot warning (within the hour) and one error line:\n{}",
        out.stderr
    );
}

#[test]
fn warn_logs_one_error_line_at_exp_on_the_exec_path_and_when_supervising() {
    concurrently(vec![
        ("exec path", Box::new(|| error_line_at_exp("never"))),
        ("supervising", Box::new(|| error_line_at_exp("always"))),
    ]);
}

fn json_lines_carry_expires_at_and_the_fly_fields() {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, SOON);
    let t = t
        .env("FLY_APP_NAME", "demo-app")
        .env("FLY_REGION", "ams")
        .args(["--log-format", "json", "--init", "always"])
        .args(LONG_APP);
    let mut running = Live::start(t.command());
    let line = running.wait_line("sp_entrypoint::expiry", LATE + Duration::from_secs(SOON));
    arrived_on_time(&line, exp * 1000);
    let v: serde_json::Value = serde_json::from_str(&line.1).expect("a JSON line");
    assert_eq!(v["level"], "ERROR", "{}", line.1);
    assert_eq!(v["expires_at"], rfc3339(exp));
    assert_eq!(v["on_expiry"], "warn");
    assert_eq!(v["platform"], "fly");
    assert_eq!(v["span"]["fly_app"], "demo-app");
    assert_eq!(v["span"]["fly_region"], "ams");
    let message = v["message"].as_str().expect("message");
    assert!(
        message.contains("fly secrets set --stage SYSTEMPROMPT_API_TOKEN=... && fly deploy"),
        "{message}"
    );
    running.signal(Signal::SIGTERM);
    let out = running.finish(&t);
    out.code(143);
    for l in out.stderr.lines() {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
    }
}

/// The warning `mins` minutes before `exp`, with a token expiring `mins` minutes and [`SOON`]
/// from now: due [`SOON`] after boot. The larger thresholds were not ahead, so not logged.
fn threshold_warning(mins: u64, init: &str, json: bool) {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, mins * 60 + SOON);
    let mut t = t.args(["--init", init]);
    if json {
        t = t.args(["--log-format", "json"]);
    }
    let t = t.env("KUBERNETES_SERVICE_HOST", "10.0.0.1").args(LONG_APP);
    let mut running = Live::start(t.command());
    let at = rfc3339(exp);
    let line = running.wait_line(
        &format!("(at {at}); then"),
        LATE + Duration::from_secs(SOON),
    );
    arrived_on_time(&line, (exp - mins * 60) * 1000);
    let text = if json {
        let v: serde_json::Value = serde_json::from_str(&line.1).expect("JSON");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["expires_at"], at.as_str());
        assert_eq!(v["platform"], "kubernetes");
        v["message"].as_str().expect("message").to_owned()
    } else {
        assert!(line.1.starts_with(" WARN sp-entrypoint: "), "{}", line.1);
        assert!(line.1.contains(&format!("expires_at={at}")), "{}", line.1);
        line.1.clone()
    };
    let left = if mins == 60 {
        "1h 0m"
    } else {
        &format!("{mins}m 0s")
    };
    assert!(
        text.contains(&format!(
            "SYSTEMPROMPT_API_TOKEN expires in {left} (at {at})"
        )) && text.contains("kubectl rollout restart"),
        "{text}"
    );
    running.signal(Signal::SIGTERM);
    let out = running.finish(&t);
    out.code(143);
    let watch_lines = out
        .stderr
        .lines()
        .filter(|l| l.contains("(at ") && l.contains("); then"))
        .count();
    assert_eq!(
        watch_lines, 1,
        "only the threshold still ahead:\n{}",
        out.stderr
    );
}

#[test]
fn the_60_10_and_1_minute_warnings_come_on_time_in_text_and_json_exec_path_and_supervised() {
    concurrently(vec![
        (
            "1 minute, exec path, text",
            Box::new(|| threshold_warning(1, "never", false)),
        ),
        (
            "10 minutes, supervising, JSON",
            Box::new(|| threshold_warning(10, "always", true)),
        ),
        (
            "60 minutes, exec path (auto), JSON",
            Box::new(|| threshold_warning(60, "auto", true)),
        ),
        (
            "60 minutes, supervising, text",
            Box::new(|| threshold_warning(60, "always", false)),
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// stop
// ---------------------------------------------------------------------------------------------

fn stop_ends_a_long_running_app_and_exits_77_as_pid1() {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, SOON);
    let t = t
        .env("SYSTEMPROMPT_ON_EXPIRY", "stop")
        .args(["sleep", "60"]);
    let Some(out) = t.run_pid1("stop_ends_a_long_running_app_and_exits_77_as_pid1") else {
        return;
    };
    out.code(77)
        .stderr_has("stopping the app because its token expired (--on-expiry stop: SIGTERM now, SIGKILL after 5s); the entrypoint then exits 77")
        .stderr_has(&format!("the app was stopped because SYSTEMPROMPT_API_TOKEN expired at {}; exiting 77", rfc3339(exp)))
        .stderr_lacks("sending SIGKILL");
    out.took(Duration::from_secs(1), Duration::from_secs(30));
    assert!(now_ms() >= exp * 1000, "stopped before exp");
}

fn stop_kills_an_app_that_ignores_sigterm_after_the_grace_and_exits_77_with_init_always() {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, SOON);
    let t = t
        .args(["--on-expiry", "stop", "--init", "always", "--grace", "1"])
        .args([
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ]);
    let mut running = Live::start(t.command());
    let stopping = running.wait_line("stopping the app", LATE + Duration::from_secs(SOON));
    arrived_on_time(&stopping, exp * 1000);
    let killing = running.wait_line("sending SIGKILL", LATE);
    // The grace period (1 s) ran first.
    assert!(
        killing.0 >= stopping.0 + 900,
        "SIGKILL {} ms after SIGTERM",
        killing.0 - stopping.0
    );
    let out = running.finish(&t);
    out.code(77)
        .stderr_has("did not stop within 1s of SIGTERM after its token expired; sending SIGKILL")
        .stderr_has("exiting 77 (credentials refused)");
}

fn stop_on_the_exec_path_stops_the_app_which_keeps_its_own_code_and_the_line_says_why() {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, SOON);
    let t = t.args(["--init", "never", "--on-expiry", "stop"]).args([
        "sh",
        "-c",
        "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 1; done",
    ]);
    let mut running = Live::start(t.command());
    let line = running.wait_line("stopping the app", LATE + Duration::from_secs(SOON));
    arrived_on_time(&line, exp * 1000);
    assert!(
        line.1.contains(&format!(
            "SYSTEMPROMPT_API_TOKEN expired at {}: stopping the app because its token expired",
            rfc3339(exp)
        )) && line.1.contains("its own exit code stands"),
        "{}",
        line.1
    );
    let out = running.finish(&t);
    // The app's own exit code: it handled SIGTERM and exited 3.
    out.code(3).stderr_lacks("exiting 77");
    assert!(out.stdout.contains("got TERM"), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------------
// Processes: no token, no zombie, nothing left behind (PID namespaces)
// ---------------------------------------------------------------------------------------------

/// Whether `unshare --pid` works here; prints one `skipped:` line when not.
fn can_unshare(test: &str) -> bool {
    let ok = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        common::skipped(test, "unshare --pid is not permitted here");
    }
    ok
}

/// After the entrypoint returns: wait (bounded) until the namespace's PID 1 (this shell) is
/// alone, then print `ALONE`, or `LEFT:` and what is left. External `sleep` runs let the
/// shell reap what was reparented to it.
const WAIT_ALONE: &str = r#"
i=0
while :; do
    left=""
    for p in /proc/[0-9]*; do
        n=${p#/proc/}
        [ "$n" = 1 ] && continue
        [ -e "$p/cmdline" ] || continue
        left="$left $n:$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)"
    done
    [ -z "$left" ] && { echo ALONE; break; }
    i=$((i+1)); [ $i -gt 400 ] && { echo "LEFT:$left"; break; }
    sleep 0.05
done
"#;

/// Run `script` as PID 1 of a new PID namespace (a shell), with `t`'s environment and the
/// binary in `$SP`.
fn in_namespace(t: &Test, script: &str) -> Live {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "sh", "-c", script])
        .env_clear()
        .stdin(Stdio::null());
    for (k, v) in t.command().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("SP", common::bin());
    Live::start(cmd)
}

#[test]
fn the_exec_path_watcher_is_nobodys_child_holds_no_token_and_leaves_nothing_behind() {
    let test_name = "the_exec_path_watcher_is_nobodys_child";
    if !can_unshare(test_name) {
        return;
    }
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, SOON);
    // PID 1 is a shell; the entrypoint (PID 2) execs the app (`--init auto`, not PID 1). The
    // app finds the watcher, shows its parent, environment size and command line, its own
    // children, then waits for the line at exp to have been written by waiting until exp has
    // passed (bounded), and exits.
    let app = format!(
        r#"
        i=0; w=""
        while [ -z "$w" ] && [ $i -lt 400 ]; do
            for p in /proc/[0-9]*; do
                [ "$(tr '\0' '\n' < $p/cmdline 2>/dev/null | sed -n 2p)" = __watch ] && w=${{p#/proc/}}
            done
            i=$((i+1)); [ -z "$w" ] && sleep 0.02
        done
        echo "watcher=$w ppid=$(sed -n 's/^PPid:\t//p' /proc/$w/status) environ=$(wc -c < /proc/$w/environ)"
        echo "cmdline=$(tr '\0' ' ' < /proc/$w/cmdline)"
        echo "pgrp_session=$(cut -d' ' -f5,6 /proc/$w/stat) cwd=$(readlink /proc/$w/cwd)"
        for fd in /proc/$w/fd/*; do echo "fd ${{fd##*/}} $(readlink $fd)"; done
        read -r kids < /proc/$$/task/$$/children
        echo "app=$$ children=[$kids]"
        i=0; while [ "$(date +%s)" -le {exp} ] && [ $i -lt 400 ]; do i=$((i+1)); sleep 0.05; done
        "#
    );
    let script = format!(
        r#"echo "sh=$$"; "$SP" -- sh -c '{app}'; echo "entrypoint=$?"; {WAIT_ALONE}"#,
        app = app.replace('\'', r"'\''")
    );
    let running = in_namespace(&t, &script);
    let out = running.finish(&t);
    out.code(0);
    let stdout = &out.stdout;
    assert!(stdout.contains("watcher="), "{stdout}\n{}", out.stderr);
    assert!(
        stdout.contains(" ppid=1 "),
        "reparented to PID 1, not the app:\n{stdout}"
    );
    assert!(
        stdout.contains(" environ=0\n"),
        "empty environment:\n{stdout}"
    );
    assert!(
        stdout.contains("__watch --grace-ms 5000 --expires-at ")
            && stdout.contains("--on-expiry warn"),
        "{stdout}"
    );
    assert!(
        stdout.contains("children=[]"),
        "the app has no child of ours:\n{stdout}"
    );
    // Its own session and process group (setsid), `/` as its directory, and only /dev/null,
    // stderr, the pidfd and (once started) its timer open.
    let w = stdout
        .split("watcher=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the watcher's PID");
    assert!(
        stdout.contains(&format!("pgrp_session={w} {w} cwd=/\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("fd 0 /dev/null\nfd 1 /dev/null\nfd 2 pipe:"),
        "{stdout}"
    );
    assert!(stdout.contains("fd 3 anon_inode:[pidfd]\n"), "{stdout}");
    for line in stdout.lines().filter(|l| l.starts_with("fd ")) {
        let n: u32 = line[3..]
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("fd");
        assert!(
            n <= 3 || line.ends_with("anon_inode:[timerfd]"),
            "unexpected descriptor: {line}\n{stdout}"
        );
    }
    assert!(stdout.contains("entrypoint=0"), "{stdout}");
    assert!(stdout.contains("ALONE"), "nothing left behind:\n{stdout}");
    out.stderr_has(&format!("expired at {}", rfc3339(exp)));
}

#[test]
fn stop_leaves_nothing_behind_on_the_exec_path_and_when_supervising() {
    let test_name = "stop_leaves_nothing_behind";
    if !can_unshare(test_name) {
        return;
    }
    let case = |init: &'static str| {
        let fake = cloud(vec![]);
        let (t, _) = with_token(&fake, SOON);
        let t = t.env("SYSTEMPROMPT_ON_EXPIRY", "stop");
        // Supervised, the app leaves a background child of its own too (the supervisor's
        // cleanup ends it). On the exec path the app's own children would be the app's
        // business (orphans of the namespace's init), so the app has none there.
        let app = if init == "always" {
            "sleep 60 & exec sleep 60"
        } else {
            "exec sleep 60"
        };
        let script =
            format!(r#""$SP" --init {init} -- sh -c '{app}'; echo "entrypoint=$?"; {WAIT_ALONE}"#);
        let running = in_namespace(&t, &script);
        let out = running.finish(&t);
        out.code(0);
        let want = if init == "never" {
            "entrypoint=143"
        } else {
            "entrypoint=77"
        };
        assert!(
            out.stdout.contains(want),
            "{init}: {}\n{}",
            out.stdout,
            out.stderr
        );
        assert!(out.stdout.contains("ALONE"), "{init}: {}", out.stdout);
    };
    concurrently(vec![
        ("exec path", Box::new(move || case("never"))),
        ("supervising", Box::new(move || case("always"))),
    ]);
}

#[test]
fn init_never_as_pid1_starts_no_watcher_and_says_so() {
    let fake = cloud(vec![]);
    let (t, _) = with_token(&fake, 3600 * 24);
    let script = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done";
    let t = t.args(["--init", "never", "sh", "-c", script]);
    let Some(out) = t.run_pid1("init_never_as_pid1_starts_no_watcher") else {
        return;
    };
    out.code(0)
        .stderr_has("the token's expiry is not watched: --init never as PID 1");
    assert!(!out.stdout.contains("__watch"), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------------
// off, and check
// ---------------------------------------------------------------------------------------------

#[test]
fn off_logs_nothing_and_starts_no_watcher() {
    if !can_unshare("off_logs_nothing_and_starts_no_watcher") {
        return;
    }
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, SOON);
    let t = t.env("SYSTEMPROMPT_ON_EXPIRY", "off");
    // The app outlives exp by a second (bounded wait on the clock), listing the processes.
    let script = format!(
        r#""$SP" -- sh -c 'for p in /proc/[0-9]*; do tr "\0" " " < $p/cmdline; echo; done; i=0; while [ "$(date +%s)" -le {} ] && [ $i -lt 400 ]; do i=$((i+1)); sleep 0.05; done'; echo "entrypoint=$?""#,
        exp + 1
    );
    let out = in_namespace(&t, &script).finish(&t);
    out.code(0);
    assert!(out.stdout.contains("entrypoint=0"), "{}", out.stdout);
    assert!(!out.stdout.contains("__watch"), "{}", out.stdout);
    assert!(now_ms() > (exp + 1) * 1000, "the app outlived exp");
    out.stderr_lacks("expired at")
        .stderr_lacks("sp_entrypoint::expiry");
}

#[test]
fn check_says_what_the_watch_will_do() {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, 3 * 3600);
    let out = t.args(["check", "--json"]).run();
    out.code(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    assert_eq!(v["on_expiry"], "warn");
    assert_eq!(v["expiry_watch"], true);
    assert_eq!(
        v["expiry_warnings_at"],
        serde_json::json!([rfc3339(exp - 3600), rfc3339(exp - 600), rfc3339(exp - 60)])
    );
    assert_eq!(v["expiry_error_at"], rfc3339(exp));

    let (t, exp) = with_token(&fake, 300);
    let out = t
        .env("SYSTEMPROMPT_ON_EXPIRY", "stop")
        .args(["check"])
        .run();
    out.code(0).stdout_has(&format!(
        "on_expiry:         stop (warnings at {}; error and stop at {})",
        rfc3339(exp - 60),
        rfc3339(exp)
    ));

    let (t, _) = with_token(&fake, 300);
    let out = t
        .env("SYSTEMPROMPT_ON_EXPIRY", "off")
        .args(["check", "--json"])
        .run();
    out.code(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    assert_eq!(v["on_expiry"], "off");
    assert_eq!(v["expiry_watch"], false);
    assert_eq!(v["expiry_warnings_at"], serde_json::json!([]));
    assert_eq!(v["expiry_error_at"], serde_json::Value::Null);
}

// ---------------------------------------------------------------------------------------------
// One sleep per threshold: the timers as the kernel shows them
// ---------------------------------------------------------------------------------------------

/// Shell: wait (bounded) until process `$w` holds a timerfd (it creates it just after its
/// exec), then print its `threads=N` and the `fdinfo` of each of its timerfds.
const SHOW_TIMERS: &str = r#"
i=0
until ls -l /proc/$w/fd 2>/dev/null | grep -q 'anon_inode:\[timerfd\]' || [ $i -gt 400 ]; do
    i=$((i+1)); sleep 0.02
done
echo "threads=$(sed -n 's/^Threads:\t//p' /proc/$w/status)"
for fd in /proc/$w/fd/*; do
    if [ "$(readlink $fd)" = "anon_inode:[timerfd]" ]; then
        echo "timerfd ${fd##*/}"; cat /proc/$w/fdinfo/${fd##*/}
    fi
done
"#;

/// The `(seconds, nanoseconds)` of `field` (e.g. `it_value`) in an fdinfo dump.
fn fdinfo_secs(text: &str, field: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in:\n{text}"));
    line.split(['(', ','])
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("bad {field} line: {line}"))
}

/// A token that expires in 25 hours: the watch holds one one-shot timer, armed for the hour
/// before `exp` (about 24 h away), in one thread; no periodic wake-ups.
fn check_one_timer(out: &Outcome, exp: u64) {
    let stdout = &out.stdout;
    assert!(stdout.contains("threads=1\n"), "one thread:\n{stdout}");
    assert_eq!(
        stdout.matches("timerfd ").count(),
        1,
        "one timer:\n{stdout}"
    );
    assert!(stdout.contains("ticks: 0"), "never fired:\n{stdout}");
    assert_eq!(fdinfo_secs(stdout, "it_interval"), 0, "one-shot:\n{stdout}");
    let left = fdinfo_secs(stdout, "it_value");
    let want = (exp - 3600).saturating_sub(fake_cloud::now_secs());
    assert!(
        left <= want + 1 && left + 60 >= want,
        "armed for {left} s from now, want about {want} s (the hour before exp):\n{stdout}"
    );
}

#[test]
fn a_token_a_day_away_gives_one_timer_armed_for_the_hour_before_exp_when_supervising() {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, 25 * 3600);
    // The supervisor is the app's parent.
    let script = format!("w=$PPID; {SHOW_TIMERS}");
    let out = t.args(["--init", "always", "sh", "-c", &script]).run();
    out.code(0);
    check_one_timer(&out, exp);
}

#[test]
fn a_token_a_day_away_gives_one_timer_armed_for_the_hour_before_exp_on_the_exec_path() {
    if !can_unshare("a_token_a_day_away_gives_one_timer_on_the_exec_path") {
        return;
    }
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, 25 * 3600);
    // The app finds the watcher (bounded wait for its exec), shows its timers, and also that
    // the app itself holds no timer, pidfd or extra thread.
    let app = format!(
        r#"
        i=0; w=""
        while [ -z "$w" ] && [ $i -lt 400 ]; do
            for p in /proc/[0-9]*; do
                [ "$(tr '\0' '\n' < $p/cmdline 2>/dev/null | sed -n 2p)" = __watch ] && w=${{p#/proc/}}
            done
            i=$((i+1)); [ -z "$w" ] && sleep 0.02
        done
        echo "pidfd: $(grep '^Pid:' /proc/$w/fdinfo/3)"
        {SHOW_TIMERS}
        echo "app=$$ app_threads=$(sed -n 's/^Threads:\t//p' /proc/$$/status)"
        for fd in /proc/$$/fd/*; do echo "app_fd $(readlink $fd)"; done
        "#
    );
    let script = format!(
        r#""$SP" -- sh -c '{app}'; echo "entrypoint=$?""#,
        app = app.replace('\'', r"'\''")
    );
    let out = in_namespace(&t, &script).finish(&t);
    out.code(0);
    check_one_timer(&out, exp);
    let stdout = &out.stdout;
    assert!(
        stdout.contains("pidfd: Pid:\t2\n"),
        "the watcher's pidfd is on the app (PID 2):\n{stdout}"
    );
    assert!(stdout.contains("app=2 app_threads=1\n"), "{stdout}");
    assert!(
        !stdout.contains("app_fd anon_inode"),
        "the app holds no timer or pidfd:\n{stdout}"
    );
    assert!(stdout.contains("entrypoint=0"), "{stdout}");
}

fn stop_on_the_exec_path_kills_an_app_that_ignores_sigterm_after_the_grace() {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, SOON);
    let t = t.args(["--on-expiry", "stop", "--grace", "1"]).args([
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 1; done",
    ]);
    let mut running = Live::start(t.command());
    let stopping = running.wait_line("stopping the app", LATE + Duration::from_secs(SOON));
    arrived_on_time(&stopping, exp * 1000);
    let killing = running.wait_line("sending SIGKILL", LATE);
    assert!(
        killing.0 >= stopping.0 + 900,
        "SIGKILL {} ms after SIGTERM",
        killing.0 - stopping.0
    );
    let out = running.finish(&t);
    // The app's own end: killed by SIGKILL.
    out.code(137).stderr_lacks("exiting 77");
}

#[test]
fn a_bootstrap_that_fails_after_the_watcher_started_leaves_nothing_behind() {
    if !can_unshare("a_bootstrap_that_fails_after_the_watcher_started") {
        return;
    }
    // The exec path's watcher starts before the whoami call; the API refuses the token, so
    // the entrypoint exits 77 and the watcher must end with it.
    let fake = cloud(vec![common::Step::Status {
        code: 401,
        retry_after: None,
        body: None,
        content_type: None,
    }]);
    let (t, _) = with_token(&fake, 3600);
    let script =
        format!(r#""$SP" -- sh -c 'echo app started'; echo "entrypoint=$?"; {WAIT_ALONE}"#);
    let out = in_namespace(&t, &script).finish(&t);
    out.code(0);
    assert!(
        out.stdout.contains("entrypoint=77"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(!out.stdout.contains("app started"), "{}", out.stdout);
    assert!(out.stdout.contains("ALONE"), "{}", out.stdout);
    assert_eq!(fake.requests(), 1);
}

fn the_log_filter_mutes_the_lines_but_not_the_stop() {
    let fake = cloud(vec![]);
    let (t, exp) = with_token(&fake, SOON);
    let t = t.args([
        "--log",
        "warn,sp_entrypoint::expiry=off",
        "--on-expiry",
        "stop",
        "--init",
        "always",
        "sleep",
        "60",
    ]);
    let out = t.run();
    out.code(77)
        .stderr_has("SYSTEMPROMPT_API_TOKEN expires in")
        .stderr_lacks("expired at")
        .stderr_lacks("exiting 77");
    assert!(now_ms() >= exp * 1000, "stopped before exp");
}

#[test]
fn stop_ends_the_app_at_exp_as_pid1_with_init_always_and_on_the_exec_path() {
    concurrently(vec![
        (
            "PID 1: exit 77",
            Box::new(stop_ends_a_long_running_app_and_exits_77_as_pid1),
        ),
        (
            "--init always, SIGTERM ignored: SIGKILL after the grace, exit 77",
            Box::new(stop_kills_an_app_that_ignores_sigterm_after_the_grace_and_exits_77_with_init_always),
        ),
        (
            "exec path: the app's own code, the line says why",
            Box::new(stop_on_the_exec_path_stops_the_app_which_keeps_its_own_code_and_the_line_says_why),
        ),
        (
            "exec path, SIGTERM ignored: SIGKILL after the grace",
            Box::new(stop_on_the_exec_path_kills_an_app_that_ignores_sigterm_after_the_grace),
        ),
    ]);
}

#[test]
fn the_lines_follow_the_log_format_the_filter_and_the_fly_fields() {
    concurrently(vec![
        (
            "JSON with expires_at and the Fly fields",
            Box::new(json_lines_carry_expires_at_and_the_fly_fields),
        ),
        (
            "the filter mutes the lines, not the stop",
            Box::new(the_log_filter_mutes_the_lines_but_not_the_stop),
        ),
    ]);
}
