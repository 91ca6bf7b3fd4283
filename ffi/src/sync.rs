//! Sync, transport-agnostic: [`Store::prepare_sync`] gives the request body (`SyncRequest` of
//! `linli_sync_core::sync`: unacknowledged ops oldest first, and the pull cursor); [`Store::apply_sync_response`]
//! applies the server's answer (acknowledgements and new ops) in one transaction. Ops are stored by id, so applying
//! an answer twice, or an answer that repeats ops already held, changes nothing.
//!
//! A new or replaced device starts from a [`Snapshot`] ([`Store::bootstrap`]). A server answer with the problem
//! code `device_revoked` wipes the replica's data and marks it revoked; the documented manual wipe is
//! [`Store::wipe`].

use linli_sync_core::grid::MemberRole;
use linli_sync_core::prelude::{
    CardOp, GridId, Op, OpBody, OpId, PROTOCOL_VERSION, Role, Rules, Snapshot, State, SyncRequest,
    SyncResponse,
};
use linli_sync_core::rights::grids_of;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;

use crate::device;
use crate::error::{Error, Result};
use crate::oplog;
use crate::store::{Store, load_state};
use crate::types::SyncOutcome;
use crate::views::{self, Me};

/// The problem code with which the server refuses a revoked device.
pub const REVOKED: &str = "device_revoked";

/// The most ops pushed in one request, well under the server's batch limit (5000 by default) and body limit: a
/// phone back from a week offline pushes its backlog in several round trips instead of being refused forever.
pub const PUSH_LIMIT: usize = 1000;

/// The most op bytes (their JSON) pushed in one request: half the server's default body limit (8 MiB), so a backlog
/// of long ops (the server accepts ops up to 64 KiB) goes in several round trips instead of being refused
/// `payload_too_large` forever. A request always carries at least one op.
pub const PUSH_BYTES: usize = 4 * 1024 * 1024;

/// Problem codes that refuse an op for good: retrying cannot help, so the op is set aside (kept, reported by
/// `rejected_ops`, no longer pushed nor part of the state) and the rest of the queue goes on. Every other refusal
/// (`unknown_op_kind` from an older server, `payload_too_large`, …) leaves the queue as it is; `clock_skew` holds
/// the refused op back for one round trip or re-stamps it ([`Store::clock_refusal`]). `op_too_large` (one op longer
/// than the server's `max_op_bytes`) is permanent: the same op would be refused at every sync and, since a refused
/// batch stops the round trip before its pull, would cut the device off for good.
pub const PERMANENT: &[&str] = &[
    "op_too_large",
    "role_forbidden",
    "out_of_scope",
    "wrong_actor",
    "insufficient_rights",
    "op_invalid",
    "invalid_op",
    "op_id_conflict",
];

/// The problem code with which the server refuses an op stamped beyond its drift bound.
pub const CLOCK_SKEW: &str = "clock_skew";

/// The cause code of a card spend whose sequence number is not its issuer's next one at the server.
pub const SEQUENCE_GAP: &str = "sequence_gap";

/// Above this many new ops in one answer, the views are rebuilt rather than updated op by op.
const REBUILD_ABOVE: usize = 256;

impl Store {
    /// The body of the next sync request: every op not yet acknowledged (oldest first) and the pull cursor. While
    /// an op is held after a `clock_skew` refusal, only the ops written before it are pushed (possibly none), so the
    /// pull still runs.
    pub fn prepare_sync(&self) -> Result<Vec<u8>> {
        self.ensure_active()?;
        let ops = match self.held {
            Some(held) => oplog::unsynced_before(&self.conn, held, PUSH_LIMIT, PUSH_BYTES)?,
            None => oplog::unsynced(&self.conn, PUSH_LIMIT, PUSH_BYTES)?,
        };
        let request = SyncRequest::new(self.device()?.cursor, ops);
        serde_json::to_vec(&request).map_err(|e| crate::error::json("request encoding", &e))
    }

