//! The `assignments` data set: one row per enrolled user, with what an off-policy evaluation
//! needs: time, variant, propensity (the probability the policy gave that variant then), the
//! attributes targeting saw, and the outcome (`converted`, `converted_at`, `value`).
//! Contextual experiments add the user's `context`.

use super::format::{Column, Encoder, fixed, number, time};
use super::paging::KeysetPages;
use super::selection::Selection;
use crate::engine::context;
use crate::store::StoreError;
use crate::store::export::{self as rows, AssignmentRow};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use serde_json::Value;

pub(super) struct Assignments<'a>(pub(super) &'a Selection<'a>);

impl KeysetPages for Assignments<'_> {
    type Row = AssignmentRow;
    type Position = (DateTime<Utc>, String);
    const PAGE_ROWS: i64 = super::selection::PAGE_ROWS;

    fn columns(&self) -> Vec<Column> {
        let mut columns = fixed(["experiment", "user_id", "variant"]);
        columns.extend(self.0.factor_columns());
        columns.extend(fixed([
            "assigned_at",
            "propensity",
            "attributes",
            "converted",
            "converted_at",
            "value",
        ]));
        if !self.0.experiment.spec.context_names().is_empty() {
            columns.push("context".into());
        }
        columns
    }

    fn page(
        &self,
        conn: &mut PgConnection,
        after: Option<&Self::Position>,
    ) -> Result<Vec<AssignmentRow>, StoreError> {
        let Selection {
            experiment, range, ..
        } = self.0;
        rows::assignments_page(conn, experiment.id, *range, after, Self::PAGE_ROWS)
    }

    fn position(row: &AssignmentRow) -> Self::Position {
        (row.assigned_at, row.user_id.clone())
    }

    fn encode(&self, r: &AssignmentRow, encoder: &mut Encoder) {
        let selection = self.0;
        let user = Value::String(r.user_id.clone());
        let variant = Value::String(selection.variant_key(r.variant_id));
        let assigned_at = time(r.assigned_at);
        let propensity = number(r.propensity);
        let converted = Value::Bool(r.converted_at.is_some());
        let converted_at = r.converted_at.map_or(Value::Null, time);
        let value = number(r.value);
        let context = r.context_key.as_deref().map_or(Value::Null, |k| {
            Value::Object(context::context_object(
                &selection.experiment.spec.context_names(),
                k,
            ))
        });
        let levels = selection.levels(r.variant_id);
        // Without a context the encoder has no `context` column, and leaves the last cell out.
        encoder.write(
            [&selection.key, &user, &variant]
                .into_iter()
                .chain(levels)
                .chain([
                    &assigned_at,
                    &propensity,
                    &r.attributes,
                    &converted,
                    &converted_at,
                    &value,
                    &context,
                ]),
        );
    }
}
