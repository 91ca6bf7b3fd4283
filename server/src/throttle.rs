//! Throttling of password logins, per username and per client address, with the generic cell rate algorithm (a
//! token bucket kept as one instant per key): each key allows `burst` attempts at once, then one more every
//! `refill`; an attempt beyond that is refused with `429 too_many_attempts` and the seconds until the next one
//! is allowed (`Retry-After`), before any password is hashed. Every attempt takes a token from its username and
//! its address; a successful one gives its username's token back (not its address's: else an attacker with an
//! account of their own could refill their address between guesses at others).
//!
//! Nothing is ever locked for good: a key's block lasts until its bucket refills, and an admin can lift a
//! username's or an address's throttle at once ([`LoginThrottle::lift_user`]). Unknown usernames are throttled
//! like known ones, so the throttle does not tell which exist. Memory is bounded: each table keeps at most
//! `max_entries` keys (a key whose bucket is full again is the same as an absent one and is dropped first; past
//! that, the least throttled keys go). IPv6 clients are keyed by their /64, the block one subscriber gets.
//!
//! The tables live in memory. `linli user unthrottle` (the way out when the only admin is the one kept out) leaves
//! its lift in the database; the server reads new lifts at most once a second, and only while it refuses logins
//! ([`LoginThrottle::lifts_due`], [`LoginThrottle::apply_lifts`]).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The throttle's settings (see `config.rs` for their variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Attempts a username may make at once.
    pub user_burst: u32,
    /// Seconds for a username to earn one more attempt.
    pub user_refill_secs: u64,
    /// Attempts a client address may make at once.
    pub address_burst: u32,
    /// Seconds for an address to earn one more attempt.
    pub address_refill_secs: u64,
    /// Keys kept per table (usernames, addresses).
    pub max_entries: usize,
}

/// An attempt refused: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Seconds until an attempt is allowed again (at least 1).
    pub retry_after_secs: u64,
}

/// An admitted attempt, to be given back when it succeeds.
#[derive(Debug)]
pub struct Attempt {
    user: u64,
    address: Option<IpAddr>,
}

/// The throttle tables of one server process.
#[derive(Debug)]
pub struct LoginThrottle {
    users: Mutex<Buckets<u64>>,
    addresses: Mutex<Buckets<IpAddr>>,
    // Usernames are kept as keyed 64-bit hashes: bounded size whatever their length, and not stored in clear.
    keys: RandomState,
    start: Instant,
    refused: AtomicU64,
    /// When the lifts table may be read next (ms since `start`), and the newest lift already applied (wall ms).
    lifts: Mutex<(u64, i64)>,
}

impl LoginThrottle {
    /// Empty tables.
    pub fn new(config: ThrottleConfig) -> LoginThrottle {
        LoginThrottle {
            users: Mutex::new(Buckets::new(
                config.user_burst,
                config.user_refill_secs,
                config.max_entries,
            )),
            addresses: Mutex::new(Buckets::new(
                config.address_burst,
                config.address_refill_secs,
                config.max_entries,
            )),
            keys: RandomState::new(),
            start: Instant::now(),
            refused: AtomicU64::new(0),
            // Lifts recorded before this process started are moot: its tables start empty.
            lifts: Mutex::new((0, i64::try_from(crate::now_ms()).unwrap_or(i64::MAX))),
        }
    }

    /// Whether the lifts recorded by the CLI should be read now (at most once a second); returns the time after
    /// which lifts are new.
    pub fn lifts_due(&self) -> Option<i64> {
        let now = self.now_ms();
        let mut lifts = lock(&self.lifts);
        if now < lifts.0 {
            return None;
        }
        lifts.0 = now.saturating_add(1000);
        Some(lifts.1)
    }

    /// Applies lifts read from the database (username, time of the lift).
    pub fn apply_lifts(&self, lifted: &[(String, i64)]) {
        let mut lifts = lock(&self.lifts);
        for (username, at) in lifted {
            self.lift_user(username);
            lifts.1 = lifts.1.max(*at);
        }
    }

