//! The metric library: create, read, replace and delete metrics, each an audited write. A
//! replaced metric is recomputed, from the raw rows, in every experiment that uses it (its
//! version moves past what their values reflect); a metric in use by an experiment that is
//! not stopped cannot be deleted.

use super::audit::{self, Actor, Change};
use super::error::OrMissing;
use super::{Engine, EngineError};
use crate::domain::{Metric, MetricDraft, MetricKey, MetricRole, MetricSpec, Status};
use crate::store::{self, Connection, StoreError};
use std::collections::HashMap;

/// An experiment that declares a metric, and as what.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricUse {
    pub experiment: String,
    pub status: Status,
    pub role: MetricRole,
}

/// The metric library as it stands in a transaction, to validate experiments against.
pub(super) struct Library(HashMap<MetricKey, Metric>);

impl Library {
    pub(super) fn load(conn: &mut Connection) -> Result<Library, StoreError> {
        Ok(Library(store::metrics_by_key(conn)?))
    }

    pub(super) fn lookup(&self) -> impl Fn(&MetricKey) -> Option<MetricSpec> + '_ {
        |key| self.0.get(key).map(|m| m.spec.clone())
    }
}

impl Engine {
    pub async fn create_metric(
        &self,
        actor: &Actor,
        draft: MetricDraft,
    ) -> Result<Metric, EngineError> {
        self.limits().check_name("name", &draft.name)?;
        let spec = draft.validate(None)?;
        self.write_audited(actor, "metric.create", move |conn| {
            let created = store::insert_metric(conn, &spec)?;
            Ok(Change {
                target: created.spec.key.to_string(),
                before: None,
                after: Some(audit::json(&created)),
                value: created,
            })
        })
        .await
    }

    pub async fn list_metrics(&self) -> Result<Vec<Metric>, EngineError> {
        Ok(self.store().run(store::list_metrics).await?)
    }

    /// The experiments declaring each metric (by metric key; experiments by key), whatever
    /// their status.
    pub async fn metric_uses(&self) -> Result<HashMap<String, Vec<MetricUse>>, EngineError> {
        let rows = self.store().run(store::metric_uses).await?;
        let mut uses: HashMap<String, Vec<MetricUse>> = HashMap::new();
        for row in rows {
            uses.entry(row.metric).or_default().push(MetricUse {
                experiment: row.experiment,
                status: row.status,
                role: row.role,
            });
        }
        Ok(uses)
    }

    pub async fn metric(&self, key: &str) -> Result<Metric, EngineError> {
        let k = key.to_string();
        self.store()
            .run(move |conn| store::get_metric(conn, &k))
            .await
            .or_missing(EngineError::unknown_metric(key))
    }

    /// Replaces a metric's definition. Every experiment using it follows: its goal is derived
    /// again (a bandit's goal cannot become a ratio or a retention metric), its tracked
    /// metrics follow a ratio's new parts, and its values are recomputed in the background.
    pub async fn replace_metric(
        &self,
        actor: &Actor,
        key: &str,
        draft: MetricDraft,
    ) -> Result<Metric, EngineError> {
        let path_key =
            MetricKey::parse(key).map_err(|_| EngineError::UnknownMetric(key.to_string()))?;
        self.limits().check_name("name", &draft.name)?;
        let spec = draft.validate(Some(&path_key))?;
        self.write_audited(actor, "metric.replace", move |conn| {
            let key = spec.key.to_string();
            let before =
                store::get_metric(conn, &key).or_missing(EngineError::unknown_metric(&key))?;
            let updated = store::update_metric(conn, &spec)?;
            let library = Library::load(conn)?;
            for (_, experiment, _) in store::experiments_using_metric(conn, updated.id)? {
                store::update_experiment(conn, &experiment, |current| {
                    let mut next = current.clone();
                    next.spec = current
                        .spec
                        .relinked(&library.lookup())
                        .map_err(|e| EngineError::Invalid(e.at("type")))?;
                    Ok(next)
                })
                .or_missing(EngineError::unknown_experiment(&experiment))?;
            }
            Ok(Change {
                target: key,
                before: Some(audit::json(&before)),
                after: Some(audit::json(&updated)),
                value: updated,
            })
        })
        .await
    }

    /// Deletes a metric; refused (409) while an experiment that is not stopped uses it or a
    /// ratio metric has it as a part.
    pub async fn delete_metric(&self, actor: &Actor, key: &str) -> Result<(), EngineError> {
        let k = key.to_string();
        self.write_audited(actor, "metric.delete", move |conn| {
            let before =
                store::delete_metric(conn, &k).or_missing(EngineError::unknown_metric(&k))?;
            Ok(Change {
                target: k,
                before: Some(audit::json(&before)),
                after: None,
                value: (),
            })
        })
        .await
    }
}
