//! Profiles in memory, for behavioral targeting at assignment.
//!
//! - **Bounded**: a weighted cache (S3-FIFO, `quick_cache`) holding at most the configured
//!   bytes of profiles, each weighed by its size; a user not in memory is read from the
//!   database.
//! - **Batched**: reads go to one loader task, which gathers every request waiting and
//!   answers them with one query (`store::profiles::profiles_of`), never one query per
//!   request.
//! - **Fresh**: an entry is dropped when the user's events are acknowledged on this instance
//!   (`forget`, called by tracking after the commit) and when another instance announces
//!   the change (`engine::profiles::watch_profiles`), so the next assignment reads it
//!   again. A read that was under way when its user was forgotten is answered but not kept.

use crate::domain::profile::Profile;
use crate::store::{self, Store, StoreError};
use dashmap::DashMap;
use quick_cache::Weighter;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Most users one query reads.
const MAX_BATCH: usize = 1_000;

/// A user's profile as cached: `None` for a user with no recorded event.
pub type Cached = Option<Arc<Profile>>;

#[derive(Clone)]
struct ProfileWeigher;

impl Weighter<u128, Cached> for ProfileWeigher {
    fn weight(&self, _key: &u128, value: &Cached) -> u64 {
        value.as_deref().map_or(48, approximate_bytes)
    }
}

/// Roughly what a profile occupies on the heap.
pub fn approximate_bytes(profile: &Profile) -> u64 {
    let events: usize = profile
        .events
        .iter()
        .map(|(name, h)| {
            name.len()
                + std::mem::size_of_val(h)
                + h.days.len() * std::mem::size_of::<crate::domain::profile::DayBucket>()
                + h.recent.len() * std::mem::size_of::<crate::domain::profile::Moment>()
                + 48 // the map's node
        })
        .sum();
    (64 + profile.user_id.len() + events) as u64
}

struct Request {
    user_id: String,
    key: u128,
    reply: oneshot::Sender<Result<Cached, StoreError>>,
}

pub struct ProfileCache {
    cache: quick_cache::sync::Cache<u128, Cached, ProfileWeigher>,
    /// Users being read now, and whether they were forgotten meanwhile.
    loading: DashMap<u128, bool>,
    requests: mpsc::UnboundedSender<Request>,
}

/// Reads answered from memory, and from the database: handles taken at the first read (the
/// recorder is installed by then), so the hot path does no registry lookup.
fn reads_counter(from_memory: bool) -> &'static metrics::Counter {
    static MEMORY: OnceLock<metrics::Counter> = OnceLock::new();
    static DATABASE: OnceLock<metrics::Counter> = OnceLock::new();
    if from_memory {
        MEMORY
            .get_or_init(|| metrics::counter!("posterior_profile_reads_total", "from" => "memory"))
    } else {
        DATABASE.get_or_init(
            || metrics::counter!("posterior_profile_reads_total", "from" => "database"),
        )
    }
}

impl ProfileCache {
    /// A cache of at most `memory_bytes`, with its loader task reading from `store`.
    pub fn start(store: Store, memory_bytes: u64) -> Arc<ProfileCache> {
        let (requests, receiver) = mpsc::unbounded_channel();
        // quick_cache wants an estimate of the entries: a profile of a few events is ~1 KB.
        let estimated = (memory_bytes / 1024).clamp(16, 10_000_000) as usize;
        let cache = Arc::new(ProfileCache {
            cache: quick_cache::sync::Cache::with_weighter(
                estimated,
                memory_bytes.max(1),
                ProfileWeigher,
            ),
            loading: DashMap::new(),
            requests,
        });
        tokio::spawn(serve_reads(store, Arc::downgrade(&cache), receiver));
        cache
    }

    /// The user's profile: from memory, or read (with the other reads waiting) and kept.
    pub async fn get(&self, user_id: &str, key: u128) -> Result<Cached, StoreError> {
        if let Some(cached) = self.cache.get(&key) {
            reads_counter(true).increment(1);
            return Ok(cached);
        }
        reads_counter(false).increment(1);
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request {
                user_id: user_id.to_string(),
                key,
                reply,
            })
            .map_err(|_| StoreError::Unavailable("the profile reader has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the profile reader has stopped".into()))?
    }

    /// Drops what is kept of these users (their profiles changed).
    pub fn forget(&self, keys: impl IntoIterator<Item = u128>) {
        for key in keys {
            // The flag first: a read finishing now either sees it or has already stored
            // what the removal below takes away.
            if let Some(mut forgotten) = self.loading.get_mut(&key) {
                *forgotten = true;
            }
            self.cache.remove(&key);
        }
    }

    /// Drops everything kept (reads under way are not kept either).
    pub fn clear(&self) {
        for mut forgotten in self.loading.iter_mut() {
            *forgotten = true;
        }
        self.cache.clear();
    }

    /// Profiles kept and the bytes they weigh.
    pub fn usage(&self) -> (usize, u64) {
        (self.cache.len(), self.cache.weight())
    }
}

/// The loader: takes every request waiting, reads their users in one query, answers each.
/// Ends when the cache is dropped.
async fn serve_reads(
    store: Store,
    cache: std::sync::Weak<ProfileCache>,
    mut receiver: mpsc::UnboundedReceiver<Request>,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let Some(cache) = cache.upgrade() else { return };
        let mut users: HashMap<u128, String> = HashMap::with_capacity(batch.len());
        for r in &batch {
            users.entry(r.key).or_insert_with(|| r.user_id.clone());
            cache.loading.insert(r.key, false);
        }
        let ids: Vec<String> = users.values().cloned().collect();
        metrics::counter!("posterior_profile_read_batches_total").increment(1);
        let read = store
            .run(move |conn| store::profiles::profiles_of(conn, &ids))
            .await;
        match read {
            Ok(mut found) => {
                let mut answers: HashMap<u128, Cached> = HashMap::with_capacity(users.len());
                for (key, user_id) in users {
                    let profile = found.remove(&user_id).map(Arc::new);
                    cache.cache.insert(key, profile.clone());
                    if cache
                        .loading
                        .remove(&key)
                        .is_some_and(|(_, forgotten)| forgotten)
                    {
                        cache.cache.remove(&key);
                    }
                    answers.insert(key, profile);
                }
                for r in batch {
                    let _ = r.reply.send(Ok(answers.get(&r.key).cloned().flatten()));
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
}
