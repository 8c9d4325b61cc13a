//! Attribution: which experiments a new event counts for, and how it changes their statistics.
//!
//! The goal: an event counts when the experiment's goal counting rule takes it (its name,
//! after the assignment, within the goal metric's window). A user converts once (the first
//! such event); values (or, for a mean of counts, events) add up, each user's total capped in
//! the statistics at the goal's value cap.
//!
//! Tracked metrics: each counts the events its rule takes (`counting`) into the user's
//! per-metric values; the statistics gain the change of the user's value.

use super::counting::{self, Counted, Counting};
#[cfg(test)]
use crate::store::batch::GoalRule;
use crate::store::batch::{GoalProgress, NewEvent, StatDelta, StatDeltas};
use crate::store::metric_values::{CountingRow, MetricDeltas, MetricValueRow};
use std::collections::HashMap;

/// Events in the order they happened (the order a user's first conversion depends on).
fn in_time_order<'a>(events: &[&'a NewEvent]) -> Vec<&'a NewEvent> {
    let mut ordered: Vec<&NewEvent> = events.to_vec();
    ordered.sort_by_key(|e| e.occurred_at);
    ordered
}

/// Applies `events` (new ones only, never duplicates) to the users' goal `progress`,
/// recording the statistics changes in `deltas`. Returns the indices of the progress that
/// changed.
pub fn attribute(
    progress: &mut [GoalProgress],
    events: &[&NewEvent],
    deltas: &mut StatDeltas,
) -> Vec<usize> {
    let mut by_user: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, o) in progress.iter().enumerate() {
        by_user.entry(o.user_id.as_str()).or_default().push(i);
    }
    let rules: Vec<Counting> = progress
        .iter()
        .map(|p| Counting::of_goal(&p.goal))
        .collect();
    let mut changed = vec![false; progress.len()];
    let mut updates: Vec<(usize, &NewEvent)> = Vec::new();
    for event in in_time_order(events) {
        for &i in by_user.get(event.user_id.as_str()).into_iter().flatten() {
            if rules[i].counts(&event.name, progress[i].assigned_at, event.occurred_at) {
                updates.push((i, event));
            }
        }
    }
    for (i, event) in updates {
        let rule = &rules[i];
        let o = &mut progress[i];
        let first_conversion = o.converted_at.is_none();
        if o.converted_at.is_none_or(|t| event.occurred_at < t) {
            o.converted_at = Some(event.occurred_at);
        }
        let added = if rule.of_count {
            1.0
        } else {
            event.value.unwrap_or(0.0)
        };
        let (before, after) = (o.counted_value, rule.capped(o.value + added));
        o.value += added;
        o.counted_value = after;
        let change = |d: &mut StatDelta| {
            d.conversions += i64::from(first_conversion);
            d.value_sum += after - before;
            d.value_sum_sq += after * after - before * before;
        };
        deltas.add(o.experiment_id, o.variant_id, o.assigned_at, change);
        if let Some(context) = &o.context_key {
            deltas.add_context(o.experiment_id, o.variant_id, context, change);
        }
        changed[i] = true;
    }
    changed
        .iter()
        .enumerate()
        .filter(|(_, c)| **c)
        .map(|(i, _)| i)
        .collect()
}

