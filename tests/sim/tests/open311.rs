//! Open311 end to end (issue 13): a request filed by a city system over GeoReport v2 into a real `linli serve` is
//! routed by its category's rule to a grid worker, reaches the worker's phone (the exported `Replica`) on its next
//! sync, is taken, and later solved, on the phone with no connection in between, and after each sync its Open311
//! status, updates and `expected_datetime` say so.

use linli_sim::app::App;
use linli_sim::http::{self, Answer};
use linli_sim::world::{Spec, World};
use linli_sync_core::grid::{GridOp, Household};
use linli_sync_core::prelude::{
    Handler, HouseholdId, OpBody, Responsible, RouteId, RouteOp, RouteSet, TicketId,
};
use serde_json::{Value, json};

fn json_of(answer: &Answer) -> Value {
    serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&answer.body)))
}

fn request(base: &str, id: &str) -> Value {
    let answer = http::get(&format!("{base}/open311/v2/requests/{id}.json"), "").expect("answer");
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    json_of(&answer)[0].clone()
}

fn update_statuses(base: &str, id: &str) -> Vec<String> {
    let answer = http::get(
        &format!("{base}/open311/v2/servicerequestupdates.json?service_request_id={id}"),
        "",
    )
    .expect("answer");
    json_of(&answer)
        .as_array()
        .expect("updates")
        .iter()
        .map(|u| u["status"].as_str().expect("status").to_string())
        .collect()
}

#[test]
fn a_request_filed_over_open311_is_routed_handled_offline_on_a_phone_and_reported_back() {
    let mut world = World::build(&Spec {
        grids: 2,
        households_per_grid: 2,
        workers_per_grid: 2,
        butlers_per_grid: 1,
        ..Spec::default()
    });
    let base = world.server.base.clone();
    let cell = world.cells[0].id;
    // The second worker of the first cell answers its water leaks (the rule); building 21 is in that cell.
    let worker = world.user(world.cells[0].workers[1]);
    world.console.write(
        linli_sim::now_ms(),
        vec![
            OpBody::Grid(
                cell,
                GridOp::AddHousehold {
                    household: HouseholdId::random(),
                    details: Household {
                        building: "21".into(),
                        unit: "1".into(),
                        room: "101".into(),
                        elderly_alone: false,
                        contact_name: None,
                    },
                },
            ),
            OpBody::Route(
                RouteId::random(),
                RouteOp::Set(RouteSet {
                    category: "water_leak".into(),
                    grid: Some(cell),
                    to: Some(Handler::User(worker)),
                }),
            ),
        ],
    );
    let app = App::open(&world, worker, "worker-app");
    app.sync();

    let issued = http::post(
        &format!("{base}/v1/open311/clients"),
        Some(&world.console.token),
        json!({"name": "市民热线"}).to_string().as_bytes(),
    )
    .expect("answer");
    assert_eq!(
        issued.status,
        201,
        "{}",
        String::from_utf8_lossy(&issued.body)
    );
    let key = json_of(&issued)["api_key"]
        .as_str()
        .expect("key")
        .to_string();
    let filed = http::post_form(
        &format!("{base}/open311/v2/requests.json"),
        &[
            ("api_key", &key),
            ("service_code", "water_leak"),
            ("attribute[building]", "21"),
            ("description", "楼道水管爆裂"),
            ("phone", "13900000000"),
        ],
    )
    .expect("answer");
    assert_eq!(
        filed.status,
        200,
        "{}",
        String::from_utf8_lossy(&filed.body)
    );
    let id = json_of(&filed)[0]["service_request_id"]
        .as_str()
        .expect("id")
        .to_string();

    // The worker's next sync brings it, in the building's cell, with its category.
    app.sync();
    let tickets = app.replica.open_tickets().expect("tickets");
    let ticket = tickets
        .iter()
        .find(|t| t.ticket_id == id)
        .unwrap_or_else(|| panic!("the phone lacks the request; it has {tickets:?}"));
    assert_eq!(ticket.grid_id, cell.to_string());
    assert_eq!(ticket.category, "water_leak");
    assert_eq!(request(&base, &id)["expected_datetime"], Value::Null);
    // Routed by its category's rule for the cell, as the merged state (the admin's snapshot) shows.
    let snapshot = world.console.snapshot();
    let ticket_id: TicketId = id.parse().expect("ticket id");
    let merged = snapshot.state.ticket(&ticket_id).expect("on the server");
    assert_eq!(
        snapshot.state.handler_of(merged),
        Responsible::Routed(Handler::User(worker))
    );

    // Taken on the phone, offline; after the sync the request expects its 5-20 deadline.
    app.replica.take_ticket(id.clone(), None).expect("take");
    let taken_at = app
        .replica
        .open_tickets()
        .expect("tickets")
        .into_iter()
        .find(|t| t.ticket_id == id)
        .and_then(|t| t.taken_ms)
        .expect("taken time");
    assert_eq!(request(&base, &id)["status"], "open");
    app.sync();
    let after_take = request(&base, &id);
    assert_eq!(after_take["status"], "open");
    let expected = linli_reports::calendar::parse_w3c_datetime(
        after_take["expected_datetime"]
            .as_str()
            .expect("expected time"),
        480,
    )
    .expect("w3c");
    let want = taken_at + 25 * 60_000;
    assert!(
        expected.abs_diff(want) < 1000,
        "expected {expected}, want {want}"
    );
    assert_eq!(update_statuses(&base, &id), ["OPEN", "IN_PROGRESS"]);

    // On site and solved, still offline; the server learns it at the next sync.
    app.replica.arrive_ticket(id.clone(), None).expect("arrive");
    app.replica
        .solve_ticket(id.clone(), Some("换了阀门".into()))
        .expect("solve");
    assert_eq!(request(&base, &id)["status"], "open", "nothing synced yet");
    app.sync();
    let solved = request(&base, &id);
    assert_eq!(solved["status"], "closed", "{solved:#}");
    assert_eq!(solved["expected_datetime"], Value::Null);
    assert_eq!(
        update_statuses(&base, &id),
        ["OPEN", "IN_PROGRESS", "IN_PROGRESS", "FIXED"]
    );
    // The phone's internal solve note is not public.
    assert!(!solved.to_string().contains("换了阀门"));
    assert!(!solved.to_string().contains("13900000000"));
    assert_eq!(app.replica.sync_status().expect("status").unsynced_ops, 0);
}
