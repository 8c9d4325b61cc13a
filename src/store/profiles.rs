//! Profiles (`profile_events`, see its migration): written with the events, in the same
//! transaction; read by user; erased with the user.
//!
//! A batch's new events are first added up in Rust, per (user, event name) and per cell of
//! (daily bucket, hour of day), and each cell is one row of one upsert: the statement finds
//! the cell's day and hour from the row itself, so it changes one day and one hour of the
//! stored arrays in place. Live traffic (a user's events of one name in a batch falling in
//! one hour) costs one statement per batch; a batch that holds one user's events of one name
//! in several hours or days (a backfill) takes one statement per such cell, since a statement
//! may change a row only once.

use super::StoreError;
use super::prepared::Prepared;
use crate::domain::profile::{self, DayBucket, EventHistory, Moment, Profile};
use crate::store::batch::NewEvent;
use chrono::{DateTime, Timelike, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Integer, Nullable, Text, Timestamptz};
use std::collections::{BTreeMap, HashMap};

/// One (user, name)'s events of a batch in one hour of one day (the day `None` when older
/// than the buckets kept).
#[derive(Debug, Clone, Copy)]
struct Cell {
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    count: i64,
    value_sum: f64,
}

/// One row of one round: a cell of one (user, name).
struct Row<'a> {
    user: &'a str,
    name: &'a str,
    day: Option<i32>,
    hour: i32,
    cell: &'a Cell,
}

