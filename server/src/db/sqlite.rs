//! The SQLite-only part of storage: file placement, the pragmas every connection gets, and checkpointing. WAL lets
//! pulls read while a push writes; `synchronous = FULL` makes a committed batch survive power loss, not just a
//! process crash, which is what the server promises when it acknowledges an op.
//!
//! Checkpoints (copying the WAL back into the database file) run on a background thread with its own connection,
//! not in the committing writer: SQLite's automatic checkpoint made every few batches' commit pay for copying
//! and syncing the pages of several others (measured: a third of the insert time of 1,000-row batches).

use diesel::RunQueryDsl;
use diesel::r2d2::{CustomizeConnection, Error as R2d2Error};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use super::Conn;
use crate::store::StoreError;

fn path_of(database_url: &str) -> &str {
    database_url
        .strip_prefix("sqlite://")
        .unwrap_or(database_url)
}

/// Creates the directory that holds the database file.
pub fn prepare_path(database_url: &str) -> Result<(), StoreError> {
    let path = path_of(database_url);
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

/// How often the background thread checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// WAL pages after which a committing writer still checkpoints itself: a backstop in case the background thread
/// falls far behind (40 MiB of 4 KiB pages), not the normal path.
const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Sets the pragmas on every new connection. Owned by the pool; it holds the background checkpointer's stop
/// signal, so the checkpointer ends when the pool is dropped.
#[derive(Debug)]
pub struct Pragmas {
    _checkpointer: Option<Sender<()>>,
}

impl Pragmas {
    /// The pragmas for the database at `database_url`, and its checkpointer thread (none for `:memory:`).
    pub fn new(database_url: &str) -> Result<Pragmas, StoreError> {
        if path_of(database_url) == ":memory:" {
            return Ok(Pragmas {
                _checkpointer: None,
            });
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let url = database_url.to_string();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_until(&url, &stopped))
            .map_err(|e| StoreError::Pool(format!("checkpoint thread: {e}")))?;
        Ok(Pragmas {
            _checkpointer: Some(stop),
        })
    }
}

/// Checkpoints (PASSIVE: never blocks readers or the writer) every [`CHECKPOINT_EVERY`] until `stopped` is
/// disconnected. A failure is logged and retried at the next tick; the writers' own backstop keeps the WAL bounded.
fn checkpoint_until(database_url: &str, stopped: &Receiver<()>) {
    let mut conn: Option<Conn> = None;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
        if conn.is_none() {
            conn = diesel::Connection::establish(database_url)
                .inspect_err(|e| tracing::warn!(error = %e, "checkpoint connection"))
                .ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        if let Err(e) = diesel::sql_query("PRAGMA busy_timeout = 1000")
            .execute(c)
            .and_then(|_| diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").execute(c))
        {
            tracing::warn!(error = %e, "checkpoint");
            conn = None;
        }
    }
}

impl CustomizeConnection<Conn, R2d2Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), R2d2Error> {
        let autocheckpoint = format!("PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}");
        for pragma in [
            "PRAGMA busy_timeout = 10000",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "PRAGMA foreign_keys = ON",
            // 32 MiB of page cache per connection (a bound, not an allocation): the indexes of a year of a cell stay in
            // memory, so a batch's inserts do not re-read index pages from the OS.
            "PRAGMA cache_size = -32768",
            &autocheckpoint,
        ] {
            diesel::sql_query(pragma)
                .execute(conn)
                .map_err(R2d2Error::QueryError)?;
        }
        register_functions(conn).map_err(R2d2Error::QueryError)
    }
}

diesel::define_sql_function! {
    /// A format-2 op-log body inflated (`crate::op_row`), NULL if it does not inflate: what the lean op log's
    /// down migration needs to write whole JSON back, which plain SQL cannot.
    fn linli_inflate_body(body: diesel::sql_types::Binary) -> diesel::sql_types::Nullable<diesel::sql_types::Binary>;
}

/// Registers the server's SQL functions on `conn` (every pooled connection has them; a connection opened by hand
/// to run migrations needs them too).
pub fn register_functions(conn: &mut Conn) -> diesel::QueryResult<()> {
    linli_inflate_body_utils::register_impl(conn, |body: Vec<u8>| {
        crate::op_row::inflate(&body).ok()
    })
}

/// Runs `f` in a write transaction. On SQLite it takes the write lock at `BEGIN` (`BEGIN IMMEDIATE`), so a
/// transaction that reads before it writes waits for the lock (busy timeout) instead of failing on upgrade.
pub fn write_txn<T, E>(conn: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.immediate_transaction(f)
}