/// Applies `events` to the tracked metrics of the locked `progress` pairs: `rules` are the
/// counting rules of those experiments' metrics for these events' names, `stored` the users'
/// values so far. Returns the values that changed (to be saved) and records the statistics
/// changes in `deltas`.
pub fn attribute_metrics(
    progress: &[GoalProgress],
    rules: &[CountingRow],
    stored: Vec<MetricValueRow>,
    events: &[&NewEvent],
    deltas: &mut MetricDeltas,
) -> Vec<MetricValueRow> {
    let mut rules_of: HashMap<i64, Vec<(i64, Counting)>> = HashMap::new();
    for r in rules {
        rules_of
            .entry(r.experiment_id)
            .or_default()
            .push((r.metric_id, Counting::of_row(r)));
    }
    let mut values: HashMap<(i64, i64, String), MetricValueRow> = stored
        .into_iter()
        .map(|v| ((v.experiment_id, v.metric_id, v.user_id.clone()), v))
        .collect();
    let mut before: HashMap<(i64, i64, String), Option<f64>> = HashMap::new();
    let mut by_user: HashMap<&str, Vec<&GoalProgress>> = HashMap::new();
    for p in progress {
        by_user.entry(p.user_id.as_str()).or_default().push(p);
    }
    for event in in_time_order(events) {
        for p in by_user.get(event.user_id.as_str()).into_iter().flatten() {
            for (metric_id, rule) in rules_of.get(&p.experiment_id).into_iter().flatten() {
                if !rule.counts(&event.name, p.assigned_at, event.occurred_at) {
                    continue;
                }
                let key = (p.experiment_id, *metric_id, p.user_id.clone());
                let row = values.entry(key.clone()).or_insert_with(|| MetricValueRow {
                    experiment_id: p.experiment_id,
                    metric_id: *metric_id,
                    user_id: p.user_id.clone(),
                    variant_id: p.variant_id,
                    assigned_at: p.assigned_at,
                    events: 0,
                    value_sum: 0.0,
                    first_at: None,
                    value: 0.0,
                });
                let mut counted = Counted::of_row(row);
                if !rule.add(&mut counted, event.value, event.occurred_at) {
                    continue;
                }
                before
                    .entry(key)
                    .or_insert((row.events > 0).then_some(row.value));
                row.events = counted.events;
                row.value_sum = counted.value_sum;
                row.first_at = counted.first_at;
                row.value = rule.value(&counted);
            }
        }
    }
    let mut changed = Vec::with_capacity(before.len());
    for (key, old) in before {
        let row = values.remove(&key).expect("a counted value has its row");
        let d = counting::delta(old, Some(row.value));
        let total = deltas.entry((key.0, key.1, row.variant_id)).or_default();
        total.users += d.users;
        total.total += d.total;
        total.total_sq += d.total_sq;
        changed.push(row);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeDelta, Utc};

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    fn progress_of(experiment_id: i64, user: &str, goal: &str, assigned: i64) -> GoalProgress {
        GoalProgress {
            experiment_id,
            user_id: user.into(),
            variant_id: experiment_id * 10,
            assigned_at: at(assigned),
            converted_at: None,
            value: 0.0,
            counted_value: 0.0,
            context_key: None,
            goal: GoalRule {
                goal_event: goal.into(),
                ..GoalRule::default()
            },
        }
    }

    fn event(user: &str, name: &str, minute: i64, value: Option<f64>) -> NewEvent {
        NewEvent {
            event_id: format!("{user}-{name}-{minute}"),
            user_id: user.into(),
            name: name.into(),
            value,
            occurred_at: at(minute),
            stamped_by_server: false,
        }
    }

    #[test]
    fn counts_a_user_once_and_sums_values() {
        let mut progress = vec![progress_of(1, "u", "buy", 0)];
        let events = [
            event("u", "buy", 5, Some(10.0)),
            event("u", "buy", 6, Some(2.5)),
        ];
        let refs: Vec<&NewEvent> = events.iter().collect();
        let mut deltas = StatDeltas::default();
        assert_eq!(attribute(&mut progress, &refs, &mut deltas), vec![0]);
        let t = deltas.totals()[&10];
        assert_eq!(t.conversions, 1);
        assert_eq!(t.value_sum, 12.5);
        assert_eq!(t.value_sum_sq, 12.5 * 12.5);
        assert_eq!(progress[0].converted_at, Some(at(5)));
        assert_eq!(progress[0].value, 12.5);
        assert!(deltas.context_totals().is_empty());
    }

    #[test]
    fn a_contextual_user_counts_in_their_segment_too() {
        let mut progress = vec![progress_of(1, "u", "buy", 0)];
        progress[0].context_key = Some("[\"ios\"]".into());
        let events = [event("u", "buy", 5, Some(4.0))];
        let refs: Vec<&NewEvent> = events.iter().collect();
        let mut deltas = StatDeltas::default();
        attribute(&mut progress, &refs, &mut deltas);
        let (experiment, d) = deltas.context_totals()[&(10, "[\"ios\"]".to_string())];
        assert_eq!(experiment, 1);
        assert_eq!((d.conversions, d.value_sum, d.value_sum_sq), (1, 4.0, 16.0));
        assert_eq!(deltas.totals()[&10].conversions, 1);
    }

    #[test]
    fn ignores_events_before_assignment_and_other_goals() {
        let mut progress = vec![
            progress_of(1, "u", "buy", 10),
            progress_of(2, "u", "open", 0),
            progress_of(3, "v", "buy", 0),
        ];
        let events = [event("u", "buy", 5, None), event("u", "click", 20, None)];
        let refs: Vec<&NewEvent> = events.iter().collect();
        let mut deltas = StatDeltas::default();
        assert!(attribute(&mut progress, &refs, &mut deltas).is_empty());
        assert!(deltas.is_empty());
    }

    #[test]
    fn an_already_converted_user_adds_value_but_no_conversion() {
        let mut progress = vec![progress_of(1, "u", "buy", 0)];
        progress[0].converted_at = Some(at(1));
        progress[0].value = 3.0;
        progress[0].counted_value = 3.0;
        let events = [event("u", "buy", 5, Some(1.0))];
        let refs: Vec<&NewEvent> = events.iter().collect();
        let mut deltas = StatDeltas::default();
        attribute(&mut progress, &refs, &mut deltas);
        let t = deltas.totals()[&10];
        assert_eq!(t.conversions, 0);
        assert_eq!(t.value_sum_sq, 16.0 - 9.0);
    }
}
