//! The op log: ops this device wrote (`local_ops`, numbered in the order written, with a `synced` marker) and ops
//! received from the server (`remote_ops`). An op is stored once, whoever sends it how often.

use linli_sync_core::prelude::{Op, OpId};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::error::{Error, Result};

/// Appends an op this device wrote; returns its device sequence number.
pub fn append_local(tx: &Transaction, op: &Op) -> Result<u64> {
    tx.execute(
        "INSERT INTO local_ops (id, op) VALUES (?1, ?2)",
        params![op.id.0.as_bytes(), op.to_json()],
    )?;
    Ok(crate::device::to_u64(tx.last_insert_rowid()))
}

/// What storing an op received from the server did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// New here: stored, to be applied.
    New,
    /// Already held with the same content (a repeated answer, or this device's own op): nothing to do.
    Known,
    /// The server's copy of an id this device holds with other content (`op_id_conflict`): the server's copy is
    /// the op, so it was stored and this device's version set aside; the state must be rebuilt.
    Replaced,
}

/// Stores an op received from the server unless it is already held. A local op that was set aside does not count
/// as holding it: after an `op_id_conflict` the server's copy of that id is the op everyone else has (issue 17).
/// A waiting local op with the same id but other content is set aside for the same reason.
pub fn insert_remote(tx: &Transaction, op: &Op, now_ms: u64) -> Result<Received> {
    let local: Option<(String, i64)> = tx
        .query_row(
            "SELECT op, synced FROM local_ops WHERE id = ?1",
            [op.id.0.as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let mut outcome = Received::New;
    match local {
        Some((_, 2)) => {}
        Some((text, synced)) if synced == 1 || parse(&text)? == *op => {
            return Ok(Received::Known);
        }
        Some(_) => {
            set_aside(tx, op.id, "op_id_conflict", now_ms)?;
            outcome = Received::Replaced;
        }
        None => {}
    }
    let remote = tx
        .query_row(
            "SELECT 1 FROM remote_ops WHERE id = ?1",
            [op.id.0.as_bytes()],
            |_| Ok(()),
        )
        .optional()?;
    if remote.is_some() {
        return Ok(Received::Known);
    }
    tx.execute(
        "INSERT INTO remote_ops (id, op) VALUES (?1, ?2)",
        params![op.id.0.as_bytes(), op.to_json()],
    )?;
    Ok(outcome)
}

/// Marks local ops as acknowledged by the server; returns how many changed.
pub fn mark_synced(tx: &Transaction, ids: &[OpId]) -> Result<u32> {
    let mut stmt =
        tx.prepare_cached("UPDATE local_ops SET synced = 1 WHERE id = ?1 AND synced = 0")?;
    let mut n = 0u32;
    for id in ids {
        n += u32::try_from(stmt.execute([id.0.as_bytes()])?).unwrap_or(0);
    }
    Ok(n)
}

/// At most `limit` local ops not yet acknowledged, oldest first.
pub fn unsynced(conn: &Connection, limit: usize, max_bytes: usize) -> Result<Vec<Op>> {
    let mut stmt =
        conn.prepare_cached("SELECT op FROM local_ops WHERE synced = 0 ORDER BY seq LIMIT ?1")?;
    let texts = stmt
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            r.get::<_, String>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    within(&texts, max_bytes).iter().map(|t| parse(t)).collect()
}

/// At most `limit` local ops not yet acknowledged and written before the waiting op `held`, oldest first: what is
/// pushed while `held` (and everything written after it, which may depend on it) waits for the clock.
pub fn unsynced_before(
    conn: &Connection,
    held: OpId,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<Op>> {
    let mut stmt = conn.prepare_cached(
        "SELECT op FROM local_ops WHERE synced = 0
           AND seq < coalesce((SELECT seq FROM local_ops WHERE id = ?1), 9223372036854775807)
         ORDER BY seq LIMIT ?2",
    )?;
    let texts = stmt
        .query_map(
            params![held.0.as_bytes(), i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| r.get::<_, String>(0),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    within(&texts, max_bytes).iter().map(|t| parse(t)).collect()
}

/// The longest prefix of `texts` whose bytes add up to at most `max_bytes`, and never less than the first one (a
/// request always makes progress; an op too long for the server is refused `op_too_large` and set aside).
fn within(texts: &[String], max_bytes: usize) -> &[String] {
    let mut total = 0usize;
    let n = texts
        .iter()
        .take_while(|t| {
            total = total.saturating_add(t.len() + 1);
            total <= max_bytes
        })
        .count();
    &texts[..n.max(1).min(texts.len())]
}

/// Whether `id` is a local op still waiting for an acknowledgement.
pub fn is_waiting(conn: &Connection, id: OpId) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM local_ops WHERE id = ?1 AND synced = 0",
            [id.0.as_bytes()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Rewrites a waiting local op (same id, same place in the device order) that nobody has accepted: with a new time
/// (the clock stamped it while the phone's clock was ahead), or with a new card spend sequence number (a phone
/// restored from a backup reused numbers the server holds). Returns whether a waiting op was rewritten.
pub fn restamp(tx: &Transaction, op: &Op) -> Result<bool> {
    let n = tx.execute(
        "UPDATE local_ops SET op = ?2 WHERE id = ?1 AND synced = 0",
        params![op.id.0.as_bytes(), op.to_json()],
    )?;
    Ok(n == 1)
}

/// The stored local op with this id, if any.
pub fn local(conn: &Connection, id: OpId) -> Result<Option<Op>> {
    let text: Option<String> = conn
        .query_row(
            "SELECT op FROM local_ops WHERE id = ?1",
            [id.0.as_bytes()],
            |r| r.get(0),
        )
        .optional()?;
    text.map(|t| parse(&t)).transpose()
}

/// How many local ops wait for an acknowledgement.
pub fn unsynced_count(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row("SELECT count(*) FROM local_ops WHERE synced = 0", [], |r| {
        r.get(0)
    })?;
    Ok(crate::device::to_u64(n))
}

/// Sets a local op aside: the server refused it for good (`code`), so it is neither pushed again nor part of the
/// state. Returns whether a waiting op of this device was found.
pub fn set_aside(tx: &Transaction, id: OpId, code: &str, now_ms: u64) -> Result<bool> {
    let n = tx.execute(
        "UPDATE local_ops SET synced = 2 WHERE id = ?1 AND synced = 0",
        [id.0.as_bytes()],
    )?;
    if n == 0 {
        return Ok(false);
    }
    tx.execute(
        "INSERT OR REPLACE INTO rejected_ops (id, code, rejected_ms) VALUES (?1, ?2, ?3)",
        rusqlite::params![id.0.as_bytes(), code, crate::device::to_i64(now_ms)],
    )?;
    Ok(true)
}

/// The ops set aside, oldest first, with the server's code and when it refused them.
pub fn set_aside_ops(conn: &Connection) -> Result<Vec<(Op, String, u64)>> {
    let mut stmt = conn.prepare(
        "SELECT l.op, r.code, r.rejected_ms FROM local_ops l JOIN rejected_ops r ON r.id = l.id
         WHERE l.synced = 2 ORDER BY l.seq",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(op, code, at)| Ok((parse(&op)?, code, crate::device::to_u64(at))))
        .collect()
}

/// The ops the server holds: every received op and every acknowledged local op (what compaction folds).
pub fn foldable(conn: &Connection) -> Result<Vec<Op>> {
    load(
        conn,
        &[
            "SELECT op FROM remote_ops",
            "SELECT op FROM local_ops WHERE synced = 1 ORDER BY seq",
        ],
    )
}

/// How many ops compaction would fold.
pub fn foldable_count(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM remote_ops) + (SELECT count(*) FROM local_ops WHERE synced = 1)",
        [],
        |r| r.get(0),
    )?;
    Ok(crate::device::to_u64(n))
}

/// Every stored op, local and remote, for rebuilding the in-memory state (set-aside ops excluded).
pub fn all(conn: &Connection) -> Result<Vec<Op>> {
    load(
        conn,
        &[
            "SELECT op FROM remote_ops",
            "SELECT op FROM local_ops WHERE synced != 2 ORDER BY seq",
        ],
    )
}

/// The ops selected by each query (one `op` text column), in query order.
fn load(conn: &Connection, queries: &[&str]) -> Result<Vec<Op>> {
    let mut out = Vec::new();
    for sql in queries {
        let mut stmt = conn.prepare(sql)?;
        let texts = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        for t in texts {
            out.push(parse(&t)?);
        }
    }
    Ok(out)
}

fn parse(text: &str) -> Result<Op> {
    // The wire error's text can quote field values, so only its kind is reported.
    Op::from_json(text).map_err(|e| {
        let kind = serde_json::to_value(&e)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str().map(str::to_owned)))
            .unwrap_or_default();
        Error::Invalid(format!("a stored op is damaged ({kind})"))
    })
}
