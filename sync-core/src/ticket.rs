//! Tickets (接诉即办): a resident's complaint or request, from intake to answer and rating.
//!
//! Merge rules:
//! - Lifecycle events (taken, on site, solved, …) form a grow-only map keyed by [`Stamp`]: no event is ever lost,
//!   two workers who both mark "on site" offline leave two events, and the status is a fold over the events in
//!   stamp order, hence a deterministic function of the event set.
//! - Editable fields (category, description, complexity) are last-writer-wins registers (`crdts::LWWReg`) whose
//!   marker is the op's [`Stamp`]; the create op writes their first value.
//! - Assignees form an add-wins set ([`AwSet`]); comments are a grow-only map keyed by stamp.
//! - Dispatch to a linked body is a lifecycle event too: the ticket's current agency is the one of the dispatch
//!   with the greatest stamp (a reassignment is a later dispatch), so concurrent dispatches settle on the same
//!   agency everywhere. A council decision is linked by a `Decided` event, which counts as the plan.
//! - Notes, plans, answers and comments are internal unless marked `public`; [`Ticket::public_updates`] is what a
//!   resident may see (the Open311 face), and it never holds an internal note.
//!
//! Why not `crdts::GSet` for events: it offers no borrowing iterator (only `read()`, which clones the whole set),
//! and the status fold reads events on every query. A `BTreeMap<Stamp, _>` that is only ever inserted into is the
//! same grow-only set, iterated in stamp order for free.

use crdts::LWWReg;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::awset::AwSet;
use crate::hlc::Stamp;
use crate::ids::{AgencyId, DecisionId, EntryId, GridId, HouseholdId, OpId, UserId};

/// What the resident asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    /// 咨询: a question.
    Consultation,
    /// 求助: a request for help.
    Help,
    /// 投诉: a complaint.
    Complaint,
    /// 举报: a report of a violation or hazard.
    Report,
    /// 建议: a suggestion.
    Suggestion,
}

/// Where the request came in (recorded on the ticket for reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 收集站: the intake desk.
    Desk,
    /// 连心驿站微信群: the community group chat.
    GroupChat,
    /// Raised during a door-knock visit (possibly automatically, from a health flag).
    Visit,
    /// A phone call to the cooperative.
    Phone,
    /// 12345 or another government hotline, forwarded.
    Hotline,
    /// Spotted by a grid worker on patrol.
    Patrol,
    /// Filed over Open311 GeoReport v2 by a city system or app (the server writes it for the client).
    Open311,
}

/// Small problems are held to the 20-minute rule, complex ones to the 2-day plan and answer rules.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Complexity {
    /// Solvable on the spot.
    #[default]
    Small,
    /// Needs a plan (and often a residents' council or an outside body).
    Complex,
}

/// Where the problem is.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Location {
    /// Building number or name, e.g. "3".
    pub building: String,
    /// Unit (entrance) within the building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The household concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<HouseholdId>,
    /// WGS-84 latitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// WGS-84 longitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// Who raised the ticket.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reporter {
    /// The resident's name as they gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A phone number to answer them on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Their household, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<HouseholdId>,
}

/// Body of `ticket.create`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketCreate {
    /// The grid cell the ticket belongs to (its data scope).
    pub grid: GridId,
    /// Kind of request.
    pub request_type: RequestType,
    /// Free category code, e.g. `water_leak`, `parking`, `dispute` (纠纷调处, reported separately).
    pub category: String,
    /// Small or complex; can be changed later with `ticket.edit`.
    #[serde(default)]
    pub complexity: Complexity,
    /// Where.
    pub location: Location,
    /// What the resident said.
    pub description: String,
    /// How it came in.
    pub channel: Channel,
    /// Who raised it.
    #[serde(default)]
    pub reporter: Reporter,
    /// The door-knock visit that raised it, for follow-up tickets from a health flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_visit: Option<EntryId>,
}

/// Body of `ticket.edit`: only the fields present change.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketEdit {
    /// New category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Re-classification (escalating a small problem to a complex one, or back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<Complexity>,
}

