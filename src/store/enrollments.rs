//! The read behind a sticky-cache miss: every stored assignment of a batch of users, and
//! which of them are recorded as held out. Two indexed statements (`assignments_user`,
//! `holdout_users`' key) whatever the batch size; never through the writers' queue.
//!
//! Not kept prepared (`sql_query`, planned each time with the batch's ids): a prepared
//! statement settles on a generic plan, and one chosen while `assignments` was nearly empty
//! (a sequential scan) stayed in use as the table grew, 100–350 ms a read at 300,000 rows;
//! planning anew costs a fraction of a millisecond a batch.

use super::StoreError;
use crate::domain::enrollment::Enrollment;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use std::collections::HashMap;

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
) -> Result<HashMap<String, Enrollment>, StoreError> {
    // (variants, held out) per user, made into enrollments at the end.
    let mut found: HashMap<String, (Vec<(i64, i64)>, bool)> = HashMap::new();
    if user_ids.is_empty() {
        return Ok(HashMap::new());
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
            .0
            .push((row.experiment_id, row.variant_id));
    }
    if with_holdout {
        let held_out: Vec<HeldOutRow> =
            diesel::sql_query("SELECT user_id FROM holdout_users WHERE user_id = ANY($1)")
                .bind::<Array<Text>, _>(user_ids)
                .load(conn)?;
        for row in held_out {
            found.entry(row.user_id).or_default().1 = true;
        }
    }
    Ok(found
        .into_iter()
        .map(|(user, (variants, held_out))| (user, Enrollment::new(variants, held_out)))
        .collect())
}
