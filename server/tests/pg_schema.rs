//! The PostgreSQL migrations reach the same logical schema as the SQLite ones (issue 12, item 1): both are run on
//! fresh databases — a new PostgreSQL database on the local server (`LINLI_TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, created here and dropped at the end) and a new SQLite file opened
//! by the server's own `db::open` — and their catalogues read into one model: per table, its columns (name,
//! normalised type, nullability, default, whether the database numbers new rows), primary key, unique column sets,
//! indexes by name and foreign keys. The migrations that convert rows convert the same rows to the same rows on both
//! (and back again on the way down). The PostgreSQL migrations also run down to nothing and up again, and a TLS
//! connection (`sslmode=require`) to the same server works.
#![cfg(feature = "postgres")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_migrations::MigrationHarness;
use linli_server::db::{self, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::community_year;

#[test]
fn both_backends_reach_the_same_schema() {
    let pg = TempPgDatabase::create();
    db::migrate_postgres(&pg.url).expect("PostgreSQL migrations");
    let mut conn = PgConnection::establish(&pg.url).expect("connect");
    let postgres = postgres_schema(&mut conn);
    assert_same(&sqlite_schema(), &postgres);
}

#[test]
fn every_postgres_migration_runs_down_and_up_again() {
    let pg = TempPgDatabase::create();
    let mut conn = PgConnection::establish(&pg.url).expect("connect");
    let up = conn
        .run_pending_migrations(POSTGRES_MIGRATIONS)
        .expect("up")
        .len();
    let sqlite_count =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite"))
            .expect("migrations/sqlite")
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
            .count();
    assert_eq!(up, sqlite_count, "one PostgreSQL migration per SQLite one");
    let down = conn
        .revert_all_migrations(POSTGRES_MIGRATIONS)
        .expect("down")
        .len();
    assert_eq!(down, up);
    let left = postgres_schema(&mut conn);
    assert!(
        left.is_empty(),
        "every table dropped: {:?}",
        left.keys().collect::<Vec<_>>()
    );
    conn.run_pending_migrations(POSTGRES_MIGRATIONS)
        .expect("up again");
    assert_same(&sqlite_schema(), &postgres_schema(&mut conn));
}

#[test]
fn a_tls_connection_with_sslmode_require_works() {
    let url = admin_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut conn =
        PgConnection::establish(&format!("{url}{sep}sslmode=require")).expect("TLS connection");
    #[derive(QueryableByName)]
    struct Tls {
        #[diesel(sql_type = BigInt)]
        one: i64,
        #[diesel(sql_type = Bool)]
        ssl: bool,
    }
    let row: Tls = diesel::sql_query(
        "SELECT CAST(1 AS BIGINT) AS one, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .get_result(&mut conn)
    .expect("SELECT 1");
    assert_eq!((row.one, row.ssl), (1, true), "the connection is encrypted");
}

/// The first migration of the multi-community schema: the rows below are written as the release before it wrote
/// them.
const FIRST_NEW: &str = "2026-12-02-000000_communities";

/// The same rows of the single-community release's schema, upgraded by each backend's migrations, are the same rows
/// (op log ids as bytes, bodies by format, the replica column, visits' ids, household claims, dues by community,
/// the head row); and the way down gives back what was written, on both.
#[test]
fn both_backends_upgrade_the_same_rows_to_the_same_rows() {
    let old = old_rows();
    let pg = TempPgDatabase::create();
    let mut postgres = PgConnection::establish(&pg.url).expect("connect");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("linli.sqlite3");
    let mut sqlite = SqliteConnection::establish(&path.to_string_lossy()).expect("open");
    // The lean op log's way down calls the server's `linli_inflate_body`.
    db::sqlite::register_functions(&mut sqlite).expect("the server's SQL functions");

    while next_pending(sqlite.pending_migrations(SQLITE_MIGRATIONS)).as_str() < FIRST_NEW {
        sqlite
            .run_next_migration(SQLITE_MIGRATIONS)
            .expect("SQLite");
    }
    while next_pending(postgres.pending_migrations(POSTGRES_MIGRATIONS)).as_str() < FIRST_NEW {
        postgres
            .run_next_migration(POSTGRES_MIGRATIONS)
            .expect("PostgreSQL");
    }
    sqlite
        .transaction(|c| c.batch_execute(&old))
        .expect("old rows into SQLite");
    postgres
        .transaction(|c| c.batch_execute(&old))
        .expect("old rows into PostgreSQL");
    let before_sqlite = contents(&mut sqlite, &SQLITE_OLD);
    assert_same_rows(
        "as written",
        &before_sqlite,
        &contents(&mut postgres, &POSTGRES_OLD),
    );

    sqlite
        .run_pending_migrations(SQLITE_MIGRATIONS)
        .expect("SQLite up");
    postgres
        .run_pending_migrations(POSTGRES_MIGRATIONS)
        .expect("PostgreSQL up");
    let upgraded = contents(&mut sqlite, &SQLITE_NEW);
    assert_same_rows(
        "upgraded",
        &upgraded,
        &contents(&mut postgres, &POSTGRES_NEW),
    );
    let formats: BTreeSet<&str> = upgraded[0]
        .iter()
        .map(|l| l.split('|').nth(12).expect("format"))
        .collect();
    assert_eq!(
        formats,
        BTreeSet::from(["0", "1"]),
        "lean rows and whole-JSON rows both converted"
    );
    assert!(
        upgraded[0].iter().any(|l| l.split('|').nth(4) != Some("-")),
        "a replica other than the pushing device is kept"
    );

    loop {
        let v = sqlite
            .revert_last_migration(SQLITE_MIGRATIONS)
            .expect("SQLite down")
            .to_string();
        let w = postgres
            .revert_last_migration(POSTGRES_MIGRATIONS)
            .expect("PostgreSQL down")
            .to_string();
        assert_eq!(v, w, "the same migration reverted");
        if v == FIRST_NEW
            .split('_')
            .next()
            .expect("version")
            .replace('-', "")
        {
            break;
        }
    }
    assert_same_rows(
        "SQLite, down again",
        &before_sqlite,
        &contents(&mut sqlite, &SQLITE_OLD),
    );
    assert_same_rows(
        "PostgreSQL, down again",
        &before_sqlite,
        &contents(&mut postgres, &POSTGRES_OLD),
    );
}

/// Asserts that two sets of tables hold the same rows, naming the first row that differs in each table.
fn assert_same_rows(when: &str, sqlite: &[Vec<String>], postgres: &[Vec<String>]) {
    let mut diff = String::new();
    for (i, (s, p)) in sqlite.iter().zip(postgres).enumerate() {
        if s.len() != p.len() {
            diff.push_str(&format!("  query {i}: {} rows vs {}\n", s.len(), p.len()));
        }
        if let Some((a, b)) = s.iter().zip(p).find(|(a, b)| a != b) {
            diff.push_str(&format!(
                "  query {i}, first difference:\n    {a}\n    {b}\n"
            ));
        }
    }
    assert!(
        sqlite.len() == postgres.len() && diff.is_empty(),
        "{when}:\n{diff}"
    );
}

/// The name of the first pending migration, or one that sorts after every name.
fn next_pending<T>(
    pending: Result<Vec<Box<dyn diesel::migration::Migration<T>>>, impl std::fmt::Debug>,
) -> String
where
    T: diesel::backend::Backend,
{
    pending
        .expect("pending migrations")
        .first()
        .map_or_else(|| "~".to_string(), |m| m.name().to_string())
}

/// The rows of the release before communities, as plain SQL both backends read: a week of a community's ops (every
/// 97th pushed by the server's own device, one from a newer phone with an unknown top-level member), its visits,
/// dues and payments.
fn old_rows() -> String {
    fn q(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }
    let mut ops = community_year(1_790_000_000_000, 7);
    ops.truncate(1_500);
    ops[5]
        .unknown
        .envelope
        .insert("zone".into(), serde_json::Value::from("东区 3"));
    let mut sql = String::new();
    let mut households = Vec::new();
    for (seq, op) in (1u64..).zip(&ops) {
        let pushed_by = if seq % 97 == 0 {
            ReplicaId::SERVER
        } else {
            op.replica
        };
        match &op.body {
            OpBody::Entry(entry, EntryOp::Visit(v)) => sql.push_str(&format!(
                "INSERT INTO visits VALUES ({}, {}, {}, {}, {}, NULL, {}, {}, FALSE);\n",
                q(&entry.to_string()),
                q(&v.volunteer.to_string()),
                q(&v.grid.to_string()),
                q(&v.household.to_string()),
                if v.seen { "TRUE" } else { "FALSE" },
                v.follow_up
                    .map_or("NULL".to_string(), |t| q(&t.to_string())),
                op.time.wall_ms,
            )),
            OpBody::Grid(_, GridOp::AddHousehold { household, .. }) => households.push(*household),
            _ => {}
        }
        sql.push_str(&format!(
            "INSERT INTO op_log (seq, op_id, device_id, author, kind, entity, grid, hlc_wall_ms, hlc_logical, \
             received_ms, body) VALUES ({seq}, {}, {}, {}, {}, {}, {}, {}, {}, {seq}, {});\n",
            q(&op.id.to_string()),
            q(&pushed_by.to_string()),
            q(&op.author.to_string()),
            q(op.kind().as_str()),
            q(&op.body.entity_id().to_string()),
            if seq % 5 == 0 {
                q(&op.body.entity_id().to_string())
            } else {
                "NULL".to_string()
            },
            op.time.wall_ms,
            op.time.logical,
            q(&op.to_json()),
        ));
    }
    assert!(
        households.len() > 4 && sql.contains("INSERT INTO visits"),
        "households and visits among the ops"
    );
    for (i, h) in households.iter().enumerate() {
        if i % 2 == 0 {
            sql.push_str(&format!(
                "INSERT INTO fee_dues VALUES ('{h}', '2026-11', 12000, 5);\n"
            ));
        }
        if i % 3 == 0 {
            sql.push_str(&format!(
                "INSERT INTO fee_payments VALUES ('payment-{i}', '{h}', '2026-11', 12000, 'admin', 6);\n"
            ));
        }
    }
    sql
}

/// A query's rows, each as one line of text.
#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    a: String,
}

fn lines<C>(conn: &mut C, sql: &str) -> Vec<String>
where
    C: Connection,
    Line: QueryableByName<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Line>,
{
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|l| l.a)
        .collect()
}

