//! Computed summaries of experiments (results, off-policy estimates), kept per experiment
//! with what they were computed from, and reused while that is unchanged: computing one costs
//! tens of milliseconds or a scan of raw rows, and the dashboard asks often.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One summary per experiment, with its `Basis` (what it was computed from).
pub struct SummaryCache<Basis, Summary> {
    entries: Mutex<HashMap<i64, Entry<Basis, Summary>>>,
}

struct Entry<Basis, Summary> {
    basis: Basis,
    computed: Instant,
    summary: Summary,
}

impl<Basis, Summary> Default for SummaryCache<Basis, Summary> {
    fn default() -> Self {
        SummaryCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<Basis, Summary: Clone> SummaryCache<Basis, Summary> {
    /// The experiment's summary, if `still_good` accepts its basis and age.
    pub fn get(
        &self,
        experiment_id: i64,
        still_good: impl FnOnce(&Basis, Duration) -> bool,
    ) -> Option<Summary> {
        let entries = self.entries.lock().expect("summary cache lock");
        let entry = entries.get(&experiment_id)?;
        still_good(&entry.basis, entry.computed.elapsed()).then(|| entry.summary.clone())
    }

    /// The experiment's last summary, however old.
    pub fn last(&self, experiment_id: i64) -> Option<Summary> {
        let entries = self.entries.lock().expect("summary cache lock");
        entries.get(&experiment_id).map(|e| e.summary.clone())
    }

    pub fn insert(&self, experiment_id: i64, basis: Basis, summary: Summary) {
        self.entries.lock().expect("summary cache lock").insert(
            experiment_id,
            Entry {
                basis,
                computed: Instant::now(),
                summary,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_is_served_while_its_basis_is_accepted() {
        let cache = SummaryCache::<u32, &str>::default();
        assert_eq!(cache.get(1, |_, _| true), None);
        cache.insert(1, 7, "seven");
        assert_eq!(cache.get(1, |basis, _| *basis == 7), Some("seven"));
        assert_eq!(cache.get(1, |basis, _| *basis == 8), None);
        assert_eq!(cache.get(1, |_, age| age > Duration::from_secs(60)), None);
        assert_eq!(cache.last(1), Some("seven"));
        assert_eq!(cache.last(2), None);
    }
}
