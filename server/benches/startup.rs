//! Start-up time and resident memory of the real `linli` binary holding N community-years (issue 11's "before"
//! figures), measured from outside the process, with the database's size beside them.
//!
//! The database is filled through the HTTP sync path of a server running in this process (`support::Seeder`: the
//! same validation, transaction and report tables as a phone's push; 10,000-60,000 ops/s here depending on the
//! machine's load, fast enough for a few million ops), then the in-process server stops and the release binary is started over the same data
//! directory `runs` times. For each start it measures: process start to the address printed (the replica is
//! rebuilt before the server listens), to the first `/healthz` answered, and to the first sync answered (an empty
//! push of the seeding device, with a token issued before the restart); then `VmRSS` and `VmHWM` from
//! `/proc/<pid>/status`. The physical limits measured in the same run: a sequential read of the database file
//! (warm page cache: the same state the server starts in) and the heap the merged `State` and the op log's
//! `LogIndex` take when built in this process from the same ops (growth of this process's resident set).
//!
//! Run: `cargo bench -p linli-server --bench startup` (counts `1,5`), or
//! `LINLI_BENCH_COMMUNITIES=1,5,20 LINLI_BENCH_RUNS=3 cargo bench -p linli-server --bench startup`.
//!
//! Today every community-year goes into the one log, through the first admin's device (ids are distinct per
//! community: `test_support::community_year_of`). With communities as tenants, `Seeder::push` takes the community
//! (see `support/mod.rs`); the start-up figures then mean "to the first sync of one community", and the in-process
//! `State` figure becomes one community's state, not the sum.

use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection, sql_query, sql_types};
use linli_server::log_index::LogIndex;
use linli_sync_core::prelude::*;
use linli_sync_core::state::Rules;
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};
use support::Seeder;

#[path = "support/mod.rs"]
#[expect(
    dead_code,
    reason = "the benches' shared seeding; this one needs no admin token"
)]
mod support;

#[path = "../tests/process/common.rs"]
#[expect(
    dead_code,
    reason = "the process tests' spawner is shared; the bench uses only starting and /proc"
)]
mod process;

fn main() {
    let mut counts: Vec<u16> = std::env::var("LINLI_BENCH_COMMUNITIES")
        .unwrap_or_else(|_| "1,5".into())
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .expect("LINLI_BENCH_COMMUNITIES: counts like 1,5")
        })
        .collect();
    counts.sort_unstable();
    counts.dedup();
    let runs: usize = std::env::var("LINLI_BENCH_RUNS")
        .ok()
        .map(|r| r.parse().expect("LINLI_BENCH_RUNS: a number"))
        .unwrap_or(3);
    let max = counts.last().copied().unwrap_or(0);

    let heap = in_process_sizes(&counts, max);

    let dir = tempfile::tempdir().expect("temp dir");
    let mut rows = Vec::new();
    let mut seeded = 0u16;
    for &count in &counts {
        let (seconds, token, cursor) =
            actix_web::rt::System::new().block_on(seed(dir.path(), seeded, count));
        println!(
            "seeded community-years {seeded}..{count} through /v1/sync in {seconds:.1} s ({:.0} ops/s)",
            f64::from(count - seeded) * YEAR_OPS as f64 / seconds
        );
        seeded = count;
        let db = Db::measure(dir.path());
        let starts: Vec<Start> = (0..runs)
            .map(|_| actix_web::rt::System::new().block_on(start(dir.path(), &token, cursor)))
            .collect();
        rows.push((count, db, starts));
    }

    println!();
    println!(
        "| community-years | ops | database | bytes/op | op_log table | report tables | raw read of the file |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (count, db, _) in &rows {
        println!(
            "| {count} | {} | {:.1} MB | {:.0} | {:.1} MB | {:.1} MB | {:.0} ms ({:.2} GB/s) |",
            db.ops,
            mb(db.file_bytes),
            db.file_bytes as f64 / db.ops as f64,
            mb(db.op_log_bytes),
            mb(db.report_bytes),
            ms(db.raw_read),
            db.file_bytes as f64 / db.raw_read.as_secs_f64() / 1e9
        );
    }
    println!();
    println!(
        "| community-years | to address printed | to /healthz | to first sync | ÷ raw read | VmRSS | VmHWM | in-process State + LogIndex | VmRSS ÷ State + LogIndex |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (count, db, starts) in &rows {
        let median = |f: &dyn Fn(&Start) -> Duration| {
            let mut v: Vec<Duration> = starts.iter().map(f).collect();
            v.sort();
            v[v.len() / 2]
        };
        let median_bytes = |f: &dyn Fn(&Start) -> u64| {
            let mut v: Vec<u64> = starts.iter().map(f).collect();
            v.sort_unstable();
            v[v.len() / 2]
        };
        let (state, index) = heap
            .iter()
            .find(|h| h.0 == *count)
            .map(|h| (h.1, h.2))
            .expect("measured");
        let rss = median_bytes(&|s| s.rss);
        let sync = median(&|s| s.sync);
        println!(
            "| {count} | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} | {:.0} MB | {:.0} MB | {:.0} + {:.0} MB | {:.2} |",
            ms(median(&|s| s.listening)),
            ms(median(&|s| s.healthz)),
            ms(sync),
            sync.as_secs_f64() / db.raw_read.as_secs_f64(),
            mb(rss),
            mb(median_bytes(&|s| s.hwm)),
            mb(state),
            mb(index),
            rss as f64 / (state + index) as f64
        );
    }
    println!();
    println!("(medians of {runs} starts; every start:)");
    for (count, _, starts) in &rows {
        for s in starts {
            println!(
                "  {count}: address {:.0} ms, /healthz {:.0} ms, sync {:.0} ms, VmRSS {:.0} MB, VmHWM {:.0} MB",
                ms(s.listening),
                ms(s.healthz),
                ms(s.sync),
                mb(s.rss),
                mb(s.hwm)
            );
        }
    }
}

