//! The command line (clap): raw option values only. Validation of values that also come from
//! environment variables happens in [`crate::config`], so that a bad value is reported with
//! every other problem in one run (exit 78); clap itself only rejects malformed usage (exit 64).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::CliSettings;
use crate::error::exit;

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shipping.
    Json,
}

const ENVIRONMENT: &str = "\
ENVIRONMENT (values are never printed; empty or blank counts as unset):
  SYSTEMPROMPT_API_TOKEN             the API token (required, or the _FILE form)
  SYSTEMPROMPT_API_TOKEN_FILE        a file holding the token (Docker/Kubernetes secrets)
  SYSTEMPROMPT_USER_EMAIL            the account's email (required, or the _FILE form)
  SYSTEMPROMPT_USER_EMAIL_FILE       a file holding the email
  SYSTEMPROMPT_API_URL               API endpoint [default: https://api.systemprompt.io]
  SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS  1 = start the app even when whoami fails [default: 0]
  SYSTEMPROMPT_WHOAMI_TIMEOUT        = --whoami-timeout [default: 30]
  SYSTEMPROMPT_WRITE_CREDENTIALS     = --write-credentials [default: none]
  SYSTEMPROMPT_INIT                  = --init [default: auto]
  SYSTEMPROMPT_GRACE                 = --grace [default: 5]
  SYSTEMPROMPT_SCRUB_TOKEN           = --scrub-token (1/0) [default: 0]
  SYSTEMPROMPT_LOG                   = --log [default: info]
  SYSTEMPROMPT_LOG_FORMAT            = --log-format [default: text]
  SSL_CERT_FILE                      extra PEM root certificates, added to the embedded roots
  HTTPS_PROXY, NO_PROXY              proxy for the whoami call
  FLY_APP_NAME, FLY_MACHINE_ID, FLY_REGION   added to every log line when present";

/// What `--version` prints after the name: the version, the git revision it was built from and
/// the target triple (embedded by build.rs; no build time, so builds are reproducible).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (rev ",
    env!("SP_ENTRYPOINT_REVISION"),
    ", ",
    env!("SP_ENTRYPOINT_TARGET"),
    ")"
);

/// The whole help epilogue: variables, then the exit-code table.
fn after_help() -> String {
    format!("{ENVIRONMENT}\n\n{}", exit::TABLE)
}

/// sp-entrypoint: validate SystemPrompt Cloud credentials, prove them with one whoami call,
/// then run the app.
#[derive(Debug, Parser)]
#[command(
    name = "sp-entrypoint",
    version = VERSION,
    about = "Validate SystemPrompt Cloud credentials at container boot, prove them with one whoami call, then run the app.",
    override_usage = "sp-entrypoint [OPTIONS] [--] COMMAND [ARGS]...\n       sp-entrypoint [OPTIONS] check [--json]",
    after_help = after_help(),
    disable_help_subcommand = true,
    subcommand_negates_reqs = true,
)]
pub struct Cli {
    /// Bootstrap and report without running anything.
    #[command(subcommand)]
    pub sub: Option<Sub>,

    /// Options shared by both forms.
    #[command(flatten)]
    pub opts: Opts,

    /// The app to run, and its arguments (passed verbatim; looked up in PATH).
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Validate, call whoami and report; run nothing. Exit code per the table.
    Check {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Options shared by both forms.
        #[command(flatten)]
        opts: Opts,
    },
}

/// Options; each has an environment variable (see ENVIRONMENT), the option wins.
#[derive(Debug, Args, Default, Clone)]
pub struct Opts {
    /// Total time budget for whoami, retries included, in seconds [env: SYSTEMPROMPT_WHOAMI_TIMEOUT] [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub whoami_timeout: Option<String>,

    /// Write credentials.json (mode 0600, atomically) to PATH for apps that read it [env: SYSTEMPROMPT_WRITE_CREDENTIALS]
    #[arg(long, value_name = "PATH")]
    pub write_credentials: Option<PathBuf>,

