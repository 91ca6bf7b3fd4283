//! `linli-ffi`: the embedded SQLite replica that Linli's phone apps run offline, and its bindings.
//!
//! A [`Replica`] is one device's database file. Every write (a door-knock visit, a ticket step, an approval, a
//! redemption) is validated by `linli-sync-core` and recorded in one SQLite transaction that appends the op(s) to
//! the local op log and updates the materialised views the app reads. Sync is transport-agnostic
//! ([`Replica::prepare_sync`] → bytes, [`Replica::apply_sync_response`]) with an HTTP convenience
//! ([`Replica::sync`]).
//!
//! Layers, from the bottom:
//! - [`key`]: encryption at rest (SQLCipher, under the `sqlcipher` feature): the key and the first statements of
//!   an open;
//! - [`schema`]: tables, `PRAGMA user_version`, `init` and `upgrade_from`;
//! - [`oplog`], [`device`], [`views`]: functions that write take `&Transaction`, those that read take `&Connection`;
//! - [`compact`]: folds the ops the server holds into the stored base state;
//! - [`store`]: [`store::Store`] owns the single writer connection and the in-memory `State`;
//! - [`sync`] and [`http`]: the sync messages of `linli_sync_core::sync`, and the HTTP round trip;
//! - [`api`]: the UniFFI surface (Kotlin, Swift, Python) and [`capi`]: a small C ABI for `dart:ffi` and friends.

pub mod api;
pub mod capi;
pub mod compact;
pub mod device;
pub mod error;
pub mod http;
pub mod key;
pub mod oplog;
pub mod schema;
pub mod store;
pub mod sync;
pub mod types;
pub mod views;

pub use api::{Replica, ReplicaError};
pub use key::ReplicaKey;
pub use types::*;

uniffi::setup_scaffolding!();
