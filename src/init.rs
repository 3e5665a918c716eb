//! PID-1 supervision: spawn the app with a clean signal state, forward signals, reap zombies,
//! clean up leftovers after the app exits, and pass the app's exit code on.
//!
//! # Two processes, one PID
//!
//! [`run`] is called by the bootstrap, which still holds an async runtime, an HTTP client and
//! the token. It blocks every signal, spawns the app (its own process group, the terminal's
//! foreground group under `docker run -it`, empty signal mask, default dispositions) and then
//! **hands off**: it re-executes `/proc/self/exe` as
//! `sp-entrypoint __supervise --child PID --grace-ms N` with an empty environment. Same PID,
//! so the app stays our child; the blocked mask and any pending signal (a `SIGCHLD`, a
//! `docker stop`) survive `execve` (signal(7)), and the child-subreaper flag survives too
//! (prctl(2)). The lean image left behind has no runtime, no HTTP client, no token (its
//! `/proc/PID/environ` is empty) and a small RSS.
//!
//! [`supervisor_main`] is that lean supervisor. It also has a standalone form,
//! `__supervise [--grace-ms N] [--handoff] -- CMD [ARGS...]`, which spawns `CMD` itself (with
//! `--handoff`: then re-executes exactly like [`run`]); the integration tests and the
//! tini comparison use it.
//!
//! # The loop
//!
//! All signals are blocked and read from a `signalfd`. `SIGCHLD` reaps every zombie
//! (`waitpid(-1, WNOHANG)` until none). Every other signal is forwarded to the app with
//! `kill(app, sig)`, job-control signals included (like tini). When the app has been reaped,
//! leftovers get `SIGTERM` (as PID 1: `kill(-1)`, everyone in the namespace but us; as a
//! subreaper: each of our children, again as grandchildren are reparented to us), then up to
//! `grace` to exit (we return as soon as none remain), then `SIGKILL`. The exit code is the
//! app's, or 128+N when it died of signal N.
//!
//! # The token-expiry watch
//!
//! With a watch ([`crate::expiry`]; its settings come as `__supervise` arguments, never the
//! token), the loop also polls the watch's timer descriptor: the warnings and the error line
//! come from here, no extra process or thread. With `--on-expiry stop`, at `exp` the app gets
//! `SIGTERM`, `SIGKILL` if it is still there after `grace`, and the exit code is 77.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{Pid, getpid};

use crate::config::{DEFAULT_GRACE, InitMode};
use crate::error::{Error, exit};
use crate::expiry::{Runner, Watch, WatchArgs, Watcher};

/// One line of our own on stderr, through [`crate::output`]: a closed or broken stderr is
/// ignored (`eprintln!` would panic, and the supervisor must pass the app's code on whatever
/// happens to its output).
macro_rules! note {
    ($($arg:tt)*) => {
        crate::output::stderr_line(&format!($($arg)*))
    };
}

/// Whether to supervise (true) or exec (false), given the mode and our PID.
pub fn should_supervise(mode: InitMode, pid: u32) -> bool {
    match mode {
        InitMode::Auto => pid == 1,
        InitMode::Always => true,
        InitMode::Never => false,
    }
}

/// Supervision options.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long leftover processes get between SIGTERM and SIGKILL after the app exits (and,
    /// with `--on-expiry stop`, the app after its token expired).
    pub grace: Duration,
    /// The token-expiry watch, if any.
    pub watch: Option<Watch>,
}

/// How long to keep reaping after `SIGKILL` before giving up (a process stuck in `D` state).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Prefix of the supervisor's own lines on stderr.
const PREFIX: &str = "sp-entrypoint:";

