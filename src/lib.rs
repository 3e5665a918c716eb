//! sp-entrypoint: validate SystemPrompt Cloud credentials at container boot, prove them with one
//! whoami call, then exec (or supervise, as PID 1) the real app.
//!
//! `run` is the pipeline, in the README's order ("What it checks, in order"): [`cli`] →
//! [`config`] (with the logging settings, then [`logging`]) → token expiry ([`token`]) →
//! [`whoami`] and the email match → [`credentials`] → [`exec`] | [`init`] | the `check` report.
//! Nothing touches the network before the configuration is valid. While the app runs, the
//! token-expiry watch ([`expiry`]) warns before the token expires.
//!
//! Everything printed goes through [`output`] (redacted by [`redact`], a closed stream ignored):
//! the print macros are denied outside tests.

#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]

pub mod arena;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod error;
pub mod exec;
pub mod expiry;
pub mod init;
pub mod input;
pub mod logging;
pub mod output;
pub mod platform;
pub mod redact;
pub mod stop;
pub mod timefmt;
pub mod token;
pub mod whoami;

use std::cell::Cell;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::cli::{Mode, ParseOutcome};
use crate::config::{Config, vars};
use crate::credentials::{Credentials, Proven};
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
///
/// The hook itself cannot panic: the line is written with a plain `write` whose failure (a
/// closed stderr) is ignored (`eprintln!` would panic inside the hook, and a panic while
/// panicking aborts: SIGABRT, or SIGSEGV as PID 1).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        use std::io::Write;
        let location = info.location().map(|l| (l.file(), l.line()));
        let mut line = panic_line(info.payload(), location);
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
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
    // The token-expiry watcher of the exec path, started by `expiry::detached::spawn`: it
    // holds no token either.
    if args
        .get(1)
        .is_some_and(|a| a == expiry::detached::WATCH_ARG)
    {
        return expiry::detached::watcher_main(&args[2..]);
    }
    hold_the_token();
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    match run(args, &env) {
        Ok(code) => code,
        Err(failed) => {
            logging::report_error(&failed.error, failed.log.as_ref());
            failed.error.code()
        }
    }
}

/// Get ready to hold the token, before anything else: the process is made non-dumpable
/// (`PR_SET_DUMPABLE` 0: no core dump, no `ptrace` attach by an unprivileged process of the
/// same user, `/proc/PID/mem` and `environ` owned by root), and the token in the environment
/// is registered with the one redaction ([`redact`]), so that nothing printed from here on
/// (clap's usage errors included) can repeat it. `execve` makes the app (and the lean
/// supervisor, which holds no token) dumpable again.
fn hold_the_token() {
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        output::stderr_line(&format!(
            "sp-entrypoint: warning: cannot mark the process non-dumpable ({e}); a core dump could hold the token"
        ));
    }
    if let Some(token) = std::env::var_os(config::vars::API_TOKEN.var) {
        redact::register(&token.to_string_lossy());
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
    let loaded = config::load(&parsed.cli, os_env, &|path, limit| {
        input::read_bounded(path, limit).map_err(std::io::Error::other)
    });
    let log = logging::init(&loaded.log);
    let now = timefmt::now_unix();
    let mut check_json = CheckJson::new(&parsed.mode);
    let result = log.in_scope(|| {
        let cfg = configuration(loaded.config)?;
        check_json.knows(&cfg);
        // 2. Expiry, and the watch of the app's run (on the exec path its process starts now,
        //    so that the fork's aftermath overlaps the whoami request).
        check_expiry(&cfg, now)?;
        let watch = app_watch(
            &parsed.mode,
            &cfg,
            &expiry::Context::new(&loaded.log, cfg.platform),
        );
        // 3. whoami and the email match.
        let supervises = matches!(parsed.mode, Mode::Run(_))
            && init::should_supervise(cfg.init, std::process::id());
        let (proof, runtime) = prove(&cfg, &stop, supervises)?;
        let proof = unless_allowed(&parsed.mode, &cfg, proof)?;
        // 4. Credentials.
        write_credentials(&cfg, &proof, now)?;
        // 5. Run the app, or report.
        match parsed.mode {
            Mode::Check { json } => {
                report(&cfg, proof, runtime, &stop, json, now, &check_json.reported)
            }
            Mode::Run(app) => launch(&app, cfg, &proof, runtime, &stop, watch, now),
        }
    });
    check_json.on_failure(&result, now);
    result.map_err(|error| Failed::new(error, Some(log)))
}

