//! Assembling the service: opening the database, the registry of community replicas, creating the first admin, loading
//! the signing key, and running the HTTP server with graceful shutdown (SIGTERM or Ctrl-C stop accepting, then
//! in-flight requests finish, up to 30 seconds, then every loaded community with ops after its checkpoint writes
//! one).

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use linli_sync_core::hlc::DriftPolicy;
use linli_sync_core::state::Rules;
use std::net::TcpListener;
use std::sync::Arc;
use thiserror::Error;

use crate::config::{Config, ConfigError};
use crate::db::{self, DbPool};
use crate::engine::Engines;
use crate::identity::{self, IdentityError};
use crate::metrics::Metrics;
use crate::password::{self, Hasher};
pub use crate::state::AppState;
use crate::store::StoreError;
use crate::throttle::LoginThrottle;
use crate::token::Keys;
use crate::{now_ms, routes};

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Identity.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Files or sockets.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The first admin created at start, when the password was generated and must be shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstAdmin {
    /// The username (`admin`).
    pub username: String,
    /// The generated one-time password.
    pub password: String,
}

/// The data rules the configuration asks for (the drift bound is configurable; the rest are the defaults).
pub fn rules(config: &Config) -> Rules {
    Rules {
        drift: DriftPolicy {
            max_ahead_ms: config.max_ahead_ms,
        },
        ..Rules::DEFAULT
    }
}

/// Opens storage and identity; returns the state and, when one was generated, the first admin's password.
pub fn prepare(config: Config) -> Result<(AppState, Option<FirstAdmin>), StartError> {
    let pool = db::open(&config.database_url, pool_size(&config))?;
    let first_admin = ensure_admin(&pool, config.admin_password.as_deref())?;
    let secret = match &config.jwt_secret {
        Some(s) => s.clone(),
        None => load_or_create_secret(&config)?,
    };
    let keys = Keys::new(
        &secret,
        config.jwt_kid.clone(),
        config.access_token_ttl_secs,
    );
    // No community is loaded here: each is loaded (from its checkpoint and the ops after it) on its first request.
    let engines = Arc::new(Engines::with_cache(
        pool.clone(),
        rules(&config),
        config.cache(),
    ));
    let hasher = Hasher::start(config.hasher)?;
    let throttle = LoginThrottle::new(config.throttle);
    Ok((
        AppState {
            config,
            pool,
            engines,
            keys,
            metrics: Arc::new(Metrics::default()),
            hasher,
            throttle,
        },
        first_admin,
    ))
}

fn pool_size(config: &Config) -> u32 {
    u32::try_from(config.workers).unwrap_or(8).saturating_add(2)
}

fn ensure_admin(pool: &DbPool, password: Option<&str>) -> Result<Option<FirstAdmin>, StartError> {
    let mut conn = pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
    if identity::has_admin(&mut conn)? {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(p) => (p.to_string(), false),
        None => (identity::random_code()?, true),
    };
    let hash = password::hash_now(&password).map_err(|e| IdentityError::Hash(e.to_string()))?;
    // The first admin is the admin of the first community (the one every database starts with, or became on
    // upgrade); a district admin is created with `linli user add --role district_admin`.
    identity::add_user(
        &mut conn,
        "admin",
        linli_sync_core::rights::Role::Admin,
        Some(crate::community::CommunityId::FIRST),
        Some(&hash),
        now_ms_i64(),
    )?;
    tracing::info!("created the first admin account `admin`");
    Ok(generated.then(|| FirstAdmin {
        username: "admin".into(),
        password,
    }))
}

fn load_or_create_secret(config: &Config) -> Result<String, StartError> {
    let path = config.data_dir.join("jwt.key");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            std::fs::create_dir_all(&config.data_dir)?;
            let secret = identity::random_secret()?;
            write_private(&path, &secret)?;
            Ok(secret)
        }
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

fn now_ms_i64() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

/// Builds the HTTP server on an already bound listener (port 0 in tests).
pub fn server(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let workers = state.config.workers;
    let metrics = web::Data::from(state.metrics.clone());
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(metrics.clone())
            .app_data(routes::json_config())
            .app_data(routes::query_config())
            .wrap(middleware::Compress::default())
            .wrap(middleware::from_fn(crate::body::decode))
            .wrap(middleware::from_fn(crate::metrics::record))
            .configure(routes::configure)
            .configure(crate::open311::configure)
            .default_service(web::to(routes::not_found))
    })
    .workers(workers)
    // Nagle's algorithm held every answer's body back until the client acknowledged its headers, and Linux delays
    // that acknowledgement by 40 ms: measured as 42 ms of every 64 ms push round trip in the sync bench.
    .tcp_nodelay(true)
    .shutdown_timeout(30)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Returns the card rights of devices revoked from the command line (`linli token revoke`, which has no access
/// to the running server's state), every [`revocation::SWEEP_INTERVAL`] (`revocation.rs`), in every loaded
/// community. A community not loaded writes nothing: its revoked devices' rights go back within a second of its
/// load (its first request after a start), before any of its phones could spend them elsewhere.
fn sweep_revocations(engines: Arc<Engines>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(crate::revocation::SWEEP_INTERVAL);
        loop {
            tick.tick().await;
            let engines = engines.clone();
            let swept = actix_web::rt::task::spawn_blocking(move || {
                // Only the communities loaded now, without counting as a use (the sweep must not keep them cached).
                for community in engines.loaded() {
                    if let Some(engine) = engines.loaded_engine(community) {
                        crate::revocation::return_pending(&engine, now_ms())?;
                    }
                }
                Ok::<(), crate::error::ApiError>(())
            })
            .await;
            match swept {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "returning a revoked device's card rights failed")
                }
                Err(e) => tracing::warn!(error = %e, "the revocation sweep stopped unexpectedly"),
            }
        }
    });
}

/// `linli serve`: binds, prints the address, serves until SIGTERM or Ctrl-C.
pub async fn serve(config: Config) -> Result<(), StartError> {
    let listener = TcpListener::bind(config.bind)?;
    let (state, first_admin) = prepare(config)?;
    if let Some(admin) = first_admin {
        // Printed once, on the console only (never logged): whoever starts the server for the first time reads it.
        eprintln!(
            "First admin account created: username `{}`, one-time password `{}` (shown only now).",
            admin.username, admin.password
        );
    }
    sweep_revocations(state.engines.clone());
    let engines = state.engines.clone();
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    println!("linli listening on http://{addr}");
    server(state, listener)?.await?;
    // Clean shutdown: the requests have finished; every loaded community with ops after its checkpoint writes one,
    // so the next start loads each from it, and the checkpoint and eviction threads still running are waited for
    // (bounded: a checkpoint cut short is only lost, the next load replays its tail).
    let started = std::time::Instant::now();
    let finished = actix_web::rt::task::spawn_blocking(move || {
        engines.checkpoint_all(std::time::Duration::from_secs(SHUTDOWN_WAIT_S))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    if !finished {
        tracing::warn!(
            seconds = SHUTDOWN_WAIT_S,
            "background checkpoints still running at shutdown: stopped without them"
        );
    }
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "checkpoints written; stopped"
    );
    Ok(())
}

/// How long a clean shutdown waits for background checkpoint and eviction threads (a community-year's checkpoint
/// takes about 0.3 s of a core; this leaves room for a few behind SQLite's write lock).
const SHUTDOWN_WAIT_S: u64 = 10;
