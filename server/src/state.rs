//! The shared application state every request handler reads: configuration, the database pool, the communities'
//! engines, token keys, metrics, the password hashers and the login throttle. Its own module so that `app.rs` (which
//! builds it and the HTTP server), `auth.rs`, `metrics.rs`, `body.rs` and `routes/` depend on it without depending
//! on each other in a circle.

use std::sync::Arc;

use crate::config::Config;
use crate::db::DbPool;
use crate::engine::Engines;
use crate::metrics::Metrics;
use crate::password::Hasher;
use crate::throttle::LoginThrottle;
use crate::token::Keys;

/// Everything a request handler may need.
#[derive(Debug)]
pub struct AppState {
    /// The configuration in force.
    pub config: Config,
    /// Database connections.
    pub pool: DbPool,
    /// The server replicas, one per community, loaded on first use.
    pub engines: Arc<Engines>,
    /// Token keys.
    pub keys: Keys,
    /// Counters for `/metrics` (also app data of their own, for the middleware that records every request).
    pub metrics: Arc<Metrics>,
    /// The password hashing threads (every argon2 hash of a request runs there).
    pub hasher: Hasher,
    /// Failed-login throttling.
    pub throttle: LoginThrottle,
}
