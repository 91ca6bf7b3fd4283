//! The server's replica of one community: the merged state of every op stored in that community's log, held in
//! memory for validation and scoping, with the log's index ([`LogIndex`]) and last sequence number it reflects.
//! Loaded when it is first needed ([`Engines::get`]): from the community's latest checkpoint and the ops stored
//! after it, or, when there is none or it does not read back, rebuilt from the whole log. A batch is applied to it
//! only after the batch has committed, so it never holds an op the database does not. The server's own clock of
//! the community is restored and fed the same way (ADR 0002). Each community has its own engine, writer lock and
//! group queue, so a write to one community never waits for another community's validation (ADR 0005).
//!
//! Lifecycle (ARCHITECTURE.md): load (checkpoint + tail, or the log) → serve → checkpoint every
//! [`CacheConfig::checkpoint_every`] ops (off the writer's path) → evicted least-recently-used when the loaded
//! engines' estimated size passes [`CacheConfig::budget_bytes`] (checked before a cold load too) and no request
//! holds it (dropped by the one eviction thread; checkpointed first only if its tail is that long) → checkpointed at
//! clean shutdown.

use linli_sync_core::hlc::{Hlc, HlcClock};
use linli_sync_core::op::Op;
use linli_sync_core::state::{Rules, State};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use crate::checkpoint;
use crate::community::CommunityId;
use crate::db::DbPool;
use crate::log_index::LogIndex;
use crate::store::{self, StoreError};

/// The merged state and the sequence number it is complete up to.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Every stored op, merged.
    pub state: State,
    /// Every stored op, as a pull judges it.
    pub log: LogIndex,
    /// The last stored sequence number reflected in `state`.
    pub last_seq: i64,
    /// The latest time of the ops applied (the server's clock is restored from it: it orders its own next ops after
    /// every op it accepted).
    pub newest: Hlc,
}

impl View {
    /// No op yet.
    pub fn empty(rules: Rules) -> View {
        View {
            state: State::new(rules),
            log: LogIndex::default(),
            last_seq: 0,
            newest: Hlc::default(),
        }
    }

    /// Applies a stored op (`seq` its sequence number) to the state and notes it in the index, together: a pull
    /// never judges an op the state has not applied.
    fn apply(&mut self, seq: i64, op: &Op) {
        self.state.apply(op);
        self.log.push(seq, op);
        self.newest = self.newest.max(op.time);
    }

    /// Applies every op of `community`'s log stored after `last_seq`, a page at a time; up to `until` if given.
    pub fn extend_from_log(
        &mut self,
        conn: &mut crate::db::Conn,
        community: CommunityId,
        until: Option<i64>,
    ) -> Result<usize, StoreError> {
        let mut applied = 0;
        loop {
            let page = store::after(conn, community, self.last_seq, REBUILD_PAGE)?;
            let Some((last, _)) = page.last() else { break };
            let last = *last;
            for (seq, op) in &page {
                if until.is_some_and(|u| *seq > u) {
                    return Ok(applied);
                }
                self.apply(*seq, op);
                self.last_seq = *seq;
                applied += 1;
            }
            self.last_seq = last;
        }
        Ok(applied)
    }

    /// The estimated memory of this view, in bytes: [`BYTES_PER_OP`] for each op it holds, plus [`BYTES_BASE`].
    pub fn estimated_bytes(&self) -> u64 {
        BYTES_BASE + BYTES_PER_OP * self.log.len() as u64
    }
}

/// Estimated bytes of memory per op a loaded community holds: its share of the merged `State` (79 MB) and of the
/// `LogIndex` (21 MB) of one community-year (217,687 ops), measured as the growth of a process's resident set
/// while it builds them (docs/benchmarks.md, "Start-up and memory"): 100 MB / 217,687 = 459 B/op. The state grows
/// with entities rather than ops, but in the field both grow together. Checked on the release binary
/// (`benches/cold_load.rs`): a community-year loaded grows the resident set by 93–94 MB, estimated 95 MB.
pub const BYTES_PER_OP: u64 = 460;
/// Estimated bytes of a community with no op (its maps, queue and locks).
pub const BYTES_BASE: u64 = 64 * 1024;

/// The state cache's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The loaded communities' estimated memory ([`View::estimated_bytes`]) above which the least recently used
    /// ones that no request holds are evicted.
    pub budget_bytes: u64,
    /// A checkpoint is written once this many ops are stored after the last one.
    pub checkpoint_every: i64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            budget_bytes: 256 << 20,
            checkpoint_every: 10_000,
        }
    }
}

/// How loads went, how many checkpoints were written and how many engines evicted (for `/metrics` and tests).
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Loads from a checkpoint and the ops after it.
    pub checkpoint_loads: AtomicU64,
    /// Loads from the whole log (no checkpoint stored).
    pub rebuilds: AtomicU64,
    /// Loads from the whole log because the stored checkpoint did not read back.
    pub fallbacks: AtomicU64,
    /// Checkpoints stored.
    pub checkpoints_written: AtomicU64,
    /// Checkpoints that failed to be stored (logged).
    pub checkpoint_failures: AtomicU64,
    /// Engines evicted under the budget.
    pub evictions: AtomicU64,
    /// Checkpoint and eviction threads running now (clean shutdown waits for them, bounded).
    pub background: AtomicUsize,
    /// The largest estimated memory of the cache seen as a load finished: the engines loaded, the evicted ones not
    /// yet dropped and the one just loaded.
    pub peak_bytes: AtomicU64,
}

/// Counts a background thread in [`CacheStats::background`] for as long as it lives (a panic included).
struct Running(Arc<CacheStats>);

