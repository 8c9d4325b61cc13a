//! Segments, the integrity checks experiments need (segment references, layer overlaps), and
//! the holdout (its fraction, its members' conversions).

use super::StoreError;
use super::schema::{experiments, holdout, segments};
use crate::domain::{
    Conflict, ExperimentSpec, Layer, PinnedRule, Rule, Segment, SegmentKey, SegmentSpec, Status,
    Targeting, ValidationError, Violation,
};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde_json::Value;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = segments, check_for_backend(diesel::pg::Pg))]
struct SegmentRow {
    key: String,
    name: String,
    description: String,
    rule: Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Query(diesel::result::Error::DeserializationError(
        format!("stored {what} {value:?} is not valid").into(),
    ))
}

fn to_domain(row: SegmentRow) -> Result<Segment, StoreError> {
    Ok(Segment {
        spec: SegmentSpec {
            key: SegmentKey::parse(row.key.clone())
                .map_err(|_| corrupt("segment key", &row.key))?,
            name: row.name,
            description: row.description,
            rule: Rule::from_json(&row.rule, "rule")
                .map_err(|_| corrupt("segment rule", &row.rule.to_string()))?,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn insert_segment(conn: &mut PgConnection, spec: &SegmentSpec) -> Result<Segment, StoreError> {
    let row: SegmentRow = diesel::insert_into(segments::table)
        .values((
            segments::key.eq(spec.key.as_str()),
            segments::name.eq(&spec.name),
            segments::description.eq(&spec.description),
            segments::rule.eq(spec.rule.to_json()),
        ))
        .returning(SegmentRow::as_returning())
        .get_result(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(Conflict::Duplicate(_)) => {
                StoreError::Conflict(Conflict::KeyTaken {
                    what: "a segment",
                    key: spec.key.to_string(),
                })
            }
            other => other,
        })?;
    to_domain(row)
}

pub fn list_segments(conn: &mut PgConnection) -> Result<Vec<Segment>, StoreError> {
    segments::table
        .order(segments::key.asc())
        .select(SegmentRow::as_select())
        .load(conn)?
        .into_iter()
        .map(to_domain)
        .collect()
}

pub fn get_segment(conn: &mut PgConnection, key: &str) -> Result<Segment, StoreError> {
    to_domain(
        segments::table
            .filter(segments::key.eq(key))
            .select(SegmentRow::as_select())
            .first(conn)?,
    )
}

/// Replaces a segment's name, description and rule; `NotFound` when there is none.
pub fn update_segment(conn: &mut PgConnection, spec: &SegmentSpec) -> Result<Segment, StoreError> {
    to_domain(
        diesel::update(segments::table.filter(segments::key.eq(spec.key.as_str())))
            .set((
                segments::name.eq(&spec.name),
                segments::description.eq(&spec.description),
                segments::rule.eq(spec.rule.to_json()),
                segments::updated_at.eq(diesel::dsl::now),
            ))
            .returning(SegmentRow::as_returning())
            .get_result(conn)?,
    )
}

/// Deletes a segment unless a non-stopped experiment references it (`Conflict`, naming
/// them). The row is locked first, so an experiment created meanwhile either sees the
/// segment gone or is seen here.
pub fn delete_segment(conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        let _id: i64 = segments::table
            .filter(segments::key.eq(key))
            .select(segments::id)
            .for_update()
            .first(conn)?;
        let live: Vec<(String, Value, Value, Vec<String>)> = experiments::table
            .filter(experiments::status.ne(Status::Stopped.as_str()))
            .order(experiments::key.asc())
            .select((
                experiments::key,
                experiments::targeting,
                experiments::rules,
                experiments::context_segments,
            ))
            .load(conn)?;
        let users: Vec<String> = live
            .into_iter()
            .filter(|(_, targeting, rules, context_segments)| {
                let targeting: Option<Targeting> = serde_json::from_value(targeting.clone()).ok();
                let rules: Vec<PinnedRule> =
                    serde_json::from_value(rules.clone()).unwrap_or_default();
                targeting.is_some_and(|t| t.segment_refs().iter().any(|r| r.as_str() == key))
                    || rules.iter().any(|r| r.segment.as_str() == key)
                    || context_segments.iter().any(|s| s == key)
            })
            .map(|(k, ..)| k)
            .collect();
        if !users.is_empty() {
            return Err(StoreError::Conflict(Conflict::SegmentInUse {
                segment: key.to_string(),
                experiments: users,
            }));
        }
        diesel::delete(segments::table.filter(segments::key.eq(key))).execute(conn)?;
        Ok(())
    })
}

/// Refuses an experiment that references a segment that does not exist. The segments found
/// are locked (`FOR KEY SHARE`) until the caller's transaction ends, so they cannot be
/// deleted in between.
pub(super) fn check_references(
    conn: &mut PgConnection,
    spec: &ExperimentSpec,
) -> Result<(), StoreError> {
    let refs = spec.segment_refs();
    if refs.is_empty() {
        return Ok(());
    }
    let mut wanted: Vec<&str> = refs.iter().map(|r| r.as_str()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let found: Vec<String> = segments::table
        .filter(segments::key.eq_any(&wanted))
        .select(segments::key)
        .for_key_share()
        .load(conn)?;
    if let Some(missing) = wanted.iter().find(|w| !found.iter().any(|f| f == *w)) {
        let field = if spec
            .targeting
            .segment_refs()
            .iter()
            .any(|r| r.as_str() == *missing)
        {
            "targeting"
        } else if spec
            .pinned_rules
            .iter()
            .any(|r| r.segment.as_str() == *missing)
        {
            "rules"
        } else {
            "context_segments"
        };
        return Err(StoreError::Invalid(ValidationError::new(
            field,
            Violation::UnknownSegment {
                key: missing.to_string(),
            },
        )));
    }
    Ok(())
}

#[derive(QueryableByName)]
struct LayerRow {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Jsonb>)]
    layer: Option<Value>,
}

