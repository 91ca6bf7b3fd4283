//! A cold community's load from its checkpoint (issue 11: "a cold community's first sync ≤ 300 ms"): one
//! community-year (`test_support::community_year`, 217,687 ops) stored in a real SQLite op log, its checkpoint
//! stored `LINLI_BENCH_TAIL` ops (default 10,000, `LINLI_CHECKPOINT_EVERY`'s default: the most a load replays)
//! before the head, then `Engines::get` on a fresh registry, which is what a cache miss does: read the row, decode
//! the state and the index, read, parse and apply the tail. Beside it, in the same run: the parts (state decode,
//! index decode), the same load with no tail, the full rebuild from the log it replaces, writing a checkpoint, and
//! the floor any decoder has to pay, a clone of the state (its allocations). Then the resident set of this process
//! before a load, with the community loaded, and after it is evicted (glibc's allocator may keep freed memory).
//!
//! Run: `cargo bench -p linli-server --bench cold_load` (`LINLI_BENCH_RUNS`, default 5: medians).

use linli_server::checkpoint;
use linli_server::community::{self, CommunityId};
use linli_server::engine::{CacheConfig, Engine, Engines, View};
use linli_server::store::{self, OpRow};
use linli_sync_core::state::Rules;
use linli_sync_core::test_support::community_year;
use std::time::{Duration, Instant};

#[path = "../tests/process/common.rs"]
#[expect(
    dead_code,
    reason = "the process tests' spawner is shared; the bench uses only starting, GETs and /proc"
)]
mod process;

