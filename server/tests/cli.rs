//! The administration commands of the real `linli` binary, against the same data directory as a running server:
//! `user add` creates a user, `device enrol` prints a code that a phone exchanges over HTTP, and `token revoke`
//! cuts that phone off at once, while the server runs; `user unthrottle` lets an admin kept out by someone guessing at
//! their password back in.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn linli(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_linli"))
        .args(args)
        .env("LINLI_DATA_DIR", dir)
        .env("LINLI_LOG", "warn")
        .output()
        .expect("linli runs");
    assert!(
        out.status.success(),
        "linli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

/// Starts `linli serve` with extra variables; returns the process (its stderr still piped) and the base URL.
fn serve(dir: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_linli"))
        .arg("serve")
        .envs(env.iter().copied())
        .env("LINLI_DATA_DIR", dir)
        .env("LINLI_BIND", "127.0.0.1:0")
        .env("LINLI_WORKERS", "1")
        .env("LINLI_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("linli starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let base = line
        .trim()
        .strip_prefix("linli listening on ")
        .expect("address")
        .to_string();
    (child, base)
}

/// Kills the server and returns everything it wrote to stderr.
fn stop(mut child: Child) -> String {
    child.kill().expect("stop");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    child.wait().expect("reaped");
    err
}

async fn post(base: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn cli_users_codes_and_revocation_work_alongside_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let user_id = linli(
        dir.path(),
        &["user", "add", "--username", "lihua", "--role", "volunteer"],
    );
    assert_eq!(user_id.len(), 36, "prints the new user's id: {user_id}");

    // No admin yet and no LINLI_ADMIN_PASSWORD: the server prints a one-time password once.
    let (server, base) = serve(dir.path(), &[]);
    let mut first = String::new();
    let mut server = server;
    BufReader::new(server.stderr.as_mut().expect("stderr"))
        .read_line(&mut first)
        .expect("first admin line");
    assert!(first.contains("one-time password"), "{first}");
    let password = first
        .split('`')
        .nth(3)
        .expect("password in backticks")
        .to_string();
    let (status, login) = post(
        &base,
        "/v1/auth/login",
        None,
        json!({"username": "admin", "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{login:#}");

    let code = linli(
        dir.path(),
        &[
            "device",
            "enrol",
            "--username",
            "lihua",
            "--label",
            "Li Hua's phone",
        ],
    );
    let (status, phone) = post(&base, "/v1/devices/enrol", None, json!({"code": code})).await;
    assert_eq!(status, 201, "{phone:#}");
    assert_eq!(phone["user_id"], json!(user_id));
    let token = phone["access_token"].as_str().expect("token").to_string();
    let sync = json!({"protocol": 1, "cursor": 0});
    assert_eq!(
        post(&base, "/v1/sync", Some(&token), sync.clone()).await.0,
        200
    );

    let device = phone["device_id"].as_str().expect("device");
    let out = linli(dir.path(), &["token", "revoke", "--device", device]);
    assert!(out.contains(device), "{out}");
    let (status, problem) = post(&base, "/v1/sync", Some(&token), sync).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("device_revoked"))
    );

    stop(server);
    // A second start finds the admin and prints no password; SIGTERM stops it cleanly.
    let (mut again, base) = serve(dir.path(), &[]);
    assert_eq!(
        post(
            &base,
            "/v1/auth/login",
            None,
            json!({"username": "admin", "password": password})
        )
        .await
        .0,
        200
    );
    let term = Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let exit = again.wait().expect("exits");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut again.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(!err.contains("password"), "{err}");
}

/// The way out of the lockout an attacker could otherwise impose: the only admin's username is throttled by guesses,
/// so no admin can log in to lift it over HTTP; on the server machine `linli user unthrottle` does.
#[actix_web::test]
async fn the_cli_lets_the_only_admin_back_in_while_someone_guesses_at_their_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, base) = serve(
        dir.path(),
        &[
            ("LINLI_ADMIN_PASSWORD", "the admin's passphrase"),
            ("LINLI_LOGIN_USER_BURST", "2"),
        ],
    );
    let login = |password: &'static str| {
        let base = base.clone();
        async move {
            post(
                &base,
                "/v1/auth/login",
                None,
                json!({"username": "admin", "password": password}),
            )
            .await
        }
    };
    assert_eq!(login("guess 1").await.0, 401);
    assert_eq!(login("guess 2").await.0, 401);
    let (status, problem) = login("the admin's passphrase").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (429, Some("too_many_attempts"))
    );

    let out = linli(dir.path(), &["user", "unthrottle", "--username", "admin"]);
    assert!(out.contains("lifted"), "{out}");
    // The server reads lifts at most once a second, while it refuses logins.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        let (status, _) = login("the admin's passphrase").await;
        if status != 429 || std::time::Instant::now() > deadline {
            break status;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(status, 200);
    stop(server);
}