/// The single-community release's op log and visits, in SQLite's and PostgreSQL's SQL.
const SQLITE_OLD: [&str; 2] = [
    "SELECT seq || '|' || op_id || '|' || device_id || '|' || author || '|' || kind || '|' || entity || '|' \
     || coalesce(grid, '-') || '|' || hlc_wall_ms || '|' || hlc_logical || '|' || received_ms || '|' || body AS a \
     FROM op_log ORDER BY seq",
    "SELECT entry_id || '|' || volunteer || '|' || grid || '|' || household || '|' || seen || '|' \
     || coalesce(follow_up, '-') || '|' || visited_ms || '|' || voided AS a FROM visits ORDER BY entry_id",
];
const POSTGRES_OLD: [&str; 2] = [
    SQLITE_OLD[0],
    "SELECT entry_id || '|' || volunteer || '|' || grid || '|' || household || '|' || seen::int || '|' \
     || coalesce(follow_up, '-') || '|' || visited_ms || '|' || voided::int AS a FROM visits ORDER BY entry_id",
];

/// The upgraded op log, visits, household claims, dues, head rows and maintenance tasks.
const SQLITE_NEW: [&str; 6] = [
    "SELECT community_id || '|' || seq || '|' || lower(hex(op_id)) || '|' || lower(hex(device_id)) || '|' \
     || CASE WHEN replica IS NULL THEN '-' ELSE lower(hex(replica)) END || '|' || lower(hex(author)) || '|' || kind || '|' \
     || lower(hex(entity)) || '|' || CASE WHEN grid IS NULL THEN '-' ELSE lower(hex(grid)) END || '|' || hlc_wall_ms || '|' || hlc_logical \
     || '|' || received_ms || '|' || format || '|' || lower(hex(body)) AS a FROM op_log ORDER BY community_id, seq",
    "SELECT lower(hex(entry_id)) || '|' || lower(hex(volunteer)) || '|' || lower(hex(grid)) || '|' \
     || lower(hex(household)) || '|' || seen || '|' || CASE WHEN follow_up IS NULL THEN '-' ELSE lower(hex(follow_up)) END || '|' || visited_ms \
     || '|' || voided || '|' || community_id AS a FROM visits ORDER BY entry_id",
    "SELECT household || '|' || community_id AS a FROM household_community ORDER BY household",
    "SELECT community_id || '|' || household || '|' || period || '|' || amount_fen || '|' || imported_ms AS a \
     FROM fee_dues ORDER BY community_id, household, period",
    "SELECT community_id || '|' || last_seq AS a FROM community_head ORDER BY community_id",
    "SELECT task AS a FROM maintenance ORDER BY task",
];
const POSTGRES_NEW: [&str; 6] = [
    "SELECT community_id || '|' || seq || '|' || encode(op_id, 'hex') || '|' || encode(device_id, 'hex') || '|' \
     || coalesce(encode(replica, 'hex'), '-') || '|' || encode(author, 'hex') || '|' || kind || '|' \
     || encode(entity, 'hex') || '|' || coalesce(encode(grid, 'hex'), '-') || '|' || hlc_wall_ms || '|' \
     || hlc_logical || '|' || received_ms || '|' || format || '|' || encode(body, 'hex') AS a \
     FROM op_log ORDER BY community_id, seq",
    "SELECT encode(entry_id, 'hex') || '|' || encode(volunteer, 'hex') || '|' || encode(grid, 'hex') || '|' \
     || encode(household, 'hex') || '|' || seen::int || '|' || coalesce(encode(follow_up, 'hex'), '-') || '|' \
     || visited_ms || '|' || voided::int || '|' || community_id AS a FROM visits ORDER BY entry_id",
    SQLITE_NEW[2],
    SQLITE_NEW[3],
    SQLITE_NEW[4],
    SQLITE_NEW[5],
];

