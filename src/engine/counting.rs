//! What a metric counts of a user, and what that adds to its statistics: one rule for the
//! writer (event by event), the recomputation (from the raw rows) and erasure.
//!
//! An event counts when it has the metric's name and happened in the metric's window after
//! the user's assignment: `[assigned_at + from, assigned_at + window]` (and before
//! `assigned_at + to` for retention; `from` is 0 for the other types). A user's value is, by
//! type: 1 once anything counted (conversion, retention: these keep only their earliest counted
//! event, so later ones cost no write), the number of counted events or the
//! sum of their values (mean), capped at a value cap; 0 with nothing counted.
//!
//! The statistics hold what was added for each user (stored with the user's values), and every
//! change adds the difference from that: so they stay the sum of the stored values even when a
//! rule changes between the addition and the change.

use crate::store::batch::GoalRule;
use crate::store::metric_values::{CountingRow, MetricDelta, MetricValueRow};
use chrono::{DateTime, TimeDelta, Utc};

/// A metric's counting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Counting {
    pub event: String,
    /// Conversion and retention: a user's value is 1 once anything counted.
    pub once: bool,
    /// Mean: count the events instead of adding their values.
    pub of_count: bool,
    pub cap_value: Option<f64>,
    pub window: Option<TimeDelta>,
    pub from: TimeDelta,
    pub to: Option<TimeDelta>,
}

impl Counting {
    pub fn of_row(row: &CountingRow) -> Counting {
        Counting {
            event: row.event.clone(),
            once: matches!(row.metric_type.as_str(), "conversion" | "retention"),
            of_count: row.of_count,
            cap_value: row.cap_value,
            window: row.window_seconds.map(TimeDelta::seconds),
            from: TimeDelta::seconds(row.from_seconds.unwrap_or(0)),
            to: row.to_seconds.map(TimeDelta::seconds),
        }
    }

    /// The goal's rule, as the experiment row keeps it (`once` does not apply: the goal's
    /// progress is a conversion time and a total).
    pub fn of_goal(goal: &GoalRule) -> Counting {
        Counting {
            event: goal.goal_event.clone(),
            once: false,
            of_count: goal.goal_of_count,
            cap_value: goal.goal_cap_value,
            window: goal.goal_window_seconds.map(TimeDelta::seconds),
            from: TimeDelta::seconds(goal.goal_from_seconds.unwrap_or(0)),
            to: goal.goal_to_seconds.map(TimeDelta::seconds),
        }
    }

    /// Whether an event of `name` that happened at `at` counts for a user assigned at
    /// `assigned_at`.
    pub fn counts(&self, name: &str, assigned_at: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        name == self.event
            && at >= assigned_at + self.from
            && self.window.is_none_or(|w| at <= assigned_at + w)
            && self.to.is_none_or(|t| at < assigned_at + t)
    }

    /// Counts one event that [`Counting::counts`] takes; returns whether what is stored
    /// changed. A once-metric (conversion, retention) keeps one event, its earliest: later
    /// ones change nothing, so a user who already counted costs the writer no write.
    pub fn add(&self, counted: &mut Counted, value: Option<f64>, at: DateTime<Utc>) -> bool {
        if !self.once {
            counted.add(value, at);
            return true;
        }
        if counted.events > 0 && counted.first_at.is_some_and(|first| first <= at) {
            return false;
        }
        counted.events = 1;
        counted.first_at = Some(at);
        true
    }

    /// A user's value from what was counted.
    pub fn value(&self, counted: &Counted) -> f64 {
        if counted.events == 0 {
            return 0.0;
        }
        let raw = if self.once {
            1.0
        } else if self.of_count {
            counted.events as f64
        } else {
            counted.value_sum
        };
        self.capped(raw)
    }

    /// A per-user total held to the value cap.
    pub fn capped(&self, total: f64) -> f64 {
        self.cap_value.map_or(total, |c| total.min(c))
    }

