//! Push: validating and storing batches of ops. Every op is checked in order against the state as it would be
//! after the ops before it (a scratch working set): its clock against the drift bound, its author's rights and
//! scope, and the data rules. A batch is all or nothing: if one op fails, none of the batch is stored. Accepted
//! ops are stored, with their effects on the report tables, in one transaction; then applied to the in-memory
//! state; then acknowledged. Ops already stored (a retry after a lost answer) are acknowledged without being
//! applied again.
//!
//! Group commit: batches that arrive while another is being written wait in a queue, and the next writer takes
//! them all (up to [`GROUP_OPS`] ops) into one transaction, so concurrent devices share a commit and its
//! `fsync` instead of queueing for one each. Each batch is still judged on its own: one refused batch does not
//! touch the others of its group.

use linli_sync_core::hlc::DriftPolicy;
use linli_sync_core::ids::{OpId, ReplicaId, UserId};
use linli_sync_core::op::{Op, OpBody, Unknown};
use linli_sync_core::rights::{Role, authorize};
use linli_sync_core::state::State;
use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::engine::Engine;
use crate::error::{ApiError, OpRejection};
use crate::materialise::{self, Touched, ms};
use crate::protocol::Received;
use crate::store::{self, OpRow};

/// Who pushes: the authenticated device, its user and their role.
#[derive(Debug, Clone, Copy)]
pub struct Pusher {
    /// The device.
    pub device: ReplicaId,
    /// Its user.
    pub user: UserId,
    /// Their role.
    pub role: Role,
}

/// The outcome of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// Every pushed op id, in request order, duplicates removed: all durably stored now.
    pub acked: Vec<OpId>,
    /// How many of them were new.
    pub stored: usize,
}

/// A group takes waiting batches until it holds this many ops (a bound on one transaction's size and on the
/// latency a batch adds to the others of its group).
const GROUP_OPS: usize = 8000;

impl Engine {
    /// Validates and stores a batch, all or nothing. `now_ms` is the server's clock.
    pub fn push(&self, who: Pusher, ops: Vec<Received>, now_ms: u64) -> Result<Pushed, ApiError> {
        self.queue.run(
            Batch {
                who: Some(who),
                ops,
                now_ms,
            },
            |batches| {
                let _writer = self.writer();
                self.write(batches)
            },
        )
    }

    /// Writes an op as the server's own replica ([`ReplicaId::SERVER`]) on behalf of `author` (already authorised
    /// by the caller), through the same validation and storage as pushed ops. Used for what only the server may
    /// do: granting card spending rights from the pool.
    /// `make` builds the body from the current state, under the writer lock (a spend needs the next sequence
    /// number of the server's replica).
    pub fn issue(
        &self,
        author: UserId,
        make: impl FnOnce(&State) -> OpBody,
        now_ms: u64,
    ) -> Result<Op, ApiError> {
        let _writer = self.writer();
        self.catch_up_if_moved()?;
        let body = make(&self.view().state);
        let time = self.server_clock().tick(now_ms);
        let op = Op {
            id: OpId::new_v7(time.wall_ms),
            replica: ReplicaId::SERVER,
            author,
            time,
            body,
            unknown: Unknown::default(),
        };
        // The server's clock follows every time it accepted (ADR 0002), so after its wall clock stepped back by
        // more than the drift bound its own op may lie ahead of `now_ms`: it is judged against the clock that
        // stamped it, not refused until the wall clock catches up.
        let batch = Batch {
            who: None,
            ops: vec![Received::new(op.clone())],
            now_ms: now_ms.max(time.wall_ms),
        };
        self.write(std::slice::from_ref(&batch))
            .pop()
            .unwrap_or_else(|| Err(internal("no result")))?;
        Ok(op)
    }

