//! Profiles (`profile_events`, see its migration): written with the events, in the same
//! transaction; read by user; erased with the user.
//!
//! A batch's new events are first added up in Rust, per (user, event name) and per cell of
//! (daily bucket, hour of day), and each cell is one row of one upsert: the statement finds
//! the cell's day and hour from the row itself, so it changes one day and one hour of the
//! stored arrays in place. Live traffic (a user's events of one name in a batch falling in
//! one hour, on the day the row's newest bucket has) costs one cheap statement per batch,
//! the other cells a second one; a batch that holds one user's events of one name
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
use std::collections::{BTreeMap, HashMap, HashSet};

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

/// What both profile writes share: one cell per row of `$1`..`$8` (user, name, first and
/// last time, count, value sum, day — NULL for an event without a bucket — and hour) made
/// into the row a new profile would be, and on conflict the totals, the moments (each row is
/// one moment, the cell's events at its latest time, appended to `recent`, which keeps the
/// last 8: `profile::RECENT_KEPT`, one in, at most one out) and the hour; the day is each
/// statement's own.
macro_rules! record_cells_head {
    () => {
        "INSERT INTO profile_events AS p (user_id, name, first_at, last_at, total_count, total_sum, \
           bucket_days, day_counts, day_sums, hours, recent) \
         SELECT d.user_id, d.name, d.first_at, d.last_at, d.n, d.s, \
           CASE WHEN d.day IS NULL THEN ARRAY[0] ELSE ARRAY[0, d.day] END, \
           CASE WHEN d.day IS NULL THEN ARRAY[0] ELSE ARRAY[0, d.n::int4] END, \
           CASE WHEN d.day IS NULL THEN ARRAY[0::float8] ELSE ARRAY[0, d.s] END, \
           array_fill(0, ARRAY[d.hour]) || d.n::int4 || array_fill(0, ARRAY[23 - d.hour]), \
           ARRAY[extract(epoch FROM d.last_at)::float8, d.n, d.s] \
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int8[], $6::float8[], $7::int4[], $8::int4[]) \
           AS d(user_id, name, first_at, last_at, n, s, day, hour) \
         ON CONFLICT (user_id, name) DO UPDATE SET \
           first_at = least(p.first_at, EXCLUDED.first_at), \
           last_at = greatest(p.last_at, EXCLUDED.last_at), \
           total_count = p.total_count + EXCLUDED.total_count, \
           total_sum = p.total_sum + EXCLUDED.total_sum, \
           recent = CASE WHEN cardinality(p.recent) < 24 THEN p.recent ELSE p.recent[4:] END || EXCLUDED.recent, \
           recent_since = CASE WHEN cardinality(p.recent) < 24 THEN p.recent_since ELSE greatest(p.recent_since, p.recent[1]) END, \
           hours[(date_part('hour', EXCLUDED.last_at AT TIME ZONE 'UTC')::int + 1)] = \
             p.hours[(date_part('hour', EXCLUDED.last_at AT TIME ZONE 'UTC')::int + 1)] \
             + EXCLUDED.hours[(date_part('hour', EXCLUDED.last_at AT TIME ZONE 'UTC')::int + 1)], "
    };
}

/// The usual case, cheaply: a new profile row, or a cell of the day the row's newest bucket
/// already has, added in place. Rows it leaves alone (their day is another, or has no
/// bucket) are not returned and go to [`RECORD_OTHER_DAYS`].
const RECORD_SAME_DAY: &str = concat!(
    record_cells_head!(),
    "day_counts[cardinality(p.bucket_days)] = p.day_counts[cardinality(p.bucket_days)] + EXCLUDED.day_counts[2], \
     day_sums[cardinality(p.bucket_days)] = p.day_sums[cardinality(p.bucket_days)] + EXCLUDED.day_sums[2] \
     WHERE p.bucket_days[cardinality(p.bucket_days)] = EXCLUDED.bucket_days[2] \
     RETURNING p.user_id, p.name"
);

