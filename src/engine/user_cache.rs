//! Per-user state in memory, under one budget (`--cache-mb`, `POSTERIOR_CACHE_MB`): each
//! user's enrollment (sticky assignments, holdout record; `domain::enrollment::Enrollment`) and profile
//! (behavioral targeting; `domain::profile::Profile`).
//!
//! - **Bounded**: one weighted cache (`quick_cache`, S3-FIFO: a user seen once is the first
//!   to go, users who keep coming back stay) holding at most the budget's bytes, each entry
//!   weighed by what it occupies (`ByBytes`). Memory does not grow with the users ever seen.
//! - **Batched**: a user not in memory is read by one loader task, which takes every read
//!   waiting and answers them with one pair of indexed queries (`store::enrollments`,
//!   `store::profiles::profiles_of`), one read at a time. Never one query per
//!   request, never through the writers' queue.
//! - **Never wrong**: entries hold only what the database confirmed. An evicted user is read
//!   again, so sticky stays sticky across evictions, instances and restarts. A user forgotten
//!   (profile changed, user erased) while being read is answered but not kept.

use crate::domain::enrollment::Enrollment;
use crate::domain::profile::{DayBucket, Moment, Profile};
use crate::store::{self, Store, StoreError};
use dashmap::DashMap;
use quick_cache::Weighter;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock, Weak};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most users one read asks for.
const MAX_BATCH: usize = 1_000;

/// Reads under way at once (each holds a pooled connection while it runs). One: the reads that
/// wait meanwhile make the next batch, and a batch costs about the same whatever its size.
const READS_IN_FLIGHT: usize = 1;

/// What quick_cache spends on an entry besides its key and value (its slot in the index, the
/// entry's state and links, the room its vectors keep), counted into each entry's weight so
/// that the budget bounds the structures too (measured: ~115 bytes with key and value; see
/// the test below).
const ENTRY_OVERHEAD: u64 = 88;

/// What a typical entry (an enrollment in a few experiments) weighs, to size the index.
const TYPICAL_ENTRY: u64 = 240;

/// A user's profile as kept: `None` for a user with no recorded event.
pub type CachedProfile = Option<Arc<Profile>>;

/// Which of a user's states an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Enrollment,
    Profile,
}

#[derive(Clone)]
enum Entry {
    Enrollment(Arc<Enrollment>),
    Profile(CachedProfile),
}

/// A user (`hashing::user_key`) and which state of theirs, in 16 bytes: the part takes the
/// lowest bit of the user's 128-bit hash (127 bits still keep collisions out of reach).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key(u128);

impl Key {
    fn new(user_key: u128, part: Part) -> Key {
        Key((user_key & !1) | u128::from(part == Part::Profile))
    }

    fn part(self) -> Part {
        if self.0 & 1 == 1 {
            Part::Profile
        } else {
            Part::Enrollment
        }
    }
}

/// Keys are already xxh3 hashes; hashing them again would only cost time.
#[derive(Default, Clone)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(buf);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64 ^ (n >> 64) as u64;
    }
}

/// Weighs an entry by the bytes it occupies.
#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Entry> for ByBytes {
    fn weight(&self, _key: &Key, entry: &Entry) -> u64 {
        let heap = match entry {
            // The Arc's counters and the enrollment, then its variants.
            Entry::Enrollment(e) => 16 + std::mem::size_of::<Enrollment>() + e.heap_bytes(),
            Entry::Profile(p) => p.as_deref().map_or(0, profile_bytes),
        };
        ENTRY_OVERHEAD + std::mem::size_of::<(Key, Entry)>() as u64 + heap as u64
    }
}

type Entries = quick_cache::sync::Cache<Key, Entry, ByBytes, BuildHasherDefault<PassThroughHasher>>;

/// The cache itself, its index sized for the entries the budget holds.
fn entries_within(budget_bytes: u64) -> Entries {
    let estimated = (budget_bytes / TYPICAL_ENTRY).clamp(16, 50_000_000) as usize;
    quick_cache::sync::Cache::with(
        estimated,
        budget_bytes.max(1),
        ByBytes,
        BuildHasherDefault::default(),
        Default::default(),
    )
}

