//! The UniFFI surface (Kotlin, Swift, Python): the [`Replica`] object, a thin wrapper whose methods are one-liners
//! over [`Store`], and [`ReplicaError`], the one error enum that crosses the boundary, mapped from the internal
//! [`Error`] in one place (`impl From<Error> for ReplicaError`).
//!
//! Threading: a `Replica` may be shared between threads; calls are serialised by one mutex around the single
//! writer connection. `sync` holds it only while preparing and applying, not during the network round trip, so a
//! write made meanwhile waits at most for the apply of one answer (measured in `docs/benchmarks.md`; it is pushed
//! by the next sync). No panic crosses the boundary: a
//! panic inside a call is caught, the replica is closed, and the call returns `ReplicaError::Internal`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use linli_sync_core::prelude::PROTOCOL_VERSION;

use crate::error::Error;
use crate::http::{self, Timeouts};
use crate::key::ReplicaKey;
use crate::store::{Store, TicketStep};
use crate::types::{
    ActivityInput, CardView, DeviceIdentity, GridView, HouseholdView, MySummary, PendingEntry,
    RedeemPurpose, RejectedOp, ReviewItem, SyncOutcome, SyncStatus, TicketInput, TicketView,
    VisitInput, VisitRecorded,
};

/// Why a replica call failed. Reasons name the rule or the failure, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ReplicaError {
    /// The server could not be reached, or is unavailable: nothing was lost; retry later.
    #[error("offline: {reason}")]
    Offline {
        /// What failed.
        reason: String,
    },
    /// A rule refused the write (validation, role or scope, card rights) or the server refused the sync.
    /// `code` is stable and machine-readable (`insufficient_rights`, `role_forbidden`, `invalid_transition`, …).
    #[error("rejected ({code}): {reason}")]
    Rejected {
        /// The rule broken.
        code: String,
        /// A sentence saying why.
        reason: String,
    },
    /// Malformed input: an id that is not a UUID, bytes that are not a sync message, a file of another device.
    #[error("invalid: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The database failed (disk full, I/O error).
    #[error("storage: {reason}")]
    Storage {
        /// SQLite's message.
        reason: String,
    },
    /// The server revoked this device; its local data has been deleted.
    #[error("revoked: {reason}")]
    Revoked {
        /// What to do.
        reason: String,
    },
    /// The replica file cannot be read with the key given: a wrong key, no key for an encrypted file, or a key for a
    /// plain one. Nothing was changed in the file.
    #[error("wrong_key: {reason}")]
    WrongKey {
        /// What to do.
        reason: String,
    },
    /// The replica was closed.
    #[error("closed: {reason}")]
    Closed {
        /// What to do.
        reason: String,
    },
    /// A bug: the call panicked and the replica was closed.
    #[error("internal: {reason}")]
    Internal {
        /// What to do.
        reason: String,
    },
}

fn code_of<T: serde::Serialize>(e: &T) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str().map(str::to_owned)))
        .unwrap_or_else(|| "rejected".into())
}

impl From<Error> for ReplicaError {
    fn from(e: Error) -> Self {
        let reason = e.to_string();
        match e {
            Error::Sqlite(_) => ReplicaError::Storage { reason },
            Error::Op(ref op) => ReplicaError::Rejected {
                code: code_of(op),
                reason,
            },
            Error::Rights(ref r) => ReplicaError::Rejected {
                code: code_of(r),
                reason,
            },
            Error::Server { ref code, .. } | Error::SetAside { ref code } => {
                ReplicaError::Rejected {
                    code: code.clone(),
                    reason,
                }
            }
            Error::Invalid(_) => ReplicaError::Invalid { reason },
            Error::Network(_) => ReplicaError::Offline { reason },
            Error::Revoked => ReplicaError::Revoked { reason },
            Error::WrongKey(_) => ReplicaError::WrongKey { reason },
            Error::Closed => ReplicaError::Closed {
                reason: "the replica is closed; open it again".into(),
            },
        }
    }
}

