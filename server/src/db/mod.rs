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

/// Runs every pending migration, then the lean op log's compression of the rows its SQL migrated
/// ([`crate::store::compress_plain_rows`]).
pub fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    let ran = conn
        .run_pending_migrations(SQLITE_MIGRATIONS)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    if !ran.is_empty() {
        let n = crate::store::compress_plain_rows(conn)?;
        if n > 0 {
            tracing::info!(rows = n, "op log bodies compressed after the upgrade");
        }
    }
    Ok(())
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