    /// Applies a server answer: a `SyncResponse`, or a problem document (`{"code": …}`) the server sent instead.
    pub fn apply_sync_response(&mut self, now_ms: u64, bytes: &[u8]) -> Result<SyncOutcome> {
        self.ensure_active()?;
        if let Some(problem) = Problem::parse(bytes) {
            if let Some(outcome) = self.clock_refusal(now_ms, &problem)? {
                return Ok(outcome);
            }
            if let Some(outcome) = self.spend_gap(&problem)? {
                return Ok(outcome);
            }
            return Err(self.refused(now_ms, problem.status.unwrap_or(0), problem));
        }
        let response: SyncResponse = serde_json::from_slice(bytes)
            .map_err(|e| crate::error::json("not a sync response", &e))?;
        if response.protocol != PROTOCOL_VERSION {
            return Err(Error::Invalid(format!(
                "the server speaks sync protocol {}, this library {PROTOCOL_VERSION}: upgrade required",
                response.protocol
            )));
        }
        match self.apply_inner(now_ms, &response) {
            Ok(outcome) => {
                // Housekeeping once the answer is safely stored: if it fails, nothing is lost, and the next
                // answer tries again.
                let _ = self.compact_if_large();
                Ok(outcome)
            }
            Err(e) => {
                if let Ok(state) = load_state(&self.conn) {
                    self.state = state;
                }
                Err(e)
            }
        }
    }

    fn apply_inner(&mut self, now_ms: u64, response: &SyncResponse) -> Result<SyncOutcome> {
        let device = self.device()?;
        let cursor = device.cursor.max(response.cursor);
        let Store {
            conn,
            state,
            writer,
            me,
            held,
            ..
        } = self;
        let before = scope_of(state, *me);
        let tx = conn.transaction()?;
        // A pull from cursor 0 on a replica without a snapshot is the whole history of the current scope: nothing
        // to backfill, nothing to purge.
        let from_scratch = device.cursor == 0
            && tx.query_row("SELECT count(*) FROM base_state", [], |r| {
                r.get::<_, i64>(0)
            })? == 0;
        let acked = oplog::mark_synced(&tx, &response.acked)?;
        let mut fresh = Vec::new();
        let mut replaced = false;
        for op in &response.ops {
            match oplog::insert_remote(&tx, op, now_ms)? {
                oplog::Received::New => {
                    state.apply(op);
                    fresh.push(op.clone());
                }
                oplog::Received::Replaced => {
                    replaced = true;
                    fresh.push(op.clone());
                }
                oplog::Received::Known => {}
            }
        }
        if replaced {
            // A version of this device's own was set aside for the server's copy: the state is rebuilt without it.
            *state = load_state(&tx)?;
        }
        // Membership ops about the user are in every pull whatever the scope (`Viewer::can_see_parts`), so this is
        // where a device learns that its grid cells changed. The flag outlives a failed snapshot download: the
        // next sync fetches it again.
        let after = scope_of(state, *me);
        let gained: Vec<String> = after.difference(&before).map(ToString::to_string).collect();
        let lost: Vec<String> = before.difference(&after).map(ToString::to_string).collect();
        let changed = !gained.is_empty() || !lost.is_empty();
        let stale = device.scope_stale || (changed && !from_scratch);
        if stale != device.scope_stale {
            device::set_scope_stale(&tx, stale)?;
        }
        // Later local events order after everything heard. The times of ops the server accepted (the ones it
        // sends, and this device's own ops it acknowledges: the newest is the last acknowledged) passed the
        // server's drift check, so they are observed whatever this phone's clock says: a phone 20 minutes slow
        // takes a ticket after its creation (issue 17). The server's physical time is observed within the bound
        // only: following it beyond would freeze a slow phone's wall time after every sync.
        let _ = writer.clock.observe(response.server_time, now_ms);
        for op in &fresh {
            writer.clock.observe_accepted(op.time);
        }
        if let Some(newest) = response.acked.last()
            && let Some(op) = oplog::local(&tx, *newest)?
        {
            writer.clock.observe_accepted(op.time);
        }
        device::save_clock(&tx, &writer.clock)?;
        device::save_cursor(&tx, cursor, now_ms)?;
        if replaced || fresh.len() > REBUILD_ABOVE {
            views::rebuild(&tx, state, *me)?;
        } else {
            views::refresh(&tx, state, *me, &fresh)?;
        }
        tx.commit()?;
        if response.acked.is_empty() {
            // The pull ran without the held op: the next sync tries it again.
            *held = None;
        }
        Ok(SyncOutcome {
            acked,
            received: u32::try_from(fresh.len()).unwrap_or(u32::MAX),
            has_more: response.has_more,
            cursor,
            set_aside: 0,
            grids_gained: gained,
            grids_lost: lost,
            rescoped: false,
            needs_snapshot: stale,
        })
    }