/// Start `cmd` as the supervised app and supervise it until it exits.
/// Returns the exit code for the entrypoint: the app's code, or 128+N when it died of signal N.
/// Spawn failures map to 126/127 errors.
///
/// Blocks every signal in the calling thread first. The caller must be single-threaded by
/// then (runtime dropped): a signal mask is per thread, so another thread with signals
/// unblocked could take a process-directed `SIGTERM` (default action: the whole process dies)
/// in the short window before the hand-off `execve`, which ends all other threads.
///
/// `threads_before` is [`thread_count`] from before the caller started any thread of its own:
/// threads beyond it are the caller's leftovers, and get a warning. Those already there are not
/// ours to end: under qemu-user, the emulator's own thread is in `/proc/self/task` from the
/// start.
///
/// On success this does not return: the process becomes the lean supervisor and exits with
/// the app's code. It returns only on a spawn error, or (after supervising in-process) when
/// the hand-off re-exec failed (no `/proc`).
pub fn run(cmd: Command, opts: &Options, threads_before: Option<usize>) -> Result<u8, Error> {
    let old_mask = block_all_signals()?;
    warn_if_threaded(threads_before);
    let child = match spawn_app(cmd) {
        Ok(pid) => pid,
        Err(err) => {
            // Give the caller its signals back; it is about to report the error and exit.
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
            return Err(err);
        }
    };
    let argv0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| OsString::from("sp-entrypoint"));
    let err = hand_off(&argv0, child, opts);
    tracing::warn!(error = %err, "cannot re-execute /proc/self/exe as the lean supervisor; supervising in-process");
    Ok(supervise(child, opts))
}

/// `argv[1]` of the lean supervisor process (hidden, internal).
pub const SUPERVISE_ARG: &str = "__supervise";

/// Entry point of the lean supervisor (`sp-entrypoint __supervise ARGS`), see the module docs.
///
/// Forms (`args` excludes `argv[0]` and `__supervise`):
/// - `--child PID --grace-ms N [WATCH]`: the hand-off from [`run`]; `PID` is already our child.
/// - `--grace-ms N [--handoff] [WATCH] -- CMD [ARGS...]`: spawn `CMD` with the inherited
///   environment, then supervise it in this process, or with `--handoff` re-execute exactly
///   like [`run`].
///
/// `WATCH` is the token-expiry watch's arguments ([`Watch::to_args`]).
pub fn supervisor_main(args: &[OsString]) -> u8 {
    let parsed = match parse_args(args) {
        Ok(parsed) => parsed,
        Err(msg) => {
            note!("{PREFIX} {SUPERVISE_ARG}: {msg}");
            return exit::USAGE;
        }
    };
    if let Err(err) = block_all_signals() {
        note!("{PREFIX} {err}");
        return err.code();
    }
    let child = match parsed.target {
        Target::Child(pid) => Pid::from_raw(pid),
        Target::Spawn { argv, handoff } => {
            let Some((program, rest)) = argv.split_first() else {
                note!("{PREFIX} {SUPERVISE_ARG}: no command after --");
                return exit::USAGE;
            };
            let mut cmd = Command::new(program);
            cmd.args(rest);
            let pid = match spawn_app(cmd) {
                Ok(pid) => pid,
                Err(err) => {
                    note!("{PREFIX} {err}");
                    return err.code();
                }
            };
            if handoff {
                let argv0 = std::env::args_os()
                    .next()
                    .unwrap_or_else(|| OsString::from("sp-entrypoint"));
                let err = hand_off(&argv0, pid, &parsed.opts);
                note!("{PREFIX} cannot re-execute /proc/self/exe ({err}); supervising in-process");
            }
            pid
        }
    };
    supervise(child, &parsed.opts)
}

// ---------------------------------------------------------------------------------------------
// Spawning and the hand-off
// ---------------------------------------------------------------------------------------------

/// Block every signal in the calling thread; returns the previous mask.
///
/// `pthread_sigmask`, not `sigprocmask`: the mask is a per-thread attribute either way on
/// Linux, and what matters is the mask of the thread that forks (the child inherits it) and
/// execs (kept across `execve`).
fn block_all_signals() -> Result<SigSet, Error> {
    SigSet::all()
        .thread_swap_mask(SigmaskHow::SIG_BLOCK)
        .map_err(|e| Error::Internal(format!("cannot block signals: {e}")))
}

