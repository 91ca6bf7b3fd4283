//! Offline work against removals, through real replicas and a real `linli` process (issue 17, item 3): a visit to
//! a household the office removed while the butler was offline, and a health-flagged visit with its follow-up
//! ticket by a butler taken off her cell while offline, are accepted and reach the cell's grid worker (his
//! replica, his open tickets, his review list); an op stamped after a removal its writer had seen is still
//! refused, exactly as before.
//!
//! Found by the review behind issue 17 through the Python bindings: both offline histories were refused
//! (`unknown_entity`, `out_of_scope`) and set aside on the butler's phone, so the flag never reached a grid
//! worker — while the same histories were accepted when she synced before the removal.

use linli_ffi::{HealthFlag, ReviewItem, VisitInput};
use linli_reports::calendar::date_of;
use linli_reports::policy::ReportPolicy;
use linli_sim::http;
use linli_sim::world::{Spec, World};
use linli_sync_core::entry::{EntryOp, Visit};
use linli_sync_core::grid::{GridOp, MemberRole};
use linli_sync_core::prelude::{
    EntryId, GridId, HlcClock, HouseholdId, Op, OpBody, Rules, State, UserId, Writer,
};
use serde_json::json;
use std::time::Duration;

fn one_cell() -> World {
    World::build(&Spec {
        grids: 1,
        households_per_grid: 3,
        elderly_every: 1,
        workers_per_grid: 1,
        butlers_per_grid: 1,
        ..Spec::default()
    })
}

fn visit_input(grid: GridId, household: HouseholdId, health: Option<HealthFlag>) -> VisitInput {
    VisitInput {
        grid_id: grid.to_string(),
        household_id: household.to_string(),
        seen: true,
        health,
        needs: vec![],
        notes: "敲门: 老人在家".into(),
    }
}

/// The office removes `household` from `grid`, naming the adds it sees.
fn remove_household(world: &mut World, grid: GridId, household: HouseholdId) -> Op {
    let observed = world
        .console
        .snapshot()
        .state
        .grid(&grid)
        .map(|g| g.households.live_tags(&household))
        .unwrap_or_default();
    assert!(!observed.is_empty(), "the household is in the cell");
    // The removal comes after the offline work in time: a few milliseconds are enough for the stamps.
    std::thread::sleep(Duration::from_millis(5));
    world
        .console
        .write(
            linli_sim::now_ms(),
            vec![OpBody::Grid(
                grid,
                GridOp::RemoveHousehold {
                    household,
                    observed,
                },
            )],
        )
        .remove(0)
}

/// The office takes `user` off `grid` as a micro-butler.
fn remove_butler(world: &mut World, grid: GridId, user: UserId) -> Op {
    let observed = world
        .console
        .snapshot()
        .state
        .grid(&grid)
        .map(|g| g.members(MemberRole::Butler).live_tags(&user))
        .unwrap_or_default();
    assert!(!observed.is_empty(), "she is a butler of the cell");
    std::thread::sleep(Duration::from_millis(5));
    world
        .console
        .write(
            linli_sim::now_ms(),
            vec![OpBody::Grid(
                grid,
                GridOp::RemoveMember {
                    user,
                    role: MemberRole::Butler,
                    observed,
                },
            )],
        )
        .remove(0)
}

fn review(world: &World, phone: usize) -> Vec<(String, String, String)> {
    let mut items: Vec<(String, String, String)> = world.phones[phone]
        .store
        .review_list()
        .expect("review list")
        .into_iter()
        .map(|i: ReviewItem| (i.kind, i.entity_id, i.reason))
        .collect();
    items.sort();
    items
}

fn holds_entry(state: &State, id: &str) -> bool {
    state.entries().keys().any(|e| e.to_string() == id)
}

#[test]
fn a_visit_to_a_household_removed_while_the_butler_was_offline_reaches_the_grid_worker() {
    let mut world = one_cell();
    world.sync_all().expect("everybody syncs");
    let (grid, household) = (world.cells[0].id, world.cells[0].households[0].0);
    let (butler, worker) = (world.cells[0].butlers[0], world.cells[0].workers[0]);

    // Offline in the stairwell, she knocks; meanwhile the office removes the household.
    let now = world.phones[butler].now();
    let visit = world.phones[butler]
        .store
        .record_visit(now, &visit_input(grid, household, None))
        .expect("visit");
    remove_household(&mut world, grid, household);

    world.phones[butler].sync().expect("butler syncs");
    assert_eq!(world.phones[butler].set_aside, Vec::<String>::new());
    assert!(
        world.phones[butler]
            .store
            .rejected_ops()
            .expect("rejected")
            .is_empty()
    );
    assert_eq!(
        world.phones[butler].unsynced(),
        0,
        "the visit is acknowledged"
    );

    world.phones[worker].sync().expect("worker syncs");
    assert!(
        holds_entry(world.phones[worker].state(), &visit.entry_id),
        "the visit reached the grid worker's replica"
    );
    assert_eq!(
        review(&world, worker),
        vec![(
            "visit".to_string(),
            visit.entry_id.clone(),
            "household_removed".to_string()
        )]
    );
    // The admins see it too: the day's coverage report lists it for review.
    let day = date_of(
        linli_sim::now_ms(),
        ReportPolicy::DEFAULT.utc_offset_minutes,
    );
    let report = http::get(
        &format!("{}/v1/reports/coverage?day={day}", world.console.base),
        &world.console.token,
    )
    .expect("coverage report")
    .json();
    assert_eq!(
        report["review"],
        json!([{
            "grid": grid.to_string(),
            "subject": {"kind": "visit", "id": visit.entry_id},
            "reason": "household_removed",
            "at": report["review"][0]["at"],
            "by": world.user(butler).to_string(),
        }]),
        "{report}"
    );
    // The server holds it, and the household stays removed.
    let server = world.console.snapshot().state;
    assert!(holds_entry(&server, &visit.entry_id));
    assert!(
        !server
            .grid(&grid)
            .expect("grid")
            .households
            .contains(&household)
    );
}