/// Ops in one `community_year` of 365 days.
const YEAR_OPS: u64 = 217_687;

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Pushes community-years `from..to` into the database of `dir` through an in-process server; seconds taken,
/// the seeding device's token and cursor.
async fn seed(dir: &Path, from: u16, to: u16) -> (f64, String, u64) {
    let mut seeder = Seeder::start(support::config(dir)).await;
    let started = Instant::now();
    for community in from..to {
        seeder.push(&support::community_year(community)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let out = (seconds, seeder.device_token.clone(), seeder.cursor);
    seeder.stop().await;
    out
}

/// One start of the binary.
#[derive(Debug)]
struct Start {
    listening: Duration,
    healthz: Duration,
    sync: Duration,
    rss: u64,
    hwm: u64,
}

async fn start(dir: &Path, token: &str, cursor: u64) -> Start {
    let t0 = Instant::now();
    let server = process::Server::start_in(dir, "warn", &[]);
    let listening = t0.elapsed();
    let http = reqwest::Client::new();
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
    let answer = support::post(
        &http,
        format!("{}/v1/sync", server.base),
        Some(token),
        &json!({"protocol": 1, "cursor": cursor, "limit": 1, "ops": []}),
    )
    .await;
    let sync = t0.elapsed();
    assert!(answer["cursor"].is_u64(), "{answer}");
    Start {
        listening,
        healthz,
        sync,
        rss: server.proc_status("VmRSS"),
        hwm: server.proc_status("VmHWM"),
    }
}

/// The database of a bench directory, after a full checkpoint of its WAL.
#[derive(Debug)]
struct Db {
    ops: u64,
    file_bytes: u64,
    op_log_bytes: u64,
    report_bytes: u64,
    raw_read: Duration,
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
    fn measure(dir: &Path) -> Db {
        let path = support::database(dir);
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
            raw_read,
        }
    }
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

/// For each count: the growth of this process's resident set while the merged `State` and the `LogIndex` of that
/// many community-years are built. All ops are generated first, and a first copy of the state and of the index is
/// built and kept before the measured one: the generator's own state, freed, is memory the allocator hands out
/// again without the resident set growing, and the first copy uses it up.
fn in_process_sizes(counts: &[u16], max: u16) -> Vec<(u16, u64, u64)> {
    let years: Vec<Vec<Op>> = (0..max).map(support::community_year).collect();
    let build = |state_at: &mut Vec<u64>, index_at: &mut Vec<u64>| {
        let rss = || own_status("VmRSS");
        let mut state = State::new(Rules::DEFAULT);
        let before = rss();
        for ops in &years {
            for op in ops {
                state.apply(op);
            }
            state_at.push(rss() - before);
        }
        let mut index = LogIndex::default();
        let before = rss();
        let mut seq = 0;
        for ops in &years {
            for op in ops {
                seq += 1;
                index.push(seq, op);
            }
            index_at.push(rss() - before);
        }
        (state, index)
    };
    let first = build(&mut Vec::new(), &mut Vec::new());
    let (mut state_at, mut index_at) = (Vec::new(), Vec::new());
    let second = build(&mut state_at, &mut index_at);
    std::hint::black_box((&first, &second));
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|&c| {
            (
                c,
                state_at[usize::from(c) - 1],
                index_at[usize::from(c) - 1],
            )
        })
        .collect()
}

/// A field of this process's `/proc/self/status`, in bytes.
fn own_status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        .expect("field");
    kb * 1024
}