impl Running {
    fn start(stats: &Arc<CacheStats>) -> Running {
        stats.background.fetch_add(1, Ordering::AcqRel);
        Running(stats.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.background.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A community's checkpoint bookkeeping, shared with the thread that writes one.
#[derive(Debug)]
struct Checkpoints {
    every: i64,
    /// The sequence number of the stored checkpoint (0: none).
    stored: AtomicI64,
    /// A checkpoint is being written by this engine's background thread (at most one at a time per engine).
    in_flight: AtomicBool,
    /// After a failed checkpoint, the sequence number before which no other is tried (0: none): a lasting failure
    /// (a full disk) costs one clone and encoding every `every / 10` ops, not one at every commit.
    retry_at: AtomicI64,
    stats: Arc<CacheStats>,
}

/// Clears [`Checkpoints::in_flight`] when the checkpoint thread ends, even by a panic.
struct InFlight(Arc<Checkpoints>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.store(false, Ordering::Release);
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
    /// Shared with a checkpoint being written (which clones it under the read lock), never with a request.
    view: Arc<RwLock<View>>,
    /// The clock of the server's own replica, for the ops it issues. It observes every op it accepts (and, at
    /// load, the newest stored op), so its own ops order after everything they answer.
    clock: Mutex<HlcClock>,
    checkpoints: Arc<Checkpoints>,
    /// When it was last asked for ([`Engines`]' tick), for least-recently-used eviction.
    used: AtomicU64,
    /// [`View::estimated_bytes`] as of the last commit (read by the evictor without taking the view's lock).
    size: AtomicU64,
}

/// How many ops are read per query when rebuilding.
const REBUILD_PAGE: i64 = 10_000;

impl Engine {
    /// Loads every op stored in `community`'s log into a fresh state (no checkpoint read or written).
    pub fn open(pool: DbPool, rules: Rules, community: CommunityId) -> Result<Engine, StoreError> {
        let mut conn = pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
        let mut view = View::empty(rules);
        view.extend_from_log(&mut conn, community, None)?;
        drop(conn);
        let cache = CacheConfig {
            checkpoint_every: i64::MAX,
            ..CacheConfig::default()
        };
        Ok(Engine::from_view(
            pool,
            rules,
            community,
            view,
            &cache,
            0,
            Arc::default(),
        ))
    }

    fn from_view(
        pool: DbPool,
        rules: Rules,
        community: CommunityId,
        view: View,
        cache: &CacheConfig,
        checkpointed: i64,
        stats: Arc<CacheStats>,
    ) -> Engine {
        // The server's clock is restored from the op log (through the view): every stored op was accepted, so the
        // clock orders its own next ops after all of them, whatever the wall clock did while the server was down.
        let mut clock = HlcClock::new(rules.drift);
        clock.observe_accepted(view.newest);
        let size = AtomicU64::new(view.estimated_bytes());
        Engine {
            pool,
            community,
            rules,
            writer: Mutex::new(()),
            queue: crate::ingest::Queue::default(),
            view: Arc::new(RwLock::new(view)),
            clock: Mutex::new(clock),
            checkpoints: Arc::new(Checkpoints {
                every: cache.checkpoint_every.max(1),
                stored: AtomicI64::new(checkpointed),
                in_flight: AtomicBool::new(false),
                retry_at: AtomicI64::new(0),
                stats,
            }),
            used: AtomicU64::new(0),
            size,
        }
    }

    /// The estimated memory of this engine's view ([`View::estimated_bytes`]) as of its last commit.
    pub fn estimated_bytes(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
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
        for (seq, op) in ops {
            view.apply(seq, op);
        }
        view.last_seq = last_seq;
        let newest = view.newest;
        self.size.store(view.estimated_bytes(), Ordering::Relaxed);
        drop(view);
        self.server_clock().observe_accepted(newest);
        self.checkpoint_if_due();
    }

    /// Reads the ops stored after the view (committed by another writer of this community's log) and applies
    /// them: the writer's catch-up when the head row moved (defect D4). How many were applied.
    pub(crate) fn catch_up(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        let applied = view.extend_from_log(&mut conn, self.community, None)?;
        let newest = view.newest;
        self.size.store(view.estimated_bytes(), Ordering::Relaxed);
        drop(view);
        self.server_clock().observe_accepted(newest);
        Ok(applied)
    }

    /// Starts writing a checkpoint on a thread of its own when [`CacheConfig::checkpoint_every`] ops are stored
    /// after the last one and none is being written.
    /// (After a failure: not before [`Checkpoints::retry_at`].)
    fn checkpoint_if_due(&self) {
        if self.checkpoint_due() {
            self.checkpoint_in_background();
        }
    }

    /// Whether [`CacheConfig::checkpoint_every`] ops are stored after the last checkpoint (and a failed one is not
    /// waiting for its retry).
    fn checkpoint_due(&self) -> bool {
        let last = self.view().last_seq;
        let cp = &self.checkpoints;
        last - cp.stored.load(Ordering::Acquire) >= cp.every
            && last >= cp.retry_at.load(Ordering::Acquire)
    }

    /// Starts writing a checkpoint on a thread of its own, unless one is being written.
    fn checkpoint_in_background(&self) {
        if self.checkpoints.in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        let (pool, community) = (self.pool.clone(), self.community);
        let (view, cp) = (self.view.clone(), self.checkpoints.clone());
        let running = Running::start(&cp.stats);
        let spawned = std::thread::Builder::new()
            .name(format!("checkpoint-{community}"))
            .spawn(move || {
                let _running = running;
                let _in_flight = InFlight(cp.clone());
                // Cloned under the read lock (a commit waits for the copy, not for the encoding), then encoded.
                let copy = view.read().unwrap_or_else(PoisonError::into_inner).clone();
                drop(view);
                write_checkpoint(&pool, community, &copy, &cp);
            });
        if let Err(e) = spawned {
            tracing::warn!(%community, error = %e, "could not start a checkpoint thread");
            self.checkpoints.in_flight.store(false, Ordering::Release);
        }
    }

    /// Writes a checkpoint now, on this thread, if ops were stored after the last one (clean shutdown).
    pub fn checkpoint_now(&self) {
        let view = self.view();
        if view.last_seq <= self.checkpoints.stored.load(Ordering::Acquire) {
            return;
        }
        write_checkpoint(&self.pool, self.community, &view, &self.checkpoints);
    }

    /// The sequence number of the checkpoint this engine knows to be stored (0: none).
    pub fn checkpointed(&self) -> i64 {
        self.checkpoints.stored.load(Ordering::Acquire)
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

/// Encodes and stores a checkpoint of `view`; a failure is logged and counted (the log is still the truth).
fn write_checkpoint(pool: &DbPool, community: CommunityId, view: &View, cp: &Checkpoints) {
    let started = std::time::Instant::now();
    let now = i64::try_from(crate::now_ms()).unwrap_or(i64::MAX);
    let row = checkpoint::encode(community, view, now);
    let bytes = row.state.len() + row.log_index.len();
    let saved = pool
        .get()
        .map_err(|e| StoreError::Pool(e.to_string()))
        .and_then(|mut conn| checkpoint::save(&mut conn, &row, false));
    match saved {
        Ok(false) => {
            // Another writer of checkpoints (this community's previous engine on the eviction thread, or another
            // process) stored one at the same or a later sequence number: that one stands, and it is as good.
            cp.stored.fetch_max(row.seq, Ordering::AcqRel);
            tracing::debug!(%community, seq = row.seq, "checkpoint not stored: a later one exists");
        }
        Ok(true) => {
            cp.stored.fetch_max(row.seq, Ordering::AcqRel);
            cp.stats.checkpoints_written.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                %community,
                seq = row.seq,
                bytes,
                ms = started.elapsed().as_millis() as u64,
                "checkpoint written"
            );
        }
        Err(e) => {
            cp.stats.checkpoint_failures.fetch_add(1, Ordering::Relaxed);
            let retry_at = row.seq.saturating_add((cp.every / 10).max(1));
            cp.retry_at.fetch_max(retry_at, Ordering::AcqRel);
            tracing::warn!(%community, seq = row.seq, retry_at, error = %e, "checkpoint not written");
        }
    }
}

/// The loaded communities' engines. A community's engine is loaded on its first request (by [`Engines::load`]:
/// its checkpoint and the ops after it, or its whole log), not at start; loading one community holds only that
/// community's slot, so requests to the others go on meanwhile. Before a cold load (with the newcomer's size
/// estimated from its head) and at every request, while the estimated size of the loaded engines and of the evicted
/// ones not yet dropped is over the budget, the least recently used engine that no request holds is evicted (and
/// dropped by one eviction thread at a time). The rest of the server sees only [`Engines::get`] (and
/// [`Engines::get_untouched`] for district reports).
///
/// Invariant: a community has at most one live engine. An engine is handed out only through its slot's lock, and
/// evicted only under that lock when the slot's `Arc` is the only one (`Arc::strong_count == 1`): no request holds
/// it, and none can take it meanwhile.
#[derive(Debug)]
pub struct Engines {
    pool: DbPool,
    rules: Rules,
    cache: CacheConfig,
    slots: Mutex<HashMap<CommunityId, Slot>>,
    /// Bumped by every [`Engines::get`]: the recency of use.
    tick: AtomicU64,
    stats: Arc<CacheStats>,
    /// Engines evicted and not yet dropped.
    evicted: Arc<Evicted>,
    /// The estimated bytes of the communities being loaded now (each counted from before its room is made until its
    /// engine is in its slot): concurrent cold loads each make room for all of them, not only for themselves.
    loading: AtomicU64,
}

/// Takes a load's estimate off [`Engines::loading`] when the load ends, however it ends.
struct Loading<'a>(&'a AtomicU64, u64);

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::AcqRel);
    }
}

