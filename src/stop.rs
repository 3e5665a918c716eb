//! Stop signals during the bootstrap. `SIGTERM`, `SIGINT`, `SIGHUP` and `SIGQUIT` are blocked
//! from the start and read from a `signalfd`, so that each one either ends the bootstrap at
//! once with 128+N (also as PID 1, where the kernel applies no default action) or stays pending
//! until the app's supervisor forwards it — never caught by a handler and lost. No handler is
//! installed at all, so an `exec` leaves no stale disposition behind.

use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::error::Error;

/// The signals that stop the bootstrap.
const STOP: [Signal; 4] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// The blocked stop signals and the signalfd that reads them.
#[derive(Debug)]
pub struct StopSignals {
    fd: SignalFd,
    original: SigSet,
}

impl StopSignals {
    /// Block the stop signals in this (the only) thread, before any other thread exists, so
    /// every thread started later (the runtime's) inherits the mask.
    pub fn block() -> Result<Self, Error> {
        let mut set = SigSet::empty();
        for s in STOP {
            set.add(s);
        }
        let original = set
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .map_err(|e| Error::Internal(format!("cannot block the stop signals: {e}")))?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| Error::Internal(format!("cannot create a signalfd: {e}")))?;
        Ok(StopSignals { fd, original })
    }

    /// A stop signal that arrived and is still pending, as the error that ends the bootstrap.
    pub fn pending(&self) -> Option<Error> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Some(stopped(i32::try_from(info.ssi_signo).unwrap_or(0))),
            _ => None,
        }
    }

    /// Wait for a stop signal (for `select!` against the whoami call).
    pub async fn wait(&self) -> Error {
        // SAFETY: the descriptor is borrowed from `self.fd`, which `self` owns and keeps open
        // for longer than `afd` lives (dropped when this future completes or is dropped, and
        // the future borrows `self`); a `BorrowedFd` always returns that same descriptor.
        let registered =
            unsafe { AsyncFd::register_with_interest(self.fd.as_fd(), Interest::READABLE) };
        let Ok(afd) = registered else {
            // Without the reactor the signal stays pending and is seen by `pending()` later.
            return std::future::pending().await;
        };
        loop {
            let Ok(mut guard) = afd.readable().await else {
                return std::future::pending().await;
            };
            if let Some(e) = self.pending() {
                return e;
            }
            guard.clear_ready();
        }
    }

    /// Put the signal mask back as it was at start (the app inherits it across `exec`).
    pub fn restore(&self) {
        let _ = self.original.thread_set_mask();
    }
}

/// The error for "stopped by signal `number`".
fn stopped(number: i32) -> Error {
    let name = Signal::try_from(number)
        .map_or_else(|_| format!("signal {number}"), |s| s.as_str().to_owned());
    Error::Signal { number, name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes() {
        let e = stopped(15);
        assert_eq!(e.code(), 143);
        assert!(e.to_string().contains("SIGTERM"), "{e}");
        assert_eq!(stopped(2).code(), 130);
    }
}
