//! Group commit: writes from many concurrent requests share one transaction.
//!
//! Requests put jobs on a queue and wait for their reply. Each writer thread owns a database
//! connection; it takes every job waiting (up to a limit), runs them all in one transaction,
//! and answers each job only after the commit. So nothing is acknowledged before it is
//! durable, and under load one commit (one fsync) serves hundreds of requests.

use super::audit::{self, Actor, Change};
use super::counting;
use super::{attribution, hashing};
use crate::domain::Erased;
use crate::store::metric_values::{self, MetricDeltas};
use crate::store::{self, Connection, StoreError, batch};
use batch::{NewAssignment, NewEvent, StatDeltas};
use foldhash::HashMap as FoldHashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A new assignment and the allocation it was drawn from (for expected counts).
pub struct PendingAssignment {
    pub row: NewAssignment,
    /// (variant id, probability) for every variant of the experiment at decision time.
    pub allocation: Arc<[(i64, f64)]>,
}

pub struct AssignJob {
    pub inserts: Vec<PendingAssignment>,
    /// A user to record as held out (once: later records of the same user change nothing).
    pub holdout: Option<(String, chrono::DateTime<chrono::Utc>)>,
    /// The stored variant of every insert (`None`: not assigned).
    reply: oneshot::Sender<Result<Vec<Option<i64>>, StoreError>>,
}

/// `POST /api/v1/track`'s answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TrackReceipt {
    /// Events stored now.
    pub accepted: usize,
    /// Events whose `event_id` was already stored (counted once).
    pub duplicates: usize,
    /// Events not stored because their user has no assignment (only with a consent
    /// attribute configured: see `WriterSettings::drop_unassigned_events`).
    #[serde(skip_serializing_if = "is_zero")]
    pub ignored: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub struct TrackJob {
    pub events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<TrackReceipt, StoreError>>,
}

/// Erasing one user: runs alone, after everything queued before it in the user's partition,
/// and is recorded in the audit log (as done by `actor`) in the same transaction.
pub struct EraseJob {
    user_id: String,
    user_key: u128,
    actor: Actor,
    reply: oneshot::Sender<Result<Erased, StoreError>>,
}

enum Job {
    Assign(AssignJob),
    Track(TrackJob),
    Erase(EraseJob),
    Stop,
}

