//! Which ops of a group reach into another community. An op is judged against its own community's state only, so
//! an id of another community's grid cell, ticket or entry is simply unknown there; this module tells such an id
//! (and a person or device of another community named in an op) from an id nobody has, so the op is refused as
//! `other_community` rather than as a broken rule, and never written into the report rows of another community.
//!
//! Households count too (review of issue 11, D3): a household belongs to the community that first named it
//! (`household_community`, written by [`crate::materialise`], the fee ledger and [`claim_grid_households`] when a
//! community loads), so a visit, a visit assignment, a ticket (its location's or reporter's household) or a fee
//! offset of one community cannot name another community's household.
//!
//! Ids are unique across communities (UUIDs), so an id found in another community is never a coincidence. Only the
//! ids the community's own state does not know are looked up (an entity it knows is its own), with one query per
//! table per group.

use linli_sync_core::card::{CardOp, Purpose};
use linli_sync_core::entry::EntryOp;
use linli_sync_core::grid::GridOp;
use linli_sync_core::op::{Op, OpBody};
use linli_sync_core::route::{Handler, RouteOp};
use linli_sync_core::state::State;
use linli_sync_core::ticket::TicketOp;
use std::collections::HashSet;
use uuid::Uuid;

use diesel::prelude::*;

use crate::community::CommunityId;
use crate::db::Conn;
use crate::db::schema::{
    communities, entries, grid_cells, household_community, ticket_community, visits,
};
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
                    out.extend(c.location.household.map(|h| Ref::Household(h.0)));
                    out.extend(c.reporter.household.map(|h| Ref::Household(h.0)));
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
        // Linked bodies, council decisions and routing rules live in their community's state only (no table
        // holds them): one of another community is simply unknown here, and refused by validation. A rule names
        // a grid cell and may name a person, which are looked up like any other.
        OpBody::Route(_, RouteOp::Set(set)) => {
            out.extend(set.grid.map(|g| Ref::Grid(g.0)));
            if let Some(Handler::User(u)) = set.to {
                out.push(Ref::User(u.0));
            }
        }
        OpBody::Agency(..) | OpBody::Decision(..) => {}
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
/// A claim lost to another community's claim committed since the group's tenancy check is found by
/// [`claimed_elsewhere`], called by the writer on the households that were new to the community.
pub fn claim_households(
    conn: &mut Conn,
    community: CommunityId,
    households: &[String],
) -> Result<(), StoreError> {
    claim(conn, community, households)
}

/// Refuses, as [`StoreError::OtherCommunitysRow`], a group whose ops claimed a household that another community
/// holds: run inside the write transaction after [`crate::materialise::write`] on the households the community's
/// state did not know before the group. The tenancy check before the write sees committed claims only, so two
/// communities adding the same new household at once both pass it, and the later `INSERT OR IGNORE` would drop
/// its claim silently while storing its op (review of h11r, finding 6). The caller's `BEGIN IMMEDIATE` makes this
/// check exact; the writer then judges the group again, and the tenancy check refuses the op as `other_community`.
pub fn claimed_elsewhere(
    conn: &mut Conn,
    community: CommunityId,
    households: &[String],
) -> Result<(), StoreError> {
    for chunk in households.chunks(CHUNK) {
        let theirs: Option<(String, i64)> = household_community::table
            .filter(household_community::household.eq_any(chunk))
            .filter(household_community::community_id.ne(community.0))
            .select((
                household_community::household,
                household_community::community_id,
            ))
            .first(conn)
            .optional()?;
        if let Some((id, owner)) = theirs {
            return Err(StoreError::OtherCommunitysRow {
                table: "household_community",
                id,
                owner: CommunityId(owner),
            });
        }
    }
    Ok(())
}

/// Claims the households of `community`'s grid cells in `state` that nobody has claimed yet, and leaves the others
/// as they are; the number claimed. Run when a community's state is loaded, so the households an upgraded database
/// knew only from grid cells (migration `2026-12-02-000300_fee_dues_by_community` fills the claims from visits and
/// the fee ledger alone: SQL cannot read the ops) are claimed before the community's first write. The claims are
/// read first (one `IN (…)` lookup per 500 households, no write lock): only a load that finds unclaimed households
/// writes, in one short write transaction. A household another community already holds is not an error here: the
/// state was accepted before the claims were kept.
pub fn claim_grid_households(
    conn: &mut Conn,
    community: CommunityId,
    state: &State,
) -> Result<usize, StoreError> {
    let households: HashSet<String> = state
        .grids()
        .values()
        .flat_map(|g| g.household_details.keys().map(|h| h.0.to_string()))
        .collect();
    let households: Vec<String> = households.into_iter().collect();
    let mut unclaimed = Vec::new();
    for chunk in households.chunks(CHUNK) {
        let claimed: HashSet<String> = household_community::table
            .filter(household_community::household.eq_any(chunk))
            .select(household_community::household)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        unclaimed.extend(chunk.iter().filter(|h| !claimed.contains(*h)).cloned());
    }
    if !unclaimed.is_empty() {
        crate::db::sqlite::write_txn(conn, |c| claim(c, community, &unclaimed))?;
    }
    Ok(unclaimed.len())
}

/// `INSERT OR IGNORE` of `households` as `community`'s.
fn claim(conn: &mut Conn, community: CommunityId, households: &[String]) -> Result<(), StoreError> {
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

    /// Of `claimed` (households a group's ops claim), those the community's state did not know: the claims a
    /// concurrent group of another community can have taken first.
    pub fn new_households(&self, claimed: &[String]) -> Vec<String> {
        claimed
            .iter()
            .filter(|h| self.households.contains(h))
            .cloned()
            .collect()
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
    // Each new entity (every visit a phone pushes is a new entry) costs a lookup in each table that may hold it,
    // two b-tree probes per visit: the regression of ingest after tenancy (issue 11, docs/benchmarks.md "Lean op
    // log (after)"). While the database holds one community, no other community has such rows: nothing to look
    // up. (A community created meanwhile has no cells, tickets or entries until its own ops commit, which a
    // lookup here would not see either.)
    let alone = communities::table.count().get_result::<i64>(conn)? <= 1;
    let (grids, tickets, entries_named): (&[String], &[String], &[String]) = if alone {
        (&[], &[], &[])
    } else {
        (&unknown.grids, &unknown.tickets, &unknown.entries)
    };
    for chunk in grids.chunks(CHUNK) {
        found.extend(
            grid_cells::table
                .filter(grid_cells::id.eq_any(chunk))
                .filter(grid_cells::community_id.ne(community.0))
                .select(grid_cells::id)
                .load::<String>(conn)?,
        );
    }
    for chunk in tickets.chunks(CHUNK) {
        found.extend(
            ticket_community::table
                .filter(ticket_community::id.eq_any(chunk))
                .filter(ticket_community::community_id.ne(community.0))
                .select(ticket_community::id)
                .load::<String>(conn)?,
        );
    }
    for chunk in entries_named.chunks(CHUNK) {
        // `visits` keys its rows by the id's 16 bytes.
        let blobs: Vec<Vec<u8>> = chunk
            .iter()
            .filter_map(|s| s.parse::<Uuid>().ok())
            .map(crate::op_row::id_bytes)
            .collect();
        found.extend(
            visits::table
                .filter(visits::entry_id.eq_any(blobs))
                .filter(visits::community_id.ne(community.0))
                .select(visits::entry_id)
                .load::<Vec<u8>>(conn)?
                .iter()
                .filter_map(|b| crate::op_row::id_of(b))
                .map(|id| id.to_string()),
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
