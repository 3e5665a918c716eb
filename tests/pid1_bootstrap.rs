//! The bootstrap and the PID-1 modes together: the real binary, the fake cloud, and a fresh PID
//! namespace (`unshare --pid --fork --mount-proc`; skipped with one visible line where that is
//! not permitted). The supervisor's own behaviours are proven in `pid1_supervisor.rs`; these
//! tests prove the whole path `bootstrap -> init::run -> hand-off -> supervise`.

mod common;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use common::{Step, Test, cloud, read, scratch, signal_and_wait};
use nix::sys::signal::Signal;

/// The first line of `child`'s stdout (the app saying it is ready).
fn first_line(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    line
}

#[test]
fn as_pid1_sigterm_stops_an_app_without_a_handler_with_143() {
    let fake = cloud(vec![]);
    let t = Test::new()
        .cloud(&fake)
        .args(["sh", "-c", "echo ready; exec sleep 30"]);
    let Some((mut child, pid1)) = t.spawn_pid1("as_pid1_sigterm_stops_an_app_without_a_handler")
    else {
        return;
    };
    assert_eq!(first_line(&mut child).trim(), "ready");
    let out = signal_and_wait(child, pid1, Signal::SIGTERM);
    out.code(143);
    out.took(Duration::ZERO, Duration::from_secs(1));
}

#[test]
fn as_pid1_the_supervisor_keeps_no_token_in_its_environment() {
    let fake = cloud(vec![]);
    let dir = scratch("environ");
    // The app inspects its parent, the supervisor (PID 1 after the hand-off), once the
    // hand-off has happened (polling up to 5 s: the app may run before its parent re-executes).
    let script = format!(
        "{wait} tr '\\0' '\\n' < /proc/1/environ > {d}/environ; tr '\\0' ' ' < /proc/1/cmdline > {d}/cmdline; echo \"$SYSTEMPROMPT_API_TOKEN\" | wc -c > {d}/app-token-len",
        wait = common::wait_for_handoff("1"),
        d = dir.display()
    );
    let t = Test::new().cloud(&fake).args(["sh", "-c", &script]);
    let token = t.secrets()[0].clone();
    let Some(out) = t.run_pid1("as_pid1_the_supervisor_keeps_no_token_in_its_environment") else {
        return;
    };
    out.code(0);
    let environ = read(&dir.join("environ"));
    assert!(
        !environ.contains("SYSTEMPROMPT_API_TOKEN"),
        "supervisor environ: {environ}"
    );
    common::assert_no_trace(&token, &environ, "/proc/1/environ");
    let cmdline = read(&dir.join("cmdline"));
    assert!(
        cmdline.contains("__supervise --child"),
        "PID 1 is the lean supervisor: {cmdline}"
    );
    common::assert_no_trace(&token, &cmdline, "/proc/1/cmdline");
    // The app itself still got the token.
    assert!(
        read(&dir.join("app-token-len"))
            .trim()
            .parse::<usize>()
            .unwrap()
            > 20
    );
}

#[test]
fn a_supervised_boot_warns_of_nothing() {
    // `--init always` through the hand-off: the runtime is gone by then, so the process has
    // the threads it started with. Under qemu-user the emulator's own thread is in
    // /proc/self/task from the start; it is not ours and gets no warning.
    let fake = cloud(vec![]);
    let out = Test::new()
        .cloud(&fake)
        .args(["--init", "always", "true"])
        .run();
    out.code(0).stderr_has("credentials validated");
    assert!(
        !out.stderr.contains("WARN") && !out.stderr.contains("multi-threaded"),
        "{}",
        out.stderr
    );
}

/// As PID 1, `sig` during a hanging whoami ends the entrypoint at once with `code`, and the
/// app never starts.
fn stop_during_hanging_whoami(test: &str, sig: Signal, code: i32) {
    let fake = cloud(vec![Step::Hang]);
    let dir = scratch("hang");
    let t =
        Test::new()
            .cloud(&fake)
            .args(["sh", "-c", &format!("touch {}/started", dir.display())]);
    let Some((child, pid1)) = t.spawn_pid1(test) else {
        return;
    };
    assert!(
        fake.wait_for_requests(1, Duration::from_secs(20)),
        "whoami never arrived"
    );
    let out = signal_and_wait(child, pid1, sig);
    out.code(code).stderr_has(sig.as_str());
    out.took(Duration::ZERO, Duration::from_secs(1));
    assert!(!dir.join("started").exists(), "the app must never start");
}

#[test]
fn as_pid1_sigterm_during_a_hanging_whoami_ends_within_1s_and_the_app_never_starts() {
    stop_during_hanging_whoami(
        "as_pid1_sigterm_during_a_hanging_whoami",
        Signal::SIGTERM,
        143,
    );
}

#[test]
fn as_pid1_sigint_during_a_hanging_whoami_gives_130() {
    stop_during_hanging_whoami(
        "as_pid1_sigint_during_a_hanging_whoami",
        Signal::SIGINT,
        130,
    );
}

#[test]
fn init_never_execs_even_as_pid1() {
    let fake = cloud(vec![]);
    let t = Test::new()
        .cloud(&fake)
        .args(["--init", "never", "sh", "-c", "echo $$"]);
    let Some(out) = t.run_pid1("init_never_execs_even_as_pid1") else {
        return;
    };
    out.code(0);
    assert_eq!(out.stdout.trim(), "1", "the app is PID 1 itself");
}

#[test]
fn init_auto_supervises_as_pid1() {
    let fake = cloud(vec![]);
    let t = Test::new()
        .cloud(&fake)
        .args(["sh", "-c", "echo $$; exit 5"]);
    let Some(out) = t.run_pid1("init_auto_supervises_as_pid1") else {
        return;
    };
    out.code(5);
    assert_ne!(
        out.stdout.trim(),
        "1",
        "the app is a child of the supervisor"
    );
}

#[test]
fn init_always_supervises_when_not_pid1_and_reaps_orphans() {
    if let Some(why) = common::subreaper_refused() {
        common::skipped(
            "init_always_supervises_when_not_pid1_and_reaps_orphans",
            why,
        );
        return;
    }
    let fake = cloud(vec![]);
    // The app leaves an orphan (its subshell exits at once), then waits until the orphan is
    // gone from /proc entirely: a zombie would stay (state Z) unless its new parent, the
    // subreaper supervisor, reaped it.
    let script = r#"
        sh -c 'sleep 0.3 & echo $! > "$D/orphan"'
        o=$(cat "$D/orphan"); ppid_seen=""
        i=0
        while [ -e /proc/$o ]; do
            st=$(sed -n 's/^PPid:\t//p' /proc/$o/status 2>/dev/null); [ -n "$st" ] && ppid_seen=$st
            i=$((i+1)); [ $i -gt 2000 ] && exit 9
            sleep 0.01
        done
        echo "$ppid_seen" > "$D/ppid"; echo $PPID > "$D/supervisor"
    "#;
    let dir = scratch("always");
    let out = Test::new()
        .cloud(&fake)
        .env("D", dir.to_str().unwrap())
        .args(["--init", "always", "sh", "-c", script])
        .run();
    out.code(0);
    assert_eq!(
        read(&dir.join("ppid")).trim(),
        read(&dir.join("supervisor")).trim(),
        "the orphan was reparented to the supervisor"
    );
    assert_eq!(
        read(&dir.join("supervisor")).trim(),
        out.pid.to_string(),
        "the supervisor is the entrypoint's own PID (the hand-off re-exec keeps it)"
    );
}