/// The number of threads of this process (entries of `/proc/self/task`), if it can be read.
pub fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(Iterator::count)
}

/// Warn (through the bootstrap's logger) when threads started since `before` (default: one,
/// the main thread) still exist; see [`run`].
fn warn_if_threaded(before: Option<usize>) {
    let before = before.unwrap_or(1);
    if let Some(n) = thread_count()
        && n > before
    {
        tracing::warn!(
            threads = n,
            at_start = before,
            "supervising from a multi-threaded process; a signal may be lost before the hand-off"
        );
    }
}

/// Spawn the app: own process group, foreground on a terminal, clean signal state. Becomes a
/// child subreaper first when not PID 1, so orphans of the app are reparented to us.
fn spawn_app(mut cmd: Command) -> Result<Pid, Error> {
    if getpid().as_raw() != 1
        && let Err(e) = nix::sys::prctl::set_child_subreaper(true)
    {
        note!(
            "{PREFIX} cannot become a child subreaper ({e}); orphans of the app will not be reaped"
        );
    }
    let command = cmd.get_program().to_string_lossy().into_owned();
    cmd.process_group(0);
    // SAFETY: the closure runs in the forked child before execve and only makes
    // async-signal-safe system calls (isatty's ioctl, tcsetpgrp, getpid, rt_sigaction,
    // pthread_sigmask); it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(child_setup);
    }
    match cmd.spawn() {
        Ok(child) => {
            // Dropping `Child` neither waits nor kills: we reap it ourselves by PID.
            let pid = i32::try_from(child.id())
                .map_err(|_| Error::Internal("child PID out of range".into()))?;
            Ok(Pid::from_raw(pid))
        }
        Err(err) => Err(crate::exec::launch_error(&err, &command)),
    }
}

/// Runs in the child between fork and exec (see the SAFETY note in [`spawn_app`]).
///
/// std's `Command` does NOT reset the signal mask in the child (library/std/src/sys/process/
/// unix/unix.rs, `do_exec` and the `posix_spawn` path: "Inherit the signal mask from the
/// parent rather than resetting it"); it only resets `SIGPIPE` to the default. Our mask is
/// full here, so we must empty it, and reset every disposition (ignored signals stay ignored
/// across execve; handled ones are reset by execve anyway).
fn child_setup() -> std::io::Result<()> {
    // 1. Foreground: std already did setpgid(0, 0) (process_group(0)) before running this
    //    closure. With SIGTTOU still blocked here, tcsetpgrp from a background group is
    //    allowed (POSIX), as in tini's child. Errors (not a tty, no controlling tty) ignored.
    // SAFETY: fd 0 is open: std guarantees fds 0-2 are open at startup (it reopens /dev/null
    // for closed ones) and nothing in this program closes it; the borrow ends before exec.
    let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(libc::STDIN_FILENO) };
    if nix::unistd::isatty(stdin).unwrap_or(false) {
        let _ = nix::unistd::tcsetpgrp(stdin, getpid());
    }
    // 2. Default disposition for every signal, before unblocking so that nothing runs a
    //    stale handler. The raw system call, because libc refuses its reserved signals
    //    (glibc 32/33, musl 32-34) and we have seen them arrive ignored from the environment
    //    (ignored dispositions survive execve). SIGKILL/SIGSTOP fail with EINVAL, ignored.
    //    An all-zero kernel `struct sigaction` is SIG_DFL, no flags, empty mask on every
    //    Linux layout (with or without `sa_restorer`); 32 bytes cover all of them.
    let action = [0u64; 4];
    for sig in 1..=64 {
        // SAFETY: rt_sigaction(sig, &action, NULL, sizeof(kernel sigset_t) = 8): `action` is a
        // valid, zeroed kernel sigaction that outlives the call; no old action is written.
        // A raw system call is async-signal-safe.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                action.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            );
        }
    }
    // 3. Empty mask.
    SigSet::empty()
        .thread_set_mask()
        .map_err(std::io::Error::from)
}