/// Evicted engines waiting to be dropped (and, if their tail is long, checkpointed first) by the one eviction
/// thread; their estimated bytes still count against the budget until they are dropped, so the memory they hold
/// is bounded by the budget like a loaded engine's.
#[derive(Debug, Default)]
struct Evicted {
    queue: Mutex<Vec<Arc<Engine>>>,
    /// The estimated bytes of the engines in `queue` and of the one being dropped.
    bytes: AtomicU64,
    /// The eviction thread runs (at most one at a time).
    running: AtomicBool,
}

/// How long a load waits for the engines evicted to make room for it to be dropped.
const EVICTED_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A community's place in the registry: empty until its engine is loaded; locked while it loads.
type Slot = Arc<Mutex<Option<Arc<Engine>>>>;

impl Engines {
    /// No community loaded yet; the default cache settings.
    pub fn new(pool: DbPool, rules: Rules) -> Engines {
        Engines::with_cache(pool, rules, CacheConfig::default())
    }

    /// No community loaded yet.
    pub fn with_cache(pool: DbPool, rules: Rules, cache: CacheConfig) -> Engines {
        Engines {
            pool,
            rules,
            cache,
            slots: Mutex::new(HashMap::new()),
            tick: AtomicU64::new(0),
            loading: AtomicU64::new(0),
            stats: Arc::default(),
            evicted: Arc::default(),
        }
    }

