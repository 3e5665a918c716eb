//! The watcher on the exec path: a process the app never has to know about.
//!
//! [`spawn`] runs in the bootstrap once it knows it will exec the app if the whoami call
//! succeeds (before the call, so that the fork's aftermath overlaps the request), and
//!
//! 1. opens a pidfd on its own PID (`pidfd_open`, Linux 5.3): the same process becomes the
//!    app at the exec, so the pidfd becomes readable exactly when the app has exited;
//! 2. double-forks: the intermediate child exits at once and is reaped before the exec
//!    ([`Started::reap`]), so the grandchild is reparented to the namespace's init (or the
//!    nearest subreaper) and is never a child the app must reap or could see in `wait`;
//! 3. in the grandchild: `setsid` (no terminal signals, not in the app's process group), `/`
//!    as its working directory, stdin and stdout to `/dev/null` (stderr stays: the lines go
//!    there), the pidfd on fd 3, every other descriptor closed, then
//!    `execve("/proc/self/exe", [argv0, "__watch", ...], [])`: an empty environment and
//!    arguments without the token, so the watcher's memory, `/proc/PID/environ` and
//!    `/proc/PID/cmdline` hold no token.
//!
//! Everything the children need (argv, envp, paths) is built before the fork; between fork
//! and exec they make only async-signal-safe system calls (safe even if the bootstrap had
//! other threads; it has none yet when it calls [`spawn`]).
//!
//! [`watcher_main`] (`__watch`) polls the pidfd and the watch's timer: the app gone ends it at
//! once; with `--on-expiry stop` it signals the app through the pidfd at `exp` (no PID-reuse
//! race); with `warn` it exits after the line at `exp`.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::SigSet;

use super::{Runner, Watch, WatchArgs, Watcher};

/// `argv[1]` of the watcher process (hidden, internal).
pub const WATCH_ARG: &str = "__watch";

/// The descriptor the watcher finds its pidfd on.
const PIDFD: RawFd = 3;

/// Start the detached watcher for `watch` (see the module docs), and return without waiting
/// for the intermediate child: [`Started::reap`] reaps it just before the exec, so that its
/// scheduling and exit overlap the bootstrap's own work (the whoami request). Call it once
/// the app is to be exec'd if the bootstrap succeeds: when the bootstrap fails instead, the
/// watcher sees this process exit and ends too. An error is a reason for one warning line:
/// the app still starts, unwatched.
pub fn spawn(watch: &Watch, grace: Duration) -> Result<Started, String> {
    // The grandchild's exec cannot report a failure; the one likely cause is checked here.
    if let Err(e) = std::fs::metadata("/proc/self/exe") {
        return Err(format!(
            "cannot find /proc/self/exe to run it ({e}); is /proc mounted?"
        ));
    }
    // 1. The pidfd (close-on-exec: the app does not inherit it; the grandchild moves it).
    // SAFETY: pidfd_open(getpid(), 0) takes two integers; a non-negative result is a new
    // descriptor that we own.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    let pidfd = match RawFd::try_from(raw) {
        // SAFETY: a fresh descriptor returned by the kernel, owned by nobody else.
        Ok(fd) if fd >= 0 => unsafe { OwnedFd::from_raw_fd(fd) },
        _ => {
            return Err(format!(
                "cannot open a pidfd ({}; Linux 5.3 or later is needed)",
                std::io::Error::last_os_error()
            ));
        }
    };
    // 2. Everything the children need, allocated now.
    let argv0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| OsString::from("sp-entrypoint"));
    let mut words: Vec<OsString> = vec![
        argv0,
        WATCH_ARG.into(),
        "--grace-ms".into(),
        grace.as_millis().to_string().into(),
    ];
    words.extend(watch.to_args());
    let strings: Vec<CString> = words
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| "an argument holds a NUL byte".to_owned())?;
    let mut pointers: Vec<*const libc::c_char> = strings.iter().map(|a| a.as_ptr()).collect();
    pointers.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let exe = c"/proc/self/exe";
    let dev_null = c"/dev/null";
    let pidfd_raw = pidfd.as_raw_fd();

    // SAFETY: fork(2). The child runs only `detach_and_exec`'s async-signal-safe calls and
    // `_exit`; the parent only waits for it.
    let child = unsafe { libc::fork() };
    match child {
        -1 => Err(format!("cannot fork ({})", std::io::Error::last_os_error())),
        0 => {
            // The intermediate child: fork the watcher and leave at once, so that the watcher
            // is reparented away from us (and from the app we are about to become).
            // SAFETY: fork(2) in a child that only calls async-signal-safe functions.
            let watcher = unsafe { libc::fork() };
            if watcher == 0 {
                // SAFETY: see `detach_and_exec`; every pointer was built before the fork and
                // outlives the call (it does not return on success; `_exit` otherwise).
                unsafe {
                    detach_and_exec(
                        pidfd_raw,
                        exe.as_ptr(),
                        pointers.as_ptr(),
                        envp.as_ptr(),
                        dev_null.as_ptr(),
                    );
                }
            }
            // Exit status 1 tells the parent that the watcher could not be forked.
            // SAFETY: _exit(2) in a forked child: no destructors, no atexit handlers.
            unsafe { libc::_exit(i32::from(watcher < 0)) }
        }
        pid => {
            drop(pidfd);
            Ok(Started { intermediate: pid })
        }
    }
}

