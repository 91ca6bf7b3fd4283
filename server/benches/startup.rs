//! A street office on one server, measured from outside the real `linli` binary (issue 11's "before" and
//! "after"): N communities of one community-year each, start-up to the first sync answered, each community's first
//! (cold) sync, resident memory while the phones of every community sync under a state budget, and one
//! community's ingest and pull beside two communities pushing at once — with the physical limits of the same run.
//!
//! Seeding. Each community is created through the HTTP API of the release binary (by a district admin, with its own
//! admin and device) and gets its own `test_support::community_year_of` (distinct ids, a different year each:
//! 217,687 ops) through `/v1/sync` in batches of 1,000, as that admin's device: the phone's path (validation, op log
//! and report tables in one transaction). The binary is stopped with SIGTERM after each community (a clean
//! shutdown, where the server writes its checkpoints) and started again for the next. The seeded data directory is
//! kept in `target/bench-seed/<N>-<key>/`; `key` is a hash of the migrations, of the generator's source and of this
//! file's seeding format, and a reused directory must also hold a complete manifest and exactly the migrations
//! this build embeds, or it is deleted and seeded again (stale seeds of the same N are deleted too: disk). Tokens
//! are minted from the directory's `jwt.key`, so a cache does not depend on when it was made.
//!
//! Measured, each over the cached directory, with `LINLI_STATE_CACHE_MB=256` (ignored by a server without a state
//! cache):
//! - **start**, `runs` times: process start to the address printed, to `/healthz`, to the first sync of the first
//!   community answered (an empty push of its admin's device: the community's first request, so its load is
//!   included); `VmRSS`/`VmHWM` then; the stop (SIGTERM to exit).
//! - **cold first syncs**: a fresh process; each community's first sync in order, in ms: median and max.
//! - **the office**: then `LINLI_BENCH_ROUNDS` rounds (3) in which every community's phone syncs once, in a random
//!   order, every other one pushing 100 new visits; a thread samples the server's `VmRSS` every 2 ms; peak, `VmHWM`,
//!   and what `/metrics` says about loaded communities, caches and checkpoints. The pushed visits stay in the cache
//!   (3,000 visits a run over 20 communities with the defaults).
//! - **ingest and pull** (a fresh temporary directory, not the cache; `LINLI_BENCH_INGEST_DAYS` days of
//!   `community_year_of`, 60): one community pushing alone, then two other communities pushing at once (their sum),
//!   then a fourth alone again (the load of the machine drifts: the two alone runs bracket the pair), then a new
//!   device of the first community pulling its whole log in pages of 5,000.
//!
//! Physical limits of the same run: a sequential read of the database file (warm page cache, the state a start
//! sees); for cold loads, each community's stored checkpoint read and decoded in this process through the server's
//! own `checkpoint::latest` and `checkpoint::decode` (the row's state and log index: what a load must do before
//! it replays the tail), and, in any case, sync-core's `checkpoint::decode` of one community-year's state and a
//! clone of that state (the allocations any loader must make); the merged `State` of one community-year as heap
//! (growth of this process's resident set while it is built).
//!
//! Run: `LINLI_BENCH_COMMUNITIES=20 LINLI_BENCH_RUNS=3 cargo bench -p linli-server --bench startup` (counts
//! default to `1,5`). The machine's load (`/proc/loadavg`) is printed at each phase: other engineers build on the
//! same cores.

use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection, sql_query, sql_types};
use linli_server::checkpoint;
use linli_server::community::CommunityId;
use linli_server::token::Keys;
use linli_server::{identity, now_ms};
use linli_sync_core::checkpoint as state_checkpoint;
use linli_sync_core::prelude::*;
use linli_sync_core::state::Rules;
use linli_sync_core::test_support::community_year_of;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
#[expect(
    dead_code,
    reason = "the benches' shared helpers; this one seeds through the binary, not the in-process seeder"
)]
mod support;

#[path = "../tests/process/common.rs"]
#[expect(
    dead_code,
    reason = "the process tests' spawner is shared; the bench uses only starting and /proc"
)]
mod process;

/// Ops in one `community_year` of 365 days.
const YEAR_OPS: u64 = 217_687;

/// Bumped when what a seed directory holds changes (its manifest, how communities are made): old caches are stale.
const SEED_FORMAT: u32 = 1;

/// The state budget every measured server runs with.
const BUDGET_MB: &str = "256";

/// Visits a pushing phone sends in one sync of the office rounds.
const PUSH_VISITS: usize = 100;

