//! Compaction: folds the ops the server already holds (received ops, and local ops it acknowledged) into the
//! stored base state, so that opening a replica that has lived for months does not replay its whole history.
//!
//! Only ops the server holds are folded: an op still waiting, or set aside, must stay separable from the state.
//! Folding changes nothing visible: the state and views are the same before and after, and an op delivered again
//! after it was folded is stored again and applied with no effect, since applying is idempotent.

use linli_sync_core::prelude::{Rules, State};
use rusqlite::{OptionalExtension, Transaction};

use crate::error::Result;
use crate::oplog;
use crate::store::Store;

/// Compact automatically once this many folded-away ops are stored.
pub const AUTO_ABOVE: u64 = 20_000;

impl Store {
    /// Folds received and acknowledged ops into the base state. Returns how many ops were folded.
    pub fn compact(&mut self) -> Result<u64> {
        self.ensure_active()?;
        let tx = self.conn.transaction()?;
        let folded = fold(&tx)?;
        tx.commit()?;
        Ok(folded)
    }

    /// Compacts if more than [`AUTO_ABOVE`] ops could be folded.
    pub(crate) fn compact_if_large(&mut self) -> Result<()> {
        if oplog::foldable_count(&self.conn)? > AUTO_ABOVE {
            self.compact()?;
        }
        Ok(())
    }
}

fn fold(tx: &Transaction) -> Result<u64> {
    let base: Option<(i64, String)> = tx
        .query_row(
            "SELECT cursor, state FROM base_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (cursor, mut state) = match base {
        Some((cursor, json)) => (
            cursor,
            serde_json::from_str::<State>(&json)
                .map_err(|e| crate::error::json("the stored snapshot", &e))?,
        ),
        None => (0, State::new(Rules::DEFAULT)),
    };
    let ops = oplog::foldable(tx)?;
    if ops.is_empty() {
        return Ok(0);
    }
    for op in &ops {
        state.apply(op);
    }
    let json =
        serde_json::to_string(&state).map_err(|e| crate::error::json("state encoding", &e))?;
    tx.execute(
        "INSERT OR REPLACE INTO base_state (id, cursor, state) VALUES (1, ?1, ?2)",
        rusqlite::params![cursor, json],
    )?;
    tx.execute_batch("DELETE FROM remote_ops; DELETE FROM local_ops WHERE synced = 1;")?;
    Ok(ops.len() as u64)
}
