//! Apply and merge throughput of `sync-core`, with the same workloads through Automerge for comparison.
//! A plain bench binary (no criterion: the workloads are large and one pass each is what a sync does) that prints
//! a Markdown table. Run: `cargo bench -p linli-sync-core --bench merge`.
//!
//! Workloads (deterministic ids and times):
//! - 100,000 door-knock visit ops (500 households, 7 micro-butlers), applied to an empty state; and the server's
//!   path, validate then apply.
//! - 10,000 tickets × 6 lifecycle events (create, take, arrive, solve, answer, close) written on 50 replicas,
//!   delivered interleaved; then the 50 replica states merged into one.
//! - The wire: the 100,000 visit ops encoded to canonical JSON and parsed back (also with their canonical text,
//!   as the server stores it).
//! - Automerge 0.12: 10,000 visits as maps of 5 fields, and 1,000 tickets with 6 events each, in one document.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use linli_sync_core::grid::Household;
use linli_sync_core::prelude::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

const T0: u64 = 1_795_766_400_000;
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(mut f: impl FnMut() -> T) -> Duration {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        black_box(f());
        runs.push(start.elapsed());
    }
    median(runs)
}

struct Row {
    workload: &'static str,
    ops: usize,
    took: Duration,
}

fn id(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0xbe4c_0000_0000_0000_0000_0000_0000_0000 | n)
}

fn setup(admin: &mut Writer, grid: GridId) -> Vec<Op> {
    let mut ops = vec![admin.op(
        T0,
        OpBody::Grid(
            grid,
            GridOp::Create {
                name: "一网格".into(),
                community: "幸福里".into(),
            },
        ),
    )];
    for h in 0..500u128 {
        ops.push(admin.op(
            T0,
            OpBody::Grid(
                grid,
                GridOp::AddHousehold {
                    household: HouseholdId(id(10_000 + h)),
                    details: Household {
                        building: format!("{}", h / 50 + 1),
                        unit: format!("{}", h % 5 + 1),
                        room: format!("{}", 100 + h % 10),
                        elderly_alone: h % 5 == 0,
                        contact_name: None,
                    },
                },
            ),
        ));
    }
    ops
}

fn visits(grid: GridId, n: usize) -> Vec<Op> {
    let mut butlers: Vec<Writer> = (0..7u128)
        .map(|b| {
            Writer::deterministic(
                ReplicaId(id(b + 1)),
                UserId(id(b + 100)),
                HlcClock::new(DriftPolicy::DEFAULT),
                b as u16 + 1,
            )
        })
        .collect();
    (0..n)
        .map(|i| {
            let b = i % 7;
            let author = butlers[b].author;
            butlers[b].op(
                T0 + i as u64 * 500,
                OpBody::Entry(
                    EntryId(id(1_000_000 + i as u128)),
                    EntryOp::Visit(Visit {
                        volunteer: author,
                        grid,
                        household: HouseholdId(id(10_000 + (i % 500) as u128)),
                        seen: i % 11 != 0,
                        health: None,
                        needs: if i % 13 == 0 {
                            vec![Need::Groceries]
                        } else {
                            vec![]
                        },
                        notes: String::new(),
                        follow_up: None,
                    }),
                ),
            )
        })
        .collect()
}

/// 10k tickets × 6 events written on 50 replicas; returns the per-replica op lists.
fn tickets(grid: GridId) -> Vec<Vec<Op>> {
    let mut replicas: Vec<Writer> = (0..50u128)
        .map(|r| {
            Writer::deterministic(
                ReplicaId(id(r + 200)),
                UserId(id(r + 300)),
                HlcClock::new(DriftPolicy::DEFAULT),
                r as u16 + 100,
            )
        })
        .collect();
    let mut out = vec![Vec::new(); 50];
    for t in 0..10_000u64 {
        let r = (t % 50) as usize;
        let ticket = TicketId(id(2_000_000 + u128::from(t)));
        let at = T0 + t * 1_000;
        let create = TicketOp::Create(TicketCreate {
            grid,
            request_type: RequestType::Complaint,
            category: "noise".into(),
            complexity: Complexity::Small,
            location: Location {
                building: "1".into(),
                ..Location::default()
            },
            description: "楼上噪音".into(),
            channel: Channel::Desk,
            reporter: Reporter::default(),
            from_visit: None,
        });
        let steps = [
            create,
            TicketOp::Take(Note::default()),
            TicketOp::Arrive(Note::default()),
            TicketOp::Solve(Note::default()),
            TicketOp::Answer(Note {
                note: Some("已处理".into()),
                public: false,
            }),
            TicketOp::Close(Note::default()),
        ];
        for (k, step) in steps.into_iter().enumerate() {
            let op = replicas[r].op(at + k as u64 * 60_000, OpBody::Ticket(ticket, step));
            out[r].push(op);
        }
    }
    out
}

