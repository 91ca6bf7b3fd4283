//! Volunteer log entries: door-knock visits (敲门行动) and service activities, with their approval.
//!
//! Merge rules: the record itself is immutable (written once by the volunteer's device; if two different records
//! ever carried one id, the smaller stamp wins everywhere). Approval, rejection and void are decisions in a
//! grow-only map keyed by stamp, and the status is a deterministic function of that set: **approval wins**. Once
//! any approval exists the entry is approved, whatever rejections or voids were made concurrently, so hours that a
//! grid worker approved (and that may already have been credited to the green energy card and redeemed) are never
//! silently taken back. A mistaken approval is corrected by an explicit card movement, not by a merge.
//! Two concurrent approvals are two decisions but one approval: the hours count once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::hlc::Stamp;
use crate::ids::{GridId, HouseholdId, TicketId, UserId};

/// A health concern seen on a visit. Any flag raises a follow-up ticket in the same local write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthFlag {
    /// Feels unwell.
    Unwell,
    /// Has fallen or is injured.
    Fall,
    /// Needs a doctor or an ambulance now.
    Emergency,
    /// Anything else worth a follow-up.
    Other,
}

/// A need noted on a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// Groceries.
    Groceries,
    /// Meals.
    Meals,
    /// Medicine.
    Medicine,
    /// A repair in the flat.
    Repair,
    /// Company, a chat.
    Company,
    /// Something else (see notes).
    Other,
}

/// Body of `entry.visit`: one door-knock visit. The visit time is the op's HLC time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// The micro-butler.
    pub volunteer: UserId,
    /// The grid cell of the household.
    pub grid: GridId,
    /// The household visited.
    pub household: HouseholdId,
    /// Whether the resident was seen (a visit with nobody answering still counts as a visit, and is reported).
    pub seen: bool,
    /// Health concern, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthFlag>,
    /// Needs noted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<Need>,
    /// Free notes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// The follow-up ticket raised with this visit (set when `health` is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<TicketId>,
}

/// Body of `entry.activity`: a stretch of volunteer service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// The volunteer.
    pub volunteer: UserId,
    /// Where the service was given.
    pub grid: GridId,
    /// Kind of service, e.g. `patrol`, `cleaning`, `escort`, `mediation`.
    pub activity: String,
    /// Start, wall ms.
    pub start_ms: u64,
    /// End, wall ms; after the start, at most 24 hours later.
    pub end_ms: u64,
    /// Free notes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

impl Activity {
    /// Length in whole minutes (rounded down).
    pub fn minutes(&self) -> u32 {
        // end - start is validated to be at most one day, so the cast cannot truncate.
        (self.end_ms.saturating_sub(self.start_ms) / 60_000) as u32
    }
}

/// Body of approve, reject and void.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reason {
    /// Why (required for reject and void).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every op on a log entry. The wire kind is `entry.<snake_case variant>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", content = "b", rename_all = "snake_case")]
pub enum EntryOp {
    /// Record a door-knock visit.
    Visit(Visit),
    /// Record a service activity.
    Activity(Activity),
    /// Approve an activity's hours (grid worker or admin).
    Approve(Reason),
    /// Reject it.
    Reject(Reason),
    /// Withdraw it (the volunteer, or an admin).
    Void(Reason),
}

/// The record of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// A visit.
    Visit(Visit),
    /// An activity.
    Activity(Activity),
}

impl Record {
    /// The volunteer who did it.
    pub fn volunteer(&self) -> UserId {
        match self {
            Record::Visit(v) => v.volunteer,
            Record::Activity(a) => a.volunteer,
        }
    }

    /// The grid cell.
    pub fn grid(&self) -> GridId {
        match self {
            Record::Visit(v) => v.grid,
            Record::Activity(a) => a.grid,
        }
    }
}

/// Kind of decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Approved.
    Approve,
    /// Rejected.
    Reject,
    /// Voided.
    Void,
}

/// A decision as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Which.
    pub kind: DecisionKind,
    /// By whom.
    pub by: UserId,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where an entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// Decisions arrived before the record (mid-sync only).
    Unknown,
    /// A visit: needs no approval.
    Recorded,
    /// An activity awaiting a decision.
    Pending,
    /// Approved: its hours count.
    Approved,
    /// Rejected.
    Rejected,
    /// Withdrawn.
    Void,
}

/// The replicated state of one entry.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Entry {
    /// The record and the stamp of its op.
    pub record: Option<(Stamp, Record)>,
    /// Decisions in stamp order.
    #[serde(with = "crate::pairs")]
    pub decisions: BTreeMap<Stamp, Decision>,
}

impl Entry {
    /// Applies one op. Never fails.
    pub fn apply(&mut self, stamp: Stamp, by: UserId, op: &EntryOp) {
        let (kind, reason) = match op {
            EntryOp::Visit(v) => return self.set_record(stamp, Record::Visit(v.clone())),
            EntryOp::Activity(a) => return self.set_record(stamp, Record::Activity(a.clone())),
            EntryOp::Approve(r) => (DecisionKind::Approve, r.reason.clone()),
            EntryOp::Reject(r) => (DecisionKind::Reject, r.reason.clone()),
            EntryOp::Void(r) => (DecisionKind::Void, r.reason.clone()),
        };
        self.decisions.insert(stamp, Decision { kind, by, reason });
    }

    fn set_record(&mut self, stamp: Stamp, record: Record) {
        let replace = match &self.record {
            Some((s, _)) => stamp < *s,
            None => true,
        };
        if replace {
            self.record = Some((stamp, record));
        }
    }

    /// State-based merge.
    pub fn merge(&mut self, other: Entry) {
        if let Some((s, r)) = other.record {
            self.set_record(s, r);
        }
        self.decisions.extend(other.decisions);
    }

    /// The status, a deterministic function of the record and the decision set (approval wins).
    pub fn status(&self) -> EntryStatus {
        let Some((_, record)) = &self.record else {
            return EntryStatus::Unknown;
        };
        let has = |k: DecisionKind| self.decisions.values().any(|d| d.kind == k);
        match record {
            Record::Visit(_) if has(DecisionKind::Void) => EntryStatus::Void,
            Record::Visit(_) => EntryStatus::Recorded,
            Record::Activity(_) if has(DecisionKind::Approve) => EntryStatus::Approved,
            Record::Activity(_) if has(DecisionKind::Void) => EntryStatus::Void,
            Record::Activity(_) if has(DecisionKind::Reject) => EntryStatus::Rejected,
            Record::Activity(_) => EntryStatus::Pending,
        }
    }

    /// Approved minutes: the activity's length once approved, else 0. Counted once however many approvals.
    pub fn approved_minutes(&self) -> u32 {
        match (&self.record, self.status()) {
            (Some((_, Record::Activity(a))), EntryStatus::Approved) => a.minutes(),
            _ => 0,
        }
    }

    /// The first approval (in stamp order), which the card credit refers to.
    pub fn first_approval(&self) -> Option<(&Stamp, &Decision)> {
        self.decisions
            .iter()
            .find(|(_, d)| d.kind == DecisionKind::Approve)
    }
}
