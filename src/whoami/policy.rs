//! The retry policy of whoami, pure: which waits to make between attempts, within one budget.
//!
//! - Without `Retry-After`: capped exponential backoff with full jitter,
//!   `wait = uniform(0, min(cap, base * 2^(attempt-1)))` (250 ms, 500 ms, 1 s, 2 s, 4 s, 5 s, ...).
//! - With `Retry-After: RA`: `wait = RA + uniform(0, min(spread_cap, max(RA, base) * 2^attempt))`,
//!   so a herd told "retry after 1 s" comes back spread over the following 2 s, and so on (see
//!   the herd simulation in the tests, which picked this rule). The cap (2 s) keeps the tail
//!   short: in the real 1000-client run of `bench/run.sh` a 3 s cap left the last client's exec
//!   just past the 8.5 s goal, as the few clients refused twice waited up to 4 s more.
//! - A wait is always drawn from that attempt's full window, never from a window cut down to
//!   fit what is left of the budget: clients of a fleet that share a budget would otherwise
//!   crowd their last retries into its final second. While the whole window fits (its upper
//!   end plus `min_attempt` for the attempt itself), sleep; once it does not, one last attempt
//!   is made if the drawn wait happens to fit, and then the call gives up. When even the lower
//!   bound (`RA`, or 0) does not fit, give up at once.

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
    /// Sleep this long, then make the last attempt: the next window does not fit the budget.
    Last(Duration),
    /// Stop now; the reason why another attempt cannot fit in the budget.
    GiveUp(String),
}

/// The window the wait after attempt number `attempt` (1-based) is drawn from, `[low, high)`:
/// `[0, min(cap, base * 2^(attempt-1)))` without `Retry-After`, `[RA, RA + min(spread_cap,
/// max(RA, base) * 2^attempt))` with it.
pub(crate) fn window(
    tuning: &Tuning,
    attempt: u32,
    retry_after: Option<Duration>,
) -> (Duration, Duration) {
    match retry_after {
        Some(ra) => {
            let unit = ra.max(tuning.backoff_base);
            let spread = doubled(unit, attempt).min(tuning.spread_cap);
            (ra, ra.saturating_add(spread))
        }
        None => (
            Duration::ZERO,
            doubled(tuning.backoff_base, attempt.saturating_sub(1)).min(tuning.backoff_cap),
        ),
    }
}