    /// Writes ops issued *as* `replica` on behalf of `author` (already authorised by the caller), in one batch
    /// through the same validation and storage as pushed ops, under the writer lock. Used to return a revoked
    /// device's card rights to the pool: a `card.transfer` that spends the device's own rights, next in its own
    /// sequence, which only the server may write, and only once the device can push nothing more. `make` builds
    /// the bodies from the current state under the lock; no body, nothing written.
    pub fn issue_as(
        &self,
        replica: ReplicaId,
        author: UserId,
        make: impl FnOnce(&State) -> Vec<OpBody>,
        now_ms: u64,
    ) -> Result<Vec<Op>, ApiError> {
        let _writer = self.writer();
        self.catch_up_if_moved()?;
        let bodies = make(&self.view().state);
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let ops: Vec<Op> = bodies
            .into_iter()
            .map(|body| {
                let time = self.server_clock().tick(now_ms);
                Op {
                    id: OpId::new_v7(time.wall_ms),
                    replica,
                    author,
                    time,
                    body,
                    unknown: Unknown::default(),
                }
            })
            .collect();
        // Judged against the clock that stamped them, as in `issue`: a revocation after the wall clock stepped back
        // must still return the device's rights.
        let stamped = ops.iter().map(|op| op.time.wall_ms).max().unwrap_or(now_ms);
        let batch = Batch {
            who: None,
            ops: ops.iter().cloned().map(Received::new).collect(),
            now_ms: now_ms.max(stamped),
        };
        self.write(std::slice::from_ref(&batch))
            .pop()
            .unwrap_or_else(|| Err(internal("no result")))?;
        Ok(ops)
    }

    /// Before the server builds an op of its own (under the writer lock): if another writer of this community's log
    /// committed (the head row is past the view), catches up first, so the body is made from the state that
    /// includes the other's ops (a spend takes the next sequence number of its replica, which the other may have
    /// used) and the stamp is taken by a clock that has seen them (it orders after everything it answers, ADR
    /// 0002). One single-row read; [`Engine::write`]'s own catch-up stays for pushed ops.
    fn catch_up_if_moved(&self) -> Result<(), ApiError> {
        let head = crate::community::head(&mut *self.conn()?, self.community)?;
        if head != self.view().last_seq {
            let applied = self.catch_up()?;
            tracing::info!(community = %self.community, applied, "caught up before issuing a server op");
        }
        Ok(())
    }

    /// Checks and stores a group of batches, each all or nothing, in one transaction; one result per batch.
    /// Must be called with the writer lock held.
    ///
    /// If the community's head row is not where this engine's log ends (another writer of the same log committed:
    /// a second process on the same database, or, on PostgreSQL, another server), the engine catches up (reads the
    /// ops stored after its view and applies them, with the index and the clock) and the group is judged and
    /// written once more against the caught-up view; if the head still disagrees, each batch is refused
    /// `503 log_moved` with nothing stored (defect D4: before, every later write of the community failed).
    /// The same second judgement follows a row of another community met inside the transaction (an entry, visit,
    /// grid cell, ticket or household claim committed by another community after this group's tenancy check): the
    /// second tenancy check sees it and refuses only the op naming it, as `other_community`.
    fn write(&self, batches: &[Batch]) -> Vec<Result<Pushed, ApiError>> {
        match self.write_once(batches) {
            Ok(results) => results,
            Err(first) => {
                match self.catch_up() {
                    Ok(applied) => tracing::warn!(
                        community = %self.community,
                        reason = %first,
                        applied,
                        "the community's log moved, or another community's row landed, under this writer: caught up, writing again"
                    ),
                    Err(e) => {
                        tracing::warn!(community = %self.community, error = %e, "catching up failed");
                        return vec![Err(log_moved(&first)); batches.len()];
                    }
                }
                match self.write_once(batches) {
                    Ok(results) => results,
                    Err(again) => {
                        tracing::warn!(
                            community = %self.community,
                            reason = %again,
                            "the community's log moved again: group refused, nothing stored"
                        );
                        vec![Err(log_moved(&again)); batches.len()]
                    }
                }
            }
        }
    }