impl Job {
    fn rows(&self) -> usize {
        match self {
            Job::Assign(a) => a.inserts.len() + usize::from(a.holdout.is_some()),
            Job::Track(t) => t.events.len(),
            Job::Erase(_) | Job::Stop => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WriterSettings {
    pub database_url: String,
    /// Writer threads (partitions of the users).
    pub threads: usize,
    /// A batch closes at this many rows (assignments + events), so one transaction stays short.
    pub max_batch_rows: usize,
    /// Store events only of users who have at least one assignment (data minimization, on
    /// when the operator names a consent attribute: users without consent have none).
    pub drop_unassigned_events: bool,
    /// Keep behavioral profiles in the events' transaction (`store::profiles`).
    pub profiles: bool,
    /// Announce changed profiles to every instance (`store::profiles::announce_changes`).
    pub announce: ProfileAnnouncer,
    /// How long a request waits for its commit before it answers 503.
    pub reply_timeout: Duration,
}

/// Whether writers announce the users whose profiles they changed, and as which instance.
/// On while a live experiment reads profiles (the engine sets it at each watch).
#[derive(Debug, Clone)]
pub struct ProfileAnnouncer {
    pub enabled: Arc<std::sync::atomic::AtomicBool>,
    pub instance: Arc<str>,
}

/// One writer thread and its queue.
struct Partition {
    queue: mpsc::Sender<Job>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Partition {
    fn start(index: usize, settings: &WriterSettings) -> Partition {
        let (queue, receiver) = mpsc::channel::<Job>(16_384);
        let settings = settings.clone();
        let thread = std::thread::Builder::new()
            .name(format!("posterior-writer-{index}"))
            .spawn(move || {
                WriterThread {
                    settings,
                    conn: None,
                    carry: None,
                    outage: None,
                    shard: stat_shard(index),
                }
                .run(receiver)
            })
            .expect("spawn writer thread");
        Partition {
            queue,
            thread: Mutex::new(Some(thread)),
        }
    }
}

/// Writer threads, each owning the users whose id hashes to its partition.
///
/// A user's assignments and events always go to the same thread, so concurrent transactions
/// of this instance never touch the same rows: no waiting on each other's row locks, and
/// every thread can keep one core of PostgreSQL busy. (Instances still share rows; the
/// locks keep them exact.) An event batch is split by partition and answered once every
/// part is committed.
pub struct Writer {
    partitions: Vec<Partition>,
    reply_timeout: Duration,
}

impl Writer {
    pub fn start(settings: WriterSettings) -> Writer {
        let partitions = (0..settings.threads.max(1))
            .map(|i| Partition::start(i, &settings))
            .collect();
        Writer {
            partitions,
            reply_timeout: settings.reply_timeout,
        }
    }

    /// Whether requests are waiting for a writer thread: background catch-up work (CUPED
    /// covariates) yields to live traffic then.
    pub fn is_busy(&self) -> bool {
        self.partitions
            .iter()
            .any(|p| p.queue.capacity() < p.queue.max_capacity())
    }

    fn partition_of(&self, user_id: &str) -> usize {
        (xxhash_rust::xxh3::xxh3_64(user_id.as_bytes()) % self.partitions.len() as u64) as usize
    }

    async fn submit(&self, partition: usize, job: Job) -> Result<(), StoreError> {
        self.partitions[partition]
            .queue
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))
    }

    /// Waits for `work` at most `reply_timeout`: a database that stopped answering costs the
    /// request a 503 after that long, not a hang. The job itself stays queued and may still be
    /// committed later (it was not acknowledged, and a retry finds it: assignments and events
    /// are stored once).
    async fn within<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.reply_timeout, work).await {
            Ok(result) => result,
            Err(_) => {
                crate::telemetry::record_write_timeout();
                Err(StoreError::Unavailable(format!(
                    "the database did not commit within {} ms",
                    self.reply_timeout.as_millis()
                )))
            }
        }
    }

    /// Stores the new assignments that don't exist yet and answers the stored variant of
    /// each (another instance's, if it stored one first). All of the same user.
    pub async fn assign(
        &self,
        inserts: Vec<PendingAssignment>,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        self.within(self.assign_untimed(inserts)).await
    }

    /// Stores events once per (user, event id) and attributes the new ones.
    pub async fn track(&self, events: Vec<NewEvent>) -> Result<TrackReceipt, StoreError> {
        self.within(self.track_untimed(events)).await
    }

    /// Erases a user in the user's own partition, so the writes of that user queued before
    /// it on this instance are committed first and erased with the rest.
    pub async fn erase(
        &self,
        user_id: &str,
        user_key: u128,
        actor: Actor,
    ) -> Result<Erased, StoreError> {
        self.within(self.erase_untimed(user_id, user_key, actor))
            .await
    }

    async fn assign_untimed(
        &self,
        inserts: Vec<PendingAssignment>,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let Some(user) = inserts.first().map(|p| p.row.user_id.as_str()) else {
            return Ok(Vec::new());
        };
        let partition = self.partition_of(user);
        let (reply, answer) = oneshot::channel();
        let queued = Instant::now();
        self.submit(
            partition,
            Job::Assign(AssignJob {
                inserts,
                holdout: None,
                reply,
            }),
        )
        .await?;
        let answer = answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?;
        crate::telemetry::record_commit_wait(queued.elapsed());
        answer
    }

    /// Records a user as held out, durably, in the user's partition's next group commit.
    pub async fn hold_out(
        &self,
        user_id: String,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.within(self.hold_out_untimed(user_id, at)).await
    }

