//! What is stored of one user besides the profile, for the dashboard's user page: their
//! assignments with variants, their latest events, their holdout membership.

use super::StoreError;
use super::prepared::Prepared;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};

#[derive(Debug, Clone, QueryableByName)]
pub struct UserAssignment {
    #[diesel(sql_type = Text)]
    pub experiment: String,
    #[diesel(sql_type = Text)]
    pub variant: String,
    #[diesel(sql_type = Timestamptz)]
    pub assigned_at: DateTime<Utc>,
    /// When the goal counted the user (conversion goals).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub converted_at: Option<DateTime<Utc>>,
}

/// The user's assignments, oldest first.
pub fn user_assignments(
    conn: &mut PgConnection,
    user_id: &str,
) -> Result<Vec<UserAssignment>, StoreError> {
    Ok(Prepared::new(
        "SELECT x.key AS experiment, v.key AS variant, a.assigned_at, a.converted_at \
         FROM assignments a JOIN experiments x ON x.id = a.experiment_id JOIN variants v ON v.id = a.variant_id \
         WHERE a.user_id = $1 ORDER BY a.assigned_at, x.key",
    )
    .bind::<Text, _>(user_id)
    .load(conn)?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct StoredEvent {
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Double>)]
    pub value: Option<f64>,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
}

/// The user's `limit` latest events (raw events are kept as long as the retention setting
/// says; the profile keeps their sums longer).
pub fn recent_events(
    conn: &mut PgConnection,
    user_id: &str,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    Ok(Prepared::new(
        "SELECT event_id, name, value, occurred_at FROM events WHERE user_id = $1 \
         ORDER BY occurred_at DESC, event_id LIMIT $2",
    )
    .bind::<Text, _>(user_id)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

#[derive(QueryableByName)]
struct HeldOutRow {
    #[diesel(sql_type = Timestamptz)]
    held_out_at: DateTime<Utc>,
}

/// When the user was first held out of every experiment, if they were.
pub fn held_out_at(
    conn: &mut PgConnection,
    user_id: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let rows: Vec<HeldOutRow> =
        Prepared::new("SELECT held_out_at FROM holdout_users WHERE user_id = $1")
            .bind::<Text, _>(user_id)
            .load(conn)?;
    Ok(rows.into_iter().next().map(|r| r.held_out_at))
}