    /// [`Engine::write`] once: one result per batch, or the head row's disagreement ([`store::StoreError::HeadMoved`],
    /// nothing stored).
    fn write_once(
        &self,
        batches: &[Batch],
    ) -> Result<Vec<Result<Pushed, ApiError>>, store::StoreError> {
        let mut conn = match self.conn() {
            Ok(c) => c,
            Err(e) => return Ok(vec![Err(e.into()); batches.len()]),
        };
        // The request checked its device's revocation when it arrived; a revocation may have committed since, while
        // the batch waited in the queue. Checked again here, under the writer lock, so a revoked device stores
        // nothing after its revocation (issue 17).
        let revoked = match revoked_devices(&mut conn, batches) {
            Ok(r) => r,
            Err(e) => return Ok(vec![Err(e); batches.len()]),
        };
        // One look at the view (the writer lock keeps it still until this group commits): the ops stored before
        // (retries), found in memory, and the working set. Only the entities the group can read are copied (not the
        // whole state): validating against this working set gives the same results as against the whole state (a
        // sync-core property test holds it to that).
        let (mut known, scratch, last_seq, unknown) = {
            let view = self.view();
            let known: Vec<(i64, OpId)> = batches
                .iter()
                .flat_map(|b| b.ops.iter().map(|r| r.op.id))
                .filter_map(|id| view.log.seq_of(&id).map(|seq| (seq, id)))
                .collect();
            let scratch = view
                .state
                .working_set(batches.iter().flat_map(|b| b.ops.iter().map(|r| &r.op)));
            let unknown = crate::tenancy::Unknown::of(
                &view.state,
                batches.iter().flat_map(|b| b.ops.iter().map(|r| &r.op)),
            );
            (known, scratch, view.last_seq, unknown)
        };
        // What the community's state does not know may be another community's: looked up, so such an op is refused
        // as `other_community`.
        let foreign = match crate::tenancy::foreign(&mut conn, self.community, &unknown) {
            Ok(f) => f,
            Err(e) => return Ok(vec![Err(e.into()); batches.len()]),
        };
        // Only the retried ops' stored text is read, to tell a retry from an id reused for other content: a push of
        // new ops reads nothing here.
        known.sort_unstable();
        known.dedup();
        let seqs: Vec<i64> = known.iter().map(|(seq, _)| *seq).collect();
        let stored: HashMap<OpId, String> = match store::bodies(&mut conn, self.community, &seqs) {
            Ok(bodies) => known.iter().map(|(_, id)| *id).zip(bodies).collect(),
            Err(e) => return Ok(vec![Err(e.into()); batches.len()]),
        };
        // An id this community's log does not hold may be in another community's: refused as that op's conflict,
        // not left to the unique index to fail the whole group.
        let new_ids: Vec<OpId> = batches
            .iter()
            .flat_map(|b| b.ops.iter().map(|r| r.op.id))
            .filter(|id| !stored.contains_key(id))
            .collect();
        let elsewhere = match store::ids_elsewhere(&mut conn, self.community, &new_ids) {
            Ok(e) => e,
            Err(e) => return Ok(vec![Err(e.into()); batches.len()]),
        };
        let mut group = Group {
            community: self.community.0,
            foreign: &foreign,
            elsewhere: &elsewhere,
            scratch,
            next_seq: last_seq + 1,
            stored: &stored,
            earlier: HashMap::new(),
            rows: Vec::new(),
            ops: Vec::new(),
            touched: Touched::default(),
        };
        let alone = batches.len() == 1;
        let mut results: Vec<Result<Pushed, ApiError>> = batches
            .iter()
            .map(|batch| {
                if batch.who.is_some_and(|w| revoked.contains(&w.device)) {
                    return Err(ApiError::DeviceRevoked);
                }
                group.take(batch, self.rules.drift, alone)
            })
            .collect();
        if group.rows.is_empty() {
            return Ok(results);
        }
        let now_ms = batches.iter().map(|b| b.now_ms).max().unwrap_or(0);
        let new_last = group.next_seq - 1;
        let with_seq: Vec<(i64, &Op)> = group
            .rows
            .iter()
            .map(|r| r.seq)
            .zip(group.ops.iter().copied())
            .collect();
        let written = crate::db::sqlite::write_txn(&mut conn, |conn| -> Result<(), Refused> {
            // The community's head row is bumped in the same transaction: the one row its writers serialise on
            // (ADR 0005). Under the writer lock it must land where the in-memory log ends.
            let n = i64::try_from(group.rows.len()).unwrap_or(i64::MAX);
            let head =
                crate::community::bump_head(conn, self.community, n).map_err(ApiError::from)?;
            if head != new_last {
                return Err(Refused::HeadMoved(store::StoreError::HeadMoved {
                    community: self.community,
                    head,
                    expected: new_last,
                }));
            }
            store::append(conn, &group.rows)?;
            materialise::write(
                conn,
                self.community,
                &group.scratch,
                &group.touched,
                &with_seq,
                new_last,
                now_ms,
            )?;
            crate::tenancy::claimed_elsewhere(
                conn,
                self.community,
                &unknown.new_households(&crate::tenancy::households(group.ops.iter().copied())),
            )?;
            Ok(())
        });
        match written {
            Ok(()) => self.commit(with_seq, new_last),
            // Rolled back: nothing of the group is stored.
            Err(Refused::HeadMoved(moved)) => return Err(moved),
            Err(Refused::Api(e)) => {
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(e.clone());
                }
            }
        }
        Ok(results)
    }
}

