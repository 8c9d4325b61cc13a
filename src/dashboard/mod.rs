//! The marketer's dashboard: server-rendered HTML pages over the engine.
//!
//! Handlers here parse, check the session and CSRF token, call the engine and pick a view from
//! `templates`; they never touch SQL. Every page works without JavaScript; `static/` holds the
//! stylesheet and a small script that only enhances.

mod assets;
mod audit;
mod error;
mod experiments;
mod forms;
mod keys;
mod metrics;
mod page;
mod segments;
mod session;
mod sign_in;
mod users;
mod webhooks;

pub use page::query_encode;

use actix_web::{HttpResponse, web};
use error::{DashboardError, PageResult};
use page::{HOME, redirect};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(go_home))
        .route("/static/{file}", web::get().to(assets::serve))
        .service(
            web::scope("/dashboard")
                .route("", web::get().to(go_home))
                .route("/", web::get().to(go_home))
                .route("/sign-in", web::get().to(sign_in::page))
                .route("/sign-in", web::post().to(sign_in::sign_in))
                .route("/sign-out", web::post().to(sign_in::sign_out))
                .route("/new", web::get().to(experiments::new_form))
                .route("/experiments", web::get().to(experiments::list))
                .route("/experiments", web::post().to(experiments::create))
                .route("/experiments/{key}", web::get().to(experiments::show))
                .route(
                    "/experiments/{key}/edit",
                    web::get().to(experiments::edit_form),
                )
                .route(
                    "/experiments/{key}/edit",
                    web::post().to(experiments::update),
                )
                .route(
                    "/experiments/{key}/metrics",
                    web::get().to(experiments::metrics_form),
                )
                .route(
                    "/experiments/{key}/metrics",
                    web::post().to(experiments::update_metrics),
                )
                .route(
                    "/experiments/{key}/start",
                    web::post().to(experiments::start),
                )
                .route(
                    "/experiments/{key}/pause",
                    web::post().to(experiments::pause),
                )
                .route(
                    "/experiments/{key}/stop",
                    web::get().to(experiments::stop_confirmation),
                )
                .route("/experiments/{key}/stop", web::post().to(experiments::stop))
                .route("/keys", web::get().to(keys::list))
                .route("/keys", web::post().to(keys::create))
                .route(
                    "/keys/{id}/revoke",
                    web::get().to(keys::revoke_confirmation),
                )
                .route("/keys/{id}/revoke", web::post().to(keys::revoke))
                .route("/audit", web::get().to(audit::page))
                .route("/users", web::get().to(users::page))
                .route("/audit/export", web::get().to(audit::export))
                .route("/segments", web::get().to(segments::list))
                .route("/segments", web::post().to(segments::create))
                .route("/segments/new", web::get().to(segments::new_form))
                .route("/segments/{key}", web::get().to(segments::edit_form))
                .route("/segments/{key}", web::post().to(segments::update))
                .route("/segments/{key}/delete", web::post().to(segments::delete))
                .route("/holdout", web::post().to(segments::set_holdout))
                .route("/metrics", web::get().to(metrics::list))
                .route("/metrics", web::post().to(metrics::create))
                .route("/metrics/new", web::get().to(metrics::new_form))
                .route("/metrics/{key}", web::get().to(metrics::edit_form))
                .route("/metrics/{key}", web::post().to(metrics::update))
                .route(
                    "/metrics/{key}/delete",
                    web::get().to(metrics::delete_confirmation),
                )
                .route("/metrics/{key}/delete", web::post().to(metrics::delete))
                .route("/webhooks", web::get().to(webhooks::list))
                .route("/webhooks", web::post().to(webhooks::create))
                .route("/webhooks/{id}/delete", web::post().to(webhooks::delete))
                .default_service(web::to(not_found)),
        );
}

async fn go_home() -> HttpResponse {
    redirect(HOME)
}

async fn not_found() -> PageResult {
    Err(DashboardError::NotFound("There is no such page.".into()))
}