/// Body of lifecycle ops that carry only an optional note.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Note {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The note may be shown to the resident (a public update); internal by default. Absent on the wire when
    /// false, so ops written before it existed keep their bytes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub public: bool,
}

/// Body of the linked-body steps `ticket.dispatch`, `ticket.agency_accept` and `ticket.agency_complete`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyStep {
    /// The linked body.
    pub agency: AgencyId,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The note may be shown to the resident.
    #[serde(default, skip_serializing_if = "is_false")]
    pub public: bool,
}

/// Body of `ticket.rate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// Resident satisfaction, 1 (very unsatisfied) to 5 (very satisfied).
    pub satisfaction: u8,
    /// The resident's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Every op on a ticket. The wire kind is `ticket.<snake_case variant>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", content = "b", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "ops are built one at a time and stored in the state's own structures; boxing the create body would only \
              make every construction site noisier"
)]
pub enum TicketOp {
    /// A new ticket.
    Create(TicketCreate),
    /// Change editable fields.
    Edit(TicketEdit),
    /// Add a handler.
    Assign {
        /// The handler.
        user: UserId,
    },
    /// Remove a handler; `observed` are the assign op ids the remover saw.
    Unassign {
        /// The handler.
        user: UserId,
        /// Assign ops this remove cancels.
        observed: Vec<OpId>,
    },
    /// A comment.
    Comment {
        /// The text.
        text: String,
        /// The comment may be shown to the resident; internal by default.
        #[serde(default, skip_serializing_if = "is_false")]
        public: bool,
    },
    /// 签收: a handler takes the ticket; the 5-minute clock starts.
    Take(Note),
    /// 到场: the handler is on site.
    Arrive(Note),
    /// 解决: the problem is solved.
    Solve(Note),
    /// 方案: a plan for a complex problem.
    Plan(Note),
    /// 答复: the resident has been answered.
    Answer(Note),
    /// 评价: the resident's satisfaction.
    Rate(Rating),
    /// 重办: the resident or an admin reopens it.
    Reopen(Note),
    /// 退单: the handler sends it back to dispatch (wrong grid, not ours).
    SendBack(Note),
    /// 办结: closed.
    Close(Note),
    /// 派单: dispatched to a linked body, or reassigned to another (a later dispatch).
    Dispatch(AgencyStep),
    /// The linked body accepted the ticket (recorded by staff on its behalf).
    AgencyAccept(AgencyStep),
    /// The linked body reports the work done (recorded by staff on its behalf).
    AgencyComplete(AgencyStep),
    /// 议事: linked to a council decision, which is the ticket's plan.
    Decide {
        /// The decision.
        decision: DecisionId,
    },
}

/// A lifecycle event kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Created.
    Created,
    /// Taken by a handler.
    Taken,
    /// Handler on site.
    OnSite,
    /// Solved.
    Solved,
    /// Plan made (complex problems).
    PlanMade,
    /// Resident answered.
    Answered,
    /// Resident rated.
    Rated,
    /// Reopened.
    Reopened,
    /// Sent back to dispatch.
    SentBack,
    /// Closed.
    Closed,
    /// Dispatched to a linked body.
    Dispatched,
    /// Accepted by the linked body.
    AgencyAccepted,
    /// Completed by the linked body.
    AgencyCompleted,
    /// Linked to a council decision (counts as the plan).
    Decided,
}

/// One lifecycle event as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// What happened.
    pub kind: EventKind,
    /// Who did it.
    pub by: UserId,
    /// Satisfaction, for `Rated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<u8>,
    /// Note, plan or answer text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether the note may be shown to the resident.
    #[serde(default, skip_serializing_if = "is_false")]
    pub public: bool,
    /// The linked body, for `Dispatched`, `AgencyAccepted` and `AgencyCompleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<AgencyId>,
    /// The council decision, for `Decided`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionId>,
}

/// A comment as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Author.
    pub by: UserId,
    /// Text.
    pub text: String,
    /// Whether the resident may see it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub public: bool,
}

/// What a public update reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// A lifecycle event.
    Event(EventKind),
    /// A public comment.
    Comment,
}