/// A watcher on its way: the intermediate child, to reap before the exec (the app must not
/// inherit it). Dropping it reaps it too.
#[derive(Debug)]
pub struct Started {
    intermediate: libc::pid_t,
}

impl Started {
    /// Reap the intermediate child (it exits as soon as it has forked the watcher); an error
    /// when the watcher could not be forked.
    pub fn reap(self) -> Result<(), String> {
        let status = wait_for(self.intermediate);
        std::mem::forget(self);
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            Ok(())
        } else {
            Err("cannot fork the watcher".to_owned())
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        wait_for(self.intermediate);
    }
}

/// Wait for our child `pid` to exit; its wait status (0 when it cannot be waited for).
fn wait_for(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid pointer to a local int.
        let r = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        if r == pid {
            return status;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return 0;
        }
    }
}

/// The watcher's side of the fork: detach, move the pidfd to fd 3, close the rest, exec.
///
/// # Safety
///
/// Must run in a freshly forked child, with every pointer valid (NUL-terminated strings and a
/// NULL-terminated `argv`/`envp`). Only async-signal-safe system calls are made. Never
/// returns: `execve`, or `_exit(127)`.
unsafe fn detach_and_exec(
    pidfd: RawFd,
    exe: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    dev_null: *const libc::c_char,
) -> ! {
    // SAFETY (whole block): plain system calls on descriptors and pointers the caller vouches
    // for; none allocates or takes a lock.
    unsafe {
        libc::setsid();
        // Pin no directory of the app's (a volume it may want unmounted).
        libc::chdir(c"/".as_ptr());
        let null = libc::open(dev_null, libc::O_RDWR | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, libc::STDIN_FILENO);
            libc::dup2(null, libc::STDOUT_FILENO);
        }
        if pidfd == PIDFD {
            // dup2 onto itself would keep close-on-exec set: clear it instead.
            libc::fcntl(PIDFD, libc::F_SETFD, 0);
        } else {
            libc::dup2(pidfd, PIDFD); // the copy is not close-on-exec
        }
        // Close everything else (inherited descriptors the app may own: sockets, pipes). On
        // kernels without close_range, the close-on-exec ones still close at the exec.
        libc::syscall(libc::SYS_close_range, PIDFD + 1, u32::MAX, 0);
        // An empty signal mask (the bootstrap blocks its stop signals).
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &raw const empty, std::ptr::null_mut());
        libc::execve(exe, argv, envp);
        libc::_exit(127)
    }
}

/// Send `sig` to the process behind `pidfd`; `ESRCH` (already gone) is fine.
fn pidfd_kill(pidfd: BorrowedFd<'_>, sig: libc::c_int) {
    // SAFETY: pidfd_send_signal(fd, sig, NULL, 0): a valid descriptor, a signal number, no
    // siginfo, no flags.
    let _ = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}

/// What woke the watcher.
enum Wake {
    AppGone,
    Timer,
    Timeout,
}

/// Poll the pidfd (and the timer, when given) until one is readable or `timeout` passes.
fn wait(pidfd: BorrowedFd<'_>, timer: Option<BorrowedFd<'_>>, timeout: Option<Duration>) -> Wake {
    let timeout = timeout.map_or(PollTimeout::NONE, |d| {
        PollTimeout::try_from(
            d.saturating_add(Duration::from_micros(999))
                .as_millis()
                .min(i32::MAX as u128),
        )
        .unwrap_or(PollTimeout::MAX)
    });
    let mut fds = vec![PollFd::new(pidfd, PollFlags::POLLIN)];
    if let Some(t) = timer {
        fds.push(PollFd::new(t, PollFlags::POLLIN));
    }
    match poll(&mut fds, timeout) {
        Ok(n) if n > 0 => {
            let ready = |i: usize| {
                fds.get(i)
                    .and_then(PollFd::revents)
                    .is_some_and(|r| !r.is_empty())
            };
            if ready(0) {
                Wake::AppGone
            } else if ready(1) {
                Wake::Timer
            } else {
                Wake::Timeout
            }
        }
        // Nothing ready, or EINTR (a stopped-and-continued watcher): look again.
        _ => Wake::Timeout,
    }
}

