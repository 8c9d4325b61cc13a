//! A user's profile: what Posterior knows of them from their events, as plain data.
//!
//! Per event name: all-time count and value sum, first and last time, an hour-of-day
//! histogram (UTC), and daily buckets of the last [`KEPT_DAYS`] days from which the rolling
//! windows are read. Pure: the store fills it, behavioral targeting and the API read it.
//!
//! Windows are whole UTC days. A window of `n` days holds the buckets of today and the
//! `n - 1` days before it: the bucket at the edge (the day `n` days ago, partly inside the
//! last `n × 24` hours) is left out, so `1` day is "since midnight UTC" and no window ever
//! counts an event older than `n × 24` hours.
//!
//! Windows shorter than a day are exact to the second: they are read from the latest
//! [`RECENT_KEPT`] moments of each name (a moment: the events of one name a user sent in one
//! write, usually one event, stamped with the latest). A user with more moments than that
//! inside a short window counts at least the moments kept (a lower bound).

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// How many daily buckets a profile keeps: the longest rolling window.
pub const KEPT_DAYS: u32 = 90;

/// The rolling windows the API reports, in days, with their names.
pub const WINDOWS: [(&str, u32); 4] = [("1d", 1), ("7d", 7), ("30d", 30), ("90d", 90)];

/// Days since 1970-01-01 (UTC) of an instant: the key of its daily bucket.
pub fn day_number(t: DateTime<Utc>) -> i32 {
    t.timestamp().div_euclid(86_400) as i32
}

/// Whether an event at `t` still has a daily bucket at `now` (older ones count only in the
/// all-time figures and the hours).
pub fn has_bucket(t: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    day_number(t) > day_number(now) - KEPT_DAYS as i32
}

/// How many of the latest moments of each name a profile keeps.
pub const RECENT_KEPT: usize = 8;

/// The events of one name a user sent in one write (usually one), at the latest's time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moment {
    pub at: DateTime<Utc>,
    pub count: i64,
    pub value_sum: f64,
}

/// The hour of an hour-of-day histogram with the most events; of a tie, the earliest.
/// `None` without events.
pub fn busiest_hour(hours: &[i64; 24]) -> Option<u8> {
    let (hour, &count) = hours
        .iter()
        .enumerate()
        .rev()
        .max_by_key(|(_, count)| **count)?;
    (count > 0).then_some(hour as u8)
}

/// One day of one event name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayBucket {
    /// Days since 1970-01-01 (UTC), see [`day_number`].
    pub day: i32,
    pub count: i64,
    pub value_sum: f64,
}

/// What a user's events of one name add up to.
#[derive(Debug, Clone, PartialEq)]
pub struct EventHistory {
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    /// All time.
    pub count: i64,
    /// All time (events without a value add nothing).
    pub value_sum: f64,
    /// The daily buckets kept (any order; days older than [`KEPT_DAYS`] are ignored).
    pub days: Vec<DayBucket>,
    /// Events per hour of the day, UTC (`hours[19]`: between 19:00 and 20:00).
    pub hours: [i64; 24],
    /// The latest moments (at most [`RECENT_KEPT`], any order).
    pub recent: Vec<Moment>,
    /// The latest time of a moment no longer kept; `None` while every moment is.
    pub recent_since: Option<DateTime<Utc>>,
}

impl EventHistory {
    fn within(&self, days: u32, now: DateTime<Utc>) -> impl Iterator<Item = &DayBucket> {
        let today = day_number(now);
        let days = days.min(KEPT_DAYS) as i32;
        self.days
            .iter()
            .filter(move |b| b.day <= today && b.day > today - days)
    }

    /// Events in the last `days` days (see the module's note on the edge).
    pub fn count_within(&self, days: u32, now: DateTime<Utc>) -> i64 {
        self.within(days, now).map(|b| b.count).sum()
    }

    /// Their values summed.
    pub fn value_sum_within(&self, days: u32, now: DateTime<Utc>) -> f64 {
        self.within(days, now).map(|b| b.value_sum).sum()
    }

