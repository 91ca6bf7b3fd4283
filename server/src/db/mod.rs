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
        .connection_customizer(Box::new(sqlite::Pragmas))
        .build(ConnectionManager::<Conn>::new(database_url))
        .map_err(|e| StoreError::Pool(e.to_string()))?;
    let mut conn = pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
    migrate(&mut conn)?;
    Ok(pool)
}

/// Runs every pending migration.
pub fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    conn.run_pending_migrations(SQLITE_MIGRATIONS)
        .map(|_| ())
        .map_err(|e| StoreError::Migration(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::Connection;

    #[test]
    fn every_migration_runs_up_and_down_and_up_again() {
        let mut conn = Conn::establish(":memory:").expect("in-memory database");
        conn.run_pending_migrations(SQLITE_MIGRATIONS).expect("up");
        conn.revert_all_migrations(SQLITE_MIGRATIONS).expect("down");
        conn.run_pending_migrations(SQLITE_MIGRATIONS)
            .expect("up again");
    }
}
