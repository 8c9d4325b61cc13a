//! The stylesheet and script, embedded in the binary and served under a path that contains a
//! hash of their content: browsers may keep them for a year, and a new build changes the path.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use std::sync::LazyLock;

pub struct Asset {
    pub path: String,
    pub content_type: &'static str,
    pub body: &'static str,
}

fn asset(stem: &str, extension: &str, content_type: &'static str, body: &'static str) -> Asset {
    let hash = xxhash_rust::xxh3::xxh3_64(body.as_bytes());
    Asset {
        path: format!("/static/{stem}.{:012x}.{extension}", hash >> 16),
        content_type,
        body,
    }
}

pub static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "style",
        "css",
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    )
});

pub static SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "dashboard",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/dashboard.js"),
    )
});

/// `GET /static/{file}`: only the current hashed names exist.
pub async fn serve(file: web::Path<String>) -> HttpResponse {
    let wanted = format!("/static/{file}");
    match [&*STYLESHEET, &*SCRIPT]
        .into_iter()
        .find(|a| a.path == wanted)
    {
        Some(a) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, a.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(a.body),
        None => HttpResponse::NotFound()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body("no such file"),
    }
}
