//! API keys: generated with a scope prefix, known to the server only by their SHA-256; the
//! key ring that answers "which key is this?" on every request; per-key rate limits. Creating,
//! revoking and reloading keys: `administration`.

mod administration;

pub use administration::{NewKey, create_key_in, revoke_key_in};

use crate::domain::{ApiKey, Scope};
use arc_swap::ArcSwap;
use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use rand::RngExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use subtle::ConstantTimeEq;

pub type KeyDigest = [u8; 32];

pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

pub fn hash_key(key: &str) -> String {
    hex::encode(digest(key))
}

fn unhex(text: &str) -> Option<KeyDigest> {
    let mut out = KeyDigest::default();
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Compares two digests in time independent of where they differ.
///
/// Keys are found by their SHA-256 in a hash map, whose lookup compares digests with an
/// early exit. That leaks at most how many leading bytes of the *digest* of a guess match a
/// stored digest, which does not help forge a key (it would need SHA-256 preimages). The
/// final equality check is still done in constant time, so no code path ever compares
/// secret-derived bytes with an early exit, whatever the lookup structure becomes later.
pub fn digests_equal(a: &KeyDigest, b: &KeyDigest) -> bool {
    a.ct_eq(b).into()
}

/// A new random key, e.g. `pst_admin_` followed by 32 base-62 characters (190 bits).
pub fn generate_key(scope: Scope) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let secret: String = (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("pst_{}_{secret}", scope.as_str())
}

// ---- rate limits ----------------------------------------------------------------------------

/// A key's budget: governor's generic cell rate algorithm (GCRA), one atomic word (the
/// theoretical arrival time of the next request) advanced by compare-and-swap. No lock, no
/// allocation; a check is a clock read and one CAS (tens of nanoseconds). The bucket holds
/// one second of requests (at least one), so a key may burst up to its rate and then keeps
/// to it; fractional rates (0.5: one request every 2 s) work too.
#[derive(Debug)]
pub struct RateLimiter<C: Clock = DefaultClock> {
    per_second: f64,
    gcra: governor::RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
}

impl RateLimiter {
    pub fn new(per_second: f64) -> Self {
        Self::with_clock(per_second, DefaultClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    fn with_clock(per_second: f64, clock: C) -> Self {
        let interval = Duration::from_nanos((1e9 / per_second).max(1.0) as u64);
        let burst = per_second.floor().clamp(1.0, f64::from(u32::MAX)) as u32;
        let quota = Quota::with_period(interval)
            .expect("a period of at least 1 ns")
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        RateLimiter {
            per_second,
            gcra: governor::RateLimiter::direct_with_clock(quota, clock),
        }
    }

    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Takes a token, or says how long until one is available.
    pub fn check(&self) -> Result<(), Duration> {
        self.gcra
            .check()
            .map_err(|refused| refused.wait_time_from(self.gcra.clock().now()))
    }
}

// ---- the key ring ---------------------------------------------------------------------------

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Which key a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyId {
    /// `POSTERIOR_ADMIN_KEY` / `POSTERIOR_CLIENT_KEY`.
    Env(Scope),
    Stored(i64),
}

/// A key the server accepts.
#[derive(Debug)]
pub struct KeyEntry {
    pub id: KeyId,
    pub scope: Scope,
    pub name: String,
    digest: KeyDigest,
    /// `None`: no limit, and no check at all.
    limiter: Option<RateLimiter>,
    /// Unix seconds of the last use seen by this instance (0: none), and of the last one
    /// written to the database.
    last_used: AtomicU64,
    flushed: AtomicU64,
}

impl KeyEntry {
    /// How the audit log names whoever used this key.
    pub fn actor(&self) -> String {
        match self.id {
            KeyId::Env(scope) => format!("env:{scope}"),
            KeyId::Stored(id) if self.name.is_empty() => format!("key:{id}"),
            KeyId::Stored(id) => format!("key:{id} ({})", self.name),
        }
    }
}

/// What the ring says about a presented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    Accepted {
        id: KeyId,
        scope: Scope,
    },
    /// A known key over its rate limit: retry after this long.
    Limited {
        retry_after: Duration,
    },
    Unknown,
}

/// Digests are SHA-256 outputs, which nobody can steer: a fast hasher is safe here.
type KeyMap = HashMap<KeyDigest, Arc<KeyEntry>, foldhash::fast::RandomState>;

/// Uses are recorded to this resolution, to keep database writes rare.
const LAST_USED_RESOLUTION_SECONDS: u64 = 60;

/// The keys this instance accepts: the environment's (fixed) and the database's (replaced
/// on every refresh, so a revocation takes effect within one refresh interval everywhere).
pub struct KeyRing {
    env: KeyMap,
    stored: ArcSwap<KeyMap>,
    default_rate: Option<f64>,
    /// Tickets order the reads of the key table: a reload applies only if no reload that
    /// started reading later has been applied already (two loops reload keys; a slow stale
    /// read must not bring back a key revoked in between).
    next_ticket: AtomicU64,
    applied: std::sync::Mutex<u64>,
    /// A coarse clock (unix seconds), advanced by the key reload loop, so that recording a
    /// use costs requests no clock read.
    clock: AtomicU64,
}

impl KeyRing {
    pub fn new(env_keys: &[(String, Scope)], default_rate: Option<f64>) -> Self {
        let env: KeyMap = env_keys
            .iter()
            .map(|(key, scope)| {
                let digest = digest(key);
                let entry = KeyEntry {
                    id: KeyId::Env(*scope),
                    scope: *scope,
                    name: format!("POSTERIOR_{}_KEY", scope.as_str().to_uppercase()),
                    digest,
                    limiter: default_rate.map(RateLimiter::new),
                    last_used: AtomicU64::new(0),
                    flushed: AtomicU64::new(0),
                };
                (digest, Arc::new(entry))
            })
            .collect();
        KeyRing {
            env,
            stored: ArcSwap::from_pointee(KeyMap::default()),
            default_rate,
            next_ticket: AtomicU64::new(1),
            applied: std::sync::Mutex::new(0),
            clock: AtomicU64::new(unix_now()),
        }
    }

    /// Advances the coarse clock (called by the reload loop).
    pub fn tick(&self) {
        self.clock.store(unix_now(), Ordering::Relaxed);
    }

    /// Stored keys used since their last recorded use by more than the resolution:
    /// `(id, unix seconds)`, marked as recorded.
    pub fn take_uses(&self) -> Vec<(i64, i64)> {
        let stored = self.stored.load();
        let mut used = Vec::new();
        for entry in stored.values() {
            let KeyId::Stored(id) = entry.id else {
                continue;
            };
            let last = entry.last_used.load(Ordering::Relaxed);
            let flushed = entry.flushed.load(Ordering::Relaxed);
            if last > 0 && (flushed == 0 || last >= flushed + LAST_USED_RESOLUTION_SECONDS) {
                entry.flushed.store(last, Ordering::Relaxed);
                used.push((id, last as i64));
            }
        }
        used
    }

    /// Take one before reading the key table; hand it to `replace`.
    pub fn ticket(&self) -> u64 {
        self.next_ticket.fetch_add(1, Ordering::Relaxed)
    }

    fn find<T>(&self, digest: &KeyDigest, f: impl FnOnce(&KeyEntry) -> T) -> Option<T> {
        if let Some(entry) = self.env.get(digest) {
            return digests_equal(&entry.digest, digest).then(|| f(entry));
        }
        let stored = self.stored.load();
        let entry = stored.get(digest)?;
        digests_equal(&entry.digest, digest).then(|| f(entry))
    }

    /// The hot path: which key this is, and whether it is within its rate limit.
    pub fn check(&self, presented: &str) -> KeyCheck {
        self.find(&digest(presented), |entry| {
            // A relaxed read of two words; a write at most once a second per key.
            let now = self.clock.load(Ordering::Relaxed);
            if entry.last_used.load(Ordering::Relaxed) != now {
                entry.last_used.store(now, Ordering::Relaxed);
            }
            match &entry.limiter {
                None => KeyCheck::Accepted {
                    id: entry.id,
                    scope: entry.scope,
                },
                Some(limiter) => match limiter.check() {
                    Ok(()) => KeyCheck::Accepted {
                        id: entry.id,
                        scope: entry.scope,
                    },
                    Err(retry_after) => KeyCheck::Limited { retry_after },
                },
            }
        })
        .unwrap_or(KeyCheck::Unknown)
    }

    /// The scope of a presented key (no rate limit: for signing in to the dashboard).
    pub fn scope(&self, presented: &str) -> Option<Scope> {
        self.find(&digest(presented), |e| e.scope)
    }

    /// The id and scope of a key known by its SHA-256 in hex (a dashboard session's key).
    pub fn by_hash(&self, key_hash: &str) -> Option<(KeyId, Scope)> {
        self.find(&unhex(key_hash)?, |e| (e.id, e.scope))
    }

    /// How the audit log names the holder of a key.
    pub fn actor(&self, id: KeyId) -> String {
        let name = match id {
            KeyId::Env(_) => None,
            KeyId::Stored(n) => self
                .stored
                .load()
                .values()
                .find(|e| e.id == KeyId::Stored(n))
                .map(|e| e.actor()),
        };
        name.unwrap_or_else(|| match id {
            KeyId::Env(scope) => format!("env:{scope}"),
            KeyId::Stored(n) => format!("key:{n}"),
        })
    }

    /// Replaces the stored keys with the database's active ones. An unchanged key keeps its
    /// entry, and with it its rate limiter's state.
    pub fn replace(&self, ticket: u64, records: Vec<ApiKey>) {
        // Only reloads take this lock (a few times a second), never requests.
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        if ticket < *applied {
            return;
        }
        *applied = ticket;
        let previous = self.stored.load_full();
        let mut next = KeyMap::with_capacity_and_hasher(records.len(), Default::default());
        for record in records.into_iter().filter(|r| r.revoked_at.is_none()) {
            let Some(digest) = unhex(&record.key_hash) else {
                tracing::warn!(
                    key = record.id,
                    "stored key hash is not SHA-256 hex; ignored"
                );
                continue;
            };
            let rate = record.rate_limit.or(self.default_rate);
            let entry = match previous.get(&digest) {
                Some(old)
                    if old.id == KeyId::Stored(record.id)
                        && old.scope == record.scope
                        && old.name == record.label
                        && old.limiter.as_ref().map(RateLimiter::per_second) == rate =>
                {
                    Arc::clone(old)
                }
                _ => Arc::new(KeyEntry {
                    id: KeyId::Stored(record.id),
                    scope: record.scope,
                    name: record.label,
                    digest,
                    limiter: rate
                        .filter(|r| r.is_finite() && *r > 0.0)
                        .map(RateLimiter::new),
                    // What the database knows already need not be written again.
                    last_used: AtomicU64::new(0),
                    flushed: AtomicU64::new(
                        record
                            .last_used_at
                            .map_or(0, |t| t.timestamp().max(0) as u64),
                    ),
                }),
            };
            next.insert(digest, entry);
        }
        self.stored.store(Arc::new(next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex() {
        // sha256("abc"), FIPS 180-2 test vector
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(unhex(&hash_key("abc")), Some(digest("abc")));
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn generated_keys_differ() {
        let a = generate_key(Scope::Admin);
        assert!(a.starts_with("pst_admin_") && a.len() == 42);
        assert_ne!(a, generate_key(Scope::Admin));
    }

    #[test]
    fn digests_compare() {
        let a = digest("a");
        let mut b = a;
        assert!(digests_equal(&a, &b));
        b[31] ^= 1;
        assert!(!digests_equal(&a, &b));
    }

    #[test]
    fn the_bucket_allows_a_burst_of_one_second_then_the_rate() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(5.0, clock.clone());
        clock.advance(Duration::from_secs(10));
        for _ in 0..5 {
            assert!(limiter.check().is_ok());
        }
        let wait = limiter.check().unwrap_err();
        assert_eq!(wait, Duration::from_millis(200));
        // One token comes back every 200 ms.
        clock.advance(Duration::from_millis(200));
        assert!(limiter.check().is_ok());
        assert!(limiter.check().is_err());
        // After a quiet second, a full burst again (and no more).
        clock.advance(Duration::from_secs(3));
        for _ in 0..5 {
            assert!(limiter.check().is_ok());
        }
        assert!(limiter.check().is_err());
    }

    #[test]
    fn fractional_rates_allow_one_request_per_interval() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(0.5, clock.clone());
        clock.advance(Duration::from_secs(100));
        assert!(limiter.check().is_ok());
        assert_eq!(limiter.check().unwrap_err(), Duration::from_secs(2));
    }

    #[test]
    fn the_ring_keeps_limiters_across_refreshes_and_forgets_revoked_keys() {
        let record = |id, key: &str, rate, revoked: bool| ApiKey {
            id,
            key_hash: hash_key(key),
            scope: Scope::Client,
            label: "app".into(),
            created_at: chrono::Utc::now(),
            revoked_at: revoked.then(chrono::Utc::now),
            rate_limit: rate,
            last_used_at: None,
        };
        let ring = KeyRing::new(&[("env-admin".into(), Scope::Admin)], None);
        ring.replace(
            ring.ticket(),
            vec![
                record(1, "k1", Some(1.0), false),
                record(2, "k2", None, false),
            ],
        );
        assert!(matches!(ring.check("k1"), KeyCheck::Accepted { .. }));
        assert!(matches!(ring.check("k1"), KeyCheck::Limited { .. }));
        ring.replace(
            ring.ticket(),
            vec![
                record(1, "k1", Some(1.0), false),
                record(2, "k2", None, false),
            ],
        );
        assert!(
            matches!(ring.check("k1"), KeyCheck::Limited { .. }),
            "a refresh must not refill the bucket"
        );
        for _ in 0..100 {
            assert!(matches!(ring.check("k2"), KeyCheck::Accepted { .. }));
        }
        assert_eq!(
            ring.check("env-admin"),
            KeyCheck::Accepted {
                id: KeyId::Env(Scope::Admin),
                scope: Scope::Admin
            }
        );
        ring.replace(ring.ticket(), vec![record(2, "k2", None, true)]);
        assert_eq!(ring.check("k2"), KeyCheck::Unknown);
        assert_eq!(ring.check("nope"), KeyCheck::Unknown);
        assert_eq!(
            ring.by_hash(&hash_key("env-admin")).map(|k| k.1),
            Some(Scope::Admin)
        );
    }
}
