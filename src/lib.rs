//! sp-entrypoint: validate SystemPrompt Cloud credentials at container boot, prove them with one
//! whoami call, then exec (or supervise, as PID 1) the real app.
//!
//! `run` is the pipeline, in the README's order ("What it checks, in order"): [`cli`] →
//! [`config`] (with the logging settings, then [`logging`]) → token expiry ([`token`]) →
//! [`whoami`] and the email match → [`credentials`] → [`exec`] | [`init`] | the `check` report.
//! Nothing touches the network before the configuration is valid.

pub mod arena;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod error;
pub mod exec;
pub mod init;
pub mod logging;
pub mod platform;
pub mod stop;
pub mod timefmt;
pub mod token;
pub mod whoami;

use std::ffi::OsString;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::cli::{Mode, ParseOutcome};
use crate::config::{Config, vars};
use crate::credentials::Credentials;
use crate::error::Error;
use crate::logging::Logger;
use crate::stop::StopSignals;
use crate::token::Expiry;
use crate::whoami::Identity;

/// Replace the default panic output with one line that cannot carry a secret, then exit 70.
/// The binary's `main` installs it first thing (for the bootstrap and the supervisor alike).
///
/// No code path is known to panic (no `unwrap` on input); this is defence in depth. The line
/// has the location and the message only when the message is a literal of the code (a
/// `&'static str` payload); a formatted message (a `String` payload) is withheld, since it
/// could hold runtime data such as the token. Nothing else is printed: no backtrace, no
/// environment. The exit code is 70 (internal error) instead of 101 or a `SIGABRT` (the
/// release profile aborts on panic; the hook runs first).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| (l.file(), l.line()));
        eprintln!("{}", panic_line(info.payload(), location));
        std::process::exit(i32::from(error::exit::SOFTWARE));
    }));
}

/// The one line [`install_panic_hook`] prints for a panic with `payload` at `location`.
#[doc(hidden)]
pub fn panic_line(payload: &dyn std::any::Any, location: Option<(&str, u32)>) -> String {
    let at = location.map_or_else(String::new, |(file, line)| format!(" at {file}:{line}"));
    let message = payload
        .downcast_ref::<&'static str>()
        .map_or("(message withheld: it may hold runtime data)", |s| s);
    format!(
        "sp-entrypoint: error: internal error: panic{at}: {message}; this is a bug, please report it"
    )
}

/// The whole program: `args` is argv (with `argv[0]`); returns the process exit code.
pub fn main_entry(args: &[OsString]) -> u8 {
    // The lean supervisor re-exec'd by `init::run` (hidden, internal).
    if args.get(1).is_some_and(|a| a == init::SUPERVISE_ARG) {
        return init::supervisor_main(&args[2..]);
    }
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    match run(args, &env) {
        Ok(code) => code,
        Err(failed) => {
            logging::report_error(&failed.error, failed.log.as_ref());
            failed.error.code()
        }
    }
}

/// A bootstrap that failed: the error, and the logger to report it with (none when it failed
/// before logging was set up).
struct Failed {
    error: Box<Error>,
    log: Option<Logger>,
}

impl Failed {
    fn new(error: Error, log: Option<Logger>) -> Failed {
        Failed {
            error: Box::new(error),
            log,
        }
    }
}

/// Whether whoami proved the credentials (the identity), or how it failed.
type Proof = Result<Identity, Error>;

/// The pipeline, in the README's order. Returns the exit code (help, version, usage, check, or
/// the supervised app's); never returns after a successful exec.
fn run(args: &[OsString], os_env: &[(OsString, OsString)]) -> Result<u8, Failed> {
    let parsed = match cli::parse(args) {
        ParseOutcome::Go(parsed) => parsed,
        ParseOutcome::Exit { text, code } => return Ok(print_usage(&text, code)),
    };
    // Before any other thread exists, so that every thread inherits the mask.
    let stop = StopSignals::block().map_err(|error| Failed::new(error, None))?;
    // 1. Configuration (logging first, so that every later stage can warn).
    let loaded = config::load(&parsed.cli, &utf8_env(os_env), &|p| std::fs::read(p));
    let log = logging::init(&loaded.log);
    log.in_scope(|| {
        let cfg = configuration(loaded.config)?;
        let now = timefmt::now_unix();
        // 2. Expiry.
        check_expiry(&cfg, now)?;
        // 3. whoami and the email match.
        let (proof, runtime) = prove(&cfg, &stop)?;
        let proof = match parsed.mode {
            // `check` reports a failed whoami in full, then exits with its code.
            Mode::Check { .. } => proof,
            Mode::Run(_) => unless_allowed(&cfg, proof)?,
        };
        // 4. Credentials.
        write_credentials(&cfg, &proof, now)?;
        // 5. Run the app, or report.
        match parsed.mode {
            Mode::Check { json } => report(&cfg, proof, runtime, &stop, json, now),
            Mode::Run(app) => launch(&app, cfg, &proof, runtime, &stop, now),
        }
    })
    .map_err(|error| Failed::new(error, Some(log)))
}

