//! The `events` data set: the goal events of users assigned to the experiment, with the
//! user's variant and `after_assignment` (only those count in the results).

use super::format::{Column, Encoder, fixed, number, time};
use super::paging::KeysetPages;
use super::selection::Selection;
use crate::store::StoreError;
use crate::store::export::{self as rows, EventRow};
use diesel::pg::PgConnection;
use serde_json::Value;

pub(super) struct GoalEvents<'a>(pub(super) &'a Selection<'a>);

impl KeysetPages for GoalEvents<'_> {
    type Row = EventRow;
    /// (user id, event id, time): unique among the events (a (user, event id) is unique
    /// within a day's partition only).
    type Position = (String, String, chrono::DateTime<chrono::Utc>);
    const PAGE_ROWS: i64 = super::selection::PAGE_ROWS;

    fn columns(&self) -> Vec<Column> {
        let mut columns = fixed([
            "experiment",
            "event_id",
            "user_id",
            "name",
            "value",
            "occurred_at",
            "received_at",
            "variant",
        ]);
        columns.extend(self.0.factor_columns());
        columns.extend(fixed(["assigned_at", "after_assignment"]));
        columns
    }

    fn page(
        &self,
        conn: &mut PgConnection,
        after: Option<&Self::Position>,
    ) -> Result<Vec<EventRow>, StoreError> {
        let Selection {
            experiment, range, ..
        } = self.0;
        let goal = experiment.spec.goal.event.as_str();
        rows::events_page(conn, experiment.id, goal, *range, after, Self::PAGE_ROWS)
    }

    fn position(row: &EventRow) -> Self::Position {
        (row.user_id.clone(), row.event_id.clone(), row.occurred_at)
    }

    fn encode(&self, r: &EventRow, encoder: &mut Encoder) {
        let mut cells = vec![
            self.0.key.clone(),
            Value::String(r.event_id.clone()),
            Value::String(r.user_id.clone()),
            Value::String(r.name.clone()),
            r.value.map_or(Value::Null, number),
            time(r.occurred_at),
            time(r.received_at),
            Value::String(self.0.variant_key(r.variant_id)),
        ];
        cells.extend_from_slice(self.0.levels(r.variant_id));
        cells.extend([
            time(r.assigned_at),
            Value::Bool(r.occurred_at >= r.assigned_at),
        ]);
        encoder.write(&cells);
    }
}
