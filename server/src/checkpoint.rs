//! A community's checkpoint: its merged state and its log index at a sequence number, stored in the `checkpoints`
//! table (one row per community, the latest), so loading a community reads one row and the ops after it instead of
//! its whole log (issue 11, ADR 0006). The state's bytes are sync-core's [`linli_sync_core::checkpoint`] format;
//! the index's are this module's (below). The log stays the truth: any checkpoint that does not read back exactly
//! is a typed [`LoadError`], and the caller rebuilds from the log.
//!
//! The index's bytes (integers little-endian):
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..4 | magic `LNIX` |
//! | 4..6 | format version ([`INDEX_FORMAT`]) |
//! | 6..8 | reserved, zero |
//! | 8..16 | sequence number the index is complete up to |
//! | 16..24 | entries |
//! | 24..32 | members |
//! | 32..40 | newest op time: wall ms (for the server's clock, ADR 0002) |
//! | 40..44 | newest op time: logical counter |
//! | 44..48 | fingerprint of the op kinds' numbering (CRC-32 of their wire names in order) |
//! | 48.. | entries, [`ENTRY_BYTES`] each: seq (8), op id (16), kind number (1), entity (16) |
//! | .. | members, [`MEMBER_BYTES`] each: seq (8), user id (16) |
//! | last 4 | CRC-32 (IEEE) of every byte before it |
//!
//! Fixed-size entries read back with no parsing beyond copying; the op id -> sequence map is rebuilt on load.

use diesel::prelude::*;
use linli_sync_core::checkpoint::{self as state_codec, CheckpointError};
use linli_sync_core::hlc::Hlc;
use linli_sync_core::ids::{OpId, UserId};
use linli_sync_core::op::OpKind;
use linli_sync_core::state::Rules;
use thiserror::Error;
use uuid::Uuid;

use crate::community::CommunityId;
use crate::db::Conn;
use crate::db::schema::checkpoints;
use crate::engine::View;
use crate::log_index::{Entry, LogIndex};
use crate::store::StoreError;

/// The four bytes the index's checkpoint starts with.
pub const INDEX_MAGIC: [u8; 4] = *b"LNIX";
/// The index format this build writes and the only one it reads.
pub const INDEX_FORMAT: u16 = 1;
/// Bytes before the index's entries.
const INDEX_HEADER: usize = 48;
/// Bytes of one entry.
pub const ENTRY_BYTES: usize = 8 + 16 + 1 + 16;
/// Bytes of one member.
pub const MEMBER_BYTES: usize = 8 + 16;

/// Why a stored checkpoint was not used. Each one means: rebuild from the log.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LoadError {
    /// The state's bytes do not read back (corrupt, truncated, another format, other rules).
    #[error("state: {0}")]
    State(#[from] CheckpointError),
    /// The index's bytes do not read back.
    #[error("log index: {0}")]
    Index(String),
    /// The row's `format` column is not the state format this build reads.
    #[error("format {found} in the row, this build reads {supported}")]
    Format {
        /// The row's.
        found: i64,
        /// This build's.
        supported: u16,
    },
    /// The row, the state and the index disagree on the sequence number.
    #[error("sequence numbers disagree: row {row}, state {state}, index {index}")]
    SeqMismatch {
        /// The row's `seq`.
        row: i64,
        /// The state's header.
        state: u64,
        /// The index's header.
        index: u64,
    },
    /// The row was written by a build whose merge logic may differ ([`logic_tag`]): its state may not be what this
    /// build makes of the log.
    #[error("built by merge logic {found:?}, this build's is {current:?}")]
    Logic {
        /// The row's.
        found: String,
        /// This build's.
        current: String,
    },
    /// The checkpoint claims ops the log does not have.
    #[error("checkpoint at {seq} is beyond the log's head {head}")]
    BeyondHead {
        /// The checkpoint's sequence number.
        seq: i64,
        /// The community's head.
        head: i64,
    },
}

/// A stored checkpoint row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkpoints)]
pub struct Stored {
    /// The community.
    pub community_id: i64,
    /// The sequence number both are complete up to.
    pub seq: i64,
    /// The state's format version.
    pub format: i64,
    /// The state's bytes.
    pub state: Vec<u8>,
    /// The index's bytes.
    pub log_index: Vec<u8>,
    /// When it was written.
    pub created_ms: i64,
    /// The merge logic that built it ([`logic_tag`]).
    pub logic: String,
}

