//! Hybrid logical clock (Kulkarni et al., 2014): event times that follow the device's wall clock but never go
//! backwards and always order an event after everything its replica had seen.
//!
//! The physical time is always passed in by the caller (`now_ms`), so this module does no I/O and is fully
//! deterministic in tests.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

use crate::ids::OpId;

/// A point in hybrid logical time: wall-clock milliseconds since the Unix epoch, then a logical counter that
/// orders events within the same millisecond.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Hlc {
    /// Milliseconds since 1970-01-01T00:00:00Z, from the device's clock (possibly advanced by clocks it heard of).
    pub wall_ms: u64,
    /// Tie-breaker within one millisecond.
    pub logical: u32,
}

impl Hlc {
    /// A time with logical counter 0.
    pub const fn at(wall_ms: u64) -> Self {
        Hlc {
            wall_ms,
            logical: 0,
        }
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.wall_ms, self.logical)
    }
}

/// A globally unique, totally ordered point: the HLC time, then the op id as tie-breaker. Every "last writer
/// wins" and every "in event order" in Linli sorts by this.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Stamp {
    /// When.
    pub time: Hlc,
    /// Which op, to break ties between replicas.
    pub op: OpId,
}

impl fmt::Debug for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{}", self.time, self.op)
    }
}

/// How far a time may lie ahead of the receiver's physical clock before it is refused.
///
/// Times *behind* are always accepted: a phone that was offline for days legitimately sends old times. Times
/// *ahead* come from a phone whose clock is wrong; accepting them would push every receiver's clock into the
/// future, so they are refused with [`ClockError::TooFarAhead`] until the receiver's clock catches up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftPolicy {
    /// The largest accepted lead, in milliseconds.
    pub max_ahead_ms: u64,
}

impl DriftPolicy {
    /// Ten minutes: generous for phones that set their clock by hand, small enough that a report's
    /// "on site within 5 minutes" is not distorted by a clock set hours ahead.
    pub const DEFAULT: DriftPolicy = DriftPolicy {
        max_ahead_ms: 10 * 60 * 1000,
    };

    /// Checks that `time` is not beyond the bound relative to the physical time `now_ms`.
    pub fn check(&self, time: Hlc, now_ms: u64) -> Result<(), ClockError> {
        if time.wall_ms > now_ms.saturating_add(self.max_ahead_ms) {
            Err(ClockError::TooFarAhead {
                time_ms: time.wall_ms,
                now_ms,
                max_ahead_ms: self.max_ahead_ms,
            })
        } else {
            Ok(())
        }
    }
}

impl Default for DriftPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a clock refused a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ClockError {
    /// A received time lies further ahead of the local physical clock than the drift bound allows.
    #[error("time {time_ms} ms is {} ms ahead of the local clock ({now_ms} ms); at most {max_ahead_ms} ms is accepted", time_ms - now_ms)]
    TooFarAhead {
        /// The refused wall time.
        time_ms: u64,
        /// The local physical time when it was refused.
        now_ms: u64,
        /// The bound in force.
        max_ahead_ms: u64,
    },
}

/// One replica's clock.
///
/// Besides the latest time it issued or observed (`last`), the clock remembers the latest time it *heard* of
/// from elsewhere (`heard`): times of ops the server accepted, and the server's own time. The difference matters
/// when the device's own clock was wrong: a time this clock issued itself more than the drift bound ahead of the
/// physical clock is known to be wrong once the physical clock is right again (ADR 0002), so the clock comes
/// back to `max(heard, physical)` instead of counting on from the wrong time; a time heard from the server was
/// checked by the server, so it is kept whatever this device's clock says, and later local events order after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HlcClock {
    last: Hlc,
    #[serde(default)]
    heard: Hlc,
    policy: DriftPolicy,
}

impl HlcClock {
    /// A clock that has seen nothing yet.
    pub fn new(policy: DriftPolicy) -> Self {
        HlcClock {
            last: Hlc::default(),
            heard: Hlc::default(),
            policy,
        }
    }

