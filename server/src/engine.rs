//! The server's replica: the merged state of every stored op, held in memory for validation and scoping, with the
//! op log's index ([`LogIndex`]) and last sequence number it reflects. Rebuilt from the op log at start; a batch is
//! applied to it only after the batch has committed, so it never holds an op the database does not. The server's
//! own clock is rebuilt and fed the same way (ADR 0002).

use linli_sync_core::hlc::HlcClock;
use linli_sync_core::op::Op;
use linli_sync_core::state::{Rules, State};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use crate::db::DbPool;
use crate::log_index::LogIndex;
use crate::store::{self, StoreError};

/// The merged state and the sequence number it is complete up to.
#[derive(Debug, Clone)]
pub struct View {
    /// Every stored op, merged.
    pub state: State,
    /// Every stored op, as a pull judges it.
    pub log: LogIndex,
    /// The last stored sequence number reflected in `state`.
    pub last_seq: i64,
}

impl View {
    /// Applies a stored op (`seq` its sequence number) to the state and notes it in the index, together: a pull
    /// never judges an op the state has not applied.
    fn apply(&mut self, seq: i64, op: &Op) {
        self.state.apply(op);
        self.log.push(seq, op);
    }
}

/// The server replica, shared by all requests.
#[derive(Debug)]
pub struct Engine {
    pub(crate) pool: DbPool,
    pub(crate) rules: Rules,
    /// Serialises writes: one group of batches is validated and stored at a time, so sequence numbers follow
    /// commit order.
    writer: Mutex<()>,
    /// Batches waiting for the writer (group commit).
    pub(crate) queue: crate::ingest::Queue,
    view: RwLock<View>,
    /// The clock of the server's own replica, for the ops it issues. It observes every op it accepts (and, at
    /// start, every stored op), so its own ops order after everything they answer.
    clock: Mutex<HlcClock>,
}

/// How many ops are read per query when rebuilding.
const REBUILD_PAGE: i64 = 10_000;

impl Engine {
    /// Loads every stored op into a fresh state.
    pub fn open(pool: DbPool, rules: Rules) -> Result<Engine, StoreError> {
        let mut conn = pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
        let mut view = View {
            state: State::new(rules),
            log: LogIndex::default(),
            last_seq: 0,
        };
        // The server's clock is restored from the op log: every stored op was accepted, so the clock orders its
        // own next ops after all of them, whatever the wall clock did while the server was down.
        let mut clock = HlcClock::new(rules.drift);
        loop {
            let page = store::after(&mut conn, view.last_seq, REBUILD_PAGE)?;
            let Some((seq, _)) = page.last() else { break };
            let seq = *seq;
            for (seq, op) in &page {
                view.apply(*seq, op);
                clock.observe_accepted(op.time);
            }
            view.last_seq = seq;
        }
        drop(conn);
        Ok(Engine {
            pool,
            rules,
            writer: Mutex::new(()),
            queue: crate::ingest::Queue::default(),
            view: RwLock::new(view),
            clock: Mutex::new(clock),
        })
    }

    /// Reads the current view.
    pub fn view(&self) -> RwLockReadGuard<'_, View> {
        // `apply` does not panic, so a poisoned lock still guards a consistent view.
        self.view.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn server_clock(&self) -> MutexGuard<'_, HlcClock> {
        self.clock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies ops that have just been committed (with their sequence numbers), and advances the sequence number,
    /// in one step for readers.
    pub(crate) fn commit<'a>(&self, ops: impl IntoIterator<Item = (i64, &'a Op)>, last_seq: i64) {
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        let mut newest = None;
        for (seq, op) in ops {
            view.apply(seq, op);
            newest = newest.max(Some(op.time));
        }
        view.last_seq = last_seq;
        drop(view);
        if let Some(time) = newest {
            self.server_clock().observe_accepted(time);
        }
    }

    /// A database connection.
    pub fn conn(&self) -> Result<crate::db::PooledConn, StoreError> {
        self.pool.get().map_err(|e| StoreError::Pool(e.to_string()))
    }
}
