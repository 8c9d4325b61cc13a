//! The user page: look a user up (`/dashboard/users?user_id=...`).

use super::error::PageResult;
use super::page::{form_status, html};
use super::session::SignedIn;
use crate::domain::UserId;
use crate::engine::Engine;
use crate::templates::user_page::{self, AssignmentRow, EventRow, Found, UserView};
use actix_web::http::StatusCode;
use actix_web::web;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct UserQuery {
    user_id: Option<String>,
}

/// `GET /dashboard/users[?user_id=ID]`: the form, and what is known of the user asked for.
pub async fn page(
    user: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<UserQuery>,
) -> PageResult {
    let typed = query.user_id.as_deref().map(str::trim).unwrap_or("");
    let now = chrono::Utc::now();
    if typed.is_empty() {
        return Ok(html(StatusCode::OK, render(&user, typed, None, None, now)));
    }
    let id = match UserId::parse(typed.to_string()) {
        Ok(id) => id,
        Err(e) => {
            let message = e.to_string();
            let page = render(&user, typed, Some(&message), None, now);
            return Ok(html(form_status(true), page));
        }
    };
    let lookup = engine.look_up_user(&id).await?;
    let found = Found {
        user_id: id.as_str(),
        profile: lookup.profile.as_ref(),
        assignments: lookup
            .assignments
            .iter()
            .map(|a| AssignmentRow {
                experiment: &a.experiment,
                variant: &a.variant,
                assigned_at: a.assigned_at,
                converted_at: a.converted_at,
            })
            .collect(),
        events: lookup
            .recent_events
            .iter()
            .map(|e| EventRow {
                event_id: &e.event_id,
                name: &e.name,
                value: e.value,
                occurred_at: e.occurred_at,
            })
            .collect(),
        held_out_at: lookup.held_out_at,
    };
    Ok(html(
        StatusCode::OK,
        render(&user, typed, None, Some(found), now),
    ))
}

fn render(
    user: &SignedIn,
    typed: &str,
    error: Option<&str>,
    found: Option<Found>,
    now: chrono::DateTime<chrono::Utc>,
) -> maud::Markup {
    user_page::page(&UserView {
        csrf: &user.csrf,
        query: typed,
        error,
        found,
        now,
    })
}
