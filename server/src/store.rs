//! The op log, one per community (`(community_id, seq)`): appending accepted ops in server order, reading stored ops back by sequence number (for pulls, and
//! for telling a retry from a reused id) and in order (rebuilding the in-memory state at start). Written in
//! diesel's DSL only.

use diesel::prelude::*;
use linli_sync_core::ids::{GridId, OpId, ReplicaId};
use linli_sync_core::op::{Op, WireError};
use thiserror::Error;

use crate::community::CommunityId;
use crate::db::Conn;
use crate::db::schema::op_log;
use crate::op_row;

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
    /// A stored row does not write its op back (a newer release's format, or edited by hand).
    #[error("stored op {seq} is unreadable: {source}")]
    Row {
        /// Its sequence number.
        seq: i64,
        /// Why.
        source: op_row::RowError,
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

/// One row of the op log, in the lean layout of [`crate::op_row`]: ids as 16-byte blobs, the kind as a code, the
/// body as its `format` says. `None` is written as NULL (`treat_none_as_default_value = false`), as in the report
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
    pub op_id: Vec<u8>,
    /// The device that pushed it.
    pub device_id: Vec<u8>,
    /// The op's replica when it is not `device_id`.
    pub replica: Option<Vec<u8>>,
    /// Its author.
    pub author: Vec<u8>,
    /// Its kind's code ([`crate::op_row::KIND_CODES`]).
    pub kind: i64,
    /// The entity id.
    pub entity: Vec<u8>,
    /// The grid cell it belongs to, as the server saw it when storing it.
    pub grid: Option<Vec<u8>>,
    /// HLC wall time.
    pub hlc_wall_ms: i64,
    /// HLC logical counter.
    pub hlc_logical: i64,
    /// Server receive time.
    pub received_ms: i64,
    /// What `body` holds ([`crate::op_row`]).
    pub format: i64,
    /// The body.
    pub body: Vec<u8>,
}

impl OpRow {
    /// The row of `op` (canonical JSON `json`) at `seq` in `community`'s log, pushed by `device` at `received_ms`,
    /// in grid cell `grid` as the server sees it.
    pub fn new(
        community: CommunityId,
        seq: i64,
        op: &Op,
        json: &str,
        device: ReplicaId,
        grid: Option<GridId>,
        received_ms: i64,
    ) -> OpRow {
        OpRow::with_body(
            community,
            seq,
            op,
            op_row::body_of(op, json),
            device,
            grid,
            received_ms,
        )
    }

    /// [`OpRow::new`] with the op's stored body made already ([`op_row::body_of`], while the request was read).
    pub fn with_body(
        community: CommunityId,
        seq: i64,
        op: &Op,
        body: op_row::Body,
        device: ReplicaId,
        grid: Option<GridId>,
        received_ms: i64,
    ) -> OpRow {
        let lean = op_row::encode_with(op, body, device, grid);
        OpRow {
            community_id: community.0,
            seq,
            op_id: lean.op_id,
            device_id: lean.device_id,
            replica: lean.replica,
            author: lean.author,
            kind: lean.kind,
            entity: lean.entity,
            grid: lean.grid,
            hlc_wall_ms: lean.hlc_wall_ms,
            hlc_logical: lean.hlc_logical,
            received_ms,
            format: lean.format,
            body: lean.body,
        }
    }
}

/// What a read selects to write an op's canonical JSON back.
type Stored = (
    i64,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Vec<u8>,
    i64,
    Vec<u8>,
    i64,
    i64,
    i64,
    Vec<u8>,
);

/// The columns of [`Stored`], in its order.
macro_rules! stored_columns {
    () => {
        (
            op_log::seq,
            op_log::op_id,
            op_log::device_id,
            op_log::replica,
            op_log::author,
            op_log::kind,
            op_log::entity,
            op_log::hlc_wall_ms,
            op_log::hlc_logical,
            op_log::format,
            op_log::body,
        )
    };
}

/// A stored row's sequence number and canonical JSON.
fn json_of(row: &Stored) -> Result<String, StoreError> {
    let (seq, op_id, device_id, replica, author, kind, entity, wall, logical, format, body) = row;
    let envelope = op_row::Envelope {
        op_id,
        device_id,
        replica: replica.as_deref(),
        author,
        kind: *kind,
        entity,
        hlc_wall_ms: *wall,
        hlc_logical: *logical,
    };
    op_row::decode(&envelope, *format, body).map_err(|source| StoreError::Row { seq: *seq, source })
}