/// One entry of what a resident may see of their ticket: no author, and text only where it was marked public.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUpdate {
    /// When (the stamp of the op).
    pub stamp: Stamp,
    /// What happened.
    pub kind: UpdateKind,
    /// The linked body, for dispatch steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<AgencyId>,
    /// The public note or comment text; `None` for an event whose note is internal or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The status shown to people: a fold over the events in stamp order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Ops have arrived but the create has not (yet): only possible mid-sync.
    Unknown,
    /// Waiting to be taken.
    Open,
    /// Taken, handler on the way.
    Taken,
    /// Handler on site.
    OnSite,
    /// Complex problem with a plan.
    Planned,
    /// Solved, not yet answered.
    Solved,
    /// Resident answered.
    Answered,
    /// Reopened after an answer or close.
    Reopened,
    /// Sent back to dispatch.
    SentBack,
    /// Closed.
    Closed,
    /// Dispatched to a linked body, not yet accepted by it.
    Dispatched,
    /// Accepted by the linked body, being handled there.
    WithAgency,
}

/// The replicated state of one ticket.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Ticket {
    /// The create op's body and stamp. If two different creates ever carried the same ticket id (only a buggy or
    /// hostile client could do that; the server refuses the second), the smaller stamp wins on every replica.
    pub created: Option<(Stamp, TicketCreate)>,
    /// Current category (LWW).
    pub category: LWWReg<Option<String>, Stamp>,
    /// Current description (LWW).
    pub description: LWWReg<Option<String>, Stamp>,
    /// Current complexity (LWW).
    pub complexity: LWWReg<Option<Complexity>, Stamp>,
    /// Handlers.
    pub assignees: AwSet<UserId>,
    /// Comments in stamp order.
    #[serde(with = "crate::pairs")]
    pub comments: BTreeMap<Stamp, Comment>,
    /// Lifecycle events in stamp order.
    #[serde(with = "crate::pairs")]
    pub events: BTreeMap<Stamp, TicketEvent>,
}

impl TicketOp {
    /// The lifecycle event this op records, if it is a lifecycle op.
    pub fn event_kind(&self) -> Option<EventKind> {
        Some(match self {
            TicketOp::Create(_) => EventKind::Created,
            TicketOp::Take(_) => EventKind::Taken,
            TicketOp::Arrive(_) => EventKind::OnSite,
            TicketOp::Solve(_) => EventKind::Solved,
            TicketOp::Plan(_) => EventKind::PlanMade,
            TicketOp::Answer(_) => EventKind::Answered,
            TicketOp::Rate(_) => EventKind::Rated,
            TicketOp::Reopen(_) => EventKind::Reopened,
            TicketOp::SendBack(_) => EventKind::SentBack,
            TicketOp::Close(_) => EventKind::Closed,
            TicketOp::Dispatch(_) => EventKind::Dispatched,
            TicketOp::AgencyAccept(_) => EventKind::AgencyAccepted,
            TicketOp::AgencyComplete(_) => EventKind::AgencyCompleted,
            TicketOp::Decide { .. } => EventKind::Decided,
            TicketOp::Edit(_)
            | TicketOp::Assign { .. }
            | TicketOp::Unassign { .. }
            | TicketOp::Comment { .. } => return None,
        })
    }
}