fn main() {
    let mut counts: Vec<u16> = env_or("LINLI_BENCH_COMMUNITIES", "1,5")
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .expect("LINLI_BENCH_COMMUNITIES: counts like 1,5")
        })
        .collect();
    counts.sort_unstable();
    counts.dedup();
    assert!(
        counts.iter().all(|c| (1..160).contains(c)),
        "LINLI_BENCH_COMMUNITIES: 1 to 159 communities"
    );
    let runs: usize = env_or("LINLI_BENCH_RUNS", "3")
        .parse()
        .expect("LINLI_BENCH_RUNS: a number");
    let rounds: usize = env_or("LINLI_BENCH_ROUNDS", "3")
        .parse()
        .expect("LINLI_BENCH_ROUNDS: a number");
    let ingest_days: u64 = env_or("LINLI_BENCH_INGEST_DAYS", "60")
        .parse()
        .expect("LINLI_BENCH_INGEST_DAYS: a number");
    println!("load at start: {}", load());

    let one = OneYear::measure();
    println!(
        "one community-year in this process: State {:.0} MB; re-applying its {} ops {:.0} ms; clone {:.0} ms; \
         checkpoint::encode {:.1} MB in {:.0} ms, decode {:.0} ms",
        mb(one.state_bytes),
        YEAR_OPS,
        ms(one.apply),
        ms(one.clone),
        mb(one.checkpoint_bytes),
        ms(one.encode),
        ms(one.decode)
    );

    let mut reports = Vec::new();
    for &count in &counts {
        let seed = Seed::ensure(count);
        println!("load before measuring {count}: {}", load());
        let db = Db::measure(&seed);
        let starts: Vec<Start> = (0..runs)
            .map(|_| actix_web::rt::System::new().block_on(start(&seed)))
            .collect();
        let office = actix_web::rt::System::new().block_on(office(&seed, rounds));
        println!("load after measuring {count}: {}", load());
        reports.push((seed, db, starts, office));
    }
    let ingest = (ingest_days > 0)
        .then(|| actix_web::rt::System::new().block_on(ingest_and_pull(ingest_days)));
    println!("load at the end: {}", load());

    print_report(&one, &reports, ingest.as_ref(), runs, rounds);
}

