//! The report tables (grid cells, tickets with their 5-20-2-2 verdicts, log entries and visits, card movements
//! and balances), rewritten for every entity a batch touched, from the merged state after the batch, in the same
//! transaction as the batch's ops: a report never sees an op without its effect. Every row carries its community;
//! an upsert never changes the community of a row already there.

use diesel::prelude::*;
use diesel::upsert::excluded;
use linli_sync_core::card::{CardOp, Purpose};
use linli_sync_core::entry::{EntryStatus, Record};
use linli_sync_core::ids::{EntryId, GridId, ReplicaId, TicketId, UserId};
use linli_sync_core::op::{Op, OpBody};
use linli_sync_core::rule52022::evaluate;
use linli_sync_core::state::State;
use linli_sync_core::ticket::{EventKind, Ticket};
use std::collections::BTreeSet;

use crate::community::CommunityId;
use crate::db::Conn;
use crate::db::schema::{
    card_movements, cards, devices, entries, grid_cells, ticket_community, tickets, visits,
};
use crate::op_row::id_bytes;
use crate::store::StoreError;

/// The entities a batch touched.
#[derive(Debug, Default)]
pub struct Touched {
    grids: BTreeSet<GridId>,
    tickets: BTreeSet<TicketId>,
    entries: BTreeSet<EntryId>,
    cards: BTreeSet<UserId>,
}

impl Touched {
    /// Notes the entity `op` acts on.
    pub fn add(&mut self, op: &Op) {
        match &op.body {
            OpBody::Grid(id, _) => self.grids.insert(*id),
            OpBody::Ticket(id, _) => self.tickets.insert(*id),
            OpBody::Entry(id, _) => self.entries.insert(*id),
            OpBody::Card(id, _) => self.cards.insert(*id),
            // The community-level entities have no report rows of their own; a dispatch or a decision is a
            // ticket op and rewrites its ticket's row.
            OpBody::Agency(..) | OpBody::Decision(..) | OpBody::Route(..) => false,
        };
    }
}

/// The community a new `tickets` row gets from its column default (the upgrade's community, migration
/// `2026-12-02-000000_communities`).
const DEFAULT_COMMUNITY: i64 = 1;

/// Rows per statement: 16 columns × 1,000 rows stays under SQLite's 32,766 bound variables.
const CHUNK: usize = 1000;

/// One multi-row `INSERT … ON CONFLICT (key) DO UPDATE SET c = excluded.c, …` per chunk: a statement per row
/// would spend most of a batch parsing SQL.
macro_rules! upsert {
    ($conn:expr, $table:ident, $key:ident, $rows:expr; $($col:ident),+ $(,)?) => {
        diesel::insert_into($table::table)
            .values($rows)
            .on_conflict($table::$key)
            .do_update()
            .set(($($table::$col.eq(excluded($table::$col)),)+))
            .execute($conn)?
    };
}

