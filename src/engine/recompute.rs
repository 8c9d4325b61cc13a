//! Recomputing metric values from the raw rows: for a metric added to an experiment that
//! already has data, and for every experiment using a metric whose definition changed.
//!
//! The raw assignment and event rows are the truth. A background step finds the tracked
//! metrics whose values lag their definition and walks the experiment's assignments a page
//! of users at a time. Each page is one transaction that locks the users' assignment rows
//! (as the writer does), counts their raw events under the current rule, stores the new
//! values and adds the difference to the statistics. So the statistics always equal the sum
//! of the stored per-user values, events arriving meanwhile add on top of recomputed values,
//! and two instances recomputing at once cannot count a user twice. When the metric is the
//! source of the experiment's goal, the goal's progress on the assignment rows (and the
//! bandit's statistics) is recomputed in the same transaction. Until every page is done the
//! results say the metric is being computed.

use super::counting::{self, Counted, Counting};
use super::{Engine, EngineError};
use crate::store::batch::{self, GoalProgress, StatDelta, StatDeltas};
use crate::store::metric_values::{self, AssignedUser, MetricDeltas, MetricValueRow};
use crate::store::{Connection, StoreError};
use chrono::{DateTime, Utc};
use diesel::Connection as _;
use std::collections::HashMap;

/// Users recomputed per transaction: short transactions, so the writer waits little.
const PAGE_USERS: i64 = 1000;
/// The statistics shard the recomputation adds to (the writers use 0 to 31).
const RECOMPUTE_SHARD: i16 = batch::STAT_SHARDS;

impl Engine {
    /// Brings every tracked metric whose values lag its definition up to date. Returns how
    /// many (experiment, metric) pairs it completed.
    pub async fn recompute_metrics(&self) -> Result<usize, EngineError> {
        let stale = self
            .store()
            .run(metric_values::stale_tracked_metrics)
            .await?;
        for &(experiment_id, metric_id, version) in &stale {
            let mut after = String::new();
            loop {
                let from = after.clone();
                let last = self
                    .store()
                    .run(move |conn| {
                        conn.transaction(|conn| {
                            recompute_page(conn, experiment_id, metric_id, &from)
                        })
                    })
                    .await?;
                match last {
                    Some(last) => after = last,
                    None => break,
                }
            }
            self.store()
                .run(move |conn| {
                    metric_values::mark_computed(conn, experiment_id, metric_id, version)
                })
                .await?;
        }
        if !stale.is_empty() {
            // Bandits learn from the goal's statistics: let them see recomputed ones now.
            self.refresh().await?;
        }
        Ok(stale.len())
    }
}