    /// auto: supervise as PID 1, exec otherwise; always: supervise (as a subreaper); never: exec [env: SYSTEMPROMPT_INIT] [default: auto]
    #[arg(long, value_name = "MODE")]
    pub init: Option<String>,

    /// Seconds leftover processes get between SIGTERM and SIGKILL after the app exits [env: SYSTEMPROMPT_GRACE] [default: 5]
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<String>,

    /// Remove SYSTEMPROMPT_API_TOKEN from the app's environment (use with --write-credentials) [env: SYSTEMPROMPT_SCRUB_TOKEN]
    #[arg(long)]
    pub scrub_token: bool,

    /// Log filter, RUST_LOG syntax, e.g. `debug` or `warn,sp_entrypoint=debug` [env: SYSTEMPROMPT_LOG] [default: info]
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,

    /// Log line format [env: SYSTEMPROMPT_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Mode {
    /// Bootstrap, then run COMMAND.
    Run(Vec<OsString>),
    /// Bootstrap and report.
    Check {
        /// `--json`.
        json: bool,
    },
}

/// The parsed command line.
#[derive(Debug)]
pub struct Parsed {
    /// Run or check.
    pub mode: Mode,
    /// Option values (raw).
    pub opts: Opts,
}

/// The outcome of parsing: either go on, or exit now (help, version, usage error) with text.
#[derive(Debug)]
pub enum ParseOutcome {
    /// Go on with these.
    Go(Parsed),
    /// Print `text` (to stdout when `code` is 0, stderr otherwise) and exit with `code`.
    Exit {
        /// What clap rendered.
        text: String,
        /// 0 for help/version, 64 for usage errors.
        code: u8,
    },
}

/// Parse argv (with `argv[0]`).
pub fn parse(args: &[OsString]) -> ParseOutcome {
    // The Docker form, `sp-entrypoint -- COMMAND [ARGS]...` (no options): exactly what clap
    // returns for it, without building the parser (3% of a bootstrap's instructions).
    if let [_, dashdash, command @ ..] = args
        && dashdash == "--"
        && !command.is_empty()
    {
        return ParseOutcome::Go(Parsed {
            mode: Mode::Run(command.to_vec()),
            opts: Opts::default(),
        });
    }
    parse_with_clap(args)
}

fn parse_with_clap(args: &[OsString]) -> ParseOutcome {
    match Cli::try_parse_from(args) {
        Ok(cli) => match cli.sub {
            Some(Sub::Check { json, opts }) => ParseOutcome::Go(Parsed { mode: Mode::Check { json }, opts: merge(cli.opts, opts) }),
            None if cli.command.is_empty() => ParseOutcome::Exit {
                text: "error: no COMMAND given: name the app to run, e.g. `sp-entrypoint -- /app/server`, or use `sp-entrypoint check`\n\nFor more information, try '--help'.\n"
                    .to_owned(),
                code: exit::USAGE,
            },
            None => ParseOutcome::Go(Parsed { mode: Mode::Run(cli.command), opts: cli.opts }),
        },
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { 0 };
            ParseOutcome::Exit { text: e.render().to_string(), code }
        }
    }
}

/// Options given before `check` and after it: the later wins.
fn merge(before: Opts, after: Opts) -> Opts {
    Opts {
        whoami_timeout: after.whoami_timeout.or(before.whoami_timeout),
        write_credentials: after.write_credentials.or(before.write_credentials),
        init: after.init.or(before.init),
        grace: after.grace.or(before.grace),
        scrub_token: after.scrub_token || before.scrub_token,
        log: after.log.or(before.log),
        log_format: after.log_format.or(before.log_format),
    }
}

