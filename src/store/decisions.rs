//! When an experiment's verdict first named a winner (announced once).

use super::StoreError;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// Records that the experiment's verdict named `winner`; `false` when it had been recorded.
pub fn record_decision(
    conn: &mut PgConnection,
    experiment_id: i64,
    winner: &str,
    analysis: &str,
) -> Result<bool, StoreError> {
    let inserted = diesel::sql_query(
        "INSERT INTO experiment_decisions (experiment_id, winner, analysis) VALUES ($1, $2, $3) \
         ON CONFLICT (experiment_id) DO NOTHING",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<Text, _>(winner)
    .bind::<Text, _>(analysis)
    .execute(conn)?;
    Ok(inserted == 1)
}

#[derive(QueryableByName)]
struct Decided {
    #[diesel(sql_type = BigInt)]
    experiment_id: i64,
}

/// The experiments whose decision was recorded.
pub fn decided(conn: &mut PgConnection) -> Result<Vec<i64>, StoreError> {
    Ok(
        diesel::sql_query("SELECT experiment_id FROM experiment_decisions")
            .load::<Decided>(conn)?
            .into_iter()
            .map(|d| d.experiment_id)
            .collect(),
    )
}
