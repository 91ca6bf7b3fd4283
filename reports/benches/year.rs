//! Report latency over one year of a 10-building community: 500 households (every one visited daily, 182,500
//! visits), 7 grid cells, 5,000 tickets with full lifecycles, 2,000 volunteer activities with approvals, and a fee
//! ledger of 12 months. Prints a Markdown table (median of 5 runs per report).
//! Run: `cargo bench -p linli-reports --bench year`.

use linli_reports::compliance::compliance;
use linli_reports::coverage::coverage;
use linli_reports::fees::{CashPayment, FeeDue, Ledger, fees};
use linli_reports::hours::hours;
use linli_reports::outcomes::outcomes;
use linli_reports::ranking::ranking;
use linli_reports::{Basis, Filter, ReportPolicy};
use linli_sync_core::grid::Household;
use linli_sync_core::prelude::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

const MIN: u64 = 60_000;
const DAY: u64 = 24 * 60 * MIN;
/// 2026-01-01 00:00 UTC+8.
const YEAR0: u64 = 1_767_196_800_000;

fn id(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x4ea2_0000_0000_0000_0000_0000_0000_0000 | n)
}

fn writer(n: u128) -> Writer {
    Writer::deterministic(
        ReplicaId(id(n)),
        UserId(id(n)),
        HlcClock::new(DriftPolicy::DEFAULT),
        n as u16,
    )
}

