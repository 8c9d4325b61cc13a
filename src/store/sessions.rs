//! Dashboard sessions: the signing secret (one row, created by the first instance that asks)
//! and the sessions signed out before they expired.

use super::StoreError;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Text, Timestamptz};

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
    let row: SecretRow =
        diesel::sql_query("SELECT secret FROM dashboard_secret WHERE id = 1").get_result(conn)?;
    Ok(row.secret)
}

/// Ends a session (by its nonce) on every instance, and forgets sessions that expired anyway.
pub fn end_session(
    conn: &mut PgConnection,
    nonce: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::sql_query("DELETE FROM dashboard_signed_out WHERE expires_at < now()").execute(conn)?;
    diesel::sql_query(
        "INSERT INTO dashboard_signed_out (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
    )
    .bind::<Text, _>(nonce)
    .bind::<Timestamptz, _>(expires_at)
    .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    found: bool,
}

/// Whether the session with this nonce was signed out.
pub fn session_ended(conn: &mut PgConnection, nonce: &str) -> Result<bool, StoreError> {
    let row: Found = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM dashboard_signed_out WHERE nonce = $1) AS found",
    )
    .bind::<Text, _>(nonce)
    .get_result(conn)?;
    Ok(row.found)
}