    fn since(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> impl Iterator<Item = &Moment> {
        self.recent
            .iter()
            .filter(move |m| m.at > start && m.at <= now)
    }

    /// Events after `start` (and not after `now`), from the moments kept: exact when
    /// `start` is not before [`Self::recent_since`], otherwise at least that many.
    pub fn count_since(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
        self.since(start, now).map(|m| m.count).sum()
    }

    /// Their values summed (exact under the same condition).
    pub fn value_sum_since(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
        self.since(start, now).map(|m| m.value_sum).sum()
    }

    /// The hour of day (UTC) with the most events (see [`busiest_hour`]).
    pub fn best_hour(&self) -> Option<u8> {
        busiest_hour(&self.hours)
    }
}

/// Everything known of one user, by event name.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub user_id: String,
    pub events: BTreeMap<String, EventHistory>,
}

impl Profile {
    /// The user's first event (of any name).
    pub fn first_seen(&self) -> Option<DateTime<Utc>> {
        self.events.values().map(|e| e.first_at).min()
    }

    /// The user's latest event (of any name).
    pub fn last_seen(&self) -> Option<DateTime<Utc>> {
        self.events.values().map(|e| e.last_at).max()
    }

    /// When the user last sent `event`; `None` if never.
    pub fn last_at(&self, event: &str) -> Option<DateTime<Utc>> {
        self.events.get(event).map(|e| e.last_at)
    }

    /// `event`s in the last `days` days (at most [`KEPT_DAYS`]); 0 if never sent.
    pub fn count_within(&self, event: &str, days: u32, now: DateTime<Utc>) -> i64 {
        self.events
            .get(event)
            .map_or(0, |e| e.count_within(days, now))
    }

    /// The values of those events summed.
    pub fn value_sum_within(&self, event: &str, days: u32, now: DateTime<Utc>) -> f64 {
        self.events
            .get(event)
            .map_or(0.0, |e| e.value_sum_within(days, now))
    }

    /// Whole days (of 24 h) since the first event; `None` for a profile without events.
    pub fn days_since_first_seen(&self, now: DateTime<Utc>) -> Option<i64> {
        self.first_seen().map(|t| (now - t).num_days())
    }

