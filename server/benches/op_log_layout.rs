//! Candidate on-disk layouts of the op log (and of the visits report table) for issue 11's lean op log (target
//! ≤ 400 bytes per op on disk, ingest not slower), measured on the rows of one community-year
//! (`test_support::community_year`: 217,687 ops, 182,500 of them visits). A measurement of layouts in plain
//! rusqlite on a temporary file, not of the server's code: each layout gets a fresh file with the server's pragmas
//! (WAL, `synchronous = FULL`), its rows inserted with one prepared statement in commits of 1,000 rows (the sync
//! path's batch), timed; then a full WAL checkpoint and `VACUUM`, and the file size per op. Bodies are encoded
//! before the clock starts; the encoding cost per op is printed apart. The physical reference, measured in the same
//! run on the same disk: the same number of fixed-size rows (an integer key and 16 bytes) inserted the same way.
//!
//! Run: `cargo bench -p linli-server --bench op_log_layout`.

use linli_sync_core::prelude::*;
use linli_sync_core::test_support::community_year;
use rusqlite::{Connection, ToSql, params_from_iter};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// One op, as every layout may want it.
struct Row {
    seq: i64,
    id: Uuid,
    replica: Uuid,
    author: Uuid,
    kind: &'static str,
    kind_code: i64,
    entity: Uuid,
    grid: Option<Uuid>,
    wall: i64,
    logical: i64,
    received: i64,
    /// The canonical JSON, as stored today.
    json: String,
    /// The canonical JSON without the members the columns hold (`id`, `replica`, `author`, `kind`, `entity`,
    /// `time`): the body, the format version and any unknown members.
    lean_json: String,
    /// `lean_json`'s value as MessagePack.
    lean_msgpack: Vec<u8>,
    /// `lean_json` compressed by zstd with a dictionary trained on 20,000 rows (every 11th).
    lean_zstd: Vec<u8>,
}

/// A visit's report row.
struct VisitRow {
    entry: Uuid,
    volunteer: Uuid,
    grid: Uuid,
    household: Uuid,
    seen: bool,
    visited_ms: i64,
}

const PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -32768;";

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let device = Uuid::from_u128(0xde71_ce00_0000_4000_8000_0000_0000_0001);
    let ops = community_year(1_735_660_800_000, 365);
    let (rows, visits, encode_costs) = rows(&ops, device);
    println!(
        "{} ops ({} visits); encoding per op, beside the canonical JSON the server already has: {}",
        rows.len(),
        visits.len(),
        encode_costs
    );
    println!();

    type Bind = fn(&Row) -> Vec<Box<dyn ToSql>>;
    let layouts: Vec<(&str, String, Bind)> = vec![
        (
            "today: TEXT ids, canonical JSON, AUTOINCREMENT, UNIQUE op_id",
            op_log("TEXT", "TEXT", "TEXT", true, false),
            |r| {
                vec![
                    Box::new(r.seq),
                    Box::new(r.id.to_string()),
                    Box::new(r.replica.to_string()),
                    Box::new(r.author.to_string()),
                    Box::new(r.kind),
                    Box::new(r.entity.to_string()),
                    Box::new(r.grid.map(|g| g.to_string())),
                    Box::new(r.wall),
                    Box::new(r.logical),
                    Box::new(r.received),
                    Box::new(r.json.clone()),
                ]
            },
        ),
        (
            "16-byte BLOB ids, canonical JSON",
            op_log("BLOB", "TEXT", "TEXT", true, false),
            |r| {
                let mut v = blob_columns(r);
                v.push(Box::new(r.json.clone()));
                v
            },
        ),
        (
            "BLOB ids, body without the columns (JSON)",
            op_log("BLOB", "TEXT", "TEXT", true, false),
            |r| {
                let mut v = blob_columns(r);
                v.push(Box::new(r.lean_json.clone()));
                v
            },
        ),
        (
            "BLOB ids, lean body as MessagePack",
            op_log("BLOB", "TEXT", "BLOB", true, false),
            |r| {
                let mut v = blob_columns(r);
                v.push(Box::new(r.lean_msgpack.clone()));
                v
            },
        ),
        (
            "BLOB ids, lean JSON body, zstd with a trained dictionary",
            op_log("BLOB", "TEXT", "BLOB", true, false),
            |r| {
                let mut v = blob_columns(r);
                v.push(Box::new(r.lean_zstd.clone()));
                v
            },
        ),
        (
            "BLOB ids, lean JSON, kind as a 1-byte code, no AUTOINCREMENT",
            op_log("BLOB", "INTEGER", "TEXT", false, false),
            |r| {
                let mut v = blob_columns(r);
                v[4] = Box::new(r.kind_code);
                v.push(Box::new(r.lean_json.clone()));
                v
            },
        ),
        (
            "the same, WITHOUT ROWID (seq the primary key)",
            op_log("BLOB", "INTEGER", "TEXT", false, true),
            |r| {
                let mut v = blob_columns(r);
                v[4] = Box::new(r.kind_code);
                v.push(Box::new(r.lean_json.clone()));
                v
            },
        ),
        (
            "BLOB ids, lean zstd body, kind code, no AUTOINCREMENT",
            op_log("BLOB", "INTEGER", "BLOB", false, false),
            |r| {
                let mut v = blob_columns(r);
                v[4] = Box::new(r.kind_code);
                v.push(Box::new(r.lean_zstd.clone()));
                v
            },
        ),
    ];

    let (raw_time, raw_bytes) = measure(
        &dir.path().join("raw.sqlite3"),
        "CREATE TABLE raw (seq INTEGER PRIMARY KEY NOT NULL, b BLOB NOT NULL)",
        "INSERT INTO raw VALUES (?1, ?2)",
        rows.len(),
        |i| vec![Box::new(i as i64 + 1), Box::new([0xa5u8; 16].to_vec())],
    );
    let raw_rate = rows.len() as f64 / raw_time.as_secs_f64();
    println!(
        "reference: {} fixed-size rows (integer key + 16 bytes) in {:.2} s: {:.0} rows/s, {:.0} bytes/row",
        rows.len(),
        raw_time.as_secs_f64(),
        raw_rate,
        raw_bytes as f64 / rows.len() as f64
    );
    println!();
    println!("| op_log layout | bytes/op on disk | insert | ops/s | ÷ fixed-size rows |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (i, (name, create, bind)) in layouts.iter().enumerate() {
        let (time, bytes) = measure(
            &dir.path().join(format!("op_log_{i}.sqlite3")),
            create,
            OP_LOG_INSERT,
            rows.len(),
            |k| bind(&rows[k]),
        );
        let rate = rows.len() as f64 / time.as_secs_f64();
        println!(
            "| {name} | {:.0} | {:.2} s | {:.0} | {:.2} |",
            bytes as f64 / rows.len() as f64,
            time.as_secs_f64(),
            rate,
            rate / raw_rate
        );
    }

    type BindVisit = fn(&VisitRow) -> Vec<Box<dyn ToSql>>;
    let visit_layouts: Vec<(&str, &str, &str, BindVisit)> = vec![
        (
            "today: TEXT ids, WITHOUT ROWID, index (grid, visited_ms)",
            "CREATE TABLE visits (entry_id TEXT PRIMARY KEY NOT NULL, volunteer TEXT NOT NULL, grid TEXT NOT NULL, \
             household TEXT NOT NULL, seen BOOLEAN NOT NULL, health TEXT, follow_up TEXT, visited_ms BIGINT NOT NULL, \
             voided BOOLEAN NOT NULL) WITHOUT ROWID; CREATE INDEX visits_grid_time ON visits (grid, visited_ms)",
            "INSERT INTO visits VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, 0)",
            |v| {
                vec![
                    Box::new(v.entry.to_string()),
                    Box::new(v.volunteer.to_string()),
                    Box::new(v.grid.to_string()),
                    Box::new(v.household.to_string()),
                    Box::new(v.seen),
                    Box::new(v.visited_ms),
                ]
            },
        ),
        (
            "16-byte BLOB ids, WITHOUT ROWID, index (grid, visited_ms)",
            "CREATE TABLE visits (entry_id BLOB PRIMARY KEY NOT NULL, volunteer BLOB NOT NULL, grid BLOB NOT NULL, \
             household BLOB NOT NULL, seen BOOLEAN NOT NULL, health TEXT, follow_up BLOB, visited_ms BIGINT NOT NULL, \
             voided BOOLEAN NOT NULL) WITHOUT ROWID; CREATE INDEX visits_grid_time ON visits (grid, visited_ms)",
            "INSERT INTO visits VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, 0)",
            |v| {
                vec![
                    Box::new(v.entry.as_bytes().to_vec()),
                    Box::new(v.volunteer.as_bytes().to_vec()),
                    Box::new(v.grid.as_bytes().to_vec()),
                    Box::new(v.household.as_bytes().to_vec()),
                    Box::new(v.seen),
                    Box::new(v.visited_ms),
                ]
            },
        ),
        (
            "BLOB ids, keyed (grid, visited_ms, entry_id): the report's index is the table",
            "CREATE TABLE visits (grid BLOB NOT NULL, visited_ms BIGINT NOT NULL, entry_id BLOB NOT NULL UNIQUE, \
             volunteer BLOB NOT NULL, household BLOB NOT NULL, seen BOOLEAN NOT NULL, health TEXT, follow_up BLOB, \
             voided BOOLEAN NOT NULL, PRIMARY KEY (grid, visited_ms, entry_id)) WITHOUT ROWID",
            "INSERT INTO visits VALUES (?3, ?6, ?1, ?2, ?4, ?5, NULL, NULL, 0)",
            |v| {
                vec![
                    Box::new(v.entry.as_bytes().to_vec()),
                    Box::new(v.volunteer.as_bytes().to_vec()),
                    Box::new(v.grid.as_bytes().to_vec()),
                    Box::new(v.household.as_bytes().to_vec()),
                    Box::new(v.seen),
                    Box::new(v.visited_ms),
                ]
            },
        ),
    ];
    println!();
    println!("| visits layout | bytes/visit on disk | bytes/op (all ops) | insert | rows/s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (i, (name, create, insert, bind)) in visit_layouts.iter().enumerate() {
        let (time, bytes) = measure(
            &dir.path().join(format!("visits_{i}.sqlite3")),
            create,
            insert,
            visits.len(),
            |k| bind(&visits[k]),
        );
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} s | {:.0} |",
            bytes as f64 / visits.len() as f64,
            bytes as f64 / rows.len() as f64,
            time.as_secs_f64(),
            visits.len() as f64 / time.as_secs_f64()
        );
    }
}

