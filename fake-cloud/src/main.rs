//! The `fake-cloud` binary: serve the fake cloud API, mint test tokens, or run a command
//! against a fresh fake with the `SystemPrompt` env vars set.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use fake_cloud::{DEFAULT_EMAIL, FakeCloud, Options, Step, parse_script, parse_step};
use tokio::signal::unix::{SignalKind, signal};

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "fake-cloud",
    version,
    about = "A scriptable fake of the SystemPrompt Cloud whoami API (GET /api/v1/auth/me)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve until SIGTERM or SIGINT; prints `fake-cloud listening on URL`.
    Serve(ServeArgs),
    /// Print a token signed with the fake's key.
    Mint(MintArgs),
    // The help text names env vars, which doc comments would want in backticks.
    #[command(
        about = "Start a fake, run COMMAND with SYSTEMPROMPT_API_TOKEN, SYSTEMPROMPT_USER_EMAIL, \
                 SYSTEMPROMPT_API_URL (and SSL_CERT_FILE with --tls) set, exit with its exit code"
    )]
    Run(RunArgs),
}

#[derive(Args, Debug)]
struct ServerArgs {
    /// Serve HTTPS with a freshly generated CA.
    #[arg(long)]
    tls: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// The account email.
    #[arg(long, default_value = DEFAULT_EMAIL)]
    email: String,
    /// Comma list of steps for the first whoami requests, e.g. `503,503,ok`,
    /// `429:retry-after=2,ok`, `hang`, `delay=2s`, `redirect=302:URL`, `huge=300M`,
    /// `huge-chunked=1M`, `invalid-json`, `reset`, `trickle=1s`, `http10`, `chunked`,
    /// `empty`, `wrong-type`, `close`.
    #[arg(long, default_value = "")]
    script: String,
    /// The step after the script is used up.
    #[arg(long, default_value = "ok")]
    default_step: String,
    /// Whoami requests per second before answering 429 (token bucket).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// With --tls: write the CA certificate PEM here (default: a temp file).
    #[arg(long)]
    ca_out: Option<PathBuf>,
    /// With --tls: an extra DNS name or IP for the server certificate (repeatable).
    #[arg(long)]
    tls_name: Vec<String>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Also write the URL (no newline) to this file once listening.
    #[arg(long)]
    url_file: Option<PathBuf>,
    /// Do not log one line per request to stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct MintArgs {
    /// The `email` claim.
    #[arg(long)]
    email: String,
    /// Seconds until `exp` (negative: already expired).
    #[arg(long, default_value_t = 86400, allow_negative_numbers = true)]
    ttl: i64,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Seconds until the token's `exp` (negative: already expired).
    #[arg(long, default_value_t = 86400, allow_negative_numbers = true)]
    ttl: i64,
    /// Log one line per request to stderr.
    #[arg(long, short)]
    verbose: bool,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mint(m) => {
            let now = fake_cloud::now_secs();
            let exp = i64::try_from(now).unwrap_or(i64::MAX).saturating_add(m.ttl);
            let token = fake_cloud::mint_token(&m.email, now, u64::try_from(exp).unwrap_or(0));
            println!("{token}");
            Ok(0)
        }
        Command::Serve(s) => serve(&s),
        Command::Run(r) => run(&r),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            eprintln!("fake-cloud: error: {msg}");
            ExitCode::from(2)
        }
    }
}

fn options(args: &ServerArgs, log: bool) -> Result<Options, String> {
    let script = parse_script(&args.script).map_err(|e| format!("--script: {e}"))?;
    let default_step: Step =
        parse_step(&args.default_step).map_err(|e| format!("--default-step: {e}"))?;
    Ok(Options {
        email: args.email.clone(),
        tls: args.tls,
        script,
        default_step,
        rate_limit: args.rate_limit,
        bind: args.bind,
        ca_out: args.ca_out.clone(),
        tls_names: args.tls_name.clone(),
        log,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

fn serve(args: &ServeArgs) -> Result<u8, String> {
    let opts = options(&args.server, !args.quiet)?;
    let _ = fake_cloud::raise_fd_limit();
    let rt = runtime()?;
    let fake = FakeCloud::start(opts).map_err(|e| format!("cannot start: {e}"))?;
    let url = fake.url();
    if let Some(path) = &args.url_file {
        fake_cloud::write_atomically(path, url.as_bytes())
            .map_err(|e| format!("--url-file {}: {e}", path.display()))?;
    }
    if let Some(ca) = fake.ca_pem_path() {
        eprintln!("fake-cloud: CA certificate in {}", ca.display());
    }
    // Handlers first: a SIGTERM right after the "listening" line must stop us cleanly.
    let (mut term, mut int) = {
        let _guard = rt.enter();
        (
            signal(SignalKind::terminate()).map_err(|e| e.to_string())?,
            signal(SignalKind::interrupt()).map_err(|e| e.to_string())?,
        )
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "fake-cloud listening on {url}");
    let _ = out.flush();
    drop(out);
    rt.block_on(async {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    });
    eprintln!("fake-cloud: stopping; {}", fake.stats());
    Ok(0)
}

fn run(args: &RunArgs) -> Result<u8, String> {
    let opts = options(&args.server, args.verbose)?;
    let _ = fake_cloud::raise_fd_limit();
    let email = opts.email.clone();
    let rt = runtime()?;
    let fake = FakeCloud::start(opts).map_err(|e| format!("cannot start: {e}"))?;
    let token = fake.token(&email, args.ttl);
    let url = fake.url();
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| "no COMMAND given after `--`".to_owned())?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(rest)
        .env("SYSTEMPROMPT_API_TOKEN", &token)
        .env("SYSTEMPROMPT_USER_EMAIL", &email)
        .env("SYSTEMPROMPT_API_URL", &url);
    let mut set = format!("SYSTEMPROMPT_API_URL={url} SYSTEMPROMPT_USER_EMAIL={email}");
    if let Some(ca) = fake.ca_pem_path() {
        cmd.env("SSL_CERT_FILE", ca);
        let _ = write!(set, " SSL_CERT_FILE={}", ca.display());
    }
    eprintln!(
        "fake-cloud: running {} with {set} SYSTEMPROMPT_API_TOKEN=<minted, not shown>",
        program.to_string_lossy()
    );
    // SIGINT from a terminal reaches the child through the process group: just survive
    // it. SIGTERM sent to us alone is forwarded.
    let (mut term, mut int) = {
        let _guard = rt.enter();
        (
            signal(SignalKind::terminate()).map_err(|e| e.to_string())?,
            signal(SignalKind::interrupt()).map_err(|e| e.to_string())?,
        )
    };
    let code = rt.block_on(async {
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("fake-cloud: cannot run {}: {e}", program.to_string_lossy());
                return Ok(match e.kind() {
                    std::io::ErrorKind::NotFound => 127,
                    _ => 126,
                });
            }
        };
        loop {
            tokio::select! {
                status = child.wait() => {
                    let status = status.map_err(|e| format!("waiting for the command: {e}"))?;
                    let code = status
                        .code()
                        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                    return Ok::<u8, String>(u8::try_from(code & 0xff).unwrap_or(1));
                }
                _ = term.recv() => {
                    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGTERM,
                        );
                    }
                }
                _ = int.recv() => {}
            }
        }
    })?;
    eprintln!("fake-cloud: {}", fake.stats());
    Ok(code)
}