/// The upsert of one cell per row. Each row is also one moment (the cell's events at its
/// latest time) appended to the recent arrays, which keep the last 32 (`profile::RECENT_KEPT`;
/// one moment in, at most one out). `$7` (the day, NULL for an event without a bucket) and
/// `$8` (the hour) make the row a new profile row would be; on conflict, the day and hour
/// are read back from that row (`EXCLUDED.bucket_days[2]`, the hour of `EXCLUDED.last_at`)
/// and added to the stored ones: to the newest day (the usual case), as a new newest day
/// (cutting off the days that fall 90 behind it), to an older day, or as a new older day.
const RECORD_CELLS: &str = "\
INSERT INTO profile_events AS p (user_id, name, first_at, last_at, total_count, total_sum, bucket_days, day_counts, day_sums, hours, recent_at, recent_counts, recent_sums) \
SELECT d.user_id, d.name, d.first_at, d.last_at, d.n, d.s, \
  CASE WHEN d.day IS NULL THEN ARRAY[0] ELSE ARRAY[0, d.day] END, \
  CASE WHEN d.day IS NULL THEN ARRAY[0] ELSE ARRAY[0, d.n::int4] END, \
  CASE WHEN d.day IS NULL THEN ARRAY[0::float8] ELSE ARRAY[0, d.s] END, \
  array_fill(0, ARRAY[d.hour]) || d.n::int4 || array_fill(0, ARRAY[23 - d.hour]), \
  ARRAY[d.last_at], ARRAY[d.n::int4], ARRAY[d.s] \
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int8[], $6::float8[], $7::int4[], $8::int4[]) \
  AS d(user_id, name, first_at, last_at, n, s, day, hour) \
ON CONFLICT (user_id, name) DO UPDATE SET \
  first_at = least(p.first_at, EXCLUDED.first_at), \
  last_at = greatest(p.last_at, EXCLUDED.last_at), \
  total_count = p.total_count + EXCLUDED.total_count, \
  total_sum = p.total_sum + EXCLUDED.total_sum, \
  recent_at = CASE WHEN cardinality(p.recent_at) < 32 THEN p.recent_at ELSE p.recent_at[2:] END || EXCLUDED.last_at, \
  recent_counts = CASE WHEN cardinality(p.recent_at) < 32 THEN p.recent_counts ELSE p.recent_counts[2:] END || EXCLUDED.total_count::int4, \
  recent_sums = CASE WHEN cardinality(p.recent_at) < 32 THEN p.recent_sums ELSE p.recent_sums[2:] END || EXCLUDED.total_sum, \
  recent_since = CASE WHEN cardinality(p.recent_at) < 32 THEN p.recent_since ELSE greatest(p.recent_since, p.recent_at[1]) END, \
  hours[(date_part('hour', EXCLUDED.last_at AT TIME ZONE 'UTC')::int + 1)] = \
    p.hours[(date_part('hour', EXCLUDED.last_at AT TIME ZONE 'UTC')::int + 1)] \
    + EXCLUDED.hours[(date_part('hour', EXCLUDED.last_at AT TIME ZONE 'UTC')::int + 1)], \
  day_counts = CASE WHEN EXCLUDED.bucket_days[2] IS NULL THEN p.day_counts \
    WHEN p.bucket_days[cardinality(p.bucket_days)] = EXCLUDED.bucket_days[2] \
      THEN p.day_counts[:cardinality(p.bucket_days) - 1] || (p.day_counts[cardinality(p.bucket_days)] + EXCLUDED.day_counts[2]) \
    WHEN p.bucket_days[cardinality(p.bucket_days)] < EXCLUDED.bucket_days[2] \
      THEN p.day_counts[1:1] || p.day_counts[greatest(width_bucket(EXCLUDED.bucket_days[2] - 90, p.bucket_days), 1) + 1:] || EXCLUDED.day_counts[2] \
    WHEN p.bucket_days[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days)] = EXCLUDED.bucket_days[2] \
      THEN p.day_counts[:width_bucket(EXCLUDED.bucket_days[2], p.bucket_days) - 1] || (p.day_counts[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days)] + EXCLUDED.day_counts[2]) || p.day_counts[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days) + 1:] \
    ELSE p.day_counts[:width_bucket(EXCLUDED.bucket_days[2], p.bucket_days)] || EXCLUDED.day_counts[2] || p.day_counts[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days) + 1:] END, \
  day_sums = CASE WHEN EXCLUDED.bucket_days[2] IS NULL THEN p.day_sums \
    WHEN p.bucket_days[cardinality(p.bucket_days)] = EXCLUDED.bucket_days[2] \
      THEN p.day_sums[:cardinality(p.bucket_days) - 1] || (p.day_sums[cardinality(p.bucket_days)] + EXCLUDED.day_sums[2]) \
    WHEN p.bucket_days[cardinality(p.bucket_days)] < EXCLUDED.bucket_days[2] \
      THEN p.day_sums[1:1] || p.day_sums[greatest(width_bucket(EXCLUDED.bucket_days[2] - 90, p.bucket_days), 1) + 1:] || EXCLUDED.day_sums[2] \
    WHEN p.bucket_days[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days)] = EXCLUDED.bucket_days[2] \
      THEN p.day_sums[:width_bucket(EXCLUDED.bucket_days[2], p.bucket_days) - 1] || (p.day_sums[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days)] + EXCLUDED.day_sums[2]) || p.day_sums[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days) + 1:] \
    ELSE p.day_sums[:width_bucket(EXCLUDED.bucket_days[2], p.bucket_days)] || EXCLUDED.day_sums[2] || p.day_sums[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days) + 1:] END, \
  bucket_days = CASE WHEN EXCLUDED.bucket_days[2] IS NULL THEN p.bucket_days \
    WHEN p.bucket_days[cardinality(p.bucket_days)] = EXCLUDED.bucket_days[2] THEN p.bucket_days \
    WHEN p.bucket_days[cardinality(p.bucket_days)] < EXCLUDED.bucket_days[2] \
      THEN p.bucket_days[1:1] || p.bucket_days[greatest(width_bucket(EXCLUDED.bucket_days[2] - 90, p.bucket_days), 1) + 1:] || EXCLUDED.bucket_days[2] \
    WHEN p.bucket_days[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days)] = EXCLUDED.bucket_days[2] THEN p.bucket_days \
    ELSE p.bucket_days[:width_bucket(EXCLUDED.bucket_days[2], p.bucket_days)] || EXCLUDED.bucket_days[2] || p.bucket_days[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days) + 1:] END";