fn print_report(
    one: &OneYear,
    reports: &[(Seed, Db, Vec<Start>, Office)],
    ingest: Option<&Ingest>,
    runs: usize,
    rounds: usize,
) {
    println!();
    println!(
        "| communities | ops | database | bytes/op | op_log table | report tables | checkpoint tables | raw read of the file |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (seed, db, _, _) in reports {
        println!(
            "| {} | {} | {:.1} MB | {:.0} | {:.1} MB | {:.1} MB | {} | {:.0} ms ({:.2} GB/s) |",
            seed.count(),
            db.ops,
            mb(db.file_bytes),
            db.file_bytes as f64 / db.ops as f64,
            mb(db.op_log_bytes),
            mb(db.report_bytes),
            if db.checkpoint_tables.is_empty() {
                "none".to_string()
            } else {
                format!("{:.1} MB", mb(db.checkpoint_bytes))
            },
            ms(db.raw_read),
            db.file_bytes as f64 / db.raw_read.as_secs_f64() / 1e9
        );
    }
    println!();
    println!(
        "Start-up (medians of {runs} starts, range in brackets), state budget {BUDGET_MB} MB:"
    );
    println!();
    println!(
        "| communities | to address printed | to /healthz | to first sync | ÷ raw read of the file | VmRSS | VmHWM | stop (SIGTERM to exit) |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (seed, db, starts, _) in reports {
        let sync = Stats::of(starts.iter().map(|s| s.sync));
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.0} MB | {:.0} MB | {} |",
            seed.count(),
            Stats::of(starts.iter().map(|s| s.listening)).range(),
            Stats::of(starts.iter().map(|s| s.healthz)).range(),
            sync.range(),
            sync.median.as_secs_f64() / db.raw_read.as_secs_f64(),
            mb(median_u64(starts.iter().map(|s| s.rss))),
            mb(median_u64(starts.iter().map(|s| s.hwm))),
            Stats::of(starts.iter().map(|s| s.stop)).range(),
        );
    }
    println!();
    println!("Each community's first sync in a fresh process (cold), and its floor:");
    println!();
    println!(
        "| communities | cold first sync: median | max | min | floor: its checkpoint row read + decoded, state and index (median) | cold ÷ floor | in-process decode of one year's checkpoint | cold ÷ that | clone of one year's State | cold ÷ clone |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (seed, db, _, office) in reports {
        let cold = Stats::of(office.cold.iter().copied());
        let floor = (!db.checkpoint_reads.is_empty()).then(|| {
            Stats::of(
                db.checkpoint_reads
                    .iter()
                    .map(|r| r.read + r.decode.unwrap_or_default()),
            )
        });
        println!(
            "| {} | {:.0} ms | {:.0} ms | {:.0} ms | {} | {} | {:.0} ms | {:.1} | {:.0} ms | {:.1} |",
            seed.count(),
            ms(cold.median),
            ms(cold.max),
            ms(cold.min),
            floor
                .as_ref()
                .map_or("no checkpoint rows".into(), |f| format!(
                    "{:.1} ms",
                    ms(f.median)
                )),
            floor.as_ref().map_or("—".into(), |f| format!(
                "{:.1}",
                cold.median.as_secs_f64() / f.median.as_secs_f64()
            )),
            ms(one.decode),
            cold.median.as_secs_f64() / one.decode.as_secs_f64(),
            ms(one.clone),
            cold.median.as_secs_f64() / one.clone.as_secs_f64(),
        );
    }
    println!();
    println!(
        "The office: {rounds} rounds after the cold syncs, every community's phone syncing once a round in a random \
         order, every other one pushing {PUSH_VISITS} visits; VmRSS sampled every 2 ms over the cold syncs and the rounds:"
    );
    println!();
    println!(
        "| communities | syncs | sync: median | max | peak VmRSS (sampled) | of which over the cold syncs | over the rounds | VmHWM | VmRSS at the end | one year's State in a process |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (seed, _, _, office) in reports {
        let syncs = Stats::of(office.rounds.iter().copied());
        println!(
            "| {} | {} | {:.0} ms | {:.0} ms | {:.0} MB | {:.0} MB | {:.0} MB | {:.0} MB | {:.0} MB | {:.0} MB |",
            seed.count(),
            office.rounds.len(),
            ms(syncs.median),
            ms(syncs.max),
            mb(office.peak_rss),
            mb(office.peak_cold),
            mb(office.peak_rounds),
            mb(office.hwm),
            mb(office.end_rss),
            mb(one.state_bytes),
        );
    }
    for (seed, db, starts, office) in reports {
        println!();
        println!("{} communities, details:", seed.count());
        println!(
            "  seeded {} ops in {:.0} s ({:.0} ops/s through /v1/sync), shutdowns after each community {}",
            seed.manifest.ops,
            seed.manifest.seconds,
            seed.manifest.ops as f64 / seed.manifest.seconds,
            Stats::of(
                seed.manifest
                    .stops
                    .iter()
                    .map(|s| Duration::from_secs_f64(*s))
            )
            .range()
        );
        for s in starts {
            println!(
                "  start: address {:.0} ms, /healthz {:.0} ms, first sync {:.0} ms, VmRSS {:.0} MB, VmHWM {:.0} MB, stop {:.0} ms",
                ms(s.listening),
                ms(s.healthz),
                ms(s.sync),
                mb(s.rss),
                mb(s.hwm),
                ms(s.stop)
            );
        }
        let cold: Vec<String> = office
            .cold
            .iter()
            .map(|d| format!("{:.0}", ms(*d)))
            .collect();
        println!(
            "  cold first syncs (ms, community order): {}",
            cold.join(" ")
        );
        if db.checkpoint_tables.is_empty() {
            println!("  checkpoint tables: none in this schema");
        } else {
            println!("  checkpoint tables: {}", db.checkpoint_tables.join(", "));
            for r in &db.checkpoint_reads {
                println!(
                    "  checkpoint of community {}: {} bytes, read {:.2} ms, {}",
                    r.community,
                    r.bytes,
                    ms(r.read),
                    r.decode.map_or_else(
                        || format!("not decoded: {}", r.note),
                        |d| format!("decode {:.1} ms ({})", ms(d), r.note)
                    )
                );
            }
        }
        println!("  /metrics after the rounds:");
        for line in &office.metrics {
            println!("    {line}");
        }
        println!("  stop after the rounds: {:.0} ms", ms(office.stop));
    }
    if let Some(i) = ingest {
        println!();
        println!(
            "Ingest and pull ({} ops per community, fresh directory, state budget {BUDGET_MB} MB):",
            i.ops
        );
        println!();
        println!("| measurement | ops | seconds | ops/s |");
        println!("| --- | ---: | ---: | ---: |");
        let row = |what: &str, ops: u64, d: Duration| {
            println!(
                "| {what} | {ops} | {:.2} | {:.0} |",
                d.as_secs_f64(),
                ops as f64 / d.as_secs_f64()
            );
        };
        row(
            "one community pushing alone (before the pair)",
            i.ops,
            i.alone.0,
        );
        row(
            "two communities pushing at once (sum)",
            2 * i.ops,
            i.two.0.max(i.two.1),
        );
        row("  of which the first (its own time)", i.ops, i.two.0);
        row("  of which the second (its own time)", i.ops, i.two.1);
        row(
            "one community pushing alone (after the pair)",
            i.ops,
            i.alone.1,
        );
        row(
            "pull of one community's log, pages of 5,000",
            i.pulled,
            i.pull,
        );
        let alone = 2.0 * i.ops as f64 / (i.alone.0 + i.alone.1).as_secs_f64();
        let two = 2.0 * i.ops as f64 / i.two.0.max(i.two.1).as_secs_f64();
        println!();
        println!(
            "two at once ÷ one alone (ops/s, the mean of the two alone runs): {:.2}",
            two / alone
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The cached seed.

/// One seeded community, as the manifest keeps it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Community {
    /// Its id on the server.
    id: i64,
    /// Its index in `community_year_of`.
    index: u16,
    /// Its admin (the author of its year).
    admin: UserId,
    /// The admin's device (the replica of its year).
    device: ReplicaId,
    /// The first day of its year.
    year0: u64,
    /// The device's cursor after seeding.
    cursor: u64,
}

/// What a complete seed directory holds besides the data: written last.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Manifest {
    key: String,
    district: UserId,
    communities: Vec<Community>,
    ops: u64,
    seconds: f64,
    /// Each SIGTERM-to-exit after a community was seeded, in seconds.
    stops: Vec<f64>,
}

/// A seeded data directory.
#[derive(Debug)]
struct Seed {
    dir: PathBuf,
    manifest: Manifest,
    keys: Keys,
}

impl Seed {
    fn count(&self) -> usize {
        self.manifest.communities.len()
    }