/// The wait after attempt number `attempt` (1-based) failed transiently, given the server's
/// `Retry-After` (if any), the `remaining` budget and whether the attempt that just failed was
/// already the last one (a [`Wait::Last`]); `rand` is a uniformly random `u64`.
pub(crate) fn next_wait(
    tuning: &Tuning,
    attempt: u32,
    retry_after: Option<Duration>,
    remaining: Duration,
    rand: u64,
    was_last: bool,
) -> Wait {
    let left = super::secs(remaining);
    if remaining <= tuning.min_attempt {
        return Wait::GiveUp(format!(
            "only {left} of the budget was left, too little for another attempt"
        ));
    }
    let usable = remaining.saturating_sub(tuning.min_attempt);
    let (low, high) = window(tuning, attempt, retry_after);
    if let Some(ra) = retry_after.filter(|ra| *ra > usable) {
        return Wait::GiveUp(format!(
            "the server asked to retry after {}, beyond the budget ({left} left)",
            super::secs(ra)
        ));
    }
    if was_last {
        return Wait::GiveUp(format!(
            "that was the last attempt: the next wait could be up to {}, more than the {left} left \
             of the budget",
            super::secs(high)
        ));
    }
    let wait = low.saturating_add(uniform(high.saturating_sub(low), rand));
    if high <= usable {
        Wait::Sleep(wait)
    } else if wait <= usable {
        Wait::Last(wait)
    } else {
        Wait::GiveUp(format!(
            "the next retry would wait {}, more than the {left} left of the budget",
            super::secs(wait)
        ))
    }
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
            Wait::Last(d) => panic!("a last wait of {d:?}"),
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
                sleep_of(next_wait(&t(), attempt, None, budget, 0, false)),
                Duration::ZERO
            );
            let top = sleep_of(next_wait(&t(), attempt, None, budget, u64::MAX, false));
            assert!(
                top < MS(ceiling) && top + MS(1) > MS(ceiling),
                "attempt {attempt}: {top:?}"
            );
            let mid = sleep_of(next_wait(&t(), attempt, None, budget, 1 << 63, false));
            assert_eq!(mid, MS(ceiling) / 2);
        }
    }

    #[test]
    fn retry_after_adds_a_growing_capped_spread() {
        let budget = Duration::from_secs(30);
        let ra = Some(Duration::from_secs(1));
        assert_eq!(
            sleep_of(next_wait(&t(), 1, ra, budget, 0, false)),
            Duration::from_secs(1)
        );
        let top1 = sleep_of(next_wait(&t(), 1, ra, budget, u64::MAX, false));
        assert!(top1 > MS(2999) && top1 < MS(3000), "{top1:?}"); // 1 s + up to 2 s
        let top2 = sleep_of(next_wait(&t(), 2, ra, budget, u64::MAX, false));
        assert!(top2 > MS(2999) && top2 < MS(3000), "{top2:?}"); // 1 s + up to 2 s (cap)
        // Retry-After: 0 still spreads (by the backoff base).
        let zero = sleep_of(next_wait(
            &t(),
            1,
            Some(Duration::ZERO),
            budget,
            u64::MAX,
            false,
        ));
        assert!(zero > MS(499) && zero < MS(500), "{zero:?}");
    }

    #[test]
    fn a_wait_is_never_cut_down_to_fit_the_budget() {
        // 1 s left after attempt 3 (window 1 s): the window does not fit (1 s + 250 ms for the
        // attempt), so a wait that fits is the last one and one that does not is a give-up,
        // never a wait squeezed into the 750 ms that are left.
        let left = Duration::from_secs(1);
        match next_wait(&t(), 3, None, left, 1 << 62, false) {
            Wait::Last(d) => assert_eq!(d, MS(250)),
            w => panic!("{w:?}"),
        }
        match next_wait(&t(), 3, None, left, u64::MAX, false) {
            Wait::GiveUp(why) => assert!(
                why.starts_with("the next retry would wait 999ms, more than the 1.0s left"),
                "{why}"
            ),
            w @ (Wait::Sleep(_) | Wait::Last(_)) => panic!("{w:?}"),
        }
        // After the last attempt: give up, whatever the draw.
        match next_wait(&t(), 4, None, left, 0, true) {
            Wait::GiveUp(why) => assert!(
                why.starts_with("that was the last attempt: the next wait could be up to 2.0s"),
                "{why}"
            ),
            w @ (Wait::Sleep(_) | Wait::Last(_)) => panic!("{w:?}"),
        }
        // The whole window fits: an ordinary wait.
        assert_eq!(
            next_wait(&t(), 3, None, MS(1250), u64::MAX, false),
            Wait::Sleep(Duration::from_nanos(999_999_999))
        );
        // A Retry-After whose spread does not fit: its lower bound does, so one last attempt.
        let d = match next_wait(
            &t(),
            1,
            Some(Duration::from_secs(2)),
            Duration::from_secs(3),
            0,
            false,
        ) {
            Wait::Last(d) => d,
            w => panic!("{w:?}"),
        };
        assert_eq!(d, Duration::from_secs(2));
    }

    #[test]
    fn give_up_messages_read_as_sentences() {
        let why = |w: Wait| match w {
            Wait::GiveUp(why) => why,
            w @ (Wait::Sleep(_) | Wait::Last(_)) => panic!("{w:?}"),
        };
        // Nothing left: not "retry after 0ms, beyond the budget".
        assert_eq!(
            why(next_wait(&t(), 3, Some(Duration::ZERO), MS(200), 0, false)),
            "only 200ms of the budget was left, too little for another attempt"
        );
        assert_eq!(
            why(next_wait(
                &t(),
                1,
                Some(Duration::from_mins(1)),
                Duration::from_secs(29),
                0,
                false
            )),
            "the server asked to retry after 60.0s, beyond the budget (29.0s left)"
        );
        // `Retry-After: 99999999999999999999` is "more than a year", not 18446744073709551616.0s.
        let never = parse_retry_after("99999999999999999999", 0);
        assert_eq!(
            why(next_wait(&t(), 1, never, Duration::from_secs(29), 0, false)),
            "the server asked to retry after more than a year, beyond the budget (29.0s left)"
        );
        assert_eq!(
            why(next_wait(
                &t(),
                1,
                Some(Duration::from_hours(2)),
                Duration::from_secs(29),
                0,
                false
            )),
            "the server asked to retry after 2h 0m, beyond the budget (29.0s left)"
        );
    }

    /// What the policy was asked and chose, for one wait.
    struct Waited {
        attempt: u32,
        retry_after: Option<Duration>,
        rand: u64,
        remaining: Duration,
        wait: Duration,
    }

    /// One whoami call against a server failing every attempt, simulated: each attempt takes a
    /// random time, the server sometimes sends a `Retry-After`. Returns every wait and the
    /// number of attempts.
    fn simulate(seed: u64, budget: Duration) -> (Vec<Waited>, u32) {
        let mut rng = SplitMix(seed);
        let mut clock = Duration::ZERO;
        let (mut waits, mut attempt, mut last) = (Vec::new(), 0u32, false);
        loop {
            attempt += 1;
            clock += MS(rng.next() % 300);
            let retry_after = match rng.next() % 4 {
                0 => Some(Duration::from_secs(rng.next() % 4)),
                _ => None,
            };
            let remaining = budget.saturating_sub(clock);
            let rand = rng.next();
            let wait = match next_wait(&t(), attempt, retry_after, remaining, rand, last) {
                Wait::Sleep(d) => d,
                Wait::Last(d) => {
                    last = true;
                    d
                }
                Wait::GiveUp(_) => return (waits, attempt),
            };
            waits.push(Waited {
                attempt,
                retry_after,
                rand,
                remaining,
                wait,
            });
            clock += wait;
            assert!(clock <= budget, "seed {seed}: crossed the deadline");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The retry shape: every wait is drawn from its attempt's full backoff window (written
        /// out here from the documented rule, not taken from `window`), and once the next
        /// window no longer fits the budget at most one more attempt is made.
        #[test]
        fn every_wait_comes_from_its_full_window_and_at_most_one_attempt_follows_a_window_that_does_not_fit(
            seed in proptest::prelude::any::<u64>(),
            budget_ms in 0u64..40_000,
        ) {
            let tuning = t();
            let (waits, attempts) = simulate(seed, MS(budget_ms));
            let mut after_misfit = None;
            for (i, w) in waits.iter().enumerate() {
                let (low, high) = match w.retry_after {
                    None => (Duration::ZERO, (MS(250) * 2u32.pow((w.attempt - 1).min(20))).min(MS(5000))),
                    Some(ra) => (ra, ra + (ra.max(MS(250)) * 2u32.pow(w.attempt.min(20))).min(MS(2000))),
                };
                // Drawn from the whole window: low + (high - low) * rand / 2^64, exactly.
                let span = high.saturating_sub(low).as_nanos();
                let drawn = low + Duration::from_nanos(u64::try_from((span * u128::from(w.rand)) >> 64).unwrap());
                proptest::prop_assert_eq!(w.wait, drawn, "attempt {}: not drawn from [{:?}, {:?})", w.attempt, low, high);
                // The attempt after this wait still gets its `min_attempt`.
                proptest::prop_assert!(w.wait + tuning.min_attempt <= w.remaining);
                if high + tuning.min_attempt > w.remaining && after_misfit.is_none() {
                    after_misfit = Some(i);
                }
            }
            if let Some(i) = after_misfit {
                // The wait at index i leads to attempt i + 2, the last one.
                proptest::prop_assert_eq!(waits.len(), i + 1, "waits after the window stopped fitting");
                proptest::prop_assert_eq!(attempts as usize, i + 2);
            }
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

    type Rule<'a> = &'a dyn Fn(u32, Duration, u64, bool) -> Wait;

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
        let mut queue: BinaryHeap<Reverse<(Duration, usize, u32, bool)>> = (0..clients)
            .map(|c| Reverse((Duration::ZERO, c, 1, false)))
            .collect();
        let (mut requests, mut last_ok, mut failed) = (0usize, Duration::ZERO, 0usize);
        let (mut window, mut in_window) = (u64::MAX, 0u32);
        let (mut tokens, mut refilled_at) = (f64::from(rate), Duration::ZERO);
        while let Some(Reverse((at, client, attempt, last))) = queue.pop() {
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
            match rule(attempt, budget.saturating_sub(done), rng.next(), last) {
                Wait::Sleep(d) => queue.push(Reverse((done + d, client, attempt + 1, false))),
                Wait::Last(d) => queue.push(Reverse((done + d, client, attempt + 1, true))),
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
        let ours = |attempt, remaining, rand, last| {
            next_wait(
                &t(),
                attempt,
                Some(Duration::from_secs(1)),
                remaining,
                rand,
                last,
            )
        };
        // Baselines: honouring Retry-After exactly, and with a fixed 1 s spread.
        let exact = |_, _, _, _| Wait::Sleep(Duration::from_secs(1));
        let fixed = |_, _, rand, _| {
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
