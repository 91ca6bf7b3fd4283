//! The server's replica of one community: the merged state of every op stored in that community's log, held in
//! memory for validation and scoping, with the log's index ([`LogIndex`]) and last sequence number it reflects.
//! Rebuilt from the community's log when it is first needed ([`Engines::get`]); a batch is applied to it only
//! after the batch has committed, so it never holds an op the database does not. The server's own clock of the
//! community is rebuilt and fed the same way (ADR 0002). Each community has its own engine, writer lock and group
//! queue, so a write to one community never waits for another community's validation (ADR 0005).

use linli_sync_core::hlc::HlcClock;
use linli_sync_core::op::Op;
use linli_sync_core::state::{Rules, State};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use crate::community::CommunityId;
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

/// The server replica of one community, shared by all its requests.
#[derive(Debug)]
pub struct Engine {
    pub(crate) pool: DbPool,
    /// The community whose log this replica holds.
    pub(crate) community: CommunityId,
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
    /// Loads every op stored in `community`'s log into a fresh state.
    pub fn open(pool: DbPool, rules: Rules, community: CommunityId) -> Result<Engine, StoreError> {
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
            let page = store::after(&mut conn, community, view.last_seq, REBUILD_PAGE)?;
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
            community,
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

    /// The community this replica holds.
    pub fn community(&self) -> CommunityId {
        self.community
    }

    /// A database connection.
    pub fn conn(&self) -> Result<crate::db::PooledConn, StoreError> {
        self.pool.get().map_err(|e| StoreError::Pool(e.to_string()))
    }
}

/// The loaded communities' engines. A community's engine is loaded on its first request (rebuilt from its log by
/// [`Engines::load`], the one place that knows how), not at start; loading one community holds only that
/// community's slot, so requests to the others go on meanwhile. Nothing is evicted yet: a budgeted evictor (and a
/// loader that starts from a checkpoint) replaces `load` and drops slots here, the rest of the server sees only
/// [`Engines::get`].
#[derive(Debug)]
pub struct Engines {
    pool: DbPool,
    rules: Rules,
    slots: Mutex<HashMap<CommunityId, Slot>>,
}

/// A community's place in the registry: empty until its engine is loaded; locked while it loads.
type Slot = Arc<Mutex<Option<Arc<Engine>>>>;

impl Engines {
    /// No community loaded yet.
    pub fn new(pool: DbPool, rules: Rules) -> Engines {
        Engines {
            pool,
            rules,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The engine of `community`, loaded now if it is not yet; [`StoreError::NoSuchCommunity`] if there is none.
    pub fn get(&self, community: CommunityId) -> Result<Arc<Engine>, StoreError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry(community).or_default().clone()
        };
        // Only this community's requests wait while it loads.
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(engine) = slot.as_ref() {
            return Ok(engine.clone());
        }
        let engine = match self.load(community) {
            Ok(engine) => Arc::new(engine),
            Err(e) => {
                drop(slot);
                self.forget_empty(community);
                return Err(e);
            }
        };
        *slot = Some(engine.clone());
        Ok(engine)
    }

    /// Drops `community`'s slot after a failed load, unless another request holds it besides the caller (slots are
    /// handed out under the map's lock, so nobody can take it while it is removed): probes of ids that do not exist, or a load that
    /// failed once, leave nothing behind in the registry (review of issue 11).
    fn forget_empty(&self, community: CommunityId) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots
            .get(&community)
            .is_some_and(|s| Arc::strong_count(s) == 2)
        {
            slots.remove(&community);
        }
    }

    /// Builds a community's engine from its log.
    fn load(&self, community: CommunityId) -> Result<Engine, StoreError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        if crate::community::get(&mut conn, community)?.is_none() {
            return Err(StoreError::NoSuchCommunity(community));
        }
        drop(conn);
        let started = std::time::Instant::now();
        let engine = Engine::open(self.pool.clone(), self.rules, community)?;
        tracing::info!(
            %community,
            ops = engine.view().last_seq,
            ms = started.elapsed().as_millis() as u64,
            "community loaded"
        );
        Ok(engine)
    }

    /// The communities loaded now.
    pub fn loaded(&self) -> Vec<CommunityId> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ids: Vec<CommunityId> = slots
            .iter()
            .filter(|(_, slot)| slot.try_lock().map(|s| s.is_some()).unwrap_or(false))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_sync_core::grid::GridOp;
    use linli_sync_core::ids::{GridId, UserId};
    use linli_sync_core::op::OpBody;
    use std::time::Duration;

    fn grid_create(_: &State) -> OpBody {
        OpBody::Grid(
            GridId::random(),
            GridOp::Create {
                name: "第一网格".into(),
                community: "社区".into(),
            },
        )
    }

    /// Issue #11: the writer lock was one for the whole server. With a community's writer held (as while it
    /// validates a long group), another community's write goes through; the same community's waits.
    #[test]
    fn a_write_to_one_community_does_not_wait_for_another_communitys_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("e.sqlite3").to_string_lossy().into_owned();
        let pool = crate::db::open(&url, 4).expect("database");
        let mut conn = pool.get().expect("connection");
        let b =
            crate::community::create(&mut conn, "和平里社区", "城东街道", 0).expect("community");
        drop(conn);
        let engines = Arc::new(Engines::new(pool, Rules::DEFAULT));
        assert!(
            engines.loaded().is_empty(),
            "nothing is loaded before a request"
        );
        let (one, two) = (
            engines.get(CommunityId::FIRST).expect("community 1"),
            engines.get(b.id).expect("community 2"),
        );
        assert_eq!(engines.loaded(), [CommunityId::FIRST, b.id]);
        assert!(matches!(
            engines.get(CommunityId(99)),
            Err(StoreError::NoSuchCommunity(CommunityId(99)))
        ));
        // The failed load left no empty slot behind.
        assert_eq!(engines.slots.lock().expect("slots").len(), 2);
        let author = UserId::random();
        let held = two.writer();
        let (done, finished) = std::sync::mpsc::channel();
        let writer = {
            let one = one.clone();
            std::thread::spawn(move || {
                let written = one.issue(author, grid_create, crate::now_ms());
                let _ = done.send(written.map(|op| op.id));
            })
        };
        let written = finished
            .recv_timeout(Duration::from_secs(20))
            .expect("community 1 wrote while community 2's writer was held");
        assert!(written.is_ok(), "{written:?}");
        writer.join().expect("no panic");
        // The same community's own writer does wait.
        let (done, finished) = std::sync::mpsc::channel();
        let waiting = {
            let two = two.clone();
            std::thread::spawn(move || {
                let _ = done.send(two.issue(author, grid_create, crate::now_ms()).is_ok());
            })
        };
        assert!(
            finished.recv_timeout(Duration::from_millis(300)).is_err(),
            "community 2's write waited for its writer"
        );
        drop(held);
        assert_eq!(finished.recv_timeout(Duration::from_secs(20)), Ok(true));
        waiting.join().expect("no panic");
        assert_eq!((one.view().last_seq, two.view().last_seq), (1, 1));
    }
}
