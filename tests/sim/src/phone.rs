//! One simulated phone: a real replica file ([`Store`]) with its own clock (the test sets its skew) and its own
//! transport (gzip over loopback, possibly through the cutting [`crate::proxy`]), so a test can hold, repeat or
//! reorder the server's answers before the replica applies them.

use linli_ffi::error::Error as StoreError;
use linli_ffi::store::Store;
use linli_ffi::{DeviceIdentity, Role as FfiRole, SyncOutcome};
use linli_sync_core::prelude::{Role, State};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::http::{self, Answer, Enrolment};

/// Why a sync did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// No answer, or the server was unavailable: retry later; nothing is lost.
    Network(String),
    /// The server refused (its problem code); `revoked` is `device_revoked`, after which the replica is wiped.
    Refused(String),
    /// The server refused one op for good (its code); the replica set it aside and the queue goes on.
    SetAside(String),
}

/// Counters of the bytes and round trips a phone made.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    /// Request bytes sent (gzip).
    pub sent: usize,
    /// Answer bytes received (gzip).
    pub received: usize,
    /// Latency of each successful `POST /v1/sync`.
    pub latencies: Vec<Duration>,
}

/// A simulated phone.
#[derive(Debug)]
pub struct Phone {
    /// A name for messages (`butler-3`).
    pub label: String,
    /// The replica.
    pub store: Store,
    /// What enrolment gave it.
    pub id: Enrolment,
    /// The replica file.
    pub path: PathBuf,
    /// How far this phone's clock is off (ms; negative = behind).
    pub skew_ms: i64,
    /// Where it syncs (the server, or a proxy in front of it).
    pub base: String,
    /// Bytes and latencies.
    pub wire: Wire,
    /// Codes of the ops the server refused for good (set aside by the replica).
    pub set_aside: Vec<String>,
}

fn ffi_role(role: Role) -> FfiRole {
    match role {
        Role::Admin => FfiRole::Admin,
        Role::GridWorker => FfiRole::GridWorker,
        Role::Volunteer => FfiRole::Volunteer,
    }
}

impl Phone {
    /// Opens a fresh replica file in `dir` for an enrolled device.
    pub fn open(dir: &Path, label: &str, id: Enrolment, base: &str) -> Phone {
        let path = dir.join(format!("{label}.linli.db"));
        let store = Store::open(&path, &identity(&id)).expect("replica opens");
        Phone {
            label: label.to_string(),
            store,
            id,
            path,
            skew_ms: 0,
            base: base.to_string(),
            wire: Wire::default(),
            set_aside: Vec::new(),
        }
    }

    /// Closes and reopens the replica file (after the test replaced it on disk).
    pub fn reopen(&mut self) {
        let fresh = Store::open(&self.path, &identity(&self.id)).expect("replica reopens");
        self.store = fresh;
    }

    /// This phone's idea of now.
    pub fn now(&self) -> u64 {
        crate::now_ms().saturating_add_signed(self.skew_ms)
    }

    /// The replica's merged state.
    pub fn state(&self) -> &State {
        self.store.state()
    }

    /// Whether the replica has neither a snapshot nor a cursor: a new or wiped phone starts from a snapshot.
    fn needs_bootstrap(&self) -> bool {
        let base: i64 = self
            .store
            .conn()
            .query_row("SELECT count(*) FROM base_state", [], |r| r.get(0))
            .unwrap_or(0);
        base == 0 && self.store.sync_status().map_or(0, |s| s.cursor) == 0
    }

    /// One `POST /v1/sync` with the replica's next request; the answer is not applied.
    pub fn exchange(&mut self) -> Result<Answer, SyncError> {
        let body = self.store.prepare_sync().map_err(refused)?;
        let started = Instant::now();
        let answer = http::post(
            &format!("{}/v1/sync", self.base),
            Some(&self.id.token),
            &body,
        )
        .map_err(|e| SyncError::Network(format!("{e:?}")))?;
        self.wire.sent += answer.sent_bytes;
        self.wire.received += answer.received_bytes;
        if answer.status == 200 {
            self.wire.latencies.push(started.elapsed());
        }
        Ok(answer)
    }

