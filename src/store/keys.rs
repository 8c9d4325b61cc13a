//! API keys, stored only as SHA-256 hashes.

use super::StoreError;
use super::schema::api_keys;
use crate::domain::{ApiKey, Scope};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
struct ApiKeyRow {
    id: i64,
    key_hash: String,
    scope: String,
    label: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    rate_limit: Option<f64>,
    last_used_at: Option<DateTime<Utc>>,
}

fn to_record(r: ApiKeyRow) -> Option<ApiKey> {
    Some(ApiKey {
        id: r.id,
        key_hash: r.key_hash,
        scope: Scope::parse(&r.scope)?,
        label: r.label,
        created_at: r.created_at,
        revoked_at: r.revoked_at,
        rate_limit: r.rate_limit,
        last_used_at: r.last_used_at,
    })
}

fn corrupt(id: i64) -> StoreError {
    StoreError::Query(diesel::result::Error::DeserializationError(
        format!("stored key {id} has an unknown scope").into(),
    ))
}

pub fn insert_key(
    conn: &mut PgConnection,
    key_hash: &str,
    scope: Scope,
    label: &str,
    rate_limit: Option<f64>,
) -> Result<ApiKey, StoreError> {
    let row: ApiKeyRow = diesel::insert_into(api_keys::table)
        .values((
            api_keys::key_hash.eq(key_hash),
            api_keys::scope.eq(scope.as_str()),
            api_keys::label.eq(label),
            api_keys::rate_limit.eq(rate_limit),
        ))
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)?;
    let id = row.id;
    to_record(row).ok_or_else(|| corrupt(id))
}

/// Every key, newest first; revoked ones included (they show when they were revoked).
pub fn list_keys(conn: &mut PgConnection) -> Result<Vec<ApiKey>, StoreError> {
    let rows: Vec<ApiKeyRow> = api_keys::table
        .order(api_keys::id.desc())
        .select(ApiKeyRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().filter_map(to_record).collect())
}

pub fn get_key(conn: &mut PgConnection, id: i64) -> Result<ApiKey, StoreError> {
    let row: ApiKeyRow = api_keys::table
        .find(id)
        .select(ApiKeyRow::as_select())
        .first(conn)?;
    to_record(row).ok_or_else(|| corrupt(id))
}

/// Revokes an active key: its record before and after, or `None` when there was no such
/// active key.
pub fn revoke_key(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<(ApiKey, ApiKey)>, StoreError> {
    let row: Option<ApiKeyRow> = diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(diesel::dsl::now))
    .returning(ApiKeyRow::as_returning())
    .get_result(conn)
    .optional()?;
    let Some(after) = row.and_then(to_record) else {
        return Ok(None);
    };
    let before = ApiKey {
        revoked_at: None,
        ..after.clone()
    };
    Ok(Some((before, after)))
}

/// Records when keys were last used: `(id, unix seconds)`; never moves a time backwards.
pub fn touch_keys(conn: &mut PgConnection, used: &[(i64, i64)]) -> Result<(), StoreError> {
    use diesel::sql_types::{BigInt, Double};
    for &(id, at) in used {
        diesel::sql_query(
            "UPDATE api_keys SET last_used_at = to_timestamp($2) \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < to_timestamp($2))",
        )
        .bind::<BigInt, _>(id)
        .bind::<Double, _>(at as f64)
        .execute(conn)?;
    }
    Ok(())
}

pub fn count_active_keys(conn: &mut PgConnection, scope: Scope) -> Result<i64, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::scope.eq(scope.as_str()))
        .filter(api_keys::revoked_at.is_null())
        .count()
        .get_result(conn)?)
}