/// Why a group's transaction was rolled back.
enum Refused {
    /// The head row is not where the engine's log ends, or a row the group writes was committed by another
    /// community since the group was judged: the group is judged and written once more.
    HeadMoved(store::StoreError),
    /// Anything else.
    Api(ApiError),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Refused::Api(e)
    }
}

impl From<store::StoreError> for Refused {
    fn from(e: store::StoreError) -> Self {
        match e {
            // A row (an entry, visit, grid cell, ticket or household claim) another community committed after this
            // group's tenancy check: judged again, that check now sees the row and refuses the op that named it as
            // `other_community`, and the other batches of the group are stored (review of h11r, finding 6). Not
            // covered: two communities committing the same new op id at once, where the loser's unique-index
            // failure still fails its group (a retry answers it `op_id_conflict`).
            store::StoreError::OtherCommunitysRow { .. } => Refused::HeadMoved(e),
            e => Refused::Api(e.into()),
        }
    }
}

impl From<diesel::result::Error> for Refused {
    fn from(e: diesel::result::Error) -> Self {
        Refused::Api(e.into())
    }
}

/// The answer to a group whose community's log moved under its writer even after catching up.
fn log_moved(e: &store::StoreError) -> ApiError {
    ApiError::Unavailable {
        code: "log_moved",
        detail: format!("{e}: the community's log is being written elsewhere; retry"),
    }
}