    /// Starts (or restarts) from a server snapshot of this device's scope. The snapshot is the whole of what the
    /// user may see up to its cursor, so it replaces what the replica received before: ops received from the
    /// server and this device's acknowledged ops are deleted (what of them is still visible is in the snapshot),
    /// and the device's unacknowledged and set-aside ops are kept, the former applied on top. Deleted pages are
    /// overwritten and the WAL truncated, so data that left the user's scope is gone from the file. Fetch the
    /// snapshot after the sync whose acknowledgements it should include.
    pub fn bootstrap(&mut self, now_ms: u64, bytes: &[u8]) -> Result<()> {
        self.ensure_active()?;
        if let Some(problem) = Problem::parse(bytes) {
            return Err(self.refused(now_ms, problem.status.unwrap_or(0), problem));
        }
        let snapshot: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| crate::error::json("not a snapshot", &e))?;
        if snapshot.protocol != PROTOCOL_VERSION {
            return Err(Error::Invalid(format!(
                "the snapshot is in sync protocol {}, this library speaks {PROTOCOL_VERSION}: upgrade required",
                snapshot.protocol
            )));
        }
        let base = serde_json::to_string(&snapshot.state)
            .map_err(|e| crate::error::json("snapshot encoding", &e))?;
        let mut state = snapshot.state;
        // Freed pages are zeroed, so a purged household's name is not left in the file's free space.
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let tx = self.conn.transaction()?;
        // A compacted replica keeps what it received in `base_state`, which the snapshot replaces: that too is data
        // that may have left the scope (found in review: a purge right after a compaction skipped the VACUUM).
        let had_base = tx.query_row("SELECT count(*) FROM base_state", [], |r| {
            r.get::<_, i64>(0)
        })? > 0;
        let dropped = tx.execute("DELETE FROM remote_ops", [])?
            + tx.execute("DELETE FROM local_ops WHERE synced = 1", [])?;
        tx.execute(
            "INSERT OR REPLACE INTO base_state (id, cursor, state) VALUES (1, ?1, ?2)",
            rusqlite::params![device::to_i64(snapshot.cursor), base],
        )?;
        for op in oplog::all(&tx)? {
            state.apply(&op);
        }
        let _ = self.writer.clock.observe(snapshot.server_time, now_ms);
        device::save_clock(&tx, &self.writer.clock)?;
        device::save_cursor(&tx, snapshot.cursor, now_ms)?;
        device::set_scope_stale(&tx, false)?;
        views::rebuild(&tx, &state, self.me)?;
        tx.commit()?;
        self.state = state;
        if dropped > 0 || had_base {
            // What was deleted may still sit in the WAL until a checkpoint, and in pages VACUUM frees.
            self.conn.execute_batch("VACUUM")?;
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Whether the user's grid cells changed since the replica's data was fetched, so that a snapshot of the new
    /// scope must replace it ([`Store::bootstrap`]).
    pub fn scope_stale(&self) -> Result<bool> {
        Ok(self.device()?.scope_stale)
    }

    /// Deletes every op, the snapshot and the views (the identity row stays, so the device can bootstrap again).
    /// Unsynced local work is lost: this is the lost-phone policy's "wipe", and what a `device_revoked` answer
    /// triggers. Deleted pages are overwritten and the WAL truncated, so the data is not left in free space.
    pub fn wipe(&mut self) -> Result<()> {
        self.wipe_inner(false)
    }

    pub(crate) fn wipe_inner(&mut self, revoked: bool) -> Result<()> {
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let tx = self.conn.transaction()?;
        tx.execute_batch(
            "DELETE FROM local_ops; DELETE FROM remote_ops; DELETE FROM rejected_ops; DELETE FROM base_state;
             DELETE FROM v_grid; DELETE FROM v_household; DELETE FROM v_ticket; DELETE FROM v_me;
             UPDATE device SET cursor = 0, last_sync_ms = NULL WHERE id = 1;",
        )?;
        if revoked {
            device::mark_revoked(&tx)?;
        }
        tx.commit()?;
        self.state = State::new(Rules::DEFAULT);
        self.revoked = revoked;
        self.conn.execute_batch("VACUUM")?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// A `clock_skew` refusal of one of this device's waiting ops is not a failure of the sync (ADR 0002): if this
    /// phone's clock ran ahead and has been set right since, the ops stamped too far ahead are stamped again
    /// ([`Store::recover_clock`]); otherwise that op (and the ops written after it) is held out of the next push so
    /// that the ops before it and the pull go through. Either way the answer is an outcome saying "sync again"
    /// (`has_more`); `None` for any other problem.
    pub(crate) fn clock_refusal(
        &mut self,
        now_ms: u64,
        problem: &Problem,
    ) -> Result<Option<SyncOutcome>> {
        let Some(op) = problem.op_id.filter(|_| problem.code == CLOCK_SKEW) else {
            return Ok(None);
        };
        if !oplog::is_waiting(&self.conn, op)? {
            return Ok(None);
        }
        if self.recover_clock(now_ms)? == 0 {
            self.held = Some(op);
        }
        Ok(Some(SyncOutcome {
            has_more: true,
            cursor: self.device()?.cursor,
            ..SyncOutcome::default()
        }))
    }

    /// A `sequence_gap` refusal of one of this device's waiting card spends: the server already holds spends of
    /// this device under those sequence numbers, which happens to a phone restored from a backup (issue 17). The
    /// waiting spends of this device on that card are renumbered, in the order they were written and under the
    /// same op ids, from the server's next number (`expected` in the refusal's cause; nobody else issues this
    /// device's numbers and the server stored none of the refused batch), and the sync goes on (`has_more`). The
    /// next round trip pushes them again and pulls: the server judges each against the rights it holds (the truth,
    /// which the restored file does not know), a spend that exceeds them is refused `insufficient_rights` and set
    /// aside alone (the spends after it are renumbered again at their own refusal), and the pull brings back the
    /// device's own spends made after the backup. The spend is not held out of that push for a pull first: the
    /// server's verdict does not depend on the phone's view, and holding would cost a round trip and meet the
    /// clock hold (which ends a `sync` call). `None` for any other problem, and when renumbering would change
    /// nothing (a gap it cannot close is refused for good, as before).
    pub(crate) fn spend_gap(&mut self, problem: &Problem) -> Result<Option<SyncOutcome>> {
        let (Some(refused), Some(expected)) = (problem.op_id, problem.expected_seq) else {
            return Ok(None);
        };
        let Some(op) = oplog::local(&self.conn, refused)? else {
            return Ok(None);
        };
        let card = match &op.body {
            OpBody::Card(card, CardOp::Transfer { seq, .. } | CardOp::Redeem { seq, .. })
                if op.replica == self.writer.replica && *seq != expected =>
            {
                *card
            }
            _ => return Ok(None),
        };
        if !oplog::is_waiting(&self.conn, refused)? {
            return Ok(None);
        }
        let waiting: Vec<Op> = oplog::unsynced(&self.conn, usize::MAX, usize::MAX)?
            .into_iter()
            .filter(|o| o.replica == self.writer.replica)
            .filter(|o| {
                matches!(&o.body, OpBody::Card(c, CardOp::Transfer { .. } | CardOp::Redeem { .. }) if *c == card)
            })
            .collect();
        let tx = self.conn.transaction()?;
        for (next, mut op) in (expected..).zip(waiting) {
            if let OpBody::Card(_, CardOp::Transfer { seq, .. } | CardOp::Redeem { seq, .. }) =
                &mut op.body
            {
                *seq = next;
            }
            oplog::restamp(&tx, &op)?;
        }
        let state = load_state(&tx)?;
        views::rebuild(&tx, &state, self.me)?;
        tx.commit()?;
        self.state = state;
        Ok(Some(SyncOutcome {
            has_more: true,
            cursor: self.device()?.cursor,
            ..SyncOutcome::default()
        }))
    }

    /// The error for a refusal: a revoked device is wiped first; an op refused for good is set aside.
    pub(crate) fn refused(&mut self, now_ms: u64, status: u16, problem: Problem) -> Error {
        if problem.code == REVOKED {
            return match self.wipe_inner(true) {
                Ok(()) => Error::Revoked,
                Err(e) => e,
            };
        }
        if let Some(op) = problem
            .op_id
            .filter(|_| PERMANENT.contains(&problem.code.as_str()))
        {
            return match self.set_aside(now_ms, op, &problem.code) {
                Ok(true) => Error::SetAside { code: problem.code },
                Ok(false) => Error::Server {
                    status,
                    code: problem.code,
                },
                Err(e) => e,
            };
        }
        Error::Server {
            status,
            code: problem.code,
        }
    }

    /// Sets a waiting local op aside and recomputes the state and views without it.
    fn set_aside(&mut self, now_ms: u64, op: OpId, code: &str) -> Result<bool> {
        if self.held == Some(op) {
            self.held = None;
        }
        let tx = self.conn.transaction()?;
        if !oplog::set_aside(&tx, op, code, now_ms)? {
            return Ok(false);
        }
        let state = load_state(&tx)?;
        views::rebuild(&tx, &state, self.me)?;
        tx.commit()?;
        self.state = state;
        Ok(true)
    }
}

impl Store {
    /// Applies an HTTP answer: a snapshot (`snapshot`) or a sync answer on 2xx; 408, 429 and 5xx are "offline";
    /// any other status with a problem document is a refusal, handled as [`Store::refused`] does (an op set aside
    /// lets the sync go on). An answer that is not Linli's (a captive portal's 200 page, a proxy's error page, a
    /// 404 page of a wrong host) is "offline" too, saying so: the server was not reached properly.
    pub(crate) fn apply_http(
        &mut self,
        now_ms: u64,
        answer: crate::http::Answer,
        snapshot: bool,
    ) -> Result<SyncOutcome> {
        let top = Top::read(&answer.body);
        let linli = top.as_ref().is_some_and(|t| t.protocol);
        let problem = top.as_ref().and_then(Problem::from_top);
        match (answer.status, problem) {
            (200..=299, None) if !linli => Err(not_linli(&answer)),
            (200..=299, _) if snapshot => self
                .bootstrap(now_ms, &answer.body)
                .map(|()| SyncOutcome::default()),
            (200..=299, _) => self.apply_sync_response(now_ms, &answer.body),
            // A proxy's 502 page is not the Linli server being unavailable: it falls to the `None` arm below.
            (408 | 429, problem) | (500..=599, problem @ Some(_)) => Err(Error::Network(format!(
                "the server is unavailable (HTTP {}{}); retry later",
                answer.status,
                problem.map_or(String::new(), |p| format!(", {}", p.code))
            ))),
            (_, None) => Err(not_linli(&answer)),
            (status, Some(problem)) => {
                if let Some(outcome) = self.clock_refusal(now_ms, &problem)? {
                    return Ok(outcome);
                }
                if let Some(outcome) = self.spend_gap(&problem)? {
                    return Ok(outcome);
                }
                match self.refused(now_ms, status, problem) {
                    // The rest of the queue goes on in the next round trip.
                    Error::SetAside { .. } => Ok(SyncOutcome {
                        set_aside: 1,
                        cursor: self.device()?.cursor,
                        ..SyncOutcome::default()
                    }),
                    e => Err(e),
                }
            }
        }
    }

    /// Whether this device never started from a snapshot nor pulled anything.
    pub(crate) fn needs_bootstrap(&mut self) -> Result<bool> {
        self.ensure_active()?;
        let base: i64 = self
            .conn
            .query_row("SELECT count(*) FROM base_state", [], |r| r.get(0))?;
        Ok(base == 0 && self.device()?.cursor == 0)
    }
}

/// The grid cells whose data the user's role lets them see: where they are a grid worker (for a grid worker) or
/// a micro-butler (for a volunteer). An admin sees everything, so their scope never changes.
fn scope_of(state: &State, me: Me) -> BTreeSet<GridId> {
    let role = match me.role {
        Role::Admin => return BTreeSet::new(),
        Role::GridWorker => MemberRole::Worker,
        Role::Volunteer => MemberRole::Butler,
    };
    grids_of(state, me.user, role).collect()
}

/// The parts of a problem document (RFC 9457 with a `code` member, as the server sends) that the library acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The stable code.
    pub code: String,
    /// The refused op, for a batch refused because of one op.
    pub op_id: Option<OpId>,
    /// The document's `status` member (the HTTP status the server sent it with), kept for answers handed to
    /// `apply_sync_response` by an app's own HTTP stack.
    pub status: Option<u16>,
    /// For a card spend refused `sequence_gap` (`cause.code`), the issuer's next sequence number at the server
    /// (`cause.expected`): what a restored phone renumbers its waiting spends from.
    pub expected_seq: Option<u64>,
}

impl Problem {
    /// Reads a problem document; `None` if `bytes` is not one (a `SyncResponse` has no `code`).
    pub fn parse(bytes: &[u8]) -> Option<Problem> {
        Top::read(bytes).as_ref().and_then(Problem::from_top)
    }