/// SQLite accepts at most 32,766 bound variables per statement; 14 columns × 1,000 rows stays well inside.
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
    let ids: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| op_row::id_bytes(*id.as_uuid()))
        .collect();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let found: Vec<Vec<u8>> = op_log::table
            .filter(op_log::op_id.eq_any(chunk))
            .filter(op_log::community_id.ne(community.0))
            .select(op_log::op_id)
            .load(conn)?;
        out.extend(
            found
                .iter()
                .filter_map(|b| op_row::id_of(b))
                .map(OpId::from_uuid),
        );
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
    let rows: Vec<Stored> = op_log::table
        .filter(op_log::community_id.eq(community.0))
        .filter(op_log::seq.gt(cursor))
        .order(op_log::seq.asc())
        .limit(limit)
        .select(stored_columns!())
        .load(conn)?;
    rows.iter()
        .map(|row| Ok((row.0, parse(row.0, &json_of(row)?)?)))
        .collect()
}

/// The canonical JSON of the ops of `community` stored at `seqs` (ascending), in that order, byte for byte as
/// stored (written back from the lean row). A sequence
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
        let rows: Vec<Stored> = query
            .order(op_log::seq.asc())
            .select(stored_columns!())
            .load(conn)?;
        let mut rows = rows.iter();
        for &seq in chunk {
            match rows.next() {
                Some(row) if row.0 == seq => out.push(json_of(row)?),
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
        .filter(op_log::op_id.eq(op_row::id_bytes(id.0)))
        .count()
        .get_result(conn)?)
}

/// Parses a stored op (`seq` names it in the error).
pub fn parse(seq: i64, body: &str) -> Result<Op, StoreError> {
    Op::from_json(body).map_err(|source| StoreError::Corrupt { seq, source })
}

/// Rows per transaction of [`compress_plain_rows`].
const COMPRESS_BATCH: i64 = 5000;

/// The row of the `maintenance` table that says the lean op log migration's rows still wait for
/// [`compress_plain_rows`]: written by the migration, deleted once every community's rows are done.
pub const COMPRESS_PENDING: &str = "compress_op_log_bodies";

/// Compresses the format-1 rows (the lean op log migration's, which plain SQL cannot compress) to format 2 where
/// that pays, a transaction per few thousand rows, community by community along the op log's key (each page a
/// range read of the key, so the pass is linear in the log); returns how many rows it compressed. Resumable: a
/// pass cut short (a crash, a kill) leaves the `maintenance` row, and the next start goes on from the beginning,
/// passing over rows already compressed.
pub fn compress_plain_rows(conn: &mut Conn) -> Result<usize, StoreError> {
    use crate::db::schema::communities;
    let ids: Vec<i64> = communities::table
        .select(communities::id)
        .order(communities::id.asc())
        .load(conn)?;
    let mut done = 0;
    for community in ids {
        let mut after = 0;
        loop {
            let rows: Vec<(i64, Vec<u8>)> = op_log::table
                .filter(op_log::community_id.eq(community))
                .filter(op_log::seq.gt(after))
                .filter(op_log::format.eq(op_row::FORMAT_BODY))
                .order(op_log::seq.asc())
                .limit(COMPRESS_BATCH)
                .select((op_log::seq, op_log::body))
                .load(conn)?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            done += crate::db::sqlite::write_txn(conn, |conn| -> Result<usize, StoreError> {
                let mut n = 0;
                for (seq, body) in &rows {
                    let Some(small) = op_row::compress(body).filter(|s| s.len() < body.len())
                    else {
                        continue;
                    };
                    diesel::update(
                        op_log::table
                            .filter(op_log::community_id.eq(community))
                            .filter(op_log::seq.eq(seq)),
                    )
                    .set((
                        op_log::format.eq(op_row::FORMAT_BODY_ZSTD_1),
                        op_log::body.eq(small),
                    ))
                    .execute(conn)?;
                    n += 1;
                }
                Ok(n)
            })?;
        }
    }
    Ok(done)
}

/// Whether the lean op log migration's compression is still to be done ([`COMPRESS_PENDING`]).
pub fn compression_pending(conn: &mut Conn) -> Result<bool, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let c: Count = diesel::sql_query("SELECT count(*) AS n FROM maintenance WHERE task = ?")
        .bind::<diesel::sql_types::Text, _>(COMPRESS_PENDING)
        .get_result(conn)?;
    Ok(c.n > 0)
}

/// Marks the lean op log migration's compression done.
pub fn compression_done(conn: &mut Conn) -> Result<(), StoreError> {
    diesel::sql_query("DELETE FROM maintenance WHERE task = ?")
        .bind::<diesel::sql_types::Text, _>(COMPRESS_PENDING)
        .execute(conn)?;
    Ok(())
}