/// One device's offline replica.
#[derive(Debug, uniffi::Object)]
pub struct Replica {
    inner: Mutex<Option<Store>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Replica {
    /// Runs `f` on the open store under the lock, mapping errors and catching panics.
    fn with<T>(&self, f: impl FnOnce(&mut Store) -> Result<T, Error>) -> Result<T, ReplicaError> {
        // A panic is caught below while the guard is held, so the mutex is never poisoned by our own code.
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(store) = guard.as_mut() else {
            return Err(Error::Closed.into());
        };
        match catch_unwind(AssertUnwindSafe(|| f(store))) {
            Ok(result) => result.map_err(Into::into),
            Err(_) => {
                *guard = None;
                Err(ReplicaError::Internal {
                    reason: "an internal error closed the replica; open it again".into(),
                })
            }
        }
    }

    /// Opens a plain replica from Rust (the exported constructor without a key).
    pub fn open_at(path: &Path, device: &DeviceIdentity) -> Result<Replica, ReplicaError> {
        Replica::open_at_with_key(path, device, None)
    }

    /// Opens a replica from Rust, encrypted with `key` (32 bytes) when one is given (the exported constructor).
    pub fn open_at_with_key(
        path: &Path,
        device: &DeviceIdentity,
        key: Option<&[u8]>,
    ) -> Result<Replica, ReplicaError> {
        let store = catch_unwind(|| {
            let key = key.map(ReplicaKey::new).transpose()?;
            Store::open_with(path, device, key.as_ref())
        })
        .map_err(|_| ReplicaError::Internal {
            reason: "opening the replica failed unexpectedly".into(),
        })??;
        Ok(Replica {
            inner: Mutex::new(Some(store)),
        })
    }

    fn sync_with(
        &self,
        base_url: &str,
        token: &str,
        t: Timeouts,
    ) -> Result<SyncOutcome, ReplicaError> {
        http::check_base(base_url)?;
        let snapshot_url = http::endpoint(
            base_url,
            &format!("/v1/snapshot?protocol={PROTOCOL_VERSION}"),
        );
        if self.with(|s| s.needs_bootstrap())? {
            let answer = http::get(&snapshot_url, token, t)?;
            // A Linli server without snapshots (404 `not_found`) is synced from cursor 0 instead; any other 404 (a
            // web server's page) is not Linli's and is reported as such.
            let no_snapshots = answer.status == 404
                && crate::sync::Problem::parse(&answer.body).is_some_and(|p| p.code == "not_found");
            if !no_snapshots {
                self.with(|s| s.apply_http(now_ms(), answer, true))?;
            }
        }
        let mut total = SyncOutcome::default();
        // Round trips go on while the server has more to give, the push backlog is shrinking, or an op was just set
        // aside (that request pulled nothing); bounded, so a server that keeps saying "more" is asked again by the next call, not endlessly.
        for _ in 0..MAX_ROUND_TRIPS {
            let body = self.with(|s| s.prepare_sync())?;
            let answer = http::post_json(&http::endpoint(base_url, "/v1/sync"), token, &body, t)?;
            let page = self.with(|s| s.apply_http(now_ms(), answer, false))?;
            total.acked += page.acked;
            total.received += page.received;
            total.set_aside += page.set_aside;
            total.cursor = page.cursor.max(total.cursor);
            total.grids_gained.extend(page.grids_gained);
            total.grids_lost.extend(page.grids_lost);
            let backlog = self.with(|s| Ok(s.sync_status()?.unsynced_ops))?;
            total.has_more = page.has_more || backlog > 0;
            // A set-aside op means the server refused that request whole: nothing was pulled, so ask again.
            let refused = page.set_aside > 0;
            if !(page.has_more || refused || (backlog > 0 && page.acked > 0)) {
                break;
            }
        }
        // The user's grid cells changed (in this call or an earlier one whose snapshot download failed): a snapshot
        // of the new scope, fetched after everything was pushed and pulled, replaces the replica's data. What
        // became visible arrives with its history folded in; what left the scope is purged from the file.
        if self.with(|s| s.scope_stale())? {
            let answer = http::get(&snapshot_url, token, t)?;
            self.with(|s| s.apply_http(now_ms(), answer, true))?;
            total.rescoped = true;
            total.cursor = self.with(|s| Ok(s.sync_status()?.cursor))?;
        }
        total.needs_snapshot = false;
        Ok(total)
    }
}

/// The most round trips one `sync` call makes.
const MAX_ROUND_TRIPS: usize = 100;

#[uniffi::export]
impl Replica {
    /// Opens (or creates) the replica file at `path` for this device. Runs schema upgrades. With `key` (32 random
    /// bytes from the platform keystore; a build with encryption) the file is encrypted at rest: a wrong or
    /// missing key is `WrongKey`, and a key given to a build without encryption is `Invalid`.
    #[uniffi::constructor(default(key = None))]
    pub fn open(
        path: String,
        device: DeviceIdentity,
        key: Option<Vec<u8>>,
    ) -> Result<Arc<Replica>, ReplicaError> {
        Replica::open_at_with_key(Path::new(&path), &device, key.as_deref()).map(Arc::new)
    }