/// Re-execute `/proc/self/exe` as `argv0 __supervise --child PID --grace-ms N [WATCH]` with an
/// empty environment. Returns only on failure.
///
/// `CommandExt::exec` runs std's `do_exec` in this process: no fork, the signal mask is
/// inherited (not reset), only `SIGPIPE` goes back to `SIG_DFL` (it is blocked; a pending one
/// stays pending). The kernel keeps the mask and the pending set across execve, so a signal
/// arriving now is read from the signalfd by the new image. The child subreaper flag is kept
/// too. Stdio and the working directory are inherited; std opens files `O_CLOEXEC`, so the
/// bootstrap's sockets and files close.
fn hand_off(argv0: &OsStr, child: Pid, opts: &Options) -> std::io::Error {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(argv0)
        .arg(SUPERVISE_ARG)
        .arg("--child")
        .arg(child.as_raw().to_string())
        .arg("--grace-ms")
        .arg(opts.grace.as_millis().to_string())
        .args(opts.watch.iter().flat_map(Watch::to_args))
        .env_clear();
    let err = cmd.exec();
    crate::output::ignore_sigpipe_again();
    err
}

// ---------------------------------------------------------------------------------------------
// Supervision
// ---------------------------------------------------------------------------------------------

/// Supervise `child` (already our child, all signals blocked) until it exits, clean up the
/// leftovers and return the exit code.
fn supervise(child: Pid, opts: &Options) -> u8 {
    let grace = opts.grace;
    // SIGCHLD must not be ignored (ignored = children auto-reaped, exit status lost).
    // SAFETY: installing SIG_DFL (no handler code) for SIGCHLD.
    let _ =
        unsafe { nix::sys::signal::signal(Signal::SIGCHLD, nix::sys::signal::SigHandler::SigDfl) };
    let me = getpid().as_raw();
    let sfd = match SignalFd::with_flags(
        &SigSet::all(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    ) {
        Ok(sfd) => sfd,
        Err(e) => {
            note!(
                "{PREFIX} cannot create a signalfd ({e}); waiting for the app without forwarding signals"
            );
            return wait_blocking(child);
        }
    };
    // The app may be gone already (it died before the hand-off): reap before waiting.
    let mut reap = reap_all(child.as_raw());
    if reap.main.is_none() && !reap.children_left {
        note!("{PREFIX} {SUPERVISE_ARG}: process {child} is not our child");
        return exit::SOFTWARE;
    }
    let mut watcher = opts
        .watch
        .clone()
        .and_then(|w| Watcher::start(w, grace, Runner::Supervisor));
    let mut stop = ExpiryStop::No;
    let code = loop {
        if let Some(code) = reap.main {
            break code;
        }
        let (timer, timeout) = match stop {
            ExpiryStop::No => (watcher.as_ref().map(Watcher::fd), None),
            ExpiryStop::Terminating(at) => {
                (None, Some(at.saturating_duration_since(Instant::now())))
            }
            ExpiryStop::Killed => (None, None),
        };
        if wait_readable(&sfd, timeout, timer) && watcher.as_mut().is_some_and(Watcher::fire) {
            // The token expired with `--on-expiry stop`.
            forward(child.as_raw(), libc::SIGTERM);
            stop = ExpiryStop::Terminating(Instant::now() + grace);
        }
        if let (ExpiryStop::Terminating(at), Some(w)) = (stop, &watcher)
            && Instant::now() >= at
        {
            w.log_kill();
            forward(child.as_raw(), libc::SIGKILL);
            stop = ExpiryStop::Killed;
        }
        let mut got_sigchld = false;
        while let Ok(Some(info)) = sfd.read_signal() {
            let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
            if signo == libc::SIGCHLD {
                got_sigchld = true;
            } else if u32::try_from(me).is_ok_and(|me| info.ssi_pid == me) {
                // Raised by our own actions (SIGPIPE on a closed stderr): not for the app.
            } else {
                forward(child.as_raw(), signo);
            }
        }
        if got_sigchld {
            let again = reap_all(child.as_raw());
            reap.main = reap.main.or(again.main);
            reap.children_left = again.children_left;
        }
    };
    if reap.children_left {
        cleanup(&sfd, grace, me);
    }
    match (stop, &watcher) {
        (ExpiryStop::Terminating(_) | ExpiryStop::Killed, Some(w)) => {
            w.log_exit(exit::REFUSED);
            exit::REFUSED
        }
        _ => code,
    }
}

/// Where the supervisor stands in stopping the app for an expired token.
#[derive(Debug, Clone, Copy)]
enum ExpiryStop {
    /// Not stopping.
    No,
    /// `SIGTERM` sent; `SIGKILL` at this instant.
    Terminating(Instant),
    /// `SIGKILL` sent.
    Killed,
}

/// Forward `signo` to the app; `ESRCH` (already gone) is fine.
fn forward(child: i32, signo: i32) {
    if signo <= 0 {
        return;
    }
    // SAFETY: kill(2) with a positive PID (never 0 or -1 here) and a signal number read from
    // the signalfd; raw libc because nix's `Signal` cannot express real-time signals.
    let _ = unsafe { libc::kill(child, signo) };
}

/// Result of one reaping pass.
#[derive(Debug, Clone, Copy)]
struct Reaped {
    /// The app's exit code, when the app was reaped in this pass.
    main: Option<u8>,
    /// Whether children remain (running, or not yet waitable).
    children_left: bool,
}

/// Reap every zombie child; note the app's exit code when it is among them.
fn reap_all(main: i32) -> Reaped {
    let mut out = Reaped {
        main: None,
        children_left: false,
    };
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid with a valid pointer to a local int. Raw libc rather than nix: nix
        // converts the status after reaping and fails for real-time signals, which would lose
        // the exit status of a process that is already gone.
        let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
        match pid {
            0 => {
                out.children_left = true;
                return out;
            }
            -1 => match Errno::last() {
                Errno::EINTR => {}
                _ => return out, // ECHILD: no children at all
            },
            pid => {
                if pid == main {
                    out.main = Some(exit_code_from_status(status).unwrap_or(exit::SOFTWARE));
                }
            }
        }
    }
}

