//! Password hashing with bounded CPU and memory. Every argon2 hash of the server runs on one of a few long-lived
//! threads ([`Hasher`]), each owning one reusable block buffer of the hash's memory cost (19 MiB): at most
//! `hash_threads` hashes run at once, however many logins arrive, and memory stays at `hash_threads × 19 MiB`
//! instead of one fresh allocation per hash on whatever blocking thread ran it. (glibc raises its mmap threshold
//! after the first freed 19 MiB block, so later blocks came from per-thread arenas that were never given back: a
//! burst of 64 failed logins at 16 in parallel took the process from 54 MB to 1.2 GB.) Requests beyond the threads
//! wait in a bounded queue; when it is full the login is refused at once with `429 too_many_attempts`.
//!
//! A login for an unknown user, or a user without a password, is checked against a dummy hash with the same
//! parameters, so it takes as long as a real one and the answer's timing does not tell which usernames exist.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio::sync::oneshot;

/// Stored hashes asking for more memory than this (KiB) are refused rather than computed: the server writes
/// 19 MiB hashes, and a hash that claims gigabytes is a corrupt or planted row.
pub const MAX_M_COST_KIB: u32 = 256 * 1024;

/// Length of the hashes the server writes (bytes).
const OUTPUT_LEN: usize = 32;

/// Salt of the dummy hash checked for unknown users (any fixed value does: its output is never compared).
const DUMMY_SALT: &[u8; 16] = b"linli-dummy-salt";

/// Why a password could not be checked or hashed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashError {
    /// Every hashing thread is busy and the queue is full.
    #[error("too many password checks are waiting")]
    Busy,
    /// The stored hash is malformed or hashing failed.
    #[error("password hashing: {0}")]
    Failed(String),
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right; `rehash` when the stored hash uses other parameters than the server's current ones.
    Match {
        /// The stored hash should be replaced by one with the current parameters.
        rehash: bool,
    },
    /// Wrong password, unknown user or no password.
    NoMatch,
}

/// How many hashes may run at once, and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherConfig {
    /// Hashing threads (concurrent hashes).
    pub threads: usize,
    /// Requests that may wait for a thread before new ones are refused.
    pub queue: usize,
}

/// The hashing threads and their queue. Dropping the last clone stops the threads once the queue is drained.
#[derive(Debug, Clone)]
pub struct Hasher {
    tx: SyncSender<Job>,
    stats: Arc<Stats>,
    threads: usize,
}

