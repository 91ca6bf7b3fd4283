//! A phone app as an app developer writes it: the exported [`Replica`] (the UniFFI object) on its own file, synced
//! with its own `Replica::sync` against the server of a [`World`].

use linli_ffi::api::Replica;
use linli_ffi::{DeviceIdentity, Role as FfiRole, SyncOutcome};
use linli_sync_core::prelude::{Role, UserId};
use std::path::{Path, PathBuf};

use crate::http::Enrolment;
use crate::world::World;

/// A phone running the exported library against the server, for `user`.
pub struct App {
    /// The exported replica.
    pub replica: Replica,
    /// Its file.
    pub path: PathBuf,
    /// The server.
    pub base: String,
    /// The device's access token.
    pub token: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Enrols a device for `user` through the console and opens its replica.
    pub fn open(world: &World, user: UserId, label: &str) -> App {
        let e: Enrolment = world.console.enrol(user, label);
        let path = world.scratch("apps").join(format!("{label}.db"));
        let role = match e.role {
            Role::Admin => FfiRole::Admin,
            Role::GridWorker => FfiRole::GridWorker,
            Role::Volunteer => FfiRole::Volunteer,
        };
        let identity = DeviceIdentity {
            device_id: e.device.to_string(),
            user_id: e.user.to_string(),
            role,
        };
        App {
            replica: Replica::open_at(&path, &identity).expect("open"),
            path,
            base: world.server.base.clone(),
            token: e.token,
        }
    }

    /// Syncs with the library's own call; panics on failure.
    pub fn sync(&self) -> SyncOutcome {
        self.replica
            .sync(self.base.clone(), self.token.clone())
            .expect("sync")
    }

    /// The ids of the households to visit, sorted.
    pub fn households(&self) -> Vec<String> {
        let mut h: Vec<String> = self
            .replica
            .households_to_visit(0)
            .expect("view")
            .into_iter()
            .map(|h| h.household_id)
            .collect();
        h.sort();
        h
    }

    /// Whether `needle` occurs anywhere in the replica file or its WAL.
    pub fn file_holds(&self, needle: &str) -> bool {
        holds(&self.path, needle)
    }
}

/// Whether `needle` occurs anywhere in the SQLite file at `path` or its WAL.
pub fn holds(path: &Path, needle: &str) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)].iter().any(|p| {
        std::fs::read(p)
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}
