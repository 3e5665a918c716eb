//! The token-expiry watch: while the app runs, warn 60, 10 and 1 minute before the token's
//! `exp` (those still ahead at start), log an error at `exp`, and with `--on-expiry stop` stop
//! the app then (SIGTERM, SIGKILL after `--grace`).
//!
//! The watch knows only the `exp` instant, never the token. It runs in one of two places:
//!
//! - **Supervising** (PID 1, `--init always`): inside the lean supervisor's own loop, a
//!   [`Watcher`] whose timer descriptor is polled beside the signalfd. No extra process.
//! - **On the exec path** (`--init auto` when not PID 1, `--init never`): the app takes our PID,
//!   so the watch is a detached process ([`detached`]): double-forked (reparented to the
//!   namespace's init, never the app's child), in its own session, re-executed from
//!   `/proc/self/exe` as `__watch` with an empty environment, holding a pidfd on the app (our
//!   own PID, opened before the exec) that tells it when the app is gone. As PID 1 with
//!   `--init never` no watcher is started: it would become the app's child.
//!
//! Lines follow the configured log format and filter (target `sp_entrypoint::expiry`) and carry
//! the Fly.io fields, like the bootstrap's own; the watcher process gets them as arguments
//! ([`Watch::to_args`]), never the environment.
//!
//! Times: the timer is `CLOCK_REALTIME` with an absolute expiry (`timerfd`), one arming per
//! event, so the wait follows the wall clock `exp` is written in (a change of the clock moves
//! it along, timerfd_create(2)) and a token a day away costs one sleep until the first
//! threshold.

pub mod detached;
pub mod line;
pub mod schedule;

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

pub use crate::config::OnExpiry;
use crate::config::{LogFormat, LogSettings};
use crate::platform::Platform;
use crate::timefmt;
pub use line::{LineLevel, Shown, Style};
pub use schedule::{Event, Schedule, THRESHOLDS};

/// The tracing target of the watch's lines (`--log warn,sp_entrypoint::expiry=off` mutes them).
pub const TARGET: &str = "sp_entrypoint::expiry";

/// Why no watch runs, or `None` when one does. `supervise` is whether the entrypoint will
/// supervise the app, `pid` our PID.
pub fn not_watched(
    on_expiry: OnExpiry,
    exp: Option<u64>,
    supervise: bool,
    pid: u32,
) -> Option<&'static str> {
    if on_expiry == OnExpiry::Off {
        Some("--on-expiry off")
    } else if exp.is_none() {
        Some("the token has no exp claim")
    } else if !supervise && pid == 1 {
        Some(
            "--init never as PID 1: a watcher would become the app's child; use --init auto to have the entrypoint supervise and watch",
        )
    } else {
        None
    }
}

/// What the watch needs from the bootstrap besides the settings: how lines look, and where
/// we run (for the fix each line gives).
#[derive(Debug, Clone)]
pub struct Context {
    /// The bootstrap's log format, filter and Fly.io fields.
    pub style: Style,
    /// The platform.
    pub platform: Platform,
}

impl Context {
    /// From the logging settings and the platform (detected by [`crate::config::load`]).
    pub fn new(log: &LogSettings, platform: Platform) -> Context {
        Context {
            style: Style {
                format: log.format,
                shown: Shown::from_filter(&log.filter),
                fly: log.fly.clone(),
            },
            platform,
        }
    }
}

/// The watch for the app about to start, or why there is none (see [`not_watched`]).
pub fn for_app(
    on_expiry: OnExpiry,
    exp: Option<u64>,
    supervise: bool,
    context: &Context,
) -> Result<Watch, &'static str> {
    if let Some(why) = not_watched(on_expiry, exp, supervise, std::process::id()) {
        return Err(why);
    }
    Ok(Watch {
        exp: exp.unwrap_or_default(),
        on_expiry,
        platform: context.platform,
        style: context.style.clone(),
    })
}

/// What the watch will do, for `check`: the action and the times of the coming lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The configured action.
    pub on_expiry: OnExpiry,
    /// Why nothing is watched (then the lists are empty).
    pub not_watched: Option<&'static str>,
    /// When each warning comes, RFC 3339.
    pub warnings_at: Vec<String>,
    /// When the error line (and with `stop`, the stop) comes, RFC 3339.
    pub expires_at: Option<String>,
}

impl Plan {
    /// The plan at `now` (seconds since the epoch) for a token expiring at `exp`.
    pub fn new(
        on_expiry: OnExpiry,
        exp: Option<u64>,
        not_watched: Option<&'static str>,
        now: u64,
    ) -> Plan {
        match (exp, not_watched) {
            (Some(exp), None) => {
                let schedule = Schedule::new(exp, now.saturating_mul(1000));
                Plan {
                    on_expiry,
                    not_watched,
                    warnings_at: schedule
                        .warnings_at()
                        .map(|ms| timefmt::rfc3339(ms / 1000))
                        .collect(),
                    expires_at: Some(timefmt::rfc3339(exp)),
                }
            }
            _ => Plan {
                on_expiry,
                not_watched,
                warnings_at: Vec::new(),
                expires_at: None,
            },
        }
    }