/// Adds new events (stored for the first time, in this transaction) to their users'
/// profiles. `now` decides which events are too old for a daily bucket.
pub fn record_events(
    conn: &mut PgConnection,
    events: &[&NewEvent],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // (user, name) → (day, hour) → cell; BTreeMaps so rows go in key order (the same lock
    // order in every transaction).
    type Cells<'a> = BTreeMap<(&'a str, &'a str), BTreeMap<(Option<i32>, u32), Cell>>;
    let mut cells: Cells<'_> = BTreeMap::new();
    for e in events {
        let t = e.occurred_at;
        let day = profile::has_bucket(t, now).then(|| profile::day_number(t));
        let value = e.value.unwrap_or(0.0);
        cells
            .entry((e.user_id.as_str(), e.name.as_str()))
            .or_default()
            .entry((day, t.hour()))
            .and_modify(|c| {
                c.first_at = c.first_at.min(t);
                c.last_at = c.last_at.max(t);
                c.count += 1;
                c.value_sum += value;
            })
            .or_insert(Cell {
                first_at: t,
                last_at: t,
                count: 1,
                value_sum: value,
            });
    }
    let rounds = cells.values().map(BTreeMap::len).max().unwrap_or(0);
    for round in 0..rounds {
        let rows: Vec<Row> = cells
            .iter()
            .filter_map(|(&(user, name), by_cell)| {
                let (&(day, hour), cell) = by_cell.iter().nth(round)?;
                Some(Row {
                    user,
                    name,
                    day,
                    hour: hour as i32,
                    cell,
                })
            })
            .collect();
        Prepared::new(RECORD_CELLS)
            .bind::<Array<Text>, _>(rows.iter().map(|r| r.user).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows.iter().map(|r| r.name).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.cell.first_at).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.cell.last_at).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.cell.count).collect::<Vec<_>>())
            .bind::<Array<Double>, _>(rows.iter().map(|r| r.cell.value_sum).collect::<Vec<_>>())
            .bind::<Array<Nullable<Integer>>, _>(rows.iter().map(|r| r.day).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(rows.iter().map(|r| r.hour).collect::<Vec<_>>())
            .execute(conn)?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct ProfileRow {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Timestamptz)]
    first_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    last_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    total_count: i64,
    #[diesel(sql_type = Double)]
    total_sum: f64,
    #[diesel(sql_type = Array<Integer>)]
    bucket_days: Vec<i32>,
    #[diesel(sql_type = Array<Integer>)]
    day_counts: Vec<i32>,
    #[diesel(sql_type = Array<Double>)]
    day_sums: Vec<f64>,
    #[diesel(sql_type = Array<Integer>)]
    hours: Vec<i32>,
    #[diesel(sql_type = Array<Timestamptz>)]
    recent_at: Vec<DateTime<Utc>>,
    #[diesel(sql_type = Array<Integer>)]
    recent_counts: Vec<i32>,
    #[diesel(sql_type = Array<Double>)]
    recent_sums: Vec<f64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    recent_since: Option<DateTime<Utc>>,
}

const _: () = assert!(profile::RECENT_KEPT == 32, "RECORD_CELLS keeps 32 moments");

const PROFILES_OF: &str = "SELECT user_id, name, first_at, last_at, total_count, total_sum, \
     bucket_days, day_counts, day_sums, hours, recent_at, recent_counts, recent_sums, recent_since \
     FROM profile_events WHERE user_id = ANY($1)";

fn history_of(r: ProfileRow) -> EventHistory {
    let mut hours = [0i64; 24];
    for (h, n) in hours.iter_mut().zip(&r.hours) {
        *h = i64::from(*n);
    }
    let days = r
        .bucket_days
        .iter()
        .zip(&r.day_counts)
        .zip(&r.day_sums)
        .skip(1) // the sentinel
        .map(|((&day, &count), &value_sum)| DayBucket {
            day,
            count: i64::from(count),
            value_sum,
        })
        .collect();
    let recent = r
        .recent_at
        .iter()
        .zip(&r.recent_counts)
        .zip(&r.recent_sums)
        .map(|((&at, &count), &value_sum)| Moment {
            at,
            count: i64::from(count),
            value_sum,
        })
        .collect();
    EventHistory {
        first_at: r.first_at,
        last_at: r.last_at,
        count: r.total_count,
        value_sum: r.total_sum,
        days,
        hours,
        recent,
        recent_since: r.recent_since,
    }
}

