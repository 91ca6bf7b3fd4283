//! Sync throughput on this machine, printed as a table: push ingest over loopback HTTP in batches of 1,000 ops
//! (validated, durable: WAL with `synchronous = FULL`) next to a raw diesel insert of the same op-log rows into
//! a fresh database; pull throughput; and the bootstrap snapshot of a grid cell of 500 households with a year of
//! daily door-knock visits. Then two communities of one street office (issue 11): a phone of one community
//! pushing a year of its cell's visits alone, then a phone of each community pushing as much at the same time
//! (ops/s each and together: the writer lock is per community, the SQLite file's commit is shared).
//!
//! Run: `cargo bench -p linli-server --bench sync_throughput` (set `LINLI_BENCH_DAYS` to shorten the year).

use linli_server::community::CommunityId;
use linli_server::config::Config;
use linli_server::store::{self, OpRow};
use linli_server::{app, db};
use linli_sync_core::prelude::*;
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpListener;
use std::time::Instant;

const HOUSEHOLDS: usize = 500;
const BATCH: usize = 1000;
const PHONES: usize = 4;
const DAY_MS: u64 = 86_400_000;

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Value {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert!(status.is_success(), "{path}: {status} {body:#}");
        body
    }

    async fn device(&self, admin_token: &str, user: &str) -> (ReplicaId, UserId, String) {
        let code = self
            .post(
                "/v1/enrolment-codes",
                Some(admin_token),
                &json!({"user_id": user}),
            )
            .await;
        let d = self
            .post("/v1/devices/enrol", None, &json!({"code": code["code"]}))
            .await;
        (
            d["device_id"]
                .as_str()
                .expect("device")
                .parse()
                .expect("uuid"),
            d["user_id"].as_str().expect("user").parse().expect("uuid"),
            d["access_token"].as_str().expect("token").to_string(),
        )
    }

    /// Pushes pre-serialised ops with the phone's cursor; returns the next cursor.
    async fn push_raw(&self, token: &str, cursor: u64, ops: &str) -> u64 {
        let body = format!(r#"{{"protocol":1,"cursor":{cursor},"ops":{ops}}}"#);
        let res = self
            .http
            .post(format!("{}/v1/sync", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = res.status();
        let answer: Value = res.json().await.expect("json");
        assert!(status.is_success(), "push: {status} {answer:#}");
        answer["cursor"].as_u64().expect("cursor")
    }

    async fn sync(&self, token: &str, cursor: u64, ops: &[Op]) -> Value {
        let body = json!({
            "protocol": 1, "cursor": cursor, "limit": 5000,
            "ops": ops.iter().map(Op::to_value).collect::<Vec<_>>()
        });
        self.post("/v1/sync", Some(token), &body).await
    }
}

fn main() {
    let days: u64 = std::env::var("LINLI_BENCH_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(365);
    actix_web::rt::System::new().block_on(run(days));
}

async fn run(days: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        database_url: dir
            .path()
            .join("linli.sqlite3")
            .to_string_lossy()
            .into_owned(),
        admin_password: Some("bench".into()),
        access_token_ttl_secs: 3600,
        ..Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (state, _) = app::prepare(config).expect("prepare");
    // The district admin, created as the operator does (`linli user add --role district_admin`).
    let district_hash = linli_server::password::hash_now("district").expect("hash");
    linli_server::identity::add_user(
        &mut state.pool.get().expect("conn"),
        "district",
        Role::Admin,
        None,
        Some(&district_hash),
        0,
    )
    .expect("district admin");
    let server = app::server(state, listener).expect("server");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let c = Client {
        // Idle connections are dropped before the server's 5-second keep-alive can close them under a request.
        http: reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("client"),
        base,
    };

    let login = c
        .post(
            "/v1/auth/login",
            None,
            &json!({"username": "admin", "password": "bench"}),
        )
        .await;
    let admin_token = login["access_token"].as_str().expect("token").to_string();
    let admin_user = login["user_id"].as_str().expect("user").to_string();
    let (admin_dev, admin_id, admin_dev_token) = c.device(&admin_token, &admin_user).await;
    // Four micro-butlers, one phone each.
    let mut phones: Vec<(ReplicaId, UserId, String)> = Vec::new();
    for b in 0..PHONES {
        let user = c
            .post(
                "/v1/users",
                Some(&admin_token),
                &json!({"username": format!("butler-{b}"), "role": "volunteer"}),
            )
            .await;
        phones.push(
            c.device(&admin_token, user["id"].as_str().expect("id"))
                .await,
        );
    }

    // Setup: the grid cell, its households, the butler.
    let start_ms = linli_server::now_ms() - days * DAY_MS;
    let mut admin = Writer::new(admin_dev, admin_id, HlcClock::new(DriftPolicy::DEFAULT));
    let grid = GridId::random();
    let households: Vec<HouseholdId> = (0..HOUSEHOLDS).map(|_| HouseholdId::random()).collect();
    let mut setup = vec![admin.op(
        start_ms,
        OpBody::Grid(
            grid,
            GridOp::Create {
                name: "第三网格".into(),
                community: "幸福里社区".into(),
            },
        ),
    )];
    for (_, user, _) in &phones {
        setup.push(admin.op(
            start_ms,
            OpBody::Grid(
                grid,
                GridOp::AddMember {
                    user: *user,
                    role: MemberRole::Butler,
                },
            ),
        ));
    }
    for (i, h) in households.iter().enumerate() {
        setup.push(admin.op(
            start_ms,
            OpBody::Grid(
                grid,
                GridOp::AddHousehold {
                    household: *h,
                    details: Household {
                        building: format!("{}", i / 50 + 1),
                        unit: format!("{}", i % 5 + 1),
                        room: format!("{}", 101 + i % 10),
                        elderly_alone: true,
                        contact_name: None,
                    },
                },
            ),
        ));
    }
    for chunk in setup.chunks(BATCH) {
        c.sync(&admin_dev_token, 0, chunk).await;
    }

    // A year of daily visits, oldest first, as the micro-butlers' phones send them after being offline: four
    // butlers, each visiting a quarter of the households. The ops are serialised before the clock starts, so the
    // figures are the server's, not the client's JSON encoding; each request carries the phone's current cursor.
    let per_phone = HOUSEHOLDS / PHONES;
    let mut visits: Vec<Vec<Op>> = Vec::new();
    for (p, (dev, user, _)) in phones.iter().enumerate() {
        let mut writer = Writer::new(*dev, *user, HlcClock::new(DriftPolicy::DEFAULT));
        let mut ops = Vec::with_capacity(per_phone * days as usize);
        for day in 0..days {
            for (i, h) in households
                .iter()
                .enumerate()
                .skip(p * per_phone)
                .take(per_phone)
            {
                let at = start_ms + day * DAY_MS + (i as u64) * 60_000;
                ops.push(writer.op(
                    at,
                    OpBody::Entry(
                        EntryId::new_v7(at),
                        EntryOp::Visit(Visit {
                            volunteer: *user,
                            grid,
                            household: *h,
                            seen: i % 7 != 0,
                            health: None,
                            needs: if i % 11 == 0 {
                                vec![Need::Groceries]
                            } else {
                                Vec::new()
                            },
                            notes: String::new(),
                            follow_up: None,
                        }),
                    ),
                ));
            }
        }
        visits.push(ops);
    }
    let bodies: Vec<Vec<String>> = visits
        .iter()
        .map(|ops| {
            ops.chunks(BATCH)
                .map(|chunk| {
                    serde_json::to_string(&chunk.iter().map(Op::to_value).collect::<Vec<_>>())
                        .expect("json")
                })
                .collect()
        })
        .collect();

    // One phone alone, its batches one after the other.
    let single_n = visits[0].len();
    let t = Instant::now();
    let mut cursor = 0;
    for ops in &bodies[0] {
        cursor = c.push_raw(&phones[0].2, cursor, ops).await;
    }
    let single_s = t.elapsed().as_secs_f64();

    // The other phones at the same time.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (p, (_, _, token)) in phones.iter().enumerate().skip(1) {
        let (http, base, token, batches) = (
            c.http.clone(),
            c.base.clone(),
            token.clone(),
            bodies[p].clone(),
        );
        tasks.push(actix_web::rt::spawn(async move {
            let c = Client { http, base };
            let mut cursor = 0;
            for ops in &batches {
                cursor = c.push_raw(&token, cursor, ops).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("phone task");
    }
    let concurrent_s = t.elapsed().as_secs_f64();
    let concurrent_n: usize = visits[1..].iter().map(Vec::len).sum();
    let visits: Vec<Op> = visits.into_iter().flatten().collect();
    let n = visits.len();

    // The same op-log rows, inserted raw with diesel into a fresh database with the same pragmas (encoded, and
    // their bodies compressed, before the clock starts).
    let raw_dir = tempfile::tempdir().expect("temp dir");
    let pool = db::open(&raw_dir.path().join("raw.sqlite3").to_string_lossy(), 1).expect("raw db");
    let mut conn = pool.get().expect("conn");
    let received = linli_server::now_ms() as i64;
    let rows: Vec<OpRow> = visits
        .iter()
        .enumerate()
        .map(|(k, op)| {
            OpRow::new(
                CommunityId::FIRST,
                k as i64 + 1,
                op,
                &op.to_json(),
                op.replica,
                Some(grid),
                received,
            )
        })
        .collect();
    let t = Instant::now();
    for chunk in rows.chunks(BATCH) {
        db::sqlite::write_txn(&mut conn, |conn| store::append(conn, chunk)).expect("insert");
    }
    let raw_s = t.elapsed().as_secs_f64();

    // Pull everything as a new admin device would, page by page.
    let t = Instant::now();
    let mut cursor = 0;
    let mut pulled = 0usize;
    loop {
        let page = c.sync(&admin_dev_token, cursor, &[]).await;
        pulled += page["ops"].as_array().map_or(0, Vec::len);
        cursor = page["cursor"].as_u64().expect("cursor");
        if !page["has_more"].as_bool().unwrap_or(false) {
            break;
        }
    }
    let pull_s = t.elapsed().as_secs_f64();

    // A new phone's bootstrap snapshot of the whole grid cell (as its grid worker or an admin sees it: every
    // household and every visit), plain and gzip.
    let t = Instant::now();
    let snap = c
        .http
        .get(format!("{}/v1/snapshot", c.base))
        .bearer_auth(&admin_dev_token)
        .send()
        .await
        .expect("snapshot")
        .bytes()
        .await
        .expect("bytes");
    let snap_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let raw_client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let gz = raw_client
        .get(format!("{}/v1/snapshot", c.base))
        .bearer_auth(&admin_dev_token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("snapshot")
        .bytes()
        .await
        .expect("bytes");
    let snap_gz_s = t.elapsed().as_secs_f64();

    // Two communities: a second one (B) with a cell, its households and a butler's phone; a new butler's phone in
    // the first (A). A's phone pushes a year of visits alone; then another A phone and B's phone push as much each
    // at the same time.
    let district = c
        .post(
            "/v1/auth/login",
            None,
            &json!({"username": "district", "password": "district"}),
        )
        .await["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let b = c
        .post(
            "/v1/communities",
            Some(&district),
            &json!({"name": "和平里社区", "street_office": "城东街道"}),
        )
        .await["id"]
        .as_i64()
        .expect("id");
    c.post(
        "/v1/users",
        Some(&district),
        &json!({"username": "admin-b", "role": "admin", "password": "bench-b", "community": b}),
    )
    .await;
    let b_login = c
        .post(
            "/v1/auth/login",
            None,
            &json!({"username": "admin-b", "password": "bench-b"}),
        )
        .await;
    let b_token = b_login["access_token"].as_str().expect("token").to_string();
    let b_user = b_login["user_id"].as_str().expect("user").to_string();
    let (b_dev, b_id, b_dev_token) = c.device(&b_token, &b_user).await;
    let phone = |token: String, name: String| {
        let c = &c;
        async move {
            let user = c
                .post(
                    "/v1/users",
                    Some(&token),
                    &json!({"username": name, "role": "volunteer"}),
                )
                .await;
            c.device(&token, user["id"].as_str().expect("id")).await
        }
    };
    let a_alone = phone(admin_token.clone(), "butler-a-alone".into()).await;
    let a_both = phone(admin_token.clone(), "butler-a-both".into()).await;
    let b_both = phone(b_token.clone(), "butler-b-both".into()).await;
    let b_grid = GridId::random();
    let b_households: Vec<HouseholdId> = (0..per_phone).map(|_| HouseholdId::random()).collect();
    let mut b_admin = Writer::new(b_dev, b_id, HlcClock::new(DriftPolicy::DEFAULT));
    let mut b_setup = vec![b_admin.op(
        start_ms,
        OpBody::Grid(
            b_grid,
            GridOp::Create {
                name: "第一网格".into(),
                community: "和平里社区".into(),
            },
        ),
    )];
    b_setup.push(b_admin.op(
        start_ms,
        OpBody::Grid(
            b_grid,
            GridOp::AddMember {
                user: b_both.1,
                role: MemberRole::Butler,
            },
        ),
    ));
    for h in &b_households {
        b_setup.push(b_admin.op(
            start_ms,
            OpBody::Grid(
                b_grid,
                GridOp::AddHousehold {
                    household: *h,
                    details: Household {
                        building: "1".into(),
                        unit: "1".into(),
                        room: "101".into(),
                        elderly_alone: true,
                        contact_name: None,
                    },
                },
            ),
        ));
    }
    c.sync(&b_dev_token, 0, &b_setup).await;
    let a_members: Vec<Op> = [a_alone.1, a_both.1]
        .iter()
        .map(|user| {
            admin.op(
                start_ms,
                OpBody::Grid(
                    grid,
                    GridOp::AddMember {
                        user: *user,
                        role: MemberRole::Butler,
                    },
                ),
            )
        })
        .collect();
    c.sync(&admin_dev_token, 0, &a_members).await;
    let year_of =
        |(dev, user, _): &(ReplicaId, UserId, String), grid: GridId, hh: &[HouseholdId]| {
            let mut writer = Writer::new(*dev, *user, HlcClock::new(DriftPolicy::DEFAULT));
            let mut ops = Vec::with_capacity(hh.len() * days as usize);
            for day in 0..days {
                for (i, h) in hh.iter().enumerate() {
                    let at = start_ms + day * DAY_MS + (i as u64) * 60_000;
                    ops.push(writer.op(
                        at,
                        OpBody::Entry(
                            EntryId::new_v7(at),
                            EntryOp::Visit(Visit {
                                volunteer: *user,
                                grid,
                                household: *h,
                                seen: i % 7 != 0,
                                health: None,
                                needs: Vec::new(),
                                notes: String::new(),
                                follow_up: None,
                            }),
                        ),
                    ));
                }
            }
            ops.chunks(BATCH)
                .map(|chunk| {
                    serde_json::to_string(&chunk.iter().map(Op::to_value).collect::<Vec<_>>())
                        .expect("json")
                })
                .collect::<Vec<String>>()
        };
    let a_hh = &households[..per_phone];
    let alone_batches = year_of(&a_alone, grid, a_hh);
    let a_batches = year_of(&a_both, grid, a_hh);
    let b_batches = year_of(&b_both, b_grid, &b_households);
    let year_n = per_phone * days as usize;
    let t = Instant::now();
    let mut cursor = 0;
    for ops in &alone_batches {
        cursor = c.push_raw(&a_alone.2, cursor, ops).await;
    }
    let alone_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (token, batches) in [(a_both.2.clone(), a_batches), (b_both.2.clone(), b_batches)] {
        let (http, base) = (c.http.clone(), c.base.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let c = Client { http, base };
            let t = Instant::now();
            let mut cursor = 0;
            for ops in &batches {
                cursor = c.push_raw(&token, cursor, ops).await;
            }
            t.elapsed().as_secs_f64()
        }));
    }
    let mut each_s = Vec::new();
    for task in tasks {
        each_s.push(task.await.expect("phone task"));
    }
    let both_s = t.elapsed().as_secs_f64();

    println!("| measurement | ops | seconds | ops/s |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| push ingest over loopback HTTP, batches of {BATCH}, one phone (validated, durable) | {single_n} | {single_s:.2} | {:.0} |",
        single_n as f64 / single_s
    );
    println!(
        "| push ingest over loopback HTTP, batches of {BATCH}, {} phones at once | {concurrent_n} | {concurrent_s:.2} | {:.0} |",
        PHONES - 1,
        concurrent_n as f64 / concurrent_s
    );
    println!(
        "| raw diesel insert of the same op-log rows, transactions of {BATCH} | {n} | {raw_s:.2} | {:.0} |",
        n as f64 / raw_s
    );
    println!(
        "| pull over loopback HTTP, pages of 5000 (admin) | {pulled} | {pull_s:.2} | {:.0} |",
        pulled as f64 / pull_s
    );
    println!(
        "| one community: one phone pushing a year of its cell's visits alone | {year_n} | {alone_s:.2} | {:.0} |",
        year_n as f64 / alone_s
    );
    println!(
        "| two communities at once: community A's phone | {year_n} | {:.2} | {:.0} |",
        each_s[0],
        year_n as f64 / each_s[0]
    );
    println!(
        "| two communities at once: community B's phone | {year_n} | {:.2} | {:.0} |",
        each_s[1],
        year_n as f64 / each_s[1]
    );
    println!(
        "| two communities at once: both | {} | {both_s:.2} | {:.0} |",
        2 * year_n,
        (2 * year_n) as f64 / both_s
    );
    println!();
    println!(
        "ingest time per op (phones at once) / raw insert time per op: {:.2}",
        (concurrent_s / concurrent_n as f64) / (raw_s / n as f64)
    );
    println!(
        "snapshot, {HOUSEHOLDS} households x {days} days of visits: {:.1} MB in {snap_s:.2} s; gzip {:.1} MB in {snap_gz_s:.2} s",
        snap.len() as f64 / 1e6,
        gz.len() as f64 / 1e6
    );
    let metrics = c
        .http
        .get(format!("{}/metrics", c.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in metrics.lines().filter(|l| {
        l.starts_with("linli_http_request_duration_seconds_")
            && l.contains("/v1/sync")
            && !l.contains("bucket")
    }) {
        println!("server side: {line}");
    }
    handle.stop(true).await;
    let _ = std::io::stdout().flush();
}