/// Each query's rows.
fn contents<C>(conn: &mut C, queries: &[&str]) -> Vec<Vec<String>>
where
    C: Connection,
    Line: QueryableByName<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Line>,
{
    queries.iter().map(|q| lines(conn, q)).collect()
}

/// One table of the logical schema.
#[derive(Debug, Default, PartialEq)]
struct Table {
    /// In the table's order.
    columns: Vec<Column>,
    primary_key: Vec<String>,
    /// Unique constraints (not the primary key), each in its columns' order.
    uniques: BTreeSet<Vec<String>>,
    /// Indexes created by name (not those behind a key or unique constraint).
    indexes: BTreeMap<String, Index>,
    foreign_keys: BTreeSet<ForeignKey>,
}

#[derive(Debug, PartialEq)]
struct Column {
    name: String,
    /// `integer`, `text`, `blob`, `real` or `bool`.
    ty: String,
    not_null: bool,
    /// The default as written, without PostgreSQL's casts (`''::text` is `''`).
    default: Option<String>,
    /// Whether an insert that names no value gets the next number (SQLite's `INTEGER PRIMARY KEY` of a rowid table,
    /// PostgreSQL's identity column).
    numbered: bool,
}

#[derive(Debug, PartialEq)]
struct Index {
    columns: Vec<String>,
    unique: bool,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    columns: Vec<String>,
    table: String,
    references: Vec<String>,
}