/// Fallback without a signalfd: block in waitpid until the app exits.
fn wait_blocking(child: Pid) -> u8 {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid with a valid pointer to a local int.
        let pid = unsafe { libc::waitpid(-1, &raw mut status, 0) };
        if pid == child.as_raw() {
            return exit_code_from_status(status).unwrap_or(exit::SOFTWARE);
        }
        if pid == -1 && Errno::last() != Errno::EINTR {
            return exit::SOFTWARE;
        }
    }
}

/// The entrypoint's exit code for a raw wait status: the exit code, or 128+N for signal N.
/// `None` for stop/continue reports.
pub fn exit_code_from_status(status: i32) -> Option<u8> {
    if libc::WIFEXITED(status) {
        u8::try_from(libc::WEXITSTATUS(status) & 0xff).ok()
    } else if libc::WIFSIGNALED(status) {
        let sig = u8::try_from(libc::WTERMSIG(status)).unwrap_or(127);
        Some(exit::SIGNAL_BASE.saturating_add(sig))
    } else {
        None
    }
}

/// Wait until the signalfd (or `timer`, when given) is readable or `timeout` passes (`None`:
/// forever). Returns whether `timer` is readable.
fn wait_readable(sfd: &SignalFd, timeout: Option<Duration>, timer: Option<BorrowedFd<'_>>) -> bool {
    let timeout = match timeout {
        None => PollTimeout::NONE,
        // Round up so that a sub-millisecond remainder does not spin.
        Some(d) => PollTimeout::try_from(
            d.saturating_add(Duration::from_micros(999))
                .as_millis()
                .min(i32::MAX as u128),
        )
        .unwrap_or(PollTimeout::MAX),
    };
    let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
    if let Some(t) = timer {
        fds.push(PollFd::new(t, PollFlags::POLLIN));
    }
    // EINTR cannot happen with every signal blocked; any error just means "look again".
    let _ = poll(&mut fds, timeout);
    fds.get(1)
        .and_then(PollFd::revents)
        .is_some_and(|r| r.contains(PollFlags::POLLIN))
}

