//! Every refusal of `POST /v1/sync`: the status, the stable code, and that the database is unchanged. A batch
//! with one bad op is refused whole, naming the op by index and id.

use linli_sync_core::prelude::*;
use serde_json::{Value, json};

use crate::common::{Device, TestApp, World, ticket_create};

/// Sends `body` as `device`, asserts the problem, and asserts that no table changed.
async fn check(
    app: &TestApp,
    device: &Device,
    body: impl Into<reqwest::Body>,
    status: u16,
    code: &str,
) -> Value {
    let before = app.fingerprint();
    let reply = app.sync_raw(&device.token, body).await;
    reply.assert_problem(status, code);
    assert_eq!(
        app.fingerprint(),
        before,
        "a refused request changed the database"
    );
    reply.body
}

fn request(ops: &[Value]) -> String {
    json!({"protocol": 1, "cursor": 0, "ops": ops}).to_string()
}

#[actix_web::test]
async fn malformed_and_mistyped_requests() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let d = &w.admin;
    check(&app, d, "{\"protocol\":1,", 400, "malformed_json").await;
    check(&app, d, "[]", 400, "invalid_request").await;
    check(
        &app,
        d,
        r#"{"protocol":1,"cursor":"0"}"#,
        400,
        "invalid_request",
    )
    .await;
    check(
        &app,
        d,
        r#"{"protocol":1,"cursor":0,"ops":{}}"#,
        400,
        "invalid_request",
    )
    .await;
    check(
        &app,
        d,
        r#"{"protocol":"1","cursor":0}"#,
        400,
        "invalid_request",
    )
    .await;
    let b = check(
        &app,
        d,
        r#"{"protocol":0,"cursor":0,"ops":[]}"#,
        426,
        "upgrade_required",
    )
    .await;
    assert_eq!(b["supported_protocol"], json!(1));
    check(
        &app,
        d,
        r#"{"protocol":2,"cursor":0}"#,
        400,
        "unsupported_protocol",
    )
    .await;
}

#[actix_web::test]
async fn unreadable_ops_are_named_by_index_and_id() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let good = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)))
        .to_value();

    let mut unknown_kind = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)))
        .to_value();
    unknown_kind["kind"] = json!("ticket.teleport");
    let b = check(
        &app,
        &w.admin,
        request(&[good.clone(), unknown_kind.clone()]),
        400,
        "unknown_op_kind",
    )
    .await;
    assert_eq!(b["op_index"], json!(1));
    assert_eq!(b["op_id"], unknown_kind["id"]);

    let mut wrong_type = good.clone();
    wrong_type["id"] = json!(OpId::random().to_string());
    wrong_type["time"] = json!("yesterday");
    let b = check(
        &app,
        &w.admin,
        request(&[wrong_type.clone()]),
        400,
        "invalid_op",
    )
    .await;
    assert_eq!(b["op_index"], json!(0));
    assert_eq!(b["cause"]["code"], json!("field"));

    let mut bad_body = good.clone();
    bad_body["id"] = json!(OpId::random().to_string());
    bad_body["body"]["grid"] = json!(42);
    check(&app, &w.admin, request(&[bad_body]), 400, "invalid_op").await;

    let mut newer = good.clone();
    newer["v"] = json!(9);
    check(
        &app,
        &w.admin,
        request(&[newer]),
        400,
        "unsupported_op_version",
    )
    .await;
}

#[actix_web::test]
async fn a_batch_with_one_forbidden_op_stores_nothing() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let t = TicketId::random();
    let ok1 = w.worker.op(OpBody::Ticket(t, ticket_create(w.g1)));
    let ok2 = w
        .worker
        .op(OpBody::Ticket(t, TicketOp::Take(Note::default())));
    let outside = w
        .worker
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g2)));
    let ops: Vec<Value> = [&ok1, &ok2, &outside]
        .iter()
        .map(|o| o.to_value())
        .collect();
    let b = check(&app, &w.worker, request(&ops), 403, "out_of_scope").await;
    assert_eq!(b["op_index"], json!(2));
    assert_eq!(b["op_id"], json!(outside.id.to_string()));
    assert_eq!(b["cause"]["code"], json!("out_of_scope"));
    assert_eq!(app.copies(ok1.id), 0);

    // Wrong role, and an op claiming another device.
    let grid = w.worker.op(OpBody::Grid(
        GridId::random(),
        GridOp::Create {
            name: "x".into(),
            community: "y".into(),
        },
    ));
    check(
        &app,
        &w.worker,
        request(&[grid.to_value()]),
        403,
        "role_forbidden",
    )
    .await;
    let mut stolen = w
        .butler
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)));
    stolen.replica = w.admin.id;
    check(
        &app,
        &w.butler,
        request(&[stolen.to_value()]),
        403,
        "wrong_actor",
    )
    .await;

    // A rule of the data: a ticket in a grid cell nobody created.
    let nowhere = w.admin.op(OpBody::Ticket(
        TicketId::random(),
        ticket_create(GridId::random()),
    ));
    let b = check(
        &app,
        &w.admin,
        request(&[nowhere.to_value()]),
        422,
        "op_invalid",
    )
    .await;
    assert_eq!(b["cause"]["code"], json!("unknown_entity"));
}

