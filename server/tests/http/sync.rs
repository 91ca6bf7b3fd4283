//! The sync round trip: idempotent push, scoped and paged pull, snapshot, gzip both ways, and the report tables
//! written with the ops.

use diesel::prelude::*;
use linli_server::db::schema;
use linli_sync_core::prelude::*;
use linli_sync_core::sync::{Snapshot, SyncResponse};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestApp, World, activity, ticket_create, visit};
use crate::errors::gzip;

fn response(reply: &crate::common::Reply) -> SyncResponse {
    serde_json::from_value(reply.body.clone()).expect("a SyncResponse")
}

#[actix_web::test]
async fn a_retried_batch_is_acknowledged_and_never_applied_twice() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let t = TicketId::random();
    let ops = vec![
        w.worker.op(OpBody::Ticket(t, ticket_create(w.g1))),
        w.worker
            .op(OpBody::Ticket(t, TicketOp::Take(Note::default()))),
    ];
    let first = response(&app.push_ok(&w.worker, &ops).await);
    let ids: Vec<OpId> = ops.iter().map(|o| o.id).collect();
    assert_eq!(first.acked, ids);
    let before = app.fingerprint();
    // The answer was lost; the phone sends the same batch again, plus one duplicate inside the batch.
    let mut again = ops.clone();
    again.push(ops[0].clone());
    let second = response(&app.push_ok(&w.worker, &again).await);
    assert_eq!(second.acked, ids);
    assert_eq!(app.fingerprint(), before);
    for op in &ops {
        assert_eq!(app.copies(op.id), 1);
    }
}

#[actix_web::test]
async fn pulls_are_scoped_ordered_and_paged() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let in_scope = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)));
    let outside = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g2)));
    let own_visit = w.butler.op(OpBody::Entry(
        EntryId::random(),
        EntryOp::Visit(visit(w.butler.user, w.g1, w.h1)),
    ));
    app.push_ok(&w.admin, &[in_scope.clone(), outside.clone()])
        .await;
    app.push_ok(&w.butler, std::slice::from_ref(&own_visit))
        .await;

    // The ops pushed in a request are not sent back in its answer, but a device's earlier ops are: a replica
    // restored from a backup needs them (found by the field-day simulation's restore tests).
    let fresh = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)));
    let own = response(
        &app.sync(&w.admin, 0, std::slice::from_ref(&fresh), None)
            .await,
    );
    let ids: Vec<OpId> = own.ops.iter().map(|o| o.id).collect();
    assert_eq!(own.acked, vec![fresh.id]);
    assert!(!ids.contains(&fresh.id));
    assert!(ids.contains(&in_scope.id) && ids.contains(&own_visit.id));

    // The admin's new phone sees everything, two at a time, in server order.
    let second_phone = app.enrol(w.admin.user).await;
    let mut cursor = 0;
    let mut seen = Vec::new();
    loop {
        let page = response(&app.sync(&second_phone, cursor, &[], Some(2)).await);
        assert!(page.ops.len() <= 2);
        seen.extend(page.ops.iter().map(|o| o.id));
        cursor = page.cursor;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(seen.len(), 7 + 4, "7 world ops and 4 pushed here: {seen:?}");
    assert_eq!(
        seen[seen.len() - 4..],
        [in_scope.id, outside.id, own_visit.id, fresh.id]
    );

    // The grid worker sees g1's ticket and the visit in g1, not g2's ticket.
    let worker = response(&app.sync(&w.worker, 0, &[], None).await);
    let ids: Vec<OpId> = worker.ops.iter().map(|o| o.id).collect();
    assert!(ids.contains(&in_scope.id) && ids.contains(&own_visit.id));
    assert!(!ids.contains(&outside.id));
    assert!(!worker.has_more);

    // The volunteer (on a second phone) sees their own visit and their grid cell, not tickets others raised.
    let butler_phone = app.enrol(w.butler.user).await;
    let butler = response(&app.sync(&butler_phone, 0, &[], None).await);
    let ids: Vec<OpId> = butler.ops.iter().map(|o| o.id).collect();
    assert!(ids.contains(&own_visit.id));
    assert!(!ids.contains(&in_scope.id) && !ids.contains(&outside.id));
    // Of g2 the volunteer gets only the directory entry (its name), none of its households or members.
    assert!(butler.ops.iter().all(|o| !matches!(
        &o.body,
        OpBody::Grid(g, op) if *g == w.g2 && !matches!(op, GridOp::Create { .. } | GridOp::Rename { .. })
    )));
    assert_eq!(butler.cursor, worker.cursor);

    // A cursor from another server (or a restored backup) is refused: bootstrap again.
    app.sync(&w.butler, 10_000, &[], None)
        .await
        .assert_problem(409, "cursor_ahead");
}