/// The other cells of stored rows: the day is read back from the row a new profile would
/// be (`EXCLUDED.bucket_days[2]`) and added to the stored ones: as a new newest day (cutting
/// off the days that fall 90 behind it), to an older day, as a new older day, or (no bucket)
/// to the totals and hours only.
const RECORD_OTHER_DAYS: &str = concat!(
    record_cells_head!(),
    "\
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
    ELSE p.bucket_days[:width_bucket(EXCLUDED.bucket_days[2], p.bucket_days)] || EXCLUDED.bucket_days[2] || p.bucket_days[width_bucket(EXCLUDED.bucket_days[2], p.bucket_days) + 1:] END"
);

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
        let done: Vec<UserAndName> = bind_rows(Prepared::new(RECORD_SAME_DAY), &rows).load(conn)?;
        if done.len() < rows.len() {
            let done: HashSet<(&str, &str)> = done
                .iter()
                .map(|d| (d.user_id.as_str(), d.name.as_str()))
                .collect();
            let others: Vec<&Row> = rows
                .iter()
                .filter(|r| !done.contains(&(r.user, r.name)))
                .collect();
            bind_rows(Prepared::new(RECORD_OTHER_DAYS), &others).execute(conn)?;
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct UserAndName {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    name: String,
}

/// `rows` bound as the statements' eight arrays: user, name, first and last time, count,
/// value sum, day (NULL for an event without a bucket) and hour.
fn bind_rows<'a, R: std::borrow::Borrow<Row<'a>>>(
    statement: Prepared<'a>,
    rows: &[R],
) -> Prepared<'a> {
    let rows: Vec<&Row<'a>> = rows.iter().map(|r| r.borrow()).collect();
    statement
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.user).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.name).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.cell.first_at).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.cell.last_at).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.cell.count).collect::<Vec<_>>())
        .bind::<Array<Double>, _>(rows.iter().map(|r| r.cell.value_sum).collect::<Vec<_>>())
        .bind::<Array<Nullable<Integer>>, _>(rows.iter().map(|r| r.day).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(rows.iter().map(|r| r.hour).collect::<Vec<_>>())
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
    #[diesel(sql_type = Array<Double>)]
    recent: Vec<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    recent_since: Option<f64>,
}

const _: () = assert!(
    profile::RECENT_KEPT == 8,
    "the profile writes keep 8 moments (24 elements)"
);

const PROFILES_OF: &str = "SELECT user_id, name, first_at, last_at, total_count, total_sum, \
     bucket_days, day_counts, day_sums, hours, recent, recent_since \
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
        .recent
        .chunks_exact(3)
        .map(|m| Moment {
            at: from_epoch(m[0]),
            count: m[1] as i64,
            value_sum: m[2],
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
        recent_since: r.recent_since.map(from_epoch),
    }
}

/// A time stored as epoch seconds (microseconds exact in a float8 until the year 2255).
fn from_epoch(seconds: f64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros((seconds * 1e6).round() as i64).unwrap_or_default()
}

/// The profiles of these users, in one query; users with no recorded event are left out.
/// Planned each time, not kept prepared: a generic plan made while the table was nearly
/// empty would stay a sequential scan as it grows (see `store/enrollments.rs`).
pub fn profiles_of(
    conn: &mut PgConnection,
    users: &[String],
) -> Result<HashMap<String, Profile>, StoreError> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<ProfileRow> = diesel::sql_query(PROFILES_OF)
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

/// The channel on which writers announce changed profiles to every instance.
pub const CHANGES_CHANNEL: &str = "posterior_profiles";
/// Bytes of one notification's payload (PostgreSQL takes up to 8,000).
const MAX_PAYLOAD: usize = 7_900;

/// Announces, in the caller's transaction (so at its commit, and only then), that these
/// users' profiles changed: notifications on [`CHANGES_CHANNEL`], each `instance` then the
/// users' keys (hashes of their ids, hex: no id leaves the database this way).
pub fn announce_changes(
    conn: &mut PgConnection,
    instance: &str,
    keys: &[u128],
) -> Result<(), StoreError> {
    let mut payloads: Vec<String> = Vec::new();
    let mut current = String::from(instance);
    for key in keys {
        if current.len() + 33 > MAX_PAYLOAD {
            payloads.push(std::mem::replace(&mut current, String::from(instance)));
        }
        current.push(' ');
        current.push_str(&format!("{key:032x}"));
    }
    payloads.push(current);
    Prepared::new("SELECT pg_notify('posterior_profiles', p) FROM unnest($1::text[]) AS p")
        .bind::<Array<Text>, _>(payloads)
        .execute(conn)?;
    Ok(())
}

/// A connection listening to [`CHANGES_CHANNEL`].
pub fn listen_for_changes(database_url: &str) -> Result<PgConnection, StoreError> {
    let mut conn = super::connect(database_url)?;
    diesel::sql_query("LISTEN posterior_profiles").execute(&mut conn)?;
    Ok(conn)
}

/// The changes announced since the last call: (instance, user keys) per notification.
pub fn take_changes(conn: &mut PgConnection) -> Result<Vec<(String, Vec<u128>)>, StoreError> {
    // A round trip makes libpq read what arrived.
    diesel::sql_query("SELECT 1").execute(conn)?;
    let mut out = Vec::new();
    for notification in conn.notifications_iter() {
        let notification = notification?;
        let mut parts = notification.payload.split(' ');
        let instance = parts.next().unwrap_or_default().to_string();
        let keys = parts
            .filter_map(|k| u128::from_str_radix(k, 16).ok())
            .collect();
        out.push((instance, keys));
    }
    Ok(out)
}
