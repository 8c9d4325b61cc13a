//! Dashboard sessions: signing in with an admin key, checking a session, signing out.
//!
//! A session is a cookie whose value, `expires.nonce.key_hash`, is signed by the `cookie`
//! crate's signed jar (HMAC-SHA256) with a key derived from a secret in the database, so every
//! instance accepts every instance's sessions; a forged or expired one is refused without a
//! lookup. The session names the hash of the admin key it was opened with and is honoured only
//! while that key is accepted (revoking the key ends its sessions). Signing out lists the nonce
//! in the database, which ends the session on every instance.
//!
//! Signing in is where a person types a key, and where a guesser would: an address over its
//! budget of failed authentications is refused before its key is looked at, the right key
//! included, so that no answer tells a guesser that a guess was right.

use super::keys::{self, KeyId};
use super::throttle::PeerAddress;
use super::{Engine, EngineError};
use crate::domain::Scope;
use crate::store;
use chrono::{DateTime, Utc};
use cookie::{Cookie, CookieJar, Key};
use std::time::Duration;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "posterior_session";
/// A working day and then some; signing in again is cheap.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// Signs cookie values, and checks them, with the key every instance derives from the shared
/// secret.
#[derive(Clone)]
pub struct CookieSigner(Key);

impl CookieSigner {
    pub fn new(secret: &[u8]) -> Self {
        CookieSigner(Key::derive_from(secret))
    }

    /// `value` signed, as the value of the cookie `name`.
    pub fn sign(&self, name: &str, value: String) -> String {
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.0)
            .add(Cookie::new(name.to_string(), value));
        jar.get(name)
            .map(|c| c.value().to_string())
            .expect("the cookie just added")
    }

    /// The value of the cookie `name` whose value as received is `signed`, if it carries our
    /// signature.
    pub fn verify(&self, name: &str, signed: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(name.to_string(), signed.to_string()));
        jar.signed(&self.0).get(name).map(|c| c.value().to_string())
    }
}

/// A checked session: signed here, not expired, not signed out, and opened with an admin key
/// that is still accepted.
#[derive(Debug, Clone)]
pub struct Session {
    /// Names the session (for signing out); random, 128 bits.
    pub nonce: String,
    pub expires: DateTime<Utc>,
    /// The admin key the session was opened with.
    pub key: KeyId,
}

/// What a sign-in attempt came to.
#[derive(Debug)]
pub enum SignIn {
    /// An admin key: the value of the session cookie to set.
    Opened { cookie_value: String },
    /// An empty field, or a known key that is not an admin key: refused, but no guess.
    NotAdmin,
    /// An unknown key: refused, and counted against the address.
    Refused,
    /// The address is over its budget: refused without looking at the key; retry after this.
    Throttled(Duration),
}

/// What the session cookie holds, before it is signed.
struct Payload {
    expires: i64,
    nonce: String,
    key_hash: String,
}

impl Payload {
    fn text(&self) -> String {
        format!("{}.{}.{}", self.expires, self.nonce, self.key_hash)
    }

    fn parse(text: &str) -> Option<Payload> {
        let mut parts = text.splitn(3, '.');
        Some(Payload {
            expires: parts.next()?.parse().ok()?,
            nonce: parts.next()?.to_string(),
            key_hash: parts.next()?.to_string(),
        })
    }
}

/// A random 128-bit value, in hex.
pub fn nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Engine {
    /// The signer of cookie values, loaded from the database at first use.
    pub async fn cookie_signer(&self) -> Result<&CookieSigner, EngineError> {
        self.inner
            .cookie_signer
            .get_or_try_init(|| async {
                let candidate: [u8; 32] = rand::random();
                let secret = self
                    .inner
                    .store
                    .run(move |conn| store::session_secret(conn, &candidate))
                    .await?;
                Ok(CookieSigner::new(&secret))
            })
            .await
    }

    /// A person typing `presented` at the sign-in form, from `peer`.
    pub async fn sign_in(&self, peer: PeerAddress, presented: &str) -> Result<SignIn, EngineError> {
        if let Some(wait) = self.inner.auth_throttle.wait(peer) {
            return Ok(SignIn::Throttled(wait));
        }
        let key = presented.trim();
        match self.authorize(key) {
            Some(Scope::Admin) => {
                let payload = Payload {
                    expires: Utc::now().timestamp() + SESSION_SECONDS,
                    nonce: nonce(),
                    key_hash: keys::hash_key(key),
                };
                let cookie_value = self
                    .cookie_signer()
                    .await?
                    .sign(SESSION_COOKIE, payload.text());
                Ok(SignIn::Opened { cookie_value })
            }
            Some(Scope::Client) => Ok(SignIn::NotAdmin),
            None if key.is_empty() => Ok(SignIn::NotAdmin),
            None => Ok(match self.authentication_failed(peer) {
                Ok(()) => SignIn::Refused,
                Err(wait) => SignIn::Throttled(wait),
            }),
        }
    }

    /// The session a session cookie's value stands for, if it is a valid one.
    pub async fn session(&self, cookie_value: &str) -> Result<Option<Session>, EngineError> {
        let Some(payload) = self
            .cookie_signer()
            .await?
            .verify(SESSION_COOKIE, cookie_value)
            .and_then(|text| Payload::parse(&text))
        else {
            return Ok(None);
        };
        let Some(expires) =
            DateTime::from_timestamp(payload.expires, 0).filter(|expires| *expires > Utc::now())
        else {
            return Ok(None);
        };
        // Revoking the key ends its sessions, on every instance within a refresh interval.
        let Some((key, Scope::Admin)) = self.inner.keys.by_hash(&payload.key_hash) else {
            return Ok(None);
        };
        let nonce = payload.nonce;
        let probe = nonce.clone();
        let ended = self
            .inner
            .store
            .run(move |conn| store::session_ended(conn, &probe))
            .await?;
        Ok((!ended).then_some(Session {
            nonce,
            expires,
            key,
        }))
    }

    /// Signs a session out, on every instance.
    pub async fn end_session(&self, session: &Session) -> Result<(), EngineError> {
        let (nonce, expires) = (session.nonce.clone(), session.expires);
        Ok(self
            .inner
            .store
            .run(move |conn| store::end_session(conn, &nonce, expires))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_check_their_signature() {
        let signer = CookieSigner::new(&[7; 32]);
        let value = signer.sign(SESSION_COOKIE, "1000.abc.deadbeef".into());
        assert_eq!(
            signer.verify(SESSION_COOKIE, &value).as_deref(),
            Some("1000.abc.deadbeef")
        );
        let tampered = value.replacen("1000", "9999", 1);
        assert_eq!(signer.verify(SESSION_COOKIE, &tampered), None);
        let other = CookieSigner::new(&[8; 32]);
        assert_eq!(other.verify(SESSION_COOKIE, &value), None, "other secret");
        assert_eq!(signer.verify(SESSION_COOKIE, "zz"), None);
    }

    #[test]
    fn payloads_read_back() {
        let p = Payload {
            expires: 1000,
            nonce: nonce(),
            key_hash: "deadbeef".into(),
        };
        let back = Payload::parse(&p.text()).unwrap();
        assert_eq!(
            (back.expires, back.nonce, back.key_hash),
            (1000, p.nonce, p.key_hash)
        );
        assert!(Payload::parse("x.y.z").is_none());
    }
}