    /// Re-encrypts the replica with `new_key` (32 bytes); from now on only `new_key` opens it. The replica must
    /// have been opened with a key.
    pub fn rekey(&self, new_key: Vec<u8>) -> Result<(), ReplicaError> {
        self.with(|s| s.rekey(&ReplicaKey::new(&new_key)?))
    }

    /// Records a door-knock visit; a health flag also raises a follow-up ticket, in the same transaction.
    pub fn record_visit(&self, visit: VisitInput) -> Result<VisitRecorded, ReplicaError> {
        self.with(|s| s.record_visit(now_ms(), &visit))
    }

    /// Logs a stretch of volunteer service; returns the entry id.
    pub fn log_activity(&self, activity: ActivityInput) -> Result<String, ReplicaError> {
        self.with(|s| s.log_activity(now_ms(), &activity))
    }

    /// Creates a ticket; returns its id.
    pub fn create_ticket(&self, ticket: TicketInput) -> Result<String, ReplicaError> {
        self.with(|s| s.create_ticket(now_ms(), &ticket))
    }

    /// 签收: takes a ticket; the 5-minute clock starts now.
    pub fn take_ticket(&self, ticket_id: String, note: Option<String>) -> Result<(), ReplicaError> {
        self.with(|s| s.ticket_step(now_ms(), &ticket_id, TicketStep::Take(note)))
    }

    /// 到场: marks arrival on site.
    pub fn arrive_ticket(
        &self,
        ticket_id: String,
        note: Option<String>,
    ) -> Result<(), ReplicaError> {
        self.with(|s| s.ticket_step(now_ms(), &ticket_id, TicketStep::Arrive(note)))
    }

    /// 解决: marks the problem solved.
    pub fn solve_ticket(
        &self,
        ticket_id: String,
        note: Option<String>,
    ) -> Result<(), ReplicaError> {
        self.with(|s| s.ticket_step(now_ms(), &ticket_id, TicketStep::Solve(note)))
    }

    /// 方案: records the plan for a complex problem.
    pub fn plan_ticket(&self, ticket_id: String, plan: String) -> Result<(), ReplicaError> {
        self.with(|s| s.ticket_step(now_ms(), &ticket_id, TicketStep::Plan(plan)))
    }

    /// 答复: records the answer given to the resident. The answer is a public note: the resident reads it over
    /// Open311 (masked of personal data); every other note written here is internal.
    pub fn answer_ticket(&self, ticket_id: String, answer: String) -> Result<(), ReplicaError> {
        self.with(|s| s.ticket_step(now_ms(), &ticket_id, TicketStep::Answer(answer)))
    }

    /// 评价: records the resident's satisfaction, 1 to 5.
    pub fn rate_ticket(
        &self,
        ticket_id: String,
        satisfaction: u8,
        note: Option<String>,
    ) -> Result<(), ReplicaError> {
        self.with(|s| s.ticket_step(now_ms(), &ticket_id, TicketStep::Rate(satisfaction, note)))
    }

    /// 重办: reopens a ticket.
    pub fn reopen_ticket(
        &self,
        ticket_id: String,
        note: Option<String>,
    ) -> Result<(), ReplicaError> {
        self.with(|s| s.ticket_step(now_ms(), &ticket_id, TicketStep::Reopen(note)))
    }

    /// 派单: dispatches a ticket to a linked body (`agency_id`), or reassigns it to another.
    pub fn dispatch_ticket(
        &self,
        ticket_id: String,
        agency_id: String,
        note: Option<String>,
    ) -> Result<(), ReplicaError> {
        self.with(|s| s.ticket_step(now_ms(), &ticket_id, TicketStep::Dispatch(agency_id, note)))
    }

    /// Approves a volunteer's activity and credits their green energy card.
    pub fn approve_entry(
        &self,
        entry_id: String,
        reason: Option<String>,
    ) -> Result<(), ReplicaError> {
        self.with(|s| s.approve_entry(now_ms(), &entry_id, reason))
    }

    /// Rejects a volunteer's activity, saying why.
    pub fn reject_entry(&self, entry_id: String, reason: String) -> Result<(), ReplicaError> {
        self.with(|s| s.reject_entry(now_ms(), &entry_id, reason))
    }

    /// Redeems points from a volunteer's card within the rights this device holds; returns the card after.
    pub fn redeem_points(
        &self,
        volunteer_id: String,
        points: u64,
        purpose: RedeemPurpose,
    ) -> Result<CardView, ReplicaError> {
        self.with(|s| s.redeem(now_ms(), &volunteer_id, points, &purpose))
    }