    fn from_top(top: &Top) -> Option<Problem> {
        let (code, op_id, status) = match (&top.error, &top.code) {
            (Some(Value::Object(inner)), None) => {
                (inner.get("code"), inner.get("op_id"), inner.get("status"))
            }
            _ => (top.code.as_ref(), top.op_id.as_ref(), top.status.as_ref()),
        };
        let Some(Value::String(code)) = code else {
            return None;
        };
        let cause = match (&top.error, &top.code) {
            (Some(Value::Object(inner)), None) => inner.get("cause"),
            _ => top.cause.as_ref(),
        };
        let expected_seq = cause
            .filter(|c| c.get("code").and_then(Value::as_str) == Some(SEQUENCE_GAP))
            .and_then(|c| c.get("expected"))
            .and_then(Value::as_u64);
        Some(Problem {
            code: code.clone(),
            op_id: op_id.and_then(Value::as_str).and_then(|s| s.parse().ok()),
            status: status
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok()),
            expected_seq,
        })
    }
}

/// The top level of an answer, read once: the members a problem document has, and whether a `protocol` member (a
/// `SyncResponse` or a `Snapshot`: one of Linli's answers) is there. The other members (`ops`, `state`: most of an
/// answer's bytes) are skipped, not built into a tree. `None` if the bytes are not a JSON object.
#[derive(Debug, Deserialize)]
struct Top {
    #[serde(default, deserialize_with = "present")]
    protocol: bool,
    code: Option<Value>,
    op_id: Option<Value>,
    status: Option<Value>,
    cause: Option<Value>,
    error: Option<Value>,
}

impl Top {
    fn read(bytes: &[u8]) -> Option<Top> {
        serde_json::from_slice(bytes).ok()
    }
}

/// A member that is there, whatever its value.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// The error for an answer that did not come from a Linli server: the request did not reach it (a captive portal
/// or a proxy answered instead) or the base URL points elsewhere. Nothing was sent that changes anything.
fn not_linli(answer: &crate::http::Answer) -> Error {
    Error::Network(format!(
        "the server could not be reached properly: the answer (HTTP {}, {}) is not from a Linli server; \
         a captive portal or proxy may be in the way (sign in to the network), or the base URL is wrong",
        answer.status,
        answer.content_type.as_deref().unwrap_or("no content type")
    ))
}
