//! How long a write waits while the replica applies a sync answer of 1,500 ops (issue 16: writes during such a
//! sync were blocked for 34–79 ms although the docs said they were not). Prints, for 5 runs: the write latency
//! alone (one durable commit: the physical floor here), the longest write latency while an answer is applied on
//! another thread, and the parts of applying an answer: reading its JSON, and the rest (apply, views, commit).
//! Run: `cargo bench -p linli-ffi --bench write_during_sync`.

use linli_ffi::api::Replica;
use linli_ffi::{DeviceIdentity, Role as FfiRole, VisitInput};
use linli_sync_core::entry::{EntryOp, Visit};
use linli_sync_core::grid::{GridOp, Household, MemberRole};
use linli_sync_core::prelude::{
    EntryId, GridId, HlcClock, HouseholdId, Op, OpBody, ReplicaId, Rules, SyncResponse, UserId,
    Writer,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod support;
use support::{answer, now_ms};

const OPS: usize = 1500;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile_dir();
    let t = now_ms() - 3_600_000;
    let grid = GridId::random();
    let household = HouseholdId::random();
    let worker = UserId::random();
    let mut admin = Writer::new(
        ReplicaId::random(),
        UserId::random(),
        HlcClock::new(Rules::DEFAULT.drift),
    );
    let setup = vec![
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
                GridOp::AddHousehold {
                    household,
                    details: Household {
                        building: "3".into(),
                        unit: "2".into(),
                        room: "501".into(),
                        elderly_alone: true,
                        contact_name: None,
                    },
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
    println!(
        "| run | write alone (median of 50) | longest write during apply | apply answer (whole) | of which JSON read |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for run in 0..5u64 {
        let path = dir.join(format!("run{run}.db"));
        let identity = DeviceIdentity {
            device_id: ReplicaId::random().to_string(),
            user_id: worker.to_string(),
            role: FfiRole::GridWorker,
        };
        let replica = Arc::new(Replica::open_at(&path, &identity).expect("open"));
        replica
            .apply_sync_response(answer(setup.clone(), 3))
            .expect("setup");
        let visit = VisitInput {
            grid_id: grid.to_string(),
            household_id: household.to_string(),
            seen: true,
            health: None,
            needs: vec![],
            notes: "ok".into(),
        };
        let alone: Vec<Duration> = (0..50)
            .map(|_| {
                let s = Instant::now();
                replica.record_visit(visit.clone()).expect("visit");
                s.elapsed()
            })
            .collect();
        let butler_user = UserId::random();
        let mut butler = Writer::new(
            ReplicaId::random(),
            butler_user,
            HlcClock::new(Rules::DEFAULT.drift),
        );
        let ops: Vec<Op> = (0..OPS)
            .map(|i| {
                let at = t + 1000 + i as u64;
                butler.op(
                    at,
                    OpBody::Entry(
                        EntryId::new_v7(at),
                        EntryOp::Visit(Visit {
                            volunteer: butler_user,
                            grid,
                            household,
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
        let bytes = answer(ops, 10 + run);
        let parse = {
            let s = Instant::now();
            let parsed: SyncResponse = serde_json::from_slice(&bytes).expect("parse");
            std::hint::black_box(parsed);
            s.elapsed()
        };
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let replica = Arc::clone(&replica);
            let done = Arc::clone(&done);
            let visit = visit.clone();
            std::thread::spawn(move || {
                let mut worst = Duration::ZERO;
                while !done.load(Ordering::Relaxed) {
                    let s = Instant::now();
                    replica.record_visit(visit.clone()).expect("visit");
                    worst = worst.max(s.elapsed());
                }
                worst
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        let s = Instant::now();
        replica.apply_sync_response(bytes).expect("apply");
        let apply = s.elapsed();
        std::thread::sleep(Duration::from_millis(20));
        done.store(true, Ordering::Relaxed);
        let worst = writer.join().expect("writer");
        println!(
            "| {} | {:.2} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            run + 1,
            median(alone).as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3,
            apply.as_secs_f64() * 1e3,
            parse.as_secs_f64() * 1e3,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("linli-write-during-sync-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    d
}
