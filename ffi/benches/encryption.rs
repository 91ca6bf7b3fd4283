//! What encryption at rest costs (issue 16): one build of the library with SQLCipher (`--features sqlcipher`)
//! writes the same content into a plain replica (no key: SQLCipher's SQLite without its codec) and an encrypted
//! one (a 256-bit raw key). Prints, per mode: the median and 95th-percentile latency of a door-knock visit (one
//! durable commit), the time to apply a sync answer of 1,500 ops, and the file's size after close; and the
//! physical floor measured in the same run and directory: one 4 KiB write plus `fdatasync`.
//! Run: `CARGO_TARGET_DIR=target/sqlcipher cargo bench -p linli-ffi --features sqlcipher --bench encryption`.

use linli_ffi::api::Replica;
use linli_ffi::{DeviceIdentity, Role as FfiRole, VisitInput};
use linli_sync_core::entry::{EntryOp, Visit};
use linli_sync_core::grid::{GridOp, Household, MemberRole};
use linli_sync_core::prelude::{
    EntryId, GridId, HlcClock, HouseholdId, Op, OpBody, ReplicaId, Rules, UserId, Writer,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod support;
use support::{answer, now_ms};

const HOUSEHOLDS: usize = 200;
const WRITES: usize = 300;
const ANSWER_OPS: usize = 1500;

fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The content both replicas receive: a grid cell with named elderly residents assigned to the worker, and an
/// answer of other butlers' visits.
struct Content {
    grid: GridId,
    worker: UserId,
    households: Vec<HouseholdId>,
    setup: Vec<u8>,
    visits: Vec<u8>,
}

fn content() -> Content {
    let t = now_ms() - 3_600_000;
    let grid = GridId::random();
    let worker = UserId::random();
    let mut admin = Writer::new(
        ReplicaId::random(),
        UserId::random(),
        HlcClock::new(Rules::DEFAULT.drift),
    );
    let households: Vec<HouseholdId> = (0..HOUSEHOLDS).map(|_| HouseholdId::random()).collect();
    let mut setup = vec![
        admin.op(
            t,
            OpBody::Grid(
                grid,
                GridOp::Create {
                    name: "第三网格".into(),
                    community: "幸福里社区".into(),
                },
            ),
        ),
        admin.op(
            t,
            OpBody::Grid(
                grid,
                GridOp::AddMember {
                    user: worker,
                    role: MemberRole::Worker,
                },
            ),
        ),
    ];
    for (i, h) in households.iter().enumerate() {
        setup.push(admin.op(
            t,
            OpBody::Grid(
                grid,
                GridOp::AddHousehold {
                    household: *h,
                    details: Household {
                        building: format!("{}", i % 10 + 1),
                        unit: "2".into(),
                        room: format!("{}", 100 + i),
                        elderly_alone: true,
                        contact_name: Some(format!("王秀英{i}")),
                    },
                },
            ),
        ));
    }
    let butler_user = UserId::random();
    let mut butler = Writer::new(
        ReplicaId::random(),
        butler_user,
        HlcClock::new(Rules::DEFAULT.drift),
    );
    let visits: Vec<Op> = (0..ANSWER_OPS)
        .map(|i| {
            let at = t + 1000 + i as u64;
            butler.op(
                at,
                OpBody::Entry(
                    EntryId::new_v7(at),
                    EntryOp::Visit(Visit {
                        volunteer: butler_user,
                        grid,
                        household: households[i % HOUSEHOLDS],
                        seen: true,
                        health: None,
                        needs: vec![],
                        notes: "老人状态良好，已送米".into(),
                        follow_up: None,
                    }),
                ),
            )
        })
        .collect();
    Content {
        grid,
        worker,
        setup: answer(setup, 3),
        visits: answer(visits, 10),
        households,
    }
}

struct Figures {
    median: Duration,
    p95: Duration,
    apply: Duration,
    bytes: u64,
}

fn run(dir: &Path, name: &str, key: Option<&[u8]>, c: &Content) -> Figures {
    let path = dir.join(name);
    let identity = DeviceIdentity {
        device_id: ReplicaId::random().to_string(),
        user_id: c.worker.to_string(),
        role: FfiRole::GridWorker,
    };
    let replica = Replica::open_at_with_key(&path, &identity, key).expect("open");
    replica.apply_sync_response(c.setup.clone()).expect("setup");
    let mut writes: Vec<Duration> = (0..WRITES)
        .map(|i| {
            let visit = VisitInput {
                grid_id: c.grid.to_string(),
                household_id: c.households[i % HOUSEHOLDS].to_string(),
                seen: true,
                health: None,
                needs: vec![],
                notes: "血压正常，需要买菜".into(),
            };
            let s = Instant::now();
            replica.record_visit(visit).expect("visit");
            s.elapsed()
        })
        .collect();
    let s = Instant::now();
    replica
        .apply_sync_response(c.visits.clone())
        .expect("apply");
    let apply = s.elapsed();
    replica.close();
    let bytes = std::fs::metadata(&path).expect("size").len()
        + std::fs::metadata(wal(&path)).map_or(0, |m| m.len());
    Figures {
        median: quantile(&mut writes, 0.5),
        p95: quantile(&mut writes, 0.95),
        apply,
        bytes,
    }
}

fn wal(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// The floor of a durable commit here: one 4 KiB page written and `fdatasync`ed, median of `WRITES`.
fn fsync_floor(dir: &Path) -> Duration {
    let mut f = std::fs::File::create(dir.join("floor")).expect("file");
    let page = [0x5au8; 4096];
    let mut v: Vec<Duration> = (0..WRITES)
        .map(|_| {
            let s = Instant::now();
            f.write_all(&page).expect("write");
            f.sync_data().expect("sync");
            s.elapsed()
        })
        .collect();
    quantile(&mut v, 0.5)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("linli-encryption-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let c = content();
    let key = [0x3cu8; 32];
    let floor = fsync_floor(&dir);
    println!(
        "{HOUSEHOLDS} named households, {WRITES} visits written one by one, then an answer of {ANSWER_OPS} ops applied"
    );
    println!(
        "physical floor: 4 KiB write + fdatasync, median {:.2} ms",
        ms(floor)
    );
    println!();
    println!(
        "| replica | write median | write p95 | median ÷ floor | apply {ANSWER_OPS} ops | file after close |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let mut rows = Vec::new();
    for round in 0..3 {
        for (label, k) in [("plain", None), ("encrypted", Some(&key[..]))] {
            let f = run(&dir, &format!("{label}{round}.db"), k, &c);
            println!(
                "| {label} (round {}) | {:.2} ms | {:.2} ms | {:.1} | {:.1} ms | {} KiB |",
                round + 1,
                ms(f.median),
                ms(f.p95),
                f.median.as_secs_f64() / floor.as_secs_f64(),
                ms(f.apply),
                f.bytes / 1024,
            );
            rows.push((label, f));
        }
    }
    let mean = |label: &str, pick: &dyn Fn(&Figures) -> f64| {
        let v: Vec<f64> = rows
            .iter()
            .filter(|(l, _)| *l == label)
            .map(|(_, f)| pick(f))
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let ratio = |pick: &dyn Fn(&Figures) -> f64| mean("encrypted", pick) / mean("plain", pick);
    println!();
    println!(
        "encrypted ÷ plain (means of 3 rounds): write median {:.2}, write p95 {:.2}, apply {:.2}, file size {:.3}",
        ratio(&|f| ms(f.median)),
        ratio(&|f| ms(f.p95)),
        ratio(&|f| ms(f.apply)),
        ratio(&|f| f.bytes as f64),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