    /// Applies an answer from [`Phone::exchange`] (any answer: the replica handles problems, revocation included).
    pub fn apply(&mut self, answer: &Answer) -> Result<SyncOutcome, SyncError> {
        if matches!(answer.status, 408 | 429 | 500..=599) {
            return Err(SyncError::Network(format!("HTTP {}", answer.status)));
        }
        let now = self.now();
        self.store
            .apply_sync_response(now, &answer.body)
            .map_err(refused)
    }

    /// Downloads and loads a snapshot of this device's scope.
    pub fn bootstrap(&mut self) -> Result<(), SyncError> {
        let answer = http::get(
            &format!("{}/v1/snapshot?protocol=1", self.base),
            &self.id.token,
        )
        .map_err(|e| SyncError::Network(format!("{e:?}")))?;
        self.wire.received += answer.received_bytes;
        if answer.status != 200 {
            return self.apply(&answer).map(|_| ());
        }
        let now = self.now();
        self.store.bootstrap(now, &answer.body).map_err(refused)
    }

    /// A full sync: a snapshot first if the phone is new, then push and pull until the server has no more.
    pub fn sync(&mut self) -> Result<(), SyncError> {
        if self.needs_bootstrap() {
            self.bootstrap()?;
        }
        for _ in 0..10_000 {
            let answer = self.exchange()?;
            let outcome = match self.apply(&answer) {
                Ok(outcome) => outcome,
                // As the library's own `sync` does: the op is set aside, the rest of the queue goes on.
                Err(SyncError::SetAside(code)) => {
                    self.set_aside.push(code);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let waiting = self.store.sync_status().map_or(0, |s| s.unsynced_ops);
            if !outcome.has_more && (waiting == 0 || outcome.acked == 0) {
                return Ok(());
            }
        }
        Err(SyncError::Network(
            "the server kept answering `has_more`".into(),
        ))
    }

    /// [`Phone::sync`], retried on network failures (at most `tries` times, 50 ms apart).
    pub fn sync_retrying(&mut self, tries: usize) -> Result<(), SyncError> {
        let mut last = SyncError::Network("not tried".into());
        for _ in 0..tries.max(1) {
            match self.sync() {
                Ok(()) => return Ok(()),
                Err(SyncError::Network(e)) => {
                    last = SyncError::Network(e);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Ops this phone wrote: `(op id, acknowledged)`.
    pub fn local_ops(&self) -> Vec<(String, bool)> {
        let mut stmt = self
            .store
            .conn()
            .prepare("SELECT op, synced FROM local_ops ORDER BY seq")
            .expect("local_ops");
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .expect("query")
            .map(|row| {
                let (op, synced) = row.expect("row");
                let v: serde_json::Value = serde_json::from_str(&op).expect("op json");
                (v["id"].as_str().expect("id").to_string(), synced == 1)
            })
            .collect()
    }

    /// Ops waiting to be pushed.
    pub fn unsynced(&self) -> u64 {
        self.store.sync_status().map_or(0, |s| s.unsynced_ops)
    }
}

fn identity(id: &Enrolment) -> DeviceIdentity {
    DeviceIdentity {
        device_id: id.device.to_string(),
        user_id: id.user.to_string(),
        role: ffi_role(id.role),
    }
}

fn refused(e: StoreError) -> SyncError {
    match e {
        StoreError::Server { code, .. } => SyncError::Refused(code),
        StoreError::SetAside { code } => SyncError::SetAside(code),
        StoreError::Revoked => SyncError::Refused("device_revoked".into()),
        StoreError::Network(n) => SyncError::Network(n),
        other => SyncError::Refused(format!("local: {other}")),
    }
}
