//! Which ops of a group reach into another community. An op is judged against its own community's state only, so
//! an id of another community's grid cell, ticket or entry is simply unknown there; this module tells such an id
//! (and a person or device of another community named in an op) from an id nobody has, so the op is refused as
//! `other_community` rather than as a broken rule, and never written into the report rows of another community.
//!
//! Households count too (review of issue 11, D3): a household belongs to the community that first named it
//! (`household_community`, written by [`crate::materialise`] and the fee ledger), so a visit, a visit assignment or a
//! fee offset of one community cannot name another community's household.
//!
//! Ids are unique across communities (UUIDs), so an id found in another community is never a coincidence. Only the
//! ids the community's own state does not know are looked up (an entity it knows is its own), with one query per
//! table per group.

use linli_sync_core::card::{CardOp, Purpose};
use linli_sync_core::entry::EntryOp;
use linli_sync_core::grid::GridOp;
use linli_sync_core::op::{Op, OpBody};
use linli_sync_core::state::State;
use linli_sync_core::ticket::TicketOp;
use std::collections::HashSet;
use uuid::Uuid;

use diesel::prelude::*;

use crate::community::CommunityId;
use crate::db::Conn;
use crate::db::schema::{entries, grid_cells, household_community, ticket_community, visits};
use crate::store::StoreError;

/// The ids of a group's ops that belong to another community.
#[derive(Debug, Default)]
pub struct Foreign {
    ids: HashSet<Uuid>,
}

impl Foreign {
    /// Whether `op` names anything of another community.
    pub fn touches(&self, op: &Op) -> bool {
        !self.ids.is_empty() && refs(op).iter().any(|r| self.ids.contains(&r.id()))
    }
}

/// One id an op names, by what it names. Told apart by kind as well as id: an id named first as one kind (a
/// member) and then as another (a ticket to create) is looked up as both (review of issue 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ref {
    Grid(Uuid),
    Ticket(Uuid),
    Entry(Uuid),
    User(Uuid),
    Device(Uuid),
    Household(Uuid),
}

impl Ref {
    fn id(self) -> Uuid {
        match self {
            Ref::Grid(id)
            | Ref::Ticket(id)
            | Ref::Entry(id)
            | Ref::User(id)
            | Ref::Device(id)
            | Ref::Household(id) => id,
        }
    }
}

/// Every id `op` names: its entity, and the cells, tickets, entries, people and devices its body refers to.
fn refs(op: &Op) -> Vec<Ref> {
    let mut out = Vec::with_capacity(3);
    match &op.body {
        OpBody::Grid(id, g) => {
            out.push(Ref::Grid(id.0));
            match g {
                GridOp::AddMember { user, .. } | GridOp::RemoveMember { user, .. } => {
                    out.push(Ref::User(user.0));
                }
                GridOp::AssignVisit { butler, household }
                | GridOp::UnassignVisit {
                    butler, household, ..
                } => {
                    out.extend([Ref::User(butler.0), Ref::Household(household.0)]);
                }
                GridOp::AddHousehold { household, .. }
                | GridOp::RemoveHousehold { household, .. } => {
                    out.push(Ref::Household(household.0));
                }
                _ => {}
            }
        }
        OpBody::Ticket(id, t) => {
            out.push(Ref::Ticket(id.0));
            match t {
                TicketOp::Create(c) => {
                    out.push(Ref::Grid(c.grid.0));
                    out.extend(c.from_visit.map(|e| Ref::Entry(e.0)));
                }
                TicketOp::Assign { user } | TicketOp::Unassign { user, .. } => {
                    out.push(Ref::User(user.0));
                }
                _ => {}
            }
        }
        OpBody::Entry(id, e) => {
            out.push(Ref::Entry(id.0));
            match e {
                EntryOp::Visit(v) => {
                    out.extend([
                        Ref::User(v.volunteer.0),
                        Ref::Grid(v.grid.0),
                        Ref::Household(v.household.0),
                    ]);
                    out.extend(v.follow_up.map(|t| Ref::Ticket(t.0)));
                }
                EntryOp::Activity(a) => out.extend([Ref::User(a.volunteer.0), Ref::Grid(a.grid.0)]),
                _ => {}
            }
        }
        OpBody::Card(volunteer, c) => {
            out.push(Ref::User(volunteer.0));
            match c {
                CardOp::Transfer { to, .. } => out.push(Ref::Device(to.0)),
                CardOp::Redeem {
                    purpose: Purpose::FeeOffset { household, .. },
                    ..
                } => out.push(Ref::Household(household.0)),
                _ => {}
            }
        }
    }
    out
}