impl Opts {
    /// The values [`crate::config::load`] validates.
    pub fn settings(&self) -> CliSettings {
        CliSettings {
            whoami_timeout: self.whoami_timeout.clone(),
            write_credentials: self.write_credentials.clone(),
            init: self.init.clone(),
            grace: self.grace.clone(),
            scrub_token: self.scrub_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn argv(a: &[&str]) -> Vec<OsString> {
        std::iter::once("sp-entrypoint")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn dashdash_fast_path_agrees_with_clap() {
        for a in [
            &["--", "/bin/true"][..],
            &["--", "check"],
            &["--", "check", "--json"],
            &["--", "--help", "-V", "--init", "never"],
            &["--", "--"],
            &["--", ""],
        ] {
            let fast = format!("{:?}", parse(&argv(a)));
            assert!(fast.starts_with("Go("), "{a:?}: {fast}");
            assert_eq!(fast, format!("{:?}", parse_with_clap(&argv(a))), "{a:?}");
        }
        // Anything else still goes to clap.
        assert!(matches!(
            parse(&argv(&["--"])),
            ParseOutcome::Exit { code: 64, .. }
        ));
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_and_its_flags_are_passed_verbatim() {
        let ParseOutcome::Go(p) = parse(&argv(&[
            "--init", "never", "--", "app", "--port", "80", "--", "x",
        ])) else {
            panic!("expected Go")
        };
        let Mode::Run(cmd) = p.mode else {
            panic!("expected Run")
        };
        assert_eq!(cmd, argv(&["app", "--port", "80", "--", "x"])[1..].to_vec());
        assert_eq!(p.opts.init.as_deref(), Some("never"));
    }

    #[test]
    fn command_without_double_dash_keeps_its_flags() {
        let ParseOutcome::Go(p) = parse(&argv(&["app", "--init", "x"])) else {
            panic!("expected Go")
        };
        let Mode::Run(cmd) = p.mode else {
            panic!("expected Run")
        };
        assert_eq!(cmd, argv(&["app", "--init", "x"])[1..].to_vec());
        assert!(p.opts.init.is_none());
    }

    #[test]
    fn check_with_json_and_options_on_either_side() {
        let ParseOutcome::Go(p) = parse(&argv(&[
            "--grace",
            "1",
            "check",
            "--json",
            "--whoami-timeout",
            "3",
        ])) else {
            panic!("expected Go")
        };
        assert!(matches!(p.mode, Mode::Check { json: true }));
        assert_eq!(p.opts.grace.as_deref(), Some("1"));
        assert_eq!(p.opts.whoami_timeout.as_deref(), Some("3"));
    }

    #[test]
    fn an_app_named_check_runs_after_double_dash() {
        let ParseOutcome::Go(p) = parse(&argv(&["--", "check", "--json"])) else {
            panic!("expected Go")
        };
        assert!(matches!(p.mode, Mode::Run(ref c) if c.len() == 2));
    }

    #[test]
    fn no_command_is_usage_error() {
        assert!(matches!(
            parse(&argv(&[])),
            ParseOutcome::Exit { code: 64, .. }
        ));
        assert!(matches!(
            parse(&argv(&["--bogus"])),
            ParseOutcome::Exit { code: 64, .. }
        ));
    }

    #[test]
    fn help_names_every_variable_and_the_exit_codes() {
        let ParseOutcome::Exit { text, code: 0 } = parse(&argv(&["--help"])) else {
            panic!("expected help")
        };
        for var in [
            "SYSTEMPROMPT_API_TOKEN",
            "SYSTEMPROMPT_API_TOKEN_FILE",
            "SYSTEMPROMPT_USER_EMAIL_FILE",
            "SYSTEMPROMPT_API_URL",
            "SYSTEMPROMPT_WHOAMI_TIMEOUT",
            "SYSTEMPROMPT_INIT",
            "SYSTEMPROMPT_LOG_FORMAT",
            "SSL_CERT_FILE",
            "128+N",
            "77",
        ] {
            assert!(text.contains(var), "--help lacks {var}");
        }
    }
}
