//! What an experiment's export reads: the experiment and the range.

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
}

impl Selection<'_> {
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
