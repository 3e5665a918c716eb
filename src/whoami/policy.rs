//! The retry policy of whoami, pure: which waits to make between attempts, within one budget.
//!
//! - Without `Retry-After`: capped exponential backoff with full jitter,
//!   `wait = uniform(0, min(cap, base * 2^(attempt-1)))` (250 ms, 500 ms, 1 s, 2 s, 4 s, 5 s, ...).
//! - With `Retry-After: RA`: `wait = RA + uniform(0, min(spread_cap, max(RA, base) * 2^attempt))`,
//!   so a herd told "retry after 1 s" comes back spread over the following 2 s, and so on (see
//!   the herd simulation in the tests, which picked this rule). The cap (2 s) keeps the tail
//!   short: in the real 1000-client run of `bench/run.sh` a 3 s cap left the last client's exec
//!   just past the 8.5 s goal, as the few clients refused twice waited up to 4 s more.
//! - A wait never crosses the deadline: its upper bound is clamped so that at least
//!   `min_attempt` is left for the next attempt; when even the lower bound (`RA`, or 0) does
//!   not fit, give up.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The knobs of the retry policy and of one attempt.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    /// Backoff unit (first retry waits up to this long).
    pub backoff_base: Duration,
    /// Backoff ceiling.
    pub backoff_cap: Duration,
    /// The widest jitter spread added after a `Retry-After`.
    pub spread_cap: Duration,
    /// Connect timeout and whole-attempt timeout (each also bounded by the remaining budget).
    pub attempt_timeout: Duration,
    /// Do not start an attempt with less than this left in the budget.
    pub min_attempt: Duration,
    /// The largest body accepted.
    pub max_body: usize,
    /// Honour `HTTPS_PROXY` / `NO_PROXY` / ... from the environment (tests turn it off).
    pub env_proxy: bool,
}

impl Tuning {
    /// The production values.
    pub const DEFAULT: Tuning = Tuning {
        backoff_base: Duration::from_millis(250),
        backoff_cap: Duration::from_secs(5),
        spread_cap: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(10),
        min_attempt: Duration::from_millis(250),
        max_body: 1024 * 1024,
        env_proxy: true,
    };
}

/// What to do after a transient failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Sleep this long, then try again.
    Sleep(Duration),
    /// Stop now; the reason why another attempt cannot fit in the budget.
    GiveUp(String),
}

/// The wait after attempt number `attempt` (1-based) failed transiently, the server's
/// `Retry-After` (if any) and `remaining` budget; `rand` is a uniformly random `u64`.
pub(crate) fn next_wait(
    tuning: &Tuning,
    attempt: u32,
    retry_after: Option<Duration>,
    remaining: Duration,
    rand: u64,
) -> Wait {
    let usable = remaining.saturating_sub(tuning.min_attempt);
    let (low, high) = match retry_after {
        Some(ra) => {
            let unit = ra.max(tuning.backoff_base);
            let spread = doubled(unit, attempt).min(tuning.spread_cap);
            (ra, ra.saturating_add(spread))
        }
        None => (
            Duration::ZERO,
            doubled(tuning.backoff_base, attempt.saturating_sub(1)).min(tuning.backoff_cap),
        ),
    };
    if remaining <= tuning.min_attempt || low > usable {
        let left = super::secs(remaining);
        return Wait::GiveUp(match retry_after {
            Some(ra) => format!(
                "the server asked to retry after {}, beyond the budget ({left} left)",
                super::secs(ra)
            ),
            None => format!("the budget ran out ({left} left)"),
        });
    }
    let high = high.min(usable);
    Wait::Sleep(low + uniform(high.saturating_sub(low), rand))
}

