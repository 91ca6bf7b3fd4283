//! The state cache and checkpoints (issue 11), seen from outside the real binary: with a budget smaller than the
//! communities it serves, every community's phone still syncs right (cache misses load from checkpoints), the
//! loaded communities' estimated size stays within the budget and the resident set within a stated bound; a clean
//! shutdown writes checkpoints and the next start loads from them.

use linli_sync_core::test_support::community_year_of;
use serde_json::{Value, json};
use std::path::Path;

use crate::common::Server;

const MIB: u64 = 1024 * 1024;
const DAY_MS: u64 = 86_400_000;
const DISTRICT_PASSWORD: &str = "district admin password";
const ADMIN_PASSWORD: &str = "community admin password";

/// A community's admin phone.
struct Phone {
    token: String,
    pushed: usize,
}

/// Runs a `linli` administration command over `dir`; its output.
fn linli(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linli"))
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pushes `ops` as the phone's own (author and replica replaced), 1,000 at a time.
async fn push(
    server: &Server,
    token: &str,
    device: &str,
    user: &str,
    ops: &[linli_sync_core::op::Op],
) {
    for batch in ops.chunks(1000) {
        let ops: Vec<Value> = batch
            .iter()
            .map(|op| {
                let mut op = op.clone();
                op.replica = device.parse().expect("device id");
                op.author = user.parse().expect("user id");
                op.to_value()
            })
            .collect();
        server
            .post_ok(
                "/v1/sync",
                Some(token),
                &json!({"protocol": 1, "cursor": 0, "limit": 1, "ops": ops}),
            )
            .await;
    }
}

/// A new community with its admin, whose phone pushes the first `ops` ops of `community_year_of(n, ..)` (a prefix
/// of a valid history is one).
async fn community(server: &Server, district: &str, n: u16, ops: usize) -> Phone {
    let created = server
        .post_ok(
            "/v1/communities",
            Some(district),
            &json!({"name": format!("社区{n}"), "street_office": "城东街道"}),
        )
        .await;
    let username = format!("admin-{n}");
    let user = server
        .post_ok(
            "/v1/users",
            Some(district),
            &json!({"username": username, "role": "admin", "password": ADMIN_PASSWORD, "community": created["id"]}),
        )
        .await;
    let login = server
        .post_ok(
            "/v1/auth/login",
            None,
            &json!({"username": username, "password": ADMIN_PASSWORD}),
        )
        .await;
    let admin = login["access_token"].as_str().expect("token");
    let phone = server.enrol(admin, &user["id"]).await;
    let token = phone["access_token"].as_str().expect("token").to_string();
    let mut history = community_year_of(n, linli_server::now_ms() - 365 * DAY_MS, 1);
    history.truncate(ops);
    let ops = history;
    push(
        server,
        &token,
        phone["device_id"].as_str().expect("device"),
        user["id"].as_str().expect("user"),
        &ops,
    )
    .await;
    Phone {
        token,
        pushed: ops.len(),
    }
}

/// Pulls everything the phone may see from cursor 0; how many ops.
async fn pull_all(server: &Server, token: &str) -> usize {
    let (mut cursor, mut n) = (0, 0);
    loop {
        let page = server
            .post_ok(
                "/v1/sync",
                Some(token),
                &json!({"protocol": 1, "cursor": cursor, "limit": 5000, "ops": []}),
            )
            .await;
        n += page["ops"].as_array().expect("ops").len();
        cursor = page["cursor"].as_u64().expect("cursor");
        if page["has_more"] == json!(false) {
            return n;
        }
    }
}

async fn district(server: &Server, dir: &Path) -> String {
    linli(
        dir,
        &[
            "user",
            "add",
            "--username",
            "district",
            "--role",
            "district_admin",
            "--password",
            DISTRICT_PASSWORD,
        ],
    );
    let login = server
        .post_ok(
            "/v1/auth/login",
            None,
            &json!({"username": "district", "password": DISTRICT_PASSWORD}),
        )
        .await;
    login["access_token"].as_str().expect("token").to_string()
}

/// Ops per community in the budget test: 30,000 (13.9 MB estimated each at 460 B/op: two fit in the budget,
/// three do not).
const OPS: usize = 30_000;
/// The budget test's `LINLI_STATE_CACHE_MB`.
const BUDGET_MB: u64 = 32;
/// What the seeding leaves resident besides the loaded communities: glibc's arenas of the request threads after
/// 180 pushes of 1,000 ops and their group commits (measured: 148 MB after seeding with the budget, 50 MB at start,
/// two communities loaded ~28 MB: ~70 MB).
const SEEDING_OVERHEAD_MB: u64 = 75;

/// Issue 11: a 32 MiB budget and six communities of 30,000 ops each (13.9 MB estimated each: two fit).
/// Every phone's full pull answers every op of its community, twice round, each sync a cache miss loaded from a
/// checkpoint; after every request the loaded communities' estimate is within the budget, and the cache's
/// estimated peak (at a load's end) within the budget and one community. The resident set stays under the process's
/// own at start, plus the budget, one community (a miss loads while the least recently used is dropped) and the
/// seeding's overhead ([`SEEDING_OVERHEAD_MB`]): 171 MB here.
///
/// That bound can fail: measured on this machine (debug build, other engineers building at the same time; set
/// `LINLI_TEST_BUDGET_MB` to rerun with another budget), VmRSS at start 50 MB; with the 32 MB budget 148 MB after
/// seeding and at most 155 MB during the cold syncs; with `LINLI_TEST_BUDGET_MB=1000` (nothing evicted) 197 MB
/// already after seeding.
#[actix_web::test]
async fn with_more_communities_than_the_budget_holds_every_phone_still_syncs() {
    let budget_mb = std::env::var("LINLI_TEST_BUDGET_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BUDGET_MB);
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_in(
        dir.path(),
        "info",
        &[
            ("LINLI_STATE_CACHE_MB", &budget_mb.to_string()),
            ("LINLI_CHECKPOINT_EVERY", "5000"),
        ],
    );
    let district = district(&server, dir.path()).await;
    let rss_at_start = server.proc_status("VmRSS");
    let mut phones = Vec::new();
    for n in 1..=6 {
        phones.push(community(&server, &district, n, OPS).await);
    }
    let budget = budget_mb * MIB;
    eprintln!(
        "ops per community: {:?}",
        phones.iter().map(|p| p.pushed).collect::<Vec<_>>()
    );
    assert_eq!(
        server.metric("linli_state_cache_budget_bytes").await,
        budget
    );
    let loaded_after_seeding = server.metric("linli_state_cache_bytes").await;
    assert!(loaded_after_seeding <= budget, "{loaded_after_seeding}");
    let rss_after_seeding = server.proc_status("VmRSS");
    eprintln!(
        "VmRSS at start {} MB, after seeding {} MB",
        rss_at_start / MIB,
        rss_after_seeding / MIB
    );
    let mut rss_max = rss_after_seeding;
    for round in 0..2 {
        for (i, phone) in phones.iter().enumerate() {
            assert_eq!(
                pull_all(&server, &phone.token).await,
                phone.pushed,
                "round {round}, community {i}: every op pulled"
            );
            let loaded = server.metric("linli_state_cache_bytes").await;
            assert!(
                loaded <= budget,
                "round {round}, community {i}: {loaded} bytes loaded, budget {budget}"
            );
            assert!(server.metric("linli_communities_loaded").await <= 2);
            rss_max = rss_max.max(server.proc_status("VmRSS"));
        }
    }
    let from_checkpoint = server
        .metric("linli_community_loads_total{from=\"checkpoint\"}")
        .await;
    assert!(
        from_checkpoint >= 12,
        "every sync of a cold community loaded its checkpoint: {from_checkpoint}"
    );
    assert_eq!(
        server
            .metric("linli_community_loads_total{from=\"fallback\"}")
            .await,
        0
    );
    assert!(server.metric("linli_evictions_total").await >= 12);
    let peak = server.metric("linli_state_cache_peak_bytes").await;
    let one = 64 * 1024 + 460 * OPS as u64;
    assert!(
        peak <= budget + one,
        "the cache's estimated peak {peak} within the budget and one community"
    );
    let rss = server.proc_status("VmRSS");
    eprintln!(
        "VmRSS at start {} MB, after seeding {} MB, at most {} MB between the syncs, after two rounds of cold syncs {} \
         MB, VmHWM {} MB; estimated peak {} MB",
        rss_at_start / MIB,
        rss_after_seeding / MIB,
        rss_max / MIB,
        rss / MIB,
        server.proc_status("VmHWM") / MIB,
        peak / MIB
    );
    let bound = rss_at_start + budget + one + SEEDING_OVERHEAD_MB * MIB;
    assert!(
        rss_max < bound,
        "VmRSS {} MB, bound {} MB",
        rss_max / MIB,
        bound / MIB
    );
}

/// Issue 11: a clean shutdown (SIGTERM) writes a checkpoint of every loaded community with ops after its last one,
/// and the next start loads the community from it (not from its whole log), with every op still there. A damaged
/// checkpoint row then falls back to the log, with the reason logged, and is replaced.
#[actix_web::test]
async fn a_clean_shutdown_writes_checkpoints_that_the_next_start_loads() {
    let dir = tempfile::tempdir().expect("temp dir");
    // No checkpoint is due during the test: only the shutdown writes one.
    let env = [("LINLI_CHECKPOINT_EVERY", "1000000")];
    let mut server = Server::start_in(dir.path(), "info", &env);
    let district = district(&server, dir.path()).await;
    let phone = community(&server, &district, 7, 3000).await;
    assert_eq!(server.metric("linli_checkpoints_written_total").await, 0);
    assert!(server.terminate(), "a clean exit");
    let log = server.log();
    assert!(log.contains("checkpoint written"), "{log}");
    drop(server);
    let server = Server::start_in(dir.path(), "info", &env);
    assert_eq!(pull_all(&server, &phone.token).await, phone.pushed);
    assert_eq!(
        (
            server
                .metric("linli_community_loads_total{from=\"checkpoint\"}")
                .await,
            server
                .metric("linli_community_loads_total{from=\"log\"}")
                .await,
        ),
        (1, 0),
        "loaded from the shutdown's checkpoint"
    );
    let mut server = server;
    assert!(server.terminate());
    drop(server);

    // A bit flipped in the stored state: the next start logs why, rebuilds from the log, answers every op, and
    // writes a fresh checkpoint in its place.
    let db = rusqlite::Connection::open(dir.path().join("linli.sqlite3")).expect("database");
    let mut state: Vec<u8> = db
        .query_row("SELECT state FROM checkpoints", [], |r| r.get(0))
        .expect("the checkpoint row");
    let at = state.len() / 2;
    state[at] ^= 0x40;
    db.execute("UPDATE checkpoints SET state = ?1", [&state])
        .expect("damaged");
    let server = Server::start_in(dir.path(), "info", &env);
    assert_eq!(pull_all(&server, &phone.token).await, phone.pushed);
    assert_eq!(
        server
            .metric("linli_community_loads_total{from=\"fallback\"}")
            .await,
        1
    );
    let log = server.log();
    assert!(
        log.contains("checkpoint not used: rebuilding the community from its log")
            && log.contains("checksum mismatch"),
        "{log}"
    );
    let mut fresh = false;
    for _ in 0..600 {
        let seq: i64 = db
            .query_row("SELECT seq FROM checkpoints", [], |r| r.get(0))
            .expect("row");
        let same: bool = db
            .query_row("SELECT state = ?1 FROM checkpoints", [&state], |r| r.get(0))
            .expect("compared");
        if seq == i64::try_from(phone.pushed).unwrap_or(0) && !same {
            fresh = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(fresh, "a fresh checkpoint replaced the damaged one");
}