    /// Admits one login attempt for `username` from `address`, or refuses it; an admitted attempt has taken a
    /// token from both.
    pub fn admit(&self, username: &str, address: Option<IpAddr>) -> Result<Attempt, Refused> {
        let now = self.now_ms();
        let user = self.user_key(username);
        let address = address.map(address_key);
        let mut users = lock(&self.users);
        let mut addresses = lock(&self.addresses);
        let wait_user = users.wait(&user, now);
        let wait_address = address.map_or(0, |a| addresses.wait(&a, now));
        let wait = wait_user.max(wait_address);
        if wait > 0 {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refused {
                retry_after_secs: wait.div_ceil(1000).max(1),
            });
        }
        users.take(user, now);
        if let Some(a) = address {
            addresses.take(a, now);
        }
        Ok(Attempt { user, address })
    }

    /// The attempt succeeded: its username's token is given back.
    pub fn succeeded(&self, attempt: Attempt) {
        lock(&self.users).give_back(&attempt.user);
    }

    /// The attempt could not be made (the server was busy): both tokens are given back.
    pub fn cancelled(&self, attempt: Attempt) {
        lock(&self.users).give_back(&attempt.user);
        if let Some(a) = attempt.address {
            lock(&self.addresses).give_back(&a);
        }
    }

    /// Lifts a username's throttle; `true` when it was throttled or had spent attempts.
    pub fn lift_user(&self, username: &str) -> bool {
        let key = self.user_key(username);
        lock(&self.users).entries.remove(&key).is_some()
    }

    /// Lifts an address's throttle (its /64 for IPv6).
    pub fn lift_address(&self, address: IpAddr) -> bool {
        lock(&self.addresses)
            .entries
            .remove(&address_key(address))
            .is_some()
    }

    /// Attempts refused since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Keys tracked now (usernames, addresses).
    pub fn tracked(&self) -> (usize, usize) {
        (
            lock(&self.users).entries.len(),
            lock(&self.addresses).entries.len(),
        )
    }

    /// Appends the throttle's counters to a Prometheus text exposition.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let (users, addresses) = self.tracked();
        out.push_str(
            "# HELP linli_login_throttled_total Login attempts refused by the throttle (429).\n",
        );
        out.push_str("# TYPE linli_login_throttled_total counter\n");
        let _ = writeln!(out, "linli_login_throttled_total {}", self.refused());
        out.push_str("# HELP linli_login_throttle_keys Keys the login throttle tracks, by kind.\n");
        out.push_str("# TYPE linli_login_throttle_keys gauge\n");
        let _ = writeln!(
            out,
            "linli_login_throttle_keys{{kind=\"username\"}} {users}"
        );
        let _ = writeln!(
            out,
            "linli_login_throttle_keys{{kind=\"address\"}} {addresses}"
        );
    }

    fn user_key(&self, username: &str) -> u64 {
        self.keys.hash_one(username)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// IPv4 addresses as they are (IPv4-mapped IPv6 too), IPv6 addresses by their /64.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// One table of GCRA buckets: per key, the instant (ms since the throttle's start) at which its bucket would be
/// full again if no other attempt came. `tat ≤ now` means a full bucket, the same as no entry.
#[derive(Debug)]
struct Buckets<K> {
    entries: HashMap<K, u64>,
    /// Time to earn one attempt (ms).
    interval: u64,
    /// How far ahead of `now` a key's instant may run before an attempt is refused (ms).
    tolerance: u64,
    max_entries: usize,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(burst: u32, refill_secs: u64, max_entries: usize) -> Buckets<K> {
        let interval = refill_secs.saturating_mul(1000).max(1);
        Buckets {
            entries: HashMap::new(),
            interval,
            tolerance: interval.saturating_mul(u64::from(burst.max(1)) - 1),
            max_entries: max_entries.max(1),
        }
    }

    /// Milliseconds until `key` may make an attempt (0: now).
    fn wait(&self, key: &K, now: u64) -> u64 {
        match self.entries.get(key) {
            Some(&tat) => tat.saturating_sub(now).saturating_sub(self.tolerance),
            None => 0,
        }
    }

    /// Spends one attempt of `key` (after [`Self::wait`] said 0).
    fn take(&mut self, key: K, now: u64) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.max_entries {
            self.make_room(now);
        }
        let tat = self.entries.entry(key).or_insert(now);
        *tat = (*tat).max(now).saturating_add(self.interval);
    }

    /// Gives one attempt back.
    fn give_back(&mut self, key: &K) {
        if let Some(tat) = self.entries.get_mut(key) {
            *tat = tat.saturating_sub(self.interval);
        }
    }

    /// Drops the keys whose bucket is full again; if that is not enough, the least throttled eighth.
    fn make_room(&mut self, now: u64) {
        self.entries.retain(|_, tat| *tat > now);
        if self.entries.len() < self.max_entries {
            return;
        }
        let mut tats: Vec<u64> = self.entries.values().copied().collect();
        let cut = tats.len() / 8;
        let (_, threshold, _) = tats.select_nth_unstable(cut);
        let threshold = *threshold;
        self.entries.retain(|_, tat| *tat > threshold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs attempts at the given times (ms) against a bucket of `burst` with a refill of 60 s; returns the waits.
    fn check(burst: u32, times: &[u64]) -> Vec<u64> {
        let mut b: Buckets<u8> = Buckets::new(burst, 60, 16);
        times
            .iter()
            .map(|&t| {
                let w = b.wait(&0, t);
                if w == 0 {
                    b.take(0, t);
                }
                w
            })
            .collect()
    }

    #[test]
    fn a_burst_then_one_attempt_per_refill_and_never_for_good() {
        // Five at once pass, the sixth waits a whole refill; after it, one passes and the next waits again.
        assert_eq!(
            check(5, &[0, 0, 0, 0, 0, 0, 60_000, 60_000]),
            [0, 0, 0, 0, 0, 60_000, 0, 60_000]
        );
        // Refused attempts spend nothing: hammering does not extend the block.
        assert_eq!(
            check(1, &[0, 1, 2, 3, 59_999, 60_000]),
            [0, 59_999, 59_998, 59_997, 1, 0]
        );
        // A day later the bucket is full again.
        assert_eq!(
            check(2, &[0, 0, 0, 86_400_000, 86_400_000]),
            [0, 0, 60_000, 0, 0]
        );
    }

    #[test]
    fn a_success_gives_its_token_back() {
        let mut b: Buckets<u8> = Buckets::new(2, 60, 16);
        b.take(0, 0);
        b.give_back(&0);
        b.take(0, 0);
        b.take(0, 0);
        assert_eq!(b.wait(&0, 0), 60_000);
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_the_most_throttled_keys() {
        let mut b: Buckets<u32> = Buckets::new(3, 60, 64);
        // Key 0 is throttled hard; then a thousand others fail once each.
        for _ in 0..3 {
            b.take(0, 0);
        }
        for k in 1..1000 {
            b.take(k, 1);
            assert!(b.entries.len() <= 64);
        }
        assert!(b.wait(&0, 2) > 0, "the throttled key survived the flood");
    }

    #[test]
    fn ipv6_clients_share_their_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            "192.0.2.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn usernames_and_addresses_are_throttled_apart_and_lifted() {
        let t = LoginThrottle::new(ThrottleConfig {
            user_burst: 2,
            user_refill_secs: 60,
            address_burst: 3,
            address_refill_secs: 60,
            max_entries: 100,
        });
        let here: IpAddr = "192.0.2.1".parse().expect("ip");
        let there: IpAddr = "192.0.2.2".parse().expect("ip");
        t.admit("li", Some(here)).expect("1st");
        t.admit("li", Some(there)).expect("2nd");
        // The username is spent, whatever the address.
        assert!(
            t.admit("li", Some("192.0.2.3".parse().expect("ip")))
                .is_err()
        );
        // Another user from a fresh address is not affected.
        t.admit("wang", Some(there)).expect("other user");
        // `here` has one attempt left, then is spent for every username.
        t.admit("zhao", Some(here)).expect("here, 2nd");
        t.admit("qian", Some(here)).expect("here, 3rd");
        let refused = t.admit("sun", Some(here)).expect_err("address spent");
        assert_eq!(refused.retry_after_secs, 60);
        assert!(t.lift_address(here));
        t.admit("sun", Some(here)).expect("address lifted");
        assert!(t.lift_user("li"));
        t.admit("li", Some(there)).expect("user lifted");
        assert!(t.refused() >= 2);
    }
}