/// Rewrites the rows of every touched entity from `state`, and inserts one card movement per card op.
/// `seq_of_last` is the sequence number of the batch's last op; `ops` are the stored ops with their seqs.
pub fn write(
    conn: &mut Conn,
    community: CommunityId,
    state: &State,
    touched: &Touched,
    ops: &[(i64, &Op)],
    seq_of_last: i64,
    now_ms: u64,
) -> Result<(), StoreError> {
    let grids: Vec<GridRow> = touched
        .grids
        .iter()
        .filter_map(|id| grid_row(state, *id, seq_of_last, community))
        .collect();
    for chunk in grids.chunks(CHUNK) {
        // As for tickets below: never rewrite another community's grid cell (the upsert keeps its community).
        let ids: Vec<&str> = chunk.iter().map(|g| g.id.as_str()).collect();
        let theirs: Option<(String, i64)> = grid_cells::table
            .filter(grid_cells::id.eq_any(&ids))
            .filter(grid_cells::community_id.ne(community.0))
            .select((grid_cells::id, grid_cells::community_id))
            .first(conn)
            .optional()?;
        if let Some((id, owner)) = theirs {
            return Err(StoreError::OtherCommunitysRow {
                table: "grid_cells",
                id,
                owner: CommunityId(owner),
            });
        }
        upsert!(conn, grid_cells, id, chunk; name, community, households, elderly_alone, workers, butlers, updated_seq);
    }
    let tickets: Vec<TicketRow> = touched
        .tickets
        .iter()
        .filter_map(|id| {
            state
                .ticket(id)
                .map(|t| ticket_row(state, *id, t, seq_of_last, now_ms))
        })
        .collect();
    for chunk in tickets.chunks(CHUNK) {
        // `tickets` has 17 columns, one more than diesel's `table!` takes by default: its community is written by a
        // second statement, for the rows this chunk inserts only. A row that is already there and belongs to another
        // community is refused before it is touched: the update must never move a ticket between communities, nor
        // the upsert rewrite another community's ticket (review of issue 11, D7: two communities creating the same
        // ticket id at once both pass the tenancy check, which sees committed rows only).
        let ids: Vec<&str> = chunk.iter().map(|t| t.id.as_str()).collect();
        let existing: Vec<(String, i64)> = ticket_community::table
            .filter(ticket_community::id.eq_any(&ids))
            .select((ticket_community::id, ticket_community::community_id))
            .load(conn)?;
        if let Some((id, owner)) = existing.iter().find(|(_, c)| *c != community.0) {
            return Err(StoreError::OtherCommunitysRow {
                table: "tickets",
                id: id.clone(),
                owner: CommunityId(*owner),
            });
        }
        upsert!(conn, tickets, id, chunk; grid, status, channel, category, complexity, created_ms, taken_ms,
            on_site_ms, solved_ms, planned_ms, answered_ms, satisfaction, verdicts, compliant, updated_seq);
        let new: Vec<&str> = ids
            .into_iter()
            .filter(|id| !existing.iter().any(|(e, _)| e == id))
            .collect();
        if !new.is_empty() && community.0 != DEFAULT_COMMUNITY {
            diesel::update(ticket_community::table.filter(ticket_community::id.eq_any(new)))
                .set(ticket_community::community_id.eq(community.0))
                .execute(conn)?;
        }
    }
    crate::tenancy::claim_households(
        conn,
        community,
        &crate::tenancy::households(ops.iter().map(|(_, op)| *op)),
    )?;
    let mut entry_rows = Vec::with_capacity(touched.entries.len());
    let mut visit_rows = Vec::new();
    for id in &touched.entries {
        let Some(entry) = state.entry(id) else {
            continue;
        };
        let Some((stamp, record)) = &entry.record else {
            continue;
        };
        let status = entry.status();
        match record {
            // A visit needs no approval: its one row says all, in `visits`.
            Record::Visit(v) => visit_rows.push(VisitRow {
                community_id: community.0,
                entry_id: id_bytes(id.0),
                volunteer: id_bytes(v.volunteer.0),
                grid: id_bytes(v.grid.0),
                household: id_bytes(v.household.0),
                seen: v.seen,
                health: v.health.map(|h| snake(&h)),
                follow_up: v.follow_up.map(|t| id_bytes(t.0)),
                visited_ms: ms(stamp.time.wall_ms),
                voided: status == EntryStatus::Void,
            }),
            Record::Activity(a) => entry_rows.push(EntryRow {
                community_id: community.0,
                id: id.to_string(),
                kind: "activity".into(),
                volunteer: a.volunteer.to_string(),
                grid: a.grid.to_string(),
                status: status_name(status).into(),
                recorded_ms: ms(stamp.time.wall_ms),
                activity: Some(a.activity.clone()),
                minutes: Some(i64::from(a.minutes())),
                approved_minutes: i64::from(entry.approved_minutes()),
                updated_seq: seq_of_last,
            }),
        }
    }
    // As for grid cells and tickets (D7): an entry id another community already holds is refused before its
    // upsert, which would otherwise rewrite that community's row in place (two communities creating the same
    // entry id at once both pass the tenancy check, which sees committed rows only).
    for chunk in entry_rows.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|e| e.id.as_str()).collect();
        let theirs: Option<(String, i64)> = entries::table
            .filter(entries::id.eq_any(&ids))
            .filter(entries::community_id.ne(community.0))
            .select((entries::id, entries::community_id))
            .first(conn)
            .optional()?;
        if let Some((id, owner)) = theirs {
            return Err(StoreError::OtherCommunitysRow {
                table: "entries",
                id,
                owner: CommunityId(owner),
            });
        }
        upsert!(conn, entries, id, chunk; kind, volunteer, grid, status, recorded_ms, activity, minutes,
            approved_minutes, updated_seq);
    }
    for chunk in visit_rows.chunks(CHUNK) {
        let ids: Vec<&[u8]> = chunk.iter().map(|v| v.entry_id.as_slice()).collect();
        let theirs: Option<(Vec<u8>, i64)> = visits::table
            .filter(visits::entry_id.eq_any(&ids))
            .filter(visits::community_id.ne(community.0))
            .select((visits::entry_id, visits::community_id))
            .first(conn)
            .optional()?;
        if let Some((id, owner)) = theirs {
            return Err(StoreError::OtherCommunitysRow {
                table: "visits",
                id: crate::op_row::id_of(&id)
                    .map_or_else(|| format!("{id:02x?}"), |u| u.to_string()),
                owner: CommunityId(owner),
            });
        }
        upsert!(conn, visits, entry_id, chunk; volunteer, grid, household, seen, health, follow_up, visited_ms, voided);
    }
    // A card has one credit per entry (the smallest stamp wins): a credit that does not count writes no movement
    // (issue 17), and one that now counts instead of an earlier credit of its entry takes that row's place, so the
    // table's credits always sum to the card's `credited`.
    let mut movements: Vec<MovementRow> = Vec::new();
    for (seq, op) in ops {
        if let OpBody::Card(volunteer, CardOp::Credit { entry, .. }) = &op.body {
            let counts = state
                .card(volunteer)
                .and_then(|card| card.credit_of(entry))
                .is_some_and(|credit| credit.stamp.op == op.id);
            if !counts {
                continue;
            }
            diesel::delete(
                card_movements::table
                    .filter(card_movements::volunteer.eq(volunteer.to_string()))
                    .filter(card_movements::kind.eq("credit"))
                    .filter(card_movements::entry_id.eq(entry.to_string()))
                    .filter(card_movements::op_id.ne(op.id.to_string())),
            )
            .execute(conn)?;
        }
        let mut row = movement_row(*seq, op, community);
        if let Some(row) = row.as_mut()
            && is_rights_return(conn, op)?
        {
            row.kind = RIGHTS_RETURN.into();
        }
        movements.extend(row);
    }
    for chunk in movements.chunks(CHUNK) {
        diesel::insert_into(card_movements::table)
            .values(chunk)
            .execute(conn)?;
    }
    let cards: Vec<CardRow> = touched
        .cards
        .iter()
        .filter_map(|id| {
            let card = state.card(id)?;
            Some(CardRow {
                community_id: community.0,
                volunteer: id.to_string(),
                credited: points(card.credited().0),
                redeemed: points(card.redeemed().0),
                balance: points(card.balance().0),
                pending: points(card.pending().map(|(_, s)| s.points.0).sum()),
                updated_seq: seq_of_last,
            })
        })
        .collect();
    for chunk in cards.chunks(CHUNK) {
        upsert!(conn, cards, volunteer, chunk; credited, redeemed, balance, pending, updated_seq);
    }
    Ok(())
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = grid_cells)]
struct GridRow {
    community_id: i64,
    id: String,
    name: Option<String>,
    community: Option<String>,
    households: i64,
    elderly_alone: i64,
    workers: i64,
    butlers: i64,
    updated_seq: i64,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = tickets)]