/// Roughly what a profile occupies on the heap.
fn profile_bytes(profile: &Profile) -> usize {
    let events: usize = profile
        .events
        .iter()
        .map(|(name, h)| {
            name.len()
                + std::mem::size_of_val(h)
                + h.days.len() * std::mem::size_of::<DayBucket>()
                + h.recent.len() * std::mem::size_of::<Moment>()
                + 48 // the map's node
        })
        .sum();
    16 + std::mem::size_of::<Profile>() + profile.user_id.len() + events
}

struct Request {
    user_id: String,
    key: Key,
    reply: oneshot::Sender<Result<Entry, StoreError>>,
}

/// What the cache holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUsage {
    pub entries: usize,
    /// What the entries weigh; at most the budget.
    pub bytes: u64,
}

pub struct UserCache {
    entries: Entries,
    /// Entries being read now, and whether they were forgotten meanwhile.
    loading: DashMap<Key, bool>,
    requests: mpsc::UnboundedSender<Request>,
    /// How long a request waits for a read before it is answered "unavailable" (the
    /// writers' timeout: a database that hangs costs a 503, not a hang).
    read_timeout: std::time::Duration,
    /// Whether a holdout is set: without one, nobody's holdout record matters and the read
    /// skips `holdout_users` (an enrollment read then says "not held out"; were a holdout set
    /// later, such a user already recorded is recorded again, which changes nothing).
    holdout_set: std::sync::atomic::AtomicBool,
}

impl UserCache {
    /// A cache of at most `budget_bytes`, with its loader task reading from `store`.
    pub fn start(
        store: Store,
        budget_bytes: u64,
        read_timeout: std::time::Duration,
    ) -> Arc<UserCache> {
        let (requests, receiver) = mpsc::unbounded_channel();
        let cache = Arc::new(UserCache {
            entries: entries_within(budget_bytes),
            loading: DashMap::new(),
            requests,
            read_timeout,
            holdout_set: std::sync::atomic::AtomicBool::new(true),
        });
        tokio::spawn(serve_reads(store, Arc::downgrade(&cache), receiver));
        cache
    }

    /// The user's stored enrollment: from memory, or read with the other reads waiting.
    pub async fn enrollment(
        &self,
        user_id: &str,
        user_key: u128,
    ) -> Result<Arc<Enrollment>, StoreError> {
        let key = Key::new(user_key, Part::Enrollment);
        let from_memory = self.entries.get(&key);
        reads_counter(Part::Enrollment, from_memory.is_some()).increment(1);
        let entry = match from_memory {
            Some(entry) => entry,
            None => self.read(user_id, key).await?,
        };
        match entry {
            Entry::Enrollment(e) => Ok(e),
            Entry::Profile(_) => unreachable!("enrollment keys hold enrollments"),
        }
    }

    /// The user's profile: from memory, or read with the other reads waiting.
    pub async fn profile(
        &self,
        user_id: &str,
        user_key: u128,
    ) -> Result<CachedProfile, StoreError> {
        let key = Key::new(user_key, Part::Profile);
        let from_memory = self.entries.get(&key);
        reads_counter(Part::Profile, from_memory.is_some()).increment(1);
        let entry = match from_memory {
            Some(entry) => entry,
            None => self.read(user_id, key).await?,
        };
        match entry {
            Entry::Profile(p) => Ok(p),
            Entry::Enrollment(_) => unreachable!("profile keys hold profiles"),
        }
    }

