//! `fake_cloud`: the project's own fake of the `SystemPrompt` Cloud API.
//!
//! It serves `GET /api/v1/auth/me` (whoami) over plain HTTP or HTTPS on loopback, with a
//! hand-written HTTP/1.1 server so every misbehaviour can be scripted: a queue of [`Step`]s,
//! one per whoami request in arrival order, then a default step. Tokens are `sp_test_` +
//! HS256 JWTs signed with a fixed key ([`mint_token`]), so a token minted by one process is
//! accepted by a fake in another. `GET /_fake/stats` returns the counters as JSON.
//!
//! The fake never prints or logs a token value.
//!
//! ```no_run
//! use fake_cloud::{FakeCloud, Options, Step};
//! let fake = FakeCloud::start(Options::default().script([Step::status(503), Step::Ok])).unwrap();
//! let token = fake.token("user@example.com", 3600);
//! // ... point SYSTEMPROMPT_API_URL at fake.url() and run the client ...
//! assert_eq!(fake.requests(), 0);
//! ```

mod http;
mod script;
mod server;
mod tls;
mod token;

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;

pub use script::{ParseError, Step, parse_duration, parse_script, parse_size, parse_step};
pub use server::{MAX_SEEN, STATS_PATH, SeenRequest, WHOAMI_PATH};
pub use token::{
    Rejection, SIGNING_KEY, TOKEN_PREFIX, mint_token, mint_token_with_payload, now_secs,
    verify_token,
};

/// The email used by [`Options::default`] and the binary.
pub const DEFAULT_EMAIL: &str = "demo@example.com";

/// How to start a [`FakeCloud`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Informational: the account email, returned by whoami for a valid token that has no
    /// `email` claim. Default [`DEFAULT_EMAIL`].
    pub email: String,
    /// Serve HTTPS with a freshly generated CA (see [`FakeCloud::ca_pem_path`]).
    pub tls: bool,
    /// Steps for the first whoami requests, in arrival order.
    pub script: Vec<Step>,
    /// The step once the script is used up; normally [`Step::Ok`].
    pub default_step: Step,
    /// Whoami requests per second (token bucket, capacity = rate); beyond it, 429 with
    /// `Retry-After: 1`. Rate-limited requests consume no script step.
    pub rate_limit: Option<u32>,
    /// Where to listen; default `127.0.0.1:0` (any free port). `[::1]:0` works too.
    pub bind: SocketAddr,
    /// Where to write the CA certificate PEM with `tls`; default a unique temp file,
    /// removed when the fake is dropped (a `ca_out` file is left in place).
    pub ca_out: Option<PathBuf>,
    /// Extra DNS names or IP addresses for the TLS leaf certificate, beyond `localhost`,
    /// `127.0.0.1` and `::1` (e.g. a Docker host name).
    pub tls_names: Vec<String>,
    /// Log one line per request to stderr (method, path, step, auth verdict, status; never
    /// the token). Default off.
    pub log: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            email: DEFAULT_EMAIL.to_owned(),
            tls: false,
            script: Vec::new(),
            default_step: Step::Ok,
            rate_limit: None,
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            ca_out: None,
            tls_names: Vec::new(),
            log: false,
        }
    }
}

impl Options {
    /// Same as [`Options::default`].
    pub fn new() -> Options {
        Options::default()
    }

    /// Set [`Options::email`].
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Options {
        self.email = email.into();
        self
    }

    /// Set [`Options::tls`].
    #[must_use]
    pub fn tls(mut self, tls: bool) -> Options {
        self.tls = tls;
        self
    }

    /// Set [`Options::script`].
    #[must_use]
    pub fn script(mut self, steps: impl IntoIterator<Item = Step>) -> Options {
        self.script = steps.into_iter().collect();
        self
    }

    /// Set [`Options::default_step`].
    #[must_use]
    pub fn default_step(mut self, step: Step) -> Options {
        self.default_step = step;
        self
    }

    /// Set [`Options::rate_limit`].
    #[must_use]
    pub fn rate_limit(mut self, per_second: u32) -> Options {
        self.rate_limit = Some(per_second);
        self
    }

    /// Set [`Options::bind`].
    #[must_use]
    pub fn bind(mut self, addr: SocketAddr) -> Options {
        self.bind = addr;
        self
    }

    /// Listen on `[::1]:0` instead of `127.0.0.1:0`.
    #[must_use]
    pub fn ipv6(self) -> Options {
        self.bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0))
    }

    /// Set [`Options::ca_out`].
    #[must_use]
    pub fn ca_out(mut self, path: impl Into<PathBuf>) -> Options {
        self.ca_out = Some(path.into());
        self
    }

    /// Set [`Options::log`].
    #[must_use]
    pub fn log(mut self, log: bool) -> Options {
        self.log = log;
        self
    }
}

/// A snapshot of the fake's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Whoami requests received (any outcome, including rate-limited ones).
    pub requests: usize,
    /// Whoami requests answered 200 by the real auth logic (`Ok`, `Delay`, `Trickle`,
    /// `Http10Close`, `Chunked` with a valid token).
    pub ok: usize,
    /// Whoami requests answered 401 by the real auth logic.
    pub unauthorized: usize,
    /// Whoami requests answered 429 by the rate limiter.
    pub rate_limited: usize,
    /// Whoami requests handled by a step other than [`Step::Ok`].
    pub scripted: usize,
    /// TCP connections accepted (any path, including `/_fake/stats`).
    pub connections: usize,
}

