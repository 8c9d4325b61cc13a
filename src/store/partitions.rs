//! The events table's partitions (see migrations/2026-12-10-000001_partitioned_events): one
//! per UTC day of `occurred_at`, `events_pYYYYMMDD` for [day, day + 1), each with its own
//! UNIQUE (user_id, event_id), and the DEFAULT partition `events_default` for rows of days
//! without one. The server creates the days ahead; retention drops whole days.
//!
//! Creating or dropping a partition takes an exclusive lock on `events` itself, so every
//! insert waits for it: each such statement runs under a short `lock_timeout`, and one that
//! cannot get the lock in time (a long export holds the table) gives up until the next tick
//! rather than hold the inserts queued behind it.

use super::StoreError;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types::{BigInt, Text, Timestamptz};

/// The partition that takes the rows of days without a partition of their own.
pub const DEFAULT_PARTITION: &str = "events_default";

/// How long creating or dropping a partition waits for its lock on `events` (inserts queue
/// behind a waiting lock, so this is also the longest pause it can cause them).
pub const PARTITION_LOCK_TIMEOUT_MS: u32 = 2000;

/// The name of the daily partition of `day`.
pub fn partition_name(day: NaiveDate) -> String {
    format!("events_p{}", day.format("%Y%m%d"))
}

/// The day of a daily partition, from its name (`None` for other names).
fn partition_day(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix("events_p")?;
    if digits.len() != 8 {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// Midnight (UTC) that starts `day`.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

#[derive(QueryableByName)]
struct PartitionRow {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The days that have a partition, oldest first.
pub fn daily_partitions(conn: &mut PgConnection) -> Result<Vec<NaiveDate>, StoreError> {
    let rows: Vec<PartitionRow> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'events'::regclass",
    )
    .load(conn)?;
    let mut days: Vec<NaiveDate> = rows.iter().filter_map(|r| partition_day(&r.name)).collect();
    days.sort_unstable();
    Ok(days)
}

/// What `create_partitions_ahead` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatedPartitions {
    /// Days whose partition this call created.
    pub created: Vec<NaiveDate>,
    /// Days left without a partition because the default partition holds rows of them (their
    /// events stay in the default partition, where retention deletes them by `occurred_at`).
    pub skipped: Vec<NaiveDate>,
    /// The lock on `events` was not granted in time: the rest waits for the next call.
    pub busy: bool,
}

fn is_lock_timeout(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(_, info) if info.message().contains("lock timeout"))
}

/// Runs `statements` in a transaction of their own under the partition lock timeout.
fn under_lock_timeout(conn: &mut PgConnection, statements: &[&str]) -> Result<(), Error> {
    conn.transaction(|conn| {
        diesel::sql_query(format!(
            "SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT_MS}ms'"
        ))
        .execute(conn)?;
        for statement in statements {
            diesel::sql_query(*statement).execute(conn)?;
        }
        Ok(())
    })
}

/// Creates the partitions of `today` and the `days_ahead` days after it that do not exist
/// yet, each in a transaction of its own. A day whose rows already sit in the default
/// partition (PostgreSQL refuses the partition then) is skipped and reported, not moved: a
/// move would hold the inserts back while it copies. Another instance creating the same day
/// at the same moment is fine.
pub fn create_partitions_ahead(
    conn: &mut PgConnection,
    today: NaiveDate,
    days_ahead: u32,
) -> Result<CreatedPartitions, StoreError> {
    let existing = daily_partitions(conn)?;
    let mut done = CreatedPartitions::default();
    for day in today.iter_days().take(days_ahead as usize + 1) {
        if existing.binary_search(&day).is_ok() {
            continue;
        }
        let name = partition_name(day);
        let next = day.succ_opt().expect("a day after");
        let create = format!(
            "CREATE TABLE IF NOT EXISTS \"{name}\" PARTITION OF events (UNIQUE (user_id, event_id)) \
             FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00')"
        );
        // The unique index identifies rows for logical replication (a replica, Citus moving
        // a shard), as a primary key would.
        let identity = format!(
            "ALTER TABLE \"{name}\" REPLICA IDENTITY USING INDEX \"{name}_user_id_event_id_key\""
        );
        match under_lock_timeout(conn, &[&create, &identity]) {
            Ok(()) => done.created.push(day),
            Err(e) if is_lock_timeout(&e) => {
                done.busy = true;
                break;
            }
            Err(e) => {
                if daily_partitions(conn)?.binary_search(&day).is_ok() {
                    // Another instance created it first.
                    continue;
                }
                if matches!(
                    e,
                    Error::DatabaseError(DatabaseErrorKind::CheckViolation, _)
                ) {
                    done.skipped.push(day);
                    continue;
                }
                return Err(e.into());
            }
        }
    }
    Ok(done)
}

/// What `purge_events` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgedEvents {
    /// Rows removed: those of the dropped partitions (counted just before each drop) and
    /// those deleted from the default partition.
    pub rows: u64,
    /// Daily partitions dropped.
    pub partitions: u64,
    /// A drop did not get its lock in time: the remaining days wait for the next run.
    pub busy: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Removes the events that happened before `before`: every daily partition whose day ended
/// by then is dropped whole (under the lock timeout; one that cannot get its lock waits for
/// the next run), then the default partition's rows with `occurred_at` before `before` are
/// deleted, `batch` rows per statement (each its own short transaction). A day that ends
/// after `before` stays whole until it has ended by then too: rows are kept up to a day
/// longer than `before` says. The statistics stay as they are.
pub fn purge_events(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
    batch: i64,
) -> Result<PurgedEvents, StoreError> {
    let mut purged = PurgedEvents::default();
    for day in daily_partitions(conn)? {
        let Some(end) = day.succ_opt().map(day_start) else {
            continue;
        };
        if end > before {
            break;
        }
        let name = partition_name(day);
        let rows = diesel::sql_query(format!("SELECT count(*) AS n FROM \"{name}\""))
            .get_result::<Count>(conn)?
            .n;
        match under_lock_timeout(conn, &[&format!("DROP TABLE IF EXISTS \"{name}\"")]) {
            Ok(()) => {
                purged.rows += rows as u64;
                purged.partitions += 1;
            }
            Err(e) if is_lock_timeout(&e) => {
                purged.busy = true;
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    loop {
        // By the partition's key, not by ctid: Citus refuses ctid in such a delete.
        let deleted = diesel::sql_query(
            "DELETE FROM events_default WHERE (user_id, event_id) IN ( \
               SELECT user_id, event_id FROM events_default WHERE occurred_at < $1 LIMIT $2)",
        )
        .bind::<Timestamptz, _>(before)
        .bind::<BigInt, _>(batch)
        .execute(conn)?;
        purged.rows += deleted as u64;
        if (deleted as i64) < batch {
            return Ok(purged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn names_and_days_round_trip() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 9).unwrap();
        assert_eq!(partition_name(day), "events_p20260109");
        assert_eq!(partition_day("events_p20260109"), Some(day));
        assert_eq!(partition_day(DEFAULT_PARTITION), None);
        assert_eq!(partition_day("events_p2026010"), None);
        assert_eq!(partition_day("events_p20261301"), None);
        assert_eq!(
            day_start(day) + TimeDelta::hours(25),
            "2026-01-10T01:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
