//! A replica's whole state: every ticket, grid cell, log entry and card it holds, and the community's linked
//! bodies, council decisions and routing rules, with the one `apply` path that local writes and remote ops both go
//! through, and the validation that guards it.
//!
//! `State` implements the `crdts` crate's `CmRDT` (validate an op, then apply it infallibly) and `CvRDT`
//! (state merge, used when a device merges a server snapshot). Applying is commutative and idempotent for every op,
//! so replicas that have seen the same set of ops are equal whatever the order, duplication or batching of
//! delivery. Validation is separate and never runs during merge: it is what a writer (the phone library) and the
//! server check before an op is stored.

use crdts::{CmRDT, CvRDT};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::convert::Infallible;

use crate::agency::{Agency, AgencyOp};
use crate::card::{Card, CardOp, CardPolicy, Points, Purpose};
use crate::decision::{Decision, DecisionOp, valid_date};
use crate::entry::{Entry, EntryOp, EntryStatus, Record};
use crate::error::OpError;
use crate::grid::{Grid, GridOp};
use crate::hlc::DriftPolicy;
use crate::ids::{
    AgencyId, DecisionId, EntryId, GridId, OpId, ReplicaId, RouteId, TicketId, UserId,
};
use crate::op::{Op, OpBody};
use crate::route::{Handler, Route, RouteOp};
use crate::rule52022::Policy52022;
use crate::ticket::{Ticket, TicketOp, transition_allowed};

/// The policies every replica of a deployment must share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// How far ahead of the receiver's clock an op's time may be.
    pub drift: DriftPolicy,
    /// Points per approved hour.
    pub card: CardPolicy,
    /// The 5-20-2-2 deadlines.
    pub rule52022: Policy52022,
    /// Longest accepted free text, in characters.
    pub max_text_chars: usize,
}

impl Rules {
    /// The defaults documented in `docs/protocol.md`.
    pub const DEFAULT: Rules = Rules {
        drift: DriftPolicy::DEFAULT,
        card: CardPolicy::DEFAULT,
        rule52022: Policy52022::STANDARD,
        max_text_chars: 4000,
    };
}

impl Default for Rules {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The longest a single service activity may last.
pub const MAX_ACTIVITY_MS: u64 = 24 * 60 * 60 * 1000;

/// Everything a replica holds.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct State {
    rules: Rules,
    tickets: BTreeMap<TicketId, Ticket>,
    grids: BTreeMap<GridId, Grid>,
    entries: BTreeMap<EntryId, Entry>,
    cards: BTreeMap<UserId, Card>,
    // Absent from a snapshot written before issue 13: a phone bootstrapping from an older server reads it as empty.
    #[serde(default)]
    agencies: BTreeMap<AgencyId, Agency>,
    #[serde(default)]
    decisions: BTreeMap<DecisionId, Decision>,
    #[serde(default)]
    routes: BTreeMap<RouteId, Route>,
}

/// Who is responsible for a ticket now ([`State::handler_of`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Responsible {
    /// The ticket's assignees (never empty).
    Users(Vec<UserId>),
    /// The linked body it is dispatched to.
    Agency(AgencyId),
    /// Nobody was assigned or dispatched: the routing rule for its category and grid cell.
    Routed(Handler),
    /// No assignee, no dispatch, no rule.
    Nobody,
}