impl Stats {
    /// The counters as the JSON object served at `/_fake/stats`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "requests": self.requests,
            "ok": self.ok,
            "unauthorized": self.unauthorized,
            "rate_limited": self.rate_limited,
            "scripted": self.scripted,
            "connections": self.connections,
        })
        .to_string()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requests={} ok={} unauthorized={} rate_limited={} scripted={} connections={}",
            self.requests,
            self.ok,
            self.unauthorized,
            self.rate_limited,
            self.scripted,
            self.connections
        )
    }
}

/// A running fake cloud API: its own thread and tokio runtime. Dropping it stops the server
/// (open connections are cut) and removes a temporary CA file.
pub struct FakeCloud {
    addr: SocketAddr,
    tls: bool,
    ca_path: Option<PathBuf>,
    ca_is_temp: bool,
    shared: Arc<server::Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for FakeCloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCloud")
            .field("url", &self.url())
            .field("ca_path", &self.ca_path)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl FakeCloud {
    /// Start the server; returns once it is listening.
    pub fn start(opts: Options) -> io::Result<FakeCloud> {
        let material = if opts.tls {
            Some(tls::generate(&opts.tls_names)?)
        } else {
            None
        };
        let (ca_path, ca_is_temp) = match &material {
            None => (None, false),
            Some(m) => {
                let (path, temp) = match &opts.ca_out {
                    Some(p) => (p.clone(), false),
                    None => (unique_temp_path(), true),
                };
                write_atomically(&path, m.ca_pem.as_bytes())?;
                (Some(path), temp)
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-cloud-worker")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            listen(opts.bind)?
        };
        let addr = listener.local_addr()?;
        let shared = Arc::new(server::Shared {
            script: Mutex::new(opts.script.into_iter().collect()),
            default_step: opts.default_step,
            email: opts.email,
            log: opts.log,
            limiter: opts.rate_limit.map(|r| Mutex::new(server::Bucket::new(r))),
            counters: server::Counters::default(),
            arrival_lock: Mutex::new(()),
            arrived: std::sync::Condvar::new(),
            seen: Mutex::new(Vec::new()),
        });
        let acceptor = material.map(|m| tokio_rustls::TlsAcceptor::from(m.config));
        let (tx, rx) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("fake-cloud".to_owned())
            .spawn(move || {
                runtime.block_on(server::serve(listener, thread_shared, acceptor, rx));
                runtime.shutdown_timeout(Duration::from_secs(2));
            });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                if let (Some(p), true) = (&ca_path, ca_is_temp) {
                    let _ = fs::remove_file(p);
                }
                return Err(e);
            }
        };
        Ok(FakeCloud {
            addr,
            tls: opts.tls,
            ca_path,
            ca_is_temp,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT` or `https://[::1]:PORT` (no trailing
    /// slash). An unspecified bind address (`0.0.0.0`, `::`) is shown as loopback.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("{scheme}://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// With TLS: the file holding the CA certificate PEM (for `SSL_CERT_FILE`).
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// Whoami requests received so far.
    pub fn requests(&self) -> usize {
        self.stats().requests
    }

    /// Block until at least `n` whoami requests have arrived (the request head was read;
    /// the step may still be running, e.g. [`Step::Hang`]) or `timeout` passes; returns
    /// whether they did. For tests that must act while a request is in flight.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_requests(n, timeout)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.stats().connections
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Every request read so far, any path (whoami, stats, a proxy's `CONNECT` or absolute-form
    /// `GET`), in arrival order; at most [`MAX_SEEN`]. For tests that check what the client sent.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `(ended, bytes)`: how many `HugeBody`/`HugeChunked` steps have ended, and how many
    /// filler bytes they wrote in all (a client that refuses a large body hangs up early).
    pub fn streamed(&self) -> (usize, u64) {
        let c = &self.shared.counters;
        (
            c.streams_ended.load(Ordering::SeqCst),
            c.streamed_bytes.load(Ordering::SeqCst),
        )
    }

    /// Block until at least `n` `HugeBody`/`HugeChunked` steps have ended (the client went
    /// away, or all was sent) or `timeout` passes; returns whether they did.
    pub fn wait_for_streams(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_streams(n, timeout)
    }

    /// Append steps to the script (consumed before the default step).
    pub fn push_script(&self, steps: impl IntoIterator<Item = Step>) {
        self.shared
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(steps);
    }

    /// Mint a token for `email` with `iat` = now and `exp` = now + `ttl_secs` (a negative
    /// `ttl_secs` gives an already expired token).
    pub fn token(&self, email: &str, ttl_secs: i64) -> String {
        let now = now_secs();
        let exp = i64::try_from(now)
            .unwrap_or(i64::MAX)
            .saturating_add(ttl_secs);
        mint_token(email, now, u64::try_from(exp).unwrap_or(0))
    }
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let (Some(p), true) = (&self.ca_path, self.ca_is_temp) {
            let _ = fs::remove_file(p);
        }
    }
}

/// Raise this process's open-file soft limit to its hard limit, so one fake can hold
/// thousands of connections. Returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    }
    Ok(hard.max(soft))
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // A deep backlog: a thundering herd of 1000+ clients connects at once.
    socket.listen(4096)
}

fn unique_temp_path() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!(
        "fake-cloud-ca-{}-{n}-{nanos}.pem",
        std::process::id()
    ))
}

/// Write `data` to `path` via a temporary sibling and a rename, so readers never see a
/// partial file.
pub fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