fn main() {
    let grid = GridId(id(1));
    let mut admin = Writer::deterministic(
        ReplicaId::SERVER,
        UserId(id(99)),
        HlcClock::new(DriftPolicy::DEFAULT),
        999,
    );
    let base_ops = setup(&mut admin, grid);
    let mut base = State::new(Rules::DEFAULT);
    for op in &base_ops {
        base.apply(op);
    }
    let visit_ops = visits(grid, 100_000);
    let ticket_ops = tickets(grid);
    let interleaved: Vec<&Op> = {
        let mut all: Vec<&Op> = Vec::new();
        let longest = ticket_ops.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..longest {
            for r in &ticket_ops {
                if let Some(op) = r.get(i) {
                    all.push(op);
                }
            }
        }
        all
    };
    let mut rows = Vec::new();

    rows.push(Row {
        workload: "apply 100k visit ops",
        ops: visit_ops.len(),
        took: time(|| {
            let mut s = base.clone();
            for op in &visit_ops {
                s.apply(op);
            }
            s
        }),
    });
    rows.push(Row {
        workload: "validate + apply 100k visit ops (server path)",
        ops: visit_ops.len(),
        took: time(|| {
            let mut s = base.clone();
            for op in &visit_ops {
                s.validate_op(op).expect("valid");
                s.apply(op);
            }
            s
        }),
    });
    rows.push(Row {
        workload: "apply 10k tickets × 6 events from 50 replicas",
        ops: interleaved.len(),
        took: time(|| {
            let mut s = base.clone();
            for op in &interleaved {
                s.apply(op);
            }
            s
        }),
    });
    let replica_states: Vec<State> = ticket_ops
        .iter()
        .map(|ops| {
            let mut s = base.clone();
            for op in ops {
                s.apply(op);
            }
            s
        })
        .collect();
    rows.push(Row {
        workload: "state-merge 50 replica states (60k ticket ops)",
        ops: interleaved.len(),
        took: time(|| {
            let mut s = base.clone();
            for r in &replica_states {
                s.merge(r.clone());
            }
            s
        }),
    });
    let encoded: Vec<String> = visit_ops.iter().map(Op::to_json).collect();
    rows.push(Row {
        workload: "encode 100k visit ops to JSON",
        ops: visit_ops.len(),
        took: time(|| visit_ops.iter().map(|op| op.to_json().len()).sum::<usize>()),
    });
    rows.push(Row {
        workload: "parse 100k visit ops from JSON",
        ops: encoded.len(),
        took: time(|| {
            encoded
                .iter()
                .map(|t| Op::from_json(t).map(|_| 1).unwrap_or(0))
                .sum::<usize>()
        }),
    });
    rows.push(Row {
        workload: "parse 100k visit ops from JSON, with canonical text",
        ops: encoded.len(),
        took: time(|| {
            encoded
                .iter()
                .map(|t| Op::from_json_canonical(t).map_or(0, |(_, json)| json.len()))
                .sum::<usize>()
        }),
    });
    let bytes: usize = encoded.iter().map(String::len).sum();

    // Automerge: the same visit records as maps of 5 fields (one put per field), one commit per visit.
    let am_visits = 10_000;
    rows.push(Row {
        workload: "automerge: 10k visits as maps (5 puts each)",
        ops: am_visits,
        took: time(|| {
            let mut doc = AutoCommit::new();
            let visits = doc.put_object(ROOT, "visits", ObjType::Map).expect("map");
            for op in visit_ops.iter().take(am_visits) {
                let OpBody::Entry(e, EntryOp::Visit(v)) = &op.body else {
                    continue;
                };
                let obj = doc
                    .put_object(&visits, e.to_string(), ObjType::Map)
                    .expect("obj");
                doc.put(&obj, "volunteer", v.volunteer.to_string())
                    .expect("put");
                doc.put(&obj, "household", v.household.to_string())
                    .expect("put");
                doc.put(&obj, "seen", v.seen).expect("put");
                doc.put(&obj, "wall_ms", op.time.wall_ms).expect("put");
                doc.put(&obj, "grid", v.grid.to_string()).expect("put");
                doc.commit();
            }
            doc
        }),
    });
    let am_tickets = 1_000;
    rows.push(Row {
        workload: "automerge: 1k tickets × 6 events (list inserts)",
        ops: am_tickets * 6,
        took: time(|| {
            let mut doc = AutoCommit::new();
            let tickets = doc.put_object(ROOT, "tickets", ObjType::Map).expect("map");
            for op in interleaved.iter().take(am_tickets * 6) {
                let OpBody::Ticket(t, body) = &op.body else {
                    continue;
                };
                let key = t.to_string();
                let events = match doc.get(&tickets, &key).expect("get") {
                    Some((_, events)) => events,
                    None => doc.put_object(&tickets, &key, ObjType::List).expect("list"),
                };
                let n = doc.length(&events);
                doc.insert(
                    &events,
                    n,
                    format!("{:?}@{}", body.event_kind(), op.time.wall_ms),
                )
                .expect("insert");
                doc.commit();
            }
            doc
        }),
    });

    println!("| workload | ops | median of {RUNS} | ops/s |");
    println!("| --- | ---: | ---: | ---: |");
    for r in &rows {
        let rate = r.ops as f64 / r.took.as_secs_f64();
        println!(
            "| {} | {} | {:.1} ms | {:.0} |",
            r.workload,
            r.ops,
            r.took.as_secs_f64() * 1e3,
            rate
        );
    }
    println!();
    println!(
        "canonical JSON: {:.0} bytes per visit op",
        bytes as f64 / encoded.len() as f64
    );
    let ours = rows[0].ops as f64 / rows[0].took.as_secs_f64();
    let am = rows[6].ops as f64 / rows[6].took.as_secs_f64();
    println!(
        "visit apply, linli vs automerge (records/s): {:.0}×",
        ours / am
    );
}
