//! The replica's SQLite schema: created by [`init`], upgraded by [`upgrade_from`] one version at a time, with the
//! version kept in `PRAGMA user_version`.
//!
//! Tables:
//! - `device`: one row, the sync state (device id, user, role, hybrid logical clock and the latest time it heard
//!   from the server, server cursor, and `scope_stale`: the user's grid cells changed since the replica's data
//!   was fetched, so a scoped snapshot must replace it).
//! - `local_ops`: the ops this device wrote, in the order written (`seq`), with a `synced` marker: 0 waiting, 1
//!   acknowledged by the server, 2 set aside because the server refused it for good (`rejected_ops` says why).
//! - `remote_ops`: ops received from the server.
//! - `rejected_ops`: the server's reason for each set-aside op.
//! - `base_state`: the server snapshot a bootstrapped device started from (the `State` as JSON).
//! - `v_grid`, `v_household`, `v_ticket`, `v_me`: materialised views the app reads; always derivable from the ops,
//!   and updated in the same transaction as the op that changes them.
//!
//! The in-memory `State` is `base_state` with every op of both op tables (except set-aside ones) applied; ops apply commutatively and
//! idempotently, so replay order does not matter.

use rusqlite::{Connection, Transaction};

/// The schema version this build writes.
pub const VERSION: u32 = 5;

/// Creates the current schema in an empty database.
pub fn init(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(CURRENT)?;
    set_version(tx, VERSION)
}

/// Upgrades from version `from` to [`VERSION`], one arm per version. Returns whether the views must be rebuilt.
pub fn upgrade_from(tx: &Transaction, from: u32) -> rusqlite::Result<bool> {
    let mut rebuild_views = false;
    let mut v = from;
    while v < VERSION {
        match v {
            // v2: unsynced ops are found through a partial index (prepare_sync stays fast on a long log), and
            // the "my hours" view also shows minutes still waiting for approval.
            1 => {
                tx.execute_batch(
                    "CREATE INDEX local_ops_unsynced ON local_ops(seq) WHERE synced = 0;
                     ALTER TABLE v_me ADD COLUMN pending_minutes INTEGER NOT NULL DEFAULT 0;",
                )?;
                rebuild_views = true;
            }
            // v3: ops the server refused for good are set aside (`local_ops.synced = 2`) with the server's reason.
            2 => tx.execute_batch(
                "CREATE TABLE rejected_ops (
                     id BLOB PRIMARY KEY,
                     code TEXT NOT NULL,
                     rejected_ms INTEGER NOT NULL
                 ) WITHOUT ROWID;",
            )?,
            // v4: the clock also keeps the latest time heard from the server (issue 17), so that it can come back
            // from times it issued itself while the phone's clock was ahead, without forgetting what it heard.
            // The clock's stored time counts as heard: it was never judged as this device's own mistake before,
            // and an upgrade must not make it look like one.
            3 => tx.execute_batch(
                "ALTER TABLE device ADD COLUMN heard_wall_ms INTEGER NOT NULL DEFAULT 0;
                 ALTER TABLE device ADD COLUMN heard_logical INTEGER NOT NULL DEFAULT 0;
                 UPDATE device SET heard_wall_ms = hlc_wall_ms, heard_logical = hlc_logical;",
            )?,
            // v5: a change of the user's grid cells is remembered until a scoped snapshot has replaced the data.
            4 => tx.execute_batch(
                "ALTER TABLE device ADD COLUMN scope_stale INTEGER NOT NULL DEFAULT 0;",
            )?,
            _ => {
                return Err(rusqlite::Error::InvalidParameterName(format!(
                    "no upgrade path from schema version {v}"
                )));
            }
        }
        v += 1;
    }
    set_version(tx, VERSION)?;
    Ok(rebuild_views)
}

/// The schema version stored in the file (0 for a new, empty database).
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn set_version(tx: &Transaction, v: u32) -> rusqlite::Result<()> {
    // PRAGMA takes no bound parameters; `v` is a number we control.
    tx.execute_batch(&format!("PRAGMA user_version = {v}"))
}