/// This build's merge-logic tag: sync-core's [`state_codec::STATE_LOGIC`] (bumped by hand when `State::apply` or a
/// merge changes; a sync-core test pins it to a fingerprint of a fixed history's merged state, so a merge change
/// cannot forget it) and this server's package version. A row with another tag is not read.
pub fn logic_tag() -> String {
    format!("{}/{}", state_codec::STATE_LOGIC, env!("CARGO_PKG_VERSION"))
}

/// Encodes a view as a row for `community` (the expensive part: run it off the writer's path).
pub fn encode(community: CommunityId, view: &View, now_ms: i64) -> Stored {
    let seq = u64::try_from(view.last_seq).unwrap_or(0);
    Stored {
        community_id: community.0,
        seq: view.last_seq,
        format: i64::from(state_codec::FORMAT_VERSION),
        state: state_codec::encode(&view.state, seq),
        log_index: encode_index(&view.log, seq, view.newest),
        created_ms: now_ms,
        logic: logic_tag(),
    }
}

/// Reads a stored row back as a view, under `rules`, for a log whose head is `head`.
pub fn decode(row: &Stored, rules: &Rules, head: i64) -> Result<View, LoadError> {
    if row.format != i64::from(state_codec::FORMAT_VERSION) {
        return Err(LoadError::Format {
            found: row.format,
            supported: state_codec::FORMAT_VERSION,
        });
    }
    let current = logic_tag();
    if row.logic != current {
        return Err(LoadError::Logic {
            found: row.logic.clone(),
            current,
        });
    }
    if row.seq > head {
        return Err(LoadError::BeyondHead { seq: row.seq, head });
    }
    let (state, state_seq) = state_codec::decode_under(&row.state, rules)?;
    let (log, index_seq, newest) = decode_index(&row.log_index)?;
    if u64::try_from(row.seq).ok() != Some(state_seq) || state_seq != index_seq {
        return Err(LoadError::SeqMismatch {
            row: row.seq,
            state: state_seq,
            index: index_seq,
        });
    }
    Ok(View {
        state,
        log,
        last_seq: row.seq,
        newest,
    })
}

/// Stores `row` as its community's checkpoint, unless one at the same or a later sequence number is stored already
/// (two writers of checkpoints may race: the later one always wins) and `replace` is false. The server always
/// passes false (after a fallback it [`discard`]s the bad row first); `replace` is for tests and benches that
/// put a row in place by hand. Whether it was stored.
pub fn save(conn: &mut Conn, row: &Stored, replace: bool) -> Result<bool, StoreError> {
    crate::db::sqlite::write_txn(conn, |conn| {
        let stored: Option<i64> = checkpoints::table
            .find(row.community_id)
            .select(checkpoints::seq)
            .first(conn)
            .optional()?;
        if !replace && stored.is_some_and(|s| s >= row.seq) {
            return Ok(false);
        }
        diesel::replace_into(checkpoints::table)
            .values(row)
            .execute(conn)?;
        Ok(true)
    })
}

/// Deletes `community`'s checkpoint if it is still the one at `seq` (`None`: whatever is stored), so the fresh
/// checkpoint after a fallback is written by the ordinary rule (never over a later one) instead of replacing
/// unconditionally. Whether a row was deleted.
pub fn discard(
    conn: &mut Conn,
    community: CommunityId,
    seq: Option<i64>,
) -> Result<bool, StoreError> {
    let n = crate::db::sqlite::write_txn(conn, |conn| -> Result<usize, StoreError> {
        let rows = checkpoints::table.filter(checkpoints::community_id.eq(community.0));
        Ok(match seq {
            Some(seq) => diesel::delete(rows.filter(checkpoints::seq.eq(seq))).execute(conn)?,
            None => diesel::delete(rows).execute(conn)?,
        })
    })?;
    Ok(n > 0)
}

/// The stored checkpoint of `community`, if any.
pub fn latest(conn: &mut Conn, community: CommunityId) -> Result<Option<Stored>, StoreError> {
    Ok(checkpoints::table
        .find(community.0)
        .select(Stored::as_select())
        .first(conn)
        .optional()?)
}

/// The sequence number of the stored checkpoint of `community`, if any, without reading its bytes.
pub fn stored_seq(conn: &mut Conn, community: CommunityId) -> Result<Option<i64>, StoreError> {
    Ok(checkpoints::table
        .find(community.0)
        .select(checkpoints::seq)
        .first(conn)
        .optional()?)
}

