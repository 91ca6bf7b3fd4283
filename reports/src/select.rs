//! The facts every ticket report needs, computed once per ticket: when it was created and taken, by whom, its
//! 5-20-2-2 evaluation, and its outcome.

use linli_sync_core::ids::{GridId, TicketId, UserId};
use linli_sync_core::rule52022::{Evaluation, evaluate};
use linli_sync_core::state::State;
use linli_sync_core::ticket::{Channel, EventKind, RequestType, Status, Ticket};

use crate::policy::{Filter, ReportPolicy};

/// What the reports know about one ticket.
#[derive(Debug)]
pub(crate) struct Facts {
    pub id: TicketId,
    pub grid: GridId,
    pub created_ms: u64,
    /// The user who first took it: the ticket's handler in reports.
    pub handler: Option<UserId>,
    pub taken_ms: Option<u64>,
    pub category: String,
    pub request_type: RequestType,
    pub channel: Channel,
    pub status: Status,
    pub eval: Evaluation,
    pub satisfaction: Option<u8>,
    pub reopened: bool,
    pub sent_back: bool,
    pub solved: bool,
}

impl Facts {
    /// Resolved (解决): solved, and not reopened or sent back since.
    pub fn resolved(&self) -> bool {
        self.solved
            && matches!(
                self.status,
                Status::Solved | Status::Answered | Status::Closed
            )
    }

    /// Whether acceptance is decided at `as_of_ms`, and if so whether it was timely.
    pub fn timely_acceptance(&self, policy: &ReportPolicy, as_of_ms: u64) -> Option<bool> {
        let deadline = self.created_ms.saturating_add(policy.accept_ms);
        match self.taken_ms {
            Some(t) => Some(t <= deadline),
            None if as_of_ms > deadline => Some(false),
            None => None,
        }
    }
}

/// The tickets created in the filter's range and grid cells, with their facts, in ticket-id order.
pub(crate) fn tickets(
    state: &State,
    filter: &Filter,
    policy: &ReportPolicy,
    as_of_ms: u64,
) -> Vec<Facts> {
    state
        .tickets()
        .iter()
        // Range and scope first: they need only the create op, while the facts evaluate every event.
        .filter(|(_, t)| {
            t.created.as_ref().is_some_and(|(stamp, c)| {
                filter.covers(stamp.time.wall_ms) && filter.includes(&c.grid)
            })
        })
        .filter_map(|(id, t)| facts(*id, t, policy, as_of_ms))
        .collect()
}

fn facts(id: TicketId, t: &Ticket, policy: &ReportPolicy, as_of_ms: u64) -> Option<Facts> {
    let (stamp, create) = t.created.as_ref()?;
    let first = |kind: EventKind| t.timeline().find(|(_, e)| e.kind == kind);
    let taken = first(EventKind::Taken);
    let has = |kind: EventKind| t.timeline().any(|(_, e)| e.kind == kind);
    Some(Facts {
        id,

        grid: create.grid,
        created_ms: stamp.time.wall_ms,
        handler: taken.map(|(_, e)| e.by),
        taken_ms: taken.map(|(s, _)| s.time.wall_ms),
        category: t
            .category
            .val
            .clone()
            .unwrap_or_else(|| create.category.clone()),
        request_type: create.request_type,
        channel: create.channel,
        status: t.status(),
        eval: evaluate(t, &policy.rule52022, as_of_ms),
        satisfaction: t.satisfaction(),
        reopened: has(EventKind::Reopened),
        sent_back: has(EventKind::SentBack),
        // A linked body's completion solves the ticket as the handler's own solve does.
        solved: has(EventKind::Solved) || has(EventKind::AgencyCompleted),
    })
}

/// The wire name of a unit enum value (`"complaint"`, `"group_chat"`, …).
pub(crate) fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}
