//! The command line (clap, built from the settings spec): raw option values only. Validation of
//! values that also come from environment variables happens in [`crate::config`], so that a bad
//! value is reported with every other problem in one run (exit 78); clap itself only rejects
//! malformed usage (exit 64).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

use crate::config::CliValues;
use crate::config::spec::{self, Kind};
use crate::error::exit;

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
    format!("{}\n\n{}", spec::environment_help(), exit::table())
}

/// One clap option per setting that has one, from the spec.
fn option_args() -> Vec<Arg> {
    spec::with_options()
        .map(|(s, o)| {
            let arg = Arg::new(o.long).long(o.long).help(s.option_help());
            let arg = match o.value_name {
                Some(name) => arg.value_name(name),
                None => arg,
            };
            match s.kind {
                Kind::YesNo | Kind::ExactlyOne => arg.action(ArgAction::SetTrue),
                Kind::Path => arg.value_parser(value_parser!(PathBuf)),
                Kind::Choice {
                    values,
                    clap_checks: true,
                    ..
                } => arg.value_parser(PossibleValuesParser::new(values.iter().map(|(v, help)| {
                    let value = PossibleValue::new(*v);
                    if help.is_empty() {
                        value
                    } else {
                        value.help(*help)
                    }
                }))),
                Kind::Text { .. } | Kind::Seconds { .. } | Kind::Choice { .. } => {
                    arg.value_parser(value_parser!(String))
                }
            }
        })
        .collect()
}

/// The clap command: `[OPTIONS] [--] COMMAND [ARGS]...` or `[OPTIONS] check [--json]`.
pub fn command() -> Command {
    Command::new("sp-entrypoint")
        .version(VERSION)
        .about("Validate SystemPrompt Cloud credentials at container boot, prove them with one whoami call, then run the app.")
        .override_usage("sp-entrypoint [OPTIONS] [--] COMMAND [ARGS]...\n       sp-entrypoint [OPTIONS] check [--json]")
        .after_help(after_help())
        .disable_help_subcommand(true)
        .subcommand_negates_reqs(true)
        .subcommand(
            Command::new("check")
                .about("Validate, call whoami and report; run nothing. Exit code per the table")
                .arg(
                    Arg::new("json")
                        .long("json")
                        .action(ArgAction::SetTrue)
                        .help("Print one JSON object instead of text"),
                )
                .args(option_args()),
        )
        .args(option_args())
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .num_args(1..)
                .action(ArgAction::Append)
                .trailing_var_arg(true)
                .value_parser(value_parser!(OsString))
                .help("The app to run, and its arguments (passed verbatim; looked up in PATH)"),
        )
}

/// The option values given in `m`.
fn values(m: &ArgMatches) -> CliValues {
    let mut cli = CliValues::default();
    for (s, o) in spec::with_options() {
        let value = match s.kind {
            Kind::YesNo | Kind::ExactlyOne => m.get_flag(o.long).then(|| OsString::from("1")),
            Kind::Path => m
                .get_one::<PathBuf>(o.long)
                .map(|p| p.clone().into_os_string()),
            _ => m.get_one::<String>(o.long).map(OsString::from),
        };
        if let Some(value) = value {
            cli.set(s, value);
        }
    }
    cli
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
    pub cli: CliValues,
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
            cli: CliValues::default(),
        });
    }
    parse_with_clap(args)
}

fn parse_with_clap(args: &[OsString]) -> ParseOutcome {
    match command().try_get_matches_from(args) {
        Ok(m) => {
            // Options given before `check` and after it: the later wins.
            if let Some((_, sub)) = m.subcommand() {
                return ParseOutcome::Go(Parsed {
                    mode: Mode::Check {
                        json: sub.get_flag("json"),
                    },
                    cli: values(&m).merged(values(sub)),
                });
            }
            let command: Vec<OsString> = m
                .get_many::<OsString>("command")
                .map(|c| c.cloned().collect())
                .unwrap_or_default();
            if command.is_empty() {
                return ParseOutcome::Exit {
                    text: "error: no COMMAND given: name the app to run, e.g. `sp-entrypoint -- /app/server`, or use `sp-entrypoint check`\n\nFor more information, try '--help'.\n"
                        .to_owned(),
                    code: exit::USAGE,
                };
            }
            ParseOutcome::Go(Parsed {
                mode: Mode::Run(command),
                cli: values(&m),
            })
        }
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { 0 };
            ParseOutcome::Exit {
                text: e.render().to_string(),
                code,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        command().debug_assert();
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
        assert_eq!(p.cli.get(&spec::INIT), Some("never".as_ref()));
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
        assert!(p.cli.get(&spec::INIT).is_none());
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
        assert_eq!(p.cli.get(&spec::GRACE), Some("1".as_ref()));
        assert_eq!(p.cli.get(&spec::WHOAMI_TIMEOUT), Some("3".as_ref()));
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

    #[test]
    fn help_lists_every_setting_of_the_spec_and_nothing_else() {
        let ParseOutcome::Exit { text, code: 0 } = parse(&argv(&["--help"])) else {
            panic!("expected help")
        };
        let env = text
            .split("ENVIRONMENT")
            .nth(1)
            .and_then(|s| s.split("\n\n").next())
            .unwrap_or_else(|| panic!("no ENVIRONMENT section: {text}"));
        let listed: Vec<&str> = env
            .lines()
            .skip(1)
            .flat_map(|l| {
                l.trim_start()
                    .split("  ")
                    .next()
                    .unwrap_or_default()
                    .split(", ")
            })
            .collect();
        let in_spec: Vec<&str> = spec::SETTINGS.iter().map(|s| s.var).collect();
        assert_eq!(listed, in_spec);
        // Every option of the spec is an option of both forms, and says its variable.
        let ParseOutcome::Exit { text: check, .. } = parse(&argv(&["check", "--help"])) else {
            panic!("expected help")
        };
        for (s, o) in spec::with_options() {
            for help in [&text, &check] {
                assert!(
                    help.contains(&format!("--{}", o.long))
                        && help.contains(&format!("[env: {}]", s.var)),
                    "--{} / {} missing: {help}",
                    o.long,
                    s.var
                );
            }
        }
        let options = text.matches("[env: ").count();
        assert_eq!(options, spec::with_options().count(), "{text}");
    }
}