    /// One line for the text report of `check`.
    pub fn text(&self) -> String {
        if let Some(why) = self.not_watched {
            return format!("{} (no watch: {why})", self.on_expiry.as_str());
        }
        let warnings = if self.warnings_at.is_empty() {
            "no warnings ahead".to_owned()
        } else {
            format!("warnings at {}", self.warnings_at.join(", "))
        };
        let at = self.expires_at.as_deref().unwrap_or("-");
        match self.on_expiry {
            OnExpiry::Stop => format!("stop ({warnings}; error and stop at {at})"),
            _ => format!("warn ({warnings}; error at {at})"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The watch's settings, as arguments of the hidden subcommands
// ---------------------------------------------------------------------------------------------

/// Everything the watch needs: no token, only `exp` and how to speak.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The token's `exp`, seconds since the epoch.
    pub exp: u64,
    /// `warn` or `stop` (never `off`: then there is no watch).
    pub on_expiry: OnExpiry,
    /// Where we run (for the fix in each line).
    pub platform: Platform,
    /// How lines look.
    pub style: Style,
}

impl Watch {
    /// The arguments that carry this watch to `__supervise` or `__watch`.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--expires-at".into(),
            self.exp.to_string().into(),
            "--on-expiry".into(),
            self.on_expiry.as_str().into(),
            "--platform".into(),
            self.platform.id().into(),
            "--log-format".into(),
            match self.style.format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            }
            .into(),
            "--log-shown".into(),
            self.style.shown.as_str().into(),
        ];
        for (flag, value) in [
            ("--fly-app", &self.style.fly.app),
            ("--fly-machine", &self.style.fly.machine),
            ("--fly-region", &self.style.fly.region),
        ] {
            if let Some(v) = value {
                args.push(flag.into());
                args.push(v.into());
            }
        }
        args
    }
}

/// Collects the watch's arguments while a hidden subcommand parses its own.
#[derive(Debug, Default)]
pub struct WatchArgs {
    exp: Option<u64>,
    on_expiry: Option<OnExpiry>,
    platform: Option<Platform>,
    style: Style,
}

