//! `linli-sim`: a field day end to end. Real `linli-ffi` replicas (one SQLite file each) against a real `linli serve`
//! process on loopback, with the faults of the field (a killed server, a cut connection, duplicated and reordered
//! answers, restored backups, wrong clocks, revoked and replaced phones), and an independent model of the totals
//! that the merged state must show.
//!
//! Layers:
//! - [`server`]: spawns, kills and restarts the `linli` binary on a fresh data directory;
//! - [`app`]: a phone app on the exported `Replica`, as an app developer writes it;
//! - [`http`]: the admin console over HTTP (users, enrolment, grants, revocation, snapshots) and raw sync calls;
//! - [`phone`]: one simulated phone, a real [`linli_ffi::store::Store`] with its own clock and transport;
//! - [`proxy`]: a loopback TCP proxy that can cut an answer after the server sent it;
//! - [`bodies`]: the community's linked bodies, routing rules and a council decision, with dispatched tickets;
//! - [`world`]: a community (grid cells, households, people, phones) set up through the real API;
//! - [`model`]: the expected totals, computed from what the script did, and the comparisons;
//! - [`schedule`]: random schedules of a field day from a seed, with or without faults;
//! - [`script`]: the actions of a field day, each counted in the model as it is done;
//! - [`rng`]: a small seeded generator, so every random schedule replays from its seed.

pub mod app;
pub mod bodies;
pub mod http;
pub mod model;
pub mod phone;
pub mod proxy;
pub mod rng;
pub mod schedule;
pub mod script;
pub mod server;
pub mod world;

/// Milliseconds since the Unix epoch, from the machine's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