/// Refuses a layer range that overlaps a non-stopped experiment's range in the same layer.
/// A transaction-scoped advisory lock per layer makes concurrent checks take turns.
pub(super) fn check_layer(
    conn: &mut PgConnection,
    spec: &ExperimentSpec,
    exclude: Option<i64>,
) -> Result<(), StoreError> {
    let Some(layer) = &spec.layer else {
        return Ok(());
    };
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(hashtextextended('posterior-layer/' || $1, 0))",
    )
    .bind::<Text, _>(layer.key.as_str())
    .execute(conn)?;
    let others: Vec<LayerRow> = diesel::sql_query(
        "SELECT key, layer FROM experiments \
         WHERE status <> 'stopped' AND layer IS NOT NULL AND layer->>'key' = $1 AND id <> $2 \
         ORDER BY key",
    )
    .bind::<Text, _>(layer.key.as_str())
    .bind::<BigInt, _>(exclude.unwrap_or(-1))
    .load(conn)?;
    for other in others {
        let Some(theirs) = other
            .layer
            .and_then(|l| serde_json::from_value::<Layer>(l).ok())
        else {
            continue;
        };
        if layer.overlaps(&theirs) {
            return Err(StoreError::Conflict(Conflict::LayerOverlap {
                layer: layer.key.to_string(),
                range: (layer.from, layer.to),
                other: other.key,
                other_range: (theirs.from, theirs.to),
            }));
        }
    }
    Ok(())
}

/// The holdout fraction (0 when never set).
pub fn get_holdout(conn: &mut PgConnection) -> Result<f64, StoreError> {
    Ok(holdout::table
        .filter(holdout::id.eq(1i16))
        .select(holdout::fraction)
        .first(conn)
        .optional()?
        .unwrap_or(0.0))
}

pub fn set_holdout(conn: &mut PgConnection, fraction: f64) -> Result<(), StoreError> {
    diesel::insert_into(holdout::table)
        .values((holdout::id.eq(1i16), holdout::fraction.eq(fraction)))
        .on_conflict(holdout::id)
        .do_update()
        .set((
            holdout::fraction.eq(fraction),
            holdout::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Users and converted users of one group (held out, or exposed to experiments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, QueryableByName)]
pub struct HoldoutCounts {
    #[diesel(sql_type = BigInt)]
    pub users: i64,
    #[diesel(sql_type = BigInt)]
    pub converted: i64,
}

/// (held out, exposed): how many users each group has and how many of them sent `event`
/// after they were held out, or after their first experimental assignment. A user who is
/// in both (the holdout grew after they were exposed) counts as held out.
pub fn holdout_counts(
    conn: &mut PgConnection,
    event: &str,
) -> Result<(HoldoutCounts, HoldoutCounts), StoreError> {
    let held: HoldoutCounts = diesel::sql_query(
        "SELECT count(*)::int8 AS users, \
           (count(*) FILTER (WHERE EXISTS (SELECT 1 FROM events e \
              WHERE e.user_id = h.user_id AND e.name = $1 AND e.occurred_at >= h.held_out_at)))::int8 AS converted \
         FROM holdout_users h",
    )
    .bind::<Text, _>(event)
    .get_result(conn)?;
    let exposed: HoldoutCounts = diesel::sql_query(
        "SELECT count(*)::int8 AS users, \
           (count(*) FILTER (WHERE EXISTS (SELECT 1 FROM events e \
              WHERE e.user_id = x.user_id AND e.name = $1 AND e.occurred_at >= x.since)))::int8 AS converted \
         FROM (SELECT user_id, min(assigned_at) AS since FROM assignments GROUP BY user_id) x \
         WHERE NOT EXISTS (SELECT 1 FROM holdout_users h WHERE h.user_id = x.user_id)",
    )
    .bind::<Text, _>(event)
    .get_result(conn)?;
    Ok((held, exposed))
}