    async fn read(&self, user_id: &str, key: Key) -> Result<Entry, StoreError> {
        let stopped = || StoreError::Unavailable("the user cache's reader has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request {
                user_id: user_id.to_string(),
                key,
                reply,
            })
            .map_err(|_| stopped())?;
        match tokio::time::timeout(self.read_timeout, answer).await {
            Ok(answer) => answer.map_err(|_| stopped())?,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database did not answer a read within {} ms",
                self.read_timeout.as_millis()
            ))),
        }
    }

    /// Says whether a holdout is set (the refresh does, every second).
    pub fn set_holdout(&self, set: bool) {
        self.holdout_set
            .store(set, std::sync::atomic::Ordering::Relaxed);
    }

    /// Adds assignments the database confirmed to the user's kept enrollment. A user not
    /// in memory stays out: an enrollment is kept whole or not at all.
    pub fn remember_variants(&self, user_key: u128, stored: &[(i64, i64)]) {
        self.update_enrollment(user_key, |e| e.with_variants(stored));
    }

    /// Marks the user's kept enrollment as recorded in the holdout.
    pub fn remember_held_out(&self, user_key: u128) {
        self.update_enrollment(user_key, Enrollment::with_held_out);
    }

    fn update_enrollment(&self, user_key: u128, change: impl FnOnce(&Enrollment) -> Enrollment) {
        let key = Key::new(user_key, Part::Enrollment);
        if let Some(Entry::Enrollment(kept)) = self.entries.peek(&key) {
            // Soft: a user evicted meanwhile is not brought back half-known.
            let _ = self
                .entries
                .replace(key, Entry::Enrollment(Arc::new(change(&kept))), true);
        }
    }

    /// Drops the kept profiles of these users (their events changed them).
    pub fn forget_profiles(&self, user_keys: impl IntoIterator<Item = u128>) {
        for user_key in user_keys {
            self.forget(Key::new(user_key, Part::Profile));
        }
    }

    /// Drops everything kept of the user (erased).
    pub fn forget_user(&self, user_key: u128) {
        self.forget(Key::new(user_key, Part::Enrollment));
        self.forget(Key::new(user_key, Part::Profile));
    }

    fn forget(&self, key: Key) {
        // The flag first: a read finishing now either sees it or has already stored what the
        // removal below takes away.
        if let Some(mut forgotten) = self.loading.get_mut(&key) {
            *forgotten = true;
        }
        self.entries.remove(&key);
    }

    /// Drops every kept profile (reads under way are not kept either).
    pub fn clear_profiles(&self) {
        for mut entry in self.loading.iter_mut() {
            if entry.key().part() == Part::Profile {
                *entry.value_mut() = true;
            }
        }
        self.entries.retain(|key, _| key.part() != Part::Profile);
    }

    pub fn usage(&self) -> CacheUsage {
        CacheUsage {
            entries: self.entries.len(),
            bytes: self.entries.weight(),
        }
    }

    /// Profiles kept and what they weigh (walks the whole cache: for tests and the
    /// dashboard, not the hot path).
    pub fn profiles_kept(&self) -> (usize, u64) {
        let weigh = ByBytes;
        self.entries
            .iter()
            .filter(|(key, _)| key.part() == Part::Profile)
            .fold((0, 0), |(n, bytes), (key, entry)| {
                (n + 1, bytes + weigh.weight(&key, &entry))
            })
    }

    /// Keeps what a read found, unless the user was forgotten while it ran.
    fn keep(&self, key: Key, found: Entry) -> Entry {
        let found = match (found, self.entries.peek(&key)) {
            // This instance wrote to the user while the read ran: keep both.
            (Entry::Enrollment(read), Some(Entry::Enrollment(kept))) => {
                Entry::Enrollment(Arc::new(read.merged(&kept)))
            }
            (found, _) => found,
        };
        self.entries.insert(key, found.clone());
        if self
            .loading
            .remove(&key)
            .is_some_and(|(_, forgotten)| forgotten)
        {
            self.entries.remove(&key);
        }
        found
    }
}

/// Reads answered from memory, and from the database, per part: handles taken at the first
/// read (the recorder is installed by then), so the hot path does no registry lookup.
fn reads_counter(part: Part, from_memory: bool) -> &'static metrics::Counter {
    static COUNTERS: [OnceLock<metrics::Counter>; 4] = [const { OnceLock::new() }; 4];
    let (name, part_index) = match part {
        Part::Enrollment => ("posterior_enrollment_reads_total", 0),
        Part::Profile => ("posterior_profile_reads_total", 2),
    };
    let from = if from_memory { "memory" } else { "database" };
    COUNTERS[part_index + usize::from(from_memory)]
        .get_or_init(|| metrics::counter!(name, "from" => from))
}

