//! The materialised views the app reads: grid cells I cover (`v_grid`), my households to visit (`v_household`),
//! my open tickets with their 5-20-2-2 deadlines (`v_ticket`) and my hours and card balance (`v_me`).
//!
//! Views are caches of the `State`: [`refresh`] updates the rows an op touches, in the transaction that records
//! the op, and [`rebuild`] recomputes them all (after a bootstrap or a schema upgrade). Reads take a plain
//! `&Connection` and never look at the in-memory state, so what the app shows is what is committed.

use linli_sync_core::entry::{Entry, EntryStatus, Record};
use linli_sync_core::grid::Grid;
use linli_sync_core::prelude::{
    EntryOp, GridId, GridOp, HouseholdId, MemberRole, Op, OpBody, Role, State, TicketId, UserId,
    evaluate,
};
use linli_sync_core::ticket::EventKind;
use rusqlite::{Connection, Transaction, params};
use std::collections::BTreeMap;

use crate::device::{to_i64, to_u64};
use crate::error::Result;
use crate::types::{
    Complexity, GridView, HouseholdView, MySummary, Step, TicketStatus, TicketView,
};

/// Whose views these are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Me {
    /// The signed-in user.
    pub user: UserId,
    /// Their role.
    pub role: Role,
}

/// Updates the views for ops just applied to `state`.
pub fn refresh(tx: &Transaction, state: &State, me: Me, ops: &[Op]) -> Result<()> {
    let mut me_dirty = false;
    for op in ops {
        match &op.body {
            OpBody::Grid(_, GridOp::AddMember { user, .. } | GridOp::RemoveMember { user, .. })
                if *user == me.user =>
            {
                // My scope changed: which cells, households and tickets are mine is decided anew.
                return rebuild(tx, state, me);
            }
            OpBody::Grid(id, _) => refresh_grid(tx, state, me, *id)?,
            OpBody::Ticket(id, _) => refresh_ticket(tx, state, me, *id)?,
            // A visit earns no minutes, so "my hours" stays as it is. Its void may have arrived first (ops come in
            // any order): then the visit must not count, which recomputing the cell's households takes care of.
            OpBody::Entry(id, EntryOp::Visit(v)) => {
                if state.entry(id).map(Entry::status) == Some(EntryStatus::Void) {
                    refresh_grid(tx, state, me, v.grid)?;
                } else {
                    note_visit(tx, v.household, op.time.wall_ms, v.seen)?;
                }
            }
            OpBody::Entry(id, _) => {
                // A decision on a visit (a void) changes which visit is the household's latest.
                if let Some((_, Record::Visit(v))) = state.entry(id).and_then(|e| e.record.as_ref())
                {
                    refresh_grid(tx, state, me, v.grid)?;
                }
                me_dirty = true;
            }
            OpBody::Card(..) => me_dirty = true,
            // Linked bodies, decisions and routing rules have no view of their own yet; a dispatch or a decision
            // is a ticket op and refreshes its ticket above.
            OpBody::Agency(..) | OpBody::Decision(..) | OpBody::Route(..) => {}
        }
    }
    if me_dirty {
        refresh_me(tx, state, me)?;
    }
    Ok(())
}

/// Recomputes every view from `state`.
pub fn rebuild(tx: &Transaction, state: &State, me: Me) -> Result<()> {
    tx.execute_batch("DELETE FROM v_grid; DELETE FROM v_household; DELETE FROM v_ticket;")?;
    for id in state.grids().keys() {
        refresh_grid(tx, state, me, *id)?;
    }
    for id in state.tickets().keys() {
        refresh_ticket(tx, state, me, *id)?;
    }
    refresh_me(tx, state, me)
}

fn member(grid: &Grid, role: MemberRole, user: UserId) -> bool {
    grid.members(role).contains(&user)
}

