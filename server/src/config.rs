//! Server configuration: one struct, layered from built-in defaults, then an optional TOML file, then `LINLI_*`
//! environment variables (the last word wins).
//!
//! | variable | TOML key | default | meaning |
//! | --- | --- | --- | --- |
//! | `LINLI_CONFIG` | — | unset | path of the TOML file to read (missing file named here is an error) |
//! | `LINLI_DATA_DIR` | `data_dir` | `./linli-data` | directory for the SQLite database and the signing key |
//! | `LINLI_DATABASE_URL` | `database_url` | `<data_dir>/linli.sqlite3` | SQLite database file |
//! | `LINLI_BIND` | `bind` | `127.0.0.1:8080` | listen address (`host:port`; port 0 picks a free port) |
//! | `LINLI_WORKERS` | `workers` | number of cores | HTTP worker threads |
//! | `LINLI_JWT_SECRET` | `jwt_secret` | generated into `<data_dir>/jwt.key` | HS256 signing secret (at least 32 bytes) |
//! | `LINLI_JWT_KID` | `jwt_kid` | derived from the secret | key id written into the JWT header |
//! | `LINLI_ACCESS_TOKEN_TTL_SECS` | `access_token_ttl_secs` | `900` | lifetime of access tokens |
//! | `LINLI_REFRESH_TOKEN_TTL_DAYS` | `refresh_token_ttl_days` | `90` | lifetime of refresh tokens |
//! | `LINLI_ENROLMENT_CODE_TTL_SECS` | `enrolment_code_ttl_secs` | `86400` | lifetime of one-time enrolment codes |
//! | `LINLI_MAX_BATCH_OPS` | `max_batch_ops` | `5000` | most ops accepted in one sync request |
//! | `LINLI_MAX_BODY_BYTES` | `max_body_bytes` | `8388608` | largest sync request body, as sent and decoded |
//! | `LINLI_MAX_PULL_OPS` | `max_pull_ops` | `5000` | most ops returned in one sync answer |
//! | `LINLI_MAX_OP_BYTES` | `max_op_bytes` | `65536` | longest pushed op's JSON, unknown fields included |
//! | `LINLI_MAX_PULL_BYTES` | `max_pull_bytes` | `4194304` | most op bytes in one sync answer (at least one op) |
//! | `LINLI_MAX_AHEAD_MS` | `max_ahead_ms` | `600000` | how far an op's clock may run ahead of the server's |
//! | `LINLI_HASH_THREADS` | `hash_threads` | half the cores, at least 1 | password hashes run at once (19 MiB each) |
//! | `LINLI_HASH_QUEUE` | `hash_queue` | `32` | logins that may wait for a hashing thread; more are refused (429) |
//! | `LINLI_LOGIN_USER_BURST` | `login_user_burst` | `5` | login attempts a username may make at once |
//! | `LINLI_LOGIN_USER_REFILL_SECS` | `login_user_refill_secs` | `60` | seconds for a username to earn one more |
//! | `LINLI_LOGIN_ADDRESS_BURST` | `login_address_burst` | `30` | login attempts a client address may make at once |
//! | `LINLI_LOGIN_ADDRESS_REFILL_SECS` | `login_address_refill_secs` | `5` | seconds for an address to earn one more |
//! | `LINLI_LOGIN_THROTTLE_KEYS` | `login_throttle_keys` | `100000` | usernames (and addresses) the throttle tracks |
//! | `LINLI_STATE_CACHE_MB` | `state_cache_mb` | `256` | estimated memory of loaded communities' states before the least recently used are evicted |
//! | `LINLI_CHECKPOINT_EVERY` | `checkpoint_every` | `10000` | ops stored after a community's checkpoint before the next is written |
//! | `LINLI_ADMIN_PASSWORD` | — | unset | password of the first admin, created at first start |
//! | `LINLI_LOG` | — | `info` | log filter (`tracing_subscriber` `EnvFilter` syntax) |

use serde::Deserialize;

