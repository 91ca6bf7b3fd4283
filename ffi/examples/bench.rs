//! Benchmark: recording a door-knock visit offline (validation, op append, view update, durable commit) against a
//! plain rusqlite insert of the same visit as one row of one table, interleaved in the same run on the same disk,
//! with the same durability (WAL, `synchronous = FULL`). Prints p50/p99 per write, their ratio, the bytes each visit
//! adds to the file (op log and view included), and the stripped size of the release cdylib if it was built.
//!
//! `cargo run --release -p linli-ffi --example bench [visits]` (after `cargo build --profile mobile -p linli-ffi`
//! for the size of the shipping library).

use linli_ffi::store::Store;
use linli_ffi::{DeviceIdentity, Role, VisitInput};
use linli_sync_core::prelude::{
    DriftPolicy, GridId, GridOp, Hlc, HlcClock, Household, HouseholdId, MemberRole, OpBody,
    PROTOCOL_VERSION, ReplicaId, SyncResponse, UserId, Writer,
};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOUSEHOLDS: usize = 50;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let visits: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(2000);
    let dir = std::env::temp_dir().join(format!("linli-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };

    // A grid cell with 50 elderly households assigned to one micro-butler, as a sync answer would bring it.
    let butler = UserId::random();
    let grid = GridId::random();
    let households: Vec<HouseholdId> = (0..HOUSEHOLDS).map(|_| HouseholdId::random()).collect();
    let mut admin = Writer::new(
        ReplicaId::random(),
        UserId::random(),
        HlcClock::new(DriftPolicy::DEFAULT),
    );
    let t = now() - 60_000;
    let mut ops = vec![
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
                    user: butler,
                    role: MemberRole::Butler,
                },
            ),
        ),
    ];
    for (i, h) in households.iter().enumerate() {
        ops.push(admin.op(
            t,
            OpBody::Grid(
                grid,
                GridOp::AddHousehold {
                    household: *h,
                    details: Household {
                        building: format!("{}", i % 10 + 1),
                        unit: "1".into(),
                        room: format!("{}", 101 + i),
                        elderly_alone: true,
                        contact_name: None,
                    },
                },
            ),
        ));
        ops.push(admin.op(
            t,
            OpBody::Grid(
                grid,
                GridOp::AssignVisit {
                    household: *h,
                    butler,
                },
            ),
        ));
    }
    let answer = serde_json::to_vec(&SyncResponse {
        protocol: PROTOCOL_VERSION,
        acked: vec![],
        ops,
        cursor: 1,
        has_more: false,
        server_time: Hlc::at(t),
    })?;
    let replica_path = dir.join("replica.db");
    let identity = DeviceIdentity {
        device_id: ReplicaId::random().to_string(),
        user_id: butler.to_string(),
        role: Role::Volunteer,
    };
    let mut store = Store::open(&replica_path, &identity)?;
    store.apply_sync_response(now(), &answer)?;

    let plain_path = dir.join("plain.db");
    let plain = Connection::open(&plain_path)?;
    plain.pragma_update(None, "journal_mode", "WAL")?;
    plain.pragma_update(None, "synchronous", "FULL")?;
    plain.execute_batch(
        "CREATE TABLE visit (id TEXT PRIMARY KEY, volunteer TEXT NOT NULL, grid TEXT NOT NULL,
             household TEXT NOT NULL, seen INTEGER NOT NULL, at_ms INTEGER NOT NULL, notes TEXT NOT NULL)",
    )?;

    let replica_before = used_bytes(store.conn())?;
    let plain_before = used_bytes(&plain)?;
    let (mut replica_times, mut plain_times) =
        (Vec::with_capacity(visits), Vec::with_capacity(visits));
    for i in 0..visits {
        let household = households[i % HOUSEHOLDS];
        let input = VisitInput {
            grid_id: grid.to_string(),
            household_id: household.to_string(),
            seen: i % 4 != 0,
            health: None,
            needs: vec![],
            notes: String::new(),
        };
        let started = Instant::now();
        store.record_visit(now(), &input)?;
        replica_times.push(started.elapsed());

        let started = Instant::now();
        plain.execute(
            "INSERT INTO visit (id, volunteer, grid, household, seen, at_ms, notes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![uuid::Uuid::now_v7().to_string(), butler.to_string(), grid.to_string(),
                    household.to_string(), i % 4 != 0, now() as i64, ""],
        )?;
        plain_times.push(started.elapsed());
    }
    let replica_bytes = used_bytes(store.conn())? - replica_before;
    let plain_bytes = used_bytes(&plain)? - plain_before;

    let (r50, r99) = percentiles(&mut replica_times);
    let (p50, p99) = percentiles(&mut plain_times);
    println!("visits recorded: {visits} (each its own durable transaction; WAL, synchronous=FULL)");
    println!("| write | p50 | p99 | bytes per visit |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| replica: record_visit (validate + op log + view) | {} | {} | {} |",
        us(r50),
        us(r99),
        replica_bytes / visits as u64
    );
    println!(
        "| plain rusqlite INSERT of the same row | {} | {} | {} |",
        us(p50),
        us(p99),
        plain_bytes / visits as u64
    );
    println!(
        "| ratio replica / plain | {:.2}x | {:.2}x | |",
        ratio(r50, p50),
        ratio(r99, p99)
    );
    match stripped_cdylib_size(&dir) {
        Some((profile, bytes)) => println!(
            "stripped liblinli_ffi.so ({profile} profile): {bytes} bytes ({:.2} MB)",
            bytes as f64 / 1e6
        ),
        None => println!(
            "stripped liblinli_ffi.so: not measured (run `cargo build --profile mobile -p linli-ffi` first)"
        ),
    }
    drop(store);
    let started = Instant::now();
    let reopened = Store::open(&replica_path, &identity)?;
    let open_time = started.elapsed();
    println!(
        "reopening the replica ({} ops replayed into the state): {}",
        visits + 2 + 2 * HOUSEHOLDS,
        us(open_time)
    );
    drop(reopened);
    drop(plain);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Bytes of pages in use, after folding the WAL into the file.
fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free) * size) as u64)
}

fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// The stripped size of the shipping cdylib: `target/mobile` (`--profile mobile`, already stripped) if built, else a
/// stripped copy of `target/release`'s. Returns the profile measured and the size.
fn stripped_cdylib_size(dir: &Path) -> Option<(&'static str, u64)> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    for profile in ["mobile", "release"] {
        let lib = target.join(profile).join("liblinli_ffi.so");
        if !lib.exists() {
            continue;
        }
        let copy = dir.join(format!("liblinli_ffi.{profile}.so"));
        let stripped = Command::new("strip")
            .arg("-o")
            .arg(&copy)
            .arg(&lib)
            .status()
            .ok()?
            .success();
        if stripped {
            return std::fs::metadata(&copy).ok().map(|m| (profile, m.len()));
        }
    }
    None
}