/// The current schema, as `init` creates it.
const CURRENT: &str = "
CREATE TABLE device (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    replica_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    hlc_wall_ms INTEGER NOT NULL DEFAULT 0,
    hlc_logical INTEGER NOT NULL DEFAULT 0,
    cursor INTEGER NOT NULL DEFAULT 0,
    last_sync_ms INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0,
    heard_wall_ms INTEGER NOT NULL DEFAULT 0,
    heard_logical INTEGER NOT NULL DEFAULT 0,
    scope_stale INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE base_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cursor INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE local_ops (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    synced INTEGER NOT NULL DEFAULT 0,
    op TEXT NOT NULL
);
CREATE INDEX local_ops_unsynced ON local_ops(seq) WHERE synced = 0;
CREATE TABLE remote_ops (
    id BLOB PRIMARY KEY,
    op TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE rejected_ops (
    id BLOB PRIMARY KEY,
    code TEXT NOT NULL,
    rejected_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE v_grid (
    grid_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    community TEXT NOT NULL,
    as_worker INTEGER NOT NULL,
    as_butler INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE v_household (
    household_id TEXT PRIMARY KEY,
    grid_id TEXT NOT NULL,
    building TEXT NOT NULL,
    unit TEXT NOT NULL,
    room TEXT NOT NULL,
    contact_name TEXT,
    elderly_alone INTEGER NOT NULL,
    to_visit INTEGER NOT NULL,
    last_visit_ms INTEGER,
    last_seen INTEGER
) WITHOUT ROWID;
CREATE TABLE v_ticket (
    ticket_id TEXT PRIMARY KEY,
    grid_id TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    complexity TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    taken_ms INTEGER,
    on_site_verdict TEXT NOT NULL,
    on_site_deadline_ms INTEGER,
    on_site_elapsed_ms INTEGER,
    solved_verdict TEXT NOT NULL,
    solved_deadline_ms INTEGER,
    solved_elapsed_ms INTEGER,
    plan_verdict TEXT NOT NULL,
    plan_deadline_ms INTEGER,
    plan_elapsed_ms INTEGER,
    answer_verdict TEXT NOT NULL,
    answer_deadline_ms INTEGER,
    answer_elapsed_ms INTEGER
) WITHOUT ROWID;
CREATE TABLE v_me (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    approved_minutes INTEGER NOT NULL DEFAULT 0,
    card_balance INTEGER NOT NULL DEFAULT 0,
    card_credited INTEGER NOT NULL DEFAULT 0,
    card_redeemed INTEGER NOT NULL DEFAULT 0,
    pending_minutes INTEGER NOT NULL DEFAULT 0
);
";

/// Version 1 exactly as released, kept so that the upgrade test can build a v1 file without a binary fixture.
#[cfg(test)]
pub(crate) const V1: &str = "
CREATE TABLE device (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    replica_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    hlc_wall_ms INTEGER NOT NULL DEFAULT 0,
    hlc_logical INTEGER NOT NULL DEFAULT 0,
    cursor INTEGER NOT NULL DEFAULT 0,
    last_sync_ms INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE base_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cursor INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE local_ops (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    synced INTEGER NOT NULL DEFAULT 0,
    op TEXT NOT NULL
);
CREATE TABLE remote_ops (
    id BLOB PRIMARY KEY,
    op TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE v_grid (
    grid_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    community TEXT NOT NULL,
    as_worker INTEGER NOT NULL,
    as_butler INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE v_household (
    household_id TEXT PRIMARY KEY,
    grid_id TEXT NOT NULL,
    building TEXT NOT NULL,
    unit TEXT NOT NULL,
    room TEXT NOT NULL,
    contact_name TEXT,
    elderly_alone INTEGER NOT NULL,
    to_visit INTEGER NOT NULL,
    last_visit_ms INTEGER,
    last_seen INTEGER
) WITHOUT ROWID;
CREATE TABLE v_ticket (
    ticket_id TEXT PRIMARY KEY,
    grid_id TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    complexity TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    taken_ms INTEGER,
    on_site_verdict TEXT NOT NULL,
    on_site_deadline_ms INTEGER,
    on_site_elapsed_ms INTEGER,
    solved_verdict TEXT NOT NULL,
    solved_deadline_ms INTEGER,
    solved_elapsed_ms INTEGER,
    plan_verdict TEXT NOT NULL,
    plan_deadline_ms INTEGER,
    plan_elapsed_ms INTEGER,
    answer_verdict TEXT NOT NULL,
    answer_deadline_ms INTEGER,
    answer_elapsed_ms INTEGER
) WITHOUT ROWID;
CREATE TABLE v_me (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    approved_minutes INTEGER NOT NULL DEFAULT 0,
    card_balance INTEGER NOT NULL DEFAULT 0,
    card_credited INTEGER NOT NULL DEFAULT 0,
    card_redeemed INTEGER NOT NULL DEFAULT 0
);
PRAGMA user_version = 1;
";

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table's columns and every index's columns, in a form that does not depend on how the DDL was
    /// written (`ALTER TABLE` appends to the stored SQL text, so the text itself differs after an upgrade).
    fn shape(conn: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        let mut objects = conn
            .prepare("SELECT type, name, tbl_name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
            .expect("prepare");
        let rows: Vec<(String, String, String)> = objects
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        for (kind, name, table) in rows {
            if kind == "table" {
                let mut cols = conn
                    .prepare(&format!("PRAGMA table_xinfo({name})"))
                    .expect("prepare");
                let cols: Vec<String> = cols
                    .query_map([], |r| {
                        Ok(format!(
                            "{}:{}:notnull={}:default={:?}:pk={}",
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, i64>(5)?
                        ))
                    })
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("cols");
                // Column order may differ after ADD COLUMN; what matters is the set.
                let mut cols = cols;
                cols.sort();
                out.push(format!("table {name}: {}", cols.join(", ")));
            } else {
                let sql: Option<String> = conn
                    .query_row(
                        "SELECT sql FROM sqlite_schema WHERE name = ?1",
                        [&name],
                        |r| r.get(0),
                    )
                    .expect("sql");
                let sql = sql.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
                out.push(format!("{kind} {name} on {table}: {sql:?}"));
            }
        }
        out
    }

    #[test]
    fn upgrading_a_v1_file_gives_the_fresh_schema_and_keeps_its_rows() {
        let mut old = Connection::open_in_memory().expect("open");
        old.execute_batch(V1).expect("v1 schema");
        old.execute(
            "INSERT INTO local_ops (seq, id, synced, op) VALUES (1, x'00112233445566778899aabbccddeeff', 0, '{}')",
            [],
        )
        .expect("row");
        old.execute("INSERT INTO v_me (id, approved_minutes) VALUES (1, 90)", [])
            .expect("row");
        assert_eq!(version(&old).expect("version"), 1);
        let tx = old.transaction().expect("tx");
        assert!(upgrade_from(&tx, 1).expect("upgrade"));
        tx.commit().expect("commit");

        let mut fresh = Connection::open_in_memory().expect("open");
        let tx = fresh.transaction().expect("tx");
        init(&tx).expect("init");
        tx.commit().expect("commit");

        assert_eq!(version(&old).expect("version"), VERSION);
        assert_eq!(shape(&old), shape(&fresh));
        let (minutes, pending): (i64, i64) = old
            .query_row(
                "SELECT approved_minutes, pending_minutes FROM v_me",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("kept");
        assert_eq!((minutes, pending), (90, 0));
        let ops: i64 = old
            .query_row("SELECT count(*) FROM local_ops WHERE synced = 0", [], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(ops, 1);
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        let tx = conn.transaction().expect("tx");
        assert!(upgrade_from(&tx, 0).is_err());
    }
}