/// Drain the signalfd. Returns true when an interactive stop signal (`SIGTERM`, `SIGINT`,
/// `SIGQUIT`) asked to stop waiting for the leftovers.
fn drain_during_shutdown(sfd: &SignalFd) -> bool {
    let mut hurry = false;
    while let Ok(Some(info)) = sfd.read_signal() {
        let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
        if matches!(signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT) {
            hurry = true;
        }
    }
    hurry
}

/// After the app exited: SIGTERM the leftovers, give them `grace`, SIGKILL the rest, reap.
fn cleanup(sfd: &SignalFd, grace: Duration, me: i32) {
    let pid1 = me == 1;
    let mut signalled: Vec<i32> = Vec::new();
    let n = if pid1 { children_of(me).len() } else { 0 };
    if pid1 {
        // Everyone in our PID namespace but us (kill(2): -1 excludes the caller and init).
        let _ = nix::sys::signal::kill(Pid::from_raw(-1), Signal::SIGTERM);
    } else {
        signal_new_children(me, &mut signalled, libc::SIGTERM);
    }
    let count = if pid1 { n } else { signalled.len() };
    note!(
        "{PREFIX} the app exited; sent SIGTERM to {count} leftover process{} (grace {} ms)",
        if count == 1 { "" } else { "es" },
        grace.as_millis()
    );
    let deadline = Instant::now() + grace;
    loop {
        if !reap_all(0).children_left {
            return;
        }
        if !pid1 {
            // Grandchildren reparented to us since the last round get their SIGTERM too.
            signal_new_children(me, &mut signalled, libc::SIGTERM);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        wait_readable(sfd, Some(left), None);
        if drain_during_shutdown(sfd) {
            break;
        }
    }
    let survivors = children_of(me);
    note!(
        "{PREFIX} sending SIGKILL to {} leftover process{} still running after the grace period",
        survivors.len(),
        if survivors.len() == 1 { "" } else { "es" }
    );
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        if pid1 {
            let _ = nix::sys::signal::kill(Pid::from_raw(-1), Signal::SIGKILL);
        } else {
            signal_new_children(me, &mut Vec::new(), libc::SIGKILL);
        }
        if !reap_all(0).children_left {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            note!("{PREFIX} leftover processes survived SIGKILL; exiting anyway");
            return;
        }
        // Wake on SIGCHLD (or every 100 ms to catch reparented grandchildren).
        wait_readable(sfd, Some(left.min(Duration::from_millis(100))), None);
        let _ = drain_during_shutdown(sfd);
    }
}

/// Send `signo` to each child of ours not in `done`, and add it there.
fn signal_new_children(me: i32, done: &mut Vec<i32>, signo: i32) {
    for pid in children_of(me) {
        if pid > 0 && !done.contains(&pid) {
            done.push(pid);
            forward(pid, signo);
        }
    }
}