struct TicketRow {
    id: String,
    grid: Option<String>,
    status: String,
    channel: Option<String>,
    category: Option<String>,
    complexity: String,
    created_ms: Option<i64>,
    taken_ms: Option<i64>,
    on_site_ms: Option<i64>,
    solved_ms: Option<i64>,
    planned_ms: Option<i64>,
    answered_ms: Option<i64>,
    satisfaction: Option<i64>,
    verdicts: String,
    compliant: Option<bool>,
    updated_seq: i64,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = entries)]
struct EntryRow {
    community_id: i64,
    id: String,
    kind: String,
    volunteer: String,
    grid: String,
    status: String,
    recorded_ms: i64,
    activity: Option<String>,
    minutes: Option<i64>,
    approved_minutes: i64,
    updated_seq: i64,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = visits)]
/// Ids as 16-byte blobs (`hex(entry_id)` in the sqlite3 shell): half the bytes of their text (issue 11's lean op
/// log).
struct VisitRow {
    community_id: i64,
    entry_id: Vec<u8>,
    volunteer: Vec<u8>,
    grid: Vec<u8>,
    household: Vec<u8>,
    seen: bool,
    health: Option<String>,
    follow_up: Option<Vec<u8>>,
    visited_ms: i64,
    voided: bool,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = card_movements)]
struct MovementRow {
    community_id: i64,
    op_id: String,
    volunteer: String,
    kind: String,
    points: i64,
    replica: String,
    entry_id: Option<String>,
    to_replica: Option<String>,
    purpose: Option<String>,
    hlc_wall_ms: i64,
    seq: i64,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = cards)]
struct CardRow {
    community_id: i64,
    volunteer: String,
    credited: i64,
    redeemed: i64,
    balance: i64,
    pending: i64,
    updated_seq: i64,
}