    /// A clock restored from a stored last value (a replica reopening its database) and the latest time it had
    /// heard of from elsewhere.
    pub fn restore(last: Hlc, heard: Hlc, policy: DriftPolicy) -> Self {
        HlcClock {
            last: last.max(heard),
            heard,
            policy,
        }
    }

    /// The latest time this clock has issued or observed.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// The latest time this clock heard of from elsewhere ([`HlcClock::observe`], [`HlcClock::observe_accepted`]).
    pub fn heard(&self) -> Hlc {
        self.heard
    }

    /// The drift bound this clock enforces.
    pub fn policy(&self) -> DriftPolicy {
        self.policy
    }

    /// Whether this clock's latest time is one it issued itself more than the drift bound ahead of the physical
    /// time `now_ms`. On its own this cannot tell "the device's clock was fast and has been set right" from "the
    /// device's clock was right and has been set back", so the clock never acts on it alone: only a `clock_skew`
    /// refusal from the server (which stored none of the refused batch) confirms the first case, and then
    /// [`HlcClock::restamp`] brings the clock back.
    pub fn runs_ahead(&self, now_ms: u64) -> bool {
        self.last.wall_ms > now_ms.saturating_add(self.policy.max_ahead_ms)
            && self.last.wall_ms > self.heard.wall_ms
    }

    /// Whether `time` lies more than the drift bound ahead of the physical time `now_ms`.
    pub fn beyond_bound(&self, time: Hlc, now_ms: u64) -> bool {
        self.policy.check(time, now_ms).is_err()
    }