use crate::password::HasherConfig;
use crate::throttle::ThrottleConfig;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The whole configuration of one server process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Directory holding the database and the generated signing key.
    pub data_dir: PathBuf,
    /// The SQLite database file.
    pub database_url: String,
    /// Listen address.
    pub bind: SocketAddr,
    /// HTTP worker threads.
    pub workers: usize,
    /// HS256 secret; `None` means "read or create `<data_dir>/jwt.key`".
    pub jwt_secret: Option<String>,
    /// Key id in the JWT header; `None` means "derived from the secret".
    pub jwt_kid: Option<String>,
    /// Access token lifetime.
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime.
    pub refresh_token_ttl_days: u64,
    /// Enrolment code lifetime.
    pub enrolment_code_ttl_secs: u64,
    /// The limits on each request.
    pub limits: Limits,
    /// Clock drift bound for pushed ops.
    pub max_ahead_ms: u64,
    /// Password for the first admin (environment only, never a file).
    pub admin_password: Option<String>,
    /// Concurrent password hashes and the logins that may wait for one.
    pub hasher: HasherConfig,
    /// Login throttling per username and per client address.
    pub throttle: ThrottleConfig,
    /// The state cache's budget in MiB (`engine::CacheConfig::budget_bytes`). 256: the budget for a street
    /// office of 20 community-years within 400 MB resident; at the estimated 460 B/op a community-year is 100 MB
    /// (217,687 ops), so it holds about two community-years at once, and the others load from their checkpoints
    /// (docs/operations.md, "The state cache").
    pub state_cache_mb: u64,
    /// Ops stored after a community's checkpoint before the next one is written. 10,000: a cold load replays at most
    /// that many ops after its checkpoint (9–22 ms measured, docs/benchmarks.md), while a community-year (217,687
    /// ops) writes 22 checkpoints a year, each about 0.3 s of one core off the writer's path.
    pub checkpoint_every: u64,
}

/// Explicit request limits; exceeding one is a 413 naming the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Ops per pushed batch.
    pub max_batch_ops: usize,
    /// Bytes per request body (decoded).
    pub max_body_bytes: usize,
    /// Ops per pull page.
    pub max_pull_ops: usize,
    /// Bytes of one pushed op's JSON as sent, unknown fields included.
    pub max_op_bytes: usize,
    /// Bytes of the ops of one pull page; a page holds at least one op, however long, so a pull always advances.
    pub max_pull_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = PathBuf::from("./linli-data");
        Config {
            database_url: default_db(&data_dir),
            data_dir,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            jwt_secret: None,
            jwt_kid: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 90,
            enrolment_code_ttl_secs: 24 * 60 * 60,
            limits: Limits {
                max_batch_ops: 5000,
                max_body_bytes: 8 * 1024 * 1024,
                max_pull_ops: 5000,
                max_op_bytes: 64 * 1024,
                max_pull_bytes: 4 * 1024 * 1024,
            },
            max_ahead_ms: linli_sync_core::hlc::DriftPolicy::DEFAULT.max_ahead_ms,
            admin_password: None,
            hasher: HasherConfig {
                // Half the cores: under a login flood the other half keeps serving syncs.
                threads: std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
                queue: 32,
            },
            throttle: ThrottleConfig {
                user_burst: 5,
                user_refill_secs: 60,
                address_burst: 30,
                address_refill_secs: 5,
                max_entries: 100_000,
            },
            state_cache_mb: 256,
            checkpoint_every: 10_000,
        }
    }
}

fn default_db(data_dir: &Path) -> String {
    data_dir
        .join("linli.sqlite3")
        .to_string_lossy()
        .into_owned()
}

/// Why the configuration could not be read.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file named by `LINLI_CONFIG` could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is invalid.
    #[error("invalid config file {path}: {source}")]
    Toml {
        /// The path.
        path: PathBuf,
        /// The parse error.
        source: Box<toml::de::Error>,
    },
    /// An environment variable holds a value of the wrong form.
    #[error("invalid value for {name}: {reason}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The TOML file's shape: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    bind: Option<SocketAddr>,
    workers: Option<usize>,
    jwt_secret: Option<String>,
    jwt_kid: Option<String>,
    access_token_ttl_secs: Option<u64>,
    refresh_token_ttl_days: Option<u64>,
    enrolment_code_ttl_secs: Option<u64>,
    max_batch_ops: Option<usize>,
    max_body_bytes: Option<usize>,
    max_pull_ops: Option<usize>,
    max_op_bytes: Option<usize>,
    max_pull_bytes: Option<usize>,
    max_ahead_ms: Option<u64>,
    hash_threads: Option<usize>,
    hash_queue: Option<usize>,
    login_user_burst: Option<u32>,
    login_user_refill_secs: Option<u64>,
    login_address_burst: Option<u32>,
    login_address_refill_secs: Option<u64>,
    login_throttle_keys: Option<usize>,
    state_cache_mb: Option<u64>,
    checkpoint_every: Option<u64>,
}

