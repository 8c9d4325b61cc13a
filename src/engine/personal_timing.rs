//! Each user's own best time (`domain::personal_timing`): the population's hours kept for
//! the fallback, and the payloads filled per user at assignment.

use super::{Engine, EngineError};
use crate::domain::profile::{Profile, busiest_hour};
use crate::store;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// How long the population's hours are used before they are read again (they move slowly;
/// reading them scans the event's profile rows).
const POPULATION_REREAD: Duration = Duration::from_secs(600);

/// The hour at which the most events of each name arrive over all users.
#[derive(Default)]
pub struct PopulationHours {
    /// By event name; `None` while nobody has sent it.
    hours: HashMap<String, Option<u8>>,
    read_at: Option<Instant>,
}

impl PopulationHours {
    pub fn hour_of(&self, event: &str) -> Option<u8> {
        self.hours.get(event).copied().flatten()
    }
}

impl Engine {
    /// Reads the population's hours of the events live personal payloads name, when one is
    /// new or the last read is old. Returns whether it read.
    pub async fn refresh_population_hours(&self) -> Result<bool, EngineError> {
        let snapshot = self.snapshot();
        let wanted: BTreeSet<String> = snapshot
            .experiments
            .iter()
            .flat_map(|e| e.variants.iter())
            .filter_map(|v| v.personal.as_ref())
            .flat_map(|p| p.events().map(|e| e.to_string()))
            .collect();
        if wanted.is_empty() || !self.inner.settings.profiles {
            return Ok(false);
        }
        {
            let known = self.inner.population_hours.load();
            let fresh = known
                .read_at
                .is_some_and(|at| at.elapsed() < POPULATION_REREAD);
            if fresh && wanted.iter().all(|e| known.hours.contains_key(e)) {
                return Ok(false);
            }
        }
        let names: Vec<String> = wanted.into_iter().collect();
        let read_names = names.clone();
        let sums = self
            .store()
            .run(move |conn| store::profiles::population_hours(conn, &read_names))
            .await?;
        let hours = names
            .into_iter()
            .map(|name| {
                let best = sums.get(&name).and_then(busiest_hour);
                (name, best)
            })
            .collect();
        self.inner
            .population_hours
            .store(std::sync::Arc::new(PopulationHours {
                hours,
                read_at: Some(Instant::now()),
            }));
        Ok(true)
    }

    /// Fills the personal payloads of these answers for the user (profile read if not yet).
    pub(super) async fn personalize(
        &self,
        answers: &mut [super::Assigned],
        user_id: &str,
        user_key: u128,
        profile: Option<Option<std::sync::Arc<Profile>>>,
    ) -> Result<(), EngineError> {
        if !answers.iter().any(|a| a.variant().personal.is_some()) {
            return Ok(());
        }
        let profile = match profile {
            Some(p) => p,
            None => self.targeting_profile(user_id, user_key).await?,
        };
        let population = self.inner.population_hours.load();
        for a in answers.iter_mut() {
            if let Some(personal) = &a.variant().personal {
                let filled = personal
                    .fill(|b| b.hour_for(profile.as_deref(), population.hour_of(b.event.as_str())));
                a.payload =
                    Some(serde_json::value::to_raw_value(&filled).expect("JSON value serializes"));
            }
        }
        Ok(())
    }
}
