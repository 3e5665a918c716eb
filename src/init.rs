//! PID-1 supervision: spawn the app with a clean signal state, forward signals, reap zombies,
//! clean up leftovers after the app exits, and pass the app's exit code on.
//!
//! OWNER: init helper. CONTRACT (keep these signatures).

use std::ffi::OsString;
use std::process::Command;
use std::time::Duration;

use crate::config::InitMode;
use crate::error::Error;

/// Whether to supervise (true) or exec (false), given the mode and our PID.
pub fn should_supervise(mode: InitMode, pid: u32) -> bool {
    match mode {
        InitMode::Auto => pid == 1,
        InitMode::Always => true,
        InitMode::Never => false,
    }
}

/// Supervision options.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long leftover processes get between SIGTERM and SIGKILL after the app exits.
    pub grace: Duration,
}

/// Start `cmd` as the supervised app and supervise it until it exits.
/// Returns the exit code for the entrypoint: the app's code, or 128+N when it died of signal N.
/// Spawn failures map to 126/127 errors.
pub fn run(_cmd: Command, _opts: Options) -> Result<u8, Error> {
    unimplemented!("init helper")
}

/// argv[1] of the lean supervisor process (hidden, internal).
pub const SUPERVISE_ARG: &str = "__supervise";

/// Entry point of the lean supervisor (`sp-entrypoint __supervise ARGS`), see the module docs.
pub fn supervisor_main(_args: &[OsString]) -> u8 {
    unimplemented!("init helper")
}
