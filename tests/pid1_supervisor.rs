//! Integration tests of the PID-1 supervisor (`src/init.rs`), run against the real binary in
//! its standalone form `sp-entrypoint __supervise --grace-ms N [--handoff] -- CMD...`.
//!
//! Each behaviour runs in up to four modes: as a child subreaper (not PID 1), the same through
//! the `--handoff` re-exec (the path `init::run` takes), and both again as PID 1 of a new PID
//! namespace (`unshare --pid --fork --mount-proc`). When `unshare` is not permitted, the PID-1
//! modes print one `skipped: ...` line and the others still run.
//!
//! The binary is `SP_ENTRYPOINT_BIN` when set (e.g. the musl build), else cargo's build.
//! Synchronisation is by lines on the app's stdout and by FIFOs, never by sleeping; the only
//! polling is bounded waiting for a condition that has no event (a PID disappearing, a
//! re-exec having happened).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill};
use nix::unistd::Pid;

mod common;
use common::bin;

/// Generous bound for anything that should take milliseconds.
const LONG: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not PID 1: child subreaper, supervising in the process that spawned the app.
    Subreaper,
    /// Not PID 1, through the re-exec hand-off (`--handoff`, as `init::run` does).
    Handoff,
    /// PID 1 of a new PID namespace.
    Pid1,
    /// PID 1, through the hand-off.
    Pid1Handoff,
}

impl Mode {
    fn pid1(self) -> bool {
        matches!(self, Mode::Pid1 | Mode::Pid1Handoff)
    }
    fn handoff(self) -> bool {
        matches!(self, Mode::Handoff | Mode::Pid1Handoff)
    }
}

/// Whether `unshare --pid --fork --mount-proc` works here (cached), with the reason if not.
fn unshare_status() -> &'static Result<(), String> {
    static STATUS: OnceLock<Result<(), String>> = OnceLock::new();
    STATUS.get_or_init(|| {
        match Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "true"])
            .stderr(Stdio::piped())
            .output()
        {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "unshare --pid not permitted: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("unshare not available: {e}")),
        }
    })
}

/// The modes to run: all four, or the non-PID-1 ones with one visible `skipped:` line.
fn modes(test: &str) -> Vec<Mode> {
    match unshare_status() {
        Ok(()) => vec![
            Mode::Subreaper,
            Mode::Handoff,
            Mode::Pid1,
            Mode::Pid1Handoff,
        ],
        Err(reason) => {
            // Straight to fd 2, past the test harness's output capture, so it is visible.
            common::skipped(&format!("{test} as PID 1"), reason);
            vec![Mode::Subreaper, Mode::Handoff]
        }
    }
}

/// [`modes`] for a test whose app leaves processes behind: they come to the supervisor only
/// as PID 1 or as a child subreaper. Where the binary cannot become one (qemu-user), the PID-1
/// modes only, with one visible `skipped:` line.
fn orphan_modes(test: &str) -> Vec<Mode> {
    let all = modes(test);
    match common::subreaper_refused() {
        None => all,
        Some(why) => {
            common::skipped(&format!("{test} as a subreaper"), why);
            all.into_iter().filter(|m| m.pid1()).collect()
        }
    }
}