/// The households `ops` name in grid cells and fee offsets, once each: what [`crate::materialise`] records as the
/// community's (an op that passed [`Foreign::touches`] names only households of its own community or of none yet).
/// Visits are left out: a visit names a household of its grid cell, claimed when it was added there (or, before
/// the claims were kept, filled in from the visits by the migration), and visits are most of the ops an ingest
/// writes.
pub fn households<'a>(ops: impl IntoIterator<Item = &'a Op>) -> Vec<String> {
    let mut seen = HashSet::new();
    ops.into_iter()
        .filter(|op| matches!(op.body, OpBody::Grid(..) | OpBody::Card(..)))
        .flat_map(refs)
        .filter_map(|r| match r {
            Ref::Household(id) if seen.insert(id) => Some(id.to_string()),
            _ => None,
        })
        .collect()
}

/// Records `households` as `community`'s, unless a community already has them (inside the caller's transaction).
pub fn claim_households(
    conn: &mut Conn,
    community: CommunityId,
    households: &[String],
) -> Result<(), StoreError> {
    for chunk in households.chunks(CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|h| {
                (
                    household_community::household.eq(h.as_str()),
                    household_community::community_id.eq(community.0),
                )
            })
            .collect();
        diesel::insert_or_ignore_into(household_community::table)
            .values(&rows)
            .execute(conn)?;
    }
    Ok(())
}

/// The ids of `ops` that `state` (the community's own) does not know, by table: what [`foreign`] looks up.
#[derive(Debug, Default)]
pub struct Unknown {
    grids: Vec<String>,
    tickets: Vec<String>,
    entries: Vec<String>,
    users: Vec<String>,
    devices: Vec<String>,
    households: Vec<String>,
}

impl Unknown {
    /// Collects the ids of `ops` the community's `state` does not hold (people and devices are always looked up:
    /// the state does not say whose they are).
    pub fn of<'a>(state: &State, ops: impl IntoIterator<Item = &'a Op>) -> Unknown {
        let mut seen = HashSet::new();
        let mut u = Unknown::default();
        for op in ops {
            for r in refs(op) {
                if !seen.insert(r) {
                    continue;
                }
                match r {
                    Ref::Grid(id)
                        if state
                            .grids()
                            .get(&linli_sync_core::ids::GridId(id))
                            .is_none() =>
                    {
                        u.grids.push(id.to_string());
                    }
                    Ref::Ticket(id)
                        if state.ticket(&linli_sync_core::ids::TicketId(id)).is_none() =>
                    {
                        u.tickets.push(id.to_string());
                    }
                    Ref::Entry(id) if state.entry(&linli_sync_core::ids::EntryId(id)).is_none() => {
                        u.entries.push(id.to_string());
                    }
                    Ref::Household(id)
                        if !state.grids().values().any(|g| {
                            g.household_details
                                .contains_key(&linli_sync_core::ids::HouseholdId(id))
                        }) =>
                    {
                        u.households.push(id.to_string());
                    }
                    Ref::User(id) => u.users.push(id.to_string()),
                    Ref::Device(id) => u.devices.push(id.to_string()),
                    _ => {}
                }
            }
        }
        u
    }
}

/// Ids per `IN (…)` lookup.
const CHUNK: usize = 500;

/// Which of the `unknown` ids belong to another community than `community`.
pub fn foreign(
    conn: &mut Conn,
    community: CommunityId,
    unknown: &Unknown,
) -> Result<Foreign, StoreError> {
    let mut found: Vec<String> = Vec::new();
    for chunk in unknown.grids.chunks(CHUNK) {
        found.extend(
            grid_cells::table
                .filter(grid_cells::id.eq_any(chunk))
                .filter(grid_cells::community_id.ne(community.0))
                .select(grid_cells::id)
                .load::<String>(conn)?,
        );
    }
    for chunk in unknown.tickets.chunks(CHUNK) {
        found.extend(
            ticket_community::table
                .filter(ticket_community::id.eq_any(chunk))
                .filter(ticket_community::community_id.ne(community.0))
                .select(ticket_community::id)
                .load::<String>(conn)?,
        );
    }
    for chunk in unknown.entries.chunks(CHUNK) {
        found.extend(
            visits::table
                .filter(visits::entry_id.eq_any(chunk))
                .filter(visits::community_id.ne(community.0))
                .select(visits::entry_id)
                .load::<String>(conn)?,
        );
        found.extend(
            entries::table
                .filter(entries::id.eq_any(chunk))
                .filter(entries::community_id.ne(community.0))
                .select(entries::id)
                .load::<String>(conn)?,
        );
    }
    for chunk in unknown.households.chunks(CHUNK) {
        found.extend(
            household_community::table
                .filter(household_community::household.eq_any(chunk))
                .filter(household_community::community_id.ne(community.0))
                .select(household_community::household)
                .load::<String>(conn)?,
        );
    }
    let identity = |e: crate::identity::IdentityError| match e {
        crate::identity::IdentityError::Store(s) => s,
        other => StoreError::Pool(other.to_string()),
    };
    found.extend(
        crate::identity::users_elsewhere(conn, &unknown.users, community).map_err(identity)?,
    );
    found.extend(
        crate::identity::devices_elsewhere(conn, &unknown.devices, community).map_err(identity)?,
    );
    Ok(Foreign {
        ids: found.iter().filter_map(|s| s.parse().ok()).collect(),
    })
}