type Schema = BTreeMap<String, Table>;

/// Asserts that the two schemas are equal, printing what only one of them has, fact by fact.
fn assert_same(sqlite: &Schema, postgres: &Schema) {
    let (s, p) = (facts(sqlite), facts(postgres));
    let only_sqlite: Vec<_> = s.difference(&p).collect();
    let only_postgres: Vec<_> = p.difference(&s).collect();
    let mut diff = String::new();
    for f in &only_sqlite {
        diff.push_str(&format!("  only in SQLite:     {f}\n"));
    }
    for f in &only_postgres {
        diff.push_str(&format!("  only in PostgreSQL: {f}\n"));
    }
    assert!(
        diff.is_empty(),
        "the two migration directories reach different schemas:\n{diff}"
    );
    // The facts are a complete rendering of the model; this holds them to it.
    assert_eq!(sqlite, postgres);
}

/// The schema as one line per fact, so that a difference reads as the lines only one side has.
fn facts(schema: &Schema) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (name, t) in schema {
        out.insert(format!("table {name}"));
        let order: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        out.insert(format!("{name}: columns in order ({})", order.join(", ")));
        for c in &t.columns {
            out.insert(format!(
                "{name}.{}: {}{}{}{}",
                c.name,
                c.ty,
                if c.not_null { " NOT NULL" } else { "" },
                c.default
                    .as_ref()
                    .map(|d| format!(" DEFAULT {d}"))
                    .unwrap_or_default(),
                if c.numbered { " numbered" } else { "" },
            ));
        }
        out.insert(format!(
            "{name}: PRIMARY KEY ({})",
            t.primary_key.join(", ")
        ));
        for u in &t.uniques {
            out.insert(format!("{name}: UNIQUE ({})", u.join(", ")));
        }
        for (i, idx) in &t.indexes {
            out.insert(format!(
                "{name}: {}INDEX {i} ({})",
                if idx.unique { "UNIQUE " } else { "" },
                idx.columns.join(", ")
            ));
        }
        for fk in &t.foreign_keys {
            out.insert(format!(
                "{name}: FOREIGN KEY ({}) REFERENCES {} ({})",
                fk.columns.join(", "),
                fk.table,
                fk.references.join(", ")
            ));
        }
    }
    out
}