/// `check --json` prints one object for every outcome: the report's, or (when the bootstrap
/// failed before it) the failure's, from what was known by then.
struct CheckJson {
    on: bool,
    known: Option<CheckBasis>,
    /// Set by [`report`] once it printed the report's object.
    reported: Cell<bool>,
}

impl CheckJson {
    fn new(mode: &Mode) -> Self {
        CheckJson {
            on: matches!(mode, Mode::Check { json: true }),
            known: None,
            reported: Cell::new(false),
        }
    }

    /// Remember what the report would say of a valid configuration.
    fn knows(&mut self, cfg: &Config) {
        if self.on {
            self.known = Some(CheckBasis::of(cfg));
        }
    }

    /// Print the failure's object when the bootstrap failed before the report.
    fn on_failure(&self, result: &Result<u8, Error>, now: u64) {
        if self.on
            && !self.reported.get()
            && let Err(e) = result
        {
            output::stdout_line(&failure_json(self.known.as_ref(), e, now).to_string());
        }
    }
}

/// What `check --json` reports of a valid configuration (never the token).
struct CheckBasis {
    email: String,
    api_url: String,
    claims: token::Claims,
    credentials_file: Option<String>,
}

impl CheckBasis {
    fn of(cfg: &Config) -> Self {
        CheckBasis {
            email: cfg.email.clone(),
            api_url: cfg.api_url.clone(),
            claims: cfg.claims.clone(),
            credentials_file: cfg
                .write_credentials
                .as_ref()
                .map(|p| p.display().to_string()),
        }
    }
}

/// The `check --json` object of a bootstrap that failed before the report: the report's fields
/// known by then (`null` otherwise), `validated: false`, the error and its exit code.
/// `token_status` is `invalid` when the token is missing or malformed, `unknown` when the
/// configuration failed elsewhere (the token was not looked at).
fn failure_json(known: Option<&CheckBasis>, e: &Error, now: u64) -> serde_json::Value {
    let status = match (known, e) {
        (Some(k), _) => token_status(&k.claims, now),
        (None, Error::Config(problems))
            if problems
                .iter()
                .any(|p| p.var.contains(config::vars::API_TOKEN.var)) =>
        {
            "invalid"
        }
        (None, _) => "unknown",
    };
    let exp = known.and_then(|k| k.claims.exp.ok());
    serde_json::json!({
        "user_email": known.map(|k| k.email.as_str()),
        "api_url": known.map(|k| k.api_url.as_str()),
        "authenticated_at": known.map(|k| timefmt::rfc3339(token::login_time(&k.claims, now))),
        "expires_at": exp.map(timefmt::rfc3339_signed),
        "expires_in_secs": exp.map(|e| remaining(e, now)),
        "token_status": status,
        "validated": false,
        "credentials_file": known.and_then(|k| k.credentials_file.as_deref()),
        "validation_error": e.to_string(),
        "validation_exit_code": e.code(),
    })
}

/// `valid`, `expires_soon`, `expired` or `unreadable` (an `exp` the app cannot read).
fn token_status(claims: &token::Claims, now: u64) -> &'static str {
    match token::expiry(claims, now) {
        Expiry::Valid { .. } => "valid",
        Expiry::ExpiresSoon { .. } => "expires_soon",
        Expiry::Expired { .. } => "expired",
        Expiry::Unreadable(_) => "unreadable",
    }
}

