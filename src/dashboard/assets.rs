//! `GET /static/{file}`: the stylesheet and script of `templates::assets`, under their hashed
//! names only.

use crate::templates::assets::{SCRIPT, STYLESHEET};
use actix_web::http::header;
use actix_web::{HttpResponse, web};

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