/// A per-test scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sp-init-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `__supervise` command for `script` (run by `sh -c`), in `mode`.
fn supervise_cmd(mode: Mode, grace_ms: u64, script: &str, dir: &Path) -> Command {
    let mut cmd = if mode.pid1() {
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--mount-proc"]).arg(bin());
        c
    } else {
        Command::new(bin())
    };
    cmd.arg("__supervise")
        .arg("--grace-ms")
        .arg(grace_ms.to_string());
    if mode.handoff() {
        cmd.arg("--handoff");
    }
    cmd.args(["--", "sh", "-c", script]);
    cmd.env("D", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A running supervisor: its lines of stdout, its stderr, its exit status, and the PID of our
/// binary (under `unshare`, the child of `unshare`).
struct Running {
    mode: Mode,
    outer_pid: u32,
    lines: Receiver<String>,
    status: Receiver<ExitStatus>,
    stderr: Receiver<String>,
}

impl Running {
    fn start(mut cmd: Command, mode: Mode) -> Running {
        let mut child: Child = cmd.spawn().expect("spawn the supervisor");
        let outer_pid = child.id();
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (line_tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (err_tx, stderr_rx) = channel();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = err_tx.send(s);
        });
        let (st_tx, status) = channel();
        std::thread::spawn(move || {
            let st = child.wait().expect("wait for the supervisor");
            let _ = st_tx.send(st);
        });
        Running {
            mode,
            outer_pid,
            lines,
            status,
            stderr: stderr_rx,
        }
    }

    /// The next line of the app's stdout.
    fn line(&self) -> String {
        match self.lines.recv_timeout(LONG) {
            Ok(l) => l,
            Err(e) => {
                self.kill_all();
                panic!(
                    "{:?}: no line from the app ({e:?}); stderr: {}",
                    self.mode,
                    self.stderr_now()
                );
            }
        }
    }

    fn expect_line(&self, want: &str) {
        let got = self.line();
        assert_eq!(got, want, "{:?}: unexpected line from the app", self.mode);
    }

    /// PID (in our namespace) of the sp-entrypoint process.
    fn supervisor_pid(&self) -> Pid {
        if !self.mode.pid1() {
            return Pid::from_raw(i32::try_from(self.outer_pid).expect("pid"));
        }
        let path = format!("/proc/{0}/task/{0}/children", self.outer_pid);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let pid = text
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("unshare has no child yet"));
        Pid::from_raw(pid.parse().expect("pid"))
    }

    fn signal(&self, sig: Signal) {
        kill(self.supervisor_pid(), sig).expect("signal the supervisor");
    }

    /// Exit code (or panics after `LONG`), and stderr.
    fn finish(self) -> (i32, String) {
        let st = match self.status.recv_timeout(LONG) {
            Ok(st) => st,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.kill_all();
                panic!(
                    "{:?}: the supervisor did not exit; stderr: {}",
                    self.mode,
                    self.stderr_now()
                );
            }
        };
        let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
        let stderr = self.stderr.recv_timeout(LONG).unwrap_or_default();
        (code, stderr)
    }

    fn stderr_now(&self) -> String {
        self.stderr.try_recv().unwrap_or_default()
    }

    fn kill_all(&self) {
        if self.mode.pid1()
            && let Ok(text) =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.outer_pid))
        {
            for p in text.split_whitespace().filter_map(|p| p.parse().ok()) {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
        }
        let _ = kill(
            Pid::from_raw(i32::try_from(self.outer_pid).unwrap_or(0)),
            Signal::SIGKILL,
        );
    }
}

/// Wait (bounded) for `cond`, polling: only for conditions that have no event to wait on.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn run_to_end(mode: Mode, grace_ms: u64, script: &str, dir: &Path) -> (i32, String) {
    Running::start(supervise_cmd(mode, grace_ms, script, dir), mode).finish()
}

// ---------------------------------------------------------------------------------------------
// Signals reach the app, exit codes come out
// ---------------------------------------------------------------------------------------------

#[test]
fn sigterm_stops_an_app_without_handler_within_1s_with_143() {
    let dir = scratch("term-nohandler");
    for mode in modes("sigterm_stops_an_app_without_handler") {
        let r = Running::start(
            supervise_cmd(mode, 5000, "echo ready; exec sleep 30", &dir),
            mode,
        );
        r.expect_line("ready");
        let t0 = Instant::now();
        r.signal(Signal::SIGTERM);
        let (code, stderr) = r.finish();
        let took = t0.elapsed();
        assert_eq!(code, 143, "{mode:?}: stderr: {stderr}");
        assert!(took < Duration::from_secs(1), "{mode:?}: took {took:?}");
    }
}

#[test]
fn trapped_sigterm_reaches_the_app_and_its_exit_code_comes_out() {
    let dir = scratch("term-trap");
    for mode in modes("trapped_sigterm_reaches_the_app") {
        let script = r#"trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done"#;
        let r = Running::start(supervise_cmd(mode, 5000, script, &dir), mode);
        r.expect_line("ready");
        r.signal(Signal::SIGTERM);
        let (code, stderr) = r.finish();
        assert_eq!(code, 42, "{mode:?}: stderr: {stderr}");
    }
}

