//! The user page: look a user up by id and see what Posterior knows of them: their profile
//! (counts and value sums over rolling windows, hour-of-day habits), their assignments with
//! variants, their latest events and their holdout membership.

use super::components::{Field, InputOptions, text_field};
use super::format;
use super::layout::{Nav, Page, layout};
use crate::domain::profile::{Profile, WINDOWS};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

pub struct AssignmentRow<'a> {
    pub experiment: &'a str,
    pub variant: &'a str,
    pub assigned_at: DateTime<Utc>,
    pub converted_at: Option<DateTime<Utc>>,
}

pub struct EventRow<'a> {
    pub event_id: &'a str,
    pub name: &'a str,
    pub value: Option<f64>,
    pub occurred_at: DateTime<Utc>,
}

/// What was found of the user asked for.
pub struct Found<'a> {
    pub user_id: &'a str,
    pub profile: Option<&'a Profile>,
    pub assignments: Vec<AssignmentRow<'a>>,
    pub events: Vec<EventRow<'a>>,
    pub held_out_at: Option<DateTime<Utc>>,
}

pub struct UserView<'a> {
    pub csrf: &'a str,
    /// What was typed in the form.
    pub query: &'a str,
    /// Why the id was refused.
    pub error: Option<&'a str>,
    pub found: Option<Found<'a>>,
    pub now: DateTime<Utc>,
}

pub fn page(view: &UserView) -> Markup {
    layout(
        &Page::signed_in("Users", view.csrf, Nav::Users),
        html! {
            div.page-head {
                div {
                    h1 { "Users" }
                    p.subtitle { "What Posterior knows of one user, from the events their apps sent. Times in UTC." }
                }
            }
            form method="get" action="/dashboard/users" {
                (text_field(
                    &Field { name: "user_id", label: "User id", hint: Some("The app's id of the user, as sent to /assign and /track."), error: view.error },
                    view.query,
                    InputOptions { required: true, ..Default::default() },
                ))
                button type="submit" { "Look up" }
            }
            @if let Some(found) = &view.found {
                (user(found, view.now))
            }
        },
    )
}

fn user(found: &Found, now: DateTime<Utc>) -> Markup {
    html! {
        h2 { "User " code { (found.user_id) } }
        @if let Some(at) = found.held_out_at {
            p #holdout { "Held out of every experiment since " (format::utc(at)) "." }
        }
        section #profile aria-labelledby="profile-heading" {
            h3 #profile-heading { "Profile" }
            @match found.profile {
                None => { p.empty { "No event of this user is known." } }
                Some(profile) => { (profile_table(profile, now)) }
            }
        }
        section #assignments aria-labelledby="assignments-heading" {
            h3 #assignments-heading { "Assignments" }
            @if found.assignments.is_empty() {
                p.empty { "No assignment." }
            } @else {
                div.table-scroll {
                    table.list {
                        thead { tr { th scope="col" { "Experiment" } th scope="col" { "Variant" } th scope="col" { "Assigned" } th scope="col" { "Goal reached" } } }
                        tbody {
                            @for a in &found.assignments {
                                tr {
                                    td { a href={ "/dashboard/experiments/" (a.experiment) } { (a.experiment) } }
                                    td { code { (a.variant) } }
                                    td { (format::utc(a.assigned_at)) }
                                    td { @match a.converted_at { Some(t) => { (format::utc(t)) } None => { span.muted { "—" } } } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section #events aria-labelledby="events-heading" {
            h3 #events-heading { "Latest events" }
            @if found.events.is_empty() {
                p.empty { "No stored event." }
            } @else {
                div.table-scroll {
                    table.list {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "Value" } th scope="col" { "Id" } } }
                        tbody {
                            @for e in &found.events {
                                tr {
                                    td { (format::utc(e.occurred_at)) }
                                    td { code { (e.name) } }
                                    td.num { @match e.value { Some(v) => { (format::number(v)) } None => { span.muted { "—" } } } }
                                    td { code { (e.event_id) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn profile_table(profile: &Profile, now: DateTime<Utc>) -> Markup {
    html! {
        p {
            @if let Some(t) = profile.first_seen() { "First seen " (format::utc(t)) }
            @if let Some(t) = profile.last_seen() { ", last seen " (format::utc(t)) "." }
        }
        div.table-scroll {
            table.list {
                caption.visually-hidden { "Events per name: count (value sum) over rolling windows of whole UTC days" }
                thead {
                    tr {
                        th scope="col" { "Event" }
                        @for (name, _) in WINDOWS { th scope="col" { (name) } }
                        th scope="col" { "All time" }
                        th scope="col" { "Last" }
                        th scope="col" { "Usual hour" }
                    }
                }
                tbody {
                    @for (name, history) in &profile.events {
                        tr {
                            th scope="row" { code { (name) } }
                            @for (_, days) in WINDOWS {
                                td.num { (count_and_sum(history.count_within(days, now), history.value_sum_within(days, now))) }
                            }
                            td.num { (count_and_sum(history.count, history.value_sum)) }
                            td { (format::utc(history.last_at)) }
                            td { @match history.best_hour() { Some(h) => { (format!("{h:02}:00")) } None => { span.muted { "—" } } } }
                        }
                    }
                }
            }
        }
    }
}

fn count_and_sum(count: i64, sum: f64) -> Markup {
    html! {
        (format::thousands(count))
        @if sum != 0.0 { " " span.muted { "(" (format::number(sum)) ")" } }
    }
}