    async fn hold_out_untimed(
        &self,
        user_id: String,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let partition = self.partition_of(&user_id);
        let (reply, answer) = oneshot::channel();
        self.submit(
            partition,
            Job::Assign(AssignJob {
                inserts: Vec::new(),
                holdout: Some((user_id, at)),
                reply,
            }),
        )
        .await?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
            .map(|_| ())
    }

    async fn track_untimed(&self, events: Vec<NewEvent>) -> Result<TrackReceipt, StoreError> {
        let queued = Instant::now();
        let mut parts: Vec<Vec<NewEvent>> =
            (0..self.partitions.len()).map(|_| Vec::new()).collect();
        for event in events {
            let p = self.partition_of(&event.user_id);
            parts[p].push(event);
        }
        let mut answers = Vec::new();
        for (partition, events) in parts.into_iter().enumerate().filter(|(_, e)| !e.is_empty()) {
            let (reply, answer) = oneshot::channel();
            self.submit(partition, Job::Track(TrackJob { events, reply }))
                .await?;
            answers.push(answer);
        }
        let mut total = TrackReceipt::default();
        for answer in answers {
            let part = answer.await.map_err(|_| {
                StoreError::Unavailable("the writer stopped before answering".into())
            })??;
            total.accepted += part.accepted;
            total.duplicates += part.duplicates;
            total.ignored += part.ignored;
        }
        crate::telemetry::record_commit_wait(queued.elapsed());
        Ok(total)
    }

    async fn erase_untimed(
        &self,
        user_id: &str,
        user_key: u128,
        actor: Actor,
    ) -> Result<Erased, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(
            self.partition_of(user_id),
            Job::Erase(EraseJob {
                user_id: user_id.to_string(),
                user_key,
                actor,
                reply,
            }),
        )
        .await?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
    }

    /// Lets the threads finish every job already queued, then waits for them to exit.
    pub async fn stop(&self) {
        for p in &self.partitions {
            let _ = p.queue.send(Job::Stop).await;
        }
        let threads: Vec<_> = self
            .partitions
            .iter()
            .filter_map(|p| p.thread.lock().expect("writer thread lock").take())
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// The database being unreachable, as one writer thread sees it.
struct Outage {
    since: Instant,
    backoff: Duration,
    next_attempt: Instant,
}

struct WriterThread {
    settings: WriterSettings,
    conn: Option<Connection>,
    /// A job taken from the queue that must start the next batch (an erasure).
    carry: Option<Job>,
    /// While the database cannot be reached: since when, and when to try connecting next.
    outage: Option<Outage>,
    /// The statistics rows this thread adds to, so writers never wait on each other's locks.
    shard: i16,
}

/// A shard for writer `index`: distinct within this instance, spread across instances.
fn stat_shard(index: usize) -> i16 {
    use rand::RngExt;
    static BASE: std::sync::OnceLock<i16> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| rand::rng().random_range(0..batch::STAT_SHARDS));
    (base + index as i16).rem_euclid(batch::STAT_SHARDS)
}