    /// A user's value in the statistics: `None` with nothing counted (no row, not a user
    /// with a value).
    pub fn held(&self, counted: &Counted) -> Option<f64> {
        (counted.events > 0).then(|| self.value(counted))
    }
}

/// What the statistics gain when a user's held value goes from `before` to `after` (`None`:
/// no value).
pub fn delta(before: Option<f64>, after: Option<f64>) -> MetricDelta {
    let (x0, x1) = (before.unwrap_or(0.0), after.unwrap_or(0.0));
    MetricDelta {
        users: i64::from(after.is_some()) - i64::from(before.is_some()),
        total: x1 - x0,
        total_sq: x1 * x1 - x0 * x0,
    }
}

/// What a metric has counted of one user.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counted {
    pub events: i64,
    pub value_sum: f64,
    pub first_at: Option<DateTime<Utc>>,
}

impl Counted {
    pub fn of_row(row: &MetricValueRow) -> Counted {
        Counted {
            events: row.events,
            value_sum: row.value_sum,
            first_at: row.first_at,
        }
    }

    /// Counts one event (its value, when it has one).
    pub fn add(&mut self, value: Option<f64>, at: DateTime<Utc>) {
        self.events += 1;
        self.value_sum += value.unwrap_or(0.0);
        self.first_at = Some(self.first_at.map_or(at, |t| t.min(at)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    fn rule(kind: &str) -> Counting {
        Counting::of_row(&CountingRow {
            experiment_id: 1,
            metric_id: 1,
            metric_type: kind.into(),
            event: "buy".into(),
            of_count: false,
            cap_value: None,
            window_seconds: Some(600),
            from_seconds: None,
            to_seconds: None,
        })
    }

    #[test]
    fn windows_are_closed_at_both_ends_and_retention_is_half_open() {
        let c = rule("conversion");
        assert!(c.counts("buy", at(0), at(0)));
        assert!(c.counts("buy", at(0), at(10)));
        assert!(!c.counts("buy", at(0), at(11)));
        assert!(!c.counts("buy", at(5), at(4)));
        assert!(!c.counts("view", at(0), at(1)));
        let r = Counting {
            from: TimeDelta::minutes(2),
            to: Some(TimeDelta::minutes(5)),
            window: None,
            ..rule("retention")
        };
        assert!(!r.counts("buy", at(0), at(1)));
        assert!(r.counts("buy", at(0), at(2)));
        assert!(r.counts("buy", at(0), at(4)));
        assert!(!r.counts("buy", at(0), at(5)));
    }

    #[test]
    fn values_and_deltas() {
        let mean = Counting {
            cap_value: Some(100.0),
            ..rule("mean")
        };
        let mut counted = Counted::default();
        counted.add(Some(60.0), at(1));
        let before = counted;
        counted.add(Some(60.0), at(0));
        assert_eq!(counted.first_at, Some(at(0)));
        assert_eq!(mean.value(&counted), 100.0);
        let d = delta(mean.held(&before), mean.held(&counted));
        assert_eq!(
            (d.users, d.total, d.total_sq),
            (0, 40.0, 100.0 * 100.0 - 3600.0)
        );
        let conversion = rule("conversion");
        // A once-metric keeps its earliest event: a later one changes nothing.
        let mut once = Counted::default();
        assert!(conversion.add(&mut once, None, at(2)));
        assert!(!conversion.add(&mut once, None, at(3)));
        assert!(conversion.add(&mut once, None, at(1)));
        assert_eq!((once.events, once.first_at), (1, Some(at(1))));
        let d = delta(None, conversion.held(&before));
        assert_eq!((d.users, d.total, d.total_sq), (1, 1.0, 1.0));
        assert_eq!(
            delta(conversion.held(&before), conversion.held(&counted)),
            MetricDelta::default()
        );
        // What was held, not what the rule says now, is what a change starts from.
        assert_eq!(delta(Some(7.0), Some(2.0)).total, -5.0);
    }
}