/// A declared type in SQLite's affinity order, or PostgreSQL's `data_type`, as one of five kinds.
fn normalise_type(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    let kind = if t.contains("bool") {
        "bool"
    } else if t.contains("int") {
        "integer"
    } else if t.contains("char") || t.contains("clob") || t.contains("text") {
        "text"
    } else if t.contains("blob") || t == "bytea" {
        "blob"
    } else if t.contains("real")
        || t.contains("floa")
        || t.contains("doub")
        || t.contains("numeric")
    {
        "real"
    } else {
        panic!("a column type the model does not know: {declared}")
    };
    kind.to_string()
}

/// A default without PostgreSQL's trailing casts (`''::text`, `1::bigint`).
fn normalise_default(default: Option<String>) -> Option<String> {
    default.map(|d| match d.find("::") {
        Some(i) if !d[..i].contains('(') => d[..i].trim().to_string(),
        _ => d.trim().to_string(),
    })
}

fn sqlite_schema() -> Schema {
    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = Text)]
        tbl: String,
        #[diesel(sql_type = Text)]
        ddl: String,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        ty: String,
        #[diesel(sql_type = BigInt)]
        not_null: i64,
        #[diesel(sql_type = Nullable<Text>)]
        dflt: Option<String>,
        #[diesel(sql_type = BigInt)]
        pk: i64,
    }
    #[derive(QueryableByName)]
    struct Idx {
        #[diesel(sql_type = Text)]
        tbl: String,
        #[diesel(sql_type = Text)]
        idx: String,
        #[diesel(sql_type = BigInt)]
        uniq: i64,
        #[diesel(sql_type = Text)]
        origin: String,
        #[diesel(sql_type = Text)]
        col: String,
    }
    #[derive(QueryableByName)]
    struct Fk {
        #[diesel(sql_type = Text)]
        tbl: String,
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        ref_table: String,
        #[diesel(sql_type = Text)]
        col: String,
        #[diesel(sql_type = Nullable<Text>)]
        ref_col: Option<String>,
    }
    // The tables of the schema: not SQLite's own, nor diesel's record of the migrations run.
    const OURS: &str = "m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                        AND m.name <> '__diesel_schema_migrations'";

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("linli.sqlite3");
    let pool = db::open(&path.to_string_lossy(), 1).expect("SQLite migrations");
    let mut conn = pool.get().expect("connection");

    let cols: Vec<Col> = diesel::sql_query(format!(
        "SELECT m.name AS tbl, m.sql AS ddl, p.name AS name, p.type AS ty, p.\"notnull\" AS not_null, \
         p.dflt_value AS dflt, p.pk AS pk \
         FROM sqlite_master AS m, pragma_table_info(m.name) AS p WHERE {OURS} ORDER BY m.name, p.cid"
    ))
    .load(&mut conn)
    .expect("pragma_table_info");
    let mut schema = Schema::new();
    let mut pk_positions: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for c in cols {
        if c.pk > 0 {
            pk_positions
                .entry(c.tbl.clone())
                .or_default()
                .push((c.pk, c.name.clone()));
        }
        let rowid_table = !c.ddl.to_ascii_uppercase().contains("WITHOUT ROWID");
        schema
            .entry(c.tbl.clone())
            .or_default()
            .columns
            .push(Column {
                name: c.name,
                ty: normalise_type(&c.ty),
                not_null: c.not_null != 0,
                default: normalise_default(c.dflt),
                // Settled below, once the whole key is known: a rowid alias is the one `INTEGER` key column.
                numbered: rowid_table && c.pk > 0 && c.ty.eq_ignore_ascii_case("INTEGER"),
            });
    }
    for (tbl, mut key) in pk_positions {
        key.sort();
        let t = schema.get_mut(&tbl).expect("table");
        if key.len() > 1 {
            for c in &mut t.columns {
                c.numbered = false;
            }
        }
        t.primary_key = key.into_iter().map(|(_, n)| n).collect();
    }

    let idx: Vec<Idx> = diesel::sql_query(format!(
        "SELECT m.name AS tbl, l.name AS idx, l.\"unique\" AS uniq, l.origin AS origin, i.name AS col \
         FROM sqlite_master AS m, pragma_index_list(m.name) AS l, pragma_index_info(l.name) AS i \
         WHERE {OURS} ORDER BY m.name, l.name, i.seqno"
    ))
    .load(&mut conn)
    .expect("pragma_index_list");
    let mut indexes: BTreeMap<(String, String), (String, bool, Vec<String>)> = BTreeMap::new();
    for i in idx {
        indexes
            .entry((i.tbl, i.idx))
            .or_insert_with(|| (i.origin, i.uniq != 0, Vec::new()))
            .2
            .push(i.col);
    }
    for ((tbl, name), (origin, unique, columns)) in indexes {
        let t = schema.get_mut(&tbl).expect("table");
        match origin.as_str() {
            // Created by name.
            "c" => {
                t.indexes.insert(name, Index { columns, unique });
            }
            // Behind a UNIQUE constraint.
            "u" => {
                t.uniques.insert(columns);
            }
            // Behind the primary key, read from `pragma_table_info` above.
            _ => {}
        }
    }

    let fks: Vec<Fk> = diesel::sql_query(format!(
        "SELECT m.name AS tbl, f.id AS id, f.\"table\" AS ref_table, f.\"from\" AS col, f.\"to\" AS ref_col \
         FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f WHERE {OURS} ORDER BY m.name, f.id, f.seq"
    ))
    .load(&mut conn)
    .expect("pragma_foreign_key_list");
    let mut grouped: BTreeMap<(String, i64), ForeignKey> = BTreeMap::new();
    for f in fks {
        let fk = grouped.entry((f.tbl, f.id)).or_insert_with(|| ForeignKey {
            columns: Vec::new(),
            table: f.ref_table.clone(),
            references: Vec::new(),
        });
        fk.columns.push(f.col);
        if let Some(r) = f.ref_col {
            fk.references.push(r);
        }
    }
    for ((tbl, _), mut fk) in grouped {
        // `REFERENCES t` without columns means t's primary key.
        if fk.references.is_empty() {
            fk.references = schema
                .get(&fk.table)
                .map(|t| t.primary_key.clone())
                .unwrap_or_default();
        }
        schema.get_mut(&tbl).expect("table").foreign_keys.insert(fk);
    }
    schema
}