impl WriterThread {
    fn run(mut self, mut receiver: mpsc::Receiver<Job>) {
        loop {
            let Some(first) = self.carry.take().or_else(|| receiver.blocking_recv()) else {
                return;
            };
            let first = match first {
                Job::Stop => return,
                Job::Erase(job) => {
                    self.erase(job);
                    continue;
                }
                job => job,
            };
            let mut rows = first.rows();
            let mut jobs = vec![first];
            let mut stop = false;
            while rows < self.settings.max_batch_rows {
                match receiver.try_recv() {
                    Ok(Job::Stop) => {
                        stop = true;
                        break;
                    }
                    Ok(erase @ Job::Erase(_)) => {
                        // Erasures run alone, after the batch before them.
                        self.carry = Some(erase);
                        break;
                    }
                    Ok(job) => {
                        rows += job.rows();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.process(jobs);
            if stop {
                return;
            }
        }
    }

    fn erase(&mut self, job: EraseJob) {
        let shard = self.shard;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let result = self
                .connection()
                .and_then(|conn| erase_audited(conn, &job, shard));
            match result {
                Err(e) if e.is_retryable() && attempt < 5 => {
                    std::thread::sleep(Duration::from_millis(5 * attempt));
                }
                Err(e) => break Err(self.after_failure(e)),
                ok => break ok,
            }
        };
        let _ = job.reply.send(outcome);
    }

    /// After a failed transaction: when the connection is gone, drop it (the next batch
    /// connects anew) and call the failure what it is, the database being unavailable, so
    /// the requests get a 503 with Retry-After and not a 500.
    fn after_failure(&mut self, e: StoreError) -> StoreError {
        if matches!(e, StoreError::Unavailable(_)) {
            self.conn = None;
            return e;
        }
        if !self.connection_alive() {
            self.conn = None;
            return StoreError::Unavailable(format!("connection lost: {e}"));
        }
        e
    }

    /// The thread's connection, opened when there is none. While the database is down,
    /// connection attempts back off (50 ms doubling to 1 s): jobs in between fail at once
    /// (a 503 without waiting), the database is not stormed with connection attempts as it
    /// comes back, and the log says "down" once and "back" once instead of once per batch.
    fn connection(&mut self) -> Result<&mut Connection, StoreError> {
        if self.conn.is_none() {
            if let Some(outage) = &self.outage
                && Instant::now() < outage.next_attempt
            {
                return Err(StoreError::Unavailable(
                    "the database is unreachable; reconnecting".into(),
                ));
            }
            match store::connect(&self.settings.database_url) {
                Ok(conn) => {
                    if let Some(outage) = self.outage.take() {
                        tracing::info!(
                            down_ms = outage.since.elapsed().as_millis() as u64,
                            "writer reconnected to the database"
                        );
                    }
                    self.conn = Some(conn);
                }
                Err(e) => {
                    self.note_outage();
                    return Err(e);
                }
            }
        }
        Ok(self.conn.as_mut().expect("connection just set"))
    }

    /// Records that the database could not be reached (logged once per outage).
    fn note_outage(&mut self) {
        const FIRST: Duration = Duration::from_millis(50);
        const LONGEST: Duration = Duration::from_secs(1);
        let now = Instant::now();
        match &mut self.outage {
            Some(outage) => {
                outage.backoff = (outage.backoff * 2).min(LONGEST);
                outage.next_attempt = now + outage.backoff;
            }
            None => {
                tracing::error!("writer lost the database; answering 503 until it is back");
                self.outage = Some(Outage {
                    since: now,
                    backoff: FIRST,
                    next_attempt: now + FIRST,
                });
            }
        }
    }

    fn process(&mut self, jobs: Vec<Job>) {
        let started = Instant::now();
        let (assigns, tracks): (Vec<_>, Vec<_>) =
            jobs.into_iter().partition(|j| matches!(j, Job::Assign(_)));
        let assigns: Vec<AssignJob> = assigns
            .into_iter()
            .filter_map(|j| {
                if let Job::Assign(a) = j {
                    Some(a)
                } else {
                    None
                }
            })
            .collect();
        let tracks: Vec<TrackJob> = tracks
            .into_iter()
            .filter_map(|j| if let Job::Track(t) = j { Some(t) } else { None })
            .collect();
        let rows: usize = assigns.iter().map(|a| a.inserts.len()).sum::<usize>()
            + tracks.iter().map(|t| t.events.len()).sum::<usize>();
        let job_count = assigns.len() + tracks.len();

        let result = self.commit_with_retry(&assigns, &tracks);
        crate::telemetry::record_batch(rows, job_count, started.elapsed());
        match result {
            Ok((assigned, tracked)) => {
                for (job, answer) in assigns.into_iter().zip(assigned) {
                    let _ = job.reply.send(Ok(answer));
                }
                for (job, answer) in tracks.into_iter().zip(tracked) {
                    let _ = job.reply.send(Ok(answer));
                }
            }
            Err(e) if job_count > 1 && !matches!(e, StoreError::Unavailable(_)) => {
                // One bad job must not sink the others: run each alone.
                tracing::warn!(error = %e, jobs = job_count, "batch failed; retrying its jobs one by one");
                for job in assigns {
                    let outcome = self.commit_with_retry(std::slice::from_ref(&job), &[]);
                    let _ = job.reply.send(outcome.map(|(mut a, _)| a.remove(0)));
                }
                for job in tracks {
                    let outcome = self.commit_with_retry(&[], std::slice::from_ref(&job));
                    let _ = job.reply.send(outcome.map(|(_, mut t)| t.remove(0)));
                }
            }
            Err(e) => {
                crate::telemetry::record_failed_batch();
                if self.outage.is_some() {
                    // Said once when the outage began (see `note_outage`).
                    tracing::debug!(error = %e, jobs = job_count, "batch failed");
                } else {
                    tracing::error!(error = %e, jobs = job_count, "batch failed");
                }
                let message = e.to_string();
                let unavailable = matches!(e, StoreError::Unavailable(_));
                let err = || {
                    if unavailable {
                        StoreError::Unavailable(message.clone())
                    } else {
                        StoreError::Unavailable(format!("write failed: {message}"))
                    }
                };
                for job in assigns {
                    let _ = job.reply.send(Err(err()));
                }
                for job in tracks {
                    let _ = job.reply.send(Err(err()));
                }
            }
        }
    }

    fn commit_with_retry(
        &mut self,
        assigns: &[AssignJob],
        tracks: &[TrackJob],
    ) -> Result<BatchReplies, StoreError> {
        let mut attempt = 0;
        let shard = self.shard;
        let drop_unassigned = self.settings.drop_unassigned_events;
        let announce = self.settings.announce.clone();
        let profiles = self.settings.profiles.then_some(&announce);
        loop {
            attempt += 1;
            let result = self.connection().and_then(|conn| {
                batch::transaction(conn, |tx| {
                    commit_batch(tx, assigns, tracks, shard, drop_unassigned, profiles)
                })
            });
            match result {
                Err(e) if e.is_retryable() && attempt < 5 => {
                    tracing::debug!(error = %e, attempt, "retrying batch");
                    std::thread::sleep(Duration::from_millis(5 * attempt));
                }
                // Connection trouble: open a fresh connection next time. A failed query on a
                // healthy connection leaves it usable.
                Err(e) => return Err(self.after_failure(e)),
                ok => return ok,
            }
        }
    }

    fn connection_alive(&mut self) -> bool {
        self.conn.as_mut().is_some_and(|c| store::ping(c).is_ok())
    }
}

/// Erases a user and records it in the audit log, in one transaction. The log names the user
/// by a hash, so the erased id does not live on there.
fn erase_audited(conn: &mut Connection, job: &EraseJob, shard: i16) -> Result<Erased, StoreError> {
    audit::audited(conn, &job.actor, "user.erase", |conn| {
        let erased = store::delete_user(conn, &job.user_id, job.user_key, shard)?;
        erase_metric_values(conn, &job.user_id, shard)?;
        store::covariates::delete_user_covariates(conn, &job.user_id)?;
        store::profiles::delete_user_profile(conn, &job.user_id)?;
        Ok(Change {
            target: hashing::audit_user(&job.user_id),
            before: None,
            after: Some(audit::json(&erased)),
            value: erased,
        })
    })
}

/// Removes a user's metric values and takes what they added out of the statistics.
fn erase_metric_values(conn: &mut Connection, user_id: &str, shard: i16) -> Result<(), StoreError> {
    let mut deltas = MetricDeltas::default();
    for (value, _) in metric_values::user_metric_values(conn, user_id)? {
        let d = counting::delta(Some(value.value), None);
        let total = deltas
            .entry((value.experiment_id, value.metric_id, value.variant_id))
            .or_default();
        total.users += d.users;
        total.total += d.total;
        total.total_sq += d.total_sq;
    }
    metric_values::delete_user_metric_values(conn, user_id)?;
    metric_values::apply_metric_deltas(conn, &deltas, shard)
}

/// What one committed batch answers: per assign job, the variant id stored for each of its
/// experiments (`None` where none is); per track job, its receipt.
type BatchReplies = (Vec<Vec<Option<i64>>>, Vec<TrackReceipt>);

/// The body of one group-commit transaction.
fn commit_batch(
    tx: &mut Connection,
    assigns: &[AssignJob],
    tracks: &[TrackJob],
    shard: i16,
    drop_unassigned: bool,
    profiles: Option<&ProfileAnnouncer>,
) -> Result<BatchReplies, StoreError> {
    let mut deltas = StatDeltas::default();
    let mut metric_deltas = MetricDeltas::default();

    let held_out: Vec<(&str, chrono::DateTime<chrono::Utc>)> = assigns
        .iter()
        .filter_map(|a| a.holdout.as_ref().map(|(u, t)| (u.as_str(), *t)))
        .collect();
    batch::insert_holdout_users(tx, &held_out)?;

    // Assignments: insert the new ones, then read back every pair that was not inserted
    // (someone else assigned it first).
    let rows: Vec<&NewAssignment> = assigns
        .iter()
        .flat_map(|a| a.inserts.iter().map(|p| &p.row))
        .collect();
    let pending: Vec<&PendingAssignment> = assigns.iter().flat_map(|a| &a.inserts).collect();
    let stored = batch::insert_assignments(tx, &rows)?;
    // What this batch stored, by pair: a pair sitting in two jobs answers both with the
    // first job's row, which is the one stored.
    let mut stored_here: FoldHashMap<(i64, &str), i64> = FoldHashMap::default();
    for (p, _) in pending.iter().zip(&stored).filter(|(_, s)| **s) {
        let r = &p.row;
        stored_here.insert((r.experiment_id, r.user_id.as_str()), r.variant_id);
        deltas.add(r.experiment_id, r.variant_id, r.assigned_at, |d| {
            d.users += 1
        });
        if let Some(context) = &r.context_key {
            deltas.add_context(r.experiment_id, r.variant_id, context, |d| d.users += 1);
        }
        for &(variant_id, probability) in p.allocation.iter() {
            deltas.add(r.experiment_id, variant_id, r.assigned_at, |d| {
                d.expected_users += probability
            });
        }
    }
    let wanted: Vec<(i64, String)> = rows
        .iter()
        .filter(|r| !stored_here.contains_key(&(r.experiment_id, r.user_id.as_str())))
        .map(|r| (r.experiment_id, r.user_id.clone()))
        .collect();
    let found: FoldHashMap<(i64, String), i64> = batch::find_assignments(tx, &wanted)?
        .into_iter()
        .map(|(e, u, v)| ((e, u), v))
        .collect();
    let stored_variant = |experiment_id: i64, user_id: &str| {
        stored_here
            .get(&(experiment_id, user_id))
            .copied()
            .or_else(|| found.get(&(experiment_id, user_id.to_string())).copied())
    };
    let assign_answers: Vec<Vec<Option<i64>>> = assigns
        .iter()
        .map(|job| {
            job.inserts
                .iter()
                .map(|p| stored_variant(p.row.experiment_id, &p.row.user_id))
                .collect()
        })
        .collect();

    // Events: insert the ones new for their user (of a (user, id) pair twice in this batch,
    // the first is the one stored).
    // With data minimization on, only events of users who have an assignment (this batch's
    // included, as they were inserted above) are stored.
    let assigned_users: Option<foldhash::HashSet<String>> = if drop_unassigned {
        let mut users: Vec<&str> = tracks
            .iter()
            .flat_map(|t| t.events.iter().map(|e| e.user_id.as_str()))
            .collect();
        users.sort_unstable();
        users.dedup();
        Some(batch::users_with_assignments(tx, &users)?)
    } else {
        None
    };
    let kept = |e: &NewEvent| {
        assigned_users
            .as_ref()
            .is_none_or(|users| users.contains(e.user_id.as_str()))
    };
    let events: Vec<&NewEvent> = tracks
        .iter()
        .flat_map(|t| &t.events)
        .filter(|e| kept(e))
        .collect();
    let stored = batch::insert_events(tx, &events)?;
    let mut new_events: Vec<&NewEvent> = Vec::new();
    let mut track_answers = Vec::with_capacity(tracks.len());
    let mut stored_flags = stored.iter();
    for job in tracks {
        let mut receipt = TrackReceipt::default();
        for e in &job.events {
            if !kept(e) {
                receipt.ignored += 1;
            } else if *stored_flags.next().expect("one flag per event") {
                receipt.accepted += 1;
                new_events.push(e);
            } else {
                receipt.duplicates += 1;
            }
        }
        track_answers.push(receipt);
    }
    if !new_events.is_empty() {
        // Profiles count the new events only (a retry is not a second event), durably with them.
        if let Some(announce) = profiles {
            store::profiles::record_events(tx, &new_events, chrono::Utc::now())?;
            if announce.enabled.load(std::sync::atomic::Ordering::Relaxed) {
                let mut keys: Vec<u128> = new_events
                    .iter()
                    .map(|e| super::hashing::user_key(&e.user_id))
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                store::profiles::announce_changes(tx, &announce.instance, &keys)?;
            }
        }
        let mut users: Vec<&str> = new_events.iter().map(|e| e.user_id.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        let mut names: Vec<&str> = new_events.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut progress = batch::lock_progress(tx, &users, &names)?;
        let changed = attribution::attribute(&mut progress, &new_events, &mut deltas);
        let changed: Vec<&batch::GoalProgress> = changed.iter().map(|&i| &progress[i]).collect();
        batch::save_goal_progress(tx, &changed)?;
        attribute_metrics(tx, &progress, &new_events, &names, &mut metric_deltas)?;
    }

    batch::apply_stat_deltas(tx, &deltas, shard)?;
    metric_values::apply_metric_deltas(tx, &metric_deltas, shard)?;
    Ok((assign_answers, track_answers))
}

/// Counts the new events into the tracked metrics of the locked (experiment, user) pairs.
fn attribute_metrics(
    tx: &mut Connection,
    progress: &[batch::GoalProgress],
    events: &[&NewEvent],
    names: &[&str],
    deltas: &mut MetricDeltas,
) -> Result<(), StoreError> {
    let mut experiments: Vec<i64> = progress.iter().map(|p| p.experiment_id).collect();
    experiments.dedup();
    let rules = metric_values::counting_rules(tx, &experiments, names)?;
    if rules.is_empty() {
        return Ok(());
    }
    // Only the values an event of the user may change: a metric whose event the user sent
    // (reading every tracked metric of every user would multiply the reads by the metrics).
    let sent: foldhash::HashSet<(&str, &str)> = events
        .iter()
        .map(|e| (e.user_id.as_str(), e.name.as_str()))
        .collect();
    let keys: Vec<(i64, i64, &str)> = progress
        .iter()
        .flat_map(|p| {
            let sent = &sent;
            rules
                .iter()
                .filter(move |r| {
                    r.experiment_id == p.experiment_id
                        && sent.contains(&(p.user_id.as_str(), r.event.as_str()))
                })
                .map(move |r| (p.experiment_id, r.metric_id, p.user_id.as_str()))
        })
        .collect();
    let stored = metric_values::metric_values_of(tx, &keys)?;
    let changed = attribution::attribute_metrics(progress, &rules, stored, events, deltas);
    metric_values::save_metric_values(tx, &changed.iter().collect::<Vec<_>>())
}
