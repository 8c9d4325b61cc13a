//! The audit log: one appended row per admin action, with the state before and after.

use super::StoreError;
use super::schema::audit_log;
use crate::domain::{AuditEntry, TimeRange};
use chrono::{DateTime, Utc};
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use serde_json::Value;

/// An action to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A recorded action, as read.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    target: String,
    before: Option<Value>,
    after: Option<Value>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target: r.target,
            before: r.before,
            after: r.after,
        }
    }
}

pub fn insert_audit(conn: &mut PgConnection, entry: &NewAuditEntry) -> Result<i64, StoreError> {
    Ok(diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor.eq(&entry.actor),
            audit_log::action.eq(&entry.action),
            audit_log::target.eq(&entry.target),
            audit_log::before.eq(&entry.before),
            audit_log::after.eq(&entry.after),
        ))
        .returning(audit_log::id)
        .get_result(conn)?)
}

/// Runs `f` and records what it returns as an audit entry, in one transaction: the change and
/// its record are committed together or not at all. `f` returns its result and the entry.
pub fn audited<T, E: From<StoreError>>(
    conn: &mut PgConnection,
    f: impl FnOnce(&mut PgConnection) -> Result<(T, NewAuditEntry), E>,
) -> Result<T, E> {
    /// `f`'s own error, kept apart from the transaction's.
    enum Failed<E> {
        Write(E),
        Store(StoreError),
    }
    impl<E> From<diesel::result::Error> for Failed<E> {
        fn from(e: diesel::result::Error) -> Self {
            Failed::Store(e.into())
        }
    }
    conn.transaction(|conn| {
        let (result, entry) = f(conn).map_err(Failed::Write)?;
        insert_audit(conn, &entry).map_err(Failed::Store)?;
        Ok(result)
    })
    .map_err(|failed| match failed {
        Failed::Write(e) => e,
        Failed::Store(e) => e.into(),
    })
}

/// The entries `query` selects.
fn entries(
    query: audit_log::BoxedQuery<'_, Pg>,
    conn: &mut PgConnection,
) -> Result<Vec<AuditEntry>, StoreError> {
    let rows: Vec<AuditRow> = query.select(AuditRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}

/// The newest entries, newest first, older than the entry `before` (a page of the dashboard).
pub fn audit_newest(
    conn: &mut PgConnection,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut query = audit_log::table.into_boxed();
    if let Some(before) = before {
        query = query.filter(audit_log::id.lt(before));
    }
    entries(query.order(audit_log::id.desc()).limit(limit), conn)
}

/// Up to `limit` entries in `range`, oldest first, after the entry with id `after` (exports
/// page by id: ids grow with time within one database).
pub fn audit_page(
    conn: &mut PgConnection,
    range: TimeRange,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut query = audit_log::table.into_boxed();
    if let Some(from) = range.from() {
        query = query.filter(audit_log::at.ge(from));
    }
    if let Some(to) = range.to() {
        query = query.filter(audit_log::at.lt(to));
    }
    if let Some(after) = after {
        query = query.filter(audit_log::id.gt(after));
    }
    entries(query.order(audit_log::id.asc()).limit(limit), conn)
}