#[actix_web::test]
async fn clock_skew_beyond_the_bound_is_refused() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let future = linli_server::now_ms() + 60 * 60 * 1000;
    let op = w.admin.writer.op(
        future,
        OpBody::Ticket(TicketId::random(), ticket_create(w.g1)),
    );
    let b = check(&app, &w.admin, request(&[op.to_value()]), 400, "clock_skew").await;
    assert_eq!(b["cause"]["code"], json!("too_far_ahead"));
    assert_eq!(b["cause"]["max_ahead_ms"], json!(600_000));
    // Old times are fine: a phone offline for a week.
    let week_ago = linli_server::now_ms() - 7 * 86_400_000;
    let mut offline = Writer::new(
        w.admin.id,
        w.admin.user,
        HlcClock::new(DriftPolicy::DEFAULT),
    );
    let op = offline.op(
        week_ago,
        OpBody::Ticket(TicketId::random(), ticket_create(w.g1)),
    );
    app.push_ok(&w.admin, &[op]).await;
}

#[actix_web::test]
async fn limits_answer_413_naming_the_limit() {
    let app = TestApp::spawn_with(|c| {
        c.limits.max_batch_ops = 8;
        c.limits.max_body_bytes = 8192;
    })
    .await;
    let mut w = World::build(&app).await;
    let ops: Vec<Value> = (0..9)
        .map(|_| {
            w.admin
                .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)))
                .to_value()
        })
        .collect();
    let b = check(&app, &w.admin, request(&ops), 413, "payload_too_large").await;
    assert_eq!(
        (b["limit_name"].as_str(), b["limit"].as_u64()),
        (Some("max_batch_ops"), Some(8))
    );

    let big = format!(
        r#"{{"protocol":1,"cursor":0,"ops":[],"pad":"{}"}}"#,
        "x".repeat(9000)
    );
    let b = check(&app, &w.admin, big.clone(), 413, "payload_too_large").await;
    assert_eq!(
        (b["limit_name"].as_str(), b["limit"].as_u64()),
        (Some("max_body_bytes"), Some(8192))
    );

    // Compressed small, decoded large: the limit applies to the decoded bytes.
    let before = app.fingerprint();
    let reply = app
        .send(
            app.client
                .post(format!("{}/v1/sync", app.base))
                .bearer_auth(&w.admin.token)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(gzip(big.as_bytes())),
        )
        .await;
    reply.assert_problem(413, "payload_too_large");
    assert_eq!(app.fingerprint(), before);
}

#[actix_web::test]
async fn reusing_an_op_id_for_different_content_is_refused() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let op = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)));
    app.push_ok(&w.admin, std::slice::from_ref(&op)).await;
    let mut other = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)));
    other.id = op.id;
    let b = check(
        &app,
        &w.admin,
        request(&[other.to_value()]),
        422,
        "op_id_conflict",
    )
    .await;
    assert_eq!(b["op_index"], json!(0));
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// Found by the review behind issue 17: a remove was checked only for naming some tag, so a malformed remove of
/// one member (or household) carrying another's add tag removed that other one, on replicas that never saw the
/// op as being about them. Each remove must name adds of what it removes.
#[actix_web::test]
async fn a_remove_naming_another_members_or_households_add_is_refused() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let snap: Snapshot =
        serde_json::from_value(app.get("/v1/snapshot", Some(&w.admin.token)).await.body)
            .expect("snapshot");
    let grid = snap.state.grid(&w.g1).expect("g1").clone();
    let worker_tags = grid.workers.live_tags(&w.worker.user);
    let h1_tags = grid.households.live_tags(&w.h1);
    let visit_tags = grid.visits.live_tags(&(w.h1, w.butler.user));
    assert!(!worker_tags.is_empty() && !h1_tags.is_empty() && !visit_tags.is_empty());
    let wrong = [
        GridOp::RemoveMember {
            user: w.butler.user,
            role: MemberRole::Butler,
            observed: worker_tags.clone(),
        },
        GridOp::RemoveHousehold {
            household: HouseholdId::random(),
            observed: h1_tags.clone(),
        },
        GridOp::UnassignVisit {
            household: w.h1,
            butler: w.worker.user,
            observed: visit_tags.clone(),
        },
        // Its own add tag plus another's is refused too.
        GridOp::RemoveMember {
            user: w.worker.user,
            role: MemberRole::Worker,
            observed: [worker_tags.clone(), h1_tags.clone()].concat(),
        },
    ];
    for op in wrong {
        let op = w.admin.op(OpBody::Grid(w.g1, op));
        let body = check(&app, &w.admin, request(&[op.to_value()]), 422, "op_invalid").await;
        assert_eq!(body["op_id"], json!(op.id.to_string()));
    }
    // The right tags are accepted.
    let ok = w.admin.op(OpBody::Grid(
        w.g1,
        GridOp::RemoveMember {
            user: w.worker.user,
            role: MemberRole::Worker,
            observed: worker_tags,
        },
    ));
    app.push_ok(&w.admin, &[ok]).await;
}