/// CRC-32 of the op kinds' wire names in their numbering order: a build that numbers them otherwise refuses the
/// index rather than reading kinds wrong.
fn kinds_fingerprint() -> u32 {
    let mut h = crc32fast::Hasher::new();
    for k in OpKind::ALL {
        h.update(k.as_str().as_bytes());
        h.update(&[0]);
    }
    h.finalize()
}

/// The index's checkpoint bytes (see the module's table).
pub fn encode_index(log: &LogIndex, seq: u64, newest: Hlc) -> Vec<u8> {
    let entries = log.entries();
    let members = log.members();
    let mut out = Vec::with_capacity(
        INDEX_HEADER + entries.len() * ENTRY_BYTES + members.len() * MEMBER_BYTES + 4,
    );
    out.extend_from_slice(&INDEX_MAGIC);
    out.extend_from_slice(&INDEX_FORMAT.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    out.extend_from_slice(&(members.len() as u64).to_le_bytes());
    out.extend_from_slice(&newest.wall_ms.to_le_bytes());
    out.extend_from_slice(&newest.logical.to_le_bytes());
    out.extend_from_slice(&kinds_fingerprint().to_le_bytes());
    for e in entries {
        let kind = OpKind::ALL.iter().position(|k| *k == e.kind).unwrap_or(0);
        out.extend_from_slice(&e.seq.to_le_bytes());
        out.extend_from_slice(e.id.0.as_bytes());
        out.push(u8::try_from(kind).unwrap_or(u8::MAX));
        out.extend_from_slice(e.entity.as_bytes());
    }
    for (s, user) in &members {
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(user.0.as_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads the index's checkpoint bytes: the index, the sequence number and the newest op time.
pub fn decode_index(bytes: &[u8]) -> Result<(LogIndex, u64, Hlc), LoadError> {
    let bad = |why: String| LoadError::Index(why);
    if bytes.len() < INDEX_HEADER + 4 {
        return Err(bad(format!("truncated: {} bytes", bytes.len())));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if body[0..4] != INDEX_MAGIC {
        return Err(bad("not a log index (magic bytes differ)".into()));
    }
    let version = u16::from_le_bytes([body[4], body[5]]);
    if version != INDEX_FORMAT {
        return Err(bad(format!(
            "format {version}, this build reads {INDEX_FORMAT}"
        )));
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&body[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let u32_at =
        |at: usize| u32::from_le_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
    let (seq, n_entries, n_members) = (u64_at(8), u64_at(16), u64_at(24));
    let expected = usize::try_from(n_entries)
        .ok()
        .and_then(|n| n.checked_mul(ENTRY_BYTES))
        .zip(
            usize::try_from(n_members)
                .ok()
                .and_then(|n| n.checked_mul(MEMBER_BYTES)),
        )
        .and_then(|(a, b)| a.checked_add(b))
        .and_then(|n| n.checked_add(INDEX_HEADER));
    if expected != Some(body.len()) {
        return Err(bad(format!(
            "{} bytes, the header's counts need {}",
            bytes.len(),
            expected.map_or_else(|| "more than can exist".into(), |n| (n + 4).to_string())
        )));
    }
    if crc32fast::hash(body) != crc {
        return Err(bad("checksum mismatch".into()));
    }
    let newest = Hlc {
        wall_ms: u64_at(32),
        logical: u32_at(40),
    };
    if u32_at(44) != kinds_fingerprint() {
        return Err(bad(
            "written by a build that numbers op kinds otherwise".into()
        ));
    }
    let uuid_at = |at: usize| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&body[at..at + 16]);
        Uuid::from_bytes(b)
    };
    let i64_at = |at: usize| i64::from_le_bytes(u64_at(at).to_le_bytes());
    let n_entries = usize::try_from(n_entries).unwrap_or(0);
    let mut entries = Vec::with_capacity(n_entries);
    let mut at = INDEX_HEADER;
    let limit = i64::try_from(seq).unwrap_or(i64::MAX);
    for _ in 0..n_entries {
        let s = i64_at(at);
        let kind = *OpKind::ALL
            .get(usize::from(body[at + 24]))
            .ok_or_else(|| bad(format!("entry {s}: unknown kind number {}", body[at + 24])))?;
        if entries.last().is_some_and(|e: &Entry| e.seq >= s) || s < 1 || s > limit {
            return Err(bad(format!("entry {s} out of order or beyond {seq}")));
        }
        entries.push(Entry {
            seq: s,
            id: OpId(uuid_at(at + 8)),
            kind,
            entity: uuid_at(at + 25),
        });
        at += ENTRY_BYTES;
    }
    let mut members = Vec::new();
    while at < body.len() {
        members.push((i64_at(at), UserId(uuid_at(at + 8))));
        at += MEMBER_BYTES;
    }
    Ok((LogIndex::from_parts(entries, members), seq, newest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{CacheConfig, Engine, Engines};
    use crate::store::{self, OpRow};
    use linli_sync_core::op::Op;
    use linli_sync_core::test_support::{community_year_of, history};
    use proptest::prelude::*;
    use std::sync::atomic::Ordering;

    const FIRST: CommunityId = CommunityId::FIRST;

    fn pool(dir: &tempfile::TempDir) -> crate::db::DbPool {
        crate::db::temp_pool(dir, 4)
    }

    /// Stores `ops` as community 1's log (seq 1, 2, …) and moves its head row with them, as a commit does.
    fn seed(pool: &crate::db::DbPool, ops: &[Op]) {
        let rows: Vec<OpRow> = ops
            .iter()
            .zip(1..)
            .map(|(op, seq)| OpRow::new(FIRST, seq, op, &op.to_json(), op.replica, None, 0))
            .collect();
        let mut conn = pool.get().expect("connection");
        crate::db::sqlite::write_txn(&mut conn, |c| {
            store::append(c, &rows)?;
            crate::community::bump_head(c, FIRST, i64::try_from(rows.len()).unwrap_or(0))
        })
        .expect("append");
    }

    /// The view of community 1's log up to `cut`, as a checkpoint would hold it, stored as its checkpoint.
    fn checkpoint_at(pool: &crate::db::DbPool, cut: i64) -> Stored {
        let mut conn = pool.get().expect("connection");
        let mut view = View::empty(Rules::DEFAULT);
        view.extend_from_log(&mut conn, FIRST, Some(cut))
            .expect("log");
        let row = encode(FIRST, &view, 0);
        assert!(save(&mut conn, &row, false).expect("saved"));
        row
    }

    fn rebuilt(pool: &crate::db::DbPool) -> Engine {
        Engine::open(pool.clone(), Rules::DEFAULT, FIRST).expect("rebuild")
    }

    fn no_periodic() -> CacheConfig {
        CacheConfig {
            checkpoint_every: i64::MAX,
            ..CacheConfig::default()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Issue 11: loading a community from its checkpoint at any point of its log and the ops after it gives
        /// the same state, index, sequence number and server clock as rebuilding it from the whole log.
        #[test]
        fn checkpoint_and_tail_equal_a_full_rebuild(h in history(5, 60), cut in 0.0f64..=1.0) {
            let dir = tempfile::tempdir().expect("temp dir");
            let pool = pool(&dir);
            seed(&pool, &h.ops);
            let len = i64::try_from(h.ops.len()).unwrap_or(0);
            let cut = ((len as f64) * cut).round() as i64;
            checkpoint_at(&pool, cut);
            let engines = Engines::with_cache(pool.clone(), Rules::DEFAULT, no_periodic());
            let loaded = engines.get(FIRST).expect("loads");
            let full = rebuilt(&pool);
            prop_assert_eq!(engines.stats().checkpoint_loads.load(Ordering::Relaxed), 1);
            prop_assert_eq!(engines.stats().fallbacks.load(Ordering::Relaxed), 0);
            prop_assert_eq!(&*loaded.view(), &*full.view());
            prop_assert_eq!(loaded.server_clock().last(), full.server_clock().last());
            prop_assert_eq!(loaded.checkpointed(), cut);
        }
    }

    /// The index's bytes read back exactly, and any change to them is refused by type.
    #[test]
    fn the_index_bytes_read_back_and_refuse_any_change() {
        let ops = community_year_of(3, 1_700_000_000_000, 1);
        let mut view = View::empty(Rules::DEFAULT);
        for (op, seq) in ops.iter().zip(1..) {
            view.state.apply(op);
            view.log.push(seq, op);
            view.newest = view.newest.max(op.time);
            view.last_seq = seq;
        }
        assert!(
            !view.log.members().is_empty(),
            "the day holds membership ops"
        );
        let seq = u64::try_from(view.last_seq).unwrap_or(0);
        let bytes = encode_index(&view.log, seq, view.newest);
        assert_eq!(
            bytes.len(),
            INDEX_HEADER
                + ENTRY_BYTES * view.log.len()
                + MEMBER_BYTES * view.log.members().len()
                + 4
        );
        let (log, read_seq, newest) = decode_index(&bytes).expect("reads back");
        assert_eq!((&log, read_seq, newest), (&view.log, seq, view.newest));
        for at in [
            0,
            5,
            9,
            17,
            30,
            41,
            46,
            INDEX_HEADER + 3,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(
                matches!(decode_index(&flipped), Err(LoadError::Index(_))),
                "a flipped bit at {at} is refused"
            );
        }
        for len in [0, 10, INDEX_HEADER, bytes.len() - 1] {
            assert!(matches!(
                decode_index(&bytes[..len]),
                Err(LoadError::Index(_))
            ));
        }
    }

    /// Issue 11: a checkpoint row that does not read back (a flipped bit in either blob, truncated, another format,
    /// other rules, a sequence number beyond the head) is logged and replaced: the community is rebuilt from its
    /// log, exactly, and a fresh checkpoint is written; nothing of the log changes.
    #[test]
    fn a_corrupted_checkpoint_falls_back_to_the_log_and_is_replaced() {
        let ops = community_year_of(1, 1_700_000_000_000, 1);
        let len = i64::try_from(ops.len()).unwrap_or(0);
        type Damage = fn(&mut Stored);
        let damages: [(&str, Damage); 10] = [
            ("state bit flip", |r| {
                let at = r.state.len() / 2;
                r.state[at] ^= 1;
            }),
            ("state truncated", |r| {
                r.state.truncate(r.state.len() - 100);
            }),
            ("index bit flip", |r| {
                let at = r.log_index.len() / 3;
                r.log_index[at] ^= 4;
            }),
            ("index truncated", |r| r.log_index.truncate(60)),
            ("other format in the row", |r| r.format += 1),
            ("other format in the bytes", |r| {
                r.state[4] = r.state[4].wrapping_add(1)
            }),
            ("beyond the head", |r| r.seq += 1_000_000),
            // Review of issue 11, finding 1: written by another build's merge logic (a release that changed
            // `State::apply` reads the bytes back fine, but they may not be what it makes of the log).
            ("other merge logic", |r| r.logic = "0/0.0.0".into()),
            ("no merge logic (a row from before the column)", |r| {
                r.logic = String::new()
            }),
            ("other rules", |r| {
                let rules = Rules {
                    drift: linli_sync_core::hlc::DriftPolicy { max_ahead_ms: 1 },
                    ..Rules::DEFAULT
                };
                let (mut state, seq) = state_codec::decode(&r.state).expect("reads");
                let mut other = State::new(rules);
                std::mem::swap(&mut other, &mut state);
                // A state of no op under other rules, same sequence number.
                r.state = state_codec::encode(&state, seq);
            }),
        ];
        use linli_sync_core::state::State;
        for (what, damage) in damages {
            let dir = tempfile::tempdir().expect("temp dir");
            let pool = pool(&dir);
            seed(&pool, &ops);
            let mut row = checkpoint_at(&pool, len / 2);
            damage(&mut row);
            let mut conn = pool.get().expect("connection");
            diesel::replace_into(checkpoints::table)
                .values(&row)
                .execute(&mut conn)
                .expect("damaged row stored");
            let engines = Engines::with_cache(pool.clone(), Rules::DEFAULT, no_periodic());
            let loaded = engines.get(FIRST).expect("loads anyway");
            let full = rebuilt(&pool);
            assert_eq!(*loaded.view(), *full.view(), "{what}: rebuilt exactly");
            assert_eq!(
                loaded.server_clock().last(),
                full.server_clock().last(),
                "{what}"
            );
            let stats = engines.stats();
            assert_eq!(
                (
                    stats.fallbacks.load(Ordering::Relaxed),
                    stats.checkpoint_loads.load(Ordering::Relaxed)
                ),
                (1, 0),
                "{what}: counted as a fallback"
            );
            // The fresh checkpoint is written on a thread of its own: wait for it (bounded, not timed).
            let mut fresh = None;
            for _ in 0..600 {
                fresh = latest(&mut conn, FIRST)
                    .expect("row")
                    .filter(|r| r.seq == len);
                if fresh.is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let fresh = fresh.unwrap_or_else(|| panic!("{what}: a fresh checkpoint was written"));
            let head = crate::community::head(&mut conn, FIRST).expect("head");
            assert_eq!(head, len, "{what}: the log is untouched");
            assert_eq!(
                decode(&fresh, &Rules::DEFAULT, head).expect("the fresh one reads"),
                *full.view(),
                "{what}"
            );
        }
    }

    /// A checkpoint older than the stored one never replaces it (a background checkpoint racing a later one).
    #[test]
    fn an_older_checkpoint_never_replaces_a_newer_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = pool(&dir);
        seed(&pool, &community_year_of(2, 1_700_000_000_000, 1));
        checkpoint_at(&pool, 300);
        let mut conn = pool.get().expect("connection");
        let mut view = View::empty(Rules::DEFAULT);
        view.extend_from_log(&mut conn, FIRST, Some(100))
            .expect("log");
        assert!(!save(&mut conn, &encode(FIRST, &view, 0), false).expect("no error"));
        assert_eq!(stored_seq(&mut conn, FIRST).expect("seq"), Some(300));
    }

    /// Review of issue 11, finding 11: a checkpoint row that does not even read as a row (a NULL blob, after a hand
    /// edit of a table without its constraints) is a fallback like any checkpoint that does not read back, not an
    /// error on every request to the community.
    #[test]
    fn a_row_that_does_not_read_falls_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = pool(&dir);
        let ops = community_year_of(1, 1_700_000_000_000, 1);
        seed(&pool, &ops);
        let len = i64::try_from(ops.len()).unwrap_or(0);
        let mut conn = pool.get().expect("connection");
        for sql in [
            "DROP TABLE checkpoints",
            "CREATE TABLE checkpoints (community_id BIGINT PRIMARY KEY NOT NULL, seq BIGINT, format BIGINT, \
             state BLOB, log_index BLOB, created_ms BIGINT, logic TEXT)",
            "INSERT INTO checkpoints VALUES (1, 5, 1, NULL, NULL, 0, NULL)",
        ] {
            diesel::sql_query(sql).execute(&mut conn).expect(sql);
        }
        assert!(latest(&mut conn, FIRST).is_err(), "the row does not read");
        let engines = Engines::with_cache(pool.clone(), Rules::DEFAULT, no_periodic());
        let loaded = engines.get(FIRST).expect("loads anyway");
        assert_eq!(*loaded.view(), *rebuilt(&pool).view());
        assert_eq!(engines.stats().fallbacks.load(Ordering::Relaxed), 1);
        // The bad row was deleted and a fresh one written in its place (on a thread of its own: waited for, bounded).
        let mut fresh = None;
        for _ in 0..600 {
            fresh = latest(&mut conn, FIRST).ok().flatten();
            if fresh.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let fresh = fresh.expect("a fresh checkpoint was written");
        assert_eq!(fresh.seq, len);
    }

    /// Review of issue 11, finding 7: the bad row is deleted only if it is still the one the load read, so a later
    /// checkpoint stored meanwhile (by another process) is kept, and the fresh one follows the ordinary rule.
    #[test]
    fn discarding_a_bad_row_keeps_a_later_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = pool(&dir);
        seed(&pool, &community_year_of(1, 1_700_000_000_000, 1));
        checkpoint_at(&pool, 300);
        let mut conn = pool.get().expect("connection");
        assert!(!discard(&mut conn, FIRST, Some(100)).expect("no error"));
        assert_eq!(stored_seq(&mut conn, FIRST).expect("seq"), Some(300));
        assert!(discard(&mut conn, FIRST, Some(300)).expect("no error"));
        assert_eq!(stored_seq(&mut conn, FIRST).expect("seq"), None);
    }

    /// Review of issue 11, finding 6: a checkpoint refused because another writer stored one at the same or a later
    /// seq is not counted as written (it was not), though the engine knows a checkpoint that far is stored.
    #[test]
    fn a_checkpoint_refused_for_a_later_one_is_not_counted_as_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = pool(&dir);
        let ops = community_year_of(1, 1_700_000_000_000, 1);
        let len = i64::try_from(ops.len()).unwrap_or(0);
        seed(&pool, &ops);
        checkpoint_at(&pool, 100);
        let engines = Engines::with_cache(pool.clone(), Rules::DEFAULT, no_periodic());
        let loaded = engines.get(FIRST).expect("loads");
        assert_eq!(loaded.checkpointed(), 100);
        // Another writer (a second process) stores one at the head meanwhile.
        checkpoint_at(&pool, len);
        loaded.checkpoint_now();
        assert_eq!(
            engines.stats().checkpoints_written.load(Ordering::Relaxed),
            0,
            "not stored, not counted"
        );
        assert_eq!(loaded.checkpointed(), len);
    }
}
