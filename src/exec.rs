//! The app's command: argv verbatim, the environment passed through with the validated values,
//! and `exec` (same PID) with the shell's 126/127 conventions when it cannot start.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::config::{Config, vars};
use crate::error::Error;

/// Build the app's command: `argv[0]` looked up in `PATH`, the rest passed verbatim. The
/// environment is inherited unchanged except: `SYSTEMPROMPT_API_URL` is the effective URL, the
/// token and email are exported under their plain names with their validated (trimmed) values
/// (so an app reading them sees what was proven, also when they came from `_FILE`s), and with
/// `scrub_token` the token variables are removed instead.
pub fn command(argv: &[OsString], cfg: &Config) -> Command {
    let (program, rest) = argv
        .split_first()
        .map_or((OsString::new(), &[][..]), |(p, a)| (p.clone(), a));
    let mut cmd = Command::new(program);
    cmd.args(rest);
    cmd.env(vars::API_URL.var, &cfg.api_url);
    cmd.env(vars::USER_EMAIL.var, &cfg.email);
    if cfg.scrub_token {
        cmd.env_remove(vars::API_TOKEN.var);
        cmd.env_remove(vars::API_TOKEN_FILE.var);
    } else {
        cmd.env(vars::API_TOKEN.var, cfg.token.expose());
    }
    cmd
}

/// Replace this process with `cmd`. Returns only on failure, as a 126/127 error.
pub fn exec(mut cmd: Command) -> Error {
    let err = cmd.exec();
    crate::output::ignore_sigpipe_again();
    launch_error(&err, &cmd.get_program().to_string_lossy())
}

/// Map a failure to exec or spawn `command` to the shell's conventions: not found is 127,
/// found but not executable is 126.
pub fn launch_error(err: &io::Error, command: &str) -> Error {
    match err.kind() {
        io::ErrorKind::NotFound => Error::NotFound {
            command: command.to_owned(),
        },
        _ => Error::NotExecutable {
            command: command.to_owned(),
            reason: err.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_errors_follow_the_shell() {
        assert_eq!(
            launch_error(&io::Error::from(io::ErrorKind::NotFound), "x").code(),
            127
        );
        assert_eq!(
            launch_error(&io::Error::from(io::ErrorKind::PermissionDenied), "x").code(),
            126
        );
        assert_eq!(
            launch_error(&io::Error::from_raw_os_error(8 /* ENOEXEC */), "x").code(),
            126
        );
    }
}