impl Hasher {
    /// Starts `config.threads` hashing threads (named `linli-hash-N`). Their buffers are allocated at the first
    /// hash each one runs, so a server that sees no login holds none.
    pub fn start(config: HasherConfig) -> std::io::Result<Hasher> {
        let threads = config.threads.max(1);
        let (tx, rx) = std::sync::mpsc::sync_channel(config.queue);
        let rx = Arc::new(Mutex::new(rx));
        let stats = Arc::new(Stats::default());
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let stats = Arc::clone(&stats);
            std::thread::Builder::new()
                .name(format!("linli-hash-{i}"))
                .spawn(move || work(&rx, &stats))?;
        }
        Ok(Hasher { tx, stats, threads })
    }

    /// Checks `password` against `stored` (a PHC string), or against a dummy hash when there is none.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verdict, HashError> {
        match self.submit(Work::Verify { password, stored }).await? {
            Done::Verified(v) => Ok(v),
            Done::Hashed(_) => Err(HashError::Failed("unexpected answer".into())),
        }
    }

    /// Hashes a new password with the current parameters; returns the PHC string to store.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        match self.submit(Work::Hash { password }).await? {
            Done::Hashed(h) => Ok(h),
            Done::Verified(_) => Err(HashError::Failed("unexpected answer".into())),
        }
    }

    /// The number of hashing threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The most hashes that ever ran at once in this process.
    pub fn max_in_flight(&self) -> usize {
        self.stats.max_in_flight.load(Ordering::Relaxed)
    }

    async fn submit(&self, work: Work) -> Result<Done, HashError> {
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(Job { work, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.stats.busy.fetch_add(1, Ordering::Relaxed);
                return Err(HashError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(HashError::Failed("the hashing threads stopped".into()));
            }
        }
        answer
            .await
            .map_err(|_| HashError::Failed("a hashing thread stopped".into()))?
    }

    /// Appends the hashing counters to a Prometheus text exposition.
    pub fn render_metrics(&self, out: &mut String) {
        let s = &self.stats;
        out.push_str("# HELP linli_password_hashes_total Argon2 hashes computed, by purpose.\n");
        out.push_str("# TYPE linli_password_hashes_total counter\n");
        for (kind, n) in [
            ("verify", &s.verified),
            ("dummy", &s.dummy),
            ("new", &s.hashed),
        ] {
            let _ = writeln!(
                out,
                "linli_password_hashes_total{{kind=\"{kind}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP linli_password_hash_refused_total Password checks refused because the hash queue was full.\n",
        );
        out.push_str("# TYPE linli_password_hash_refused_total counter\n");
        let _ = writeln!(
            out,
            "linli_password_hash_refused_total {}",
            s.busy.load(Ordering::Relaxed)
        );
        out.push_str("# HELP linli_password_hash_threads Hashing threads (the bound on concurrent hashes).\n");
        out.push_str("# TYPE linli_password_hash_threads gauge\n");
        let _ = writeln!(out, "linli_password_hash_threads {}", self.threads);
        out.push_str(
            "# HELP linli_password_hash_concurrency_max The most hashes that ran at once since start.\n",
        );
        out.push_str("# TYPE linli_password_hash_concurrency_max gauge\n");
        let _ = writeln!(
            out,
            "linli_password_hash_concurrency_max {}",
            s.max_in_flight.load(Ordering::Relaxed)
        );
    }
}

/// Hashes a password on the calling thread, with a buffer of its own (the CLI and the first admin at start).
pub fn hash_now(password: &str) -> Result<String, HashError> {
    hash_new(password, &mut Vec::new())
}

#[derive(Debug, Default)]
struct Stats {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    verified: AtomicU64,
    dummy: AtomicU64,
    hashed: AtomicU64,
    busy: AtomicU64,
}

enum Work {
    Verify {
        password: String,
        stored: Option<String>,
    },
    Hash {
        password: String,
    },
}

enum Done {
    Verified(Verdict),
    Hashed(String),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, HashError>>,
}

fn work(rx: &Mutex<Receiver<Job>>, stats: &Stats) {
    // The thread's one buffer, grown at its first hash and reused by every later one.
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok(Job { work, reply }) = job else {
            return;
        };
        // The client went away while the job waited: nobody reads the answer, so spend nothing on it.
        if reply.is_closed() {
            continue;
        }
        let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::Relaxed);
        let done = match work {
            Work::Verify {
                password,
                stored: Some(stored),
            } => {
                stats.verified.fetch_add(1, Ordering::Relaxed);
                verify(&password, &stored, &mut memory).map(Done::Verified)
            }
            Work::Verify {
                password,
                stored: None,
            } => {
                stats.dummy.fetch_add(1, Ordering::Relaxed);
                dummy(&password, &mut memory).map(|()| Done::Verified(Verdict::NoMatch))
            }
            Work::Hash { password } => {
                stats.hashed.fetch_add(1, Ordering::Relaxed);
                hash_new(&password, &mut memory).map(Done::Hashed)
            }
        };
        stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        // A hash of another memory cost than ours (an old stored hash) may have grown the buffer: shrink it back.
        if memory.len() > Params::DEFAULT.block_count() {
            memory.truncate(Params::DEFAULT.block_count());
            memory.shrink_to_fit();
        }
        // The client may have gone meanwhile; then the answer is dropped.
        let _ = reply.send(done);
    }
}

fn failed(e: impl std::fmt::Display) -> HashError {
    HashError::Failed(e.to_string())
}

/// The blocks `params` needs, from `memory` (grown when it is too small).
fn blocks<'a>(memory: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    let n = params.block_count();
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    &mut memory[..n]
}

fn hash_new(password: &str, memory: &mut Vec<Block>) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(failed)?;
    let params = Params::DEFAULT;
    let mut out = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(memory, &params),
        )
        .map_err(failed)?;
    let salt = SaltString::encode_b64(&salt).map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(failed)?),
    };
    Ok(phc.to_string())
}