/// Our children: `/proc/self/task/*/children` (`CONFIG_PROC_CHILDREN`), else a `/proc` scan for
/// processes whose parent is `me`. Only used at shutdown.
fn children_of(me: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut have_children_files = false;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                have_children_files = true;
                out.extend(parse_pid_list(&text));
            }
        }
    }
    if have_children_files {
        return out;
    }
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for entry in procs.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat"))
                && parse_stat_ppid(&stat) == Some(me)
            {
                out.push(pid);
            }
        }
    }
    out
}

/// Parse the space-separated PIDs of a `children` file.
fn parse_pid_list(text: &str) -> impl Iterator<Item = i32> + '_ {
    text.split_ascii_whitespace().filter_map(|s| s.parse().ok())
}

/// The parent PID from a `/proc/PID/stat` line (the field after the state, after the last `)`
/// since the command name may contain spaces and parentheses).
fn parse_stat_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Arguments of the hidden subcommand
// ---------------------------------------------------------------------------------------------

/// What to supervise.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Hand-off: the app is already our child.
    Child(i32),
    /// Standalone: spawn this argv (and maybe hand off like [`run`]).
    Spawn { argv: Vec<OsString>, handoff: bool },
}

/// Parsed `__supervise` arguments.
#[derive(Debug, Clone)]
struct SupervisorArgs {
    opts: Options,
    target: Target,
}