fn grid_row(state: &State, id: GridId, seq: i64, community: CommunityId) -> Option<GridRow> {
    let g = state.grid(&id)?;
    g.created?;
    Some(GridRow {
        community_id: community.0,
        id: id.to_string(),
        name: g.name.val.clone(),
        community: g.community.val.clone(),
        households: count(g.households.len()),
        elderly_alone: count(g.elderly_alone().count()),
        workers: count(g.workers.len()),
        butlers: count(g.butlers.len()),
        updated_seq: seq,
    })
}

fn ticket_row(state: &State, id: TicketId, t: &Ticket, seq: i64, now_ms: u64) -> TicketRow {
    let first = |kind: EventKind| {
        t.timeline()
            .find(|(_, e)| e.kind == kind)
            .map(|(s, _)| ms(s.time.wall_ms))
    };
    let eval = evaluate(t, &state.rules().rule52022, now_ms);
    let created = t.created.as_ref().map(|(_, c)| c);
    TicketRow {
        id: id.to_string(),
        grid: t.grid().map(|g| g.to_string()),
        status: snake(&t.status()),
        channel: created.map(|c| snake(&c.channel)),
        category: t
            .category
            .val
            .clone()
            .or_else(|| created.map(|c| c.category.clone())),
        complexity: snake(&t.effective_complexity()),
        created_ms: first(EventKind::Created),
        taken_ms: first(EventKind::Taken),
        on_site_ms: first(EventKind::OnSite),
        solved_ms: first(EventKind::Solved),
        // A council decision is the plan of a complex ticket: whichever came first.
        planned_ms: [first(EventKind::PlanMade), first(EventKind::Decided)]
            .into_iter()
            .flatten()
            .min(),
        answered_ms: first(EventKind::Answered),
        satisfaction: t.satisfaction().map(i64::from),
        verdicts: serde_json::to_string(&eval).unwrap_or_else(|_| "{}".into()),
        compliant: eval.compliant(),
        updated_seq: seq,
    }
}

/// The movement kind of a revoked device's rights going back to the pool (`revocation.rs`, ADR 0001).
pub const RIGHTS_RETURN: &str = "rights_return";

/// Whether `op` is the return of a revoked device's rights: a `card.transfer` to the server's pool written as a
/// device after that device's revocation (the server's sweep or revocation route writes it; the revoked device
/// itself can push nothing from then on). Its redemptions never synced are void, and this row says where their
/// rights went.
fn is_rights_return(conn: &mut Conn, op: &Op) -> Result<bool, StoreError> {
    let OpBody::Card(_, CardOp::Transfer { to, .. }) = &op.body else {
        return Ok(false);
    };
    if *to != ReplicaId::SERVER || op.replica == ReplicaId::SERVER {
        return Ok(false);
    }
    let revoked: Option<Option<i64>> = devices::table
        .find(op.replica.to_string())
        .select(devices::revoked_ms)
        .first(conn)
        .optional()?;
    Ok(revoked
        .flatten()
        .is_some_and(|at| at <= ms(op.time.wall_ms)))
}

fn movement_row(seq: i64, op: &Op, community: CommunityId) -> Option<MovementRow> {
    let OpBody::Card(volunteer, c) = &op.body else {
        return None;
    };
    let (kind, pts, entry, to, purpose) = match c {
        CardOp::Credit { entry, points, .. } => {
            ("credit", points.0, Some(entry.to_string()), None, None)
        }
        CardOp::Transfer { to, points, .. } => {
            ("transfer", points.0, None, Some(to.to_string()), None)
        }
        CardOp::Redeem {
            points, purpose, ..
        } => (
            "redeem",
            points.0,
            None,
            None,
            Some(serde_json::to_string::<Purpose>(purpose).unwrap_or_default()),
        ),
    };
    Some(MovementRow {
        community_id: community.0,
        op_id: op.id.to_string(),
        volunteer: volunteer.to_string(),
        kind: kind.into(),
        points: points(pts),
        replica: op.replica.to_string(),
        entry_id: entry,
        to_replica: to,
        purpose,
        hlc_wall_ms: ms(op.time.wall_ms),
        seq,
    })
}

fn status_name(s: EntryStatus) -> &'static str {
    match s {
        EntryStatus::Unknown => "unknown",
        EntryStatus::Recorded => "recorded",
        EntryStatus::Pending => "pending",
        EntryStatus::Approved => "approved",
        EntryStatus::Rejected => "rejected",
        EntryStatus::Void => "void",
    }
}

