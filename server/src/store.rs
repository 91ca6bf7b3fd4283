//! The op log, one per community (`(community_id, seq)`): appending accepted ops in server order, reading stored ops back by sequence number (for pulls, and
//! for telling a retry from a reused id) and in order (rebuilding the in-memory state at start). Written in
//! diesel's DSL only.

use diesel::prelude::*;
use linli_sync_core::ids::OpId;
use linli_sync_core::op::{Op, WireError};
use thiserror::Error;

use crate::community::CommunityId;
use crate::db::Conn;
use crate::db::schema::op_log;

/// Why storage failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A query failed.
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    /// No connection could be had.
    #[error("connection pool: {0}")]
    Pool(String),
    /// A migration failed.
    #[error("migration: {0}")]
    Migration(String),
    /// No community has this id.
    #[error("no community {0}")]
    NoSuchCommunity(CommunityId),
    /// The community's head row does not match the log the engine holds (another writer of the same community
    /// committed: impossible with one process, the case the PostgreSQL issue handles by catching up).
    #[error("community {community}: head at {head}, expected {expected}")]
    HeadMoved {
        /// The community.
        community: CommunityId,
        /// What the head row says now.
        head: i64,
        /// What this process expected.
        expected: i64,
    },
    /// A report row about to be written belongs to another community (two communities wrote the same entity id at
    /// once): the whole group is refused, nothing moved between communities.
    #[error("{table} row {id} belongs to community {owner}")]
    OtherCommunitysRow {
        /// The table.
        table: &'static str,
        /// The row's key.
        id: String,
        /// The community that has it.
        owner: CommunityId,
    },
    /// An op the in-memory index holds has no row (the database was edited by hand).
    #[error("stored op {seq} is missing")]
    Missing {
        /// Its sequence number.
        seq: i64,
    },
    /// A stored op no longer parses (the database was edited by hand, or a downgrade).
    #[error("stored op {seq} is unreadable: {source}")]
    Corrupt {
        /// Its sequence number.
        seq: i64,
        /// Why.
        source: WireError,
    },
}

/// One row of the op log. `None` is written as NULL (`treat_none_as_default_value = false`), as in the report
/// tables: with a defaultable column diesel's SQLite backend inserts a batch one statement per row, each built and
/// prepared anew, which measured 8.3-9.6 ms per 1,000 rows against 5.3-6.6 ms as one statement.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = op_log, treat_none_as_default_value = false)]
pub struct OpRow {
    /// The community whose log holds it.
    pub community_id: i64,
    /// Sequence number in its community's log: the total order of that community's pulls.
    pub seq: i64,
    /// The op id (unique).
    pub op_id: String,
    /// The device that pushed it.
    pub device_id: String,
    /// Its author.
    pub author: String,
    /// `ticket.take`, …
    pub kind: String,
    /// The entity id.
    pub entity: String,
    /// The grid cell it belongs to, as the server saw it when storing it.
    pub grid: Option<String>,
    /// HLC wall time.
    pub hlc_wall_ms: i64,
    /// HLC logical counter.
    pub hlc_logical: i64,
    /// Server receive time.
    pub received_ms: i64,
    /// Canonical JSON.
    pub body: String,
}

/// SQLite accepts at most 32,766 bound variables per statement; 12 columns × 1,000 rows stays well inside.
const INSERT_CHUNK: usize = 1000;
/// Sequence numbers per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 1000;
/// Consecutive sequence numbers from which [`bodies`] reads a range instead of a list of keys.
const RANGE_RUN: usize = 64;

