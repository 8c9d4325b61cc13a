//! Authorization: `Authorization: Bearer <key>` (or `X-API-Key: <key>`), checked against the
//! engine's keys. Handlers take `Admin` or `Client` as an argument to require that scope.
//! Every request with a known key counts against that key's rate limit (if it has one);
//! every request with an unknown or revoked key counts against its address's budget of
//! failures (`engine::throttle`). A request without a key is not a guess and is not counted.

use super::ApiError;
use crate::domain::Scope;
use crate::engine::keys::{KeyCheck, KeyId};
use crate::engine::sessions::SESSION_COOKIE;
use crate::engine::throttle;
use crate::engine::{Actor, Engine};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, http::header, web};
use futures_util::future::LocalBoxFuture;
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

/// The key of a request if it is known, within its rate limit and allows `needed`.
pub fn authorize(req: &HttpRequest, needed: Scope) -> Result<KeyId, ApiError> {
    let engine = req
        .app_data::<web::Data<Engine>>()
        .ok_or_else(|| ApiError::Internal("engine missing from app data".into()))?;
    let key = presented_key(req).ok_or_else(|| {
        ApiError::Unauthorized("send an API key: Authorization: Bearer <key>".into())
    })?;
    let (id, scope) = match engine.check_key(key) {
        KeyCheck::Accepted { id, scope } => (id, scope),
        KeyCheck::Limited { retry_after } => return Err(ApiError::RateLimited(retry_after)),
        KeyCheck::Unknown => {
            // The only path that touches the failure throttle: a guess, counted against
            // the peer address (never X-Forwarded-For, which the client could forge).
            let peer = throttle::PeerAddress::of(req.peer_addr().map(|a| a.ip()));
            return Err(match engine.authentication_failed(peer) {
                Ok(()) => ApiError::Unauthorized("unknown or revoked API key".into()),
                Err(wait) => ApiError::TooManyFailures(wait),
            });
        }
    };
    if !scope.allows(needed) {
        return Err(ApiError::Forbidden(format!(
            "this route needs an {needed} key; this is a {scope} key"
        )));
    }
    Ok(id)
}

/// Proof that the request carries an admin key; who holds it, for the audit log.
pub struct Admin(pub Actor);
/// Proof that the request carries a client (or admin) key.
pub struct Client;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req, Scope::Admin).and_then(|id| {
            let engine = req
                .app_data::<web::Data<Engine>>()
                .ok_or_else(|| ApiError::Internal("engine missing from app data".into()))?;
            Ok(Admin(engine.actor_of(id)))
        }))
    }
}

impl FromRequest for Client {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req, Scope::Client).map(|_| Client))
    }
}

/// An admin key, or a signed-in admin dashboard session: for the downloads the dashboard
/// links to (a browser sends its session cookie, not a key). The cookie is `SameSite=Strict`
/// and these routes only read, so this opens no cross-site request forgery.
pub struct AdminOrSession;

impl FromRequest for AdminOrSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if presented_key(&req).is_none()
                && let Some(cookie) = req.cookie(SESSION_COOKIE)
                && let Some(engine) = req.app_data::<web::Data<Engine>>()
                && matches!(engine.session(cookie.value()).await, Ok(Some(_)))
            {
                return Ok(AdminOrSession);
            }
            authorize(&req, Scope::Admin).map(|_| AdminOrSession)
        })
    }
}
