//! The SQLite-only part of storage: file placement and the pragmas every connection gets. WAL lets pulls read
//! while a push writes; `synchronous = FULL` makes a committed batch survive power loss, not just a process
//! crash, which is what the server promises when it acknowledges an op.

use diesel::RunQueryDsl;
use diesel::r2d2::{CustomizeConnection, Error as R2d2Error};
use std::path::Path;

use super::Conn;
use crate::store::StoreError;

/// Creates the directory that holds the database file.
pub fn prepare_path(database_url: &str) -> Result<(), StoreError> {
    let path = database_url
        .strip_prefix("sqlite://")
        .unwrap_or(database_url);
    if path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Pool(format!("{}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Sets the pragmas on every new connection.
#[derive(Debug, Clone, Copy)]
pub struct Pragmas;

impl CustomizeConnection<Conn, R2d2Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), R2d2Error> {
        for pragma in [
            "PRAGMA busy_timeout = 10000",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "PRAGMA foreign_keys = ON",
            // 32 MiB of page cache per connection (a bound, not an allocation): the indexes of a year of a cell stay in
            // memory, so a batch's inserts do not re-read index pages from the OS.
            "PRAGMA cache_size = -32768",
        ] {
            diesel::sql_query(pragma)
                .execute(conn)
                .map_err(R2d2Error::QueryError)?;
        }
        Ok(())
    }
}

/// Runs `f` in a write transaction. On SQLite it takes the write lock at `BEGIN` (`BEGIN IMMEDIATE`), so a
/// transaction that reads before it writes waits for the lock (busy timeout) instead of failing on upgrade.
pub fn write_txn<T, E>(conn: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.immediate_transaction(f)
}