/// Every op-log layout's insert: the columns in today's order.
const OP_LOG_INSERT: &str =
    "INSERT INTO op_log VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// Today's op-log columns with the ids' type `ids` (`TEXT` or `BLOB`), the kind's `kind` and the body's `body`;
/// `seq` with or without `AUTOINCREMENT`, the table with or without a rowid.
fn op_log(ids: &str, kind: &str, body: &str, autoincrement: bool, without_rowid: bool) -> String {
    format!(
        "CREATE TABLE op_log (seq INTEGER PRIMARY KEY {} NOT NULL, op_id {ids} NOT NULL UNIQUE, \
         device_id {ids} NOT NULL, author {ids} NOT NULL, kind {kind} NOT NULL, entity {ids} NOT NULL, grid {ids}, \
         hlc_wall_ms BIGINT NOT NULL, hlc_logical BIGINT NOT NULL, received_ms BIGINT NOT NULL, body {body} NOT NULL){}",
        if autoincrement { "AUTOINCREMENT" } else { "" },
        if without_rowid { " WITHOUT ROWID" } else { "" },
    )
}

/// The columns before the body, ids as 16-byte blobs.
fn blob_columns(r: &Row) -> Vec<Box<dyn ToSql>> {
    vec![
        Box::new(r.seq),
        Box::new(r.id.as_bytes().to_vec()),
        Box::new(r.replica.as_bytes().to_vec()),
        Box::new(r.author.as_bytes().to_vec()),
        Box::new(r.kind),
        Box::new(r.entity.as_bytes().to_vec()),
        Box::new(r.grid.map(|g| g.as_bytes().to_vec())),
        Box::new(r.wall),
        Box::new(r.logical),
        Box::new(r.received),
    ]
}