async fn get(base: &str, path: &str, token: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status().as_u16(), 200, "GET {path}");
    res.json().await.expect("json")
}

/// The server's state, as an admin's snapshot shows it.
async fn server_state(base: &str, admin: &str) -> linli_sync_core::prelude::State {
    let snap: linli_sync_core::sync::Snapshot =
        serde_json::from_value(get(base, "/v1/snapshot", admin).await).expect("snapshot");
    snap.state
}

async fn login_admin(base: &str) -> String {
    let (status, login) = post(
        base,
        "/v1/auth/login",
        None,
        json!({"username": "admin", "password": "the admin's passphrase"}),
    )
    .await;
    assert_eq!(status, 200, "{login:#}");
    login["access_token"].as_str().expect("token").to_string()
}

/// A new user of `role` with one enrolled phone: its device id and a writer of its ops, and its access token.
async fn phone(
    base: &str,
    admin: &str,
    username: &str,
    role: &str,
) -> (linli_sync_core::prelude::Writer, String) {
    use linli_sync_core::prelude::*;
    let (status, user) = post(
        base,
        "/v1/users",
        Some(admin),
        json!({"username": username, "role": role}),
    )
    .await;
    assert_eq!(status, 201, "{user:#}");
    let (status, code) = post(
        base,
        "/v1/enrolment-codes",
        Some(admin),
        json!({"user_id": user["id"], "label": username}),
    )
    .await;
    assert_eq!(status, 201, "{code:#}");
    let (status, enrolled) = post(
        base,
        "/v1/devices/enrol",
        None,
        json!({"code": code["code"]}),
    )
    .await;
    assert_eq!(status, 201, "{enrolled:#}");
    let id: ReplicaId = enrolled["device_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let uid: UserId = enrolled["user_id"]
        .as_str()
        .expect("user")
        .parse()
        .expect("uuid");
    (
        Writer::new(id, uid, HlcClock::new(DriftPolicy::DEFAULT)),
        enrolled["access_token"]
            .as_str()
            .expect("token")
            .to_string(),
    )
}

async fn push(base: &str, token: &str, ops: &[linli_sync_core::prelude::Op]) {
    let body = json!({
        "protocol": 1,
        "cursor": 0,
        "ops": ops.iter().map(linli_sync_core::prelude::Op::to_value).collect::<Vec<_>>(),
    });
    let (status, reply) = post(base, "/v1/sync", Some(token), body).await;
    assert_eq!(status, 200, "{reply:#}");
}

/// Waits (at most 5 s) until `device` holds no rights on `card`; returns the state then.
async fn rights_returned(
    base: &str,
    admin: &str,
    card: linli_sync_core::prelude::UserId,
    device: linli_sync_core::prelude::ReplicaId,
) -> linli_sync_core::prelude::State {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let state = server_state(base, admin).await;
        let held = state.card(&card).expect("card").rights(device).0;
        if held == 0 || std::time::Instant::now() > deadline {
            return state;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Found because `linli token revoke` cut a lost property-office phone off but left the card rights it held with it
/// (ADR 0001 listed it as a gap): the CLI only marks the revocation; the server, the one writer of ops, returns
/// the rights through the same code as `POST /v1/devices/{id}/revoke`, within a second while it runs and at start
/// when it did not run. The return is a `rights_return` row in `card_movements`.
#[actix_web::test]
async fn a_cli_revocation_returns_the_rights_the_phone_held_while_running_and_after_a_restart() {
    use linli_sync_core::prelude::*;
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("LINLI_ADMIN_PASSWORD", "the admin's passphrase")];
    let (server, base) = serve(dir.path(), &env);
    let admin = login_admin(&base).await;
    let (mut office, office_token) = phone(&base, &admin, "office", "admin").await;
    let (desk, _) = phone(&base, &admin, "desk", "admin").await;
    let (mut worker, worker_token) = phone(&base, &admin, "worker", "grid_worker").await;
    let (mut butler, butler_token) = phone(&base, &admin, "butler", "volunteer").await;

    // A grid cell, the butler's approved hour (9 points in the pool), and grants to two office phones.
    let now = linli_server::now_ms();
    let grid = GridId::random();
    let setup = vec![
        office.op(
            now,
            OpBody::Grid(
                grid,
                GridOp::Create {
                    name: "第一网格".into(),
                    community: "幸福里社区".into(),
                },
            ),
        ),
        office.op(
            now,
            OpBody::Grid(
                grid,
                GridOp::AddMember {
                    user: worker.author,
                    role: MemberRole::Worker,
                },
            ),
        ),
        office.op(
            now,
            OpBody::Grid(
                grid,
                GridOp::AddMember {
                    user: butler.author,
                    role: MemberRole::Butler,
                },
            ),
        ),
    ];
    push(&base, &office_token, &setup).await;
    let entry = EntryId::random();
    let logged = butler.op(
        now,
        OpBody::Entry(
            entry,
            EntryOp::Activity(Activity {
                volunteer: butler.author,
                grid,
                activity: "patrol".into(),
                start_ms: now - 3_600_000,
                end_ms: now - 1,
                notes: String::new(),
            }),
        ),
    );
    push(&base, &butler_token, std::slice::from_ref(&logged)).await;
    let approval = worker
        .approve(&server_state(&base, &admin).await, now, entry, None)
        .expect("approvable");
    push(&base, &worker_token, &approval).await;
    let card = butler.author;
    for (device, points) in [(office.replica, 5), (desk.replica, 3)] {
        let (status, grant) = post(
            &base,
            &format!("/v1/cards/{card}/grants"),
            Some(&admin),
            json!({"device_id": device.to_string(), "points": points}),
        )
        .await;
        assert_eq!(status, 201, "{grant:#}");
    }
    // The office phone redeems 2 and syncs; then it is lost.
    let spent = office.op(
        now,
        OpBody::Card(
            card,
            CardOp::Redeem {
                points: Points(2),
                seq: 1,
                purpose: Purpose::Goods {
                    item: "rice".into(),
                },
            },
        ),
    );
    push(&base, &office_token, &[spent]).await;
    let before = server_state(&base, &admin).await;
    let c = before.card(&card).expect("card");
    let (balance, pool) = (c.balance(), c.rights(ReplicaId::SERVER));
    assert_eq!(c.rights(office.replica), Points(3));

    // Revoked from the command line while the server runs.
    let office_id = office.replica.to_string();
    linli(dir.path(), &["token", "revoke", "--device", &office_id]);
    let after = rights_returned(&base, &admin, card, office.replica).await;
    let c = after.card(&card).expect("card");
    assert_eq!(
        c.rights(office.replica),
        Points(0),
        "the lost phone holds nothing"
    );
    assert_eq!(
        c.rights(ReplicaId::SERVER),
        Points(pool.0 + 3),
        "the pool got its 3 back"
    );
    assert_eq!(c.balance(), balance, "the balance is unchanged");

    // Revoked from the command line while the server is down: returned when it starts.
    stop(server);
    let desk_id = desk.replica.to_string();
    linli(dir.path(), &["token", "revoke", "--device", &desk_id]);
    let (server, base) = serve(dir.path(), &env);
    let admin = login_admin(&base).await;
    let after = rights_returned(&base, &admin, card, desk.replica).await;
    let c = after.card(&card).expect("card");
    assert_eq!(
        c.rights(desk.replica),
        Points(0),
        "the desk phone holds nothing"
    );
    assert_eq!(c.rights(ReplicaId::SERVER), Points(pool.0 + 3 + 3));
    assert_eq!(c.balance(), balance);
    let rights: u64 = c.all_rights().values().map(|p| p.0).sum();
    assert_eq!(rights, c.balance().0, "rights still sum to the balance");
    stop(server);

    // The office can see why: one `rights_return` movement per revoked phone, naming it.
    use diesel::prelude::*;
    use linli_server::db::schema::card_movements as m;
    let db = dir.path().join("linli.sqlite3");
    let mut conn = SqliteConnection::establish(db.to_str().expect("utf8")).expect("db");
    let mut returns: Vec<(String, i64, Option<String>)> = m::table
        .filter(m::kind.eq("rights_return"))
        .select((m::replica, m::points, m::to_replica))
        .load(&mut conn)
        .expect("movements");
    returns.sort();
    let mut expected = vec![
        (office_id, 3, Some(ReplicaId::SERVER.to_string())),
        (desk_id, 3, Some(ReplicaId::SERVER.to_string())),
    ];
    expected.sort();
    assert_eq!(returns, expected);
    // The grants (server to phone) and the redemption keep their kinds.
    let kinds: Vec<String> = m::table
        .filter(m::kind.ne("credit"))
        .select(m::kind)
        .order(m::seq)
        .load(&mut conn)
        .expect("kinds");
    assert_eq!(
        kinds,
        [
            "transfer",
            "transfer",
            "redeem",
            "rights_return",
            "rights_return"
        ]
    );
}

/// Runs `linli` with `args` over `dir`; its exit status and its output (stdout, then stderr).
fn linli_status(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_linli"))
        .args(args)
        .env("LINLI_DATA_DIR", dir)
        .env("LINLI_LOG", "warn")
        .output()
        .expect("linli runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Issue 11: `linli check` rebuilds each community from its log and compares it with its stored checkpoint. After a
/// clean shutdown (which writes the checkpoint) it says so and exits 0; with the row damaged (truncated state,
/// another format) it names the community and the reason and exits non-zero; nothing it reads is changed.
#[actix_web::test]
async fn linli_check_compares_each_checkpoint_with_its_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("LINLI_ADMIN_PASSWORD", "the admin's passphrase")];
    let (mut server, base) = serve(dir.path(), &env);
    let admin = login_admin(&base).await;
    let (office, token) = phone(&base, &admin, "office", "admin").await;
    let year0 = linli_server::now_ms() - 365 * 86_400_000;
    let mut ops = linli_sync_core::test_support::community_year_of(0, year0, 1);
    ops.truncate(1500);
    for op in &mut ops {
        op.replica = office.replica;
        op.author = office.author;
    }
    for batch in ops.chunks(500) {
        push(&base, &token, batch).await;
    }
    let (ok, out) = linli_status(dir.path(), &["check"]);
    assert!(ok, "no checkpoint yet is nothing wrong: {out}");
    assert!(out.contains("community 1: no checkpoint"), "{out}");
    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    assert!(server.wait().expect("exits").success());

    let (ok, out) = linli_status(dir.path(), &["check"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("community 1: checkpoint at 1500 matches the log"),
        "{out}"
    );
    let (ok, out) = linli_status(dir.path(), &["check", "--community", "1"]);
    assert!(ok && out.contains("matches"), "{out}");

    let db = rusqlite::Connection::open(dir.path().join("linli.sqlite3")).expect("database");
    db.execute(
        "UPDATE checkpoints SET state = substr(state, 1, length(state) - 10)",
        [],
    )
    .expect("truncated");
    let (ok, out) = linli_status(dir.path(), &["check"]);
    assert!(!ok, "a truncated checkpoint fails the check: {out}");
    assert!(
        out.contains("community 1: checkpoint at 1500 UNREADABLE: state: checkpoint truncated"),
        "{out}"
    );
    db.execute("UPDATE checkpoints SET format = 99", [])
        .expect("format");
    let (ok, out) = linli_status(dir.path(), &["check"]);
    assert!(!ok, "{out}");
    assert!(out.contains("format 99 in the row"), "{out}");
    let (ok, out) = linli_status(dir.path(), &["check", "--community", "9"]);
    assert!(!ok && out.contains("no community 9"), "{out}");
}