    /// The engine of `community`, loaded now if it is not yet; [`StoreError::NoSuchCommunity`] if there is none.
    pub fn get(&self, community: CommunityId) -> Result<Arc<Engine>, StoreError> {
        let tick = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
        self.get_used(community, Some(tick))
    }

    /// The engine of `community` like [`Engines::get`], without making it the most recently used: a loaded one
    /// keeps its place in the eviction order, and one loaded by this call is the first to go. For a request that
    /// reads every community in turn (a district's report), which must not push the ones phones are using out of
    /// the cache.
    pub fn get_untouched(&self, community: CommunityId) -> Result<Arc<Engine>, StoreError> {
        self.get_used(community, None)
    }

    /// [`Engines::get`], marking the engine used at `tick` if given.
    fn get_used(
        &self,
        community: CommunityId,
        tick: Option<u64>,
    ) -> Result<Arc<Engine>, StoreError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry(community).or_default().clone()
        };
        // Only this community's requests wait while it loads.
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let engine = match guard.as_ref() {
            Some(engine) => engine.clone(),
            None => match self.make_room_and_load(community) {
                Ok(engine) => {
                    let engine = Arc::new(engine);
                    *guard = Some(engine.clone());
                    engine
                }
                Err(e) => {
                    drop(guard);
                    self.forget_empty(community);
                    return Err(e);
                }
            },
        };
        if let Some(tick) = tick {
            engine.used.store(tick, Ordering::Relaxed);
        }
        drop(guard);
        // Checked at every request, not only after a load: a loaded community grows with every commit.
        self.enforce_budget();
        Ok(engine)
    }

    /// Evicts to make room for `community` before loading it (its size estimated from its head: [`BYTES_PER_OP`]
    /// for each op), so a miss with a full cache does not first load on top of the budget; then loads it.
    fn make_room_and_load(&self, community: CommunityId) -> Result<Engine, StoreError> {
        let head = {
            let mut conn = self
                .pool
                .get()
                .map_err(|e| StoreError::Pool(e.to_string()))?;
            // Only an estimate: a community with no head row is refused by `load`.
            crate::community::head(&mut conn, community).unwrap_or(0)
        };
        let newcomer = BYTES_BASE + BYTES_PER_OP * u64::try_from(head).unwrap_or(0);
        self.loading.fetch_add(newcomer, Ordering::AcqRel);
        let _loading = Loading(&self.loading, newcomer);
        // Room for this load and for every other one under way (`enforce_budget` counts `loading`).
        self.enforce_budget();
        // The engines just evicted are dropped on the eviction thread; wait for them (bounded: one with a long tail
        // is checkpointed first) rather than load on top of them.
        let until = std::time::Instant::now() + EVICTED_WAIT;
        while self.evicted.bytes.load(Ordering::Acquire) > 0
            && self.loaded_bytes()
                + self.evicted.bytes.load(Ordering::Acquire)
                + self.loading.load(Ordering::Acquire)
                > self.cache.budget_bytes
            && std::time::Instant::now() < until
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let engine = self.load(community)?;
        // This community's slot is locked by the caller, so `loaded_bytes` does not count it: its estimate is in
        // `loading` until `_loading` drops; its real size is counted instead here.
        let now = (self.loaded_bytes()
            + self.evicted.bytes.load(Ordering::Acquire)
            + self.loading.load(Ordering::Acquire)
            + engine.estimated_bytes())
        .saturating_sub(newcomer);
        self.stats.peak_bytes.fetch_max(now, Ordering::Relaxed);
        Ok(engine)
    }

    /// The engine of `community` if it is loaded, without loading it or counting as a use (for background work
    /// over the loaded communities, which must not keep them in the cache).
    pub fn loaded_engine(&self, community: CommunityId) -> Option<Arc<Engine>> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&community)?
            .clone();
        let guard = slot.try_lock().ok()?;
        guard.clone()
    }

    /// Drops `community`'s slot after a failed load, unless another request holds it besides the caller (slots are
    /// handed out under the map's lock, so nobody can take it while it is removed): probes of ids that do not exist, or a load that
    /// failed once, leave nothing behind in the registry (review of issue 11).
    fn forget_empty(&self, community: CommunityId) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // Still empty, too: between the failed load and this call another request may have loaded the community
        // into the same slot, and that engine must stay (two engines of one community would disagree on its log).
        if slots.get(&community).is_some_and(|s| {
            Arc::strong_count(s) == 2 && s.try_lock().is_ok_and(|engine| engine.is_none())
        }) {
            slots.remove(&community);
        }
    }

    /// Builds a community's engine: from its checkpoint and the ops after it, or from its whole log when there is
    /// no checkpoint or it does not read back (logged; a fresh one is then written).
    fn load(&self, community: CommunityId) -> Result<Engine, StoreError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        if crate::community::get(&mut conn, community)?.is_none() {
            return Err(StoreError::NoSuchCommunity(community));
        }
        let started = std::time::Instant::now();
        // The row first, then the head: another process that commits and checkpoints between the two reads moves
        // the head past the row, never the row past the head read here (that would look like a bad checkpoint).
        let stored: Result<Option<checkpoint::Stored>, StoreError> =
            match checkpoint::latest(&mut conn, community) {
                Ok(row) => Ok(row),
                // A row that does not even read as a row (a NULL or a column of another type, after a hand edit):
                // a fallback like any checkpoint that does not read back, not a failed request. Any other error
                // (the pool, a busy database) fails this load only: the row may be fine.
                Err(e @ StoreError::Db(diesel::result::Error::DeserializationError(_))) => Err(e),
                Err(e) => return Err(e),
            };
        let head = crate::community::head(&mut conn, community)?;
        let (mut view, from_checkpoint, bad) = match stored {
            Ok(None) => (View::empty(self.rules), None, None),
            Ok(Some(row)) => match checkpoint::decode(&row, &self.rules, head) {
                Ok(view) => (view, Some(row.seq), None),
                Err(e) => {
                    tracing::warn!(
                        %community,
                        seq = row.seq,
                        reason = %e,
                        "checkpoint not used: rebuilding the community from its log"
                    );
                    (View::empty(self.rules), None, Some(Some(row.seq)))
                }
            },
            Err(e) => {
                tracing::warn!(
                    %community,
                    reason = %e,
                    "checkpoint row unreadable: rebuilding the community from its log"
                );
                // Its seq, if that column reads, so that only this row is deleted.
                let seq = checkpoint::stored_seq(&mut conn, community).ok().flatten();
                (View::empty(self.rules), None, Some(seq))
            }
        };
        let fell_back = bad.is_some();
        if let Some(seq) = bad {
            // The bad row goes now (only if it is still the one read: a later one another process stored stays), so
            // the fresh checkpoint below is written by the ordinary rule and never over a later one. If it cannot
            // be deleted, the fresh one is refused or replaces it by that rule; either way the next load rebuilds.
            if let Err(e) = checkpoint::discard(&mut conn, community, seq) {
                tracing::warn!(%community, error = %e, "the unreadable checkpoint could not be deleted");
            }
        }
        let decoded_ms = started.elapsed().as_millis() as u64;
        let tail = view.extend_from_log(&mut conn, community, None)?;
        // The households of the community's grid cells, claimed as its own where nobody has them: the upgrade's
        // migration could fill the claims only from visits and the fee ledger (it cannot read the op log), so a
        // household an upgraded database knew from a grid cell alone is claimed here, before the community's first
        // write (under the slot's lock: no writer of this community runs yet). Best effort: a failure (the database
        // busy past its timeout) is logged and the claim is made at the next load; the load goes on.
        let claimed = crate::tenancy::claim_grid_households(&mut conn, community, &view.state)
            .unwrap_or_else(|e| {
                tracing::warn!(%community, error = %e, "claiming the community's households failed");
                0
            });
        drop(conn);
        let counter = match (from_checkpoint, fell_back) {
            (Some(_), _) => &self.stats.checkpoint_loads,
            (None, true) => &self.stats.fallbacks,
            (None, false) => &self.stats.rebuilds,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            %community,
            ops = view.last_seq,
            checkpoint = from_checkpoint.unwrap_or(0),
            tail,
            claimed,
            decode_ms = decoded_ms,
            ms = started.elapsed().as_millis() as u64,
            "community loaded"
        );
        let engine = Engine::from_view(
            self.pool.clone(),
            self.rules,
            community,
            view,
            &self.cache,
            from_checkpoint.unwrap_or(0),
            self.stats.clone(),
        );
        if fell_back {
            // The unreadable row is replaced now, not after the next `checkpoint_every` ops.
            engine.checkpoint_in_background();
        } else {
            engine.checkpoint_if_due();
        }
        Ok(engine)
    }

    /// While the loaded engines' estimated size, plus that of the evicted ones not yet dropped, plus that of the
    /// communities being loaded now ([`Engines::loading`]) is over the budget, evicts the least recently used engine that no request
    /// holds (a look at each loaded community's size, kept in an atomic: no view is locked). Evicted engines are
    /// dropped by one eviction thread at a time ([`Engines::drop_evicted`]). The engine of the request may be the
    /// only one left and over the budget alone: it is kept (its request holds it).
    fn enforce_budget(&self) {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut loaded: Vec<(u64, u64, Slot)> = Vec::new();
        for slot in slots {
            // A slot that is loading is skipped (its size is not known yet, and it is in use).
            let Ok(guard) = slot.try_lock() else { continue };
            if let Some(e) = guard.as_ref() {
                let (used, bytes) = (e.used.load(Ordering::Relaxed), e.estimated_bytes());
                drop(guard);
                loaded.push((used, bytes, slot));
            }
        }
        let budget = self.cache.budget_bytes;
        let mut total: u64 = loaded.iter().map(|(_, b, _)| b).sum::<u64>()
            + self.evicted.bytes.load(Ordering::Acquire)
            + self.loading.load(Ordering::Acquire);
        if total <= budget {
            return;
        }
        loaded.sort_unstable_by_key(|(used, _, _)| *used);
        let mut evicted = Vec::new();
        for (_, bytes, slot) in loaded {
            if total <= budget {
                break;
            }
            let Ok(mut guard) = slot.try_lock() else {
                continue;
            };
            // Checked under the slot's lock: nobody else holds the engine, and nobody can take it meanwhile.
            if guard.as_ref().is_some_and(|e| Arc::strong_count(e) == 1)
                && let Some(e) = guard.take()
            {
                total = total.saturating_sub(bytes);
                evicted.push(e);
            }
        }
        if evicted.is_empty() {
            return;
        }
        self.stats
            .evictions
            .fetch_add(evicted.len() as u64, Ordering::Relaxed);
        let bytes: u64 = evicted.iter().map(|e| e.estimated_bytes()).sum();
        self.evicted.bytes.fetch_add(bytes, Ordering::AcqRel);
        self.evicted
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(evicted);
        self.drop_evicted();
    }

    /// Starts the eviction thread unless it runs: it takes the evicted engines from the queue until it is empty and
    /// drops each, checkpointing it first only if its tail (ops after its stored checkpoint) is at least
    /// [`CacheConfig::checkpoint_every`]. Periodic checkpoints keep the tail below that, so a long one means a
    /// periodic checkpoint failed or was still in flight; a shorter tail costs the next load at most
    /// `checkpoint_every` ops of replay (9–22 ms for 10,000, docs/benchmarks.md), less than the checkpoint (about
    /// 0.1 s of a core per community-year and an 11 MB write under SQLite's one write lock, which every community's
    /// commits wait for). One thread at a time: under thrash, evictions queue rather than write side by side.
    fn drop_evicted(&self) {
        if self.evicted.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let evicted = self.evicted.clone();
        let running = Running::start(&self.stats);
        let spawned = std::thread::Builder::new()
            .name("evict".into())
            .spawn(move || {
                let _running = running;
                loop {
                    let next = evicted
                        .queue
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop();
                    let Some(engine) = next else {
                        evicted.running.store(false, Ordering::Release);
                        release_freed_memory();
                        // An engine queued between the empty pop and the flag: take it unless another thread did.
                        let more = !evicted
                            .queue
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .is_empty();
                        if more && !evicted.running.swap(true, Ordering::AcqRel) {
                            continue;
                        }
                        break;
                    };
                    let (last, bytes) = (engine.view().last_seq, engine.estimated_bytes());
                    let tail = last - engine.checkpointed();
                    tracing::info!(community = %engine.community, ops = last, tail, "community evicted");
                    // Not while its periodic checkpoint is still being written (that one stands), nor before a
                    // failed one's retry point (a full disk must not cost a re-encoding at every eviction).
                    if engine.checkpoint_due() && !engine.checkpoints.in_flight.load(Ordering::Acquire) {
                        engine.checkpoint_now();
                    }
                    drop(engine);
                    evicted.bytes.fetch_sub(bytes, Ordering::AcqRel);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the eviction thread: evicted engines dropped here");
            let engines = std::mem::take(
                &mut *self
                    .evicted
                    .queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            let bytes: u64 = engines.iter().map(|e| e.estimated_bytes()).sum();
            drop(engines);
            self.evicted.bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.evicted.running.store(false, Ordering::Release);
        }
    }

    /// Writes a checkpoint of every loaded community with ops stored after its last one (clean shutdown), then
    /// waits, up to `wait`, for the checkpoint and eviction threads still running (a checkpoint they do not finish
    /// is lost, not wrong: the next load replays the tail). Whether they all finished.
    pub fn checkpoint_all(&self, wait: std::time::Duration) -> bool {
        for community in self.loaded() {
            if let Some(engine) = self.loaded_engine(community) {
                engine.checkpoint_now();
            }
        }
        let until = std::time::Instant::now() + wait;
        while self.stats.background.load(Ordering::Acquire) > 0 {
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        true
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

    /// The estimated memory of the loaded communities ([`View::estimated_bytes`]), in bytes.
    pub fn loaded_bytes(&self) -> u64 {
        self.loaded()
            .into_iter()
            .filter_map(|c| self.loaded_engine(c))
            .map(|e| e.estimated_bytes())
            .sum()
    }

    /// The cache settings in force.
    pub fn cache(&self) -> CacheConfig {
        self.cache
    }

    /// How loads, checkpoints and evictions went.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The `/metrics` lines of the state cache.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let loaded = self.loaded().len();
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            out,
            "linli_communities_loaded",
            "Communities whose merged state is in memory.",
            loaded as u64,
        );
        gauge(
            out,
            "linli_state_cache_bytes",
            "Estimated memory of the loaded communities' states and indexes.",
            self.loaded_bytes(),
        );
        gauge(
            out,
            "linli_state_cache_peak_bytes",
            "The largest estimated memory of the cache as a load finished (loaded, evicted not yet dropped, new).",
            self.stats.peak_bytes.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "linli_state_cache_budget_bytes",
            "The state cache's budget (LINLI_STATE_CACHE_MB).",
            self.cache.budget_bytes,
        );
        let s = &self.stats;
        let _ = writeln!(
            out,
            "# HELP linli_community_loads_total Communities loaded, by source.\n# TYPE linli_community_loads_total counter"
        );
        for (from, n) in [
            ("checkpoint", &s.checkpoint_loads),
            ("log", &s.rebuilds),
            ("fallback", &s.fallbacks),
        ] {
            let _ = writeln!(
                out,
                "linli_community_loads_total{{from=\"{from}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        for (name, help, n) in [
            (
                "linli_checkpoints_written_total",
                "Checkpoints stored.",
                &s.checkpoints_written,
            ),
            (
                "linli_checkpoint_failures_total",
                "Checkpoints that could not be stored.",
                &s.checkpoint_failures,
            ),
            (
                "linli_evictions_total",
                "Communities evicted from the state cache.",
                &s.evictions,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                n.load(Ordering::Relaxed)
            );
        }
    }
}

/// Asks the allocator to return freed memory to the system. glibc keeps what an evicted engine freed in its arenas
/// (measured: of a community-year's 93 MB, 9 MB went back without this), so the resident set would not fall.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "glibc's malloc_trim has no safe wrapper; it takes no pointer and only walks the allocator's own arenas"
)]
fn release_freed_memory() {
    // SAFETY: `malloc_trim` takes a padding size and no pointer; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators and systems: nothing to ask.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

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

    /// Defect D4: another writer of the same community's log (a second process on the same database) committed,
    /// so the head row is not where this engine's log ends. The writer catches up (reads and applies the other's
    /// ops) and stores its own after them; before, it failed with `HeadMoved` at every write, for good.
    #[test]
    fn a_writer_whose_head_moved_catches_up_and_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("d4.sqlite3").to_string_lossy().into_owned();
        let pool = crate::db::open(&url, 4).expect("database");
        let (here, there) = (
            Engines::new(pool.clone(), Rules::DEFAULT),
            Engines::new(pool.clone(), Rules::DEFAULT),
        );
        let (mine, other) = (
            here.get(CommunityId::FIRST).expect("loads"),
            there.get(CommunityId::FIRST).expect("loads"),
        );
        let author = UserId::random();
        // Stamped a minute ahead (its clock's, judged against it): an op of ours that answers it orders after it only
        // if our clock saw it before stamping, which a later wall clock alone would not give.
        let theirs = other
            .issue(author, grid_create, crate::now_ms() + 60_000)
            .expect("the other writer stores");
        let ours = mine
            .issue(author, grid_create, crate::now_ms())
            .expect("caught up and stored");
        let view = mine.view();
        assert_eq!(view.last_seq, 2);
        assert_eq!(
            (view.log.seq_of(&theirs.id), view.log.seq_of(&ours.id)),
            (Some(1), Some(2))
        );
        drop(view);
        let full = Engine::open(pool.clone(), Rules::DEFAULT, CommunityId::FIRST).expect("rebuild");
        assert_eq!(
            *mine.view(),
            *full.view(),
            "the caught-up view is the log's"
        );
        assert!(
            ours.time > theirs.time,
            "the server's own op was stamped after the catch-up: {:?} after {:?}",
            ours.time,
            theirs.time
        );

        // A head moved with no ops behind it (edited by hand): nothing to catch up with, so `503 log_moved`, and
        // nothing stored.
        let mut conn = pool.get().expect("connection");
        crate::community::bump_head(&mut conn, CommunityId::FIRST, 3).expect("moved");
        let refused = mine
            .issue(author, grid_create, crate::now_ms())
            .expect_err("refused");
        assert_eq!(refused.code(), "log_moved");
        assert_eq!(
            actix_web::ResponseError::status_code(&refused).as_u16(),
            503
        );
        assert_eq!(store::count(&mut conn).expect("count"), 2, "nothing stored");
        assert_eq!(
            crate::community::head(&mut conn, CommunityId::FIRST).expect("head"),
            5,
            "the head row is as it was"
        );
        assert_eq!(mine.view().last_seq, 2);
    }

    fn pool_at(dir: &tempfile::TempDir) -> DbPool {
        let url = dir.path().join("c.sqlite3").to_string_lossy().into_owned();
        crate::db::open(&url, 8).expect("database")
    }

    /// Issues `n` ops to `community` through `engines`, one request each; their ids.
    fn write_ops(
        engines: &Engines,
        community: CommunityId,
        n: usize,
    ) -> Vec<linli_sync_core::ids::OpId> {
        let author = UserId::random();
        (0..n)
            .map(|_| {
                engines
                    .get(community)
                    .expect("loads")
                    .issue(author, grid_create, crate::now_ms())
                    .expect("stored")
                    .id
            })
            .collect()
    }

    /// Waits (bounded, not timed) until no checkpoint or eviction thread runs.
    fn settle(engines: &Engines) {
        for _ in 0..1000 {
            if engines.stats().background.load(Ordering::Acquire) == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("background threads did not finish");
    }

    /// Review of issue 11, finding 2: a miss with a full cache evicts to make room before it loads (the newcomer's
    /// size estimated from its head), so the cache never holds the budget and the newcomer at once; before, the
    /// eviction ran after the load and the cache peaked at both communities.
    #[test]
    fn a_miss_with_a_full_cache_evicts_before_it_loads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = pool_at(&dir);
        let mut conn = pool.get().expect("connection");
        let b = crate::community::create(&mut conn, "和平里社区", "城东街道", 0).expect("b");
        drop(conn);
        let seeding = Engines::new(pool.clone(), Rules::DEFAULT);
        write_ops(&seeding, CommunityId::FIRST, 300);
        write_ops(&seeding, b.id, 300);
        drop(seeding);
        let one = BYTES_BASE + BYTES_PER_OP * 300;
        // Room for one of them, not two.
        let cache = CacheConfig {
            budget_bytes: one + one / 2,
            checkpoint_every: i64::MAX,
        };
        let engines = Engines::with_cache(pool, Rules::DEFAULT, cache);
        drop(engines.get(CommunityId::FIRST).expect("a"));
        drop(engines.get(b.id).expect("b"));
        settle(&engines);
        assert_eq!(engines.loaded(), [b.id]);
        assert_eq!(engines.stats().evictions.load(Ordering::Relaxed), 1);
        let peak = engines.stats().peak_bytes.load(Ordering::Relaxed);
        assert!(
            peak <= cache.budget_bytes,
            "peak {peak} within the budget {}",
            cache.budget_bytes
        );
    }

    /// Review of issue 11, finding 3: an evicted engine whose tail (ops after its checkpoint) is shorter than
    /// `checkpoint_every` is dropped without writing one (the next load replays the tail); before, every eviction of
    /// an engine with any new op wrote one.
    #[test]
    fn eviction_checkpoints_only_a_long_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = pool_at(&dir);
        let mut conn = pool.get().expect("connection");
        let b = crate::community::create(&mut conn, "和平里社区", "城东街道", 0).expect("b");
        drop(conn);
        let seeding = Engines::new(pool.clone(), Rules::DEFAULT);
        write_ops(&seeding, CommunityId::FIRST, 50);
        drop(seeding);
        let cache = CacheConfig {
            budget_bytes: 1,
            checkpoint_every: 100,
        };
        let engines = Engines::with_cache(pool.clone(), Rules::DEFAULT, cache);
        drop(engines.get(CommunityId::FIRST).expect("a"));
        // A request to another community evicts the first (50 ops, none checkpointed: a short tail).
        drop(engines.get(b.id).expect("b"));
        settle(&engines);
        assert_eq!(engines.loaded(), [b.id]);
        assert_eq!(
            engines.stats().checkpoints_written.load(Ordering::Relaxed),
            0,
            "a short tail is not checkpointed at eviction"
        );
        let mut conn = pool.get().expect("connection");
        assert_eq!(
            checkpoint::stored_seq(&mut conn, CommunityId::FIRST).expect("seq"),
            None
        );
    }

    /// Review of issue 11, finding 9: a checkpoint that fails (here: its table is gone) is retried after another
    /// `checkpoint_every / 10` ops, not at every commit.
    #[test]
    fn a_failed_checkpoint_is_retried_after_a_tenth_of_the_interval() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = pool_at(&dir);
        let cache = CacheConfig {
            budget_bytes: u64::MAX,
            checkpoint_every: 100,
        };
        let engines = Engines::with_cache(pool.clone(), Rules::DEFAULT, cache);
        drop(engines.get(CommunityId::FIRST).expect("loads"));
        let mut conn = pool.get().expect("connection");
        use diesel::RunQueryDsl;
        diesel::sql_query("DROP TABLE checkpoints")
            .execute(&mut conn)
            .expect("dropped");
        drop(conn);
        // One at a time, each commit waiting for the checkpoint thread it may start: without the back-off, every
        // commit from the 100th on tries (and fails) again.
        let author = UserId::random();
        for _ in 0..119 {
            let engine = engines.get(CommunityId::FIRST).expect("loaded");
            engine
                .issue(author, grid_create, crate::now_ms())
                .expect("stored");
            settle(&engines);
        }
        let failures = engines.stats().checkpoint_failures.load(Ordering::Relaxed);
        assert_eq!(failures, 2, "tried at 100 and at 110");
    }

    /// Review of issue 11, finding 5: eviction racing concurrent pushes. Several threads write to several
    /// communities through one registry whose budget evicts every engine no request holds (and checkpoints often),
    /// so engines are evicted, checkpointed and reloaded from checkpoint + tail between the writes. Afterwards every
    /// acknowledged op is in its community's log exactly once, and the served view equals a fresh rebuild.
    #[test]
    fn eviction_racing_concurrent_pushes_loses_and_doubles_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = pool_at(&dir);
        let mut conn = pool.get().expect("connection");
        let mut communities = vec![CommunityId::FIRST];
        for i in 0..3 {
            communities.push(
                crate::community::create(&mut conn, &format!("社区{i}"), "城东街道", 0)
                    .expect("community")
                    .id,
            );
        }
        drop(conn);
        let cache = CacheConfig {
            budget_bytes: 1,
            checkpoint_every: 7,
        };
        let engines = Arc::new(Engines::with_cache(pool.clone(), Rules::DEFAULT, cache));
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (engines, communities) = (engines.clone(), communities.clone());
                std::thread::spawn(move || {
                    let mut acked = Vec::new();
                    for i in 0..40 {
                        let c = communities[(t + i) % communities.len()];
                        acked.extend(write_ops(&engines, c, 1).into_iter().map(|id| (c, id)));
                    }
                    acked
                })
            })
            .collect();
        let mut acked: HashMap<CommunityId, Vec<linli_sync_core::ids::OpId>> = HashMap::new();
        for t in threads {
            for (c, id) in t.join().expect("no panic") {
                acked.entry(c).or_default().push(id);
            }
        }
        settle(&engines);
        assert!(
            engines.stats().evictions.load(Ordering::Relaxed) > 0,
            "engines were evicted"
        );
        let mut conn = pool.get().expect("connection");
        for c in &communities {
            let mut mine = acked.remove(c).unwrap_or_default();
            let mut stored: Vec<_> = store::after(&mut conn, *c, 0, 10_000)
                .expect("log")
                .into_iter()
                .map(|(_, op)| op.id)
                .collect();
            mine.sort_unstable();
            stored.sort_unstable();
            assert_eq!(stored, mine, "community {c}: every acknowledged op once");
            let served = engines.get(*c).expect("served");
            let fresh = Engine::open(pool.clone(), Rules::DEFAULT, *c).expect("rebuild");
            assert_eq!(*served.view(), *fresh.view(), "community {c}");
        }
    }

    /// Review of issue 11, finding 13: a district report reads every community with `get_untouched`, which does not
    /// make it the most recently used, so the next eviction takes it rather than a community a phone used last.
    #[test]
    fn an_untouched_get_keeps_the_eviction_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = pool_at(&dir);
        let mut conn = pool.get().expect("connection");
        let b = crate::community::create(&mut conn, "二社区", "城东街道", 0).expect("b");
        let c = crate::community::create(&mut conn, "三社区", "城东街道", 0).expect("c");
        drop(conn);
        // Two empty communities fit, three do not.
        let cache = CacheConfig {
            budget_bytes: 2 * BYTES_BASE + BYTES_BASE / 2,
            checkpoint_every: i64::MAX,
        };
        let engines = Engines::with_cache(pool, Rules::DEFAULT, cache);
        drop(engines.get(CommunityId::FIRST).expect("a"));
        drop(engines.get(b.id).expect("b: used last"));
        // The report reads the first one again: not a use.
        drop(
            engines
                .get_untouched(CommunityId::FIRST)
                .expect("a, untouched"),
        );
        drop(engines.get(c.id).expect("c"));
        settle(&engines);
        assert_eq!(
            engines.loaded(),
            [b.id, c.id],
            "the report's read did not keep the first"
        );
    }
}