fn postgres_schema(conn: &mut PgConnection) -> Schema {
    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = Text)]
        tbl: String,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        ty: String,
        #[diesel(sql_type = Bool)]
        not_null: bool,
        #[diesel(sql_type = Nullable<Text>)]
        dflt: Option<String>,
        #[diesel(sql_type = Bool)]
        identity: bool,
    }
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = Text)]
        tbl: String,
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        col: String,
        #[diesel(sql_type = Nullable<Text>)]
        ref_table: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        ref_col: Option<String>,
    }
    #[derive(QueryableByName)]
    struct Idx {
        #[diesel(sql_type = Text)]
        tbl: String,
        #[diesel(sql_type = Text)]
        idx: String,
        #[diesel(sql_type = Bool)]
        uniq: bool,
        #[diesel(sql_type = Text)]
        col: String,
    }

    let cols: Vec<Col> = diesel::sql_query(
        "SELECT c.table_name::text AS tbl, c.column_name::text AS name, c.data_type::text AS ty, \
             c.is_nullable = 'NO' AS not_null, c.column_default::text AS dflt, c.is_identity = 'YES' AS identity \
         FROM information_schema.columns AS c \
         JOIN information_schema.tables AS t USING (table_schema, table_name) \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
             AND c.table_name <> '__diesel_schema_migrations' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .load(conn)
    .expect("information_schema.columns");
    let mut schema = Schema::new();
    for c in cols {
        schema.entry(c.tbl).or_default().columns.push(Column {
            name: c.name,
            ty: normalise_type(&c.ty),
            not_null: c.not_null,
            default: normalise_default(c.dflt),
            numbered: c.identity,
        });
    }

    // Keys, unique constraints and foreign keys, each column at its position; a foreign key's referenced column is
    // the one at the same position of the key it references.
    let keys: Vec<Key> = diesel::sql_query(
        "SELECT tc.table_name::text AS tbl, tc.constraint_type::text AS kind, tc.constraint_name::text AS name, \
             k.column_name::text AS col, r.table_name::text AS ref_table, r.column_name::text AS ref_col \
         FROM information_schema.table_constraints AS tc \
         JOIN information_schema.key_column_usage AS k \
             ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name \
         LEFT JOIN information_schema.referential_constraints AS rc \
             ON rc.constraint_schema = tc.constraint_schema AND rc.constraint_name = tc.constraint_name \
         LEFT JOIN information_schema.key_column_usage AS r \
             ON r.constraint_schema = rc.unique_constraint_schema \
             AND r.constraint_name = rc.unique_constraint_name \
             AND r.ordinal_position = k.position_in_unique_constraint \
         WHERE tc.table_schema = 'public' AND tc.table_name <> '__diesel_schema_migrations' \
             AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
         ORDER BY tc.table_name, tc.constraint_name, k.ordinal_position",
    )
    .load(conn)
    .expect("information_schema.table_constraints");
    let mut constraints: BTreeMap<(String, String), (String, ForeignKey)> = BTreeMap::new();
    for k in keys {
        let (_, c) = constraints.entry((k.tbl, k.name)).or_insert_with(|| {
            (
                k.kind,
                ForeignKey {
                    columns: Vec::new(),
                    table: k.ref_table.clone().unwrap_or_default(),
                    references: Vec::new(),
                },
            )
        });
        c.columns.push(k.col);
        c.references.extend(k.ref_col);
    }
    for ((tbl, _), (kind, c)) in constraints {
        let t = schema.get_mut(&tbl).expect("table");
        match kind.as_str() {
            "PRIMARY KEY" => t.primary_key = c.columns,
            "UNIQUE" => {
                t.uniques.insert(c.columns);
            }
            _ => {
                t.foreign_keys.insert(c);
            }
        }
    }

    // Indexes other than those behind a primary key or unique constraint, their columns in key order.
    let idx: Vec<Idx> = diesel::sql_query(
        "SELECT t.relname::text AS tbl, i.relname::text AS idx, x.indisunique AS uniq, a.attname::text AS col \
         FROM pg_index AS x \
         JOIN pg_class AS i ON i.oid = x.indexrelid \
         JOIN pg_class AS t ON t.oid = x.indrelid \
         JOIN pg_namespace AS n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute AS a ON a.attrelid = x.indrelid AND a.attnum = k.attnum \
         WHERE n.nspname = 'public' AND t.relname <> '__diesel_schema_migrations' \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c \
                 WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u', 'x')) \
         ORDER BY t.relname, i.relname, k.ord",
    )
    .load(conn)
    .expect("pg_index");
    for i in idx {
        schema
            .get_mut(&i.tbl)
            .expect("table")
            .indexes
            .entry(i.idx)
            .or_insert_with(|| Index {
                columns: Vec::new(),
                unique: i.uniq,
            })
            .columns
            .push(i.col);
    }
    schema
}