/// The devices of `batches` that are revoked now (or unknown).
fn revoked_devices(
    conn: &mut crate::db::Conn,
    batches: &[Batch],
) -> Result<HashSet<ReplicaId>, ApiError> {
    let devices: HashSet<ReplicaId> = batches
        .iter()
        .filter_map(|b| b.who)
        .map(|w| w.device)
        .collect();
    let mut revoked = HashSet::new();
    for device in devices {
        match crate::identity::device(conn, device) {
            Ok(d) if !d.revoked => {}
            Ok(_) | Err(crate::identity::IdentityError::NoSuchDevice) => {
                revoked.insert(device);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(revoked)
}

/// One batch waiting for the writer: `who` is `None` for the server's own ops.
#[derive(Debug)]
pub(crate) struct Batch {
    who: Option<Pusher>,
    ops: Vec<Received>,
    now_ms: u64,
}

/// What a group has accepted so far.
struct Group<'a> {
    /// The community whose log the group is written to.
    community: i64,
    /// The ids of the group's ops that belong to another community.
    foreign: &'a crate::tenancy::Foreign,
    /// The group's op ids stored in another community's log.
    elsewhere: &'a HashSet<OpId>,
    scratch: State,
    next_seq: i64,
    /// Canonical JSON of the group's ops stored before.
    stored: &'a HashMap<OpId, String>,
    /// Canonical JSON of ops accepted from earlier batches of this group.
    earlier: HashMap<OpId, &'a str>,
    rows: Vec<OpRow>,
    ops: Vec<&'a Op>,
    touched: Touched,
}

impl<'a> Group<'a> {
    /// Judges one batch; if it passes, its new ops join the group. `alone`: no other batch shares the scratch
    /// state, so a refusal need not restore it.
    fn take(
        &mut self,
        batch: &'a Batch,
        drift: DriftPolicy,
        alone: bool,
    ) -> Result<Pushed, ApiError> {
        let ops = &batch.ops;
        let mut first_index: HashMap<OpId, usize> = HashMap::new();
        let mut acked = Vec::with_capacity(ops.len());
        let mut fresh: Vec<(usize, &'a Received)> = Vec::new();
        for (i, received) in ops.iter().enumerate() {
            let op = &received.op;
            let reject = || ApiError::OpRejected {
                index: i,
                op_id: Some(op.id),
                reason: OpRejection::IdConflict,
            };
            if let Some(&j) = first_index.get(&op.id) {
                if ops[j].op != *op {
                    return Err(reject());
                }
                continue;
            }
            if self.elsewhere.contains(&op.id) {
                return Err(reject());
            }
            first_index.insert(op.id, i);
            acked.push(op.id);
            let before = self
                .stored
                .get(&op.id)
                .map(String::as_str)
                .or_else(|| self.earlier.get(&op.id).copied());
            match before {
                Some(json) if json == received.json => {}
                Some(_) => return Err(reject()),
                None => fresh.push((i, received)),
            }
        }
        if fresh.is_empty() {
            return Ok(Pushed { acked, stored: 0 });
        }
        let saved = (!alone).then(|| self.scratch.clone());
        match self.check(batch, &fresh, drift) {
            Ok(rows) => {
                for ((_, received), row) in fresh.iter().zip(rows) {
                    self.touched.add(&received.op);
                    self.earlier.insert(received.op.id, &received.json);
                    self.ops.push(&received.op);
                    self.rows.push(row);
                }
                self.next_seq += i64::try_from(fresh.len()).unwrap_or(i64::MAX);
                Ok(Pushed {
                    acked,
                    stored: fresh.len(),
                })
            }
            Err(e) => {
                if let Some(saved) = saved {
                    self.scratch = saved;
                }
                Err(e)
            }
        }
    }

    /// Checks the batch's new ops in order, applying each to the scratch state; their op-log rows.
    fn check(
        &mut self,
        batch: &Batch,
        fresh: &[(usize, &Received)],
        drift: DriftPolicy,
    ) -> Result<Vec<OpRow>, ApiError> {
        let mut rows = Vec::with_capacity(fresh.len());
        for (k, (i, received)) in fresh.iter().enumerate() {
            let op = &received.op;
            let reject = |reason| ApiError::OpRejected {
                index: *i,
                op_id: Some(op.id),
                reason,
            };
            drift
                .check(op.time, batch.now_ms)
                .map_err(|e| reject(OpRejection::Clock(e)))?;
            if self.foreign.touches(op) {
                return Err(reject(OpRejection::OtherCommunity));
            }
            if let Some(who) = batch.who {
                authorize(&self.scratch, who.device, who.user, who.role, op)
                    .map_err(|e| reject(OpRejection::Rights(e)))?;
            }
            self.scratch
                .validate_op(op)
                .map_err(|e| reject(OpRejection::Invalid(e)))?;
            self.scratch.apply(op);
            rows.push(OpRow::with_body(
                crate::community::CommunityId(self.community),
                self.next_seq + i64::try_from(k).unwrap_or(i64::MAX),
                op,
                received.body.clone(),
                batch.who.map_or(ReplicaId::SERVER, |w| w.device),
                self.scratch.grid_of(op),
                ms(batch.now_ms),
            ));
        }
        Ok(rows)
    }
}

/// The queue of batches waiting for the writer, and whether one thread is writing a group (the leader).
#[derive(Debug, Default)]
pub(crate) struct Queue {
    state: Mutex<Waiting>,
    turn: Condvar,
}

#[derive(Debug, Default)]
struct Waiting {
    batches: Vec<(u64, Batch)>,
    results: HashMap<u64, Result<Pushed, ApiError>>,
    leading: bool,
    next_ticket: u64,
}

impl Queue {
    /// Queues `batch` and returns its result. If no group is being written, this thread writes one, taking the
    /// waiting batches (its own among them) with `write`; otherwise it waits for the writing thread's result.
    fn run(
        &self,
        batch: Batch,
        write: impl Fn(&[Batch]) -> Vec<Result<Pushed, ApiError>>,
    ) -> Result<Pushed, ApiError> {
        let mut w = self.lock();
        let ticket = w.next_ticket;
        w.next_ticket += 1;
        w.batches.push((ticket, batch));
        loop {
            if let Some(result) = w.results.remove(&ticket) {
                return result;
            }
            if w.leading {
                w = self.turn.wait(w).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            w.leading = true;
            let taken = take_group(&mut w.batches);
            drop(w);
            let (tickets, batches): (Vec<u64>, Vec<Batch>) = taken.into_iter().unzip();
            // If `write` panics the guard still answers the group (with an error) and hands over the lead.
            let mut guard = Lead {
                queue: self,
                tickets,
                results: None,
            };
            guard.results = Some(write(&batches));
            drop(guard);
            w = self.lock();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // The queue's state stays consistent under a panic elsewhere (`Lead` answers every taken batch).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes waiting batches, oldest first, up to [`GROUP_OPS`] ops (always at least one batch).
fn take_group(waiting: &mut Vec<(u64, Batch)>) -> Vec<(u64, Batch)> {
    let mut ops = 0;
    let n = waiting
        .iter()
        .take_while(|(_, b)| {
            let first = ops == 0;
            ops += b.ops.len();
            first || ops <= GROUP_OPS
        })
        .count()
        .max(1);
    waiting.drain(..n.min(waiting.len())).collect()
}

/// The leader's duty: publish a result for every batch it took and wake the waiting threads, even on a panic.
struct Lead<'q> {
    queue: &'q Queue,
    tickets: Vec<u64>,
    results: Option<Vec<Result<Pushed, ApiError>>>,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut results = self.results.take().unwrap_or_default().into_iter();
        let mut w = self.queue.lock();
        for ticket in self.tickets.drain(..) {
            let result = results
                .next()
                .unwrap_or_else(|| Err(internal("the writer stopped")));
            w.results.insert(ticket, result);
        }
        w.leading = false;
        drop(w);
        self.queue.turn.notify_all();
    }
}

fn internal(detail: &str) -> ApiError {
    ApiError::Internal {
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_sync_core::hlc::Hlc;
    use linli_sync_core::state::Rules;
    use linli_sync_core::test_support::wire_examples;

    const MINUTE: u64 = 60_000;

    fn engine(dir: &tempfile::TempDir) -> Engine {
        let url = dir
            .path()
            .join("linli.sqlite3")
            .to_string_lossy()
            .into_owned();
        Engine::open(
            crate::db::open(&url, 2).expect("database"),
            Rules::DEFAULT,
            crate::community::CommunityId::FIRST,
        )
        .expect("engine")
    }

    fn batch(ops: &[&Op], now_ms: u64) -> Batch {
        Batch {
            who: None,
            ops: ops.iter().map(|op| Received::new((*op).clone())).collect(),
            now_ms,
        }
    }

    fn code(result: &Result<Pushed, ApiError>) -> (Option<usize>, &'static str) {
        match result {
            Ok(_) => (None, "ok"),
            Err(e @ ApiError::OpRejected { index, .. }) => (Some(*index), e.code()),
            Err(e) => (None, e.code()),
        }
    }

    #[test]
    fn each_batch_of_a_group_is_judged_alone_and_stored_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine(&dir);
        let examples = wire_examples();
        let (create, edit) = (&examples[0], &examples[1]);
        let now = examples.iter().map(|op| op.time.wall_ms).max().unwrap_or(0) + MINUTE;
        let grid = first_grid(&engine, &examples, now);
        let mut skewed = edit.clone();
        skewed.id = OpId::new_v7(now);
        skewed.time = Hlc::at(now + 60 * MINUTE);
        let mut conflicting = create.clone();
        conflicting.time.logical += 1;

        let group = [
            // Refused by its second op: its ticket must not exist for the batches after it.
            batch(&[create, &skewed], now),
            batch(&[edit], now),
            batch(&[create], now),
            // The same op again (a retry racing its first request): acknowledged, not stored twice.
            batch(&[create, create], now),
            batch(&[&conflicting], now),
        ];
        let results = {
            let _writer = engine.writer();
            engine.write(&group)
        };
        let codes: Vec<_> = results.iter().map(code).collect();
        assert_eq!(
            codes,
            [
                (Some(1), "clock_skew"),
                (Some(0), "op_invalid"),
                (None, "ok"),
                (None, "ok"),
                (Some(0), "op_id_conflict"),
            ]
        );
        assert_eq!(
            results[2],
            Ok(Pushed {
                acked: vec![create.id],
                stored: 1
            })
        );
        assert_eq!(
            results[3],
            Ok(Pushed {
                acked: vec![create.id],
                stored: 0
            })
        );
        let mut conn = engine.conn().expect("connection");
        assert_eq!(store::count(&mut conn).expect("count"), 2);
        assert_eq!(engine.view().last_seq, 2);
        assert_ne!(grid, create.id);

        // Through the queue, as requests do: the edit now finds its ticket; the create is a retry.
        let pushed = engine
            .queue
            .run(batch(&[create, edit], now), |b| {
                let _writer = engine.writer();
                engine.write(b)
            })
            .expect("stored");
        assert_eq!(
            pushed,
            Pushed {
                acked: vec![create.id, edit.id],
                stored: 1
            }
        );
        assert_eq!(store::count(&mut conn).expect("count"), 3);
    }

    /// Issue 17: the server's clock was neither fed with the times it accepted nor persisted, and its own ops went
    /// through the drift check against the wall clock: its own op could order before an op it answers, and after
    /// the wall clock stepped back by more than the bound its own writes were refused until time caught up.
    #[test]
    fn the_servers_own_ops_follow_what_it_accepted_and_survive_a_clock_step_back() {
        use linli_sync_core::grid::GridOp;
        use linli_sync_core::ids::GridId;
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine(&dir);
        let examples = wire_examples();
        let grid = examples
            .iter()
            .find(|op| op.kind() == linli_sync_core::op::OpKind::GridCreate)
            .expect("a grid.create example");
        // An op 9 minutes ahead of the server's clock: within the bound, accepted.
        let now = grid.time.wall_ms;
        let mut ahead = grid.clone();
        ahead.time = Hlc::at(now + 9 * MINUTE);
        {
            let _writer = engine.writer();
            let results = engine.write(&[batch(&[&ahead], now)]);
            assert!(results[0].is_ok(), "{results:?}");
        }
        let cell = |name: &str| {
            let name = name.to_owned();
            move |_: &State| {
                OpBody::Grid(
                    GridId::random(),
                    GridOp::Create {
                        name,
                        community: "幸福里社区".into(),
                    },
                )
            }
        };
        let own = engine
            .issue(ahead.author, cell("after"), now)
            .expect("the server's own op");
        assert!(
            own.time > ahead.time,
            "{:?} after {:?}",
            own.time,
            ahead.time
        );
        // The wall clock steps back 20 minutes: the server's own writes go on, still in order.
        let back = engine
            .issue(ahead.author, cell("stepped back"), now - 20 * MINUTE)
            .expect("not refused after the wall clock stepped back");
        assert!(back.time > own.time);
        // The same for ops written as another replica (a revoked device's rights return): found in review, `issue_as`
        // still judged its ops against the stepped-back wall clock and was refused `clock_skew`.
        let as_device = engine
            .issue_as(
                ahead.replica,
                ahead.author,
                |s| vec![cell("as the device")(s)],
                now - 20 * MINUTE,
            )
            .expect("issue_as not refused after the wall clock stepped back");
        assert!(as_device[0].time > back.time);
        let back = &as_device[0];
        // Restarted, the clock is rebuilt from the op log.
        drop(engine);
        let engine = self::engine(&dir);
        let again = engine
            .issue(ahead.author, cell("restarted"), now - 20 * MINUTE)
            .expect("after a restart");
        assert!(again.time > back.time);
    }

    /// Issue 17: a revocation that commits while a batch waits in the group queue (its request passed the
    /// revocation check on arrival) must still stop that batch: the writer checks again under its lock.
    #[test]
    fn a_batch_of_a_device_revoked_while_it_waited_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine(&dir);
        let examples = wire_examples();
        let grid = examples
            .iter()
            .find(|op| op.kind() == linli_sync_core::op::OpKind::GridCreate)
            .expect("a grid.create example");
        let now = grid.time.wall_ms + MINUTE;
        let mut conn = engine.conn().expect("connection");
        let t = i64::try_from(now).expect("time");
        let admin = crate::identity::add_user(
            &mut conn,
            "admin",
            Role::Admin,
            Some(crate::community::CommunityId::FIRST),
            None,
            t,
        )
        .expect("user");
        let enrolment =
            crate::identity::issue_code(&mut conn, admin.id, admin.id, "phone", t, 60_000)
                .expect("code");
        let (device, _) = crate::identity::enrol(&mut conn, &enrolment, t, 60_000).expect("enrol");
        let mut op = grid.clone();
        op.author = admin.id;
        op.replica = device.id;
        let pushed = |engine: &Engine| {
            let batch = Batch {
                who: Some(Pusher {
                    device: device.id,
                    user: admin.id,
                    role: Role::Admin,
                }),
                ops: vec![Received::new(op.clone())],
                now_ms: now,
            };
            let _writer = engine.writer();
            engine
                .write(std::slice::from_ref(&batch))
                .pop()
                .expect("a result")
        };
        // The revocation commits after the request was authenticated, before its group is written.
        crate::identity::revoke_device(&mut conn, device.id, t).expect("revoke");
        let refused = pushed(&engine);
        assert_eq!(code(&refused), (None, "device_revoked"));
        assert_eq!(store::count(&mut conn).expect("count"), 0, "nothing stored");
    }

    /// Stores the examples' grid cell, which their ticket is in; its op id.
    fn first_grid(engine: &Engine, examples: &[Op], now: u64) -> OpId {
        let grid = examples
            .iter()
            .find(|op| op.kind() == linli_sync_core::op::OpKind::GridCreate)
            .expect("a grid.create example");
        let _writer = engine.writer();
        let results = engine.write(&[batch(&[grid], now)]);
        assert_eq!(
            results,
            [Ok(Pushed {
                acked: vec![grid.id],
                stored: 1
            })]
        );
        grid.id
    }

    #[test]
    fn concurrent_pushes_each_get_their_own_answer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine(&dir);
        let examples = wire_examples();
        let now = examples.iter().map(|op| op.time.wall_ms).max().unwrap_or(0) + MINUTE;
        let grid = first_grid(&engine, &examples, now);
        let results: Vec<Result<Pushed, ApiError>> = std::thread::scope(|s| {
            let handles: Vec<_> = examples
                .iter()
                .filter(|op| op.id != grid)
                .map(|op| {
                    let engine = &engine;
                    s.spawn(move || {
                        engine.queue.run(batch(&[op], now), |b| {
                            let _writer = engine.writer();
                            engine.write(b)
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        // Each answer is its own batch's: an op is acknowledged to the request that sent it, whatever group it
        // was written in (ops whose entity was not yet stored when their group ran are refused, not lost).
        for (op, result) in examples.iter().filter(|op| op.id != grid).zip(&results) {
            if let Ok(pushed) = result {
                assert_eq!(pushed.acked, [op.id]);
            }
        }
        let stored = 1 + results.iter().filter(|r| r.is_ok()).count();
        assert!(
            stored > 2,
            "the ticket's creation at least is stored: {results:?}"
        );
        let mut conn = engine.conn().expect("connection");
        assert_eq!(
            store::count(&mut conn).expect("count"),
            i64::try_from(stored).unwrap_or(0)
        );
        assert_eq!(engine.view().last_seq, i64::try_from(stored).unwrap_or(0));
    }
}