/// Help and version on stdout (code 0), a usage error on stderr.
fn print_usage(text: &str, code: u8) -> u8 {
    if code == 0 {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
    code
}

/// The environment as UTF-8 pairs for validation (lossy: a non-UTF-8 value then fails the
/// validation of its variable instead of being silently dropped).
fn utf8_env(env: &[(OsString, OsString)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

/// The valid configuration, its warnings logged; or every problem.
fn configuration(loaded: Result<(Config, Vec<String>), Error>) -> Result<Config, Error> {
    let (cfg, warnings) = loaded?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    if cfg.scrub_token && cfg.write_credentials.is_none() {
        tracing::warn!("--scrub-token without --write-credentials: the app gets no token at all");
    }
    Ok(cfg)
}

/// A failed whoami ends the bootstrap, unless it is a whoami failure and
/// `SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS=1`: then the app starts, with a loud warning.
fn unless_allowed(cfg: &Config, proof: Proof) -> Result<Proof, Error> {
    match proof {
        Err(e) if e.is_whoami_failure() && cfg.allow_unvalidated => {
            tracing::warn!(
                "SECURITY: {}=1: starting the app with UNVALIDATED credentials after a failed whoami (it would have exited {}): {e}",
                vars::ALLOW_UNVALIDATED.var,
                e.code()
            );
            Ok(Err(e))
        }
        Err(e) => Err(e),
        Ok(id) => Ok(Ok(id)),
    }
}

/// With `--write-credentials`: credentials.json, with `last_validated_at` when whoami proved them.
fn write_credentials(cfg: &Config, proof: &Proof, now: u64) -> Result<(), Error> {
    let Some(path) = &cfg.write_credentials else {
        return Ok(());
    };
    let validated_at = proof.as_ref().ok().map(|_| timefmt::now_unix());
    Credentials::new(cfg, now, validated_at).write_atomic(path)?;
    tracing::debug!(path = %path.display(), "credentials file written");
    Ok(())
}

/// `check`: print the report; the exit code is whoami's.
fn report(
    cfg: &Config,
    proof: Proof,
    runtime: Runtime,
    stop: &StopSignals,
    json: bool,
    now: u64,
) -> Result<u8, Error> {
    runtime.shutdown_timeout(Duration::from_millis(100));
    if let Some(e) = stop.pending() {
        return Err(e);
    }
    print_report(cfg, &proof, json, now);
    proof.map(|_| 0)
}

/// Launch the app: exec it (same PID), or supervise it (as PID 1, or with `--init always`).
/// Returns only when supervising (the app's exit code) or when the exec failed.
fn launch(
    argv: &[OsString],
    cfg: Config,
    proof: &Proof,
    runtime: Runtime,
    stop: &StopSignals,
    now: u64,
) -> Result<u8, Error> {
    if let Ok(id) = proof {
        log_success(&cfg, id, now);
    }
    let cmd = exec::command(argv, &cfg);
    let supervise = init::should_supervise(cfg.init, std::process::id());
    let opts = init::Options { grace: cfg.grace };
    drop(cfg);
    // A stop signal that came after whoami: the app must not start.
    if let Some(e) = stop.pending() {
        return Err(e);
    }
    if supervise {
        // Shut down before supervising: the hand-off must come from a single-threaded process
        // (the runtime may hold a blocking-pool thread from name resolution; one stuck in a
        // hanging lookup is not waited for past the bound).
        runtime.shutdown_timeout(Duration::from_millis(100));
        // The supervisor blocks every signal itself; one arriving from here on is forwarded
        // to the app.
        init::run(cmd, opts)
    } else {
        // Not torn down before an exec that frees it all anyway (its tasks, the idle
        // connection, the drivers: ~25 syscalls); every fd it holds is CLOEXEC.
        std::mem::forget(runtime);
        // The app inherits the mask as it was when we started; a stop signal arriving from
        // here on gets its default action (on us, or on the app after exec).
        stop.restore();
        Err(exec::exec(cmd))
    }
}

/// Refuse an expired token before any request; warn when it expires within the hour.
fn check_expiry(cfg: &Config, now: u64) -> Result<(), Error> {
    match token::expiry(&cfg.claims, now) {
        Expiry::Expired { ago } => Err(Error::Expired {
            expired_at: timefmt::rfc3339(cfg.claims.exp.unwrap_or(now)),
            ago: timefmt::human_duration(ago),
            platform: cfg.platform,
        }),
        Expiry::ExpiresSoon { remaining } => {
            tracing::warn!(
                "{} expires in {} (at {}); log in again soon (`just login`), then {}",
                vars::API_TOKEN.var,
                timefmt::human_duration(remaining),
                timefmt::rfc3339(cfg.claims.exp.unwrap_or(now)),
                cfg.platform.rotate_token()
            );
            Ok(())
        }
        Expiry::Unknown => {
            tracing::warn!(
                "{} has no `exp` claim; its expiry is unknown",
                vars::API_TOKEN.var
            );
            Ok(())
        }
        Expiry::Valid { .. } => Ok(()),
    }
}

/// whoami plus the email match, on a current-thread runtime that also watches the stop signals
/// (which end the bootstrap at once with 128+N, also as PID 1; see [`stop`]). `Ok(Err(e))` is a failed
/// whoami (the caller decides whether the escape hatch applies); `Err` is a signal or an
/// internal failure, which always ends the bootstrap.
fn prove(cfg: &Config, stop: &StopSignals) -> Result<(Result<Identity, Error>, Runtime), Error> {
    if let Some(e) = stop.pending() {
        return Err(e);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let request = whoami::Request {
        api_url: &cfg.api_url,
        token: &cfg.token,
        budget: cfg.whoami_timeout,
        ssl_cert_file: cfg.ssl_cert_file.clone(),
        platform: cfg.platform,
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = whoami::whoami(&request) => Ok(r),
            e = stop.wait() => Err(e),
        }
    })?;
    let checked = outcome.and_then(|id| {
        if id.email.to_lowercase() == cfg.email.to_lowercase() {
            Ok(id)
        } else {
            Err(Error::EmailMismatch {
                expected: cfg.email.clone(),
                actual: id.email,
            })
        }
    });
    Ok((checked, runtime))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn expires_text(cfg: &Config, now: u64) -> String {
    cfg.claims.exp.map_or_else(
        || "never (no exp claim)".to_owned(),
        |exp| {
            format!(
                "{} (in {})",
                timefmt::rfc3339(exp),
                timefmt::human_duration(exp.saturating_sub(now))
            )
        },
    )
}

fn log_success(cfg: &Config, id: &Identity, now: u64) {
    tracing::info!(
        user = %id.email,
        api = %cfg.api_url,
        expires = %expires_text(cfg, now),
        whoami_ms = ms(id.latency),
        attempts = id.attempts,
        "credentials validated; starting the app"
    );
}

fn print_report(cfg: &Config, proof: &Result<Identity, Error>, json: bool, now: u64) {
    let status = match token::expiry(&cfg.claims, now) {
        Expiry::Valid { .. } => "valid",
        Expiry::ExpiresSoon { .. } => "expires_soon",
        Expiry::Expired { .. } => "expired",
        Expiry::Unknown => "unknown",
    };
    let authenticated_at = timefmt::rfc3339(cfg.claims.iat.unwrap_or(now));
    if json {
        let mut v = serde_json::json!({
            "user_email": cfg.email,
            "api_url": cfg.api_url,
            "authenticated_at": authenticated_at,
            "expires_at": cfg.claims.exp.map(timefmt::rfc3339),
            "expires_in_secs": cfg.claims.exp.map(|e| e.saturating_sub(now)),
            "token_status": status,
            "validated": proof.is_ok(),
            "credentials_file": cfg.write_credentials.as_ref().map(|p| p.display().to_string()),
        });
        match proof {
            Ok(id) => {
                v["user_id"] = id.user_id.clone().into();
                v["user_name"] = id.name.clone().into();
                v["whoami_latency_ms"] = ms(id.latency).into();
                v["whoami_attempts"] = id.attempts.into();
            }
            Err(e) => {
                v["validation_error"] = e.to_string().into();
                v["validation_exit_code"] = e.code().into();
            }
        }
        println!("{v}");
    } else {
        println!("user:              {}", cfg.email);
        println!("api:               {}", cfg.api_url);
        println!(
            "token:             {status}, expires {}",
            expires_text(cfg, now)
        );
        println!("authenticated_at:  {authenticated_at}");
        match proof {
            Ok(id) => println!(
                "validated:         yes (user {}{}; whoami {} ms, {} attempt{})",
                id.user_id,
                id.name
                    .as_ref()
                    .map(|n| format!(", {n}"))
                    .unwrap_or_default(),
                ms(id.latency),
                id.attempts,
                if id.attempts == 1 { "" } else { "s" }
            ),
            Err(e) => println!("validated:         NO ({e})"),
        }
        if let Some(p) = &cfg.write_credentials {
            println!("credentials_file:  {}", p.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::panic_line;

    #[test]
    fn panic_lines_withhold_formatted_messages() {
        let secret = String::from("sp_live_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl");
        let formatted: Box<dyn std::any::Any> = Box::new(format!("bad {secret}"));
        let line = panic_line(formatted.as_ref(), Some(("src/x.rs", 7)));
        assert!(!line.contains("eyJ"), "{line}");
        assert!(
            line.contains("panic at src/x.rs:7") && line.contains("withheld"),
            "{line}"
        );
        let literal: Box<dyn std::any::Any> = Box::new("a literal message");
        let line = panic_line(literal.as_ref(), None);
        assert_eq!(
            line,
            "sp-entrypoint: error: internal error: panic: a literal message; this is a bug, please report it"
        );
    }
}