fn refresh_grid(tx: &Transaction, state: &State, me: Me, id: GridId) -> Result<()> {
    let gid = id.to_string();
    let grid = state.grid(&id).filter(|g| g.created.is_some());
    let in_scope = grid.filter(|g| {
        me.role == Role::Admin
            || member(g, MemberRole::Worker, me.user)
            || member(g, MemberRole::Butler, me.user)
    });
    let Some(grid) = in_scope else {
        tx.execute("DELETE FROM v_grid WHERE grid_id = ?1", [&gid])?;
        tx.execute("DELETE FROM v_household WHERE grid_id = ?1", [&gid])?;
        return Ok(());
    };
    let as_worker = member(grid, MemberRole::Worker, me.user);
    tx.execute(
        "INSERT INTO v_grid (grid_id, name, community, as_worker, as_butler) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (grid_id) DO UPDATE SET name = excluded.name, community = excluded.community,
             as_worker = excluded.as_worker, as_butler = excluded.as_butler",
        params![
            gid,
            grid.name.val.clone().unwrap_or_default(),
            grid.community.val.clone().unwrap_or_default(),
            as_worker,
            member(grid, MemberRole::Butler, me.user),
        ],
    )?;
    tx.execute("DELETE FROM v_household WHERE grid_id = ?1", [&gid])?;
    let mine: Vec<HouseholdId> = grid.visits_of(me.user).collect();
    let last_visits = latest_visits(state, id);
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO v_household (household_id, grid_id, building, unit, room, contact_name,
             elderly_alone, to_visit, last_visit_ms, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for h in grid.households.iter() {
        let Some(d) = grid.household(h) else { continue };
        let to_visit = mine.contains(h) || (as_worker && d.elderly_alone);
        let last = last_visits.get(h);
        insert.execute(params![
            h.to_string(),
            gid,
            d.building,
            d.unit,
            d.room,
            d.contact_name,
            d.elderly_alone,
            to_visit,
            last.map(|(t, _)| to_i64(*t)),
            last.map(|(_, seen)| *seen),
        ])?;
    }
    Ok(())
}

/// The latest visit (time, seen) of every household of `grid` that this replica knows of.
fn latest_visits(state: &State, grid: GridId) -> BTreeMap<HouseholdId, (u64, bool)> {
    let mut out: BTreeMap<HouseholdId, (u64, bool)> = BTreeMap::new();
    for e in state.entries().values() {
        if e.status() == EntryStatus::Void {
            continue;
        }
        if let Some((stamp, Record::Visit(v))) = &e.record
            && v.grid == grid
        {
            let at = stamp.time.wall_ms;
            let slot = out.entry(v.household).or_insert((at, v.seen));
            if at > slot.0 {
                *slot = (at, v.seen);
            }
        }
    }
    out
}

fn note_visit(tx: &Transaction, household: HouseholdId, at_ms: u64, seen: bool) -> Result<()> {
    tx.prepare_cached(
        "UPDATE v_household SET last_visit_ms = ?2, last_seen = ?3
         WHERE household_id = ?1 AND (last_visit_ms IS NULL OR last_visit_ms < ?2)",
    )?
    .execute(params![household.to_string(), to_i64(at_ms), seen])?;
    Ok(())
}

fn refresh_ticket(tx: &Transaction, state: &State, me: Me, id: TicketId) -> Result<()> {
    let tid = id.to_string();
    let ticket = state
        .ticket(&id)
        .and_then(|t| Some((t, t.created.as_ref()?)));
    let in_scope = ticket.filter(|(t, (_, c))| {
        me.role == Role::Admin
            || state
                .grid(&c.grid)
                .is_some_and(|g| member(g, MemberRole::Worker, me.user))
            || t.assignees.contains(&me.user)
            || t.timeline()
                .any(|(_, e)| e.kind == EventKind::Created && e.by == me.user)
    });
    let Some((t, (created, create))) = in_scope else {
        tx.execute("DELETE FROM v_ticket WHERE ticket_id = ?1", [&tid])?;
        return Ok(());
    };
    // Judged with "now" = 0, so nothing is overdue yet: overdue depends on the time of reading.
    let ev = evaluate(t, &state.rules().rule52022, 0);
    let taken = t
        .timeline()
        .find(|(_, e)| e.kind == EventKind::Taken)
        .map(|(s, _)| to_i64(s.time.wall_ms));
    let steps = [ev.on_site, ev.solved, ev.plan, ev.answer].map(Step::stored);
    let opt = |v: Option<u64>| v.map(to_i64);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO v_ticket (ticket_id, grid_id, category, description, status, complexity,
             created_ms, taken_ms,
             on_site_verdict, on_site_deadline_ms, on_site_elapsed_ms,
             solved_verdict, solved_deadline_ms, solved_elapsed_ms,
             plan_verdict, plan_deadline_ms, plan_elapsed_ms,
             answer_verdict, answer_deadline_ms, answer_elapsed_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    )?
    .execute(params![
        tid,
        create.grid.to_string(),
        t.category.val.clone().unwrap_or_default(),
        t.description.val.clone().unwrap_or_default(),
        TicketStatus::from(t.status()).as_str(),
        complexity_name(ev.complexity.into()),
        to_i64(created.time.wall_ms),
        taken,
        steps[0].0,
        opt(steps[0].1),
        opt(steps[0].2),
        steps[1].0,
        opt(steps[1].1),
        opt(steps[1].2),
        steps[2].0,
        opt(steps[2].1),
        opt(steps[2].2),
        steps[3].0,
        opt(steps[3].1),
        opt(steps[3].2),
    ])?;
    Ok(())
}

fn complexity_name(c: Complexity) -> &'static str {
    match c {
        Complexity::Small => "small",
        Complexity::Complex => "complex",
    }
}