    /// The seed of `count` communities: the cached one if it is complete and of this schema, else a new one.
    fn ensure(count: u16) -> Seed {
        let root = workspace().join("target").join("bench-seed");
        let key = seed_key();
        let dir = root.join(format!("{count}-{key}"));
        std::fs::create_dir_all(&root).expect("bench-seed dir");
        // Seeds of the same count under another key are stale: other migrations, generator or format.
        for entry in std::fs::read_dir(&root).expect("bench-seed dir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{count}-")) && entry.path() != dir {
                println!(
                    "deleting the stale seed {name} (another schema, generator or seed format)"
                );
                std::fs::remove_dir_all(entry.path()).expect("delete a stale seed");
            }
        }
        match Seed::open(&dir, &key) {
            Ok(seed) => {
                println!(
                    "reusing the seed {} ({} communities, {} ops, seeded in {:.0} s)",
                    dir.display(),
                    count,
                    seed.manifest.ops,
                    seed.manifest.seconds
                );
                return seed;
            }
            Err(why) if dir.exists() => {
                println!(
                    "the seed {} is not usable ({why}): seeding again",
                    dir.display()
                );
                std::fs::remove_dir_all(&dir).expect("delete the seed");
            }
            Err(_) => println!("no seed in {}: seeding {count} communities", dir.display()),
        }
        std::fs::create_dir_all(&dir).expect("seed dir");
        let manifest = actix_web::rt::System::new().block_on(seed(&dir, count, key.clone()));
        std::fs::write(
            dir.join("bench-seed.json"),
            serde_json::to_vec_pretty(&manifest).expect("manifest"),
        )
        .expect("write the manifest");
        Seed::open(&dir, &key).expect("the seed just written")
    }

    /// A complete seed of this build's schema in `dir`, or why not.
    fn open(dir: &Path, key: &str) -> Result<Seed, String> {
        let text =
            std::fs::read(dir.join("bench-seed.json")).map_err(|e| format!("no manifest: {e}"))?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| format!("unreadable manifest: {e}"))?;
        if manifest.key != key {
            return Err(format!("manifest key {} is not {key}", manifest.key));
        }
        let applied = applied_migrations(&support::database(dir))?;
        let embedded = embedded_migrations();
        if applied != embedded {
            return Err(format!(
                "its database has the migrations {applied:?}, this build embeds {embedded:?}"
            ));
        }
        let secret =
            std::fs::read_to_string(dir.join("jwt.key")).map_err(|e| format!("no jwt.key: {e}"))?;
        Ok(Seed {
            dir: dir.to_path_buf(),
            manifest,
            keys: Keys::new(secret.trim(), None, 86_400),
        })
    }

    /// A fresh access token of `user` (with `device`), signed with the directory's key.
    fn token(&self, user: UserId, device: Option<ReplicaId>) -> String {
        mint(&self.dir, &self.keys, user, device)
    }
}

fn mint(dir: &Path, keys: &Keys, user: UserId, device: Option<ReplicaId>) -> String {
    let mut conn = SqliteConnection::establish(&support::database(dir).to_string_lossy())
        .expect("open the database");
    let user = identity::user_by_id(&mut conn, user).expect("the user");
    keys.issue(&user, device, now_ms() / 1000).expect("token")
}

/// The workspace root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// A hash of what a seed depends on: every migration file, the generator's source, this file's seed format.
fn seed_key() -> String {
    let mut files = Vec::new();
    collect_files(&workspace().join("migrations").join("sqlite"), &mut files);
    files.push(workspace().join("sync-core/src/test_support.rs"));
    files.sort();
    let mut hash = Sha256::new();
    hash.update(SEED_FORMAT.to_le_bytes());
    for f in &files {
        hash.update(
            f.strip_prefix(workspace())
                .expect("in the workspace")
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update(std::fs::read(f).expect("read a seed input"));
    }
    hash.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The migration versions this build embeds (the directories of `migrations/sqlite`), as diesel records them.
fn embedded_migrations() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(workspace().join("migrations").join("sqlite"))
        .expect("migrations")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split('_')
                .next()
                .unwrap_or_default()
                .chars()
                .filter(char::is_ascii_digit)
                .collect()
        })
        .collect();
    v.sort();
    v
}

fn applied_migrations(db: &Path) -> Result<Vec<String>, String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("no database: {e}"))?;
    let mut stmt = conn
        .prepare("SELECT version FROM __diesel_schema_migrations ORDER BY version")
        .map_err(|e| format!("no migrations table: {e}"))?;
    let v = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(Iterator::collect)
        .map_err(|e| format!("migrations table: {e}"))?;
    Ok(v)
}

