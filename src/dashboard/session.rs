//! Dashboard sessions and CSRF tokens.
//!
//! A session is a signed cookie, `expires.nonce.key_hash.signature` (HMAC-SHA256): forged or
//! expired ones are refused without a lookup, and the signing secret lives in the database so
//! every instance shares it. The session names the hash of the admin key it was opened with,
//! and is honoured only while that key is (revoking the key signs its sessions out). Signing
//! out lists the nonce in the database, which ends the session on every instance.
//!
//! Every form carries a CSRF token derived from the session's nonce. The sign-in form, which
//! has no session yet, gets its own: a random nonce in a short-lived SameSite cookie, and the
//! token derived from it.

use super::DashboardError;
use crate::domain::Scope;
use crate::engine::keys::KeyId;
use crate::engine::{Actor, Engine, EngineError, keys};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "posterior_session";
pub const SIGN_IN_COOKIE: &str = "posterior_sign_in";
/// A working day and then some; signing in again is cheap.
pub const SESSION_SECONDS: i64 = 12 * 3600;
const SIGN_IN_SECONDS: i64 = 3600;

/// Signs and checks values with the shared secret.
#[derive(Clone)]
pub struct Signer {
    secret: Arc<[u8]>,
}

impl Signer {
    pub fn new(secret: Vec<u8>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    fn mac(&self, purpose: &str, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        // The purpose keeps a token made for one use from being accepted for another.
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(payload.as_bytes());
        mac
    }

    pub fn sign(&self, purpose: &str, payload: &str) -> String {
        hex(&self.mac(purpose, payload).finalize().into_bytes())
    }

    /// Constant-time check of a signature made by `sign`.
    pub fn verify(&self, purpose: &str, payload: &str, signature: &str) -> bool {
        match unhex(signature) {
            Some(bytes) => self.mac(purpose, payload).verify_slice(&bytes).is_ok(),
            None => false,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn nonce() -> String {
    hex(&rand::random::<[u8; 16]>())
}

/// The signer of this worker, loaded from the database at first use.
#[derive(Default)]
pub struct Sessions {
    signer: tokio::sync::OnceCell<Signer>,
}

impl Sessions {
    pub async fn signer(&self, engine: &Engine) -> Result<&Signer, EngineError> {
        self.signer
            .get_or_try_init(|| async { engine.session_secret().await.map(Signer::new) })
            .await
    }
}

/// A checked session.
#[derive(Debug, Clone)]
pub struct Session {
    pub expires: i64,
    pub nonce: String,
    pub key_hash: String,
}

impl Session {
    fn payload(&self) -> String {
        format!("{}.{}.{}", self.expires, self.nonce, self.key_hash)
    }

    fn cookie_value(&self, signer: &Signer) -> String {
        let payload = self.payload();
        let signature = signer.sign("session", &payload);
        format!("{payload}.{signature}")
    }

    fn parse(value: &str, signer: &Signer, now: i64) -> Option<Session> {
        let (payload, signature) = value.rsplit_once('.')?;
        if !signer.verify("session", payload, signature) {
            return None;
        }
        let mut parts = payload.splitn(3, '.');
        let session = Session {
            expires: parts.next()?.parse().ok()?,
            nonce: parts.next()?.to_string(),
            key_hash: parts.next()?.to_string(),
        };
        (session.expires > now).then_some(session)
    }
}

/// Proof that the request comes from a signed-in admin, with the CSRF token for its forms.
pub struct SignedIn {
    pub session: Session,
    pub csrf: String,
    /// The admin key the session was opened with.
    pub key: KeyId,
    signer: Signer,
}

impl SignedIn {
    /// Who acts, for the audit log: `dashboard:<key id>`.
    pub fn actor(&self) -> Actor {
        Actor::dashboard(self.key)
    }

    /// A submitted form, refused unless it carries this session's CSRF token.
    pub fn form(&self, body: &[u8]) -> Result<super::forms::FormData, DashboardError> {
        let data = super::forms::FormData::parse(body).map_err(DashboardError::BadRequest)?;
        self.check_csrf(data.get("csrf"))?;
        Ok(data)
    }

    /// Refuses a form whose token is not this session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), DashboardError> {
        if self.signer.verify("csrf", &self.session.nonce, token) {
            Ok(())
        } else {
            Err(DashboardError::Forbidden(
                "This form has expired or was sent from another site. Go back, reload the page and try again."
                    .into(),
            ))
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn signer_of(req: &HttpRequest) -> Result<(web::Data<Engine>, Signer), DashboardError> {
    let engine = req
        .app_data::<web::Data<Engine>>()
        .cloned()
        .ok_or_else(|| DashboardError::Internal("engine missing from app data".into()))?;
    let sessions = req
        .app_data::<web::Data<Sessions>>()
        .cloned()
        .ok_or_else(|| DashboardError::Internal("sessions missing from app data".into()))?;
    let signer = sessions.signer(&engine).await?.clone();
    Ok((engine, signer))
}

/// The session of a request, if it has a valid one whose key is still an admin key.
pub async fn current_session(req: &HttpRequest) -> Result<Option<SignedIn>, DashboardError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let (engine, signer) = signer_of(req).await?;
    let Some(session) = Session::parse(cookie.value(), &signer, now()) else {
        return Ok(None);
    };
    // The key must still be an accepted admin key: revoking it ends its sessions (on every
    // instance within a refresh interval).
    let Some((key, Scope::Admin)) = engine.key_of_hash(&session.key_hash) else {
        return Ok(None);
    };
    if engine.session_ended(&session.nonce).await? {
        return Ok(None);
    }
    let csrf = signer.sign("csrf", &session.nonce);
    Ok(Some(SignedIn {
        session,
        csrf,
        key,
        signer,
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
fn secure(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

fn cookie<'c>(req: &HttpRequest, name: &'c str, value: String, seconds: i64) -> Cookie<'c> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(req))
        .max_age(CookieDuration::seconds(seconds))
        .finish()
}

/// Checks an admin key typed at sign-in and opens a session for it.
pub fn open_session(
    req: &HttpRequest,
    engine: &Engine,
    signer: &Signer,
    presented_key: &str,
) -> Option<Cookie<'static>> {
    if engine.authorize(presented_key.trim()) != Some(Scope::Admin) {
        return None;
    }
    let session = Session {
        expires: now() + SESSION_SECONDS,
        nonce: nonce(),
        key_hash: keys::hash_key(presented_key.trim()),
    };
    Some(cookie(
        req,
        SESSION_COOKIE,
        session.cookie_value(signer),
        SESSION_SECONDS,
    ))
}

/// An expired cookie that makes the browser forget the session.
pub fn closed_session(req: &HttpRequest) -> Cookie<'static> {
    cookie(req, SESSION_COOKIE, String::new(), 0)
}

/// The sign-in form's CSRF pair: the cookie to set (when the visitor has none) and the
/// token for the form.
pub async fn sign_in_token(
    req: &HttpRequest,
) -> Result<(Option<Cookie<'static>>, String), DashboardError> {
    let (_, signer) = signer_of(req).await?;
    let (cookie_to_set, value) = match req.cookie(SIGN_IN_COOKIE) {
        Some(c) if c.value().len() == 32 => (None, c.value().to_string()),
        _ => {
            let value = nonce();
            (
                Some(cookie(req, SIGN_IN_COOKIE, value.clone(), SIGN_IN_SECONDS)),
                value,
            )
        }
    };
    Ok((cookie_to_set, signer.sign("sign-in", &value)))
}

/// Whether a sign-in form's token matches the visitor's sign-in cookie.
pub async fn check_sign_in_token(req: &HttpRequest, token: &str) -> Result<bool, DashboardError> {
    let (_, signer) = signer_of(req).await?;
    Ok(req
        .cookie(SIGN_IN_COOKIE)
        .is_some_and(|c| signer.verify("sign-in", c.value(), token)))
}

pub async fn signer(req: &HttpRequest) -> Result<Signer, DashboardError> {
    Ok(signer_of(req).await?.1)
}

/// For other handlers (e.g. the export download linked from the dashboard): whether the
/// request carries a valid admin session.
pub async fn has_admin_session(req: &HttpRequest) -> bool {
    matches!(current_session(req).await, Ok(Some(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_check_their_signature_and_expiry() {
        let signer = Signer::new(vec![7; 32]);
        let session = Session {
            expires: 1000,
            nonce: "abc".into(),
            key_hash: "deadbeef".into(),
        };
        let value = session.cookie_value(&signer);
        assert!(Session::parse(&value, &signer, 999).is_some());
        assert!(Session::parse(&value, &signer, 1000).is_none(), "expired");
        let forged = value.replacen("1000", "9999", 1);
        assert!(Session::parse(&forged, &signer, 999).is_none(), "tampered");
        let other = Signer::new(vec![8; 32]);
        assert!(
            Session::parse(&value, &other, 999).is_none(),
            "other secret"
        );
        assert!(!signer.verify("csrf", "abc", &signer.sign("sign-in", "abc")));
        assert!(!signer.verify("csrf", "abc", "zz"));
    }
}