/// The loader: takes every request waiting (more gather while all reads are busy), reads
/// their users with one query per part, answers each. Ends when the cache is dropped.
async fn serve_reads(
    store: Store,
    cache: Weak<UserCache>,
    mut receiver: mpsc::UnboundedReceiver<Request>,
) {
    let in_flight = Arc::new(Semaphore::new(READS_IN_FLIGHT));
    while let Some(first) = receiver.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let Some(cache) = cache.upgrade() else { return };
        let store = store.clone();
        tokio::spawn(async move {
            read_batch(&store, &cache, batch).await;
            drop(permit);
        });
    }
}

async fn read_batch(store: &Store, cache: &UserCache, batch: Vec<Request>) {
    let mut users: HashMap<Key, String> = HashMap::with_capacity(batch.len());
    for r in &batch {
        users.entry(r.key).or_insert_with(|| r.user_id.clone());
        cache.loading.insert(r.key, false);
    }
    let ids_of = |part: Part| -> Vec<String> {
        users
            .iter()
            .filter(|(key, _)| key.part() == part)
            .map(|(_, id)| id.clone())
            .collect()
    };
    let (enrollment_ids, profile_ids) = (ids_of(Part::Enrollment), ids_of(Part::Profile));
    if !enrollment_ids.is_empty() {
        metrics::counter!("posterior_enrollment_read_batches_total").increment(1);
    }
    if !profile_ids.is_empty() {
        metrics::counter!("posterior_profile_read_batches_total").increment(1);
    }
    let with_holdout = cache.holdout_set.load(std::sync::atomic::Ordering::Relaxed);
    let read = store
        .run(move |conn| {
            Ok((
                store::enrollments::enrollments_of(conn, &enrollment_ids, with_holdout)?,
                store::profiles::profiles_of(conn, &profile_ids)?,
            ))
        })
        .await;
    match read {
        Ok((mut enrollments, mut profiles)) => {
            let mut answers: HashMap<Key, Entry> = HashMap::with_capacity(users.len());
            for (key, user_id) in users {
                let found = match key.part() {
                    Part::Enrollment => Entry::Enrollment(Arc::new(
                        enrollments.remove(&user_id).unwrap_or_default(),
                    )),
                    Part::Profile => Entry::Profile(profiles.remove(&user_id).map(Arc::new)),
                };
                answers.insert(key, cache.keep(key, found));
            }
            for r in batch {
                let answer = answers.get(&r.key).cloned().expect("every key was read");
                let _ = r.reply.send(Ok(answer));
            }
        }
        Err(e) => {
            let message = e.to_string();
            for r in batch {
                cache.loading.remove(&r.key);
                let _ = r.reply.send(Err(StoreError::Unavailable(message.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_covers_the_caches_own_structures() {
        // Full of typical enrollments, the cache's weight is at least what quick_cache says
        // its structures take plus the enrollments' heap, for small and larger budgets.
        for budget in [4 << 20, 32 << 20] {
            let cache = entries_within(budget);
            let enrollment = Enrollment::new(vec![(1, 1), (2, 5), (3, 9), (4, 2), (5, 7)], false);
            for user in 0..(budget as u128 / 100) {
                let key = Key::new(
                    user.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
                    Part::Enrollment,
                );
                cache.insert(key, Entry::Enrollment(Arc::new(enrollment.clone())));
            }
            assert!(cache.weight() <= budget && cache.weight() > budget * 9 / 10);
            let used = cache.memory_used();
            let heap =
                cache.len() * (16 + std::mem::size_of::<Enrollment>() + enrollment.heap_bytes());
            let actual = (used.entries + used.map + heap) as u64;
            assert!(
                cache.weight() >= actual,
                "weighed {} < {actual} actually used by {} entries",
                cache.weight(),
                cache.len()
            );
        }
    }
}