const FIRST: CommunityId = CommunityId::FIRST;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn times(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let runs: usize = std::env::var("LINLI_BENCH_RUNS")
        .ok()
        .map(|r| r.parse().expect("LINLI_BENCH_RUNS: a number"))
        .unwrap_or(5);
    let tail: i64 = std::env::var("LINLI_BENCH_TAIL")
        .ok()
        .map(|r| r.parse().expect("LINLI_BENCH_TAIL: a number"))
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = dir
        .path()
        .join("linli.sqlite3")
        .to_string_lossy()
        .into_owned();
    let pool = linli_server::db::open(&url, 4).expect("database");
    let ops = community_year(1_700_000_000_000, 365);
    let n = i64::try_from(ops.len()).expect("fits");
    let rows: Vec<OpRow> = ops
        .iter()
        .zip(1..)
        .map(|(op, seq)| OpRow::new(FIRST, seq, op, &op.to_json(), op.replica, None, 0))
        .collect();
    drop(ops);
    let mut conn = pool.get().expect("connection");
    linli_server::db::sqlite::write_txn(&mut conn, |c| {
        store::append(c, &rows)?;
        community::bump_head(c, FIRST, n)
    })
    .expect("seeded");
    drop(rows);
    let b = community::create(&mut conn, "空社区", "", 0).expect("a second, empty community");
    println!("seeded {n} ops; load average {}", loadavg());

    let rebuild = times(runs.min(3), || {
        Engine::open(pool.clone(), Rules::DEFAULT, FIRST).expect("rebuild");
    });
    let full = Engine::open(pool.clone(), Rules::DEFAULT, FIRST).expect("rebuild");
    let clone = times(runs, || {
        let _ = std::hint::black_box(full.view().state.clone());
    });
    // The household claims a load makes (review of h11r, finding 6): the first load after the upgrade writes the
    // claims of every grid household nobody has; every later load only reads them.
    let households: usize = full
        .view()
        .state
        .grids()
        .values()
        .map(|g| g.household_details.len())
        .sum();
    let t = Instant::now();
    let first_claims =
        linli_server::tenancy::claim_grid_households(&mut conn, FIRST, &full.view().state)
            .expect("claims");
    let claim_first = t.elapsed();
    assert_eq!(first_claims, households);
    let claim_again = times(runs, || {
        let again =
            linli_server::tenancy::claim_grid_households(&mut conn, FIRST, &full.view().state)
                .expect("claims");
        assert_eq!(again, 0);
    });
    println!(
        "household claims of a load ({households} households): first (all written) {:.1} ms, later (read only) {:.1} ms ({:.2}× a clone of the state)",
        ms(claim_first),
        ms(claim_again),
        ms(claim_again) / ms(clone)
    );
    let mut at_cut = View::empty(Rules::DEFAULT);
    at_cut
        .extend_from_log(&mut conn, FIRST, Some(n - tail))
        .expect("view at the cut");
    let mut row = None;
    let encode = times(runs.min(3), || {
        row = Some(checkpoint::encode(FIRST, &at_cut, 0));
    });
    let row = row.expect("encoded");
    let bytes = (row.state.len(), row.log_index.len());
    let decode_state = times(runs, || {
        linli_sync_core::checkpoint::decode_under(&row.state, &Rules::DEFAULT).expect("state");
    });
    let decode_index = times(runs, || {
        checkpoint::decode_index(&row.log_index).expect("index");
    });
    checkpoint::save(&mut conn, &row, true).expect("saved");
    let no_periodic = CacheConfig {
        checkpoint_every: i64::MAX,
        ..CacheConfig::default()
    };
    let cold = |what: &str| {
        let t = times(runs, || {
            let engines = Engines::with_cache(pool.clone(), Rules::DEFAULT, no_periodic);
            let e = engines.get(FIRST).expect("loads");
            assert_eq!(e.view().last_seq, n);
            assert_eq!(
                engines
                    .stats()
                    .checkpoint_loads
                    .load(std::sync::atomic::Ordering::Relaxed),
                1,
                "{what}: from the checkpoint"
            );
        });
        println!(
            "cold load, {what}: {:.0} ms ({:.1}× a clone of the state)",
            ms(t),
            ms(t) / ms(clone)
        );
        t
    };
    let with_tail = cold(&format!("checkpoint {tail} ops before the head + tail"));
    let at_head = checkpoint::encode(FIRST, &full.view(), 0);
    checkpoint::save(&mut conn, &at_head, true).expect("saved");
    let no_tail = cold("checkpoint at the head");
    {
        let engines = Engines::with_cache(pool.clone(), Rules::DEFAULT, no_periodic);
        let e = engines.get(FIRST).expect("loads");
        assert_eq!(*e.view(), *full.view(), "the load equals the rebuild");
    }
    println!(
        "state {} B + index {} B; encode {:.0} ms; decode state {:.0} ms, index {:.0} ms; clone of the state {:.0} ms; full rebuild from the log {:.0} ms",
        bytes.0,
        bytes.1,
        ms(encode),
        ms(decode_state),
        ms(decode_index),
        ms(clone),
        ms(rebuild)
    );
    println!(
        "ratios: cold load with tail ÷ clone {:.1}, at head ÷ clone {:.1}, rebuild ÷ cold load with tail {:.1}",
        ms(with_tail) / ms(clone),
        ms(no_tail) / ms(clone),
        ms(rebuild) / ms(with_tail)
    );
    drop(full);
    drop(at_cut);
    drop(at_head);

    // Memory, on the real binary: a district admin reads community 1's report (a load from the checkpoint), then
    // the empty community's (which evicts community 1 under a 1 MiB budget).
    drop(conn);
    drop(pool);
    let added = std::process::Command::new(env!("CARGO_BIN_EXE_linli"))
        .args([
            "user",
            "add",
            "--username",
            "district",
            "--role",
            "district_admin",
        ])
        .args(["--password", "bench district"])
        .env("LINLI_DATA_DIR", dir.path())
        .env("LINLI_LOG", "warn")
        .output()
        .expect("linli user add");
    assert!(added.status.success(), "{added:?}");
    let server = process::Server::start_in(
        dir.path(),
        "info",
        &[("LINLI_STATE_CACHE_MB", "1"), ("LINLI_WORKERS", "2")],
    );
    actix_web::rt::System::new().block_on(async {
        let login = server
            .post_ok(
                "/v1/auth/login",
                None,
                &serde_json::json!({"username": "district", "password": "bench district"}),
            )
            .await;
        let token = login["access_token"].as_str().expect("token").to_string();
        let before = server.proc_status("VmRSS");
        let t = Instant::now();
        server
            .get_text("/v1/reports/grids?community=1", Some(&token))
            .await;
        let first = t.elapsed();
        let loaded = server.proc_status("VmRSS");
        let estimate = server.metric("linli_state_cache_bytes").await;
        server
            .get_text(&format!("/v1/reports/grids?community={}", b.id), Some(&token))
            .await;
        assert_eq!(server.metric("linli_communities_loaded").await, 1);
        assert_eq!(server.metric("linli_evictions_total").await, 1);
        std::thread::sleep(Duration::from_secs(3));
        let evicted = server.proc_status("VmRSS");
        println!(
            "real binary: first report of the cold community-year {:.0} ms (a load from its checkpoint, then the report); VmRSS before {} MB, loaded {} MB (growth {} MB, estimate {} MB), after its eviction {} MB, VmHWM {} MB; load average {}",
            ms(first),
            before >> 20,
            loaded >> 20,
            loaded.saturating_sub(before) >> 20,
            estimate >> 20,
            evicted >> 20,
            server.proc_status("VmHWM") >> 20,
            loadavg()
        );
    });
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