#[actix_web::test]
async fn a_snapshot_holds_the_scope_and_a_cursor_to_continue_from() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let t1 = TicketId::random();
    let ops = [
        w.admin.op(OpBody::Ticket(t1, ticket_create(w.g1))),
        w.admin
            .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g2))),
    ];
    app.push_ok(&w.admin, &ops).await;
    let reply = app
        .get("/v1/snapshot?protocol=1", Some(&w.worker.token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let snap: Snapshot = serde_json::from_value(reply.body).expect("a Snapshot");
    // g1 whole; g2 only as a directory entry (its name), without households or members.
    let g1 = snap.state.grid(&w.g1).expect("g1");
    assert!(g1.households.contains(&w.h1) && g1.workers.contains(&w.worker.user));
    let g2 = snap.state.grid(&w.g2).expect("g2's directory entry");
    assert!(g2.households.is_empty() && g2.workers.is_empty() && g2.name.val.is_some());
    assert_eq!(
        snap.state.tickets().keys().copied().collect::<Vec<_>>(),
        vec![t1]
    );
    let after = response(&app.sync(&w.worker, snap.cursor, &[], None).await);
    assert!(after.ops.is_empty() && !after.has_more);

    let admin: Snapshot =
        serde_json::from_value(app.get("/v1/snapshot", Some(&w.admin.token)).await.body)
            .expect("snapshot");
    assert_eq!(admin.state.grids().len(), 2);
    app.get("/v1/snapshot?protocol=0", Some(&w.admin.token))
        .await
        .assert_problem(426, "upgrade_required");
}

#[actix_web::test]
async fn gzip_request_and_response_bodies_are_accepted() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let op = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)));
    let body = json!({"protocol": 1, "cursor": 0, "ops": [op.to_value()]}).to_string();
    let res = app
        .client
        .post(format!("{}/v1/sync", app.base))
        .bearer_auth(&w.admin.token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("accept-encoding", "gzip")
        .body(gzip(body.as_bytes()))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    // reqwest undoes the gzip and drops the header; it asked for gzip, so the server compressed it.
    let res: SyncResponse = res.json().await.expect("json");
    assert_eq!(res.acked, vec![op.id]);
    assert_eq!(app.copies(op.id), 1);
}