fn main() {
    let mut state = State::new(Rules::DEFAULT);
    let mut ops = 0usize;
    let mut put = |state: &mut State, op: Op| {
        state.apply(&op);
        ops += 1;
    };
    let mut admin = Writer::deterministic(
        ReplicaId::SERVER,
        UserId(id(1)),
        HlcClock::new(DriftPolicy::DEFAULT),
        1,
    );
    let grids: Vec<GridId> = (0..7).map(|g| GridId(id(100 + g))).collect();
    let mut workers: Vec<Writer> = (0..7).map(|w| writer(200 + w)).collect();
    let mut butlers: Vec<Writer> = (0..7).map(|b| writer(300 + b)).collect();
    let households: Vec<(GridId, HouseholdId)> = (0..500u128)
        .map(|h| (grids[(h % 7) as usize], HouseholdId(id(1_000 + h))))
        .collect();
    for (g, grid) in grids.iter().enumerate() {
        put(
            &mut state,
            admin.op(
                YEAR0,
                OpBody::Grid(
                    *grid,
                    GridOp::Create {
                        name: format!("第{}网格", g + 1),
                        community: "幸福里".into(),
                    },
                ),
            ),
        );
        put(
            &mut state,
            admin.op(
                YEAR0,
                OpBody::Grid(
                    *grid,
                    GridOp::AddMember {
                        user: workers[g].author,
                        role: MemberRole::Worker,
                    },
                ),
            ),
        );
        put(
            &mut state,
            admin.op(
                YEAR0,
                OpBody::Grid(
                    *grid,
                    GridOp::AddMember {
                        user: butlers[g].author,
                        role: MemberRole::Butler,
                    },
                ),
            ),
        );
    }
    for (i, (grid, h)) in households.iter().enumerate() {
        put(
            &mut state,
            admin.op(
                YEAR0,
                OpBody::Grid(
                    *grid,
                    GridOp::AddHousehold {
                        household: *h,
                        details: Household {
                            building: format!("{}", i % 10 + 1),
                            unit: format!("{}", i % 4 + 1),
                            room: format!("{}", 100 + i),
                            elderly_alone: true,
                            contact_name: None,
                        },
                    },
                ),
            ),
        );
    }
    let mut n = 0u128;
    for day in 0..365u64 {
        for (i, (grid, h)) in households.iter().enumerate() {
            let b = &mut butlers[i % 7];
            n += 1;
            let op = b.op(
                YEAR0 + day * DAY + 8 * 60 * MIN + i as u64 * 1000,
                OpBody::Entry(
                    EntryId(id(10_000_000 + n)),
                    EntryOp::Visit(Visit {
                        volunteer: b.author,
                        grid: *grid,
                        household: *h,
                        seen: !n.is_multiple_of(9),
                        health: None,
                        needs: vec![],
                        notes: String::new(),
                        follow_up: None,
                    }),
                ),
            );
            put(&mut state, op);
        }
    }
    for t in 0..5_000u64 {
        let g = (t % 7) as usize;
        let w = &mut workers[g];
        let at = YEAR0 + (t * 6_000) * MIN / 1000 * 100;
        let ticket = TicketId(id(20_000_000 + u128::from(t)));
        let complexity = if t % 5 == 0 {
            Complexity::Complex
        } else {
            Complexity::Small
        };
        let ev = |w: &mut Writer, dt: u64, op: TicketOp| w.op(at + dt, OpBody::Ticket(ticket, op));
        let steps = vec![
            ev(
                w,
                0,
                TicketOp::Create(TicketCreate {
                    grid: grids[g],
                    request_type: RequestType::Complaint,
                    category: ["noise", "water_leak", "dispute", "parking"][(t % 4) as usize]
                        .into(),
                    complexity,
                    location: Location {
                        building: "1".into(),
                        ..Location::default()
                    },
                    description: "问题".into(),
                    channel: Channel::Desk,
                    reporter: Reporter::default(),
                    from_visit: None,
                }),
            ),
            ev(w, (t % 20) * MIN, TicketOp::Take(Note::default())),
            ev(
                w,
                (t % 20) * MIN + (t % 9) * MIN,
                TicketOp::Arrive(Note::default()),
            ),
            ev(w, 40 * MIN, TicketOp::Solve(Note::default())),
            ev(
                w,
                50 * MIN,
                TicketOp::Answer(Note {
                    note: Some("已答复".into()),
                }),
            ),
            ev(
                w,
                60 * MIN,
                TicketOp::Rate(Rating {
                    satisfaction: (t % 5) as u8 + 1,
                    note: None,
                }),
            ),
        ];
        for op in steps {
            put(&mut state, op);
        }
    }
    for a in 0..2_000u64 {
        let b = (a % 7) as usize;
        let entry = EntryId(id(30_000_000 + u128::from(a)));
        let start = YEAR0 + a * 4 * 60 * MIN;
        let volunteer = butlers[b].author;
        let op = butlers[b].op(
            start + 120 * MIN,
            OpBody::Entry(
                entry,
                EntryOp::Activity(Activity {
                    volunteer,
                    grid: grids[b],
                    activity: "patrol".into(),
                    start_ms: start,
                    end_ms: start + 90 * MIN,
                    notes: String::new(),
                }),
            ),
        );
        put(&mut state, op);
        if a % 3 != 0 {
            for op in workers[b]
                .approve(&state, start + 200 * MIN, entry, None)
                .expect("approvable")
            {
                put(&mut state, op);
            }
        }
    }
    let mut ledger = Ledger::default();
    for m in 1..=12 {
        for (i, (_, h)) in households.iter().enumerate() {
            let period = format!("2026-{m:02}");
            ledger.dues.push(FeeDue {
                household: *h,
                period: period.clone(),
                amount_fen: 12_000,
            });
            if i % 10 != 0 {
                ledger.payments.push(CashPayment {
                    household: *h,
                    period,
                    amount_fen: 12_000,
                });
            }
        }
    }
    let policy = ReportPolicy::DEFAULT;
    let year = Filter::between(YEAR0, YEAR0 + 365 * DAY);
    let month = Filter::between(YEAR0 + 180 * DAY, YEAR0 + 211 * DAY);
    let basis = || Basis::new(ops as u64, YEAR0 + 366 * DAY);

    let time = |f: &dyn Fn() -> usize| -> Duration {
        let mut runs: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                black_box(f());
                start.elapsed()
            })
            .collect();
        runs.sort();
        runs[2]
    };
    let rows: Vec<(&str, Duration)> = vec![
        (
            "5-20-2-2 compliance, one year",
            time(&|| compliance(&state, &year, &policy, basis()).by_handler.len()),
        ),
        (
            "ticket outcomes, one year",
            time(&|| outcomes(&state, &year, &policy, basis()).tickets),
        ),
        (
            "red/black list, one month",
            time(&|| ranking(&state, &month, &policy, basis()).all.len()),
        ),
        (
            "door-knock coverage, one day",
            time(&|| {
                coverage(&state, "2026-07-01", &Filter::default(), &policy, basis())
                    .map_or(0, |c| c.rows.len())
            }),
        ),
        (
            "volunteer hours and cards, one year",
            time(&|| hours(&state, &year, basis()).volunteers.len()),
        ),
        (
            "fee collection, 12 months",
            time(&|| {
                fees(
                    &state,
                    &ledger,
                    "2026-01",
                    "2026-12",
                    &Filter::default(),
                    &policy,
                    basis(),
                )
                .rows
                .len()
            }),
        ),
        (
            "compliance CSV export, one year",
            time(&|| compliance(&state, &year, &policy, basis()).csv().len()),
        ),
    ];
    println!(
        "data set: {} ops ({} visits, 5000 tickets × 6 events, 2000 activities), {} ledger lines",
        ops,
        365 * 500,
        ledger.dues.len() + ledger.payments.len()
    );
    println!();
    println!("| report | median of 5 |");
    println!("| --- | ---: |");
    for (name, d) in rows {
        println!("| {name} | {:.1} ms |", d.as_secs_f64() * 1e3);
    }
}
