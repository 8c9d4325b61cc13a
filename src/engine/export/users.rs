//! The `users` data set: one row per assigned user with their variant, assignment time and
//! context, and each metric's per-user value as the server holds it, so that an analyst can
//! recompute every figure of the results. A column per metric the experiment keeps values
//! of (by key, alphabetical: its declared metrics and its ratios' parts; a ratio is its
//! parts' sums divided); `goal` for the inline goal (1/0 for a conversion goal, the value for
//! a revenue goal). A user with nothing counted has 0. Values are before a percentile cap
//! (the cap is a quantile of these very values).

use super::format::{Column, Encoder, fixed, number, time};
use super::paging::KeysetPages;
use super::selection::Selection;
use crate::domain::GoalMetric;
use crate::engine::context;
use crate::store::StoreError;
use crate::store::export::{self as rows, AssignmentRow};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use serde_json::Value;
use std::collections::HashMap;

pub(super) struct Users<'a> {
    selection: &'a Selection<'a>,
    /// (id, key) of the metrics with per-user values.
    metrics: Vec<(i64, String)>,
    /// The inline goal, when the experiment has no library goal.
    inline_goal: Option<GoalMetric>,
}

impl<'a> Users<'a> {
    pub(super) fn new(
        conn: &mut PgConnection,
        selection: &'a Selection<'a>,
    ) -> Result<Users<'a>, StoreError> {
        let experiment = selection.experiment;
        Ok(Users {
            selection,
            metrics: rows::per_user_metrics(conn, experiment.id)?,
            inline_goal: experiment
                .spec
                .metrics
                .goal
                .is_none()
                .then_some(experiment.spec.goal.metric),
        })
    }
}

/// An assigned user and their value of each metric, in column order.
pub(super) struct UserRow {
    assignment: AssignmentRow,
    values: Vec<f64>,
}

impl KeysetPages for Users<'_> {
    type Row = UserRow;
    type Position = (DateTime<Utc>, String);
    const PAGE_ROWS: i64 = super::selection::PAGE_ROWS;

    fn columns(&self) -> Vec<Column> {
        let mut columns = fixed(["experiment", "user_id", "variant"]);
        columns.extend(self.selection.factor_columns());
        columns.extend(fixed(["assigned_at", "context"]));
        if self.inline_goal.is_some() {
            columns.push("goal".into());
        }
        columns.extend(
            self.metrics
                .iter()
                .map(|(_, key)| Column::Owned(key.clone())),
        );
        columns
    }

    fn page(
        &self,
        conn: &mut PgConnection,
        after: Option<&Self::Position>,
    ) -> Result<Vec<UserRow>, StoreError> {
        let Selection {
            experiment, range, ..
        } = self.selection;
        let page = rows::assignments_page(conn, experiment.id, *range, after, Self::PAGE_ROWS)?;
        let users: Vec<&str> = page.iter().map(|a| a.user_id.as_str()).collect();
        let ids: Vec<i64> = self.metrics.iter().map(|m| m.0).collect();
        let column_of: HashMap<i64, usize> =
            ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let mut values: HashMap<String, Vec<f64>> = HashMap::new();
        if !ids.is_empty() {
            for (user, metric, value) in rows::user_values(conn, experiment.id, &ids, &users)? {
                values.entry(user).or_insert_with(|| vec![0.0; ids.len()])[column_of[&metric]] =
                    value;
            }
        }
        Ok(page
            .into_iter()
            .map(|assignment| UserRow {
                values: values
                    .remove(&assignment.user_id)
                    .unwrap_or_else(|| vec![0.0; ids.len()]),
                assignment,
            })
            .collect())
    }

    fn position(row: &UserRow) -> Self::Position {
        (row.assignment.assigned_at, row.assignment.user_id.clone())
    }

    fn encode(&self, row: &UserRow, encoder: &mut Encoder) {
        let selection = self.selection;
        let a = &row.assignment;
        let context = a.context_key.as_deref().map_or(Value::Null, |k| {
            Value::Object(context::context_object(
                &selection.experiment.spec.context_names(),
                k,
            ))
        });
        let mut cells = vec![
            selection.key.clone(),
            Value::String(a.user_id.clone()),
            Value::String(selection.variant_key(a.variant_id)),
        ];
        cells.extend_from_slice(selection.levels(a.variant_id));
        cells.extend([time(a.assigned_at), context]);
        match self.inline_goal {
            Some(GoalMetric::Conversion) => {
                cells.push(Value::from(u8::from(a.converted_at.is_some())));
            }
            Some(GoalMetric::Revenue) => cells.push(number(a.value)),
            None => {}
        }
        cells.extend(row.values.iter().map(|&v| number(v)));
        encoder.write(&cells);
    }
}