impl State {
    /// An empty replica state under `rules`.
    pub fn new(rules: Rules) -> Self {
        State {
            rules,
            ..State::default()
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Applies an op. Infallible, commutative and idempotent.
    pub fn apply(&mut self, op: &Op) {
        let stamp = op.stamp();
        match &op.body {
            OpBody::Ticket(id, t) => self
                .tickets
                .entry(*id)
                .or_default()
                .apply(stamp, op.author, t),
            OpBody::Grid(id, g) => self.grids.entry(*id).or_default().apply(stamp, g),
            OpBody::Entry(id, e) => self
                .entries
                .entry(*id)
                .or_default()
                .apply(stamp, op.author, e),
            OpBody::Card(id, c) => self
                .cards
                .entry(*id)
                .or_default()
                .apply(stamp, op.replica, op.author, c),
            OpBody::Agency(id, a) => self.agencies.entry(*id).or_default().apply(stamp, a),
            OpBody::Decision(id, d) => self.decisions.entry(*id).or_default().apply(stamp, d),
            OpBody::Route(id, r) => self.routes.entry(*id).or_default().apply(stamp, r),
        }
    }

    /// Checks the rules an op must keep to be stored: well-formed fields, a known target entity (a household as of
    /// the op's stamp), and for card spends the issuer's rights and sequence. It deliberately does not check
    /// lifecycle order (see [`State::validate_local`]) or who may do what (see [`crate::rights`]).
    pub fn validate_op(&self, op: &Op) -> Result<(), OpError> {
        match &op.body {
            OpBody::Ticket(id, t) => self.validate_ticket(op, *id, t),
            OpBody::Grid(id, g) => self.validate_grid(op, *id, g),
            OpBody::Entry(id, e) => self.validate_entry(op, *id, e),
            OpBody::Card(id, c) => self.validate_card(op, *id, c),
            OpBody::Agency(id, a) => self.validate_agency(op, *id, a),
            OpBody::Decision(id, d) => self.validate_decision(op, *id, d),
            OpBody::Route(_, r) => self.validate_route(r),
        }
    }

    /// What a writer checks before recording an op of its own: [`State::validate_op`], that a visited household
    /// is in its cell now (not only as of the op's stamp), and that a lifecycle step follows from the status this
    /// replica sees (no solving a closed ticket, no approving an approved entry).
    pub fn validate_local(&self, op: &Op) -> Result<(), OpError> {
        self.validate_op(op)?;
        // A household is judged as of everything this replica holds, not as of the op's stamp: a device that has
        // seen the removal does not write to the household, whatever its clock says (see `rights::authorize_local`).
        let household = match &op.body {
            OpBody::Entry(_, EntryOp::Visit(v)) => Some((v.grid, v.household)),
            OpBody::Grid(grid, GridOp::AssignVisit { household, .. }) => Some((*grid, *household)),
            _ => None,
        };
        if let Some((grid, household)) = household
            && !self
                .grids
                .get(&grid)
                .is_some_and(|g| g.households.contains(&household))
        {
            return Err(unknown("household", household));
        }
        match &op.body {
            OpBody::Ticket(id, t) => {
                let status = self.tickets.get(id).map(Ticket::status);
                let status = status.unwrap_or(crate::ticket::Status::Unknown);
                if !transition_allowed(status, t) {
                    return Err(OpError::InvalidTransition {
                        kind: op.kind(),
                        entity: "ticket",
                        status: format!("{status:?}").to_lowercase(),
                    });
                }
            }
            OpBody::Entry(id, e) if !matches!(e, EntryOp::Visit(_) | EntryOp::Activity(_)) => {
                let status = self
                    .entries
                    .get(id)
                    .map_or(EntryStatus::Unknown, Entry::status);
                let allowed = match e {
                    EntryOp::Approve(_) | EntryOp::Reject(_) => {
                        matches!(status, EntryStatus::Pending | EntryStatus::Rejected)
                    }
                    _ => matches!(status, EntryStatus::Pending | EntryStatus::Recorded),
                };
                if !allowed {
                    return Err(OpError::InvalidTransition {
                        kind: op.kind(),
                        entity: "entry",
                        status: format!("{status:?}").to_lowercase(),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn text(&self, field: &'static str, value: &str, required: bool) -> Result<(), OpError> {
        if required && value.trim().is_empty() {
            return Err(invalid(field, "must not be empty"));
        }
        let chars = value.chars().count();
        if chars > self.rules.max_text_chars {
            return Err(invalid(
                field,
                format!(
                    "{chars} characters; at most {} accepted",
                    self.rules.max_text_chars
                ),
            ));
        }
        Ok(())
    }

    fn opt_text(&self, field: &'static str, value: &Option<String>) -> Result<(), OpError> {
        value
            .as_deref()
            .map_or(Ok(()), |v| self.text(field, v, false))
    }

    fn validate_ticket(&self, op: &Op, id: TicketId, t: &TicketOp) -> Result<(), OpError> {
        let existing = self.tickets.get(&id).and_then(|t| t.created.as_ref());
        if let TicketOp::Create(c) = t {
            if let Some((stamp, _)) = existing
                && stamp.op != op.id
            {
                return Err(OpError::AlreadyExists {
                    entity: "ticket",
                    id: id.to_string(),
                });
            }
            if self.grids.get(&c.grid).is_none_or(|g| g.created.is_none()) {
                return Err(unknown("grid", c.grid));
            }
            self.text("category", &c.category, true)?;
            self.text("description", &c.description, true)?;
            self.text("location.building", &c.location.building, false)?;
            self.opt_text("location.unit", &c.location.unit)?;
            if let Some(lat) = c.location.lat
                && !(-90.0..=90.0).contains(&lat)
            {
                return Err(invalid("location.lat", "must be within -90..=90"));
            }
            if let Some(lon) = c.location.lon
                && !(-180.0..=180.0).contains(&lon)
            {
                return Err(invalid("location.lon", "must be within -180..=180"));
            }
            self.opt_text("reporter.name", &c.reporter.name)?;
            self.opt_text("reporter.phone", &c.reporter.phone)?;
            return Ok(());
        }
        if existing.is_none() {
            return Err(unknown("ticket", id));
        }
        match t {
            TicketOp::Edit(e) => {
                if e.category.is_none() && e.description.is_none() && e.complexity.is_none() {
                    return Err(invalid("body", "an edit must change at least one field"));
                }
                if let Some(c) = &e.category {
                    self.text("category", c, true)?;
                }
                if let Some(d) = &e.description {
                    self.text("description", d, true)?;
                }
            }
            TicketOp::Unassign { observed, .. } if observed.is_empty() => {
                return Err(invalid("observed", "must name the assign ops being undone"));
            }
            TicketOp::Comment { text, .. } => self.text("text", text, true)?,
            TicketOp::Rate(r) => {
                if !(1..=5).contains(&r.satisfaction) {
                    return Err(invalid("satisfaction", "must be 1 to 5"));
                }
                self.opt_text("note", &r.note)?;
            }
            TicketOp::Plan(n) | TicketOp::Answer(n) => match &n.note {
                Some(text) => self.text("note", text, true)?,
                None => return Err(invalid("note", "a plan or answer must say what it is")),
            },
            TicketOp::Take(n)
            | TicketOp::Arrive(n)
            | TicketOp::Solve(n)
            | TicketOp::Reopen(n)
            | TicketOp::SendBack(n)
            | TicketOp::Close(n) => self.opt_text("note", &n.note)?,
            TicketOp::Dispatch(a) => {
                self.known_agency(a.agency)?;
                self.opt_text("note", &a.note)?;
            }
            // The body named must have been dispatched the ticket before the op's stamp. Not "the ticket's body
            // as of the stamp": a phone that has not yet seen a reassignment records the first body's acceptance
            // offline, stamped after the reassignment; judged against the ticket's body at its stamp it would be
            // refused when the reassignment reached the server first and stored when it came second, and the
            // refusal would hold back the phone's whole batch (review of issue 13). The agencies report attributes
            // the step to the body it names.
            TicketOp::AgencyAccept(a) | TicketOp::AgencyComplete(a) => {
                self.known_agency(a.agency)?;
                let dispatched = self
                    .tickets
                    .get(&id)
                    .is_some_and(|t| t.dispatched_before(a.agency, op.stamp()));
                if !dispatched {
                    return Err(invalid(
                        "agency",
                        "is not a linked body the ticket was dispatched to",
                    ));
                }
                self.opt_text("note", &a.note)?;
            }
            TicketOp::Decide { decision } => {
                if !self.decisions.get(decision).is_some_and(Decision::exists) {
                    return Err(unknown("decision", decision));
                }
            }
            TicketOp::Create(_) | TicketOp::Assign { .. } | TicketOp::Unassign { .. } => {}
        }
        Ok(())
    }

    fn known_agency(&self, id: AgencyId) -> Result<(), OpError> {
        if self.agencies.get(&id).is_some_and(Agency::exists) {
            Ok(())
        } else {
            Err(unknown("agency", id))
        }
    }

    fn categories(&self, categories: &[String]) -> Result<(), OpError> {
        categories
            .iter()
            .try_for_each(|c| self.text("categories", c, true))
    }

    fn validate_agency(&self, op: &Op, id: AgencyId, a: &AgencyOp) -> Result<(), OpError> {
        let created = self.agencies.get(&id).and_then(|a| a.created);
        match a {
            AgencyOp::Create(c) => {
                if let Some(stamp) = created
                    && stamp.op != op.id
                {
                    return Err(OpError::AlreadyExists {
                        entity: "agency",
                        id: id.to_string(),
                    });
                }
                self.text("name", &c.name, true)?;
                self.text("contact_role", &c.contact_role, true)?;
                self.categories(&c.categories)
            }
            AgencyOp::Edit(e) => {
                if created.is_none() {
                    return Err(unknown("agency", id));
                }
                if e.is_empty() {
                    return Err(invalid("body", "an edit must change at least one field"));
                }
                if let Some(n) = &e.name {
                    self.text("name", n, true)?;
                }
                if let Some(r) = &e.contact_role {
                    self.text("contact_role", r, true)?;
                }
                e.categories
                    .as_deref()
                    .map_or(Ok(()), |c| self.categories(c))
            }
        }
    }

    fn validate_decision(&self, op: &Op, id: DecisionId, d: &DecisionOp) -> Result<(), OpError> {
        let recorded = self.decisions.get(&id).and_then(|d| d.recorded);
        let date = |d: &str| {
            if valid_date(d) {
                Ok(())
            } else {
                Err(invalid("date", "must be a calendar day written YYYY-MM-DD"))
            }
        };
        match d {
            DecisionOp::Record(r) => {
                if let Some((stamp, _)) = recorded
                    && stamp.op != op.id
                {
                    return Err(OpError::AlreadyExists {
                        entity: "decision",
                        id: id.to_string(),
                    });
                }
                date(&r.date)?;
                self.text("council_name", &r.council_name, true)?;
                self.text("text", &r.text, true)
            }
            DecisionOp::Edit(e) => {
                if recorded.is_none() {
                    return Err(unknown("decision", id));
                }
                if e.is_empty() {
                    return Err(invalid("body", "an edit must change at least one field"));
                }
                e.date.as_deref().map_or(Ok(()), date)?;
                if let Some(n) = &e.council_name {
                    self.text("council_name", n, true)?;
                }
                e.text
                    .as_deref()
                    .map_or(Ok(()), |t| self.text("text", t, true))
            }
        }
    }

    fn validate_route(&self, r: &RouteOp) -> Result<(), OpError> {
        let RouteOp::Set(set) = r;
        self.text("category", &set.category, true)?;
        if let Some(grid) = set.grid
            && self.grids.get(&grid).is_none_or(|g| g.created.is_none())
        {
            return Err(unknown("grid", grid));
        }
        match set.to {
            Some(Handler::Agency(a)) => self.known_agency(a),
            Some(Handler::User(_)) | None => Ok(()),
        }
    }

    fn validate_grid(&self, op: &Op, id: GridId, g: &GridOp) -> Result<(), OpError> {
        let grid = self.grids.get(&id).filter(|g| g.created.is_some());
        if let GridOp::Create { name, community } = g {
            if let Some(stamp) = grid.and_then(|g| g.created)
                && stamp.op != op.id
            {
                return Err(OpError::AlreadyExists {
                    entity: "grid",
                    id: id.to_string(),
                });
            }
            self.text("name", name, true)?;
            return self.text("community", community, true);
        }
        let Some(grid) = grid else {
            return Err(unknown("grid", id));
        };
        match g {
            GridOp::Rename { name } => self.text("name", name, true)?,
            GridOp::AddHousehold { details, .. } => {
                self.text("building", &details.building, true)?;
                self.text("unit", &details.unit, false)?;
                self.text("room", &details.room, true)?;
                self.opt_text("contact_name", &details.contact_name)?;
            }
            // A remove names the add ops it undoes, and only adds of what it removes (issue 17): a tag of another
            // member or household would silently remove them, on replicas that never see this op as theirs.
            GridOp::RemoveHousehold {
                household,
                observed,
            } => observed_adds(observed, |t| grid.households.has_tag(household, t))?,
            GridOp::RemoveMember {
                user,
                role,
                observed,
            } => observed_adds(observed, |t| grid.members(*role).has_tag(user, t))?,
            GridOp::UnassignVisit {
                household,
                butler,
                observed,
            } => observed_adds(observed, |t| grid.visits.has_tag(&(*household, *butler), t))?,
            GridOp::AssignVisit { household, .. } => {
                if !grid.households.contains_at(household, op.stamp()) {
                    return Err(unknown("household", household));
                }
            }
            GridOp::Create { .. } | GridOp::AddMember { .. } => {}
        }
        Ok(())
    }

    fn validate_entry(&self, op: &Op, id: EntryId, e: &EntryOp) -> Result<(), OpError> {
        let existing = self.entries.get(&id).and_then(|e| e.record.as_ref());
        let new_record_in = |grid: GridId| -> Result<&Grid, OpError> {
            if let Some((stamp, _)) = existing
                && stamp.op != op.id
            {
                return Err(OpError::AlreadyExists {
                    entity: "entry",
                    id: id.to_string(),
                });
            }
            self.grids
                .get(&grid)
                .filter(|g| g.created.is_some())
                .ok_or_else(|| unknown("grid", grid))
        };
        match e {
            EntryOp::Visit(v) => {
                let grid = new_record_in(v.grid)?;
                // As of the visit's stamp (issue 17): a household removed after the visit was made was still
                // there to knock on; the visit is kept and listed for the cell's grid workers (`review`).
                if !grid.households.contains_at(&v.household, op.stamp()) {
                    return Err(unknown("household", v.household));
                }
                if v.health.is_some() && v.follow_up.is_none() {
                    return Err(invalid(
                        "follow_up",
                        "a visit with a health flag must raise a follow-up ticket",
                    ));
                }
                self.text("notes", &v.notes, false)
            }
            EntryOp::Activity(a) => {
                new_record_in(a.grid)?;
                self.text("activity", &a.activity, true)?;
                self.text("notes", &a.notes, false)?;
                if a.end_ms <= a.start_ms {
                    return Err(invalid("end_ms", "must be after start_ms"));
                }
                if a.end_ms - a.start_ms > MAX_ACTIVITY_MS {
                    return Err(invalid("end_ms", "an activity lasts at most 24 hours"));
                }
                if a.end_ms
                    > op.time
                        .wall_ms
                        .saturating_add(self.rules.drift.max_ahead_ms)
                {
                    return Err(invalid("end_ms", "an activity cannot end in the future"));
                }
                Ok(())
            }
            EntryOp::Approve(r) | EntryOp::Reject(r) | EntryOp::Void(r) => {
                let Some((_, record)) = existing else {
                    return Err(unknown("entry", id));
                };
                if !matches!(e, EntryOp::Void(_)) && !matches!(record, Record::Activity(_)) {
                    return Err(invalid(
                        "entry",
                        "only service activities are approved or rejected; visits need no approval",
                    ));
                }
                match (e, &r.reason) {
                    (EntryOp::Approve(_), reason) => self.opt_text("reason", reason),
                    (_, Some(reason)) => self.text("reason", reason, true),
                    (_, None) => Err(invalid("reason", "a rejection or void must say why")),
                }
            }
        }
    }

    fn validate_card(&self, op: &Op, id: UserId, c: &CardOp) -> Result<(), OpError> {
        let card = self.cards.get(&id);
        match c {
            CardOp::Credit {
                entry,
                approval,
                minutes,
                points,
            } => {
                let e = self
                    .entries
                    .get(entry)
                    .filter(|e| e.record.is_some())
                    .ok_or_else(|| unknown("entry", entry))?;
                let Some((_, Record::Activity(a))) = &e.record else {
                    return Err(invalid("entry", "only service activities earn points"));
                };
                if a.volunteer != id {
                    return Err(invalid("entry", "the entry is another volunteer's"));
                }
                let approved = e.decisions.iter().any(|(s, d)| {
                    s.op == *approval && d.kind == crate::entry::DecisionKind::Approve
                });
                if !approved {
                    return Err(invalid("approval", "must be an approval of the entry"));
                }
                if *minutes != a.minutes() {
                    return Err(invalid(
                        "minutes",
                        format!("the entry lasted {} minutes", a.minutes()),
                    ));
                }
                let due = self.rules.card.points_for(*minutes);
                if *points != due {
                    return Err(invalid(
                        "points",
                        format!("{minutes} minutes earn {due} points"),
                    ));
                }
                // A credit for an entry that is already credited is accepted: two grid workers may approve
                // the same entry offline, and the card counts the entry once.
                Ok(())
            }
            CardOp::Transfer { seq, .. } | CardOp::Redeem { seq, .. }
                if card
                    .and_then(|c| c.spend(op.replica, *seq))
                    .is_some_and(|s| s.stamp.op == op.id) =>
            {
                // The very op, delivered again: a retry, not a new spend.
                Ok(())
            }
            CardOp::Transfer { to, points, seq } => {
                if *to == op.replica {
                    return Err(invalid("to", "a replica cannot transfer rights to itself"));
                }
                self.validate_spend(card, op.replica, *points, *seq)
            }
            CardOp::Redeem {
                points,
                seq,
                purpose,
            } => {
                match purpose {
                    Purpose::FeeOffset { period, .. } => {
                        if !valid_period(period) {
                            return Err(invalid("purpose.period", "must be YYYY or YYYY-MM"));
                        }
                    }
                    Purpose::Goods { item } => self.text("purpose.item", item, true)?,
                }
                self.validate_spend(card, op.replica, *points, *seq)
            }
        }
    }

    fn validate_spend(
        &self,
        card: Option<&Card>,
        issuer: ReplicaId,
        points: Points,
        seq: u64,
    ) -> Result<(), OpError> {
        if points.0 == 0 {
            return Err(invalid("points", "must be positive"));
        }
        let expected = card.map_or(1, |c| c.next_seq(issuer));
        if seq != expected {
            return Err(OpError::SequenceGap {
                expected,
                found: seq,
            });
        }
        let held = card.map_or(Points(0), |c| c.rights(issuer));
        let all_effective = card.is_none_or(|c| c.effective_count(issuer) + 1 == expected);
        if !all_effective || held < points {
            return Err(OpError::InsufficientRights {
                held,
                requested: points,
            });
        }
        Ok(())
    }

    /// The grid cell an op's data belongs to, as far as this replica knows: the scope the server checks.
    /// `None` for cards (scoped by role) and for ops on entities this replica has not seen.
    pub fn grid_of(&self, op: &Op) -> Option<GridId> {
        match &op.body {
            OpBody::Ticket(_, TicketOp::Create(c)) => Some(c.grid),
            OpBody::Ticket(id, _) => self.tickets.get(id).and_then(Ticket::grid),
            OpBody::Grid(id, _) => Some(*id),
            OpBody::Entry(_, EntryOp::Visit(v)) => Some(v.grid),
            OpBody::Entry(_, EntryOp::Activity(a)) => Some(a.grid),
            OpBody::Entry(id, _) => self.entry_grid(id),
            OpBody::Card(_, CardOp::Credit { entry, .. }) => self.entry_grid(entry),
            OpBody::Card(..) => None,
            OpBody::Agency(..) | OpBody::Decision(..) | OpBody::Route(..) => None,
        }
    }

    fn entry_grid(&self, id: &EntryId) -> Option<GridId> {
        self.entries
            .get(id)
            .and_then(|e| e.record.as_ref())
            .map(|(_, r)| r.grid())
    }

    /// State-based merge of another replica's state (a server snapshot into a device, say).
    pub fn merge(&mut self, other: State) {
        for (id, t) in other.tickets {
            self.tickets.entry(id).or_default().merge(t);
        }
        for (id, g) in other.grids {
            self.grids.entry(id).or_default().merge(g);
        }
        for (id, e) in other.entries {
            self.entries.entry(id).or_default().merge(e);
        }
        for (id, c) in other.cards {
            self.cards.entry(id).or_default().merge(c);
        }
        for (id, a) in other.agencies {
            self.agencies.entry(id).or_default().merge(a);
        }
        for (id, d) in other.decisions {
            self.decisions.entry(id).or_default().merge(d);
        }
        for (id, r) in other.routes {
            self.routes.entry(id).or_default().merge(r);
        }
    }

    /// The part of this state that validating and applying `ops` (in order) can read: their entities, the grid
    /// cells and entries they refer to, and the grid cells of those. Validating a batch against this working set
    /// gives exactly the results it gives against the whole state, at the cost of copying a few entities instead of
    /// all of them — what a server does for every pushed batch.
    pub fn working_set<'a>(&self, ops: impl IntoIterator<Item = &'a Op>) -> State {
        let mut out = State::new(self.rules);
        let mut grids: Vec<GridId> = Vec::new();
        let mut entries: Vec<EntryId> = Vec::new();
        let mut agencies: Vec<AgencyId> = Vec::new();
        let mut decisions: Vec<DecisionId> = Vec::new();
        for op in ops {
            match &op.body {
                OpBody::Ticket(id, t) => {
                    if let Some(ticket) = self.tickets.get(id) {
                        grids.extend(ticket.grid());
                        out.tickets.entry(*id).or_insert_with(|| ticket.clone());
                    }
                    match t {
                        TicketOp::Create(c) => grids.push(c.grid),
                        TicketOp::Dispatch(a)
                        | TicketOp::AgencyAccept(a)
                        | TicketOp::AgencyComplete(a) => agencies.push(a.agency),
                        TicketOp::Decide { decision } => decisions.push(*decision),
                        _ => {}
                    }
                }
                OpBody::Agency(id, _) => agencies.push(*id),
                OpBody::Decision(id, _) => decisions.push(*id),
                OpBody::Route(id, RouteOp::Set(set)) => {
                    if let Some(route) = self.routes.get(id) {
                        out.routes.entry(*id).or_insert_with(|| route.clone());
                    }
                    grids.extend(set.grid);
                    if let Some(Handler::Agency(a)) = set.to {
                        agencies.push(a);
                    }
                }
                OpBody::Grid(id, _) => grids.push(*id),
                OpBody::Entry(id, e) => {
                    entries.push(*id);
                    match e {
                        EntryOp::Visit(v) => grids.push(v.grid),
                        EntryOp::Activity(a) => grids.push(a.grid),
                        _ => {}
                    }
                }
                OpBody::Card(id, c) => {
                    if let Some(card) = self.cards.get(id) {
                        out.cards.entry(*id).or_insert_with(|| card.clone());
                    }
                    if let CardOp::Credit { entry, .. } = c {
                        entries.push(*entry);
                    }
                }
            }
        }
        for id in entries {
            if let Some(entry) = self.entries.get(&id) {
                grids.extend(entry.record.as_ref().map(|(_, r)| r.grid()));
                out.entries.entry(id).or_insert_with(|| entry.clone());
            }
        }
        for id in grids {
            if let Some(grid) = self.grids.get(&id) {
                out.grids.entry(id).or_insert_with(|| grid.clone());
            }
        }
        for id in agencies {
            if let Some(agency) = self.agencies.get(&id) {
                out.agencies.entry(id).or_insert_with(|| agency.clone());
            }
        }
        for id in decisions {
            if let Some(decision) = self.decisions.get(&id) {
                out.decisions.entry(id).or_insert_with(|| decision.clone());
            }
        }
        out
    }

    /// A copy holding only the entities the predicates keep (same rules). `grid` may also return a reduced copy
    /// of a grid cell (its directory entry). The community-level entities (linked bodies, council decisions,
    /// routing rules) are always kept here (`Viewer::scope` drops the decisions for volunteers).
    pub fn filtered(
        &self,
        grid: impl Fn(&GridId, &Grid) -> Option<Grid>,
        ticket: impl Fn(&TicketId, &Ticket) -> bool,
        entry: impl Fn(&EntryId, &Entry) -> bool,
        card: impl Fn(&UserId, &Card) -> bool,
    ) -> State {
        fn keep<K: Ord + Clone, V: Clone>(
            m: &BTreeMap<K, V>,
            f: impl Fn(&K, &V) -> bool,
        ) -> BTreeMap<K, V> {
            m.iter()
                .filter(|(k, v)| f(k, v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        State {
            rules: self.rules,
            tickets: keep(&self.tickets, ticket),
            grids: self
                .grids
                .iter()
                .filter_map(|(id, g)| grid(id, g).map(|g| (*id, g)))
                .collect(),
            entries: keep(&self.entries, entry),
            cards: keep(&self.cards, card),
            agencies: self.agencies.clone(),
            decisions: self.decisions.clone(),
            routes: self.routes.clone(),
        }
    }

    /// A ticket.
    pub fn ticket(&self, id: &TicketId) -> Option<&Ticket> {
        self.tickets.get(id)
    }
    /// All tickets.
    pub fn tickets(&self) -> &BTreeMap<TicketId, Ticket> {
        &self.tickets
    }
    /// A grid cell.
    pub fn grid(&self, id: &GridId) -> Option<&Grid> {
        self.grids.get(id)
    }
    /// All grid cells.
    pub fn grids(&self) -> &BTreeMap<GridId, Grid> {
        &self.grids
    }
    /// A log entry.
    pub fn entry(&self, id: &EntryId) -> Option<&Entry> {
        self.entries.get(id)
    }
    /// All log entries.
    pub fn entries(&self) -> &BTreeMap<EntryId, Entry> {
        &self.entries
    }
    /// A volunteer's card.
    pub fn card(&self, volunteer: &UserId) -> Option<&Card> {
        self.cards.get(volunteer)
    }
    /// All cards.
    pub fn cards(&self) -> &BTreeMap<UserId, Card> {
        &self.cards
    }
    /// A linked body.
    pub fn agency(&self, id: &AgencyId) -> Option<&Agency> {
        self.agencies.get(id)
    }
    /// All linked bodies.
    pub fn agencies(&self) -> &BTreeMap<AgencyId, Agency> {
        &self.agencies
    }
    /// A council decision.
    pub fn decision(&self, id: &DecisionId) -> Option<&Decision> {
        self.decisions.get(id)
    }
    /// Drops the council decisions (a volunteer's scope: `Viewer::scope`).
    pub(crate) fn clear_decisions(&mut self) {
        self.decisions.clear();
    }

    /// All council decisions.
    pub fn decisions(&self) -> &BTreeMap<DecisionId, Decision> {
        &self.decisions
    }
    /// A routing rule.
    pub fn route(&self, id: &RouteId) -> Option<&Route> {
        self.routes.get(id)
    }
    /// All routing rules (cleared ones included).
    pub fn routes(&self) -> &BTreeMap<RouteId, Route> {
        &self.routes
    }

    /// The tickets linked to a council decision (`ticket.decide`), in id order.
    pub fn tickets_decided_by(&self, decision: &DecisionId) -> Vec<TicketId> {
        self.tickets
            .iter()
            .filter(|(_, t)| t.decisions().any(|d| d == *decision))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The default handler for a ticket of `category` in `grid`: among the live rules for that category, one for
    /// that very grid cell beats a community-wide one (no grid); between rules of the same rank, the one set last
    /// (greatest stamp) wins. A rule for another grid cell never applies.
    pub fn route_for(&self, category: &str, grid: Option<GridId>) -> Option<Handler> {
        self.routes
            .values()
            .filter_map(|r| r.live().map(|(set, to)| (set, to, r.rule.marker)))
            .filter(|(set, _, _)| set.category == category)
            .filter_map(|(set, to, stamp)| match set.grid {
                None => Some((false, stamp, to)),
                Some(g) if Some(g) == grid => Some((true, stamp, to)),
                Some(_) => None,
            })
            .max_by_key(|(exact, stamp, _)| (*exact, *stamp))
            .map(|(_, _, to)| to)
    }

    /// Who is responsible for `ticket` now: its assignees if it has any, else the linked body it is dispatched to,
    /// else the routing rule for its current category and grid cell ([`State::route_for`]).
    ///
    /// Routing is derived on every call, not recorded by an op (see [`crate::route`]): a `ticket.edit` that
    /// changes the category re-routes the ticket with no further op, and every replica holding the same ops
    /// answers the same.
    pub fn handler_of(&self, ticket: &Ticket) -> Responsible {
        let users: Vec<UserId> = ticket.assignees.iter().copied().collect();
        if !users.is_empty() {
            return Responsible::Users(users);
        }
        if let Some(agency) = ticket.agency() {
            return Responsible::Agency(agency);
        }
        ticket
            .category
            .val
            .as_deref()
            .and_then(|c| self.route_for(c, ticket.grid()))
            .map_or(Responsible::Nobody, Responsible::Routed)
    }
}

impl CmRDT for State {
    type Op = Op;
    type Validation = OpError;

    fn validate_op(&self, op: &Op) -> Result<(), OpError> {
        State::validate_op(self, op)
    }

    fn apply(&mut self, op: Op) {
        State::apply(self, &op);
    }
}

impl CvRDT for State {
    type Validation = Infallible;

    fn validate_merge(&self, _other: &Self) -> Result<(), Infallible> {
        Ok(())
    }

    fn merge(&mut self, other: Self) {
        State::merge(self, other);
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> OpError {
    OpError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// Checks the `observed` tags of a remove: at least one, and each an add of what is removed (`belongs`).
fn observed_adds(observed: &[OpId], belongs: impl Fn(&OpId) -> bool) -> Result<(), OpError> {
    if observed.is_empty() {
        return Err(invalid("observed", "must name the add ops being undone"));
    }
    if !observed.iter().all(belongs) {
        return Err(invalid(
            "observed",
            "names an op that did not add what this op removes",
        ));
    }
    Ok(())
}

fn unknown(entity: &'static str, id: impl ToString) -> OpError {
    OpError::UnknownEntity {
        entity,
        id: id.to_string(),
    }
}

fn valid_period(p: &str) -> bool {
    let b = p.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    match b.len() {
        4 => digits(0..4),
        7 => {
            digits(0..4)
                && b[4] == b'-'
                && digits(5..7)
                && matches!(
                    &p[5..7],
                    "01" | "02"
                        | "03"
                        | "04"
                        | "05"
                        | "06"
                        | "07"
                        | "08"
                        | "09"
                        | "10"
                        | "11"
                        | "12"
                )
        }
        _ => false,
    }
}
