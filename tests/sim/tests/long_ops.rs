//! Long ops and long backlogs against a real `linli` process, through the library's own `Replica::sync`. Found in
//! review of the issue 15 size limits: the server refuses a batch holding one op longer than `max_op_bytes` with
//! `413 op_too_large`, and the phone treated that as retryable — the same op was pushed at every sync, the batch was
//! refused before its pull, and the device was cut off for good (the library caps notes at 4,000 characters, so with
//! the server's default 64 KiB this needs a server configured lower, or an op from another client). A backlog of
//! long but allowed ops went past the server's body limit the same way: 700 visits with 4,000 Chinese characters of
//! notes are 8.4 MB, past the default 8 MiB, refused `payload_too_large` at every sync.

use linli_ffi::api::Replica;
use linli_ffi::{DeviceIdentity, Role as FfiRole, VisitInput};
use linli_sim::server::ServerConfig;
use linli_sim::world::{Spec, World};
use linli_sync_core::grid::{GridOp, Household};
use linli_sync_core::prelude::{GridId, HouseholdId, OpBody, Role, UserId};

/// A butler's phone running the exported library, and the cell and household she visits.
struct App {
    replica: Replica,
    base: String,
    token: String,
}

fn butler_app(world: &World) -> (App, GridId, HouseholdId, UserId) {
    let cell = &world.cells[0];
    let user = world.user(cell.butlers[0]);
    let e = world.console.enrol(user, "long-ops");
    assert_eq!(e.role, Role::Volunteer);
    let identity = DeviceIdentity {
        device_id: e.device.to_string(),
        user_id: e.user.to_string(),
        role: FfiRole::Volunteer,
    };
    let path = world.scratch("apps").join("long-ops.db");
    let app = App {
        replica: Replica::open_at(&path, &identity).expect("open"),
        base: world.server.base.clone(),
        token: e.token,
    };
    (app, cell.id, cell.households[0].0, user)
}

fn visit(grid: GridId, household: HouseholdId, notes: String) -> VisitInput {
    VisitInput {
        grid_id: grid.to_string(),
        household_id: household.to_string(),
        seen: true,
        health: None,
        needs: vec![],
        notes,
    }
}

fn world(server: ServerConfig) -> World {
    World::build(&Spec {
        grids: 1,
        households_per_grid: 2,
        workers_per_grid: 1,
        butlers_per_grid: 1,
        server,
        ..Spec::default()
    })
}

#[test]
fn an_op_longer_than_the_servers_limit_is_set_aside_and_the_device_keeps_syncing() {
    // A server that accepts ops of at most 2,048 bytes.
    let mut world = world(ServerConfig {
        max_op_bytes: 2_048,
        ..ServerConfig::default()
    });
    let (app, grid, household, butler) = butler_app(&world);
    app.replica
        .sync(app.base.clone(), app.token.clone())
        .expect("first sync");
    // 3,000 characters of notes (9,000 bytes): the library accepts them, the server's limit does not.
    let long = app
        .replica
        .record_visit(visit(grid, household, "长".repeat(3_000)))
        .expect("the phone stores the long visit");
    app.replica
        .record_visit(visit(grid, household, "all well".into()))
        .expect("a normal visit after it");
    // Meanwhile the office adds a household to her cell and asks her to visit it: it must still reach her.
    let added = HouseholdId::random();
    world.console.write(
        linli_sim::now_ms(),
        vec![
            OpBody::Grid(
                grid,
                GridOp::AddHousehold {
                    household: added,
                    details: Household {
                        building: "9".into(),
                        unit: "1".into(),
                        room: "101".into(),
                        elderly_alone: false,
                        contact_name: None,
                    },
                },
            ),
            OpBody::Grid(
                grid,
                GridOp::AssignVisit {
                    household: added,
                    butler,
                },
            ),
        ],
    );

    let mut rounds = 0;
    while app.replica.sync_status().expect("status").unsynced_ops > 0 {
        rounds += 1;
        assert!(
            rounds <= 3,
            "the queue never drained: the device is cut off"
        );
        app.replica
            .sync(app.base.clone(), app.token.clone())
            .expect("sync goes on");
    }
    let rejected = app.replica.rejected_ops().expect("rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].code, "op_too_large");
    assert_eq!(rejected[0].entity_id, long.entry_id);
    let to_visit = app.replica.households_to_visit(0).expect("view");
    assert!(
        to_visit.iter().any(|h| h.household_id == added.to_string()),
        "the office's new household arrived: {to_visit:?}"
    );
}

#[test]
fn a_backlog_longer_than_the_servers_body_limit_goes_in_several_round_trips() {
    let world = world(ServerConfig::default());
    let (app, grid, household, _) = butler_app(&world);
    app.replica
        .sync(app.base.clone(), app.token.clone())
        .expect("first sync");
    // 700 visits of 4,000 characters (12 KB each): each under max_op_bytes, together 8.4 MB, past max_body_bytes.
    for i in 0..700 {
        let notes = format!("{i:03}{}", "长".repeat(3_996));
        app.replica
            .record_visit(visit(grid, household, notes))
            .expect("visit");
    }
    let mut rounds = 0;
    while app.replica.sync_status().expect("status").unsynced_ops > 0 {
        rounds += 1;
        assert!(rounds <= 4, "the backlog never drained");
        app.replica
            .sync(app.base.clone(), app.token.clone())
            .expect("sync");
    }
    assert!(
        app.replica.rejected_ops().expect("rejected").is_empty(),
        "nothing was refused"
    );
}
