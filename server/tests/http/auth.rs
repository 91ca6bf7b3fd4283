//! Identity over HTTP: login, enrolment codes (one use only), refresh-token rotation, revocation, and the token
//! checks (expired, forged, `alg: none`, unknown key id).

use linli_server::auth::Keys;
use linli_server::identity::User;
use linli_sync_core::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{SECRET, TestApp, World};

#[actix_web::test]
async fn a_phone_enrols_once_refreshes_and_is_cut_off_when_revoked() {
    let app = TestApp::spawn().await;
    let user = app.add_user("li", Role::Volunteer).await;
    let code = app
        .post(
            "/v1/enrolment-codes",
            Some(&app.admin_token),
            json!({"user_id": user.to_string()}),
        )
        .await;
    assert_eq!(code.status, StatusCode::CREATED);
    let code = code.body["code"].as_str().expect("code").to_string();

    // Typed by hand: lower case, no dashes.
    let device = app.enrol_with(&code.to_lowercase().replace('-', "")).await;
    assert_eq!(device.user, user);
    app.post("/v1/devices/enrol", None, json!({"code": code}))
        .await
        .assert_problem(401, "invalid_enrolment_code");

    let ok = app.sync(&device, 0, &[], None).await;
    assert_eq!(ok.status, StatusCode::OK, "{:#}", ok.body);

    // Refresh rotates: the new refresh token works once, the old one never again.
    let refreshed = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": device.refresh}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:#}", refreshed.body);
    assert_eq!(refreshed.body["device_id"], json!(device.id.to_string()));
    app.post(
        "/v1/auth/refresh",
        None,
        json!({"refresh_token": device.refresh}),
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    let next_refresh = refreshed.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();

    let before = app.fingerprint();
    let revoked = app
        .post(
            &format!("/v1/devices/{}/revoke", device.id),
            Some(&app.admin_token),
            json!({}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{:#}", revoked.body);
    app.sync(&device, 0, &[], None)
        .await
        .assert_problem(401, "device_revoked");
    app.post(
        "/v1/auth/refresh",
        None,
        json!({"refresh_token": next_refresh}),
    )
    .await
    .assert_problem(401, "device_revoked");
    assert_eq!(app.fingerprint(), before);
}

#[actix_web::test]
async fn the_cli_style_first_admin_logs_in_and_wrong_passwords_are_refused() {
    let app = TestApp::spawn().await;
    app.post(
        "/v1/auth/login",
        None,
        json!({"username": "admin", "password": "wrong"}),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    app.post(
        "/v1/auth/login",
        None,
        json!({"username": "nobody", "password": "x"}),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    // A web token has no device: it may manage users but not sync.
    let reply = app
        .post(
            "/v1/sync",
            Some(&app.admin_token),
            json!({"protocol": 1, "cursor": 0}),
        )
        .await;
    reply.assert_problem(403, "device_required");
}

#[actix_web::test]
async fn expired_forged_and_unsigned_tokens_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let world = World::build(&app).await;
    let user = User {
        id: world.worker.user,
        username: "worker".into(),
        role: Role::GridWorker,
        community: Some(linli_server::community::CommunityId::FIRST),
    };
    let keys = Keys::new(SECRET, None, 900);
    let now = linli_server::now_ms() / 1000;
    let expired = keys
        .issue(&user, Some(world.worker.id), now - 3600)
        .expect("token");
    let forged = Keys::new(
        "another-secret-another-secret-another",
        Some(keys.kid().to_string()),
        900,
    )
    .issue(&user, Some(world.worker.id), now)
    .expect("token");
    let other_kid = Keys::new(SECRET, Some("retired-key".into()), 900)
        .issue(&user, Some(world.worker.id), now)
        .expect("token");
    // `{"alg":"none","typ":"JWT"}` with the worker's claims and no signature.
    let payload = serde_json::to_vec(&json!({
        "sub": world.worker.user.to_string(), "dev": world.worker.id.to_string(),
        "role": "admin", "iat": now, "exp": now + 900
    }))
    .expect("json");
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", b64url(&payload));

    let mut worker = world.worker;
    let op = worker.op(OpBody::Ticket(
        TicketId::random(),
        crate::common::ticket_create(world.g1),
    ));
    let body = json!({"protocol": 1, "cursor": 0, "ops": [op.to_value()]});
    let before = app.fingerprint();
    for (token, code) in [
        (expired.as_str(), "token_expired"),
        (forged.as_str(), "invalid_token"),
        (other_kid.as_str(), "invalid_token"),
        (unsigned.as_str(), "invalid_token"),
        ("not a jwt", "invalid_token"),
    ] {
        app.post("/v1/sync", Some(token), body.clone())
            .await
            .assert_problem(401, code);
    }
    app.post("/v1/sync", None, body.clone())
        .await
        .assert_problem(401, "missing_token");
    assert_eq!(app.fingerprint(), before);
    assert_eq!(app.copies(op.id), 0);
}

#[actix_web::test]
async fn only_admins_create_users_and_grid_workers_enrol_only_volunteers_and_themselves() {
    let app = TestApp::spawn().await;
    let world = World::build(&app).await;
    let other_worker = app.add_user("worker-2", Role::GridWorker).await;
    app.post(
        "/v1/users",
        Some(&world.worker.token),
        json!({"username": "x", "role": "admin"}),
    )
    .await
    .assert_problem(403, "forbidden");
    let own = app
        .post(
            "/v1/enrolment-codes",
            Some(&world.worker.token),
            json!({"user_id": world.butler.user.to_string()}),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{:#}", own.body);
    app.post(
        "/v1/enrolment-codes",
        Some(&world.worker.token),
        json!({"user_id": other_worker.to_string()}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        "/v1/enrolment-codes",
        Some(&world.butler.token),
        json!({"user_id": world.butler.user.to_string()}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        "/v1/users",
        Some(&app.admin_token),
        json!({"username": "worker", "role": "grid_worker"}),
    )
    .await
    .assert_problem(409, "username_taken");
}

/// Found by probing: after a rotation the old refresh token was refused, but the newer one of the same family
/// stayed valid, so a thief who replayed a stolen token kept a working chain alongside the phone (RFC 9700 §4.14.2
/// recommends revoking the family on reuse).
#[actix_web::test]
async fn reusing_a_rotated_refresh_token_revokes_its_whole_family_and_no_other() {
    let app = TestApp::spawn().await;
    let user = app.add_user("li", Role::Volunteer).await;
    let phone = app.enrol(user).await;
    let other_phone = app.enrol(user).await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.post("/v1/auth/refresh", None, json!({"refresh_token": token}))
                .await
        }
    };
    let first = refresh(phone.refresh.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{:#}", first.body);
    let newer = first.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();

    // The rotated token comes back (a thief's copy, or the phone's after the thief rotated first).
    let reused = refresh(phone.refresh.clone()).await;
    reused.assert_problem(401, "invalid_refresh_token");
    assert!(
        reused.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("already used"),
        "{:#}",
        reused.body
    );
    // The newer token of the family is refused afterwards too.
    refresh(newer)
        .await
        .assert_problem(401, "invalid_refresh_token");
    // Another device of the same user has its own family and keeps it.
    let other = refresh(other_phone.refresh.clone()).await;
    assert_eq!(other.status, StatusCode::OK, "{:#}", other.body);
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
