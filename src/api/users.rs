//! `/api/v1/users/{user_id}`: a user's profile, and erasing a user (privacy law) while
//! keeping aggregates consistent.

use super::auth::Admin;
use super::{ApiError, ApiResult};
use crate::domain::profile::{EventHistory, Profile, WINDOWS};
use crate::domain::{Erased, UserId};
use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// `DELETE /api/v1/users/{user_id}`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserErased {
    pub user_id: UserId,
    pub erased: Erased,
}

/// Erases a user's assignments and events; aggregates stay consistent.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "The app's id of the user")),
    responses(
        (status = 200, description = "What was erased", body = UserErased),
        (status = 400, description = "Malformed JSON or invalid input", body = super::ErrorBody),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn erase(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    user_id: web::Path<String>,
) -> ApiResult {
    let user = UserId::parse(user_id.into_inner()).map_err(|e| ApiError::Invalid(e.to_string()))?;
    // Audit (security): recorded in the erasure's transaction, naming the user by a hash.
    let erased = engine.erase_user(&actor, &user).await?;
    Ok(HttpResponse::Ok().json(UserErased {
        user_id: user,
        erased,
    }))
}

/// `GET /api/v1/users/{user_id}/profile`'s answer: what Posterior knows of the user from
/// their events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserProfile {
    pub user_id: UserId,
    /// The user's first event (of any name).
    pub first_seen: DateTime<Utc>,
    /// The user's latest event (of any name).
    pub last_seen: DateTime<Utc>,
    /// Per event name.
    pub events: BTreeMap<String, EventProfile>,
}

/// One event name in a profile.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventProfile {
    /// Events in each window.
    pub count: CountWindows,
    /// Their values summed (events without a value add nothing).
    pub value_sum: SumWindows,
    /// The latest one.
    pub last_at: DateTime<Utc>,
    /// Events per hour of the day, UTC: `hours[19]` counts those between 19:00 and 20:00.
    pub hours: Vec<i64>,
}

/// Counts over rolling windows, read now by whole UTC days: `"7d"` holds today and the six
/// days before (the day at the edge, partly inside the last 7 × 24 h, is left out); `"all"`
/// is all time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountWindows {
    #[serde(rename = "1d")]
    pub day: i64,
    #[serde(rename = "7d")]
    pub week: i64,
    #[serde(rename = "30d")]
    pub month: i64,
    #[serde(rename = "90d")]
    pub quarter: i64,
    pub all: i64,
}

/// Value sums over the same windows as [`CountWindows`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SumWindows {
    #[serde(rename = "1d")]
    pub day: f64,
    #[serde(rename = "7d")]
    pub week: f64,
    #[serde(rename = "30d")]
    pub month: f64,
    #[serde(rename = "90d")]
    pub quarter: f64,
    pub all: f64,
}

impl EventProfile {
    fn of(history: &EventHistory, now: DateTime<Utc>) -> EventProfile {
        let [day, week, month, quarter] = WINDOWS.map(|(_, days)| days);
        EventProfile {
            count: CountWindows {
                day: history.count_within(day, now),
                week: history.count_within(week, now),
                month: history.count_within(month, now),
                quarter: history.count_within(quarter, now),
                all: history.count,
            },
            value_sum: SumWindows {
                day: history.value_sum_within(day, now),
                week: history.value_sum_within(week, now),
                month: history.value_sum_within(month, now),
                quarter: history.value_sum_within(quarter, now),
                all: history.value_sum,
            },
            last_at: history.last_at,
            hours: history.hours.to_vec(),
        }
    }
}

impl UserProfile {
    fn of(user_id: UserId, profile: &Profile, now: DateTime<Utc>) -> Option<UserProfile> {
        Some(UserProfile {
            user_id,
            first_seen: profile.first_seen()?,
            last_seen: profile.last_seen()?,
            events: profile
                .events
                .iter()
                .map(|(name, history)| (name.clone(), EventProfile::of(history, now)))
                .collect(),
        })
    }
}

/// A user's profile: first and last seen, and per event name counts and value sums over
/// rolling windows (1, 7, 30, 90 days and all time), the latest time and the hour-of-day
/// histogram (UTC). Built from the events `/track` stored; erased with the user.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/profile", tag = "users",
    params(("user_id" = String, Path, description = "The app's id of the user")),
    responses(
        (status = 200, description = "The profile", body = UserProfile),
        (status = 400, description = "An invalid user id", body = super::ErrorBody),
        (status = 404, description = "No event of this user is known", body = super::ErrorBody),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn profile(_: Admin, engine: web::Data<Engine>, user_id: web::Path<String>) -> ApiResult {
    let user = UserId::parse(user_id.into_inner()).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let profile = engine.profile(&user).await?;
    profile
        .and_then(|p| UserProfile::of(user, &p, Utc::now()))
        .map(|body| HttpResponse::Ok().json(body))
        .ok_or_else(|| ApiError::NotFound {
            code: "unknown_user",
            message: "no event of this user is known".into(),
        })
}
