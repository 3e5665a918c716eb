//! The pure schedule of the expiry watch: which lines are due when. No clock is read here;
//! every function takes "now" in milliseconds since the epoch.

use std::time::Duration;

/// How long before `exp` each warning comes, largest first.
pub const THRESHOLDS: [Duration; 3] = [
    Duration::from_hours(1),
    Duration::from_mins(10),
    Duration::from_mins(1),
];

/// One thing the watch does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A warning, `before` ahead of `exp` (one of [`THRESHOLDS`]).
    Warn {
        /// The threshold.
        before: Duration,
    },
    /// The token has expired: the error line, and with `stop`, stopping the app.
    Expired,
}

/// The events still ahead, in time order, each with its due time (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    exp_ms: u64,
    pending: Vec<(u64, Event)>,
}

impl Schedule {
    /// The schedule for a token expiring at `exp` (seconds since the epoch), made at `now_ms`:
    /// the warnings whose time is still ahead (strictly), then [`Event::Expired`] at `exp`
    /// (due at once when `exp` has passed already).
    pub fn new(exp: u64, now_ms: u64) -> Schedule {
        let exp_ms = exp.saturating_mul(1000);
        let mut pending: Vec<(u64, Event)> = THRESHOLDS
            .iter()
            .filter_map(|&before| {
                let before_ms = u64::try_from(before.as_millis()).unwrap_or(u64::MAX);
                let at = exp_ms.checked_sub(before_ms)?;
                (at > now_ms).then_some((at, Event::Warn { before }))
            })
            .collect();
        pending.push((exp_ms, Event::Expired));
        Schedule { exp_ms, pending }
    }

    /// When the next event is due (ms since the epoch), or `None` when nothing is left.
    pub fn next_at(&self) -> Option<u64> {
        self.pending.first().map(|&(at, _)| at)
    }

    /// The due times of the warnings still pending (ms since the epoch).
    pub fn warnings_at(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending
            .iter()
            .filter(|(_, e)| matches!(e, Event::Warn { .. }))
            .map(|&(at, _)| at)
    }

    /// Take the events due at `now_ms` and return the latest of them: after a long stall (a
    /// suspended machine, a clock set forward) only the most recent line is worth logging,
    /// and [`Event::Expired`] wins over any warning. `None` when nothing is due yet.
    pub fn take_due(&mut self, now_ms: u64) -> Option<Event> {
        let n = self
            .pending
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .count();
        self.pending.drain(..n).next_back().map(|(_, e)| e)
    }

    /// Whether nothing is left.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXP: u64 = 2_000_000_000;
    const EXP_MS: u64 = EXP * 1000;
    const MIN: u64 = 60_000;

    fn warn(mins: u64) -> Event {
        Event::Warn {
            before: Duration::from_mins(mins),
        }
    }

    #[test]
    fn a_day_ahead_gets_every_warning_and_the_first_wake_is_an_hour_before_exp() {
        let s = Schedule::new(EXP, EXP_MS - 24 * 60 * MIN);
        // One wake per threshold: nothing before the hour.
        assert_eq!(s.next_at(), Some(EXP_MS - 60 * MIN));
        assert_eq!(
            s.warnings_at().collect::<Vec<_>>(),
            vec![EXP_MS - 60 * MIN, EXP_MS - 10 * MIN, EXP_MS - MIN]
        );
        assert_eq!(s.pending.len(), 4);
        assert_eq!(s.exp_ms, EXP_MS);
    }

    #[test]
    fn only_warnings_still_ahead_at_start() {
        // 30 minutes left: the 10- and 1-minute warnings.
        let s = Schedule::new(EXP, EXP_MS - 30 * MIN);
        assert_eq!(
            s.warnings_at().collect::<Vec<_>>(),
            vec![EXP_MS - 10 * MIN, EXP_MS - MIN]
        );
        // Exactly at a threshold: that one is not ahead any more.
        let s = Schedule::new(EXP, EXP_MS - 10 * MIN);
        assert_eq!(s.warnings_at().collect::<Vec<_>>(), vec![EXP_MS - MIN]);
        // 3 seconds left: only the line at exp.
        let s = Schedule::new(EXP, EXP_MS - 3000);
        assert_eq!(s.warnings_at().count(), 0);
        assert_eq!(s.next_at(), Some(EXP_MS));
    }

    #[test]
    fn events_come_in_order_then_nothing() {
        let mut s = Schedule::new(EXP, EXP_MS - 61 * MIN);
        assert_eq!(s.take_due(EXP_MS - 61 * MIN), None);
        assert_eq!(s.take_due(EXP_MS - 60 * MIN - 1), None);
        assert_eq!(s.take_due(EXP_MS - 60 * MIN), Some(warn(60)));
        assert_eq!(s.take_due(EXP_MS - 60 * MIN), None);
        assert_eq!(s.take_due(EXP_MS - 10 * MIN + 5), Some(warn(10)));
        assert_eq!(s.take_due(EXP_MS - MIN), Some(warn(1)));
        assert!(!s.is_done());
        assert_eq!(s.next_at(), Some(EXP_MS));
        assert_eq!(s.take_due(EXP_MS), Some(Event::Expired));
        assert!(s.is_done());
        assert_eq!(s.next_at(), None);
        assert_eq!(s.take_due(u64::MAX), None);
    }

    #[test]
    fn after_a_stall_only_the_latest_due_event_is_returned() {
        let mut s = Schedule::new(EXP, EXP_MS - 61 * MIN);
        assert_eq!(s.take_due(EXP_MS - 30 * MIN), Some(warn(60)));
        // Woken past both the 10- and the 1-minute threshold: one line, the 1-minute one.
        assert_eq!(s.take_due(EXP_MS - 30_000), Some(warn(1)));
        let mut s = Schedule::new(EXP, EXP_MS - 61 * MIN);
        assert_eq!(s.take_due(EXP_MS + 5), Some(Event::Expired));
        assert!(s.is_done());
    }

    #[test]
    fn an_exp_already_past_is_due_at_once() {
        let mut s = Schedule::new(EXP, EXP_MS + 10);
        assert_eq!(s.warnings_at().count(), 0);
        assert_eq!(s.take_due(EXP_MS + 10), Some(Event::Expired));
        // exp near zero does not underflow.
        let s = Schedule::new(30, 0);
        assert_eq!(s.warnings_at().count(), 0);
        assert_eq!(s.next_at(), Some(30_000));
        // exp beyond what fits in milliseconds saturates.
        let s = Schedule::new(u64::MAX, 0);
        assert_eq!(s.next_at(), Some(u64::MAX - 60 * MIN));
    }
}