/// Appends rows to the op log (inside the caller's transaction).
pub fn append(conn: &mut Conn, rows: &[OpRow]) -> Result<(), StoreError> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        diesel::insert_into(op_log::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

/// Of `ids`, those stored in the log of a community other than `community` (op ids are unique across all
/// communities: such an op is refused as `op_id_conflict`, review of issue 11, D5).
pub fn ids_elsewhere(
    conn: &mut Conn,
    community: CommunityId,
    ids: &[OpId],
) -> Result<std::collections::HashSet<OpId>, StoreError> {
    let mut out = std::collections::HashSet::new();
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let found: Vec<String> = op_log::table
            .filter(op_log::op_id.eq_any(chunk))
            .filter(op_log::community_id.ne(community.0))
            .select(op_log::op_id)
            .load(conn)?;
        out.extend(found.iter().filter_map(|s| s.parse::<OpId>().ok()));
    }
    Ok(out)
}

/// Up to `limit` ops of `community` stored after `cursor`, in its server order, as `(seq, op)`.
pub fn after(
    conn: &mut Conn,
    community: CommunityId,
    cursor: i64,
    limit: i64,
) -> Result<Vec<(i64, Op)>, StoreError> {
    let rows: Vec<(i64, String)> = op_log::table
        .filter(op_log::community_id.eq(community.0))
        .filter(op_log::seq.gt(cursor))
        .order(op_log::seq.asc())
        .limit(limit)
        .select((op_log::seq, op_log::body))
        .load(conn)?;
    rows.into_iter()
        .map(|(seq, body)| Ok((seq, parse(seq, &body)?)))
        .collect()
}

/// The canonical JSON of the ops of `community` stored at `seqs` (ascending), in that order, as stored. A sequence
/// number with no row is an error: the caller took it from the in-memory index, which holds only committed ops.
pub fn bodies(
    conn: &mut Conn,
    community: CommunityId,
    seqs: &[i64],
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::with_capacity(seqs.len());
    let mut rest = seqs;
    while let Some(&first) = rest.first() {
        // A run of consecutive numbers (all of an admin's pull, most of a grid worker's) is one range scan; the
        // scattered rest are looked up by key, a chunk at a time.
        let run = rest
            .iter()
            .zip(first..)
            .take_while(|(seq, want)| **seq == *want)
            .count();
        let (chunk, query): (&[i64], _) = if run >= RANGE_RUN {
            let last = first + i64::try_from(run).unwrap_or(i64::MAX) - 1;
            (
                &rest[..run],
                op_log::table
                    .filter(op_log::community_id.eq(community.0))
                    .filter(op_log::seq.between(first, last))
                    .into_boxed(),
            )
        } else {
            let n = rest.len().min(LOOKUP_CHUNK);
            (
                &rest[..n],
                op_log::table
                    .filter(op_log::community_id.eq(community.0))
                    .filter(op_log::seq.eq_any(rest[..n].to_vec()))
                    .into_boxed(),
            )
        };
        let rows: Vec<(i64, String)> = query
            .order(op_log::seq.asc())
            .select((op_log::seq, op_log::body))
            .load(conn)?;
        let mut rows = rows.into_iter();
        for &seq in chunk {
            match rows.next() {
                Some((found, body)) if found == seq => out.push(body),
                _ => return Err(StoreError::Missing { seq }),
            }
        }
        rest = &rest[chunk.len()..];
    }
    Ok(out)
}

/// The highest sequence number stored in `community`'s log (0 when empty).
pub fn last_seq(conn: &mut Conn, community: CommunityId) -> Result<i64, StoreError> {
    let max: Option<i64> = op_log::table
        .filter(op_log::community_id.eq(community.0))
        .select(diesel::dsl::max(op_log::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0))
}

/// How many ops are stored, in every community.
pub fn count(conn: &mut Conn) -> Result<i64, StoreError> {
    Ok(op_log::table.count().get_result(conn)?)
}

/// How many times each op id is stored (the SIGKILL test's "exactly once").
pub fn copies_of(conn: &mut Conn, id: OpId) -> Result<i64, StoreError> {
    Ok(op_log::table
        .filter(op_log::op_id.eq(id.to_string()))
        .count()
        .get_result(conn)?)
}

/// Parses a stored op (`seq` names it in the error).
pub fn parse(seq: i64, body: &str) -> Result<Op, StoreError> {
    Op::from_json(body).map_err(|source| StoreError::Corrupt { seq, source })
}