#[actix_web::test]
async fn report_tables_follow_the_ops_in_the_same_transaction() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let t = TicketId::random();
    let entry = EntryId::random();
    let ops = [
        w.worker.op(OpBody::Ticket(t, ticket_create(w.g1))),
        w.worker
            .op(OpBody::Ticket(t, TicketOp::Take(Note::default()))),
        w.worker
            .op(OpBody::Ticket(t, TicketOp::Arrive(Note::default()))),
    ];
    app.push_ok(&w.worker, &ops).await;
    let logged = w.butler.op(OpBody::Entry(
        entry,
        EntryOp::Activity(activity(w.butler.user, w.g1)),
    ));
    app.push_ok(&w.butler, &[logged]).await;
    let mut state = State::new(Rules::DEFAULT);
    let snap: Snapshot =
        serde_json::from_value(app.get("/v1/snapshot", Some(&w.worker.token)).await.body)
            .expect("snapshot");
    state.merge(snap.state);
    let approve = w
        .worker
        .writer
        .approve(&state, linli_server::now_ms(), entry, None)
        .expect("approve ops");
    app.push_ok(&w.worker, &approve).await;

    let mut db = app.db();
    let (status, taken, on_site): (String, Option<i64>, Option<i64>) = schema::tickets::table
        .find(t.to_string())
        .select((
            schema::tickets::status,
            schema::tickets::taken_ms,
            schema::tickets::on_site_ms,
        ))
        .first(&mut db)
        .expect("ticket row");
    assert_eq!(status, "on_site");
    assert!(taken.is_some() && on_site >= taken);
    let (entry_status, approved): (String, i64) = schema::entries::table
        .find(entry.to_string())
        .select((schema::entries::status, schema::entries::approved_minutes))
        .first(&mut db)
        .expect("entry row");
    assert_eq!((entry_status.as_str(), approved), ("approved", 59));
    let balance: i64 = schema::cards::table
        .find(w.butler.user.to_string())
        .select(schema::cards::balance)
        .first(&mut db)
        .expect("card row");
    assert_eq!(balance, 9, "59 minutes at 10 points an hour");
    let movements: i64 = schema::card_movements::table
        .count()
        .get_result(&mut db)
        .expect("count");
    assert_eq!(movements, 1);
    let households: i64 = schema::grid_cells::table
        .find(w.g1.to_string())
        .select(schema::grid_cells::households)
        .first(&mut db)
        .expect("grid row");
    assert_eq!(households, 1);

    let metrics = app
        .send(app.client.get(format!("{}/metrics", app.base)))
        .await;
    let text = metrics.body.as_str().expect("text").to_string();
    assert!(text.contains("linli_ops_ingested_total 13"), "{text}");
    assert!(
        text.contains(r#"linli_http_requests_total{route="/v1/sync",status="200"}"#),
        "{text}"
    );
    let doc = app.get("/openapi.json", None).await;
    assert!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{:#}",
        doc.body
    );
    for path in [
        "/v1/sync",
        "/v1/snapshot",
        "/v1/devices/enrol",
        "/v1/cards/{volunteer}/grants",
    ] {
        assert!(
            doc.body["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    let health = app.get("/healthz", None).await;
    assert_eq!(health.body["status"], json!("ok"));
}

#[actix_web::test]
async fn the_office_redeems_only_within_the_rights_the_server_granted() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let entry = EntryId::random();
    let logged = w.butler.op(OpBody::Entry(
        entry,
        EntryOp::Activity(activity(w.butler.user, w.g1)),
    ));
    app.push_ok(&w.butler, &[logged]).await;
    let snap: Snapshot =
        serde_json::from_value(app.get("/v1/snapshot", Some(&w.worker.token)).await.body)
            .expect("snapshot");
    let mut state = State::new(Rules::DEFAULT);
    state.merge(snap.state);
    let approve = w
        .worker
        .writer
        .approve(&state, linli_server::now_ms(), entry, None)
        .expect("approve ops");
    app.push_ok(&w.worker, &approve).await; // 9 points into the server's pool

    let card = w.butler.user;
    let redeem = |w: &mut World, points: u64, seq: u64| {
        w.admin.op(OpBody::Card(
            card,
            CardOp::Redeem {
                points: Points(points),
                seq,
                purpose: Purpose::FeeOffset {
                    household: w.h1,
                    period: "2026-11".into(),
                },
            },
        ))
    };
    // Before any grant the office's phone holds no rights.
    let early = redeem(&mut w, 5, 1);
    app.push(&w.admin, &[early])
        .await
        .assert_problem(422, "insufficient_rights");

    let grants = format!("/v1/cards/{card}/grants");
    app.post(
        &grants,
        Some(&w.worker.token),
        json!({"device_id": w.admin.id.to_string(), "points": 5}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &grants,
        Some(&app.admin_token),
        json!({"device_id": w.admin.id.to_string(), "points": 50}),
    )
    .await
    .assert_problem(422, "insufficient_rights");
    let granted = app
        .post(
            &grants,
            Some(&app.admin_token),
            json!({"device_id": w.admin.id.to_string(), "points": 5}),
        )
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{:#}", granted.body);
    assert_eq!(granted.body["kind"], json!("card.transfer"));
    assert_eq!(
        granted.body["replica"],
        json!(ReplicaId::SERVER.to_string())
    );

    let ok = redeem(&mut w, 5, 1);
    app.push_ok(&w.admin, &[ok]).await;
    let over = redeem(&mut w, 1, 2);
    app.push(&w.admin, &[over])
        .await
        .assert_problem(422, "insufficient_rights");

    let mut db = app.db();
    let (balance, redeemed): (i64, i64) = schema::cards::table
        .find(card.to_string())
        .select((schema::cards::balance, schema::cards::redeemed))
        .first(&mut db)
        .expect("card row");
    assert_eq!((balance, redeemed), (4, 5));
    // The volunteer's phone sees its card move.
    let pulled = response(&app.sync(&w.butler, 0, &[], None).await);
    assert!(pulled.ops.iter().any(|o| o.kind() == OpKind::CardRedeem));
}

/// Found by the review behind issue 17: two approvals of one entry written concurrently (a grid worker's and the
/// admin's) credit the card once (credits are keyed by entry), but `card_movements` got a row for each, so the
/// report table's credits exceeded the card's `credited`.
#[actix_web::test]
async fn a_duplicate_credit_of_an_entry_writes_no_second_movement() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let entry = EntryId::random();
    let logged = w.butler.op(OpBody::Entry(
        entry,
        EntryOp::Activity(activity(w.butler.user, w.g1)),
    ));
    app.push_ok(&w.butler, std::slice::from_ref(&logged)).await;
    // Both approve offline, each having seen only the activity.
    let mut seen = State::new(Rules::DEFAULT);
    seen.apply(&logged);
    let by_worker = w
        .worker
        .writer
        .approve(&seen, linli_server::now_ms(), entry, None)
        .expect("approve ops");
    let by_admin = w
        .admin
        .writer
        .approve(&seen, linli_server::now_ms(), entry, None)
        .expect("approve ops");
    app.push_ok(&w.worker, &by_worker).await;
    app.push_ok(&w.admin, &by_admin).await;

    let mut db = app.db();
    let volunteer = w.butler.user.to_string();
    let credited: i64 = schema::cards::table
        .find(&volunteer)
        .select(schema::cards::credited)
        .first(&mut db)
        .expect("card row");
    let rows: Vec<(String, i64)> = schema::card_movements::table
        .filter(schema::card_movements::volunteer.eq(&volunteer))
        .filter(schema::card_movements::kind.eq("credit"))
        .select((
            schema::card_movements::op_id,
            schema::card_movements::points,
        ))
        .load(&mut db)
        .expect("movements");
    assert_eq!(credited, 9, "credited once");
    assert_eq!(rows.len(), 1, "one movement for one credit: {rows:?}");
    assert_eq!(rows.iter().map(|(_, p)| p).sum::<i64>(), credited);
    // The row is the credit that counts: the smaller stamp of the two.
    let winner = by_worker
        .iter()
        .chain(&by_admin)
        .filter(|op| op.kind() == OpKind::CardCredit)
        .min_by_key(|op| op.stamp())
        .expect("credits");
    assert_eq!(rows[0].0, winner.id.to_string());
}

/// Found by the review behind issue 17: a grant accepted any UUID as the receiving device, so rights granted to a
/// volunteer's phone, a revoked phone or a mistyped id could never be spent nor returned. Only an enrolled, not
/// revoked device of a role that may redeem receives rights; a refused grant stores nothing.
#[actix_web::test]
async fn card_rights_are_granted_only_to_a_device_that_may_spend_them() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    w.approved_activity(&app).await; // 9 points in the server's pool
    let grants = format!("/v1/cards/{}/grants", w.butler.user);
    let lost = app.enrol(w.admin.user).await;
    app.post(
        &format!("/v1/devices/{}/revoke", lost.id),
        Some(&app.admin_token),
        json!({}),
    )
    .await;
    let before = app.fingerprint();
    for (device, status, code) in [
        (w.butler.id, 400, "invalid_request"),
        (w.worker.id, 400, "invalid_request"),
        (lost.id, 400, "invalid_request"),
        // No such device reads as another community's to a community's admin (review of issue 11).
        (ReplicaId::random(), 403, "other_community"),
    ] {
        app.post(
            &grants,
            Some(&app.admin_token),
            json!({"device_id": device.to_string(), "points": 3}),
        )
        .await
        .assert_problem(status, code);
    }
    assert_eq!(app.fingerprint(), before, "a refused grant stores nothing");
    let granted = app
        .post(
            &grants,
            Some(&app.admin_token),
            json!({"device_id": w.admin.id.to_string(), "points": 3}),
        )
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{:#}", granted.body);
}
