//! Which experiments declare which library metrics, for the metric library's page.

use super::StoreError;
use super::schema::{experiment_metrics, experiments, metrics};
use crate::domain::{MetricRole, Status};
use diesel::pg::PgConnection;
use diesel::prelude::*;

/// One metric declared by one experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricUseRow {
    pub metric: String,
    pub experiment: String,
    pub status: Status,
    pub role: MetricRole,
}

/// Every (metric, experiment) declaration, by metric key then experiment key.
pub fn metric_uses(conn: &mut PgConnection) -> Result<Vec<MetricUseRow>, StoreError> {
    let rows: Vec<(String, String, String, String)> = experiment_metrics::table
        .inner_join(metrics::table)
        .inner_join(experiments::table)
        .order((metrics::key.asc(), experiments::key.asc()))
        .select((
            metrics::key,
            experiments::key,
            experiments::status,
            experiment_metrics::role,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(metric, experiment, status, role)| {
            let bad = |what: &str, value: &str| {
                StoreError::Query(diesel::result::Error::DeserializationError(
                    format!("stored {what} {value:?} is not valid").into(),
                ))
            };
            Ok(MetricUseRow {
                status: Status::parse(&status).ok_or_else(|| bad("status", &status))?,
                role: MetricRole::parse(&role).ok_or_else(|| bad("role", &role))?,
                metric,
                experiment,
            })
        })
        .collect()
}