/// Entry point of the watcher (`sp-entrypoint __watch --grace-ms N WATCH-ARGS`; `args`
/// excludes `argv[0]` and `__watch`), with the app's pidfd on fd 3. Returns its exit code
/// (nobody reads it: init reaps the watcher).
pub fn watcher_main(args: &[OsString]) -> u8 {
    let _ = SigSet::empty().thread_set_mask();
    let (grace, watch) = match parse_args(args) {
        Ok(parsed) => parsed,
        Err(msg) => {
            crate::output::stderr_line(&format!("sp-entrypoint: {WATCH_ARG}: {msg}"));
            return crate::error::exit::USAGE;
        }
    };
    // SAFETY: `spawn` put the pidfd on fd 3 just before the exec; nothing else owns it here.
    // A descriptor that is not a pidfd (the subcommand run by hand) makes poll report it
    // readable or invalid at once, and the watcher ends.
    let pidfd = unsafe { OwnedFd::from_raw_fd(PIDFD) };
    let Some(mut watcher) = Watcher::start(watch, grace, Runner::Detached) else {
        return 0;
    };
    loop {
        match wait(pidfd.as_fd(), Some(watcher.fd()), None) {
            Wake::AppGone => return 0,
            Wake::Timeout => {}
            Wake::Timer => {
                if watcher.fire() {
                    stop_app(pidfd.as_fd(), &watcher, grace);
                    return 0;
                }
                if watcher.is_done() {
                    // `warn`: the line at exp is out; nothing is left to do.
                    return 0;
                }
            }
        }
    }
}

/// `--on-expiry stop` on the exec path: SIGTERM, up to `grace` for the app to go, SIGKILL.
fn stop_app(pidfd: BorrowedFd<'_>, watcher: &Watcher, grace: Duration) {
    pidfd_kill(pidfd, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if matches!(wait(pidfd, None, Some(left)), Wake::AppGone) {
            return;
        }
        if left.is_zero() || Instant::now() >= deadline {
            break;
        }
    }
    watcher.log_kill();
    pidfd_kill(pidfd, libc::SIGKILL);
}

/// Parse `--grace-ms N` and the watch's arguments.
fn parse_args(args: &[OsString]) -> Result<(Duration, Watch), String> {
    let mut grace = None;
    let mut watch = WatchArgs::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let flag = arg.to_string_lossy();
        if flag == "--grace-ms" {
            let v = it
                .next()
                .and_then(|v| v.to_str())
                .ok_or("--grace-ms needs milliseconds")?;
            grace = Some(Duration::from_millis(
                v.parse()
                    .map_err(|_| format!("--grace-ms: not a number: {v}"))?,
            ));
        } else if !watch.accept(&flag, &mut it)? {
            return Err(format!("unexpected argument {flag}"));
        }
    }
    let watch = watch
        .finish()?
        .ok_or("--expires-at and --on-expiry are required")?;
    Ok((grace.ok_or("--grace-ms is required")?, watch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::OnExpiry;
    use crate::platform::Platform;

    #[test]
    fn parses_its_arguments() {
        let w = Watch {
            exp: 1_900_000_000,
            on_expiry: OnExpiry::Warn,
            platform: Platform::Fly,
            style: super::super::Style::default(),
        };
        let mut args: Vec<OsString> = vec!["--grace-ms".into(), "2500".into()];
        args.extend(w.to_args());
        let (grace, back) = parse_args(&args).unwrap();
        assert_eq!(grace, Duration::from_millis(2500));
        assert_eq!(back.exp, w.exp);
        assert_eq!(back.platform, Platform::Fly);
        assert!(parse_args(&w.to_args()).is_err(), "grace is required");
        assert!(parse_args(&["--grace-ms".into(), "1".into()]).is_err());
        let mut extra = args.clone();
        extra.push("--bogus".into());
        assert!(parse_args(&extra).is_err());
    }
}