    /// The hour of day (UTC) at which the user most often sent `event`.
    pub fn best_hour(&self, event: &str) -> Option<u8> {
        self.events.get(event).and_then(EventHistory::best_hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn at(day: i32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, hour, 0, 0).unwrap() + TimeDelta::days(day.into())
    }

    fn history(events: &[(i32, u32, f64)], now: DateTime<Utc>) -> EventHistory {
        let mut h = EventHistory {
            first_at: events.iter().map(|e| at(e.0, e.1)).min().unwrap(),
            last_at: events.iter().map(|e| at(e.0, e.1)).max().unwrap(),
            count: events.len() as i64,
            value_sum: events.iter().map(|e| e.2).sum(),
            days: Vec::new(),
            hours: [0; 24],
            recent: Vec::new(),
            recent_since: None,
        };
        for &(day, hour, value) in events {
            let t = at(day, hour);
            h.hours[hour as usize] += 1;
            h.recent.push(Moment {
                at: t,
                count: 1,
                value_sum: value,
            });
            if !has_bucket(t, now) {
                continue;
            }
            match h.days.iter_mut().find(|b| b.day == day_number(t)) {
                Some(b) => {
                    b.count += 1;
                    b.value_sum += value;
                }
                None => h.days.push(DayBucket {
                    day: day_number(t),
                    count: 1,
                    value_sum: value,
                }),
            }
        }
        h
    }

    #[test]
    fn windows_count_whole_days_and_leave_the_edge_out() {
        let now = at(0, 12);
        let opens = history(
            &[
                (0, 1, 1.0),
                (0, 11, 2.0),
                (-1, 23, 4.0),
                (-6, 0, 8.0),
                (-7, 23, 16.0),
            ],
            now,
        );
        let profile = Profile {
            user_id: "u".into(),
            events: BTreeMap::from([("open".to_string(), opens)]),
        };
        assert_eq!(profile.count_within("open", 1, now), 2);
        assert_eq!(profile.value_sum_within("open", 1, now), 3.0);
        assert_eq!(profile.count_within("open", 2, now), 3);
        // Six days ago at midnight is inside 7 days; seven days ago at 23:00 (less than
        // 7 × 24 h ago) is in the edge bucket, left out.
        assert_eq!(profile.count_within("open", 7, now), 4);
        assert_eq!(profile.value_sum_within("open", 7, now), 15.0);
        assert_eq!(profile.count_within("open", 8, now), 5);
        assert_eq!(profile.count_within("buy", 7, now), 0);
        // The next day, today's buckets are yesterday's.
        assert_eq!(profile.count_within("open", 1, at(1, 0)), 0);
        assert_eq!(profile.count_within("open", 2, at(1, 0)), 2);
    }

    #[test]
    fn short_windows_are_exact_to_the_second() {
        let now = at(0, 12);
        let h = history(&[(0, 11, 1.0), (0, 10, 2.0), (-1, 12, 4.0)], now);
        let ago = |s: i64| now - TimeDelta::seconds(s);
        // The edge itself is outside: "within 1h" means after one hour ago.
        assert_eq!(h.count_since(ago(3600), now), 0);
        assert_eq!(h.count_since(ago(3601), now), 1);
        assert_eq!(h.count_since(ago(7200), now), 1);
        assert_eq!(h.count_since(ago(7201), now), 2);
        assert_eq!(h.value_sum_since(ago(7201), now), 3.0);
        assert_eq!(h.count_since(ago(86_400), now), 2);
        assert_eq!(h.count_since(ago(86_401), now), 3);
        // A moment after now (another clock) is not counted yet.
        assert_eq!(h.count_since(ago(7201), ago(3601)), 1);
    }

    #[test]
    fn old_events_count_only_all_time_and_in_the_hours() {
        let now = at(0, 12);
        let h = history(&[(-89, 5, 1.0), (-90, 5, 2.0), (-400, 6, 3.0)], now);
        assert_eq!(h.count_within(90, now), 1);
        assert_eq!(h.value_sum_within(90, now), 1.0);
        // A window longer than the buckets kept reads what is kept.
        assert_eq!(h.count_within(365, now), 1);
        assert_eq!(h.count, 3);
        assert_eq!(h.value_sum, 6.0);
        assert_eq!(h.hours[5], 2);
        assert_eq!(h.hours[6], 1);
        // A bucket dated after now (another instance's clock) is not counted yet.
        assert_eq!(h.count_within(90, at(-200, 0)), 0);
    }

    #[test]
    fn first_last_and_best_hour() {
        let now = at(0, 12);
        let profile = Profile {
            user_id: "u".into(),
            events: BTreeMap::from([
                (
                    "open".to_string(),
                    history(&[(-3, 19, 0.0), (-2, 19, 0.0), (-1, 8, 0.0)], now),
                ),
                ("buy".to_string(), history(&[(-10, 9, 5.0)], now)),
                // A tie: the earlier hour wins.
                ("tie".to_string(), history(&[(0, 7, 0.0), (0, 3, 0.0)], now)),
            ]),
        };
        assert_eq!(profile.first_seen(), Some(at(-10, 9)));
        assert_eq!(profile.last_seen(), Some(at(0, 7)));
        assert_eq!(profile.last_at("open"), Some(at(-1, 8)));
        assert_eq!(profile.last_at("none"), None);
        assert_eq!(profile.days_since_first_seen(now), Some(10));
        assert_eq!(profile.best_hour("open"), Some(19));
        assert_eq!(profile.best_hour("tie"), Some(3));
        assert_eq!(profile.best_hour("none"), None);
        let empty = Profile {
            user_id: "u".into(),
            events: BTreeMap::new(),
        };
        assert_eq!(empty.days_since_first_seen(now), None);
        assert_eq!(empty.first_seen(), None);
    }

    #[test]
    fn day_numbers_are_utc_days_since_1970() {
        assert_eq!(
            day_number(Utc.with_ymd_and_hms(1970, 1, 1, 23, 59, 59).unwrap()),
            0
        );
        assert_eq!(
            day_number(Utc.with_ymd_and_hms(1970, 1, 2, 0, 0, 0).unwrap()),
            1
        );
        assert_eq!(
            day_number(Utc.with_ymd_and_hms(1969, 12, 31, 12, 0, 0).unwrap()),
            -1
        );
    }
}
