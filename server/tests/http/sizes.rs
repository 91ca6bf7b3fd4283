//! The size limits that issue 15 found missing or loose: an op's own length (`max_op_bytes`, unknown fields
//! included), a pull page's bytes (`max_pull_bytes`), `limit: 0`, and which body encodings are decoded.

use linli_sync_core::prelude::*;
use serde_json::{Value, json};
use std::io::Write;

use crate::common::{TestApp, World, ticket_create};

/// An op of `device`'s with an unknown envelope field of `pad` bytes: unknown fields are kept as sent, for
/// forward compatibility, so they count.
fn padded(op: &Op, pad: usize) -> Value {
    let mut v = op.to_value();
    v["x_attachment"] = json!("x".repeat(pad));
    v
}

fn request(ops: &[Value]) -> String {
    json!({"protocol": 1, "cursor": 0, "ops": ops}).to_string()
}

/// Found in issue 15: a volunteer pushed 12 ops with a 7 MB field each, all accepted.
#[actix_web::test]
async fn an_op_longer_than_max_op_bytes_is_refused_naming_it() {
    let app = TestApp::spawn_with(|c| c.limits.max_op_bytes = 4096).await;
    let mut w = World::build(&app).await;
    let small = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)));
    let big = w
        .admin
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)));
    let before = app.fingerprint();
    let reply = app
        .sync_raw(
            &w.admin.token,
            request(&[small.to_value(), padded(&big, 4096)]),
        )
        .await;
    reply.assert_problem(413, "op_too_large");
    assert_eq!(reply.body["op_index"], json!(1));
    assert_eq!(reply.body["op_id"], json!(big.id.to_string()));
    assert_eq!(
        (
            &reply.body["cause"]["limit_name"],
            &reply.body["cause"]["limit"]
        ),
        (&json!("max_op_bytes"), &json!(4096))
    );
    assert_eq!(app.fingerprint(), before, "nothing of the batch is stored");
    // Within the limit, unknown fields and all, it is stored.
    let reply = app
        .sync_raw(&w.admin.token, request(&[padded(&big, 3000)]))
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
}

/// Found in issue 15: after 12 pushed ops of 7 MB the admin's next pull was one 84 MB page. Scaled down here: 12
/// ops of 30 KB against a page budget of 100 KB.
#[actix_web::test]
async fn pull_pages_are_bounded_in_bytes_and_still_advance() {
    const BUDGET: usize = 100_000;
    let app = TestApp::spawn_with(|c| {
        c.limits.max_op_bytes = 64 * 1024;
        c.limits.max_pull_bytes = BUDGET;
    })
    .await;
    let mut w = World::build(&app).await;
    let ops: Vec<Op> = (0..12)
        .map(|_| {
            w.butler
                .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)))
        })
        .collect();
    let sent: Vec<Value> = ops.iter().map(|op| padded(op, 30_000)).collect();
    let reply = app.sync_raw(&w.butler.token, request(&sent)).await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    // A single op longer than the budget still travels alone, so a pull never stalls.
    let huge = w
        .butler
        .op(OpBody::Ticket(TicketId::random(), ticket_create(w.g1)));
    let reply = app
        .sync_raw(&w.butler.token, request(&[padded(&huge, 60_000)]))
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let reply = app
        .sync_raw(
            &w.admin.token,
            json!({"protocol": 1, "cursor": 0, "ops": [], "limit": 1}).to_string(),
        )
        .await;
    let last = reply.body["cursor"].as_u64().expect("cursor");
    let mut got: Vec<String> = Vec::new();
    let mut cursor = last;
    let mut pages = 0;
    loop {
        let reply = app
            .sync_raw(
                &w.admin.token,
                json!({"protocol": 1, "cursor": cursor, "ops": []}).to_string(),
            )
            .await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        let page = reply.body["ops"].as_array().expect("ops").clone();
        let bytes: usize = page.iter().map(|op| op.to_string().len()).sum();
        assert!(
            bytes <= BUDGET || page.len() == 1,
            "a page of {} ops holds {bytes} bytes",
            page.len()
        );
        assert!(!page.is_empty(), "each page advances");
        pages += 1;
        got.extend(
            page.iter()
                .map(|op| op["id"].as_str().expect("id").to_string()),
        );
        cursor = reply.body["cursor"].as_u64().expect("cursor");
        if reply.body["has_more"] == json!(false) {
            break;
        }
    }
    let want: Vec<String> = ops
        .iter()
        .chain([&huge])
        .map(|op| op.id.to_string())
        .collect();
    // The first page (limit 1) took the world's first op; the rest came in order, each once.
    assert_eq!(got[got.len() - want.len()..], want[..]);
    assert!(
        pages >= 5,
        "13 ops of 30-60 KB in pages of 100 KB: {pages} pages"
    );
}

/// Found in issue 15: `limit: 0` was silently answered with one op.
#[actix_web::test]
async fn a_limit_of_zero_is_refused() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let reply = app
        .sync_raw(
            &w.admin.token,
            json!({"protocol": 1, "cursor": 0, "limit": 0}).to_string(),
        )
        .await;
    reply.assert_problem(400, "invalid_request");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("`limit`"),
        "{:#}",
        reply.body
    );
}

/// Every endpoint decodes gzip and deflate bodies (within its limit) and refuses the encodings it does not decode.
#[actix_web::test]
async fn bodies_may_be_gzip_or_deflate_and_nothing_else() {
    let app = TestApp::spawn().await;
    let login = json!({"username": "admin", "password": crate::common::ADMIN_PASSWORD}).to_string();
    let gzip = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(login.as_bytes()).expect("gzip");
        e.finish().expect("gzip")
    };
    let deflate = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(login.as_bytes()).expect("zlib");
        e.finish().expect("zlib")
    };
    let send = |encoding: &'static str, body: Vec<u8>| {
        app.send(
            app.client
                .post(format!("{}/v1/auth/login", app.base))
                .header("content-type", "application/json")
                .header("content-encoding", encoding)
                .body(body),
        )
    };
    assert_eq!(send("gzip", gzip.clone()).await.status, 200);
    assert_eq!(send("deflate", deflate).await.status, 200);
    send("br", gzip.clone())
        .await
        .assert_problem(415, "unsupported_encoding");
    send("gzip", gzip[..gzip.len() - 4].to_vec())
        .await
        .assert_problem(400, "malformed_body");
    let pad = {
        let text = format!(
            r#"{{"username":"admin","password":"{}"}}"#,
            "p".repeat(70_000)
        );
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).expect("gzip");
        e.finish().expect("gzip")
    };
    let reply = send("gzip", pad).await;
    reply.assert_problem(413, "payload_too_large");
    assert_eq!(reply.body["limit_name"], json!("max_json_bytes"));
}