#[test]
fn other_signals_are_forwarded_too() {
    let dir = scratch("forward");
    for mode in modes("other_signals_are_forwarded_too") {
        let script = r#"trap "echo got-usr1" USR1; trap "echo got-hup" HUP; trap "echo got-int; exit 7" INT
            echo ready; while :; do sleep 0.05; done"#;
        let r = Running::start(supervise_cmd(mode, 5000, script, &dir), mode);
        r.expect_line("ready");
        r.signal(Signal::SIGUSR1);
        r.expect_line("got-usr1");
        r.signal(Signal::SIGHUP);
        r.expect_line("got-hup");
        r.signal(Signal::SIGINT);
        r.expect_line("got-int");
        let (code, stderr) = r.finish();
        assert_eq!(code, 7, "{mode:?}: stderr: {stderr}");
    }
}

#[test]
fn exit_codes_pass_through() {
    let dir = scratch("codes");
    for mode in modes("exit_codes_pass_through") {
        for (script, want) in [("exit 0", 0), ("exit 3", 3), ("exit 255", 255), ("true", 0)] {
            let (code, stderr) = run_to_end(mode, 5000, script, &dir);
            assert_eq!(code, want, "{mode:?} {script}: stderr: {stderr}");
        }
    }
}

#[test]
fn app_killed_by_sigkill_gives_137() {
    let dir = scratch("kill9");
    for mode in modes("app_killed_by_sigkill_gives_137") {
        let (code, stderr) = run_to_end(mode, 5000, "kill -KILL $$", &dir);
        assert_eq!(code, 137, "{mode:?}: stderr: {stderr}");
    }
}