/// Recomputes one page of users after `after`; the last user of the page, or `None` when
/// there are no more (or the metric is no longer tracked).
fn recompute_page(
    conn: &mut Connection,
    experiment_id: i64,
    metric_id: i64,
    after: &str,
) -> Result<Option<String>, StoreError> {
    let Some(rule_row) = metric_values::counting_rule(conn, experiment_id, metric_id)? else {
        return Ok(None);
    };
    let Some(scope) = metric_values::recompute_scope(conn, experiment_id, metric_id)? else {
        return Ok(None);
    };
    let page = metric_values::lock_assignment_page(conn, experiment_id, after, PAGE_USERS)?;
    let Some(last) = page.last().map(|u| u.user_id.clone()) else {
        return Ok(None);
    };
    let rule = Counting::of_row(&rule_row);
    let users: Vec<&str> = page.iter().map(|u| u.user_id.as_str()).collect();
    let events = metric_values::raw_events(conn, &users, &rule.event, scope.stopped_at)?;
    let by_user: HashMap<&str, &AssignedUser> =
        page.iter().map(|u| (u.user_id.as_str(), u)).collect();

    // The metric's values.
    let mut fresh: HashMap<&str, Counted> = HashMap::new();
    for e in &events {
        let user = by_user[e.user_id.as_str()];
        if rule.counts(&rule.event, user.assigned_at, e.occurred_at) {
            rule.add(
                fresh.entry(&user.user_id).or_default(),
                e.value,
                e.occurred_at,
            );
        }
    }
    let keys: Vec<(i64, i64, &str)> = users
        .iter()
        .map(|u| (experiment_id, metric_id, *u))
        .collect();
    let stored: HashMap<String, (Counted, f64)> = metric_values::metric_values_of(conn, &keys)?
        .iter()
        .map(|r| (r.user_id.clone(), (Counted::of_row(r), r.value)))
        .collect();
    let mut deltas = MetricDeltas::default();
    let mut changed = Vec::new();
    for user in &page {
        let old = stored.get(&user.user_id).copied();
        let new = fresh
            .get(user.user_id.as_str())
            .copied()
            .unwrap_or_default();
        let (held_before, held_after) = (old.map(|(_, v)| v), rule.held(&new));
        let unchanged = match old {
            Some((counted, _)) => counted == new && held_before == held_after,
            None => new.events == 0,
        };
        if unchanged {
            continue;
        }
        let d = counting::delta(held_before, held_after);
        let total = deltas
            .entry((experiment_id, metric_id, user.variant_id))
            .or_default();
        total.users += d.users;
        total.total += d.total;
        total.total_sq += d.total_sq;
        changed.push(MetricValueRow {
            experiment_id,
            metric_id,
            user_id: user.user_id.clone(),
            variant_id: user.variant_id,
            assigned_at: user.assigned_at,
            events: new.events,
            value_sum: new.value_sum,
            first_at: new.first_at,
            value: held_after.unwrap_or(0.0),
        });
    }
    metric_values::save_metric_values(conn, &changed.iter().collect::<Vec<_>>())?;
    metric_values::apply_metric_deltas(conn, &deltas, RECOMPUTE_SHARD)?;

    if scope.goal_source {
        recompute_goal(conn, experiment_id, &page, &events, &scope.goal)?;
    }
    Ok(Some(last))
}

/// Recomputes the goal's progress (first conversion, total) of a page of users from their
/// raw goal events, and moves the goal's statistics by the difference.
fn recompute_goal(
    conn: &mut Connection,
    experiment_id: i64,
    page: &[AssignedUser],
    events: &[metric_values::RawEvent],
    goal: &batch::GoalRule,
) -> Result<(), StoreError> {
    let rule = Counting::of_goal(goal);
    let mut fresh: HashMap<&str, (Option<DateTime<Utc>>, f64)> = HashMap::new();
    let assigned: HashMap<&str, &AssignedUser> =
        page.iter().map(|u| (u.user_id.as_str(), u)).collect();
    for e in events {
        let user = assigned[e.user_id.as_str()];
        if !rule.counts(&rule.event, user.assigned_at, e.occurred_at) {
            continue;
        }
        let (first, total) = fresh.entry(&user.user_id).or_insert((None, 0.0));
        *first = Some(first.map_or(e.occurred_at, |t| t.min(e.occurred_at)));
        *total += if rule.of_count {
            1.0
        } else {
            e.value.unwrap_or(0.0)
        };
    }
    let mut deltas = StatDeltas::default();
    let mut changed = Vec::new();
    for user in page {
        let (converted_at, value) = fresh
            .get(user.user_id.as_str())
            .copied()
            .unwrap_or((None, 0.0));
        let (before, after) = (user.counted_value, rule.capped(value));
        if converted_at == user.converted_at && value == user.value && before == after {
            continue;
        }
        let conversions =
            i64::from(converted_at.is_some()) - i64::from(user.converted_at.is_some());
        let change = |d: &mut StatDelta| {
            d.conversions += conversions;
            d.value_sum += after - before;
            d.value_sum_sq += after * after - before * before;
        };
        deltas.add(experiment_id, user.variant_id, user.assigned_at, change);
        if let Some(context) = &user.context_key {
            deltas.add_context(experiment_id, user.variant_id, context, change);
        }
        changed.push(GoalProgress {
            experiment_id,
            user_id: user.user_id.clone(),
            variant_id: user.variant_id,
            assigned_at: user.assigned_at,
            converted_at,
            value,
            counted_value: after,
            context_key: user.context_key.clone(),
            goal: goal.clone(),
        });
    }
    batch::save_goal_progress(conn, &changed.iter().collect::<Vec<_>>())?;
    batch::apply_stat_deltas(conn, &deltas, RECOMPUTE_SHARD)
}
