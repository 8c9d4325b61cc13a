//! The read behind a sticky-cache miss: every stored assignment of a batch of users, and
//! which of them are recorded as held out. Two indexed statements (`assignments_user`,
//! `holdout_users`' key) whatever the batch size; never through the writers' queue.
//!
//! Not kept prepared (`sql_query`, planned each time with the batch's ids): a prepared
//! statement settles on a generic plan, and one chosen while `assignments` was nearly empty
//! (a sequential scan) stayed in use as the table grew, 100–350 ms a read at 300,000 rows;
//! planning anew costs a fraction of a millisecond a batch.

use super::StoreError;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use std::collections::HashMap;

/// What is stored of one user's enrollment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredEnrollment {
    /// (experiment id, variant id) of every assignment.
    pub variants: Vec<(i64, i64)>,
    pub held_out: bool,
}

#[derive(QueryableByName)]
struct AssignmentRow {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = BigInt)]
    experiment_id: i64,
    #[diesel(sql_type = BigInt)]
    variant_id: i64,
}

#[derive(QueryableByName)]
struct HeldOutRow {
    #[diesel(sql_type = Text)]
    user_id: String,
}

/// The stored enrollment of each user that has any (users with none are absent); their
/// holdout records only when `with_holdout`.
pub fn enrollments_of(
    conn: &mut PgConnection,
    user_ids: &[String],
    with_holdout: bool,
) -> Result<HashMap<String, StoredEnrollment>, StoreError> {
    let mut found: HashMap<String, StoredEnrollment> = HashMap::new();
    if user_ids.is_empty() {
        return Ok(found);
    }
    let assignments: Vec<AssignmentRow> = diesel::sql_query(
        "SELECT user_id, experiment_id, variant_id FROM assignments WHERE user_id = ANY($1)",
    )
    .bind::<Array<Text>, _>(user_ids)
    .load(conn)?;
    for row in assignments {
        found
            .entry(row.user_id)
            .or_default()
            .variants
            .push((row.experiment_id, row.variant_id));
    }
    if !with_holdout {
        return Ok(found);
    }
    let held_out: Vec<HeldOutRow> =
        diesel::sql_query("SELECT user_id FROM holdout_users WHERE user_id = ANY($1)")
            .bind::<Array<Text>, _>(user_ids)
            .load(conn)?;
    for row in held_out {
        found.entry(row.user_id).or_default().held_out = true;
    }
    Ok(found)
}
