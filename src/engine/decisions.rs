//! `experiment.decided`: the first time a running experiment's verdict names a winner (by its
//! chosen analysis, guardrails included), subscribed webhooks hear it once, whatever instance
//! saw it first. Checked with the guardrails, every five refresh intervals.

use super::results::Outcome;
use super::{Engine, EngineError};
use crate::domain::{Status, WebhookEvent};
use crate::store;
use diesel::Connection;
use serde_json::json;

impl Engine {
    /// Announces the experiments whose verdict newly names a winner; returns their keys.
    pub async fn announce_decisions(&self) -> Result<Vec<String>, EngineError> {
        let (experiments, decided) = self
            .store()
            .run(|conn| {
                Ok((
                    store::list_experiments(conn)?,
                    store::decisions::decided(conn)?,
                ))
            })
            .await?;
        let mut announced = Vec::new();
        for experiment in experiments {
            if experiment.status != Status::Running || decided.contains(&experiment.id) {
                continue;
            }
            let key = experiment.spec.key.to_string();
            let results = self.overview(&key).await?.results;
            if results.decision.outcome != Outcome::Winner {
                continue;
            }
            let winner = results.decision.leader.clone();
            let leader = results.variants.iter().find(|v| v.key == winner);
            let payload = json!({
                "experiment": key,
                "winner": winner,
                "analysis": results.analysis,
                "verdict": results.decision.verdict,
                "probability_best": leader.map(|v| v.probability_best),
                "lift": leader.and_then(|v| v.lift),
                "users": results.variants.iter().map(|v| v.users).sum::<i64>(),
            });
            let (id, analysis) = (experiment.id, results.analysis.as_str());
            let recorded = self
                .store()
                .run(move |conn| {
                    conn.transaction(|conn| {
                        let new = store::decisions::record_decision(conn, id, &winner, analysis)?;
                        if new {
                            store::queue_deliveries(
                                conn,
                                WebhookEvent::ExperimentDecided,
                                &payload,
                            )?;
                        }
                        Ok(new)
                    })
                })
                .await?;
            if recorded {
                announced.push(key);
            }
        }
        Ok(announced)
    }
}
