//! `GET /metrics`: Prometheus text. Counters and histograms are recorded as things happen;
//! the gauges (pool use, snapshot age, experiments) are read from the engine at scrape time.

use crate::domain::Status;
use crate::engine::Engine;
use crate::telemetry;
use actix_web::{HttpResponse, web};

/// Prometheus text: requests and latency by route and status, assignments, events, OFREP
/// evaluations, group-commit batches, database pool use and the snapshot's age.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
pub async fn metrics(engine: web::Data<Engine>) -> HttpResponse {
    let snapshot = engine.snapshot();
    metrics::gauge!("posterior_snapshot_age_seconds")
        .set(snapshot.built_at.elapsed().as_secs_f64());
    for status in Status::ALL {
        let n = snapshot
            .experiments
            .iter()
            .filter(|e| e.status == *status)
            .count();
        metrics::gauge!("posterior_experiments", "status" => status.as_str()).set(n as f64);
    }
    let (open, idle) = engine.pool_state();
    metrics::gauge!("posterior_db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("posterior_db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("posterior_db_pool_connections", "state" => "in_use")
        .set(f64::from(open.saturating_sub(idle)));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(telemetry::prometheus().render())
}