/// Parse `__supervise` arguments (see [`supervisor_main`]).
fn parse_args(args: &[OsString]) -> Result<SupervisorArgs, String> {
    let mut grace = DEFAULT_GRACE;
    let mut child = None;
    let mut handoff = false;
    let mut watch = WatchArgs::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let flag = arg.to_str().unwrap_or_default();
        if watch.accept(flag, &mut it)? {
            continue;
        }
        match arg.to_str() {
            Some("--child") => {
                let v = it
                    .next()
                    .and_then(|v| v.to_str())
                    .ok_or("--child needs a PID")?;
                let pid: i32 = v.parse().map_err(|_| format!("--child: not a PID: {v}"))?;
                if pid <= 1 {
                    return Err(format!("--child: not a PID: {v}"));
                }
                child = Some(pid);
            }
            Some("--grace-ms") => {
                let v = it
                    .next()
                    .and_then(|v| v.to_str())
                    .ok_or("--grace-ms needs milliseconds")?;
                grace = Duration::from_millis(
                    v.parse()
                        .map_err(|_| format!("--grace-ms: not a number of milliseconds: {v}"))?,
                );
            }
            Some("--handoff") => handoff = true,
            Some("--") => {
                if child.is_some() {
                    return Err("--child and a command are exclusive".into());
                }
                let command: Vec<OsString> = it.cloned().collect();
                if command.is_empty() {
                    return Err("no command after --".into());
                }
                return Ok(SupervisorArgs {
                    opts: Options {
                        grace,
                        watch: watch.finish()?,
                    },
                    target: Target::Spawn {
                        argv: command,
                        handoff,
                    },
                });
            }
            _ => return Err(format!("unexpected argument {}", arg.to_string_lossy())),
        }
    }
    match child {
        Some(pid) if !handoff => Ok(SupervisorArgs {
            opts: Options {
                grace,
                watch: watch.finish()?,
            },
            target: Target::Child(pid),
        }),
        Some(_) => Err("--handoff needs a command, not --child".into()),
        None => Err("expected --child PID or -- COMMAND".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn should_supervise_by_mode() {
        assert!(should_supervise(InitMode::Auto, 1));
        assert!(!should_supervise(InitMode::Auto, 7));
        assert!(should_supervise(InitMode::Always, 7));
        assert!(!should_supervise(InitMode::Never, 1));
    }

    #[test]
    fn exit_codes_from_wait_status() {
        assert_eq!(exit_code_from_status(0), Some(0));
        assert_eq!(exit_code_from_status(3 << 8), Some(3));
        assert_eq!(exit_code_from_status(255 << 8), Some(255));
        assert_eq!(exit_code_from_status(libc::SIGTERM), Some(143));
        assert_eq!(exit_code_from_status(libc::SIGKILL), Some(137));
        assert_eq!(exit_code_from_status(libc::SIGSEGV | 0x80), Some(139)); // core dumped
        assert_eq!(exit_code_from_status(libc::SIGINT), Some(130));
        assert_eq!(exit_code_from_status(40), Some(168)); // a real-time signal
        assert_eq!(exit_code_from_status(0x137f), None); // stopped by SIGSTOP
        assert_eq!(exit_code_from_status(0xffff), None); // continued
    }

    #[test]
    fn parses_handoff_form() {
        let a = parse_args(&os(&["--child", "42", "--grace-ms", "1500"])).unwrap();
        assert_eq!(a.opts.grace, Duration::from_millis(1500));
        assert_eq!(a.target, Target::Child(42));
        assert!(a.opts.watch.is_none());
        let a = parse_args(&os(&["--grace-ms", "0", "--child", "42"])).unwrap();
        assert_eq!(a.opts.grace, Duration::ZERO);
        let a = parse_args(&os(&[
            "--child",
            "42",
            "--expires-at",
            "1900000000",
            "--on-expiry",
            "stop",
        ]))
        .unwrap();
        let w = a.opts.watch.expect("a watch");
        assert_eq!(w.exp, 1_900_000_000);
        assert_eq!(w.on_expiry, crate::expiry::OnExpiry::Stop);
    }

    #[test]
    fn parses_standalone_form() {
        let a = parse_args(&os(&["--grace-ms", "10", "--", "sh", "-c", "--child"])).unwrap();
        assert_eq!(a.opts.grace, Duration::from_millis(10));
        assert_eq!(
            a.target,
            Target::Spawn {
                argv: os(&["sh", "-c", "--child"]),
                handoff: false
            }
        );
        let a = parse_args(&os(&["--handoff", "--", "true"])).unwrap();
        assert_eq!(a.opts.grace, DEFAULT_GRACE);
        assert_eq!(
            a.target,
            Target::Spawn {
                argv: os(&["true"]),
                handoff: true
            }
        );
    }

    #[test]
    fn rejects_bad_args() {
        for bad in [
            &[][..],
            &["--child"][..],
            &["--child", "x"][..],
            &["--child", "1"][..],
            &["--child", "-5"][..],
            &["--grace-ms", "-1", "--", "true"][..],
            &["--grace-ms"][..],
            &["--"][..],
            &["--child", "42", "--", "true"][..],
            &["--child", "42", "--handoff"][..],
            &["--bogus"][..],
            &["--child", "42", "--expires-at", "5"][..],
            &["--child", "42", "--on-expiry", "off"][..],
            &["sh"][..],
        ] {
            assert!(parse_args(&os(bad)).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn spawn_errors_map_to_126_and_127() {
        let e = crate::exec::launch_error(&std::io::Error::from_raw_os_error(libc::ENOENT), "nope");
        assert!(matches!(&e, Error::NotFound { command } if command == "nope"));
        assert_eq!(e.code(), 127);
        for errno in [
            libc::EACCES,
            libc::ENOEXEC,
            libc::EISDIR,
            libc::ENOTDIR,
            libc::ELOOP,
            libc::ETXTBSY,
        ] {
            let e = crate::exec::launch_error(&std::io::Error::from_raw_os_error(errno), "x");
            assert!(matches!(e, Error::NotExecutable { .. }), "errno {errno}");
            assert_eq!(e.code(), 126);
        }
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            parse_pid_list("12 345 \n").collect::<Vec<_>>(),
            vec![12, 345]
        );
        assert_eq!(parse_pid_list("").count(), 0);
        assert_eq!(parse_stat_ppid("77 (sh) S 1 77 77 0 -1"), Some(1));
        assert_eq!(parse_stat_ppid("78 (a) b (c)) R 9 78 1 0"), Some(9));
        assert_eq!(parse_stat_ppid("garbage"), None);
    }
}
