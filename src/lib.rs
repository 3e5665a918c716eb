//! sp-entrypoint: validate SystemPrompt Cloud credentials at container boot, prove them with one
//! whoami call, then exec (or supervise, as PID 1) the real app.

pub mod config;
pub mod error;
pub mod init;
pub mod timefmt;
pub mod token;
pub mod whoami;

use std::ffi::OsString;

/// The whole program: `args` is argv (with argv[0]); returns the process exit code.
pub fn main_entry(args: Vec<OsString>) -> u8 {
    // The lean supervisor re-exec'd by `init::run` (hidden, internal).
    if args.get(1).is_some_and(|a| a == init::SUPERVISE_ARG) {
        return init::supervisor_main(&args[2..]);
    }
    0
}