impl WatchArgs {
    /// Take `flag` (and its value from `rest`) when it is one of the watch's. `Ok(false)`: not
    /// ours.
    pub fn accept<'a>(
        &mut self,
        flag: &str,
        rest: &mut impl Iterator<Item = &'a OsString>,
    ) -> Result<bool, String> {
        const FLAGS: [&str; 8] = [
            "--expires-at",
            "--on-expiry",
            "--platform",
            "--log-format",
            "--log-shown",
            "--fly-app",
            "--fly-machine",
            "--fly-region",
        ];
        if !FLAGS.contains(&flag) {
            return Ok(false);
        }
        let value = rest
            .next()
            .map(|v| v.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value {value:?}");
        match flag {
            "--expires-at" => self.exp = Some(value.parse().map_err(|_| bad())?),
            "--on-expiry" => {
                self.on_expiry = Some(
                    OnExpiry::parse(&value)
                        .filter(|m| *m != OnExpiry::Off)
                        .ok_or_else(bad)?,
                );
            }
            "--platform" => self.platform = Some(Platform::from_id(&value).ok_or_else(bad)?),
            "--log-format" => {
                self.style.format = match value.as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(bad()),
                };
            }
            "--log-shown" => self.style.shown = Shown::parse(&value).ok_or_else(bad)?,
            "--fly-app" => self.style.fly.app = Some(value),
            "--fly-machine" => self.style.fly.machine = Some(value),
            _ => self.style.fly.region = Some(value),
        }
        Ok(true)
    }

    /// The watch, when `--expires-at` was given (then `--on-expiry` must be too).
    pub fn finish(self) -> Result<Option<Watch>, String> {
        match (self.exp, self.on_expiry) {
            (None, None) => Ok(None),
            (Some(exp), Some(on_expiry)) => Ok(Some(Watch {
                exp,
                on_expiry,
                platform: self.platform.unwrap_or(Platform::Docker),
                style: self.style,
            })),
            _ => Err("--expires-at and --on-expiry go together".into()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The running watch
// ---------------------------------------------------------------------------------------------

/// Who runs the watch, which changes what the lines promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The supervisor: after a stop it exits 77.
    Supervisor,
    /// The detached watcher on the exec path: the app's own exit code stands.
    Detached,
}

/// The watch at run time: the schedule and one `CLOCK_REALTIME` timer armed for its next
/// event. Poll [`Watcher::fd`]; when it is readable call [`Watcher::fire`].
#[derive(Debug)]
pub struct Watcher {
    watch: Watch,
    schedule: Schedule,
    timer: TimerFd,
    grace: Duration,
    runner: Runner,
}

/// Milliseconds since the epoch, now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Watcher {
    /// Start watching: build the schedule from now and arm the timer. A timer that cannot be
    /// created is reported (one warning) and gives `None`: the app runs unwatched.
    pub fn start(watch: Watch, grace: Duration, runner: Runner) -> Option<Watcher> {
        let timer = match TimerFd::new(
            ClockId::CLOCK_REALTIME,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        ) {
            Ok(t) => t,
            Err(e) => {
                watch.style.emit(
                    LineLevel::Warn,
                    &format!("cannot create a timer ({e}); the token's expiry is not watched"),
                    &[],
                );
                return None;
            }
        };
        let schedule = Schedule::new(watch.exp, now_ms());
        let w = Watcher {
            watch,
            schedule,
            timer,
            grace,
            runner,
        };
        w.arm();
        Some(w)
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.timer.as_fd()
    }

    /// Whether every event has happened.
    pub fn is_done(&self) -> bool {
        self.schedule.is_done()
    }

    /// Arm the timer for the next event (absolute, wall clock), or disarm it.
    fn arm(&self) {
        let result = match self.schedule.next_at() {
            // A zero expiry would disarm: the earliest real instant is 1 ns.
            Some(at) => self.timer.set(
                Expiration::OneShot(TimeSpec::from_duration(
                    Duration::from_millis(at).max(Duration::from_nanos(1)),
                )),
                TimerSetTimeFlags::TFD_TIMER_ABSTIME,
            ),
            None => self.timer.unset(),
        };
        if let Err(e) = result {
            self.watch.style.emit(
                LineLevel::Warn,
                &format!("cannot arm the expiry timer ({e}); the token's expiry is not watched"),
                &[],
            );
        }
    }

    /// Handle the timer: log what is due and re-arm. Returns true when the app must be
    /// stopped now (`--on-expiry stop`, at `exp`).
    pub fn fire(&mut self) -> bool {
        // Non-blocking read: clears the readiness (EAGAIN when it was not due).
        let _ = self.timer.wait();
        let due = self.schedule.take_due(now_ms());
        self.arm();
        match due {
            None => false,
            Some(event) => {
                self.log(event);
                event == Event::Expired && self.watch.on_expiry == OnExpiry::Stop
            }
        }
    }

    fn fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("expires_at", timefmt::rfc3339(self.watch.exp).into()),
            ("on_expiry", self.watch.on_expiry.as_str().into()),
            ("platform", self.watch.platform.id().into()),
        ]
    }

    /// The line for `event`.
    fn log(&self, event: Event) {
        let at = timefmt::rfc3339(self.watch.exp);
        let fix = self.watch.platform.rotate_token();
        let stop = self.watch.on_expiry == OnExpiry::Stop;
        let grace = timefmt::human_duration(self.grace.as_secs());
        let (level, message) = match event {
            Event::Warn { .. } => {
                let left = self.watch.exp.saturating_sub(now_ms() / 1000);
                let then = if stop {
                    format!(
                        "; then the app will be stopped (--on-expiry stop: SIGTERM, SIGKILL after {grace})"
                    )
                } else {
                    "; then the app's API calls fail with 401".to_owned()
                };
                (
                    LineLevel::Warn,
                    format!(
                        "SYSTEMPROMPT_API_TOKEN expires in {} (at {at}){then}; log in again and rotate it: {fix}",
                        timefmt::human_duration(left)
                    ),
                )
            }
            Event::Expired if stop => {
                let after = match self.runner {
                    Runner::Supervisor => "; the entrypoint then exits 77",
                    Runner::Detached => "; its own exit code stands",
                };
                (
                    LineLevel::Error,
                    format!(
                        "SYSTEMPROMPT_API_TOKEN expired at {at}: stopping the app because its token expired (--on-expiry stop: SIGTERM now, SIGKILL after {grace}){after}; log in again and rotate it: {fix}"
                    ),
                )
            }
            Event::Expired => (
                LineLevel::Error,
                format!(
                    "SYSTEMPROMPT_API_TOKEN expired at {at}: the app's API calls now fail with 401 until the token is rotated; log in again and rotate it: {fix}"
                ),
            ),
        };
        self.watch.style.emit(level, &message, &self.fields());
    }

    /// The line for "the grace period ran out: SIGKILL".
    pub fn log_kill(&self) {
        self.watch.style.emit(
            LineLevel::Warn,
            &format!(
                "the app did not stop within {} of SIGTERM after its token expired; sending SIGKILL",
                timefmt::human_duration(self.grace.as_secs())
            ),
            &self.fields(),
        );
    }

    /// The supervisor's last line after stopping the app: why it exits 77.
    pub fn log_exit(&self, code: u8) {
        self.watch.style.emit(
            LineLevel::Error,
            &format!(
                "the app was stopped because SYSTEMPROMPT_API_TOKEN expired at {}; exiting {code} (credentials refused); log in again and rotate it: {}",
                timefmt::rfc3339(self.watch.exp),
                self.watch.platform.rotate_token()
            ),
            &self.fields(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::line::tests::style;
    use super::*;

    #[test]
    fn on_expiry_values() {
        assert_eq!(OnExpiry::parse(" STOP\n"), Some(OnExpiry::Stop));
        assert_eq!(OnExpiry::parse("warn"), Some(OnExpiry::Warn));
        assert_eq!(OnExpiry::parse("off"), Some(OnExpiry::Off));
        assert_eq!(OnExpiry::parse("kill"), None);
        assert_eq!(OnExpiry::default(), OnExpiry::Warn);
        for m in [OnExpiry::Warn, OnExpiry::Stop, OnExpiry::Off] {
            assert_eq!(OnExpiry::parse(m.as_str()), Some(m));
        }
    }

    #[test]
    fn who_watches() {
        assert_eq!(not_watched(OnExpiry::Warn, Some(5), false, 7), None);
        assert_eq!(not_watched(OnExpiry::Stop, Some(5), true, 1), None);
        assert!(not_watched(OnExpiry::Off, Some(5), true, 7).is_some());
        assert!(not_watched(OnExpiry::Warn, None, true, 7).is_some());
        let why = not_watched(OnExpiry::Warn, Some(5), false, 1).unwrap();
        assert!(why.contains("--init never as PID 1"), "{why}");
    }

    #[test]
    fn plans_for_check() {
        let now = 1_900_000_000;
        let p = Plan::new(OnExpiry::Warn, Some(now + 86_400), None, now);
        assert_eq!(p.warnings_at.len(), 3);
        assert_eq!(p.warnings_at[0], timefmt::rfc3339(now + 86_400 - 3600));
        assert_eq!(p.expires_at, Some(timefmt::rfc3339(now + 86_400)));
        assert!(p.text().starts_with("warn (warnings at "), "{}", p.text());
        let p = Plan::new(OnExpiry::Stop, Some(now + 300), None, now);
        assert_eq!(p.warnings_at, vec![timefmt::rfc3339(now + 240)]);
        assert!(p.text().contains("error and stop at"), "{}", p.text());
        let p = Plan::new(OnExpiry::Off, Some(now + 300), Some("--on-expiry off"), now);
        assert!(p.warnings_at.is_empty() && p.expires_at.is_none());
        assert_eq!(p.text(), "off (no watch: --on-expiry off)");
    }

    #[test]
    fn watch_args_round_trip() {
        let w = Watch {
            exp: 1_900_000_123,
            on_expiry: OnExpiry::Stop,
            platform: Platform::Kubernetes,
            style: style(LogFormat::Json, Shown::Error, true),
        };
        let args = w.to_args();
        let mut it = args.iter();
        let mut parsed = WatchArgs::default();
        while let Some(flag) = it.next() {
            assert!(parsed.accept(flag.to_str().unwrap(), &mut it).unwrap());
        }
        let back = parsed.finish().unwrap().unwrap();
        assert_eq!(back.exp, w.exp);
        assert_eq!(back.on_expiry, OnExpiry::Stop);
        assert_eq!(back.platform, Platform::Kubernetes);
        assert_eq!(back.style.format, LogFormat::Json);
        assert_eq!(back.style.shown, Shown::Error);
        assert_eq!(back.style.fly.app.as_deref(), Some("app"));
        assert_eq!(back.style.fly.machine, None);
        assert_eq!(back.style.fly.region.as_deref(), Some("ams"));
    }

    #[test]
    fn watch_args_refuse_nonsense() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let mut a = WatchArgs::default();
        assert_eq!(a.accept("--child", &mut os(&["5"]).iter()), Ok(false));
        for (flag, value) in [
            ("--expires-at", "soon"),
            ("--on-expiry", "off"),
            ("--platform", "heroku"),
            ("--log-format", "xml"),
            ("--log-shown", "info"),
        ] {
            let v = os(&[value]);
            assert!(a.accept(flag, &mut v.iter()).is_err(), "{flag} {value}");
        }
        assert!(a.accept("--fly-app", &mut os(&[]).iter()).is_err());
        let mut a = WatchArgs::default();
        assert!(a.accept("--expires-at", &mut os(&["5"]).iter()).unwrap());
        assert!(a.finish().is_err());
        assert!(WatchArgs::default().finish().unwrap().is_none());
    }
}