impl Ticket {
    /// Applies one op. Never fails: validation happens before (see `State::validate_op`).
    pub fn apply(&mut self, stamp: Stamp, by: UserId, op: &TicketOp) {
        if let Some(kind) = op.event_kind() {
            let mut event = TicketEvent {
                kind,
                by,
                satisfaction: None,
                note: None,
                public: false,
                agency: None,
                decision: None,
            };
            match op {
                TicketOp::Rate(r) => {
                    event.satisfaction = Some(r.satisfaction);
                    event.note = r.note.clone();
                }
                TicketOp::Take(n)
                | TicketOp::Arrive(n)
                | TicketOp::Solve(n)
                | TicketOp::Plan(n)
                | TicketOp::Answer(n)
                | TicketOp::Reopen(n)
                | TicketOp::SendBack(n)
                | TicketOp::Close(n) => {
                    event.note = n.note.clone();
                    event.public = n.public;
                }
                TicketOp::Dispatch(a) | TicketOp::AgencyAccept(a) | TicketOp::AgencyComplete(a) => {
                    event.note = a.note.clone();
                    event.public = a.public;
                    event.agency = Some(a.agency);
                }
                TicketOp::Decide { decision } => event.decision = Some(*decision),
                _ => {}
            }
            self.events.insert(stamp, event);
        }
        match op {
            TicketOp::Create(c) => {
                let replace = match &self.created {
                    Some((s, _)) => stamp < *s,
                    None => true,
                };
                if replace {
                    self.created = Some((stamp, c.clone()));
                }
                self.category.update(Some(c.category.clone()), stamp);
                self.description.update(Some(c.description.clone()), stamp);
                self.complexity.update(Some(c.complexity), stamp);
            }
            TicketOp::Edit(e) => {
                if let Some(c) = &e.category {
                    self.category.update(Some(c.clone()), stamp);
                }
                if let Some(d) = &e.description {
                    self.description.update(Some(d.clone()), stamp);
                }
                if let Some(c) = e.complexity {
                    self.complexity.update(Some(c), stamp);
                }
            }
            TicketOp::Assign { user } => self.assignees.add(*user, stamp.op),
            TicketOp::Unassign { observed, .. } => self.assignees.remove(stamp, observed),
            TicketOp::Comment { text, public } => {
                self.comments.insert(
                    stamp,
                    Comment {
                        by,
                        text: text.clone(),
                        public: *public,
                    },
                );
            }
            _ => {}
        }
    }

    /// State-based merge (used when a device merges a server snapshot).
    pub fn merge(&mut self, other: Ticket) {
        if let Some((s, c)) = other.created {
            let replace = match &self.created {
                Some((mine, _)) => s < *mine,
                None => true,
            };
            if replace {
                self.created = Some((s, c));
            }
        }
        self.category
            .update(other.category.val, other.category.marker);
        self.description
            .update(other.description.val, other.description.marker);
        self.complexity
            .update(other.complexity.val, other.complexity.marker);
        self.assignees.merge(other.assignees);
        self.comments.extend(other.comments);
        self.events.extend(other.events);
    }

    /// The grid cell, once the create op is known.
    pub fn grid(&self) -> Option<GridId> {
        self.created.as_ref().map(|(_, c)| c.grid)
    }

    /// The effective complexity: as classified, and complex in any case once a plan was made (or a council
    /// decided it).
    pub fn effective_complexity(&self) -> Complexity {
        if self
            .events
            .values()
            .any(|e| matches!(e.kind, EventKind::PlanMade | EventKind::Decided))
        {
            Complexity::Complex
        } else {
            self.complexity.val.unwrap_or_default()
        }
    }

    /// The status: a fold over the events in stamp order.
    pub fn status(&self) -> Status {
        self.events
            .values()
            .fold(Status::Unknown, |status, e| match e.kind {
                EventKind::Created => Status::Open,
                EventKind::Taken => Status::Taken,
                EventKind::OnSite => Status::OnSite,
                EventKind::PlanMade | EventKind::Decided => Status::Planned,
                EventKind::Dispatched => Status::Dispatched,
                EventKind::AgencyAccepted => Status::WithAgency,
                EventKind::AgencyCompleted => Status::Solved,
                EventKind::Solved => Status::Solved,
                EventKind::Answered => Status::Answered,
                EventKind::Rated => status,
                EventKind::Reopened => Status::Reopened,
                EventKind::SentBack => Status::SentBack,
                EventKind::Closed => Status::Closed,
            })
    }

    /// The latest satisfaction rating.
    pub fn satisfaction(&self) -> Option<u8> {
        self.events
            .values()
            .rev()
            .find(|e| e.kind == EventKind::Rated)
            .and_then(|e| e.satisfaction)
    }

    /// The events in stamp order with their stamps.
    pub fn timeline(&self) -> impl Iterator<Item = (&Stamp, &TicketEvent)> {
        self.events.iter()
    }

