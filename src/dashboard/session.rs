//! The dashboard's side of sessions (the engine signs and checks them, `engine::sessions`):
//! the cookies as a browser gets them, the `SignedIn` extractor, and the CSRF tokens of forms.
//!
//! A signed-in page's forms carry the session's nonce as their CSRF token: the session cookie
//! is signed, `HttpOnly` and `SameSite=Strict`, so another site can neither read nor forge
//! it. The sign-in form, which has no session yet, carries the random value of a short-lived
//! signed cookie of its own.

use super::error::DashboardError;
use super::forms::FormData;
use crate::engine::sessions::{self, SESSION_COOKIE, SESSION_SECONDS, Session};
use crate::engine::{Actor, Engine};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use subtle::ConstantTimeEq;

const SIGN_IN_COOKIE: &str = "posterior_sign_in";
const SIGN_IN_SECONDS: i64 = 3600;

/// Proof that the request comes from a signed-in admin, with the CSRF token for its forms.
pub struct SignedIn {
    pub session: Session,
    pub csrf: String,
}

impl SignedIn {
    /// Who acts, for the audit log: `dashboard:<key id>`.
    pub fn actor(&self) -> Actor {
        Actor::dashboard(self.session.key)
    }

    /// A submitted form, refused unless it carries this session's CSRF token.
    fn form(&self, body: &[u8]) -> Result<FormData, DashboardError> {
        let data = FormData::parse(body).map_err(DashboardError::BadRequest)?;
        if same_token(data.get("csrf"), &self.csrf) {
            Ok(data)
        } else {
            Err(DashboardError::Forbidden(
                "This form has expired or was sent from another site. Go back, reload the page and try again."
                    .into(),
            ))
        }
    }
}

/// A form posted by a signed-in admin, its CSRF token checked: what every dashboard `POST`
/// but signing in takes, so none can forget the check.
pub struct Posted {
    pub user: SignedIn,
    pub engine: web::Data<Engine>,
    pub data: FormData,
}

impl FromRequest for Posted {
    /// The body's own errors (too large, ...) answer as actix answers them.
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = SignedIn::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        let engine = engine_of(req).cloned();
        Box::pin(async move {
            let user = user.await?;
            let data = user.form(&body.await?)?;
            Ok(Posted {
                user,
                engine: engine?,
                data,
            })
        })
    }
}

/// Token comparison in constant time, so response times tell nothing about a guess.
fn same_token(sent: &str, expected: &str) -> bool {
    sent.as_bytes().ct_eq(expected.as_bytes()).into()
}

fn engine_of(req: &HttpRequest) -> Result<&web::Data<Engine>, DashboardError> {
    req.app_data::<web::Data<Engine>>()
        .ok_or_else(|| DashboardError::Internal("engine missing from app data".into()))
}

/// The session of a request, if it carries a valid one.
pub async fn current_session(req: &HttpRequest) -> Result<Option<SignedIn>, DashboardError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let session = engine_of(req)?.session(cookie.value()).await?;
    Ok(session.map(|session| SignedIn {
        csrf: session.nonce.clone(),
        session,
    }))
}

impl FromRequest for SignedIn {
    type Error = DashboardError;
    type Future = LocalBoxFuture<'static, Result<Self, DashboardError>>;

    /// Without a valid session, the visitor is sent to sign in (and brought back after).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            current_session(&req).await?.ok_or_else(|| {
                let back = match req.query_string() {
                    "" => req.path().to_string(),
                    q => format!("{}?{q}", req.path()),
                };
                DashboardError::SignInRequired {
                    next: (req.method() == actix_web::http::Method::GET).then_some(back),
                }
            })
        })
    }
}

/// Cookies are `Secure` when the visitor reached us over HTTPS (directly or via a proxy that
/// says so), and only then: a plain-HTTP deployment must still be able to sign in.
fn cookie(req: &HttpRequest, name: &'static str, value: String, seconds: i64) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(CookieDuration::seconds(seconds))
        .finish()
}

/// The session cookie to set, with the value the engine signed.
pub fn session_cookie(req: &HttpRequest, value: String) -> Cookie<'static> {
    cookie(req, SESSION_COOKIE, value, SESSION_SECONDS)
}

/// An expired session cookie, which makes the browser forget the session.
pub fn closed_session(req: &HttpRequest) -> Cookie<'static> {
    cookie(req, SESSION_COOKIE, String::new(), 0)
}

/// An expired sign-in cookie: once signed in, its token has served.
pub fn spent_sign_in(req: &HttpRequest) -> Cookie<'static> {
    cookie(req, SIGN_IN_COOKIE, String::new(), 0)
}

/// The sign-in form's CSRF pair: the cookie to set (when the visitor has no valid one) and
/// the token for the form.
pub async fn sign_in_token(
    req: &HttpRequest,
) -> Result<(Option<Cookie<'static>>, String), DashboardError> {
    let signer = engine_of(req)?.cookie_signer().await?;
    if let Some(token) = req
        .cookie(SIGN_IN_COOKIE)
        .and_then(|c| signer.verify(SIGN_IN_COOKIE, c.value()))
    {
        return Ok((None, token));
    }
    let token = sessions::nonce();
    let signed = signer.sign(SIGN_IN_COOKIE, token.clone());
    Ok((
        Some(cookie(req, SIGN_IN_COOKIE, signed, SIGN_IN_SECONDS)),
        token,
    ))
}

/// Whether a sign-in form's token is the one of the visitor's sign-in cookie.
pub async fn check_sign_in_token(req: &HttpRequest, token: &str) -> Result<bool, DashboardError> {
    let signer = engine_of(req)?.cookie_signer().await?;
    Ok(req
        .cookie(SIGN_IN_COOKIE)
        .and_then(|c| signer.verify(SIGN_IN_COOKIE, c.value()))
        .is_some_and(|expected| same_token(token, &expected)))
}
