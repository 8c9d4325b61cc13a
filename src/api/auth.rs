//! Authorization: `Authorization: Bearer <key>` (or `X-API-Key: <key>`), checked against the
//! engine's keys. Handlers take `Admin` or `Client` as an argument to require that scope.

use super::ApiError;
use crate::domain::Scope;
use crate::engine::Engine;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, http::header, web};
use std::future::{Ready, ready};

/// The key presented with a request, if any.
pub fn presented_key(req: &HttpRequest) -> Option<&str> {
    if let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, key) = value.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| key.trim());
    }
    req.headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub fn authorize(req: &HttpRequest, needed: Scope) -> Result<Scope, ApiError> {
    let engine = req
        .app_data::<web::Data<Engine>>()
        .ok_or_else(|| ApiError::Internal("engine missing from app data".into()))?;
    let key = presented_key(req).ok_or_else(|| {
        ApiError::Unauthorized("send an API key: Authorization: Bearer <key>".into())
    })?;
    let scope = engine
        .authorize(key)
        .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))?;
    if !scope.allows(needed) {
        return Err(ApiError::Forbidden(format!(
            "this route needs an {needed} key; this is a {scope} key"
        )));
    }
    Ok(scope)
}

/// Proof that the request carries an admin key.
pub struct Admin;
/// Proof that the request carries a client (or admin) key.
pub struct Client;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req, Scope::Admin).map(|_| Admin))
    }
}

impl FromRequest for Client {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req, Scope::Client).map(|_| Client))
    }
}