/// Help and version on stdout (code 0), a usage error on stderr.
fn print_usage(text: &str, code: u8) -> u8 {
    if code == 0 {
        output::stdout(text);
    } else {
        output::stderr(text);
    }
    code
}

/// The valid configuration, its warnings logged; or every problem.
fn configuration(loaded: Result<(Config, Vec<String>), Error>) -> Result<Config, Error> {
    let (cfg, warnings) = loaded?;
    // The token read from a `_FILE`: withheld from everything printed from here on (the
    // variable's value was registered first thing, by `hold_the_token`).
    if cfg.token_from_file {
        redact::register(cfg.token.expose());
    }
    for w in warnings {
        tracing::warn!("{w}");
    }
    if cfg.scrub_token && cfg.write_credentials.is_none() {
        tracing::warn!("--scrub-token without --write-credentials: the app gets no token at all");
    }
    Ok(cfg)
}

/// A failed whoami ends a run, unless it is a whoami failure and
/// `SYSTEMPROMPT_ALLOW_UNVALIDATED_CREDS=1`: then the app starts, with a loud warning. `check`
/// reports a failed whoami in full, then exits with its code.
fn unless_allowed(mode: &Mode, cfg: &Config, proof: Proof) -> Result<Proof, Error> {
    if matches!(mode, Mode::Check { .. }) {
        return Ok(proof);
    }
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

/// With `--write-credentials`: credentials.json, as [`credentials_for`] builds it.
fn write_credentials(cfg: &Config, proof: &Proof, now: u64) -> Result<(), Error> {
    let Some(path) = &cfg.write_credentials else {
        return Ok(());
    };
    // Credentials whoami refused are never persisted (`check` included); only the escape
    // hatch writes unvalidated ones (`last_validated_at: null`).
    if proof
        .as_ref()
        .is_err_and(|e| !(cfg.allow_unvalidated && e.is_whoami_failure()))
    {
        return Ok(());
    }
    let proven = proof.as_ref().ok().map(|id| Proven {
        email: &id.email,
        validated_at: fresh(id),
    });
    Credentials::new(cfg, now, proven).write_atomic(path)?;
    tracing::debug!(path = %path.display(), "credentials file written");
    Ok(())
}

/// When whoami succeeded, for `last_validated_at`: now, only when the app would also have
/// parsed the answer; otherwise `None` and one warning (the app then validates again itself).
fn fresh(id: &Identity) -> Option<u64> {
    match &id.app_parse_error {
        None => Some(timefmt::now_unix()),
        Some(field) => {
            tracing::warn!(
                "last_validated_at not written: the SystemPrompt app would not parse the whoami answer ({field}), so it will call whoami again itself"
            );
            None
        }
    }
}

/// `check`: print the report (and mark it `reported`); the exit code is whoami's.
fn report(
    cfg: &Config,
    proof: Proof,
    runtime: BootRuntime,
    stop: &StopSignals,
    json: bool,
    now: u64,
    reported: &Cell<bool>,
) -> Result<u8, Error> {
    runtime.shutdown_timeout(Duration::from_millis(100));
    if let Some(e) = stop.pending() {
        return Err(e);
    }
    let supervise = init::should_supervise(cfg.init, std::process::id());
    let why = expiry::not_watched(
        cfg.on_expiry,
        watched_exp(cfg),
        supervise,
        std::process::id(),
    );
    let plan = expiry::Plan::new(cfg.on_expiry, watched_exp(cfg), why, now);
    print_report(cfg, &proof, json, now, &plan);
    reported.set(true);
    proof.map(|_| 0)
}

/// The token-expiry watch of the app (README "Token lifetime"): the settings the supervisor
/// takes over, or the exec path's detached watcher, already started.
#[derive(Debug, Default)]
struct AppWatch {
    /// For the supervisor.
    supervisor: Option<expiry::Watch>,
    /// The exec path's watcher, whose intermediate child is reaped just before the exec.
    detached: Option<expiry::detached::Started>,
}

/// The token's `exp` as the watch takes it: seconds since the epoch, when readable (a token
/// whose `exp` is unreadable or before the epoch never gets this far: it is refused as expired).
fn watched_exp(cfg: &Config) -> Option<u64> {
    cfg.claims.exp.ok().and_then(|exp| u64::try_from(exp).ok())
}

/// Decide the watch of a run (one info line when there is none although there would be
/// something to watch), and on the exec path start its process; `check` watches nothing.
fn app_watch(mode: &Mode, cfg: &Config, context: &expiry::Context) -> AppWatch {
    if matches!(mode, Mode::Check { .. }) {
        return AppWatch::default();
    }
    let supervise = init::should_supervise(cfg.init, std::process::id());
    match expiry::for_app(cfg.on_expiry, watched_exp(cfg), supervise, context) {
        Err(why) => {
            if cfg.on_expiry != config::OnExpiry::Off && watched_exp(cfg).is_some() {
                tracing::info!("the token's expiry is not watched: {why}");
            }
            AppWatch::default()
        }
        Ok(watch) if supervise => AppWatch {
            supervisor: Some(watch),
            detached: None,
        },
        Ok(watch) => match expiry::detached::spawn(&watch, cfg.grace) {
            Ok(started) => AppWatch {
                supervisor: None,
                detached: Some(started),
            },
            Err(e) => {
                tracing::warn!(
                    "cannot start the token expiry watcher: {e}; the app runs unwatched"
                );
                AppWatch::default()
            }
        },
    }
}

/// Launch the app: exec it (same PID), or supervise it (as PID 1, or with `--init always`),
/// with the token-expiry watch. Returns only when supervising (the app's exit code) or when the
/// exec failed.
fn launch(
    argv: &[OsString],
    cfg: Config,
    proof: &Proof,
    runtime: BootRuntime,
    stop: &StopSignals,
    watch: AppWatch,
    now: u64,
) -> Result<u8, Error> {
    if let Ok(id) = proof {
        log_success(&cfg, id, now);
    }
    let cmd = exec::command(argv, &cfg);
    let supervise = init::should_supervise(cfg.init, std::process::id());
    let opts = init::Options {
        grace: cfg.grace,
        watch: watch.supervisor,
    };
    drop(cfg);
    // A stop signal that came after whoami: the app must not start.
    if let Some(e) = stop.pending() {
        return Err(e);
    }
    if supervise {
        // Shut down before supervising: the hand-off must come from a single-threaded process
        // (the runtime may hold a blocking-pool thread from name resolution; one stuck in a
        // hanging lookup is not waited for past the bound).
        let threads_before = runtime.threads_before;
        runtime.shutdown_timeout(Duration::from_millis(100));
        // The supervisor blocks every signal itself; one arriving from here on is forwarded
        // to the app.
        init::run(cmd, &opts, threads_before)
    } else {
        // Not torn down before an exec that frees it all anyway (its tasks, the idle
        // connection, the drivers: ~25 syscalls); every fd it holds is CLOEXEC.
        std::mem::forget(runtime);
        // The watcher (a detached process holding a pidfd on us, the app after the exec):
        // reap its intermediate child, so that the app inherits no child of ours.
        if let Some(started) = watch.detached
            && let Err(e) = started.reap()
        {
            tracing::warn!("cannot start the token expiry watcher: {e}; the app runs unwatched");
        }
        // The app inherits the mask as it was when we started; a stop signal arriving from
        // here on gets its default action (on us, or on the app after exec).
        stop.restore();
        Err(exec::exec(cmd))
    }
}

/// Refuse an expired token, or one whose expiry the app cannot read, before any request; warn
/// when it expires within the hour.
fn check_expiry(cfg: &Config, now: u64) -> Result<(), Error> {
    match token::expiry(&cfg.claims, now) {
        Expiry::Expired { ago } => Err(Error::Expired {
            expired_at: timefmt::rfc3339_signed(cfg.claims.exp.unwrap_or_default()),
            ago: timefmt::human_duration(ago),
            platform: cfg.platform,
        }),
        Expiry::Unreadable(problem) => Err(Error::ExpiryUnreadable {
            problem,
            platform: cfg.platform,
        }),
        Expiry::ExpiresSoon { remaining } => {
            tracing::warn!(
                "{} expires in {} (at {}); log in again soon (`just login`), then {}",
                vars::API_TOKEN.var,
                timefmt::human_duration(remaining),
                timefmt::rfc3339_signed(cfg.claims.exp.unwrap_or_default()),
                cfg.platform.rotate_token()
            );
            Ok(())
        }
        Expiry::Valid { .. } => Ok(()),
    }
}

/// The bootstrap's async runtime. Dropped on any path (a failed whoami, a stop signal, an
/// error), it shuts down *without* waiting for its blocking threads: a name lookup stuck in
/// `getaddrinfo` cannot be cancelled, and tokio's default drop would wait for it, holding the
/// exit back long past the whoami budget or a stop signal (the thread ends with the process).
struct BootRuntime {
    rt: Option<Runtime>,
    /// The process's thread count before the runtime started, when about to supervise (the
    /// hand-off warns about threads left over beyond it; see [`init::run`]).
    threads_before: Option<usize>,
}

impl BootRuntime {
    /// Start the runtime; with `count_threads`, count the process's threads first.
    fn new(count_threads: bool) -> Result<Self, Error> {
        let threads_before = if count_threads {
            init::thread_count()
        } else {
            None
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| BootRuntime {
                rt: Some(rt),
                threads_before,
            })
            .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> Option<F::Output> {
        self.rt.as_ref().map(|rt| rt.block_on(future))
    }

    /// Shut down, waiting up to `limit` for the blocking threads.
    fn shutdown_timeout(mut self, limit: Duration) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(limit);
        }
    }
}

