//! The 5-20-2-2 rule (52022): deadlines and verdicts of a ticket, as a pure function of its events.
//!
//! Each step's clock starts when the previous step happened, and all times are event times from the devices'
//! hybrid logical clocks (when the work was done), never sync times:
//! - **on site**: first `OnSite` at most 5 minutes after the first `Taken`;
//! - **small problem solved**: first `Solved` (or `AgencyCompleted`, the linked body's completion) at most 20
//!   minutes after arriving on site (after taking, when no arrival was recorded);
//! - **complex problem, plan**: first `PlanMade` (or `Decided`, a council decision linked) at most 2 days after
//!   taking;
//! - **complex problem, answer**: first `Answered` at most 2 days after the plan.
//!
//! Deadlines are inclusive: on site at exactly 5:00 meets the rule, at 5:00.001 it does not. Only the first
//! handling cycle is judged; reopened tickets are counted by the reopen rate instead.

use serde::{Deserialize, Serialize};

use crate::ticket::{Complexity, EventKind, Ticket};

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 24 * 60 * MINUTE_MS;

/// The rule's numbers, in one value. Reports state the policy they used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy52022 {
    /// Taken → on site.
    pub on_site_ms: u64,
    /// On site → solved, for small problems.
    pub small_solve_ms: u64,
    /// Taken → plan, for complex problems.
    pub complex_plan_ms: u64,
    /// Plan → answer, for complex problems.
    pub complex_answer_ms: u64,
}

impl Policy52022 {
    /// 5 minutes, 20 minutes, 2 days, 2 days.
    pub const STANDARD: Policy52022 = Policy52022 {
        on_site_ms: 5 * MINUTE_MS,
        small_solve_ms: 20 * MINUTE_MS,
        complex_plan_ms: 2 * DAY_MS,
        complex_answer_ms: 2 * DAY_MS,
    };
}

impl Default for Policy52022 {
    fn default() -> Self {
        Self::STANDARD
    }
}

/// The verdict on one step of the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The step does not apply (e.g. the 20-minute rule for a complex problem).
    NotApplicable,
    /// The step's clock has not started (e.g. the ticket was not taken yet).
    NotStarted,
    /// Not done yet, deadline not passed.
    Pending {
        /// Deadline, wall ms.
        deadline_ms: u64,
    },
    /// Not done and the deadline has passed.
    Overdue {
        /// Deadline, wall ms.
        deadline_ms: u64,
    },
    /// Done in time.
    Met {
        /// How long it took.
        elapsed_ms: u64,
    },
    /// Done, but late.
    Missed {
        /// How long it took.
        elapsed_ms: u64,
    },
}

impl Verdict {
    /// True for `Met`.
    pub fn is_met(&self) -> bool {
        matches!(self, Verdict::Met { .. })
    }
}

/// All four verdicts of one ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Small or complex, as judged.
    pub complexity: Complexity,
    /// Taken → on site ≤ 5 min.
    pub on_site: Verdict,
    /// On site → solved ≤ 20 min (small problems).
    pub solved: Verdict,
    /// Taken → plan ≤ 2 days (complex problems).
    pub plan: Verdict,
    /// Plan → answer ≤ 2 days (complex problems).
    pub answer: Verdict,
}

impl Evaluation {
    /// Whether every applicable step met its deadline (`None` while any applicable step is still open).
    pub fn compliant(&self) -> Option<bool> {
        let steps = [self.on_site, self.solved, self.plan, self.answer];
        let mut all_met = true;
        for v in steps {
            match v {
                Verdict::NotApplicable | Verdict::Met { .. } => {}
                Verdict::Missed { .. } | Verdict::Overdue { .. } => all_met = false,
                Verdict::NotStarted | Verdict::Pending { .. } => return None,
            }
        }
        Some(all_met)
    }
}

/// Evaluates a ticket against `policy` as of `now_ms` (the time at which "not done yet" is judged pending or
/// overdue).
pub fn evaluate(ticket: &Ticket, policy: &Policy52022, now_ms: u64) -> Evaluation {
    let first_of = |kinds: &[EventKind], after: u64| {
        ticket
            .timeline()
            .find(|(s, e)| kinds.contains(&e.kind) && s.time.wall_ms >= after)
            .map(|(s, _)| s.time.wall_ms)
    };
    let first = |kind: EventKind, after: u64| first_of(&[kind], after);
    let complexity = ticket.effective_complexity();
    let Some(taken) = first(EventKind::Taken, 0) else {
        let (solved, plan, answer) = match complexity {
            Complexity::Small => (
                Verdict::NotStarted,
                Verdict::NotApplicable,
                Verdict::NotApplicable,
            ),
            Complexity::Complex => (
                Verdict::NotApplicable,
                Verdict::NotStarted,
                Verdict::NotStarted,
            ),
        };
        return Evaluation {
            complexity,
            on_site: Verdict::NotStarted,
            solved,
            plan,
            answer,
        };
    };
    let on_site_at = first(EventKind::OnSite, taken);
    let on_site = step(Some(taken), on_site_at, policy.on_site_ms, now_ms);
    match complexity {
        Complexity::Small => {
            let start = on_site_at.unwrap_or(taken);
            let solved = step(
                Some(start),
                first_of(&[EventKind::Solved, EventKind::AgencyCompleted], start),
                policy.small_solve_ms,
                now_ms,
            );
            Evaluation {
                complexity,
                on_site,
                solved,
                plan: Verdict::NotApplicable,
                answer: Verdict::NotApplicable,
            }
        }
        Complexity::Complex => {
            let plan_at = first_of(&[EventKind::PlanMade, EventKind::Decided], taken);
            let plan = step(Some(taken), plan_at, policy.complex_plan_ms, now_ms);
            let answer = step(
                plan_at,
                plan_at.and_then(|p| first(EventKind::Answered, p)),
                policy.complex_answer_ms,
                now_ms,
            );
            Evaluation {
                complexity,
                on_site,
                solved: Verdict::NotApplicable,
                plan,
                answer,
            }
        }
    }
}

fn step(start: Option<u64>, done: Option<u64>, limit_ms: u64, now_ms: u64) -> Verdict {
    let Some(start) = start else {
        return Verdict::NotStarted;
    };
    let deadline_ms = start.saturating_add(limit_ms);
    match done {
        Some(at) => {
            let elapsed_ms = at - start;
            if elapsed_ms <= limit_ms {
                Verdict::Met { elapsed_ms }
            } else {
                Verdict::Missed { elapsed_ms }
            }
        }
        None if now_ms > deadline_ms => Verdict::Overdue { deadline_ms },
        None => Verdict::Pending { deadline_ms },
    }
}