/// `d * 2^k`, saturating.
fn doubled(d: Duration, k: u32) -> Duration {
    d.checked_mul(1u32.checked_shl(k.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(Duration::MAX)
}

/// A uniform duration in `[0, span)` from a uniform `u64`.
fn uniform(span: Duration, rand: u64) -> Duration {
    let nanos = (span.as_nanos() * u128::from(rand)) >> 64;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Parse a `Retry-After` value: delta-seconds, or an HTTP date (relative to `now`, seconds
/// since the epoch). `None` when it is neither.
pub(crate) fn parse_retry_after(value: &str, now: u64) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to fit: effectively "never", which is beyond any budget.
        return Some(v.parse::<u64>().map_or(Duration::MAX, Duration::from_secs));
    }
    // HTTP-date form (IMF-fixdate, RFC 850, asctime), parsed by the shared time helpers.
    crate::timefmt::parse_http_date(v).map(|at| Duration::from_secs(at.saturating_sub(now)))
}

/// Random numbers for jitter, from std's randomly keyed hasher (no rand crate).
pub(crate) struct Jitter {
    keys: RandomState,
    counter: u64,
}

impl Jitter {
    /// A generator keyed from the OS's randomness (via `RandomState`).
    pub fn new() -> Self {
        Jitter {
            keys: RandomState::new(),
            counter: 0,
        }
    }

    /// The next random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write_u64(self.counter);
        self.counter = self.counter.wrapping_add(1);
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn t() -> Tuning {
        Tuning::DEFAULT
    }

    fn sleep_of(w: Wait) -> Duration {
        match w {
            Wait::Sleep(d) => d,
            Wait::GiveUp(why) => panic!("gave up: {why}"),
        }
    }

    #[test]
    fn backoff_is_full_jitter_capped_exponential() {
        let budget = Duration::from_secs(30);
        for (attempt, ceiling) in [
            (1, 250),
            (2, 500),
            (3, 1000),
            (4, 2000),
            (5, 4000),
            (6, 5000),
            (40, 5000),
        ] {
            assert_eq!(
                sleep_of(next_wait(&t(), attempt, None, budget, 0)),
                Duration::ZERO
            );
            let top = sleep_of(next_wait(&t(), attempt, None, budget, u64::MAX));
            assert!(
                top < MS(ceiling) && top + MS(1) > MS(ceiling),
                "attempt {attempt}: {top:?}"
            );
            let mid = sleep_of(next_wait(&t(), attempt, None, budget, 1 << 63));
            assert_eq!(mid, MS(ceiling) / 2);
        }
    }

    #[test]
    fn retry_after_adds_a_growing_capped_spread() {
        let budget = Duration::from_secs(30);
        let ra = Some(Duration::from_secs(1));
        assert_eq!(
            sleep_of(next_wait(&t(), 1, ra, budget, 0)),
            Duration::from_secs(1)
        );
        let top1 = sleep_of(next_wait(&t(), 1, ra, budget, u64::MAX));
        assert!(top1 > MS(2999) && top1 < MS(3000), "{top1:?}"); // 1 s + up to 2 s
        let top2 = sleep_of(next_wait(&t(), 2, ra, budget, u64::MAX));
        assert!(top2 > MS(2999) && top2 < MS(3000), "{top2:?}"); // 1 s + up to 2 s (cap)
        // Retry-After: 0 still spreads (by the backoff base).
        let zero = sleep_of(next_wait(&t(), 1, Some(Duration::ZERO), budget, u64::MAX));
        assert!(zero > MS(499) && zero < MS(500), "{zero:?}");
    }

    #[test]
    fn waits_never_cross_the_deadline() {
        // 1 s left: the wait leaves at least min_attempt (250 ms) for the attempt.
        for attempt in 1..10 {
            for rand in [0, 1 << 62, u64::MAX] {
                let d = sleep_of(next_wait(&t(), attempt, None, Duration::from_secs(1), rand));
                assert!(d <= MS(750), "{d:?}");
            }
        }
        // Retry-After fits, its spread is clamped.
        let d = sleep_of(next_wait(
            &t(),
            1,
            Some(Duration::from_secs(2)),
            Duration::from_secs(3),
            u64::MAX,
        ));
        assert!(d >= Duration::from_secs(2) && d <= MS(2750), "{d:?}");
        // Nothing fits.
        assert!(matches!(
            next_wait(&t(), 3, None, MS(200), 0),
            Wait::GiveUp(_)
        ));
        match next_wait(
            &t(),
            1,
            Some(Duration::from_mins(1)),
            Duration::from_secs(29),
            0,
        ) {
            Wait::GiveUp(why) => {
                assert!(
                    why.contains("retry after 60.0s, beyond the budget (29.0s left)"),
                    "{why}"
                );
            }
            w @ Wait::Sleep(_) => panic!("{w:?}"),
        }
    }

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(parse_retry_after("1", 0), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 ", 0), Some(Duration::from_mins(2)));
        assert_eq!(parse_retry_after("0", 0), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0),
            Some(Duration::MAX)
        );
        // The HTTP-date form goes to crate::timefmt::parse_http_date (tested there).
    }

    #[test]
    fn jitter_varies_and_is_roughly_uniform() {
        let mut j = Jitter::new();
        let n = 10_000u32;
        let low_half = (0..n).filter(|_| j.next_u64() < (1 << 63)).count();
        assert!((4_500..5_500).contains(&low_half), "{low_half}");
        assert_ne!(Jitter::new().next_u64(), Jitter::new().next_u64());
    }

    /// `SplitMix64`: a deterministic generator for the simulation.
    struct SplitMix(u64);
    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    type Rule<'a> = &'a dyn Fn(u32, Duration, u64) -> Wait;

    #[derive(Clone, Copy, Debug)]
    enum Limiter {
        /// At most `rate` requests in each whole second.
        FixedWindow,
        /// A token bucket of `rate` tokens refilled at `rate` per second.
        TokenBucket,
    }

    /// `clients` start at once; the server admits `rate` requests per second and answers
    /// 429 Retry-After: 1 beyond. Each request takes `rtt`. `rule` maps (attempt, rand) to the
    /// wait. Returns (requests per client, seconds until the last success, failures).
    fn herd(
        clients: usize,
        rate: u32,
        limiter: Limiter,
        seed: u64,
        rule: Rule<'_>,
    ) -> (f64, f64, usize) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let rtt = MS(50);
        let budget = Duration::from_secs(30);
        let mut rng = SplitMix(seed);
        let mut queue: BinaryHeap<Reverse<(Duration, usize, u32)>> = (0..clients)
            .map(|c| Reverse((Duration::ZERO, c, 1)))
            .collect();
        let (mut requests, mut last_ok, mut failed) = (0usize, Duration::ZERO, 0usize);
        let (mut window, mut in_window) = (u64::MAX, 0u32);
        let (mut tokens, mut refilled_at) = (f64::from(rate), Duration::ZERO);
        while let Some(Reverse((at, client, attempt))) = queue.pop() {
            requests += 1;
            let admitted = match limiter {
                Limiter::FixedWindow => {
                    if at.as_secs() != window {
                        window = at.as_secs();
                        in_window = 0;
                    }
                    in_window += 1;
                    in_window <= rate
                }
                Limiter::TokenBucket => {
                    tokens = (tokens
                        + at.saturating_sub(refilled_at).as_secs_f64() * f64::from(rate))
                    .min(f64::from(rate));
                    refilled_at = at;
                    let ok = tokens >= 1.0;
                    if ok {
                        tokens -= 1.0;
                    }
                    ok
                }
            };
            let done = at + rtt;
            if admitted {
                last_ok = last_ok.max(done);
                continue;
            }
            match rule(attempt, budget.saturating_sub(done), rng.next()) {
                Wait::Sleep(d) => queue.push(Reverse((done + d, client, attempt + 1))),
                Wait::GiveUp(_) => failed += 1,
            }
        }
        #[allow(clippy::cast_precision_loss)]
        (
            requests as f64 / clients as f64,
            last_ok.as_secs_f64(),
            failed,
        )
    }

    /// The thundering herd: 1000 clients, a server admitting 200 req/s and answering 429
    /// Retry-After: 1 beyond. Goal: <= 2.25 requests per client and all done within ~8.5 s,
    /// under both a fixed-window and a token-bucket limiter.
    #[test]
    fn herd_simulation_picks_the_retry_after_rule() {
        let ours = |attempt, remaining, rand| {
            next_wait(&t(), attempt, Some(Duration::from_secs(1)), remaining, rand)
        };
        // Baselines: honouring Retry-After exactly, and with a fixed 1 s spread.
        let exact = |_, _, _| Wait::Sleep(Duration::from_secs(1));
        let fixed = |_, _, rand| {
            Wait::Sleep(Duration::from_secs(1) + uniform(Duration::from_secs(1), rand))
        };
        let rules: [(&str, Rule<'_>); 3] = [
            ("RA exactly", &exact),
            ("RA + U(0,1s)", &fixed),
            ("ours", &ours),
        ];
        for (name, rule) in rules {
            for limiter in [Limiter::FixedWindow, Limiter::TokenBucket] {
                let runs: Vec<_> = (1..=8)
                    .map(|seed| herd(1000, 200, limiter, seed, rule))
                    .collect();
                let avg = runs.iter().map(|r| r.0).sum::<f64>() / 8.0;
                let worst_time = runs.iter().map(|r| r.1).fold(0.0, f64::max);
                let failed: usize = runs.iter().map(|r| r.2).sum();
                eprintln!(
                    "{name:>13} {limiter:?}: {avg:.3} requests/client, all done by {worst_time:.2}s, {failed} gave up"
                );
                if name == "ours" {
                    assert!(avg <= 2.25, "{limiter:?}: {avg}");
                    assert!(worst_time <= 8.5, "{limiter:?}: {worst_time}");
                    assert_eq!(failed, 0);
                }
            }
        }
    }
}
