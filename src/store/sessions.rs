//! The dashboard's session-signing secret: one row, created by the first instance that asks.

use super::StoreError;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::Bytea;

#[derive(QueryableByName)]
struct SecretRow {
    #[diesel(sql_type = Bytea)]
    secret: Vec<u8>,
}

/// The stored secret; `candidate` becomes it if none exists yet. Instances racing here all end
/// up with the same one, because the insert keeps the first row and everyone reads it back.
pub fn session_secret(conn: &mut PgConnection, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
    diesel::sql_query(
        "INSERT INTO dashboard_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
    )
    .bind::<Bytea, _>(candidate)
    .execute(conn)?;
    let row: SecretRow = diesel::sql_query("SELECT secret FROM dashboard_secret WHERE id = 1")
        .get_result(conn)?;
    Ok(row.secret)
}