#[test]
fn a_butler_removed_while_offline_keeps_her_flagged_visit_and_its_ticket_reaches_the_grid_worker() {
    let mut world = one_cell();
    world.sync_all().expect("everybody syncs");
    let (grid, household) = (world.cells[0].id, world.cells[0].households[1].0);
    let (butler, worker) = (world.cells[0].butlers[0], world.cells[0].workers[0]);
    let butler_user = world.user(butler);

    let now = world.phones[butler].now();
    let visit = world.phones[butler]
        .store
        .record_visit(now, &visit_input(grid, household, Some(HealthFlag::Unwell)))
        .expect("flagged visit");
    let ticket = visit
        .follow_up_ticket_id
        .clone()
        .expect("a follow-up ticket");
    remove_butler(&mut world, grid, butler_user);

    world.phones[butler].sync().expect("butler syncs");
    assert_eq!(world.phones[butler].set_aside, Vec::<String>::new());
    assert_eq!(world.phones[butler].unsynced(), 0);

    world.phones[worker].sync().expect("worker syncs");
    let now = world.phones[worker].now();
    let open: Vec<String> = world.phones[worker]
        .store
        .open_tickets(now)
        .expect("tickets")
        .into_iter()
        .map(|t| t.ticket_id)
        .collect();
    assert!(
        open.contains(&ticket),
        "the follow-up ticket is open for the grid worker"
    );
    assert!(holds_entry(world.phones[worker].state(), &visit.entry_id));
    let mut expected = vec![
        ("ticket".to_string(), ticket, "author_left_cell".to_string()),
        (
            "visit".to_string(),
            visit.entry_id,
            "author_left_cell".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(review(&world, worker), expected);
}

/// Pushes `ops` from `phone`'s device as its own, outside its replica (the replica itself refuses to write what
/// its view forbids); the problem code (with its cause's code after a `/`, if any), or `ok`.
fn push_raw(world: &World, phone: usize, ops: &[Op]) -> String {
    let body = json!({"protocol": 1, "cursor": 0, "limit": 1,
        "ops": ops.iter().map(Op::to_value).collect::<Vec<_>>()})
    .to_string();
    let answer = http::post(
        &format!("{}/v1/sync", world.server.base),
        Some(&world.phones[phone].id.token),
        body.as_bytes(),
    )
    .expect("sync answer");
    if answer.status == 200 {
        "ok".into()
    } else {
        let v = answer.json();
        let code = v["code"].as_str().unwrap_or("?").to_string();
        match v["cause"]["code"].as_str() {
            Some(cause) if cause != code => format!("{code}/{cause}"),
            _ => code,
        }
    }
}

#[test]
fn an_op_stamped_after_a_removal_is_refused_and_one_stamped_before_is_accepted() {
    let mut world = one_cell();
    world.sync_all().expect("everybody syncs");
    let grid = world.cells[0].id;
    let (gone, kept) = (
        world.cells[0].households[0].0,
        world.cells[0].households[2].0,
    );
    let butler = world.cells[0].butlers[0];
    let user = world.user(butler);
    let mut writer = Writer::new(
        world.phones[butler].id.device,
        user,
        HlcClock::new(Rules::DEFAULT.drift),
    );
    let visit_op = |writer: &mut Writer, household: HouseholdId, at: u64| {
        writer.op(
            at,
            OpBody::Entry(
                EntryId::random(),
                EntryOp::Visit(Visit {
                    volunteer: user,
                    grid,
                    household,
                    seen: true,
                    health: None,
                    needs: vec![],
                    notes: String::new(),
                    follow_up: None,
                }),
            ),
        )
    };
    let before_removal = visit_op(&mut writer, gone, linli_sim::now_ms());
    let removal = remove_household(&mut world, grid, gone);
    // What a phone writes once it has seen the removal: its clock observed it, so it is stamped later.
    writer.clock.observe_accepted(removal.time);
    let after_removal = visit_op(&mut writer, gone, linli_sim::now_ms());
    assert!(before_removal.stamp() < removal.stamp() && removal.stamp() < after_removal.stamp());
    assert_eq!(
        push_raw(&world, butler, &[after_removal]),
        "op_invalid/unknown_entity"
    );
    assert_eq!(push_raw(&world, butler, &[before_removal]), "ok");

    // The same line for membership: before her removal she may visit, after it she may not.
    let before_leaving = visit_op(&mut writer, kept, linli_sim::now_ms());
    let leaving = remove_butler(&mut world, grid, user);
    writer.clock.observe_accepted(leaving.time);
    let after_leaving = visit_op(&mut writer, kept, linli_sim::now_ms());
    assert_eq!(push_raw(&world, butler, &[after_leaving]), "out_of_scope");
    assert_eq!(push_raw(&world, butler, &[before_leaving]), "ok");

    // Her own replica, once synced, refuses at once what the server would refuse.
    world.phones[butler].sync().expect("butler syncs");
    let now = world.phones[butler].now();
    let refused = world.phones[butler]
        .store
        .record_visit(now, &visit_input(grid, kept, None));
    assert!(
        refused.is_err(),
        "a visit after leaving the cell is refused on the phone"
    );
}