/// The serde (snake_case) name of a unit enum value.
fn snake<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Milliseconds as a signed column; times beyond year 292 million saturate.
pub fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn points(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn count(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_sync_core::op::OpKind;
    use linli_sync_core::state::Rules;
    use linli_sync_core::test_support::wire_examples;

    /// Review of issue 11 (D7): the tickets' community was written by an update of every touched row in another
    /// community, so a ticket id written by a second community (two communities creating it at once both pass the
    /// tenancy check, which sees committed rows only) moved the first community's ticket, and its report row, into
    /// the second (and a grid cell's upsert rewrote the other community's row in place). The write is refused now,
    /// and the row stays where it was.
    #[test]
    fn a_ticket_grid_entry_or_visit_row_is_never_moved_to_another_community() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = crate::db::temp_pool(&dir, 1);
        let mut conn = pool.get().expect("connection");
        let other =
            crate::community::create(&mut conn, "和平里社区", "城东街道", 0).expect("community");
        let examples = wire_examples();
        let ops: Vec<&Op> = examples
            .iter()
            .filter(|op| {
                matches!(
                    op.kind(),
                    OpKind::GridCreate
                        | OpKind::TicketCreate
                        | OpKind::EntryVisit
                        | OpKind::EntryActivity
                )
            })
            .collect();
        let mut state = State::new(Rules::DEFAULT);
        let mut touched = Touched::default();
        for op in &ops {
            state.apply(op);
            touched.add(op);
        }
        let with_seq: Vec<(i64, &Op)> = (1..).zip(ops.iter().copied()).collect();
        let community_of = |conn: &mut Conn| -> Vec<i64> {
            ticket_community::table
                .select(ticket_community::community_id)
                .load(conn)
                .expect("tickets")
        };
        // Stored by the second community first (a new row moved to it from the column's default: allowed).
        write(&mut conn, other.id, &state, &touched, &with_seq, 2, 0).expect("first write");
        assert_eq!(community_of(&mut conn), [other.id.0]);
        // Then by the first: refused, the row stays the second community's.
        let refused = write(
            &mut conn,
            CommunityId::FIRST,
            &state,
            &touched,
            &with_seq,
            2,
            0,
        );
        assert!(
            matches!(refused, Err(StoreError::OtherCommunitysRow { owner, .. }) if owner == other.id),
            "{refused:?}"
        );
        assert_eq!(community_of(&mut conn), [other.id.0]);
        // The ticket, the grid cell, the activity and the visit alone: each refused by its own table's check.
        let entry_rows = |conn: &mut Conn| -> Vec<(String, i64, String)> {
            let mut rows: Vec<(String, i64, String)> = entries::table
                .select((entries::id, entries::community_id, entries::volunteer))
                .load(conn)
                .expect("entries");
            rows.extend(
                visits::table
                    .select((visits::entry_id, visits::community_id, visits::volunteer))
                    .load::<(Vec<u8>, i64, Vec<u8>)>(conn)
                    .expect("visits")
                    .into_iter()
                    .map(|(id, c, v)| {
                        let text = |b: &[u8]| {
                            crate::op_row::id_of(b)
                                .map(|u| u.to_string())
                                .unwrap_or_default()
                        };
                        (text(&id), c, text(&v))
                    }),
            );
            rows
        };
        let before = entry_rows(&mut conn);
        assert_eq!(before.len(), 2, "{before:?}");
        assert!(
            before.iter().all(|(_, c, _)| *c == other.id.0),
            "{before:?}"
        );
        // The first community's state has the same entry ids with another volunteer: the upsert would rewrite them.
        let mut theirs = State::new(Rules::DEFAULT);
        for op in &ops {
            let mut op = (*op).clone();
            match &mut op.body {
                OpBody::Entry(_, linli_sync_core::entry::EntryOp::Visit(v)) => {
                    v.volunteer = UserId::random();
                }
                OpBody::Entry(_, linli_sync_core::entry::EntryOp::Activity(a)) => {
                    a.volunteer = UserId::random();
                }
                _ => {}
            }
            theirs.apply(&op);
        }
        for (kind, table) in [
            (OpKind::TicketCreate, "tickets"),
            (OpKind::GridCreate, "grid_cells"),
            (OpKind::EntryActivity, "entries"),
            (OpKind::EntryVisit, "visits"),
        ] {
            let mut only = Touched::default();
            only.add(ops.iter().find(|op| op.kind() == kind).expect("op"));
            let refused = write(&mut conn, CommunityId::FIRST, &theirs, &only, &[], 2, 0);
            assert!(
                matches!(&refused, Err(StoreError::OtherCommunitysRow { table: t, .. }) if *t == table),
                "{refused:?}"
            );
        }
        let grid_owner: Vec<i64> = grid_cells::table
            .select(grid_cells::community_id)
            .load(&mut conn)
            .expect("grids");
        assert_eq!(grid_owner, [other.id.0]);
        assert_eq!(entry_rows(&mut conn), before);
    }
}
