//! Database access: the connection type, the pool, and the embedded migrations. Everything that is specific to
//! SQLite lives in [`sqlite`]; the rest of the crate speaks only diesel's DSL, so a PostgreSQL backend can be added
//! behind the same [`Conn`] later.

pub mod schema;
pub mod sqlite;

use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::store::StoreError;

/// The connection type the store is written against.
pub type Conn = diesel::SqliteConnection;

/// A pool of connections.
pub type DbPool = Pool<ConnectionManager<Conn>>;

/// One pooled connection.
pub type PooledConn = PooledConnection<ConnectionManager<Conn>>;

/// The SQLite migrations, compiled into the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// The PostgreSQL migrations, compiled into the binary: the twins of [`SQLITE_MIGRATIONS`], one for one, reaching
/// the same logical schema (`migrations/postgres/README.md`; held to it by `tests/pg_schema.rs`).
#[cfg(feature = "postgres")]
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Opens the pool (creating the database file and its directory when needed) and runs pending migrations.
pub fn open(database_url: &str, max_size: u32) -> Result<DbPool, StoreError> {
    sqlite::prepare_path(database_url)?;
    let pool = Pool::builder()
        .max_size(max_size)
        .connection_customizer(Box::new(sqlite::Pragmas::new(database_url)?))
        .build(ConnectionManager::<Conn>::new(database_url))
        .map_err(|e| StoreError::Pool(e.to_string()))?;
    let mut conn = pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
    migrate(&mut conn)?;
    Ok(pool)
}

/// Runs every pending migration, then — while the lean op log migration's `maintenance` row says so, whoever ran
/// the migration and however often a pass was cut short — the compression of the rows its SQL migrated
/// ([`crate::store::compress_plain_rows`]). On a database without that row this costs one lookup.
pub fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    conn.run_pending_migrations(SQLITE_MIGRATIONS)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    if crate::store::compression_pending(conn)? {
        let n = crate::store::compress_plain_rows(conn)?;
        crate::store::compression_done(conn)?;
        tracing::info!(rows = n, "op log bodies compressed after the upgrade");
    }
    Ok(())
}

/// Connects to the PostgreSQL database at `url` (a libpq URL: `postgres://user@host:port/db?sslmode=require`) and
/// runs every pending PostgreSQL migration. The lean op log's follow-up compression ([`migrate`]'s second step) is
/// not run: a database created by these migrations has no rows to compress, and the migration asks for it (its
/// `maintenance` row) only when it converted rows.
#[cfg(feature = "postgres")]
pub fn migrate_postgres(url: &str) -> Result<(), StoreError> {
    use diesel::Connection;
    let mut conn =
        diesel::PgConnection::establish(url).map_err(|e| StoreError::Pool(e.to_string()))?;
    conn.run_pending_migrations(POSTGRES_MIGRATIONS)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(())
}

