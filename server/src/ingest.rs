//! Push: validating and storing a batch of ops from one device. Every op is checked in order against the state as
//! it would be after the ops before it (a scratch working set): its clock against the drift bound, its author's rights
//! and scope, and the data rules. Only if every op passes is the batch stored, with its effects on the report
//! tables, in one transaction; then the same ops are applied to the in-memory state; then the ops are acknowledged. Ops already
//! stored (a retry after a lost answer) are acknowledged without being applied again.

use linli_sync_core::hlc::DriftPolicy;
use linli_sync_core::ids::{OpId, ReplicaId, UserId};
use linli_sync_core::op::{Op, OpBody, Unknown};
use linli_sync_core::rights::{Role, authorize};
use linli_sync_core::state::State;
use std::collections::HashMap;

use crate::engine::Engine;
use crate::error::{ApiError, OpRejection};
use crate::materialise::{self, Touched, ms};
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

impl Engine {
    /// Validates and stores a batch, all or nothing. `now_ms` is the server's clock.
    pub fn push(&self, who: Pusher, ops: &[Op], now_ms: u64) -> Result<Pushed, ApiError> {
        let _writer = self.writer();
        let mut conn = self.conn()?;
        let ids: Vec<OpId> = ops.iter().map(|o| o.id).collect();
        let stored = store::stored_bodies(&mut conn, &ids)?;

        let mut first_index: HashMap<OpId, usize> = HashMap::new();
        let mut acked = Vec::with_capacity(ops.len());
        let mut fresh: Vec<(usize, &Op)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let reject = || ApiError::OpRejected {
                index: i,
                op_id: Some(op.id),
                reason: OpRejection::IdConflict,
            };
            if let Some(&j) = first_index.get(&op.id) {
                if ops[j] != *op {
                    return Err(reject());
                }
                continue;
            }
            first_index.insert(op.id, i);
            acked.push(op.id);
            match stored.get(&op.id) {
                Some(body) if *body == op.to_json() => {}
                Some(_) => return Err(reject()),
                None => fresh.push((i, op)),
            }
        }
        if fresh.is_empty() {
            return Ok(Pushed { acked, stored: 0 });
        }
        let stored = self.store_new(&mut conn, &fresh, Some(who), now_ms)?;
        Ok(Pushed { acked, stored })
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
        let mut conn = self.conn()?;
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
        self.store_new(&mut conn, &[(0, &op)], None, now_ms)?;
        Ok(op)
    }

    /// Checks and stores ops not stored before, all or nothing; `who` is `None` for the server's own ops.
    /// Must be called with the writer lock held.
    fn store_new(
        &self,
        conn: &mut crate::db::Conn,
        fresh: &[(usize, &Op)],
        who: Option<Pusher>,
        now_ms: u64,
    ) -> Result<usize, ApiError> {
        // Only the entities the batch can read are copied (not the whole state): validating against this working
        // set gives the same results as against the whole state (a sync-core property test holds it to that).
        let (mut scratch, last_seq) = {
            let view = self.view();
            (
                view.state.working_set(fresh.iter().map(|(_, op)| *op)),
                view.last_seq,
            )
        };
        let drift: DriftPolicy = self.rules.drift;
        let mut touched = Touched::default();
        let mut rows = Vec::with_capacity(fresh.len());
        for (k, (i, op)) in fresh.iter().enumerate() {
            let reject = |reason| ApiError::OpRejected {
                index: *i,
                op_id: Some(op.id),
                reason,
            };
            drift
                .check(op.time, now_ms)
                .map_err(|e| reject(OpRejection::Clock(e)))?;
            if let Some(who) = who {
                authorize(&scratch, who.device, who.user, who.role, op)
                    .map_err(|e| reject(OpRejection::Rights(e)))?;
            }
            scratch
                .validate_op(op)
                .map_err(|e| reject(OpRejection::Invalid(e)))?;
            scratch.apply(op);
            touched.add(op);
            let seq = last_seq + 1 + i64::try_from(k).unwrap_or(i64::MAX);
            rows.push(OpRow {
                seq,
                op_id: op.id.to_string(),
                device_id: who.map_or(ReplicaId::SERVER, |w| w.device).to_string(),
                author: op.author.to_string(),
                kind: op.kind().as_str().to_string(),
                entity: op.body.entity_id().to_string(),
                grid: scratch.grid_of(op).map(|g| g.to_string()),
                hlc_wall_ms: ms(op.time.wall_ms),
                hlc_logical: i64::from(op.time.logical),
                received_ms: ms(now_ms),
                body: op.to_json(),
            });
        }
        let new_last = rows.last().map_or(last_seq, |r| r.seq);
        let with_seq: Vec<(i64, &Op)> = rows
            .iter()
            .map(|r| r.seq)
            .zip(fresh.iter().map(|(_, op)| *op))
            .collect();
        crate::db::sqlite::write_txn(conn, |conn| -> Result<(), ApiError> {
            store::append(conn, &rows)?;
            materialise::write(conn, &scratch, &touched, &with_seq, new_last, now_ms)?;
            Ok(())
        })?;
        let stored = rows.len();
        self.commit(fresh.iter().map(|(_, op)| *op), new_last);
        Ok(stored)
    }
}
