//! What an experiment's export reads: the experiment and the range.

use super::format::Column;
use crate::domain::factorial;
use crate::domain::{Experiment, TimeRange};
use serde_json::Value;

/// Raw rows (assignments, events) read per query.
pub(super) const PAGE_ROWS: i64 = 10_000;

/// What an experiment's export reads: the experiment (its key is the `experiment` column of
/// every row) and the range.
pub(super) struct Selection<'a> {
    pub(super) experiment: &'a Experiment,
    pub(super) key: Value,
    pub(super) range: TimeRange,
    /// Factorial experiments: each variant's level of every factor (the factor columns).
    levels: Vec<Vec<Value>>,
    /// The factor columns of a variant the experiment does not know: nulls.
    unknown_levels: Vec<Value>,
}

impl<'a> Selection<'a> {
    pub(super) fn new(experiment: &'a Experiment, range: TimeRange) -> Self {
        let factors = &experiment.spec.factors;
        let levels = (0..experiment.variant_ids.len())
            .map(|cell| {
                factors
                    .iter()
                    .zip(factorial::levels_of(factors, cell))
                    .map(|(f, l)| Value::from(f.levels[l].key.as_str()))
                    .collect()
            })
            .collect();
        Selection {
            experiment,
            key: Value::String(experiment.spec.key.to_string()),
            range,
            levels,
            unknown_levels: vec![Value::Null; factors.len()],
        }
    }

    /// Factorial experiments: a column per factor, named by its key (after `variant`).
    pub(super) fn factor_columns(&self) -> impl Iterator<Item = Column> + '_ {
        self.experiment
            .spec
            .factors
            .iter()
            .map(|f| Column::Owned(f.key.to_string()))
    }

    /// A variant's level of every factor, in factor order (none for other experiments; null
    /// for a variant the experiment does not know).
    pub(super) fn levels(&self, variant_id: i64) -> &[Value] {
        match self
            .experiment
            .variant_ids
            .iter()
            .position(|&id| id == variant_id)
        {
            Some(i) => &self.levels[i],
            None => &self.unknown_levels,
        }
    }

    /// A variant's key from its id (the id itself if the experiment does not know it).
    pub(super) fn variant_key(&self, variant_id: i64) -> String {
        let experiment = self.experiment;
        experiment
            .variant_ids
            .iter()
            .position(|&id| id == variant_id)
            .map_or_else(
                || variant_id.to_string(),
                |i| experiment.spec.variants[i].key.to_string(),
            )
    }
}
