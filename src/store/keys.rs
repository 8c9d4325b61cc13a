//! API keys, stored only as SHA-256 hashes.

use super::StoreError;
use super::schema::api_keys;
pub use crate::domain::Scope;
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
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKeyRecord {
    pub id: i64,
    #[serde(skip)]
    pub key_hash: String,
    pub scope: Scope,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub fn insert_key(
    conn: &mut PgConnection,
    key_hash: &str,
    scope: Scope,
    label: &str,
) -> Result<i64, StoreError> {
    Ok(diesel::insert_into(api_keys::table)
        .values((
            api_keys::key_hash.eq(key_hash),
            api_keys::scope.eq(scope.as_str()),
            api_keys::label.eq(label),
        ))
        .returning(api_keys::id)
        .get_result(conn)?)
}

/// Every key, newest first; revoked ones included (they show when they were revoked).
pub fn list_keys(conn: &mut PgConnection) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let rows: Vec<ApiKeyRow> = api_keys::table
        .order(api_keys::id.desc())
        .select(ApiKeyRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(ApiKeyRecord {
                id: r.id,
                key_hash: r.key_hash,
                scope: Scope::parse(&r.scope)?,
                label: r.label,
                created_at: r.created_at,
                revoked_at: r.revoked_at,
            })
        })
        .collect())
}

/// Returns false when there was no such active key.
pub fn revoke_key(conn: &mut PgConnection, id: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(diesel::dsl::now))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn count_active_keys(conn: &mut PgConnection, scope: Scope) -> Result<i64, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::scope.eq(scope.as_str()))
        .filter(api_keys::revoked_at.is_null())
        .count()
        .get_result(conn)?)
}