/// Seeds `count` communities into `dir` through the release binary, one server process per community.
async fn seed(dir: &Path, count: u16, key: String) -> Manifest {
    let started = Instant::now();
    let http = reqwest::Client::new();
    let mut communities = Vec::new();
    let mut stops = Vec::new();
    let mut district = None;
    let mut ops = 0u64;
    for index in 0..count {
        let server = serve(dir);
        let secret = std::fs::read_to_string(dir.join("jwt.key")).expect("jwt.key");
        let keys = Keys::new(secret.trim(), None, 86_400);
        let district_id = *district.get_or_insert_with(|| add_district_admin(dir));
        let district_token = mint(dir, &keys, district_id, None);
        let (id, admin) = if index == 0 {
            // The first community is the one every database starts with; its admin is the first admin.
            let login = server.admin().await;
            (
                CommunityId::FIRST.0,
                login["user_id"]
                    .as_str()
                    .expect("user")
                    .parse()
                    .expect("uuid"),
            )
        } else {
            let made = server
                .post_ok(
                    "/v1/communities",
                    Some(&district_token),
                    &json!({"name": format!("幸福里{}社区", index + 1), "street_office": "城东街道"}),
                )
                .await;
            let id = made["id"].as_i64().expect("community id");
            let user = server
                .post_ok(
                    "/v1/users",
                    Some(&district_token),
                    &json!({"username": format!("admin-{index}"), "role": "admin", "community": id}),
                )
                .await;
            (
                id,
                user["id"].as_str().expect("user").parse().expect("uuid"),
            )
        };
        let enrolled = server.enrol(&district_token, &json!(admin)).await;
        let device: ReplicaId = enrolled["device_id"]
            .as_str()
            .expect("device")
            .parse()
            .expect("uuid");
        let token = enrolled["access_token"]
            .as_str()
            .expect("token")
            .to_string();
        let year0 = support::year0(index);
        let year = community_year_of(index, year0, 365);
        let t0 = Instant::now();
        let mut cursor = 0;
        for batch in year.chunks(1000) {
            let body = push_body(batch, device, admin, cursor, 1);
            let answer = sync(&http, &server.base, &token, body).await;
            assert_eq!(
                answer["acked"].as_array().map(Vec::len),
                Some(batch.len()),
                "every op of the seed is acknowledged"
            );
            cursor = answer["cursor"].as_u64().expect("cursor");
        }
        ops += year.len() as u64;
        println!(
            "  seeded community {id} ({index}): {} ops in {:.1} s ({:.0} ops/s); load {}",
            year.len(),
            t0.elapsed().as_secs_f64(),
            year.len() as f64 / t0.elapsed().as_secs_f64(),
            load()
        );
        communities.push(Community {
            id,
            index,
            admin,
            device,
            year0,
            cursor,
        });
        stops.push(terminate(server).as_secs_f64());
    }
    Manifest {
        key,
        district: district.expect("a district admin"),
        communities,
        ops,
        seconds: started.elapsed().as_secs_f64(),
        stops,
    }
}

/// Adds the district admin straight into the database (the operator would use `linli user add`).
fn add_district_admin(dir: &Path) -> UserId {
    let mut conn = SqliteConnection::establish(&support::database(dir).to_string_lossy())
        .expect("open the database");
    identity::add_user(&mut conn, "district", Role::Admin, None, None, 0)
        .expect("district admin")
        .id
}

/// The release binary over `dir`, with the state budget.
fn serve(dir: &Path) -> process::Server {
    process::Server::start_in(dir, "warn", &[("LINLI_STATE_CACHE_MB", BUDGET_MB)])
}

/// Stops the server with SIGTERM (a clean shutdown) and waits until it has exited; how long that took.
fn terminate(mut server: process::Server) -> Duration {
    let t0 = Instant::now();
    let clean = server.terminate();
    let took = t0.elapsed();
    assert!(clean, "the server exits successfully on SIGTERM");
    took
}

/// A sync body pushing `ops` as `device`/`author`.
fn push_body(ops: &[Op], device: ReplicaId, author: UserId, cursor: u64, limit: u32) -> String {
    let ops: Vec<Value> = ops
        .iter()
        .map(|op| {
            let mut op = op.clone();
            op.replica = device;
            op.author = author;
            op.to_value()
        })
        .collect();
    json!({"protocol": 1, "cursor": cursor, "limit": limit, "ops": ops}).to_string()
}