    /// My households to visit, and whether each was visited since `day_start_ms` (the app's local midnight).
    pub fn households_to_visit(
        &self,
        day_start_ms: u64,
    ) -> Result<Vec<HouseholdView>, ReplicaError> {
        self.with(|s| s.households_to_visit(day_start_ms))
    }

    /// My open tickets with their 5-20-2-2 steps, judged now.
    pub fn open_tickets(&self) -> Result<Vec<TicketView>, ReplicaError> {
        self.with(|s| s.open_tickets(now_ms()))
    }

    /// The grid cells I cover.
    pub fn grid_cells(&self) -> Result<Vec<GridView>, ReplicaError> {
        self.with(|s| s.grid_cells())
    }

    /// My approved and pending hours, and my green energy card.
    pub fn my_summary(&self) -> Result<MySummary, ReplicaError> {
        self.with(|s| s.summary())
    }

    /// A volunteer's card, with the rights this device holds on it.
    pub fn card(&self, volunteer_id: String) -> Result<CardView, ReplicaError> {
        self.with(|s| s.card(&volunteer_id))
    }

    /// Activities waiting for my decision.
    pub fn pending_entries(&self) -> Result<Vec<PendingEntry>, ReplicaError> {
        self.with(|s| s.pending_entries())
    }

    /// Device id, user, role, cursor, unsynced ops, last sync.
    pub fn sync_status(&self) -> Result<SyncStatus, ReplicaError> {
        self.with(|s| s.sync_status())
    }

    /// Visits and open tickets in my cells that were accepted as written within the rights of their time but that
    /// the cell no longer explains (a household removed since, a butler who left the cell): for a grid worker.
    pub fn review_list(&self) -> Result<Vec<ReviewItem>, ReplicaError> {
        self.with(|s| s.review_list())
    }

    /// This device's ops that the server refused for good: kept here, no longer sent, not part of the views.
    pub fn rejected_ops(&self) -> Result<Vec<RejectedOp>, ReplicaError> {
        self.with(|s| s.rejected_ops())
    }

    /// The body of a sync request (JSON `SyncRequest`): the oldest unacknowledged ops (at most 1000) and the pull
    /// cursor.
    pub fn prepare_sync(&self) -> Result<Vec<u8>, ReplicaError> {
        self.with(|s| s.prepare_sync())
    }

    /// Applies the server's answer (a `SyncResponse`, or its problem document). Idempotent.
    pub fn apply_sync_response(&self, response: Vec<u8>) -> Result<SyncOutcome, ReplicaError> {
        self.with(|s| s.apply_sync_response(now_ms(), &response))
    }

    /// Starts from a server snapshot (JSON `Snapshot`) of this device's scope; unsynced local work is kept.
    pub fn bootstrap(&self, snapshot: Vec<u8>) -> Result<(), ReplicaError> {
        self.with(|s| s.bootstrap(now_ms(), &snapshot))
    }

    /// One HTTP sync with the server at `base_url` (`POST {base_url}/v1/sync`, and `GET {base_url}/v1/snapshot`
    /// first on a new device), authenticated with the bearer `token`. Blocking: call it off the UI thread.
    pub fn sync(&self, base_url: String, token: String) -> Result<SyncOutcome, ReplicaError> {
        self.sync_with(&base_url, &token, Timeouts::DEFAULT)
    }

    /// Folds the ops the server already holds into the stored state, so that opening stays fast on a replica that
    /// has lived for months (also done automatically after a sync answer once 20,000 such ops are stored).
    /// Returns how many ops were folded; nothing visible changes.
    pub fn compact(&self) -> Result<u64, ReplicaError> {
        self.with(|s| s.compact())
    }

    /// Deletes all local data of this replica (ops, snapshot, views); unsynced work is lost.
    pub fn wipe(&self) -> Result<(), ReplicaError> {
        self.with(|s| s.wipe())
    }

    /// Closes the database. Later calls return `ReplicaError::Closed`.
    pub fn close(&self) {
        drop(
            self.inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_refusals_and_outages_map_to_rejected_and_offline() {
        let e: ReplicaError = Error::Server {
            status: 409,
            code: "id_conflict".into(),
        }
        .into();
        assert_eq!(
            e,
            ReplicaError::Rejected {
                code: "id_conflict".into(),
                reason: "the server refused the sync: id_conflict (HTTP 409)".into()
            }
        );
        let e: ReplicaError = Error::Network("timeout".into()).into();
        assert_eq!(
            e,
            ReplicaError::Offline {
                reason: "timeout".into()
            }
        );
    }
}
