//! Signing in with an admin key, and out.

use super::error::{DashboardError, PageResult};
use super::forms::FormData;
use super::page::{HOME, html, redirect, safe_next};
use super::session::{self, Posted};
use crate::engine::Engine;
use crate::engine::sessions::SignIn;
use crate::engine::throttle::{PeerAddress, retry_after_seconds};
use crate::templates::sign_in::{SignInView, page as sign_in_page};
use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

fn with_cookies(mut response: HttpResponse, cookies: &[Cookie]) -> PageResult {
    for cookie in cookies {
        response
            .add_cookie(cookie)
            .map_err(|e| DashboardError::Internal(e.to_string()))?;
    }
    Ok(response)
}

async fn render(
    req: &HttpRequest,
    status: StatusCode,
    next: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> PageResult {
    let (cookie, csrf) = session::sign_in_token(req).await?;
    let page = sign_in_page(&SignInView {
        csrf: &csrf,
        next,
        notice,
        error,
    });
    with_cookies(html(status, page), cookie.as_slice())
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

/// `POST /dashboard/sign-in`: checks the form's token, then lets the engine check the key
/// (and the address's budget of failures) and open a session.
pub async fn sign_in(req: HttpRequest, engine: web::Data<Engine>, body: web::Bytes) -> PageResult {
    let form = FormData::parse(&body).map_err(DashboardError::BadRequest)?;
    let next = safe_next(form.get("next")).to_string();
    if !session::check_sign_in_token(&req, form.get("csrf")).await? {
        let error =
            "This sign-in form has expired or was sent from another site. Please try again.";
        return render(&req, StatusCode::FORBIDDEN, &next, None, Some(error)).await;
    }
    let peer = PeerAddress::of(req.peer_addr().map(|a| a.ip()));
    match engine.sign_in(peer, form.get("key")).await? {
        SignIn::Opened { cookie_value } => with_cookies(
            redirect(&next),
            &[
                session::session_cookie(&req, cookie_value),
                session::spent_sign_in(&req),
            ],
        ),
        SignIn::NotAdmin | SignIn::Refused => {
            let error = "That is not an admin key this server accepts.";
            render(&req, StatusCode::UNAUTHORIZED, &next, None, Some(error)).await
        }
        SignIn::Throttled(wait) => {
            let seconds = retry_after_seconds(wait);
            let error = format!(
                "Too many failed sign-ins from your address. Please wait {seconds} s before trying again."
            );
            let status = StatusCode::TOO_MANY_REQUESTS;
            let mut response = render(&req, status, &next, None, Some(&error)).await?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            Ok(response)
        }
    }
}

/// `POST /dashboard/sign-out`.
pub async fn sign_out(req: HttpRequest, posted: Posted) -> PageResult {
    posted.engine.end_session(&posted.user.session).await?;
    with_cookies(
        redirect("/dashboard/sign-in?signed_out=1"),
        &[session::closed_session(&req)],
    )
}