/// The profiles of these users, in one query; users with no recorded event are left out.
pub fn profiles_of(
    conn: &mut PgConnection,
    users: &[String],
) -> Result<HashMap<String, Profile>, StoreError> {
    let rows: Vec<ProfileRow> = Prepared::new(PROFILES_OF)
        .bind::<Array<Text>, _>(users)
        .load(conn)?;
    let mut out: HashMap<String, Profile> = HashMap::new();
    for r in rows {
        let user_id = r.user_id.clone();
        let name = r.name.clone();
        out.entry(user_id.clone())
            .or_insert_with(|| Profile {
                user_id,
                events: BTreeMap::new(),
            })
            .events
            .insert(name, history_of(r));
    }
    Ok(out)
}

/// A user's profile; `None` when no event of theirs was recorded (or they were erased).
pub fn user_profile(conn: &mut PgConnection, user_id: &str) -> Result<Option<Profile>, StoreError> {
    Ok(profiles_of(conn, &[user_id.to_string()])?.remove(user_id))
}

/// Erases a user's profile (in the erasure's transaction). Returns the rows removed.
pub fn delete_user_profile(conn: &mut PgConnection, user_id: &str) -> Result<usize, StoreError> {
    Ok(
        Prepared::new("DELETE FROM profile_events WHERE user_id = $1")
            .bind::<Text, _>(user_id)
            .execute(conn)?,
    )
}

#[derive(QueryableByName)]
struct ChangedUser {
    #[diesel(sql_type = Text)]
    user_id: String,
}

/// Users whose events arrived after `since` (database clock), with a margin for writes
/// committed a while after the time they were stamped with (none when `since` is `None`);
/// and the database's time now, the next `since`.
pub fn users_with_events_since(
    conn: &mut PgConnection,
    since: Option<DateTime<Utc>>,
) -> Result<(Vec<String>, DateTime<Utc>), StoreError> {
    #[derive(QueryableByName)]
    struct Now {
        #[diesel(sql_type = Timestamptz)]
        now: DateTime<Utc>,
    }
    let now: Now = Prepared::new("SELECT now() AS now").get_result(conn)?;
    let Some(since) = since else {
        return Ok((Vec::new(), now.now));
    };
    let users: Vec<ChangedUser> = Prepared::new(
        "SELECT DISTINCT user_id FROM events WHERE received_at > $1 - interval '3 seconds'",
    )
    .bind::<Timestamptz, _>(since)
    .load(conn)?;
    Ok((users.into_iter().map(|u| u.user_id).collect(), now.now))
}

/// Events per hour of day (UTC) of these names over every user, summed from the profiles'
/// histograms (a scan of those names' rows: run in the background, seldom).
pub fn population_hours(
    conn: &mut PgConnection,
    names: &[String],
) -> Result<HashMap<String, [i64; 24]>, StoreError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Array<BigInt>)]
        hours: Vec<i64>,
    }
    let rows: Vec<Row> = Prepared::new(POPULATION_HOURS)
        .bind::<Array<Text>, _>(names)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut hours = [0i64; 24];
            for (h, n) in hours.iter_mut().zip(r.hours) {
                *h = n;
            }
            (r.name, hours)
        })
        .collect())
}

const POPULATION_HOURS: &str = "SELECT name, ARRAY[
  sum(hours[1])::int8,
  sum(hours[2])::int8,
  sum(hours[3])::int8,
  sum(hours[4])::int8,
  sum(hours[5])::int8,
  sum(hours[6])::int8,
  sum(hours[7])::int8,
  sum(hours[8])::int8,
  sum(hours[9])::int8,
  sum(hours[10])::int8,
  sum(hours[11])::int8,
  sum(hours[12])::int8,
  sum(hours[13])::int8,
  sum(hours[14])::int8,
  sum(hours[15])::int8,
  sum(hours[16])::int8,
  sum(hours[17])::int8,
  sum(hours[18])::int8,
  sum(hours[19])::int8,
  sum(hours[20])::int8,
  sum(hours[21])::int8,
  sum(hours[22])::int8,
  sum(hours[23])::int8,
  sum(hours[24])::int8] AS hours \
  FROM profile_events WHERE name = ANY($1) GROUP BY name";