impl Drop for BootRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// whoami plus the email match, on a current-thread runtime that also watches the stop signals
/// (which end the bootstrap at once with 128+N, also as PID 1; see [`stop`]). `Ok(Err(e))` is a failed
/// whoami (the caller decides whether the escape hatch applies); `Err` is a signal or an
/// internal failure, which always ends the bootstrap. `supervises`: the app will be supervised
/// (the runtime counts the threads that were there before it).
fn prove(
    cfg: &Config,
    stop: &StopSignals,
    supervises: bool,
) -> Result<(Proof, BootRuntime), Error> {
    if let Some(e) = stop.pending() {
        return Err(e);
    }
    let runtime = BootRuntime::new(supervises)?;
    let request = whoami::Request {
        api_url: &cfg.api_url,
        token: &cfg.token,
        budget: cfg.whoami_timeout,
        ssl_cert_file: cfg.ssl_cert_file.clone(),
        platform: cfg.platform,
    };
    let outcome = runtime
        .block_on(async {
            tokio::select! {
                r = whoami::whoami(&request) => Ok(r),
                e = stop.wait() => Err(e),
            }
        })
        .ok_or_else(|| Error::Internal("the async runtime is gone".to_owned()))??;
    let checked = outcome.and_then(|id| match_email(cfg, id));
    Ok((checked, runtime))
}

