//! `linli-server`: the sync service. Phones push the ops they wrote offline and pull what their user may see; the
//! server validates every op (wire form, clock, rights and scope, data rules) against its own merged replica,
//! stores accepted batches with their report-table effects in one transaction, and hands out device tokens.
//!
//! Layers, top to bottom: [`routes`] (HTTP, thin) → [`sync`], [`ingest`], [`pull`] on the [`engine::Engine`] →
//! [`store`], [`materialise`], [`identity`] (diesel) → [`db`] (connections, migrations; SQLite specifics in
//! [`db::sqlite`]). [`error::ApiError`] is the one error of the HTTP layer.

pub mod app;
pub mod auth;
pub mod body;
pub mod checkpoint;
pub mod cli;
pub mod community;
pub mod config;
pub mod db;
pub mod decode;
pub mod engine;
pub mod error;
pub mod identity;
pub mod ingest;
pub mod ledger;
pub mod log_index;
pub mod materialise;
pub mod metrics;
pub mod op_row;
pub mod open311;
pub mod openapi;
pub mod password;
pub mod protocol;
pub mod pull;
pub mod revocation;
pub mod routes;
pub mod state;
pub mod store;
pub mod sync;
pub mod tenancy;
pub mod throttle;
pub mod token;

/// The server's physical clock, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
