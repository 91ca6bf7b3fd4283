//! Crash safety: the real `linli` binary is killed with SIGKILL while a client pushes batches, restarted on the
//! same data directory, and the client retries everything it did not see acknowledged. Wherever the kill landed
//! (before, during or after a batch's commit), every op must then be stored exactly once, and the restarted
//! server's replica must hold them all.

use linli_sync_core::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const PASSWORD: &str = "kill-test-password";

struct Server {
    child: Child,
    base: String,
}

fn start(dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_linli"))
        .arg("serve")
        .env("LINLI_DATA_DIR", dir)
        .env("LINLI_BIND", "127.0.0.1:0")
        .env("LINLI_ADMIN_PASSWORD", PASSWORD)
        .env("LINLI_WORKERS", "2")
        .env("LINLI_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("linli starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let base = line
        .trim()
        .strip_prefix("linli listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Server { child, base }
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Result<(StatusCode, Value)> {
    let mut req = client.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let status = res.status();
    Ok((status, res.json().await?))
}

fn sync_body(ops: &[Op]) -> Value {
    json!({"protocol": 1, "cursor": 0, "limit": 1, "ops": ops.iter().map(Op::to_value).collect::<Vec<_>>()})
}

#[actix_web::test]
async fn sigkill_during_pushes_then_retry_stores_each_op_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let mut server = start(dir.path());

    let (s, login) = post(
        &client,
        format!("{}/v1/auth/login", server.base),
        None,
        &json!({"username": "admin", "password": PASSWORD}),
    )
    .await
    .expect("login");
    assert_eq!(s, StatusCode::OK, "{login:#}");
    let admin_token = login["access_token"].as_str().expect("token").to_string();
    let (s, code) = post(
        &client,
        format!("{}/v1/enrolment-codes", server.base),
        Some(&admin_token),
        &json!({"user_id": login["user_id"]}),
    )
    .await
    .expect("code");
    assert_eq!(s, StatusCode::CREATED, "{code:#}");
    let (s, enrolled) = post(
        &client,
        format!("{}/v1/devices/enrol", server.base),
        None,
        &json!({"code": code["code"]}),
    )
    .await
    .expect("enrol");
    assert_eq!(s, StatusCode::CREATED, "{enrolled:#}");
    let device: ReplicaId = enrolled["device_id"]
        .as_str()
        .expect("device")
        .parse()
        .expect("uuid");
    let user: UserId = enrolled["user_id"]
        .as_str()
        .expect("user")
        .parse()
        .expect("uuid");
    let refresh = enrolled["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let token = enrolled["access_token"]
        .as_str()
        .expect("access")
        .to_string();

    let mut writer = Writer::new(device, user, HlcClock::new(DriftPolicy::DEFAULT));
    let batches = ticket_batches(&mut writer, 8, 1000);
    let total: usize = batches.iter().map(Vec::len).sum();

    // Push in the background; kill the server as soon as the first batch is acknowledged, while the next one is
    // on its way or being stored.
    let (first_ack_tx, first_ack_rx) = tokio::sync::oneshot::channel::<()>();
    let pusher = {
        let (client, base, token, batches) = (
            client.clone(),
            server.base.clone(),
            token.clone(),
            batches.clone(),
        );
        actix_web::rt::spawn(async move {
            let mut acked = 0;
            let mut tx = Some(first_ack_tx);
            for batch in &batches {
                match post(
                    &client,
                    format!("{base}/v1/sync"),
                    Some(&token),
                    &sync_body(batch),
                )
                .await
                {
                    Ok((StatusCode::OK, _)) => acked += 1,
                    _ => break,
                }
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
            acked
        })
    };
    first_ack_rx.await.expect("first batch acknowledged");
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    let acked_before_kill = pusher.await.expect("pusher");
    assert!(acked_before_kill >= 1 && acked_before_kill <= batches.len());

    // Restart on the same files; the phone refreshes its token and retries every batch, acknowledged or not.
    let mut server = start(dir.path());
    let (s, fresh) = post(
        &client,
        format!("{}/v1/auth/refresh", server.base),
        None,
        &json!({"refresh_token": refresh}),
    )
    .await
    .expect("refresh");
    assert_eq!(s, StatusCode::OK, "{fresh:#}");
    let token = fresh["access_token"].as_str().expect("access").to_string();
    for batch in &batches {
        let (s, answer) = post(
            &client,
            format!("{}/v1/sync", server.base),
            Some(&token),
            &sync_body(batch),
        )
        .await
        .expect("retry");
        assert_eq!(s, StatusCode::OK, "{answer:#}");
        let acked: Vec<String> = serde_json::from_value(answer["acked"].clone()).expect("acked");
        assert_eq!(
            acked,
            batch.iter().map(|o| o.id.to_string()).collect::<Vec<_>>()
        );
    }

    // The op log holds each op exactly once, and the rebuilt replica holds every ticket.
    let snapshot = client
        .get(format!("{}/v1/snapshot", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("snapshot");
    let snapshot: Snapshot = snapshot.json().await.expect("snapshot json");
    assert_eq!(
        snapshot.cursor, total as u64,
        "sequence numbers have no gaps and no duplicates"
    );
    assert_eq!(snapshot.state.tickets().len(), total - 1);
    server.child.kill().expect("stop");
    server.child.wait().expect("reaped");

    let mut conn = linli_server::db::open(&dir.path().join("linli.sqlite3").to_string_lossy(), 1)
        .expect("db")
        .get()
        .expect("conn");
    assert_eq!(
        linli_server::store::count(&mut conn).expect("count"),
        total as i64
    );
    for op in batches.iter().flatten() {
        assert_eq!(
            linli_server::store::copies_of(&mut conn, op.id).expect("copies"),
            1
        );
    }
}

/// Runs a `linli` administration command on the data directory; its first line of output.
fn cli(dir: &Path, args: &[&str], password: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linli"));
    cmd.args(args)
        .env("LINLI_DATA_DIR", dir)
        .env("LINLI_LOG", "warn");
    if let Some(p) = password {
        cmd.env("LINLI_NEW_PASSWORD", p);
    }
    let out = cmd.output().expect("linli runs");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// An admin's phone: logs in, enrols a device for themself; its writer, refresh token and access token.
async fn admin_phone(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> (Writer, String, String) {
    let (s, login) = post(
        client,
        format!("{base}/v1/auth/login"),
        None,
        &json!({"username": username, "password": password}),
    )
    .await
    .expect("login");
    assert_eq!(s, StatusCode::OK, "{login:#}");
    let token = login["access_token"].as_str().expect("token").to_string();
    let (s, code) = post(
        client,
        format!("{base}/v1/enrolment-codes"),
        Some(&token),
        &json!({"user_id": login["user_id"]}),
    )
    .await
    .expect("code");
    assert_eq!(s, StatusCode::CREATED, "{code:#}");
    let (s, enrolled) = post(
        client,
        format!("{base}/v1/devices/enrol"),
        None,
        &json!({"code": code["code"]}),
    )
    .await
    .expect("enrol");
    assert_eq!(s, StatusCode::CREATED, "{enrolled:#}");
    let id = |k: &str| enrolled[k].as_str().expect(k).parse().expect("uuid");
    let writer = Writer::new(
        ReplicaId(id("device_id")),
        UserId(id("user_id")),
        HlcClock::new(DriftPolicy::DEFAULT),
    );
    let s = |k: &str| enrolled[k].as_str().expect(k).to_string();
    (writer, s("refresh_token"), s("access_token"))
}

/// A grid cell, then `n` batches of `per_batch` new tickets in it.
fn ticket_batches(writer: &mut Writer, n: usize, per_batch: usize) -> Vec<Vec<Op>> {
    let grid = GridId::random();
    let create = OpBody::Grid(
        grid,
        GridOp::Create {
            name: "第一网格".into(),
            community: "社区".into(),
        },
    );
    let mut batches = vec![vec![writer.op(linli_server::now_ms(), create)]];
    for _ in 0..n {
        batches.push(
            (0..per_batch)
                .map(|i| {
                    let create = TicketCreate {
                        grid,
                        request_type: RequestType::Report,
                        category: "downpipe".into(),
                        complexity: Complexity::Small,
                        location: Location::default(),
                        description: format!("downpipe {i} leaking"),
                        channel: Channel::Patrol,
                        reporter: Reporter::default(),
                        from_visit: None,
                    };
                    writer.op(
                        linli_server::now_ms(),
                        OpBody::Ticket(TicketId::random(), TicketOp::Create(create)),
                    )
                })
                .collect(),
        );
    }
    batches
}

/// Pushes `batches` in order until one fails; how many were acknowledged. `first` is told of the first.
async fn push_until_failure(
    client: reqwest::Client,
    url: String,
    token: String,
    batches: Vec<Vec<Op>>,
    first: Option<tokio::sync::oneshot::Sender<()>>,
) -> usize {
    let mut acked = 0;
    let mut first = first;
    for batch in &batches {
        match post(&client, url.clone(), Some(&token), &sync_body(batch)).await {
            Ok((StatusCode::OK, _)) => acked += 1,
            _ => break,
        }
        if let Some(tx) = first.take() {
            let _ = tx.send(());
        }
    }
    acked
}

/// Issue #11: SIGKILL while community A pushes and community B is being written at the same time. After a restart
/// and a retry of everything, each community's log holds each of its ops exactly once, numbered 1..n on its own.
#[actix_web::test]
async fn sigkill_mid_push_to_one_community_while_another_writes_both_converge() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start(dir.path());
    // Community 2 and its admin, made with the operator's commands beside the running server (the first start
    // made community 1's admin).
    let b = cli(
        dir.path(),
        &[
            "community",
            "add",
            "--name",
            "和平里社区",
            "--street-office",
            "城东街道",
        ],
        None,
    );
    assert_eq!(b, "2");
    cli(
        dir.path(),
        &[
            "user",
            "add",
            "--username",
            "admin-b",
            "--role",
            "admin",
            "--community",
            &b,
        ],
        Some("admin-b-password"),
    );
    let client = reqwest::Client::new();
    let (mut wa, refresh_a, token_a) = admin_phone(&client, &server.base, "admin", PASSWORD).await;
    let (mut wb, refresh_b, token_b) =
        admin_phone(&client, &server.base, "admin-b", "admin-b-password").await;
    let (batches_a, batches_b) = (
        ticket_batches(&mut wa, 8, 500),
        ticket_batches(&mut wb, 8, 500),
    );

    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let url = format!("{}/v1/sync", server.base);
    let pusher_a = actix_web::rt::spawn(push_until_failure(
        client.clone(),
        url.clone(),
        token_a,
        batches_a.clone(),
        Some(first_tx),
    ));
    let pusher_b = actix_web::rt::spawn(push_until_failure(
        client.clone(),
        url,
        token_b,
        batches_b.clone(),
        None,
    ));
    first_rx.await.expect("A's first batch acknowledged");
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    let acked_a = pusher_a.await.expect("pusher A");
    let acked_b = pusher_b.await.expect("pusher B");
    assert!(acked_a >= 1, "A {acked_a}, B {acked_b}");

    let mut server = start(dir.path());
    for (refresh, batches) in [(&refresh_a, &batches_a), (&refresh_b, &batches_b)] {
        let (s, fresh) = post(
            &client,
            format!("{}/v1/auth/refresh", server.base),
            None,
            &json!({"refresh_token": refresh}),
        )
        .await
        .expect("refresh");
        assert_eq!(s, StatusCode::OK, "{fresh:#}");
        let token = fresh["access_token"].as_str().expect("access").to_string();
        for batch in batches {
            let (s, answer) = post(
                &client,
                format!("{}/v1/sync", server.base),
                Some(&token),
                &sync_body(batch),
            )
            .await
            .expect("retry");
            assert_eq!(s, StatusCode::OK, "{answer:#}");
        }
        let total = batches.iter().map(Vec::len).sum::<usize>();
        let snapshot: Snapshot = client
            .get(format!("{}/v1/snapshot", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("snapshot")
            .json()
            .await
            .expect("snapshot json");
        assert_eq!(
            snapshot.cursor, total as u64,
            "each community's sequence has no gaps and no duplicates"
        );
        assert_eq!(snapshot.state.tickets().len(), total - 1);
    }
    server.child.kill().expect("stop");
    server.child.wait().expect("reaped");

    let mut conn = linli_server::db::open(&dir.path().join("linli.sqlite3").to_string_lossy(), 1)
        .expect("db")
        .get()
        .expect("conn");
    let all: Vec<&Op> = batches_a.iter().chain(&batches_b).flatten().collect();
    assert_eq!(
        linli_server::store::count(&mut conn).expect("count"),
        all.len() as i64
    );
    for op in all {
        assert_eq!(
            linli_server::store::copies_of(&mut conn, op.id).expect("copies"),
            1
        );
    }
}