/// The email match: the server's `user.email` equals the configured one, ignoring case. The
/// server's value is what the credentials file gets (as the app's own login writes it), so it
/// must also pass the email rule the app applies when it loads the file (a case-insensitive
/// match does not guarantee that for every Unicode character).
fn match_email(cfg: &Config, id: Identity) -> Result<Identity, Error> {
    if id.email.to_lowercase() != cfg.email.to_lowercase() {
        return Err(Error::EmailMismatch {
            expected: cfg.email.clone(),
            actual: id.email,
        });
    }
    match config::validate_email(&id.email) {
        Ok(()) => Ok(id),
        Err(why) => Err(Error::Protocol {
            url: cfg.api_url.clone(),
            reason: format!(
                "user.email {} matches {} but is not an address the SystemPrompt app accepts: it {why}",
                id.email,
                vars::USER_EMAIL.var
            ),
        }),
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn expires_text(cfg: &Config, now: u64) -> String {
    match cfg.claims.exp {
        Ok(exp) => format!(
            "{} (in {})",
            timefmt::rfc3339_signed(exp),
            timefmt::human_duration(remaining(exp, now))
        ),
        Err(problem) => format!("unreadable ({problem})"),
    }
}

/// Seconds from `now` to `exp`, 0 when past.
fn remaining(exp: i64, now: u64) -> u64 {
    u64::try_from(exp).map_or(0, |exp| exp.saturating_sub(now))
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

/// The `check` report on stdout, in one write (a closed stdout is ignored).
fn print_report(
    cfg: &Config,
    proof: &Result<Identity, Error>,
    json: bool,
    now: u64,
    plan: &expiry::Plan,
) {
    let status = token_status(&cfg.claims, now);
    let authenticated_at = timefmt::rfc3339(token::login_time(&cfg.claims, now));
    let mut report = String::new();
    if json {
        let mut v = serde_json::json!({
            "user_email": cfg.email,
            "api_url": cfg.api_url,
            "authenticated_at": authenticated_at,
            "expires_at": cfg.claims.exp.ok().map(timefmt::rfc3339_signed),
            "expires_in_secs": cfg.claims.exp.ok().map(|e| remaining(e, now)),
            "token_status": status,
            "validated": proof.is_ok(),
            "credentials_file": cfg.write_credentials.as_ref().map(|p| p.display().to_string()),
            "on_expiry": plan.on_expiry.as_str(),
            "expiry_watch": plan.not_watched.is_none(),
            "expiry_warnings_at": plan.warnings_at,
            "expiry_error_at": plan.expires_at,
        });
        match proof {
            Ok(id) => {
                v["user_id"] = id.user_id.clone().into();
                v["user_name"] = id.name.clone().into();
                v["whoami_latency_ms"] = ms(id.latency).into();
                v["whoami_attempts"] = id.attempts.into();
                // The second reading: whether the app would parse the answer too (which is
                // what allows `last_validated_at`).
                v["app_parses_answer"] = id.app_parse_error.is_none().into();
                v["app_parse_error"] = id.app_parse_error.clone().into();
            }
            Err(e) => {
                v["validation_error"] = e.to_string().into();
                v["validation_exit_code"] = e.code().into();
            }
        }
        let _ = writeln!(report, "{v}");
    } else {
        let _ = writeln!(report, "user:              {}", cfg.email);
        let _ = writeln!(report, "api:               {}", cfg.api_url);
        let _ = writeln!(
            report,
            "token:             {status}, expires {}",
            expires_text(cfg, now)
        );
        let _ = writeln!(report, "authenticated_at:  {authenticated_at}");
        let _ = writeln!(report, "on_expiry:         {}", plan.text());
        let _ = match proof {
            Ok(id) => writeln!(
                report,
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
            Err(e) => writeln!(report, "validated:         NO ({e})"),
        };
        if let Ok(id) = proof {
            let _ = match &id.app_parse_error {
                None => writeln!(
                    report,
                    "app parses answer: yes (last_validated_at is written)"
                ),
                Some(field) => writeln!(
                    report,
                    "app parses answer: NO ({field}); last_validated_at is withheld, the app will call whoami itself"
                ),
            };
        }
        if let Some(p) = &cfg.write_credentials {
            let _ = writeln!(report, "credentials_file:  {}", p.display());
        }
    }
    output::stdout(&report);
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
