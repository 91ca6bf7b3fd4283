//! The review list: work that was accepted because it was within the rights that held when it was written, but that
//! the cell's state no longer explains, so a grid worker should look at it (issue 17).
//!
//! The server judges grid membership and household existence as of an op's stamp, so a visit made offline to a
//! household removed later, or a health-flagged visit and its follow-up ticket by a micro-butler who left the cell
//! while she was offline, are stored and reach every replica of the cell. Nothing in them is wrong, but nobody
//! who was meant to follow them up may still be there: the household is gone from the visit list, the butler no
//! longer sees the cell. This list names them for the grid workers of the cell, as a pure function of the merged
//! state, so the server's report and a grid worker's phone compute the same list from the same ops.
//!
//! What is listed:
//! - a visit to a household no longer in its cell, made in the [`REVIEW_WINDOW_MS`] before the household's removal
//!   or after it (older visits are history: they were seen when they came in; a later one was accepted because
//!   the remove reached the server after it, both people being offline);
//! - a visit by a person who is no longer a member of the cell, made in the window before they left or after;
//! - a ticket, not closed, raised in a cell by a person who was a member there and is no longer: its raiser can no
//!   longer follow it.
//!
//! A visit that was voided is not listed. Nothing here changes the state: the list goes away as the grid worker
//! acts (closes the ticket, voids or keeps the visit, adds the household back).

use serde::{Deserialize, Serialize};

use crate::entry::{EntryStatus, Record};
use crate::grid::{Grid, MemberRole};
use crate::hlc::Stamp;
use crate::ids::{EntryId, GridId, TicketId, UserId};
use crate::state::State;
use crate::ticket::{EventKind, Status};

/// How long before a removal a visit still counts as late work that needs a look: a week, longer than a phone is
/// expected to stay offline.
pub const REVIEW_WINDOW_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Why an item is on the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    /// The visited household was removed from the cell after the visit.
    HouseholdRemoved,
    /// The person who did the work left the cell after doing it.
    AuthorLeftCell,
}

/// What needs a look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Subject {
    /// A door-knock visit.
    Visit(EntryId),
    /// A ticket.
    Ticket(TicketId),
}

/// One item of the review list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// The grid cell whose grid workers should look.
    pub grid: GridId,
    /// The visit or ticket.
    pub subject: Subject,
    /// Why.
    pub reason: ReviewReason,
    /// The stamp of the work (the visit, the ticket's creation).
    pub at: Stamp,
    /// Who did it.
    pub by: UserId,
}

/// Every item of `state`'s review list, ordered by grid cell, then by the time of the work.
pub fn needs_review(state: &State) -> Vec<ReviewItem> {
    let mut out = Vec::new();
    for (id, entry) in state.entries() {
        let Some((at, Record::Visit(v))) = &entry.record else {
            continue;
        };
        if entry.status() == EntryStatus::Void {
            continue;
        }
        let Some(grid) = state.grid(&v.grid) else {
            continue;
        };
        // A visit stamped after the removal was accepted because the remove reached the server later (two people
        // offline at once): it is listed whatever its age.
        let within = |removed: Option<Stamp>| {
            removed
                .is_some_and(|r| r.time.wall_ms.saturating_sub(at.time.wall_ms) <= REVIEW_WINDOW_MS)
        };
        let reason = if within(grid.households.removed_since(&v.household)) {
            ReviewReason::HouseholdRemoved
        } else if within(left_at(grid, v.volunteer)) {
            ReviewReason::AuthorLeftCell
        } else {
            continue;
        };
        out.push(ReviewItem {
            grid: v.grid,
            subject: Subject::Visit(*id),
            reason,
            at: *at,
            by: v.volunteer,
        });
    }
    for (id, ticket) in state.tickets() {
        let Some((at, create)) = &ticket.created else {
            continue;
        };
        if ticket.status() == Status::Closed {
            continue;
        }
        let Some(grid) = state.grid(&create.grid) else {
            continue;
        };
        let Some(by) = ticket
            .timeline()
            .find(|(_, e)| e.kind == EventKind::Created)
            .map(|(_, e)| e.by)
        else {
            continue;
        };
        if left_at(grid, by).is_some() {
            out.push(ReviewItem {
                grid: create.grid,
                subject: Subject::Ticket(*id),
                reason: ReviewReason::AuthorLeftCell,
                at: *at,
                by,
            });
        }
    }
    out.sort_by_key(|i| (i.grid, i.at, i.subject));
    out
}

/// When `user` stopped being a member of `grid` in every role they held there; `None` while they still hold one,
/// or if they never did.
fn left_at(grid: &Grid, user: UserId) -> Option<Stamp> {
    let roles = [MemberRole::Butler, MemberRole::Worker];
    if roles.iter().any(|r| grid.members(*r).contains(&user)) {
        return None;
    }
    roles
        .iter()
        .filter(|r| grid.members(**r).ever_contained(&user))
        .map(|r| grid.members(*r).removed_since(&user))
        .collect::<Option<Vec<Stamp>>>()
        .and_then(|v| v.into_iter().max())
}