#[test]
fn missing_command_gives_127_and_non_executable_126() {
    let dir = scratch("noexec");
    let plain = dir.join("plain-file");
    std::fs::write(&plain, "not a program\n").expect("write");
    for handoff in [false, true] {
        let mut extra = vec!["__supervise"];
        if handoff {
            extra.push("--handoff");
        }
        let out = Command::new(bin())
            .args(&extra)
            .args(["--", "/nonexistent/app"])
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(127),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("command not found: /nonexistent/app")
        );
        let out = Command::new(bin())
            .args(&extra)
            .arg("--")
            .arg(&plain)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(126),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(bin())
            .args(&extra)
            .args(["--", "/"])
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(126),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bad_supervisor_arguments_give_64() {
    let out = Command::new(bin())
        .args(["__supervise", "--grace-ms", "x", "--", "true"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    let out = Command::new(bin())
        .args(["__supervise", "--child", "999999", "--grace-ms", "10"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(70),
        "a PID that is not our child: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Reaping and leftovers
// ---------------------------------------------------------------------------------------------

#[test]
fn orphans_are_reaped_no_zombie_remains() {
    let dir = scratch("orphan");
    for mode in modes("orphans_are_reaped") {
        // The orphan writes its PID to a FIFO and exits; its parent (the subshell) is already
        // gone, so it is reparented to us (PID 1 or the nearest subreaper). The app then checks
        // that its /proc entry disappears (a zombie keeps it).
        let script = r#"rm -f "$D/f"; mkfifo "$D/f"
            ( sh -c 'echo $$ > "$D/f"' & )
            read P < "$D/f"
            i=0; while [ -e /proc/$P ]; do i=$((i+1)); if [ $i -gt 1000 ]; then echo "zombie: $(cat /proc/$P/stat)"; exit 1; fi; sleep 0.01; done
            echo reaped"#;
        let r = Running::start(supervise_cmd(mode, 5000, script, &dir), mode);
        r.expect_line("reaped");
        let (code, stderr) = r.finish();
        assert_eq!(code, 0, "{mode:?}: stderr: {stderr}");
    }
}

#[test]
fn a_leftover_gets_sigterm_and_its_handler_runs_before_we_exit() {
    let dir = scratch("leftover-term");
    for mode in orphan_modes("a_leftover_gets_sigterm") {
        let _ = std::fs::remove_file(dir.join("cleaned"));
        let script = r#"rm -f "$D/f"; mkfifo "$D/f"
            ( trap 'echo cleaned > "$D/cleaned"; exit 0' TERM; echo up > "$D/f"; while :; do sleep 0.1; done ) &
            read x < "$D/f"
            echo exiting; exit 3"#;
        let r = Running::start(supervise_cmd(mode, 5000, script, &dir), mode);
        r.expect_line("exiting");
        let t0 = Instant::now();
        let (code, stderr) = r.finish();
        let took = t0.elapsed();
        assert_eq!(code, 3, "{mode:?}: stderr: {stderr}");
        let cleaned = std::fs::read_to_string(dir.join("cleaned")).unwrap_or_default();
        assert_eq!(
            cleaned.trim(),
            "cleaned",
            "{mode:?}: the leftover's handler did not run; stderr: {stderr}"
        );
        assert!(stderr.contains("SIGTERM"), "{mode:?}: stderr: {stderr}");
        assert!(!stderr.contains("SIGKILL"), "{mode:?}: stderr: {stderr}");
        // Exited as soon as the leftover was gone, not at the end of the 5 s grace period.
        assert!(took < Duration::from_secs(3), "{mode:?}: took {took:?}");
    }
}

#[test]
fn a_leftover_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = scratch("leftover-kill");
    for mode in orphan_modes("a_leftover_ignoring_sigterm_is_killed") {
        let script = r#"rm -f "$D/f"; mkfifo "$D/f"
            ( trap '' TERM; echo up > "$D/f"; exec sleep 60 ) &
            read x < "$D/f"
            echo exiting; exit 4"#;
        let r = Running::start(supervise_cmd(mode, 300, script, &dir), mode);
        r.expect_line("exiting");
        let t0 = Instant::now();
        let (code, stderr) = r.finish();
        let took = t0.elapsed();
        assert_eq!(code, 4, "{mode:?}: stderr: {stderr}");
        assert!(stderr.contains("SIGKILL"), "{mode:?}: stderr: {stderr}");
        assert!(
            took >= Duration::from_millis(280),
            "{mode:?}: did not wait for the grace period: {took:?}"
        );
        assert!(took < Duration::from_secs(5), "{mode:?}: took {took:?}");
    }
}

#[test]
fn grandchildren_of_a_leftover_are_cleaned_up_as_they_are_reparented() {
    // A leftover (ignoring SIGTERM) with its own child (also ignoring it): both must be gone
    // when we exit, and the grandchild must not outlive us (it would be reparented above us).
    let dir = scratch("leftover-tree");
    for mode in orphan_modes("grandchildren_of_a_leftover") {
        let script = r#"rm -f "$D/f" "$D/gc"; mkfifo "$D/f"
            ( trap '' TERM; sh -c 'echo $$ > "$D/gc"; exec sleep 60' & echo up > "$D/f"; wait ) &
            read x < "$D/f"
            until [ -s "$D/gc" ]; do sleep 0.01; done
            echo "gc $(cat "$D/gc")"; exit 5"#;
        let r = Running::start(supervise_cmd(mode, 200, script, &dir), mode);
        let gc_line = r.line();
        let gc: i32 = gc_line
            .trim_start_matches("gc ")
            .parse()
            .expect("grandchild pid");
        let (code, stderr) = r.finish();
        assert_eq!(code, 5, "{mode:?}: stderr: {stderr}");
        if !mode.pid1() {
            // Same PID namespace: the grandchild must be gone (killed and reaped by us).
            assert!(
                !Path::new(&format!("/proc/{gc}")).exists() || is_not_sleep(gc),
                "{mode:?}: grandchild {gc} survived"
            );
        }
    }
}

/// A recycled PID is not our grandchild.
fn is_not_sleep(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .map_or(true, |c| !c.starts_with("sleep\u{0}60"))
}

// ---------------------------------------------------------------------------------------------
// The hand-off (init::run's path) and the app's starting state
// ---------------------------------------------------------------------------------------------

#[test]
fn handoff_supervisor_has_empty_environ_and_the_app_keeps_its_env() {
    let dir = scratch("handoff-env");
    let script = r#"echo "token=$SYSTEMPROMPT_API_TOKEN"; trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done"#;
    let mut cmd = supervise_cmd(Mode::Handoff, 5000, script, &dir);
    cmd.env("SYSTEMPROMPT_API_TOKEN", "sekrit-test-token");
    let r = Running::start(cmd, Mode::Handoff);
    r.expect_line("token=sekrit-test-token");
    r.expect_line("ready");
    let sup = r.supervisor_pid();
    let cmdline = || std::fs::read(format!("/proc/{sup}/cmdline")).unwrap_or_default();
    wait_until("the supervisor re-executed itself", || {
        cmdline().windows(7).any(|w| w == b"--child")
    });
    let environ = std::fs::read(format!("/proc/{sup}/environ")).expect("read environ");
    assert!(
        environ.is_empty(),
        "supervisor environ: {}",
        String::from_utf8_lossy(&environ)
    );
    let args: Vec<String> = String::from_utf8_lossy(&cmdline())
        .split('\0')
        .map(str::to_owned)
        .collect();
    // argv[1..]; under qemu-user (binfmt flag P) the interpreter and the file name come first.
    let at = usize::from(args[0].contains("qemu")) * 2 + 1;
    assert_eq!(
        (args[at].as_str(), args[at + 1].as_str()),
        ("__supervise", "--child"),
        "{args:?}"
    );
    assert!(args[at + 2].parse::<u32>().is_ok(), "{args:?}");
    assert!(!String::from_utf8_lossy(&cmdline()).contains("sekrit"));
    r.signal(Signal::SIGTERM);
    let (code, stderr) = r.finish();
    assert_eq!(code, 42, "stderr: {stderr}");
}

#[test]
fn a_signal_sent_during_the_handoff_is_not_lost() {
    // The app signals its parent right away, most likely before the re-exec: the signal stays
    // pending (blocked) across execve and is forwarded by the new image. A reset mask would
    // let it kill the supervisor instead (143 instead of 42).
    let dir = scratch("handoff-pending");
    for mode in modes("a_signal_sent_during_the_handoff") {
        let script = r#"trap "exit 42" TERM; kill -TERM $PPID; while :; do sleep 0.05; done"#;
        let (code, stderr) = run_to_end(mode, 5000, script, &dir);
        assert_eq!(code, 42, "{mode:?}: stderr: {stderr}");
    }
}

#[test]
fn the_app_starts_with_an_empty_signal_mask_and_nothing_ignored() {
    if let Some(why) = common::emulated() {
        // qemu-user keeps a host signal of its own ignored, and the native app inherits that.
        common::skipped(
            "the_app_starts_with_an_empty_signal_mask_and_nothing_ignored",
            &format!("{why}, and qemu-user's own reserved signal reaches the app ignored"),
        );
        return;
    }
    let dir = scratch("clean-state");
    for mode in [Mode::Subreaper, Mode::Handoff] {
        let mut cmd = supervise_cmd(
            mode,
            5000,
            r"grep -E '^Sig(Blk|Ign)' /proc/self/status",
            &dir,
        );
        // SAFETY: runs in the forked child before exec; only async-signal-safe calls
        // (pthread_sigmask, sigaction with SIG_IGN).
        unsafe {
            cmd.pre_exec(|| {
                let mut set = SigSet::empty();
                set.add(Signal::SIGUSR1);
                set.add(Signal::SIGTERM);
                set.thread_block()?;
                nix::sys::signal::signal(Signal::SIGHUP, nix::sys::signal::SigHandler::SigIgn)?;
                nix::sys::signal::signal(Signal::SIGINT, nix::sys::signal::SigHandler::SigIgn)?;
                Ok(())
            });
        }
        let r = Running::start(cmd, mode);
        r.expect_line("SigBlk:\t0000000000000000");
        r.expect_line("SigIgn:\t0000000000000000");
        let (code, stderr) = r.finish();
        assert_eq!(code, 0, "{mode:?}: stderr: {stderr}");
    }
}

#[test]
fn the_app_gets_its_own_process_group() {
    let dir = scratch("pgrp");
    for mode in modes("the_app_gets_its_own_process_group") {
        // Fields 5 and 6 of /proc/self/stat after the command: pgrp and session; pid is field 1.
        let script = r#"read pid comm state ppid pgrp rest < /proc/self/stat; [ "$pid" = "$pgrp" ] && echo own-group || echo "pid $pid pgrp $pgrp""#;
        let r = Running::start(supervise_cmd(mode, 5000, script, &dir), mode);
        r.expect_line("own-group");
        let (code, stderr) = r.finish();
        assert_eq!(code, 0, "{mode:?}: stderr: {stderr}");
    }
}

/// SigBlk / ShdPnd of a process, from its status text.
fn status_field(status: &str, name: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in status"));
    u64::from_str_radix(line[name.len()..].trim_start_matches(':').trim(), 16).expect("hex")
}

#[test]
fn std_command_keeps_the_signal_mask_and_pending_signals_across_exec() {
    // What `init` relies on (and works around): std's Command does not reset the signal mask
    // in the child, and an exec keeps the mask and the pending set. The fork+exec path here
    // (forced by pre_exec) runs the same `do_exec` as `CommandExt::exec`, which the hand-off
    // uses.
    // (The environment may start us with most signals blocked: set exact masks.)
    let usr1 = 1u64 << (Signal::SIGUSR1 as i32 - 1);
    let mut cmd = Command::new("cat");
    cmd.arg("/proc/self/status");
    // SAFETY: runs in the forked child before exec; pthread_sigmask, getpid and kill are
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let mut set = SigSet::empty();
            set.add(Signal::SIGUSR1);
            set.thread_set_mask()?;
            kill(nix::unistd::getpid(), Signal::SIGUSR1)?;
            Ok(())
        });
    }
    let out = cmd.output().expect("run cat");
    let status = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        status_field(&status, "SigBlk"),
        usr1,
        "mask kept across exec:\n{status}"
    );
    assert_eq!(
        status_field(&status, "ShdPnd") & usr1,
        usr1,
        "pending signal kept across exec:\n{status}"
    );

    // The posix_spawn path (no pre_exec) inherits the spawning thread's mask as well: hence
    // init resets it in the app's pre_exec.
    let mut usr2 = SigSet::empty();
    usr2.add(Signal::SIGUSR2);
    let old = usr2
        .thread_swap_mask(SigmaskHow::SIG_SETMASK)
        .expect("set mask");
    let out = Command::new("cat").arg("/proc/self/status").output();
    old.thread_set_mask().expect("restore");
    let status = String::from_utf8_lossy(&out.expect("run cat").stdout).into_owned();
    let bit = 1u64 << (Signal::SIGUSR2 as i32 - 1);
    assert_eq!(
        status_field(&status, "SigBlk"),
        bit,
        "std spawn inherits the mask:\n{status}"
    );
}

#[test]
fn on_a_terminal_the_app_is_the_foreground_process_group() {
    // `script` (util-linux) runs us on a fresh pseudo-terminal, like `docker run -it`.
    if Command::new("script").arg("--version").output().is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: on_a_terminal: no `script` command"
        );
        return;
    }
    for handoff in [false, true] {
        let sup = format!(
            "{} __supervise {}-- sh -c 'read pid c s pp pg sid tty tpgid rest < /proc/self/stat; [ \"$pg\" = \"$pid\" ] && [ \"$tpgid\" = \"$pg\" ] && echo foreground || echo \"pgrp $pg tpgid $tpgid pid $pid\"'",
            bin().display(),
            if handoff { "--handoff " } else { "" }
        );
        let out = Command::new("script")
            .args(["-qec", &sup, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("run script");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("foreground"), "handoff={handoff}: {stdout}");
        assert_eq!(out.status.code(), Some(0), "handoff={handoff}: {stdout}");
    }
}