    /// The time of a new local event: strictly after everything this clock issued or observed, and at least the
    /// physical time. It never comes back towards the physical time by itself (a clock set back must not re-date
    /// work already done); a clock confirmed to have run ahead comes back through [`HlcClock::restamp`].
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let next = if now_ms > self.last.wall_ms {
            Hlc::at(now_ms)
        } else if self.last.logical == u32::MAX {
            // Four billion events in one millisecond cannot happen in practice; moving the wall time on by
            // one millisecond keeps the clock monotonic without a panic path if it ever did.
            Hlc::at(self.last.wall_ms + 1)
        } else {
            Hlc {
                wall_ms: self.last.wall_ms,
                logical: self.last.logical + 1,
            }
        };
        self.last = next;
        next
    }

    /// New times for ops this clock stamped beyond the drift bound and that nobody has accepted yet (`times`,
    /// in the order they were written), given the physical time `now_ms`, once the server has confirmed they lie
    /// too far ahead (a `clock_skew` refusal). The clock comes back to `max(heard, floor)` — `floor` being the
    /// latest time among the waiting ops that keep theirs, so that no re-stamped op orders before an op written
    /// earlier — and stamps them again from there, in the same order, before any new event. Empty (and the clock
    /// unchanged) unless the clock [`runs_ahead`](HlcClock::runs_ahead).
    pub fn restamp(&mut self, times: &[Hlc], now_ms: u64, floor: Hlc) -> Vec<Hlc> {
        if !self.runs_ahead(now_ms) {
            return Vec::new();
        }
        self.last = self.heard.max(floor);
        times.iter().map(|_| self.tick(now_ms)).collect()
    }

    /// Takes note of a time heard from another replica, so that later local events order after it. A time beyond
    /// the drift bound is refused and leaves the clock unchanged.
    pub fn observe(&mut self, remote: Hlc, now_ms: u64) -> Result<(), ClockError> {
        self.policy.check(remote, now_ms)?;
        self.observe_accepted(remote);
        Ok(())
    }

    /// Takes note of a time the server has already judged: the time of an op it accepted (it passed the server's
    /// drift check when it was stored), or the server's own clock. Observed whatever this device's physical clock
    /// says, so that a phone whose clock runs slow still orders its own events after what it has seen: a ticket
    /// taken on such a phone is taken after it was created (issue 17).
    pub fn observe_accepted(&mut self, remote: Hlc) {
        self.heard = self.heard.max(remote);
        self.last = self.last.max(remote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_follows_wall_clock_and_never_goes_back() {
        let mut c = HlcClock::new(DriftPolicy::DEFAULT);
        assert_eq!(c.tick(1000), Hlc::at(1000));
        assert_eq!(
            c.tick(1000),
            Hlc {
                wall_ms: 1000,
                logical: 1
            }
        );
        // The phone's clock jumps back (user changed it): time still moves forward.
        assert_eq!(
            c.tick(500),
            Hlc {
                wall_ms: 1000,
                logical: 2
            }
        );
        assert_eq!(c.tick(2000), Hlc::at(2000));
    }

    #[test]
    fn observing_a_later_time_orders_local_events_after_it() {
        let mut c = HlcClock::new(DriftPolicy::DEFAULT);
        c.tick(1000);
        c.observe(
            Hlc {
                wall_ms: 5000,
                logical: 7,
            },
            4000,
        )
        .expect("within bound");
        assert_eq!(
            c.tick(4001),
            Hlc {
                wall_ms: 5000,
                logical: 8
            }
        );
    }

    #[test]
    fn drift_bound_is_inclusive_and_refusal_leaves_clock_unchanged() {
        let policy = DriftPolicy { max_ahead_ms: 600 };
        let mut c = HlcClock::new(policy);
        c.tick(1000);
        assert_eq!(c.observe(Hlc::at(1600), 1000), Ok(()));
        let before = c.clone();
        assert_eq!(
            c.observe(Hlc::at(2201), 1600),
            Err(ClockError::TooFarAhead {
                time_ms: 2201,
                now_ms: 1600,
                max_ahead_ms: 600
            })
        );
        assert_eq!(c, before);
        // Times far behind are always fine: a phone offline for a week.
        assert_eq!(c.observe(Hlc::at(1), 1_000_000_000), Ok(()));
    }

    /// Issue 17: a phone wrote with its clock two hours ahead, then its clock was set right. Its clock came back
    /// to the physical time instead of stamping every later op two hours ahead; the op written ahead is stamped
    /// again, before the new one.
    #[test]
    fn a_clock_that_ran_ahead_comes_back_once_the_physical_clock_is_right() {
        const HOUR: u64 = 3_600_000;
        let mut c = HlcClock::new(DriftPolicy::DEFAULT);
        c.observe_accepted(Hlc::at(1_000));
        let ahead = c.tick(2 * HOUR + 5_000);
        assert_eq!(ahead, Hlc::at(2 * HOUR + 5_000));
        assert!(!c.runs_ahead(2 * HOUR + 6_000), "its own clock agrees");
        assert!(c.runs_ahead(6_000), "the clock was set right");
        let again = c.restamp(&[ahead], 6_000, Hlc::default());
        assert_eq!(again, [Hlc::at(6_000)]);
        assert_eq!(
            c.tick(6_000),
            Hlc {
                wall_ms: 6_000,
                logical: 1
            }
        );
        assert!(
            c.restamp(&[ahead], 6_000, Hlc::default()).is_empty(),
            "nothing runs ahead now"
        );
    }

    /// Issue 17: a phone 20 minutes slow observes a ticket the server accepted; its own take orders after it, and
    /// the clock does not treat the heard time as its own mistake.
    #[test]
    fn a_slow_clock_keeps_times_the_server_accepted() {
        const MINUTE: u64 = 60_000;
        let mut c = HlcClock::new(DriftPolicy::DEFAULT);
        let created = Hlc::at(100 * MINUTE);
        let now = 80 * MINUTE;
        assert!(c.observe(created, now).is_err(), "beyond the bound");
        c.observe_accepted(created);
        assert!(!c.runs_ahead(now));
        let take = c.tick(now);
        assert!(take > created);
        assert!(c.tick(now + 1) > take);
        // Restored from its stored values, it still keeps what it heard.
        let mut back = HlcClock::restore(c.last(), c.heard(), DriftPolicy::DEFAULT);
        assert!(back.tick(now + 2) > take);
    }

    /// Found in review of issue 17: a phone whose clock was right and is set back (a reboot that lost the time)
    /// must not re-date the work it did: the clock counts on from what it issued.
    #[test]
    fn a_clock_set_back_counts_on_and_does_not_re_date_work() {
        const MINUTE: u64 = 60_000;
        let mut c = HlcClock::new(DriftPolicy::DEFAULT);
        let take = c.tick(603 * MINUTE);
        let arrive = c.tick(607 * MINUTE);
        assert!(
            c.runs_ahead(540 * MINUTE),
            "looks ahead of the set-back clock"
        );
        let next = c.tick(540 * MINUTE);
        assert!(
            next > arrive && arrive > take,
            "{take:?} {arrive:?} {next:?}"
        );
    }

    /// Found in review of issue 17: a phone 15 minutes fast created a ticket (7 minutes ahead once its clock is set
    /// right: within the bound, so it keeps its time) and took it (13 minutes ahead: re-stamped). The re-stamped
    /// take must still order after the create.
    #[test]
    fn re_stamped_ops_order_after_the_waiting_ops_that_keep_their_time() {
        const MINUTE: u64 = 60_000;
        let now = 540 * MINUTE;
        let mut c = HlcClock::new(DriftPolicy::DEFAULT);
        let create = c.tick(now + 7 * MINUTE);
        let take = c.tick(now + 13 * MINUTE);
        assert!(!c.beyond_bound(create, now) && c.beyond_bound(take, now));
        let again = c.restamp(&[take], now, create);
        assert_eq!(again.len(), 1);
        assert!(again[0] > create, "{:?} after {create:?}", again[0]);
        assert!(!c.beyond_bound(again[0], now), "the server accepts it now");
        assert!(c.tick(now) > again[0]);
    }

    #[test]
    fn logical_overflow_moves_wall_time_on() {
        let mut c = HlcClock::restore(
            Hlc {
                wall_ms: 10,
                logical: u32::MAX,
            },
            Hlc::default(),
            DriftPolicy::DEFAULT,
        );
        assert_eq!(c.tick(5), Hlc::at(11));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Tick(u64),
        Observe(Hlc, u64),
        Accepted(Hlc),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..10_000).prop_map(Step::Tick),
            ((0u64..12_000, 0u32..4), 0u64..10_000).prop_map(|((w, l), now)| Step::Observe(
                Hlc {
                    wall_ms: w,
                    logical: l
                },
                now
            )),
            (0u64..12_000, 0u32..4).prop_map(|(w, l)| Step::Accepted(Hlc {
                wall_ms: w,
                logical: l
            })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Whatever the physical clock does (jumps back, stalls) and whatever is observed, every tick is strictly
        /// after the previous one and every accepted observation, and never before the physical time: a clock set
        /// back never re-dates what was done (the return after a confirmed run-ahead is `restamp`'s, tested below).
        #[test]
        fn ticks_are_strictly_monotonic_and_follow_what_was_seen(steps in prop::collection::vec(step(), 1..200)) {
            const BOUND: u64 = 1_000;
            let mut c = HlcClock::new(DriftPolicy { max_ahead_ms: BOUND });
            let mut heard = Hlc::default();
            let mut previous = Hlc::default();
            for s in steps {
                match s {
                    Step::Tick(now) => {
                        let t = c.tick(now);
                        prop_assert!(t > heard);
                        prop_assert!(t.wall_ms >= now);
                        prop_assert!(t > previous);
                        previous = t;
                    }
                    Step::Observe(remote, now) => {
                        let before = c.clone();
                        match c.observe(remote, now) {
                            Ok(()) => heard = heard.max(remote),
                            Err(ClockError::TooFarAhead { .. }) => {
                                prop_assert!(remote.wall_ms > now + BOUND);
                                prop_assert_eq!(&c, &before);
                            }
                        }
                    }
                    Step::Accepted(remote) => {
                        c.observe_accepted(remote);
                        heard = heard.max(remote);
                    }
                }
            }
        }
    }
}