/// The server that the test databases are created on, and where they are dropped from.
fn admin_url() -> String {
    std::env::var("LINLI_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// `url` naming the database `name` instead of its own (its query, such as `sslmode`, kept).
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    format!("{scheme}://{authority}/{name}{query}")
}

/// A database of its own for one test, created on the local PostgreSQL and dropped when the test ends (passed or
/// failed).
struct TempPgDatabase {
    name: String,
    url: String,
}

impl TempPgDatabase {
    fn create() -> TempPgDatabase {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let name = format!("linli_schema_{}_{nanos}", std::process::id());
        let mut admin = PgConnection::establish(&admin_url()).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {} (set LINLI_TEST_PG_URL; scripts/prereqs starts it): {e}",
                admin_url()
            )
        });
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("CREATE DATABASE");
        let url = with_database(&admin_url(), &name);
        TempPgDatabase { name, url }
    }
}

impl Drop for TempPgDatabase {
    fn drop(&mut self) {
        // Dropped even while the test's own connection is still open (PostgreSQL 13 and later).
        let dropped = PgConnection::establish(&admin_url()).and_then(|mut admin| {
            diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

#[test]
fn a_url_names_another_database_with_its_query_kept() {
    for (url, want) in [
        (
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@127.0.0.1:5432/x",
        ),
        (
            "postgres://u:p@h:1/db?sslmode=require",
            "postgres://u:p@h:1/x?sslmode=require",
        ),
        ("postgres://h", "postgres://h/x"),
    ] {
        assert_eq!(with_database(url, "x"), want, "{url}");
    }
}