/// Creates `path` with `create`, inserts `n` rows (`bind(k)` for row k) with `insert` in commits of 1,000, and
/// returns the time the inserts took and the file's size after a full checkpoint and `VACUUM`.
fn measure(
    path: &Path,
    create: &str,
    insert: &str,
    n: usize,
    bind: impl Fn(usize) -> Vec<Box<dyn ToSql>>,
) -> (Duration, u64) {
    let mut conn = Connection::open(path).expect("open");
    conn.execute_batch(PRAGMAS).expect("pragmas");
    conn.execute_batch(create).expect("create");
    let params: Vec<Vec<Box<dyn ToSql>>> = (0..n).map(bind).collect();
    let started = Instant::now();
    for chunk in params.chunks(1000) {
        let tx = conn.transaction().expect("begin");
        {
            let mut stmt = tx.prepare_cached(insert).expect("prepare");
            for p in chunk {
                stmt.execute(params_from_iter(p.iter())).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    let time = started.elapsed();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("vacuum");
    drop(conn);
    (time, std::fs::metadata(path).expect("size").len())
}

/// Every op's row in every encoding, the visits' report rows, and what each encoding cost per op.
fn rows(ops: &[Op], device: Uuid) -> (Vec<Row>, Vec<VisitRow>, String) {
    let mut grid_of: HashMap<Uuid, Uuid> = HashMap::new();
    let mut kinds: HashMap<&'static str, i64> = HashMap::new();
    let mut visits = Vec::new();
    let mut rows = Vec::with_capacity(ops.len());
    let mut lean_cost = Duration::ZERO;
    let mut msgpack_cost = Duration::ZERO;
    for (i, op) in ops.iter().enumerate() {
        let mut op = op.clone();
        op.replica = ReplicaId(device);
        let entity = op.body.entity_id();
        let grid = match &op.body {
            OpBody::Grid(g, _) => Some(g.0),
            OpBody::Ticket(_, TicketOp::Create(c)) => Some(c.grid.0),
            OpBody::Entry(_, EntryOp::Visit(v)) => Some(v.grid.0),
            OpBody::Entry(_, EntryOp::Activity(a)) => Some(a.grid.0),
            _ => grid_of.get(&entity).copied(),
        };
        if let Some(g) = grid {
            grid_of.insert(entity, g);
        }
        if let OpBody::Entry(id, EntryOp::Visit(v)) = &op.body {
            visits.push(VisitRow {
                entry: id.0,
                volunteer: v.volunteer.0,
                grid: v.grid.0,
                household: v.household.0,
                seen: v.seen,
                visited_ms: i64::try_from(op.time.wall_ms).expect("ms"),
            });
        }
        let kind = op.kind().as_str();
        let next = kinds.len() as i64;
        let kind_code = *kinds.entry(kind).or_insert(next);
        let json = op.to_json();
        let started = Instant::now();
        let mut value: Value = serde_json::from_str(&json).expect("json");
        if let Value::Object(o) = &mut value {
            for k in ["id", "replica", "author", "kind", "entity", "time"] {
                o.remove(k);
            }
        }
        let lean_json = value.to_string();
        lean_cost += started.elapsed();
        let started = Instant::now();
        let lean_msgpack = rmp_serde::to_vec(&value).expect("msgpack");
        msgpack_cost += started.elapsed();
        rows.push(Row {
            seq: i as i64 + 1,
            id: op.id.0,
            replica: op.replica.0,
            author: op.author.0,
            kind,
            kind_code,
            entity,
            grid,
            wall: i64::try_from(op.time.wall_ms).expect("ms"),
            logical: i64::from(op.time.logical),
            received: i64::try_from(op.time.wall_ms).expect("ms") + 3_600_000,
            json,
            lean_json,
            lean_msgpack,
            lean_zstd: Vec::new(),
        });
    }
    // Every 11th row, so the sample holds visits, tickets and activities alike (the log starts with a year of visits).
    let samples: Vec<&[u8]> = rows
        .iter()
        .step_by(11)
        .take(20_000)
        .map(|r| r.lean_json.as_bytes())
        .collect();
    let dict = zstd::dict::from_samples(&samples, 16 * 1024).expect("dictionary");
    let mut compressor = zstd::bulk::Compressor::with_dictionary(3, &dict).expect("compressor");
    let started = Instant::now();
    for r in &mut rows {
        r.lean_zstd = compressor.compress(r.lean_json.as_bytes()).expect("zstd");
    }
    let zstd_cost = started.elapsed();
    let mut decompressor = zstd::bulk::Decompressor::with_dictionary(&dict).expect("decompressor");
    let started = Instant::now();
    for r in &rows {
        let back = decompressor
            .decompress(&r.lean_zstd, 1 << 16)
            .expect("unzstd");
        assert_eq!(back, r.lean_json.as_bytes());
    }
    let unzstd_cost = started.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e9 / ops.len() as f64;
    let costs = format!(
        "stripping the columns' members {:.0} ns (parse + write), MessagePack {:.0} ns, zstd with a {} KB dictionary {:.0} ns (inflating it back {:.0} ns)",
        per(lean_cost),
        per(msgpack_cost),
        dict.len() / 1024,
        per(zstd_cost),
        per(unzstd_cost)
    );
    (rows, visits, costs)
}