/// For the crate's tests: a fresh database file `linli.sqlite3` in `dir`, migrated, in a pool of `size`.
#[cfg(test)]
pub(crate) fn temp_pool(dir: &tempfile::TempDir, size: u32) -> DbPool {
    let url = dir
        .path()
        .join("linli.sqlite3")
        .to_string_lossy()
        .into_owned();
    open(&url, size).expect("database")
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::Connection;

    #[test]
    fn every_migration_runs_up_and_down_and_up_again() {
        let mut conn = Conn::establish(":memory:").expect("in-memory database");
        sqlite::register_functions(&mut conn).expect("the server's SQL functions");
        conn.run_pending_migrations(SQLITE_MIGRATIONS).expect("up");
        conn.revert_all_migrations(SQLITE_MIGRATIONS).expect("down");
        conn.run_pending_migrations(SQLITE_MIGRATIONS)
            .expect("up again");
    }

    /// The lean op log's compression is finished at a later start when a pass was cut short (or another tool ran
    /// the migration): while the `maintenance` row is there, `migrate` compresses what is left, then drops the row;
    /// every op reads back the same either way.
    #[test]
    fn a_compression_cut_short_is_finished_at_the_next_start() {
        use crate::community::CommunityId;
        use crate::db::schema::op_log;
        use diesel::prelude::*;
        let mut conn = Conn::establish(":memory:").expect("in-memory database");
        sqlite::register_functions(&mut conn).expect("the server's SQL functions");
        migrate(&mut conn).expect("up");
        assert!(!crate::store::compression_pending(&mut conn).expect("read"));
        let ops = linli_sync_core::test_support::community_year_of(7, 1_700_000_000_000, 1);
        let ops = &ops[..200];
        let rows: Vec<crate::store::OpRow> = ops
            .iter()
            .zip(1..)
            .map(|(op, seq)| {
                crate::store::OpRow::new(
                    CommunityId::FIRST,
                    seq,
                    op,
                    &op.to_json(),
                    op.replica,
                    None,
                    0,
                )
            })
            .collect();
        crate::store::append(&mut conn, &rows).expect("append");
        // As the SQL migration leaves them: plain bodies (format 1), and the task to compress them.
        let plain: Vec<(i64, Vec<u8>)> = rows
            .iter()
            .filter(|r| r.format == crate::op_row::FORMAT_BODY_ZSTD_1)
            .map(|r| (r.seq, crate::op_row::inflate(&r.body).expect("inflates")))
            .collect();
        assert!(plain.len() > 100, "most bodies compress: {}", plain.len());
        for (seq, body) in &plain {
            diesel::update(op_log::table.filter(op_log::seq.eq(seq)))
                .set((
                    op_log::format.eq(crate::op_row::FORMAT_BODY),
                    op_log::body.eq(body),
                ))
                .execute(&mut conn)
                .expect("plain body");
        }
        let format_1 = || {
            op_log::table
                .filter(op_log::format.eq(crate::op_row::FORMAT_BODY))
                .count()
        };
        let before = format_1().get_result::<i64>(&mut conn).expect("count");
        // Without the task, a start leaves the rows as they are.
        migrate(&mut conn).expect("a start");
        assert_eq!(format_1().get_result::<i64>(&mut conn), Ok(before));
        diesel::sql_query("INSERT INTO maintenance (task) VALUES ('compress_op_log_bodies')")
            .execute(&mut conn)
            .expect("the task");
        migrate(&mut conn).expect("the next start");
        assert!(!crate::store::compression_pending(&mut conn).expect("read"));
        let after = format_1().get_result::<i64>(&mut conn).expect("count");
        assert_eq!(
            before - after,
            i64::try_from(plain.len()).unwrap_or(0),
            "every plain row compressed"
        );
        let back = crate::store::after(&mut conn, CommunityId::FIRST, 0, 1_000).expect("read back");
        assert_eq!(back.len(), ops.len());
        for ((_, got), want) in back.iter().zip(ops) {
            assert_eq!(got.to_json(), want.to_json());
        }
    }

    fn rows(conn: &mut Conn, sql: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            r: String,
        }
        diesel::RunQueryDsl::load::<Row>(diesel::sql_query(sql), conn)
            .expect(sql)
            .into_iter()
            .map(|row| row.r)
            .collect()
    }

    /// The `op_kinds` table (for readers of the file) names every code the server writes, and only those.
    #[test]
    fn the_op_kinds_table_is_the_servers_kind_codes() {
        let mut conn = Conn::establish(":memory:").expect("in-memory database");
        migrate(&mut conn).expect("up");
        let table = rows(
            &mut conn,
            "SELECT code || ' ' || name AS r FROM op_kinds ORDER BY code",
        );
        let codes: Vec<String> = crate::op_row::KIND_CODES
            .iter()
            .map(|(code, kind)| format!("{code} {kind}"))
            .collect();
        assert_eq!(table, codes);
    }

    #[test]
    fn the_throttle_lifts_migration_adds_its_table_and_keeps_every_user() {
        let mut conn = Conn::establish(":memory:").expect("in-memory database");
        for _ in 0..4 {
            conn.run_next_migration(SQLITE_MIGRATIONS).expect("up");
        }
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            "INSERT INTO users VALUES ('u1', 'lihua', 'admin', '$argon2id$v=19$m=19456,t=2,p=1$x$y', 7);",
        )
        .expect("a user of the old schema");
        let users = "SELECT id || ' ' || username || ' ' || role AS r FROM users";
        conn.run_next_migration(SQLITE_MIGRATIONS)
            .expect("throttle lifts up");
        assert_eq!(rows(&mut conn, users), ["u1 lihua admin"]);
        crate::identity::record_throttle_lift(&mut conn, "lihua", 10).expect("lift");
        crate::identity::record_throttle_lift(&mut conn, "lihua", 20).expect("lift again");
        assert_eq!(
            crate::identity::throttle_lifts_since(&mut conn, 15).expect("read"),
            [("lihua".to_string(), 20)]
        );
        conn.revert_last_migration(SQLITE_MIGRATIONS)
            .expect("throttle lifts down");
        assert_eq!(rows(&mut conn, users), ["u1 lihua admin"]);
    }

    #[test]
    fn the_lean_ingest_migration_keeps_every_visit_and_activity_both_ways() {
        let mut conn = Conn::establish(":memory:").expect("in-memory database");
        for _ in 0..3 {
            conn.run_next_migration(SQLITE_MIGRATIONS).expect("up");
        }
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            "INSERT INTO entries VALUES ('v1', 'visit', 'u1', 'g1', 'void', 10, NULL, NULL, 0, 7), \
             ('a1', 'activity', 'u1', 'g1', 'approved', 20, 'clean-up', 90, 90, 8); \
             INSERT INTO visits VALUES ('v1', 'u1', 'g1', 'h1', 1, NULL, NULL, 10, 1);",
        )
        .expect("rows of the old schema");
        let entries = "SELECT id || ' ' || kind || ' ' || status || ' ' || approved_minutes AS r FROM entries ORDER BY id";
        let visits = "SELECT entry_id || ' ' || household || ' ' || voided AS r FROM visits";
        conn.run_next_migration(SQLITE_MIGRATIONS)
            .expect("lean ingest up");
        assert_eq!(rows(&mut conn, entries), ["a1 activity approved 90"]);
        assert_eq!(rows(&mut conn, visits), ["v1 h1 1"]);
        conn.revert_last_migration(SQLITE_MIGRATIONS)
            .expect("lean ingest down");
        assert_eq!(
            rows(&mut conn, entries),
            ["a1 activity approved 90", "v1 visit void 0"]
        );
        assert_eq!(rows(&mut conn, visits), ["v1 h1 1"]);
    }
}