/// One sync (a prepared body); the answer, which must be a success.
async fn sync(http: &reqwest::Client, base: &str, token: &str, body: String) -> Value {
    let res = http
        .post(format!("{base}/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = res.status();
    let text = res.text().await.expect("body");
    assert!(status.is_success(), "sync: {status} {text}");
    serde_json::from_str(&text).expect("json")
}

// ---------------------------------------------------------------------------------------------------------------
// Start-up.

/// One start of the binary.
#[derive(Debug)]
struct Start {
    listening: Duration,
    healthz: Duration,
    sync: Duration,
    rss: u64,
    hwm: u64,
    stop: Duration,
}

async fn start(seed: &Seed) -> Start {
    let first = &seed.manifest.communities[0];
    let token = seed.token(first.admin, Some(first.device));
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    let server = serve(&seed.dir);
    let listening = t0.elapsed();
    loop {
        let ok = http
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let healthz = t0.elapsed();
    let body = json!({"protocol": 1, "cursor": first.cursor, "limit": 1, "ops": []}).to_string();
    let answer = sync(&http, &server.base, &token, body).await;
    let sync = t0.elapsed();
    assert!(answer["cursor"].is_u64(), "{answer}");
    let (rss, hwm) = (server.proc_status("VmRSS"), server.proc_status("VmHWM"));
    Start {
        listening,
        healthz,
        sync,
        rss,
        hwm,
        stop: terminate(server),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The office: cold first syncs, then every community's phone syncing, memory sampled.

#[derive(Debug)]
struct Office {
    cold: Vec<Duration>,
    rounds: Vec<Duration>,
    peak_rss: u64,
    peak_cold: u64,
    peak_rounds: u64,
    hwm: u64,
    end_rss: u64,
    metrics: Vec<String>,
    stop: Duration,
}

async fn office(seed: &Seed, rounds: usize) -> Office {
    let http = reqwest::Client::new();
    let tokens: Vec<String> = seed
        .manifest
        .communities
        .iter()
        .map(|c| seed.token(c.admin, Some(c.device)))
        .collect();
    let mut cursors: Vec<u64> = seed.manifest.communities.iter().map(|c| c.cursor).collect();
    let server = serve(&seed.dir);
    let pid = server.pid();
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop_sampling.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = proc_status(pid, "VmRSS") {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut cold = Vec::new();
    for (i, c) in seed.manifest.communities.iter().enumerate() {
        let body = json!({"protocol": 1, "cursor": cursors[i], "limit": 1, "ops": []}).to_string();
        let t0 = Instant::now();
        let answer = sync(&http, &server.base, &tokens[i], body).await;
        cold.push(t0.elapsed());
        assert!(answer["cursor"].is_u64(), "community {}: {answer}", c.id);
    }
    // The peak so far is the cold syncs'; the sampler goes on from zero for the rounds.
    let peak_cold = peak.swap(0, Ordering::Relaxed);
    let mut times = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..seed.count()).collect();
        // Fisher–Yates with a fixed xorshift: the same orders every run.
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        for (k, &i) in order.iter().enumerate() {
            let c = &seed.manifest.communities[i];
            let ops = if (k + round) % 2 == 0 {
                visits(c, PUSH_VISITS)
            } else {
                Vec::new()
            };
            let body = push_body(&ops, c.device, c.admin, cursors[i], 500);
            let t0 = Instant::now();
            let answer = sync(&http, &server.base, &tokens[i], body).await;
            times.push(t0.elapsed());
            assert_eq!(
                answer["acked"].as_array().map(Vec::len),
                Some(ops.len()),
                "community {}: every pushed visit acknowledged",
                c.id
            );
            cursors[i] = answer["cursor"].as_u64().expect("cursor");
        }
    }
    stop_sampling.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let metrics_text = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let metrics = metrics_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            ["cache", "checkpoint", "communit", "evict", "state"]
                .iter()
                .any(|w| l.contains(w))
        })
        .map(str::to_string)
        .collect();
    let end_rss = server.proc_status("VmRSS");
    let peak_rounds = peak.load(Ordering::Relaxed).max(end_rss);
    let hwm = server.proc_status("VmHWM");
    Office {
        cold,
        rounds: times,
        peak_rss: peak_rounds.max(peak_cold),
        peak_cold,
        peak_rounds,
        hwm,
        end_rss,
        metrics,
        stop: terminate(server),
    }
}

/// `n` new visits of community `c`'s households (in its first households' cells), by its butlers, now.
fn visits(c: &Community, n: usize) -> Vec<Op> {
    // The ids `community_year_of` gives community `index`: grid g is 100 + g, household h is 1000 + h (in cell
    // h mod 7), butler b is 300 + b.
    let base = 0x4ea2_0000_0000_0000_0000_0000_0000_0000_u128 | (u128::from(c.index) << 64);
    let id = |n: usize| uuid::Uuid::from_u128(base | n as u128);
    let mut writer = Writer::new(c.device, c.admin, HlcClock::new(DriftPolicy::DEFAULT));
    let now = now_ms();
    (0..n)
        .map(|h| {
            writer.op(
                now,
                OpBody::Entry(
                    EntryId::random(),
                    EntryOp::Visit(Visit {
                        volunteer: UserId(id(300 + h % 7)),
                        grid: GridId(id(100 + h % 7)),
                        household: HouseholdId(id(1000 + h)),
                        seen: true,
                        health: None,
                        needs: vec![],
                        notes: String::new(),
                        follow_up: None,
                    }),
                ),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Ingest and pull in a fresh directory.

#[derive(Debug)]
struct Ingest {
    ops: u64,
    alone: (Duration, Duration),
    two: (Duration, Duration),
    pulled: u64,
    pull: Duration,
}

/// A community made through the API of a fresh server, with its admin's device.
struct Phone {
    index: u16,
    admin: UserId,
    device: ReplicaId,
    token: String,
}

async fn ingest_and_pull(days: u64) -> Ingest {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let secret = std::fs::read_to_string(dir.path().join("jwt.key")).expect("jwt.key");
    let keys = Keys::new(secret.trim(), None, 86_400);
    let district = add_district_admin(dir.path());
    let district_token = mint(dir.path(), &keys, district, None);
    let mut phones = Vec::new();
    for index in 0..4u16 {
        let made = server
            .post_ok(
                "/v1/communities",
                Some(&district_token),
                &json!({"name": format!("社区{index}"), "street_office": "城东街道"}),
            )
            .await;
        let user = server
            .post_ok(
                "/v1/users",
                Some(&district_token),
                &json!({"username": format!("ingest-{index}"), "role": "admin", "community": made["id"]}),
            )
            .await;
        let admin: UserId = user["id"].as_str().expect("user").parse().expect("uuid");
        let enrolled = server.enrol(&district_token, &json!(admin)).await;
        phones.push(Phone {
            index,
            admin,
            device: enrolled["device_id"]
                .as_str()
                .expect("device")
                .parse()
                .expect("uuid"),
            token: enrolled["access_token"]
                .as_str()
                .expect("token")
                .to_string(),
        });
    }
    // Bodies are made before the clock starts: the client's JSON is not what is measured.
    let bodies: Vec<Vec<String>> = phones
        .iter()
        .map(|p| {
            community_year_of(p.index, support::year0(p.index), days)
                .chunks(1000)
                .map(|b| push_body(b, p.device, p.admin, 0, 1))
                .collect()
        })
        .collect();
    let ops = community_year_of(0, support::year0(0), days).len() as u64;
    let base = server.base.clone();
    let push = |i: usize| {
        let (base, token, bodies) = (base.clone(), phones[i].token.clone(), bodies[i].clone());
        async move {
            let http = reqwest::Client::new();
            let t0 = Instant::now();
            for body in bodies {
                sync(&http, &base, &token, body).await;
            }
            t0.elapsed()
        }
    };
    println!("ingest: load {}", load());
    let before = push(0).await;
    let (a, b) = (actix_web::rt::spawn(push(1)), actix_web::rt::spawn(push(2)));
    let two = (a.await.expect("push 1"), b.await.expect("push 2"));
    let alone = (before, push(3).await);
    // A second device of the first community's admin pulls everything from cursor 0.
    let enrolled = server.enrol(&district_token, &json!(phones[0].admin)).await;
    let token = enrolled["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    let (mut cursor, mut pulled) = (0u64, 0u64);
    loop {
        let body = json!({"protocol": 1, "cursor": cursor, "limit": 5000, "ops": []}).to_string();
        let answer = sync(&http, &server.base, &token, body).await;
        pulled += answer["ops"].as_array().map_or(0, Vec::len) as u64;
        cursor = answer["cursor"].as_u64().expect("cursor");
        if answer["has_more"] != json!(true) {
            break;
        }
    }
    let pull = t0.elapsed();
    assert!(pulled >= ops, "the pull returned {pulled} of {ops} ops");
    terminate(server);
    Ingest {
        ops,
        alone,
        two,
        pulled,
        pull,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The database and its physical limits.

/// The database of a seed, after a full checkpoint of its WAL.
#[derive(Debug)]
struct Db {
    ops: u64,
    file_bytes: u64,
    op_log_bytes: u64,
    report_bytes: u64,
    checkpoint_tables: Vec<String>,
    checkpoint_bytes: u64,
    checkpoint_reads: Vec<CheckpointRead>,
    raw_read: Duration,
}

/// Reading one community's latest checkpoint row, and decoding it.
#[derive(Debug)]
struct CheckpointRead {
    community: i64,
    bytes: usize,
    read: Duration,
    decode: Option<Duration>,
    note: String,
}

#[derive(QueryableByName)]
struct Pages {
    #[diesel(sql_type = sql_types::Text)]
    name: String,
    #[diesel(sql_type = sql_types::BigInt)]
    bytes: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql_types::BigInt)]
    n: i64,
}

impl Db {
    fn measure(seed: &Seed) -> Db {
        let path = support::database(&seed.dir);
        let mut conn =
            SqliteConnection::establish(&path.to_string_lossy()).expect("open the database");
        // Checkpointed and vacuumed, so the file holds the data and no free pages (issue 11's bytes per op).
        for sql in [
            "PRAGMA wal_checkpoint(TRUNCATE)",
            "VACUUM",
            "PRAGMA wal_checkpoint(TRUNCATE)",
        ] {
            sql_query(sql).execute(&mut conn).expect(sql);
        }
        let ops = sql_query("SELECT count(*) AS n FROM op_log")
            .get_result::<Count>(&mut conn)
            .expect("count")
            .n as u64;
        // Every b-tree's pages (a table's and its indexes', the automatic ones included), by table.
        let pages: Vec<Pages> = sql_query(
            "SELECT coalesce(m.tbl_name, d.name) AS name, sum(d.pgsize) AS bytes FROM dbstat d \
             LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1",
        )
        .load(&mut conn)
        .expect("dbstat");
        drop(conn);
        let of = |names: &[&str]| -> u64 {
            pages
                .iter()
                .filter(|p| names.contains(&p.name.as_str()))
                .map(|p| p.bytes as u64)
                .sum()
        };
        let checkpoint_tables: Vec<String> = pages
            .iter()
            .filter(|p| p.name.contains("checkpoint"))
            .map(|p| p.name.clone())
            .collect();
        let checkpoint_bytes = pages
            .iter()
            .filter(|p| p.name.contains("checkpoint"))
            .map(|p| p.bytes as u64)
            .sum();
        let checkpoint_reads = checkpoint_reads(&path, &checkpoint_tables, &seed.manifest);
        let file_bytes = std::fs::metadata(&path).expect("file").len();
        // Twice: the first read may still fault pages into the cache; the second is what a warm start sees.
        let mut raw_read = Duration::MAX;
        for _ in 0..2 {
            raw_read = raw_read.min(read_all(&path));
        }
        Db {
            ops,
            file_bytes,
            op_log_bytes: of(&["op_log"]),
            report_bytes: of(&[
                "grid_cells",
                "tickets",
                "entries",
                "visits",
                "card_movements",
                "cards",
            ]),
            checkpoint_tables,
            checkpoint_bytes,
            checkpoint_reads,
            raw_read,
        }
    }
}

/// For each community, its stored checkpoint read as the server reads it (`checkpoint::latest`: the row, both
/// blobs) and decoded as it decodes it (`checkpoint::decode`: the state and the log index): what a cold load does
/// before it replays the ops after the checkpoint and registers the engine. Best of two reads (warm cache).
fn checkpoint_reads(db: &Path, tables: &[String], manifest: &Manifest) -> Vec<CheckpointRead> {
    if tables.is_empty() {
        return Vec::new();
    }
    let mut conn = SqliteConnection::establish(&db.to_string_lossy()).expect("open the database");
    let mut out = Vec::new();
    for c in &manifest.communities {
        let mut best: Option<(Duration, checkpoint::Stored)> = None;
        for _ in 0..2 {
            let t0 = Instant::now();
            let row = checkpoint::latest(&mut conn, CommunityId(c.id)).expect("read a checkpoint");
            let took = t0.elapsed();
            if let Some(row) = row
                && best.as_ref().is_none_or(|b| took < b.0)
            {
                best = Some((took, row));
            }
        }
        let Some((read, row)) = best else {
            continue;
        };
        let t0 = Instant::now();
        let decoded = checkpoint::decode(&row, &Rules::DEFAULT, i64::MAX);
        let took = t0.elapsed();
        let (decode, note) = match decoded {
            Ok(view) => {
                std::hint::black_box(&view);
                (
                    Some(took),
                    format!(
                        "at seq {}, state {} + index {} bytes",
                        row.seq,
                        row.state.len(),
                        row.log_index.len()
                    ),
                )
            }
            Err(e) => (None, format!("does not decode: {e}")),
        };
        out.push(CheckpointRead {
            community: c.id,
            bytes: row.state.len() + row.log_index.len(),
            read,
            decode,
            note,
        });
    }
    out
}

fn read_all(path: &Path) -> Duration {
    let started = Instant::now();
    let mut file = std::fs::File::open(path).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        total += n;
    }
    std::hint::black_box(total);
    started.elapsed()
}

/// One community-year built in this process: the floors of a load.
#[derive(Debug)]
struct OneYear {
    state_bytes: u64,
    apply: Duration,
    clone: Duration,
    checkpoint_bytes: u64,
    encode: Duration,
    decode: Duration,
}

impl OneYear {
    /// The growth of this process's resident set while the merged `State` of one community-year is built (a first
    /// copy is built and kept before: memory the allocator hands out again would hide growth), the time to
    /// re-apply its ops, to clone it, and to encode and decode its checkpoint (best of 3).
    fn measure() -> OneYear {
        let ops = support::community_year(0);
        let build = || {
            let mut state = State::new(Rules::DEFAULT);
            for op in &ops {
                state.apply(op);
            }
            state
        };
        let first = build();
        let before = own_status("VmRSS");
        let t0 = Instant::now();
        let state = build();
        let apply = t0.elapsed();
        let state_bytes = own_status("VmRSS").saturating_sub(before);
        let best = |f: &dyn Fn() -> Duration| (0..3).map(|_| f()).min().expect("three");
        let clone = best(&|| {
            let t0 = Instant::now();
            let copy = state.clone();
            let took = t0.elapsed();
            drop(std::hint::black_box(copy));
            took
        });
        let bytes = state_checkpoint::encode(&state, YEAR_OPS);
        let encode = best(&|| {
            let t0 = Instant::now();
            std::hint::black_box(state_checkpoint::encode(&state, YEAR_OPS));
            t0.elapsed()
        });
        let decode = best(&|| {
            let t0 = Instant::now();
            let back = state_checkpoint::decode(&bytes).expect("decodes");
            let took = t0.elapsed();
            drop(std::hint::black_box(back));
            took
        });
        std::hint::black_box(&first);
        OneYear {
            state_bytes,
            apply,
            clone,
            checkpoint_bytes: bytes.len() as u64,
            encode,
            decode,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Small things.

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `/proc/loadavg`'s first three fields: the machine is shared.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Median, min and max of some durations.
#[derive(Debug)]
struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Stats {
    fn of(it: impl Iterator<Item = Duration>) -> Stats {
        let mut v: Vec<Duration> = it.collect();
        v.sort();
        assert!(!v.is_empty(), "no figures");
        Stats {
            median: v[v.len() / 2],
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// "median ms (min–max)".
    fn range(&self) -> String {
        format!(
            "{:.0} ms ({:.0}–{:.0})",
            ms(self.median),
            ms(self.min),
            ms(self.max)
        )
    }
}

fn median_u64(it: impl Iterator<Item = u64>) -> u64 {
    let mut v: Vec<u64> = it.collect();
    v.sort_unstable();
    v[v.len() / 2]
}

/// A field of `/proc/<pid>/status`, in bytes (`None` once the process is gone).
fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())?;
    Some(kb * 1024)
}

/// A field of this process's `/proc/self/status`, in bytes.
fn own_status(field: &str) -> u64 {
    proc_status(std::process::id(), field).expect("own /proc status")
}