fn verify(password: &str, stored: &str, memory: &mut Vec<Block>) -> Result<Verdict, HashError> {
    let parsed = PasswordHash::new(stored).map_err(failed)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(failed)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(failed)?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(failed)?;
    if params.m_cost() > MAX_M_COST_KIB {
        return Err(HashError::Failed(format!(
            "a stored hash asks for {} KiB of memory",
            params.m_cost()
        )));
    }
    let salt = parsed
        .salt
        .ok_or_else(|| HashError::Failed("a stored hash has no salt".into()))?;
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(failed)?;
    let expected = parsed
        .hash
        .ok_or_else(|| HashError::Failed("a stored hash has no output".into()))?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            blocks(memory, &params),
        )
        .map_err(failed)?;
    // `Output`'s equality is constant-time.
    if Output::new(&out).map_err(failed)? != expected {
        return Ok(Verdict::NoMatch);
    }
    let current = Params::DEFAULT;
    let rehash = algorithm != Algorithm::Argon2id
        || version != Version::V0x13
        || params.m_cost() != current.m_cost()
        || params.t_cost() != current.t_cost()
        || params.p_cost() != current.p_cost()
        || expected.len() != OUTPUT_LEN;
    Ok(Verdict::Match { rehash })
}

/// The same work as checking a stored hash of the current parameters, for a user who has none.
fn dummy(password: &str, memory: &mut Vec<Block>) -> Result<(), HashError> {
    let params = Params::DEFAULT;
    let mut out = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            DUMMY_SALT,
            &mut out,
            blocks(memory, &params),
        )
        .map_err(failed)?;
    std::hint::black_box(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_written_here_verify_with_the_argon2_crate_and_back() {
        let mine = hash_now("correct horse").expect("hash");
        let parsed = PasswordHash::new(&mine).expect("PHC string");
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .expect("the argon2 crate accepts our hash");
        let mut memory = Vec::new();
        assert_eq!(
            verify("correct horse", &mine, &mut memory),
            Ok(Verdict::Match { rehash: false })
        );
        assert_eq!(
            verify("wrong horse", &mine, &mut memory),
            Ok(Verdict::NoMatch)
        );

        // A hash written by the previous code (`Argon2::default().hash_password`) still verifies, with no rehash.
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .expect("hash")
            .to_string();
        assert_eq!(
            verify("battery staple", &theirs, &mut memory),
            Ok(Verdict::Match { rehash: false })
        );
    }

    #[test]
    fn a_hash_with_other_parameters_verifies_and_asks_for_a_rehash() {
        let params = Params::new(8 * 1024, 1, 1, None).expect("params");
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .expect("hash")
            .to_string();
        let mut memory = Vec::new();
        assert_eq!(
            verify("pw", &old, &mut memory),
            Ok(Verdict::Match { rehash: true })
        );
    }

    #[test]
    fn a_stored_hash_that_asks_for_gigabytes_is_refused_without_allocating() {
        let planted = "$argon2id$v=19$m=4194304,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let mut memory = Vec::new();
        assert!(matches!(
            verify("pw", planted, &mut memory),
            Err(HashError::Failed(_))
        ));
        assert!(memory.is_empty());
    }

    #[actix_web::test]
    async fn the_pool_answers_verifies_dummies_and_counts() {
        let hasher = Hasher::start(HasherConfig {
            threads: 2,
            queue: 8,
        })
        .expect("threads");
        let stored = hasher.hash("pw".into()).await.expect("hash");
        assert_eq!(
            hasher
                .verify("pw".into(), Some(stored.clone()))
                .await
                .expect("verify"),
            Verdict::Match { rehash: false }
        );
        assert_eq!(
            hasher.verify("pw".into(), None).await.expect("dummy"),
            Verdict::NoMatch
        );
        let mut text = String::new();
        hasher.render_metrics(&mut text);
        assert!(
            text.contains("linli_password_hashes_total{kind=\"dummy\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("linli_password_hashes_total{kind=\"verify\"} 1"),
            "{text}"
        );
        assert!(hasher.max_in_flight() <= 2);
    }

    #[actix_web::test]
    async fn a_full_queue_refuses_at_once() {
        let hasher = Hasher::start(HasherConfig {
            threads: 1,
            queue: 1,
        })
        .expect("threads");
        // One running, one queued; with a burst of 8 at least some must be refused as busy.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let hasher = hasher.clone();
                actix_web::rt::spawn(async move { hasher.verify(format!("pw{i}"), None).await })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.expect("task"));
        }
        let busy = all.iter().filter(|r| **r == Err(HashError::Busy)).count();
        assert!(busy >= 1, "{all:?}");
        assert!(
            all.iter()
                .all(|r| matches!(r, Ok(Verdict::NoMatch) | Err(HashError::Busy))),
            "{all:?}"
        );
    }
}
