//! Attribution: which experiments a new event counts for, and how it changes their statistics.
//!
//! An event counts for an experiment when its name is the experiment's goal and the user was
//! assigned before it happened. A user converts once (the first such event); values add up.

use crate::store::batch::{GoalProgress, NewEvent, StatDeltas};
use std::collections::HashMap;

/// Applies `events` (new ones only, never duplicates) to the users' `progress`, recording the
/// statistics changes in `deltas`. Returns the indices of the progress that changed.
pub fn attribute(
    progress: &mut [GoalProgress],
    events: &[&NewEvent],
    deltas: &mut StatDeltas,
) -> Vec<usize> {
    let mut by_user: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, o) in progress.iter().enumerate() {
        by_user.entry(o.user_id.as_str()).or_default().push(i);
    }
    let mut ordered: Vec<&NewEvent> = events.to_vec();
    ordered.sort_by_key(|e| e.occurred_at);

    let mut changed = vec![false; progress.len()];
    let mut updates: Vec<(usize, &NewEvent)> = Vec::new();
    for event in ordered {
        for &i in by_user.get(event.user_id.as_str()).into_iter().flatten() {
            let o = &progress[i];
            if o.goal_event == event.name && o.assigned_at <= event.occurred_at {
                updates.push((i, event));
            }
        }
    }
    for (i, event) in updates {
        let o = &mut progress[i];
        let first_conversion = o.converted_at.is_none();
        if o.converted_at.is_none_or(|t| event.occurred_at < t) {
            o.converted_at = Some(event.occurred_at);
        }
        let added = event.value.unwrap_or(0.0);
        let before = o.value;
        let after = before + added;
        o.value = after;
        let change = |d: &mut crate::store::batch::StatDelta| {
            d.conversions += i64::from(first_conversion);
            d.value_sum += added;
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
            goal_event: goal.into(),
            context_key: None,
        }
    }

    fn event(user: &str, name: &str, minute: i64, value: Option<f64>) -> NewEvent {
        NewEvent {
            event_id: format!("{user}-{name}-{minute}"),
            user_id: user.into(),
            name: name.into(),
            value,
            occurred_at: at(minute),
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
        let events = [event("u", "buy", 5, Some(1.0))];
        let refs: Vec<&NewEvent> = events.iter().collect();
        let mut deltas = StatDeltas::default();
        attribute(&mut progress, &refs, &mut deltas);
        let t = deltas.totals()[&10];
        assert_eq!(t.conversions, 0);
        assert_eq!(t.value_sum_sq, 16.0 - 9.0);
    }
}