    /// The linked body the ticket is dispatched to: the one of the dispatch with the greatest stamp.
    pub fn agency(&self) -> Option<AgencyId> {
        self.events
            .values()
            .rev()
            .find(|e| e.kind == EventKind::Dispatched)
            .and_then(|e| e.agency)
    }

    /// [`Ticket::agency`] as of `at`: the agency of the latest dispatch stamped before it.
    pub fn agency_at(&self, at: Stamp) -> Option<AgencyId> {
        self.events
            .range(..at)
            .rev()
            .find(|(_, e)| e.kind == EventKind::Dispatched)
            .and_then(|(_, e)| e.agency)
    }

    /// Whether the ticket was dispatched to `agency` by an op stamped before `at` (among those this state holds).
    pub fn dispatched_before(&self, agency: AgencyId, at: Stamp) -> bool {
        self.events
            .range(..at)
            .any(|(_, e)| e.kind == EventKind::Dispatched && e.agency == Some(agency))
    }

    /// The council decisions linked to the ticket, in stamp order.
    pub fn decisions(&self) -> impl Iterator<Item = DecisionId> + '_ {
        self.events.values().filter_map(|e| e.decision)
    }

    /// What the resident may see, in stamp order: every lifecycle event (its kind, stamp and linked body) with its
    /// note only when that was marked public, and the public comments. Internal notes and comments never appear,
    /// nor does who did what.
    pub fn public_updates(&self) -> Vec<PublicUpdate> {
        let events = self.events.iter().map(|(stamp, e)| PublicUpdate {
            stamp: *stamp,
            kind: UpdateKind::Event(e.kind),
            agency: e.agency,
            text: e.note.clone().filter(|_| e.public),
        });
        let comments = self
            .comments
            .iter()
            .filter(|(_, c)| c.public)
            .map(|(stamp, c)| PublicUpdate {
                stamp: *stamp,
                kind: UpdateKind::Comment,
                agency: None,
                text: Some(c.text.clone()),
            });
        let mut all: Vec<PublicUpdate> = events.chain(comments).collect();
        all.sort_by_key(|u| u.stamp);
        all
    }
}

/// Whether a lifecycle op makes sense from `status`. This is a guard for the *local* writer (a phone's UI must
/// not let a handler solve a closed ticket); it is deliberately not enforced on merge or by the server, because two
/// offline handlers may both act on what each saw as an open ticket, and both events must survive.
pub fn transition_allowed(status: Status, op: &TicketOp) -> bool {
    use Status as S;
    match op {
        TicketOp::Create(_) => status == S::Unknown,
        TicketOp::Take(_) => matches!(status, S::Open | S::Reopened | S::SentBack),
        TicketOp::Arrive(_) => matches!(status, S::Taken),
        TicketOp::Plan(_) => matches!(status, S::Taken | S::OnSite),
        TicketOp::Solve(_) => matches!(status, S::Taken | S::OnSite | S::Planned),
        TicketOp::Answer(_) => matches!(status, S::Solved | S::Planned),
        TicketOp::Rate(_) => matches!(status, S::Answered | S::Closed),
        TicketOp::Reopen(_) => matches!(status, S::Solved | S::Answered | S::Closed),
        TicketOp::SendBack(_) => matches!(status, S::Open | S::Taken | S::Reopened),
        TicketOp::Close(_) => !matches!(status, S::Unknown | S::Closed),
        TicketOp::Dispatch(_) => matches!(
            status,
            S::Open
                | S::Taken
                | S::OnSite
                | S::Reopened
                | S::SentBack
                | S::Dispatched
                | S::WithAgency
                | S::Planned
        ),
        TicketOp::AgencyAccept(_) => matches!(status, S::Dispatched),
        TicketOp::AgencyComplete(_) => matches!(status, S::Dispatched | S::WithAgency),
        TicketOp::Decide { .. } => {
            matches!(status, S::Taken | S::OnSite | S::Dispatched | S::WithAgency)
        }
        TicketOp::Edit(_)
        | TicketOp::Assign { .. }
        | TicketOp::Unassign { .. }
        | TicketOp::Comment { .. } => status != S::Unknown,
    }
}

/// For `skip_serializing_if`: flags that are false are left out of the wire form.
#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