impl Config {
    /// Reads the configuration from the process environment (and the file it names).
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::load(&std::env::vars().collect())
    }

    /// Reads the configuration from the given variables (and the file `LINLI_CONFIG` names).
    pub fn load(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let file = match env.get("LINLI_CONFIG") {
            Some(path) => {
                let path = PathBuf::from(path);
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Toml {
                    path,
                    source: Box::new(source),
                })?
            }
            None => FileConfig::default(),
        };
        let mut c = Config::default();
        c.apply_file(file);
        c.apply_env(env)?;
        Ok(c)
    }

    fn apply_file(&mut self, f: FileConfig) {
        if let Some(d) = f.data_dir {
            self.database_url = default_db(&d);
            self.data_dir = d;
        }
        set(&mut self.database_url, f.database_url);
        set(&mut self.bind, f.bind);
        set(&mut self.workers, f.workers);
        self.jwt_secret = f.jwt_secret.or(self.jwt_secret.take());
        self.jwt_kid = f.jwt_kid.or(self.jwt_kid.take());
        set(&mut self.access_token_ttl_secs, f.access_token_ttl_secs);
        set(&mut self.refresh_token_ttl_days, f.refresh_token_ttl_days);
        set(&mut self.enrolment_code_ttl_secs, f.enrolment_code_ttl_secs);
        set(&mut self.limits.max_batch_ops, f.max_batch_ops);
        set(&mut self.limits.max_body_bytes, f.max_body_bytes);
        set(&mut self.limits.max_pull_ops, f.max_pull_ops);
        set(&mut self.limits.max_op_bytes, f.max_op_bytes);
        set(&mut self.limits.max_pull_bytes, f.max_pull_bytes);
        set(&mut self.max_ahead_ms, f.max_ahead_ms);
        set(&mut self.hasher.threads, f.hash_threads);
        set(&mut self.hasher.queue, f.hash_queue);
        set(&mut self.throttle.user_burst, f.login_user_burst);
        set(
            &mut self.throttle.user_refill_secs,
            f.login_user_refill_secs,
        );
        set(&mut self.throttle.address_burst, f.login_address_burst);
        set(
            &mut self.throttle.address_refill_secs,
            f.login_address_refill_secs,
        );
        set(&mut self.throttle.max_entries, f.login_throttle_keys);
        set(&mut self.state_cache_mb, f.state_cache_mb);
        set(&mut self.checkpoint_every, f.checkpoint_every);
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        if let Some(d) = env.get("LINLI_DATA_DIR") {
            let d = PathBuf::from(d);
            // The database follows the data directory unless a file or variable named it explicitly.
            if self.database_url == default_db(&self.data_dir) {
                self.database_url = default_db(&d);
            }
            self.data_dir = d;
        }
        if let Some(u) = env.get("LINLI_DATABASE_URL") {
            self.database_url = u.clone();
        }
        parse_into(env, "LINLI_BIND", &mut self.bind)?;
        parse_into(env, "LINLI_WORKERS", &mut self.workers)?;
        if let Some(s) = env.get("LINLI_JWT_SECRET") {
            self.jwt_secret = Some(s.clone());
        }
        if let Some(s) = env.get("LINLI_JWT_KID") {
            self.jwt_kid = Some(s.clone());
        }
        parse_into(
            env,
            "LINLI_ACCESS_TOKEN_TTL_SECS",
            &mut self.access_token_ttl_secs,
        )?;
        parse_into(
            env,
            "LINLI_REFRESH_TOKEN_TTL_DAYS",
            &mut self.refresh_token_ttl_days,
        )?;
        parse_into(
            env,
            "LINLI_ENROLMENT_CODE_TTL_SECS",
            &mut self.enrolment_code_ttl_secs,
        )?;
        parse_into(env, "LINLI_MAX_BATCH_OPS", &mut self.limits.max_batch_ops)?;
        parse_into(env, "LINLI_MAX_BODY_BYTES", &mut self.limits.max_body_bytes)?;
        parse_into(env, "LINLI_MAX_PULL_OPS", &mut self.limits.max_pull_ops)?;
        parse_into(env, "LINLI_MAX_OP_BYTES", &mut self.limits.max_op_bytes)?;
        parse_into(env, "LINLI_MAX_PULL_BYTES", &mut self.limits.max_pull_bytes)?;
        parse_into(env, "LINLI_MAX_AHEAD_MS", &mut self.max_ahead_ms)?;
        if let Some(p) = env.get("LINLI_ADMIN_PASSWORD").filter(|p| !p.is_empty()) {
            self.admin_password = Some(p.clone());
        }
        parse_into(env, "LINLI_HASH_THREADS", &mut self.hasher.threads)?;
        parse_into(env, "LINLI_HASH_QUEUE", &mut self.hasher.queue)?;
        let t = &mut self.throttle;
        parse_into(env, "LINLI_LOGIN_USER_BURST", &mut t.user_burst)?;
        parse_into(env, "LINLI_LOGIN_USER_REFILL_SECS", &mut t.user_refill_secs)?;
        parse_into(env, "LINLI_LOGIN_ADDRESS_BURST", &mut t.address_burst)?;
        parse_into(
            env,
            "LINLI_LOGIN_ADDRESS_REFILL_SECS",
            &mut t.address_refill_secs,
        )?;
        parse_into(env, "LINLI_LOGIN_THROTTLE_KEYS", &mut t.max_entries)?;
        parse_into(env, "LINLI_STATE_CACHE_MB", &mut self.state_cache_mb)?;
        parse_into(env, "LINLI_CHECKPOINT_EVERY", &mut self.checkpoint_every)?;
        for (name, value) in [
            ("LINLI_WORKERS", self.workers),
            ("LINLI_HASH_THREADS", self.hasher.threads),
            ("LINLI_LOGIN_USER_BURST", t.user_burst as usize),
            ("LINLI_LOGIN_ADDRESS_BURST", t.address_burst as usize),
            ("LINLI_LOGIN_THROTTLE_KEYS", t.max_entries),
            (
                "LINLI_CHECKPOINT_EVERY",
                usize::try_from(self.checkpoint_every).unwrap_or(usize::MAX),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Env {
                    name,
                    reason: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}

impl Config {
    /// The state cache's settings.
    pub fn cache(&self) -> crate::engine::CacheConfig {
        crate::engine::CacheConfig {
            budget_bytes: self.state_cache_mb.saturating_mul(1 << 20),
            checkpoint_every: i64::try_from(self.checkpoint_every).unwrap_or(i64::MAX),
        }
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn parse_into<T: std::str::FromStr>(
    env: &HashMap<String, String>,
    name: &'static str,
    slot: &mut T,
) -> Result<(), ConfigError>
where
    T::Err: std::fmt::Display,
{
    if let Some(raw) = env.get(name) {
        *slot = raw.trim().parse().map_err(|e: T::Err| ConfigError::Env {
            name,
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_bind_loopback_and_keep_data_in_linli_data() {
        let c = Config::load(&env(&[])).expect("defaults");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./linli-data"));
        assert_eq!(c.database_url, "./linli-data/linli.sqlite3");
    }

    #[test]
    fn env_overrides_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("linli-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("linli.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:9000\"\nmax_batch_ops = 10\ndata_dir = \"/srv/linli\"\n",
        )
        .expect("write");
        let c = Config::load(&env(&[
            ("LINLI_CONFIG", file.to_str().expect("utf8")),
            ("LINLI_MAX_BATCH_OPS", "20"),
        ]))
        .expect("loads");
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.limits.max_batch_ops, 20);
        assert_eq!(c.database_url, "/srv/linli/linli.sqlite3");
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn hashing_and_login_throttle_settings_come_from_the_environment() {
        let c = Config::load(&env(&[
            ("LINLI_HASH_THREADS", "3"),
            ("LINLI_HASH_QUEUE", "7"),
            ("LINLI_LOGIN_USER_BURST", "2"),
            ("LINLI_LOGIN_ADDRESS_REFILL_SECS", "9"),
        ]))
        .expect("loads");
        assert_eq!(c.hasher.threads, 3);
        assert_eq!(c.hasher.queue, 7);
        assert_eq!(c.throttle.user_burst, 2);
        assert_eq!(c.throttle.user_refill_secs, 60);
        assert_eq!(c.throttle.address_refill_secs, 9);
        assert!(Config::default().hasher.threads >= 1);
        let err = Config::load(&env(&[("LINLI_HASH_THREADS", "0")])).expect_err("refused");
        assert!(err.to_string().contains("LINLI_HASH_THREADS"), "{err}");
    }

    #[test]
    fn the_state_cache_and_checkpoints_come_from_the_environment() {
        let d = Config::default();
        assert_eq!((d.state_cache_mb, d.checkpoint_every), (256, 10_000));
        let c = Config::load(&env(&[
            ("LINLI_STATE_CACHE_MB", "2"),
            ("LINLI_CHECKPOINT_EVERY", "500"),
        ]))
        .expect("loads");
        assert_eq!((c.state_cache_mb, c.checkpoint_every), (2, 500));
        assert_eq!(c.cache().budget_bytes, 2 << 20);
        let err = Config::load(&env(&[("LINLI_CHECKPOINT_EVERY", "0")])).expect_err("refused");
        assert!(err.to_string().contains("LINLI_CHECKPOINT_EVERY"), "{err}");
    }

    #[test]
    fn a_malformed_variable_is_named_in_the_error() {
        let err = Config::load(&env(&[("LINLI_MAX_BATCH_OPS", "many")])).expect_err("refused");
        assert!(err.to_string().contains("LINLI_MAX_BATCH_OPS"), "{err}");
    }
}
