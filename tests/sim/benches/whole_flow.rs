//! The whole-flow benchmark: N phones (real replicas, files on tmpfs when `/dev/shm` exists) each record M offline
//! door-knock visits, then all sync into one `linli serve` process (SQLite on disk) over loopback HTTP with gzip,
//! from a few client threads. Prints a table: total time, ops/s, p50/p99 latency of `POST /v1/sync`, request
//! bytes on the wire per op, and the time until every replica has converged (each phone synced again and an admin
//! replica has pulled the whole log). Then the bootstrap of a new grid worker's phone for a grid cell holding a
//! year of history.
//!
//! `cargo build --release -p linli-server --bin linli && cargo bench -p linli-sim --bench whole_flow`
//! Settings: `LINLI_BENCH_PHONES` (1000), `LINLI_BENCH_OPS` (100), `LINLI_BENCH_CLIENTS` (4), `LINLI_BIN`
//! (default: the release build).

use linli_ffi::VisitInput;
use linli_sim::http::Console;
use linli_sim::phone::Phone;
use linli_sim::server::{ADMIN_PASSWORD, ServerConfig, ServerProc, linli_bin_of};
use linli_sync_core::entry::{Activity, Visit};
use linli_sync_core::grid::{GridOp, Household, MemberRole};
use linli_sync_core::prelude::{
    Channel, Complexity, EntryId, EntryOp, GridId, HouseholdId, Location, Note, OpBody, Reporter,
    RequestType, Role, TicketCreate, TicketId, TicketOp,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const DAY: u64 = 86_400_000;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `f` on every phone from `clients` threads; returns the wall time.
fn each(phones: &[Mutex<Phone>], clients: usize, f: impl Fn(&mut Phone) + Sync) -> Duration {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(p) = phones.get(i) else { break };
                    f(&mut p.lock().expect("phone"));
                }
            });
        }
    });
    started.elapsed()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let n_phones = env("LINLI_BENCH_PHONES", 1000);
    let n_ops = env("LINLI_BENCH_OPS", 100);
    let clients = env("LINLI_BENCH_CLIENTS", 4);
    if std::env::var_os("LINLI_BIN").is_none() {
        let bin = linli_bin_of("release");
        assert!(
            bin.is_file(),
            "build the server first: cargo build --release -p linli-server --bin linli ({} missing)",
            bin.display()
        );
        rerun_with_bin(&bin);
    }
    let server_dir = tempfile::tempdir().expect("server dir");
    let phone_dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").expect("tmpfs dir")
    } else {
        tempfile::tempdir().expect("phone dir")
    };
    let server = ServerProc::start(
        server_dir.path(),
        ServerConfig {
            workers: 2,
            ..ServerConfig::default()
        },
    );
    let mut console = Console::login(&server.base, ADMIN_PASSWORD);
    eprintln!("setting up {n_phones} phones…");

    // 7 grid cells of 100 households; every phone is a micro-butler of one cell.
    let grids: Vec<GridId> = (0..7).map(|_| GridId::random()).collect();
    let mut ops = Vec::new();
    let mut households: Vec<Vec<HouseholdId>> = Vec::new();
    for (g, &grid) in grids.iter().enumerate() {
        ops.push(OpBody::Grid(
            grid,
            GridOp::Create {
                name: format!("第{}网格", g + 1),
                community: "幸福里社区".into(),
            },
        ));
        let mut hs = Vec::new();
        for h in 0..100 {
            let household = HouseholdId::random();
            ops.push(OpBody::Grid(
                grid,
                GridOp::AddHousehold {
                    household,
                    details: Household {
                        building: format!("{}", h / 10 + 1),
                        unit: "1".into(),
                        room: format!("{}", 101 + h),
                        elderly_alone: h % 4 == 0,
                        contact_name: None,
                    },
                },
            ));
            hs.push(household);
        }
        households.push(hs);
    }
    let mut enrolments = Vec::new();
    for i in 0..n_phones {
        let user = console.add_user(&format!("butler-{i}"), Role::Volunteer);
        ops.push(OpBody::Grid(
            grids[i % grids.len()],
            GridOp::AddMember {
                user,
                role: MemberRole::Butler,
            },
        ));
        enrolments.push(console.enrol(user, "phone"));
    }
    console.write(linli_sim::now_ms(), ops);
    let phones: Vec<Mutex<Phone>> = enrolments
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            Mutex::new(Phone::open(
                phone_dir.path(),
                &format!("p{i}"),
                e,
                &server.base,
            ))
        })
        .collect();
    let boot = each(&phones, clients, |p| p.sync().expect("bootstrap"));
    eprintln!(
        "bootstrapped {n_phones} phones in {boot:.1?}; recording {n_ops} offline visits each…"
    );
    let offline = each(&phones, clients, |p| {
        let i: usize = p.label[1..].parse().expect("index");
        let cell = i % grids.len();
        for k in 0..n_ops {
            let now = p.now();
            p.store
                .record_visit(
                    now,
                    &VisitInput {
                        grid_id: grids[cell].to_string(),
                        household_id: households[cell][k % 100].to_string(),
                        seen: true,
                        health: None,
                        needs: vec![],
                        notes: "一切安好".into(),
                    },
                )
                .expect("visit");
        }
        p.wire = Default::default();
    });
    eprintln!("recorded in {offline:.1?}; syncing…");

    // The measured part: every phone pushes its backlog and pulls what it may see.
    let push = each(&phones, clients, |p| p.sync_retrying(5).expect("sync"));
    let total_ops = n_phones * n_ops;
    let mut latencies: Vec<Duration> = Vec::new();
    let (mut sent, mut received) = (0usize, 0usize);
    for p in &phones {
        let p = p.lock().expect("phone");
        latencies.extend(&p.wire.latencies);
        sent += p.wire.sent;
        received += p.wire.received;
        assert_eq!(p.unsynced(), 0);
    }
    latencies.sort();

    // Convergence: every phone syncs again, and an admin replica pulls the whole log.
    let converge_start = Instant::now();
    each(&phones, clients, |p| p.sync_retrying(5).expect("sync"));
    let office_user = console.add_user("office", Role::Admin);
    let office_dir = tempfile::tempdir().expect("dir");
    let mut office = Phone::open(
        office_dir.path(),
        "office",
        console.enrol(office_user, "office"),
        &server.base,
    );
    let office_pull = Instant::now();
    office.sync().expect("the admin replica pulls");
    let office_pull = office_pull.elapsed();
    let converge = converge_start.elapsed();
    let visits = office.state().entries().len();
    assert_eq!(visits, total_ops, "every visit reached the admin replica");

    // A year of history in one grid cell, written from the console with past event times, then a new grid
    // worker's phone bootstraps that cell.
    let cell = grids[0];
    let butler = phones[0].lock().expect("phone").id.user;
    let worker = console.add_user("worker-year", Role::GridWorker);
    let start = linli_sim::now_ms() - 366 * DAY;
    let mut year = vec![OpBody::Grid(
        cell,
        GridOp::AddMember {
            user: worker,
            role: MemberRole::Worker,
        },
    )];
    let mut year_times = vec![start];
    for day in 0..365u64 {
        let t0 = start + day * DAY + 8 * 3_600_000;
        for (k, h) in households[0].iter().step_by(4).enumerate() {
            year.push(OpBody::Entry(
                EntryId::new_v7(t0),
                EntryOp::Visit(Visit {
                    volunteer: butler,
                    grid: cell,
                    household: *h,
                    seen: true,
                    health: None,
                    needs: Default::default(),
                    notes: "一切安好".into(),
                    follow_up: None,
                }),
            ));
            year_times.push(t0 + k as u64 * 60_000);
        }
        for j in 0..2u64 {
            let t = TicketId::new_v7(t0);
            let at = t0 + 4 * 3_600_000 + j * 3_600_000;
            year.push(OpBody::Ticket(
                t,
                TicketOp::Create(TicketCreate {
                    grid: cell,
                    request_type: RequestType::Complaint,
                    category: "water_leak".into(),
                    complexity: Complexity::Small,
                    location: Location {
                        building: "3".into(),
                        unit: None,
                        household: None,
                        lat: None,
                        lon: None,
                    },
                    description: "楼道漏水".into(),
                    channel: Channel::Desk,
                    reporter: Reporter {
                        name: None,
                        phone: None,
                        household: None,
                    },
                    from_visit: None,
                }),
            ));
            year_times.push(at);
            for (s, step) in [
                TicketOp::Take(Note::default()),
                TicketOp::Arrive(Note::default()),
                TicketOp::Solve(Note::default()),
                TicketOp::Answer(Note {
                    note: Some("已答复".into()),
                    public: false,
                }),
            ]
            .into_iter()
            .enumerate()
            {
                year.push(OpBody::Ticket(t, step));
                year_times.push(at + (s as u64 + 1) * 240_000);
            }
        }
        year.push(OpBody::Entry(
            EntryId::new_v7(t0),
            EntryOp::Activity(Activity {
                volunteer: butler,
                grid: cell,
                activity: "patrol".into(),
                start_ms: t0 + 9 * 3_600_000,
                end_ms: t0 + 11 * 3_600_000,
                notes: "巡逻".into(),
            }),
        ));
        year_times.push(t0 + 11 * 3_600_000);
    }
    let year_ops = year.len();
    // A second console device, whose clock has seen nothing yet, so it follows the given past times.
    let mut archive = Console::login(&server.base, ADMIN_PASSWORD);
    archive.write_at(year_times.into_iter().zip(year).collect());
    let e = console.enrol(worker, "new phone");
    let new_dir = tempfile::tempdir().expect("dir");
    let mut fresh = Phone::open(new_dir.path(), "new-worker", e, &server.base);
    let started = Instant::now();
    fresh.bootstrap().expect("bootstrap");
    let bootstrap = started.elapsed();
    let snapshot_bytes = fresh.wire.received;
    fresh.sync().expect("sync after bootstrap");
    let ready = started.elapsed();
    let tickets = fresh.state().tickets().len();

    println!();
    println!(
        "| whole flow: {n_phones} phones × {n_ops} offline ops, {clients} client threads, 1 server (SQLite) | |"
    );
    println!("| --- | --- |");
    println!("| ops pushed | {total_ops} |");
    println!(
        "| total sync time (push + own pull) | {:.2} s |",
        push.as_secs_f64()
    );
    println!(
        "| throughput | {:.0} ops/s |",
        total_ops as f64 / push.as_secs_f64()
    );
    println!(
        "| `POST /v1/sync` latency p50 / p99 | {:.1} ms / {:.1} ms |",
        pct(&latencies, 0.5).as_secs_f64() * 1e3,
        pct(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "| request bytes on the wire per op (gzip) | {:.0} B |",
        sent as f64 / total_ops as f64
    );
    println!(
        "| answer bytes on the wire per op (gzip) | {:.0} B |",
        received as f64 / total_ops as f64
    );
    println!(
        "| time to converge (all phones again + admin replica pulls {visits} ops) | {:.2} s (admin pull {:.2} s) |",
        converge.as_secs_f64(),
        office_pull.as_secs_f64()
    );
    println!(
        "| bootstrap of {n_phones} fresh phones (before the day) | {:.2} s |",
        boot.as_secs_f64()
    );
    println!(
        "| new grid worker phone, cell with a year of history ({year_ops} ops, {tickets} tickets): snapshot | {:.0} ms, {:.0} KiB gzip |",
        bootstrap.as_secs_f64() * 1e3,
        snapshot_bytes as f64 / 1024.0
    );
    println!(
        "| … snapshot + first sync, ready to work | {:.0} ms |",
        ready.as_secs_f64() * 1e3
    );
}

/// Runs this benchmark again with `LINLI_BIN` set, so the harness starts the release server.
fn rerun_with_bin(bin: &std::path::Path) {
    // `std::env::set_var` is unsafe in edition 2024 and the workspace forbids unsafe code: re-exec instead.
    let status = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(std::env::args().skip(1))
        .env("LINLI_BIN", bin)
        .status()
        .expect("re-run with LINLI_BIN");
    std::process::exit(status.code().unwrap_or(1));
}
