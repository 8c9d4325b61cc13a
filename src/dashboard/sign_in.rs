//! Signing in with an admin key, and out.

use super::forms::FormData;
use super::session::{self, SIGN_IN_COOKIE, SignedIn};
use super::{DashboardError, HOME, PageResult, html, redirect, safe_next};
use crate::api::retry_after_seconds;
use crate::engine::Engine;
use crate::engine::throttle::PeerAddress;
use crate::templates::sign_in::{SignInView, page as sign_in_page};
use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, web};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

async fn render(
    req: &HttpRequest,
    status: StatusCode,
    next: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> PageResult {
    let (cookie, csrf) = session::sign_in_token(req).await?;
    let mut response = html(
        status,
        sign_in_page(&SignInView {
            csrf: &csrf,
            next,
            notice,
            error,
        }),
    );
    if let Some(cookie) = cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| DashboardError::Internal(e.to_string()))?;
    }
    Ok(response)
}

/// `GET /dashboard/sign-in`: the form (or home, when already signed in).
pub async fn page(req: HttpRequest, query: web::Query<SignInQuery>) -> PageResult {
    if session::current_session(&req).await?.is_some() {
        return Ok(redirect(HOME));
    }
    let next = safe_next(query.next.as_deref().unwrap_or(HOME));
    let notice = query.signed_out.is_some().then_some("You are signed out.");
    render(&req, StatusCode::OK, next, notice, None).await
}

/// `POST /dashboard/sign-in`: checks the form's token and the key, then opens a session.
pub async fn sign_in(req: HttpRequest, engine: web::Data<Engine>, body: web::Bytes) -> PageResult {
    let form = FormData::parse(&body).map_err(DashboardError::BadRequest)?;
    let next = safe_next(form.get("next")).to_string();
    if !session::check_sign_in_token(&req, form.get("csrf")).await? {
        return render(
            &req,
            StatusCode::FORBIDDEN,
            &next,
            None,
            Some("This sign-in form has expired or was sent from another site. Please try again."),
        )
        .await;
    }
    let signer = session::signer(&req).await?;
    match session::open_session(&req, &engine, &signer, form.get("key")) {
        Some(cookie) => {
            let mut response = redirect(&next);
            let spent = Cookie::build(SIGN_IN_COOKIE, "")
                .path("/")
                .max_age(actix_web::cookie::time::Duration::ZERO)
                .finish();
            for c in [&cookie, &spent] {
                response
                    .add_cookie(c)
                    .map_err(|e| DashboardError::Internal(e.to_string()))?;
            }
            Ok(response)
        }
        None => {
            // An unknown key is a guess: counted against the peer address, like the API's.
            // An empty field or a known client key (merely not an admin key) is no guess:
            // not counted.
            let key = form.get("key").trim();
            let not_a_guess = key.is_empty() || engine.authorize(key).is_some();
            let peer = PeerAddress::of(req.peer_addr().map(|a| a.ip()));
            let counted = if not_a_guess {
                Ok(())
            } else {
                engine.authentication_failed(peer)
            };
            match counted {
                Ok(()) => {
                    render(
                        &req,
                        StatusCode::UNAUTHORIZED,
                        &next,
                        None,
                        Some("That is not an admin key this server accepts."),
                    )
                    .await
                }
                Err(wait) => {
                    let seconds = retry_after_seconds(wait);
                    let message = format!(
                        "Too many failed sign-ins from your address. Please wait {seconds} s \
                         before trying again."
                    );
                    let mut response = render(
                        &req,
                        StatusCode::TOO_MANY_REQUESTS,
                        &next,
                        None,
                        Some(&message),
                    )
                    .await?;
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
                    Ok(response)
                }
            }
        }
    }
}

/// `POST /dashboard/sign-out`.
pub async fn sign_out(
    req: HttpRequest,
    user: SignedIn,
    engine: web::Data<Engine>,
    body: web::Bytes,
) -> PageResult {
    user.form(&body)?; // only its CSRF token counts
    let expires = chrono::DateTime::from_timestamp(user.session.expires, 0).unwrap_or_default();
    engine.end_session(&user.session.nonce, expires).await?;
    let mut response = redirect("/dashboard/sign-in?signed_out=1");
    response
        .add_cookie(&session::closed_session(&req))
        .map_err(|e| DashboardError::Internal(e.to_string()))?;
    Ok(response)
}