// ---------------------------------------------------------------------------------------------
// Broken surroundings
// ---------------------------------------------------------------------------------------------

#[test]
fn with_stdout_and_stderr_closed_the_app_code_passes_on_and_leftovers_are_still_killed() {
    // Real closed pipes: every line the supervisor writes fails (EPIPE). A leftover notes the
    // SIGTERM it gets and ignores it, so only the SIGKILL after the grace period ends it (its
    // own output goes to /dev/null: sh would die of SIGPIPE reporting its killed `sleep`).
    let dir = scratch("closed-output");
    for mode in orphan_modes("with_stdout_and_stderr_closed") {
        let got = dir.join("got");
        let _ = std::fs::remove_file(&got);
        let script = r#"rm -f "$D/f"; mkfifo "$D/f"
            ( trap 'echo term >> "$D/got"' TERM; echo up > "$D/f"; while :; do sleep 0.05; done ) >/dev/null 2>&1 &
            read x < "$D/f"
            exit 4"#;
        let mut cmd = supervise_cmd(mode, 300, script, &dir);
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        cmd.stdout(writer.try_clone().expect("dup")).stderr(writer);
        let t0 = Instant::now();
        let mut child = cmd.spawn().expect("spawn the supervisor");
        let mut status = None;
        wait_until("the supervisor exits", || {
            status = child.try_wait().expect("wait");
            status.is_some()
        });
        let took = t0.elapsed();
        let status = status.expect("status");
        assert_eq!(status.code(), Some(4), "{mode:?}: {status:?}");
        let noted = std::fs::read_to_string(&got).unwrap_or_default();
        assert!(
            noted.contains("term"),
            "{mode:?}: the leftover got no SIGTERM"
        );
        assert!(
            took >= Duration::from_millis(280),
            "{mode:?}: did not wait for the grace period: {took:?}"
        );
    }
}