fn refresh_me(tx: &Transaction, state: &State, me: Me) -> Result<()> {
    let (mut approved, mut pending) = (0u64, 0u64);
    for e in state.entries().values() {
        if let Some((_, Record::Activity(a))) = &e.record
            && a.volunteer == me.user
        {
            approved += u64::from(e.approved_minutes());
            if e.status() == EntryStatus::Pending {
                pending += u64::from(a.minutes());
            }
        }
    }
    let card = state.card(&me.user);
    let points = |f: fn(&linli_sync_core::card::Card) -> u64| card.map_or(0, f);
    tx.execute(
        "INSERT OR REPLACE INTO v_me (id, approved_minutes, pending_minutes, card_balance, card_credited,
             card_redeemed) VALUES (1, ?1, ?2, ?3, ?4, ?5)",
        params![
            to_i64(approved),
            to_i64(pending),
            to_i64(points(|c| c.balance().0)),
            to_i64(points(|c| c.credited().0)),
            to_i64(points(|c| c.redeemed().0)),
        ],
    )?;
    Ok(())
}

/// Households I should visit, with whether they were visited since `day_start_ms`.
pub fn households_to_visit(conn: &Connection, day_start_ms: u64) -> Result<Vec<HouseholdView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT household_id, grid_id, building, unit, room, contact_name, elderly_alone, last_visit_ms, last_seen
         FROM v_household WHERE to_visit = 1 ORDER BY building, unit, room",
    )?;
    let rows = stmt.query_map([], |r| {
        let last: Option<i64> = r.get(7)?;
        Ok(HouseholdView {
            household_id: r.get(0)?,
            grid_id: r.get(1)?,
            building: r.get(2)?,
            unit: r.get(3)?,
            room: r.get(4)?,
            contact_name: r.get(5)?,
            elderly_alone: r.get(6)?,
            last_visit_ms: last.map(to_u64),
            last_seen: r.get(8)?,
            visited_today: last.is_some_and(|t| to_u64(t) >= day_start_ms),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Tickets in my scope that are not answered or closed, oldest first, judged at `now_ms`.
pub fn open_tickets(conn: &Connection, now_ms: u64) -> Result<Vec<TicketView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ticket_id, grid_id, category, description, status, complexity, created_ms, taken_ms,
             on_site_verdict, on_site_deadline_ms, on_site_elapsed_ms,
             solved_verdict, solved_deadline_ms, solved_elapsed_ms,
             plan_verdict, plan_deadline_ms, plan_elapsed_ms,
             answer_verdict, answer_deadline_ms, answer_elapsed_ms
         FROM v_ticket WHERE status NOT IN ('answered', 'closed') ORDER BY created_ms, ticket_id",
    )?;
    let rows = stmt.query_map([], |r| {
        let step = |i: usize| -> rusqlite::Result<Step> {
            let name: String = r.get(i)?;
            let deadline: Option<i64> = r.get(i + 1)?;
            let elapsed: Option<i64> = r.get(i + 2)?;
            Ok(Step::load(
                &name,
                deadline.map(to_u64),
                elapsed.map(to_u64),
                now_ms,
            ))
        };
        let status: String = r.get(4)?;
        let complexity: String = r.get(5)?;
        let taken: Option<i64> = r.get(7)?;
        Ok(TicketView {
            ticket_id: r.get(0)?,
            grid_id: r.get(1)?,
            category: r.get(2)?,
            description: r.get(3)?,
            status: TicketStatus::parse(&status),
            complexity: if complexity == "complex" {
                Complexity::Complex
            } else {
                Complexity::Small
            },
            created_ms: to_u64(r.get(6)?),
            taken_ms: taken.map(to_u64),
            on_site: step(8)?,
            solved: step(11)?,
            plan: step(14)?,
            answer: step(17)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Grid cells I cover.
pub fn grid_cells(conn: &Connection) -> Result<Vec<GridView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT grid_id, name, community, as_worker, as_butler FROM v_grid ORDER BY name, grid_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(GridView {
            grid_id: r.get(0)?,
            name: r.get(1)?,
            community: r.get(2)?,
            as_worker: r.get(3)?,
            as_butler: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// My hours and card balance.
pub fn summary(conn: &Connection) -> Result<MySummary> {
    use rusqlite::OptionalExtension;
    let row = conn
        .query_row(
            "SELECT approved_minutes, pending_minutes, card_balance, card_credited, card_redeemed
             FROM v_me WHERE id = 1",
            [],
            |r| {
                Ok(MySummary {
                    approved_minutes: to_u64(r.get(0)?),
                    pending_minutes: to_u64(r.get(1)?),
                    card_balance: to_u64(r.get(2)?),
                    card_credited: to_u64(r.get(3)?),
                    card_redeemed: to_u64(r.get(4)?),
                })
            },
        )
        .optional()?;
    Ok(row.unwrap_or(MySummary {
        approved_minutes: 0,
        pending_minutes: 0,
        card_balance: 0,
        card_credited: 0,
        card_redeemed: 0,
    }))
}
