//! Segment pages (list, create, edit, delete) and the holdout setting.

use super::error::{PageResult, conflict_at_field, refused};
use super::forms::numbers::{parse_percent, percent_text};
use super::forms::segment as form;
use super::page::{form_html, form_status, html, redirect};
use super::session::{Posted, SignedIn};
use crate::domain::{Segment, Status, Violation};
use crate::engine::{Engine, EngineError};
use crate::templates::form_values::{FieldErrors, SegmentForm};
use crate::templates::segment_pages::{self, SegmentFormView, SegmentListView};
use actix_web::web;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    done: Option<String>,
    /// A goal event: compare held-out with exposed users on it.
    event: Option<String>,
}

/// The holdout share as typed, and why it was refused.
struct TypedHoldout<'a> {
    text: &'a str,
    error: &'a str,
}

async fn render_list(
    user: &SignedIn,
    engine: &Engine,
    typed: Option<TypedHoldout<'_>>,
    done: Option<&str>,
    event: Option<&str>,
) -> PageResult {
    let event = event.map(str::trim).filter(|e| !e.is_empty());
    let results = match event {
        Some(e) => Some(match engine.holdout_results(e).await {
            Ok(r) => Ok(r),
            Err(EngineError::Invalid(v)) => Err(v.violation.to_string()),
            Err(other) => return Err(other.into()),
        }),
        None => None,
    };
    let (segments, experiments, holdout) = tokio::try_join!(
        engine.list_segments(),
        engine.list_experiments(),
        engine.holdout()
    )?;
    let used_by: Vec<Vec<String>> = segments
        .iter()
        .map(|s| {
            experiments
                .iter()
                .filter(|e| e.status != Status::Stopped)
                .filter(|e| e.spec.segment_refs().iter().any(|r| **r == s.spec.key))
                .map(|e| e.spec.key.to_string())
                .collect()
        })
        .collect();
    let shown = typed
        .as_ref()
        .map_or_else(|| percent_text(holdout), |t| t.text.to_string());
    Ok(html(
        form_status(typed.is_some()),
        segment_pages::list_page(&SegmentListView {
            csrf: &user.csrf,
            segments: &segments,
            used_by: &used_by,
            holdout: &shown,
            holdout_error: typed.map(|t| t.error),
            done,
            event: event.unwrap_or(""),
            results: results.as_ref().map(|r| r.as_ref().map_err(String::as_str)),
        }),
    ))
}

/// `GET /dashboard/segments`: the segments and the holdout.
pub async fn list(
    user: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<ListQuery>,
) -> PageResult {
    let (done, event) = (query.done.as_deref(), query.event.as_deref());
    render_list(&user, &engine, None, done, event).await
}

fn render_form(
    user: &SignedIn,
    segment: Option<&Segment>,
    form: &SegmentForm,
    errors: &FieldErrors,
) -> PageResult {
    Ok(form_html(
        errors,
        segment_pages::form_page(&SegmentFormView {
            csrf: &user.csrf,
            segment,
            form,
            errors,
        }),
    ))
}

/// `GET /dashboard/segments/new`.
pub async fn new_form(user: SignedIn) -> PageResult {
    render_form(
        &user,
        None,
        &SegmentForm::default(),
        &FieldErrors::default(),
    )
}

/// `POST /dashboard/segments` (create) and `POST /dashboard/segments/{key}` (save): the form
/// again with one more row for "add a condition", with the errors when refused.
async fn save(posted: Posted, segment: Option<Segment>) -> PageResult {
    let Posted { user, engine, data } = posted;
    let typed = form::read(&data);
    let segment = segment.as_ref();
    if data.get("action") == "add_condition" {
        let with_row = typed.with_spare_rows(1);
        return render_form(&user, segment, &with_row, &FieldErrors::default());
    }
    let form = typed.with_spare_rows(0);
    let draft = match form::to_draft(&form, segment.is_none()) {
        Ok(d) => d,
        Err(errors) => {
            return render_form(&user, segment, &form.clone().with_spare_rows(1), &errors);
        }
    };
    let saved = match segment {
        None => engine.create_segment(&user.actor(), draft).await,
        Some(s) => {
            engine
                .update_segment(&user.actor(), s.spec.key.as_str(), draft)
                .await
        }
    };
    match refused(saved, |e| form::refusal(&form, e), conflict_at_field)? {
        Ok(_) => {
            let done = if segment.is_some() {
                "saved"
            } else {
                "created"
            };
            Ok(redirect(&format!("/dashboard/segments?done={done}")))
        }
        Err(errors) => render_form(&user, segment, &form, &errors),
    }
}

/// `POST /dashboard/segments`: create (or add a condition row).
pub async fn create(posted: Posted) -> PageResult {
    save(posted, None).await
}

/// `GET /dashboard/segments/{key}`: the edit form.
pub async fn edit_form(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> PageResult {
    let segment = engine.segment(&key).await?;
    let form = form::of_segment(&segment).with_spare_rows(1);
    render_form(&user, Some(&segment), &form, &FieldErrors::default())
}

/// `POST /dashboard/segments/{key}`: save (or add a condition row).
pub async fn update(posted: Posted, key: web::Path<String>) -> PageResult {
    let segment = posted.engine.segment(&key).await?;
    save(posted, Some(segment)).await
}

/// `POST /dashboard/segments/{key}/delete`.
pub async fn delete(posted: Posted, key: web::Path<String>) -> PageResult {
    let actor = posted.user.actor();
    posted.engine.delete_segment(&actor, &key).await?;
    Ok(redirect("/dashboard/segments?done=deleted"))
}

/// `POST /dashboard/holdout`: the held-out share, typed as a percentage.
pub async fn set_holdout(posted: Posted) -> PageResult {
    let Posted { user, engine, data } = posted;
    let text = data.get("fraction");
    let error = match parse_percent(text) {
        Err(_) => "type a percentage such as 5".to_string(),
        Ok(share) => match engine.set_holdout(&user.actor(), share).await {
            Ok(_) => return Ok(redirect("/dashboard/segments?done=holdout")),
            // The bounds the domain holds the share to, in the form's percentages.
            Err(EngineError::Invalid(e)) => match e.violation {
                Violation::OutOfRange { min, max } => format!(
                    "must be between {}% and {}%",
                    percent_text(min),
                    percent_text(max)
                ),
                other => other.to_string(),
            },
            Err(e) => return Err(e.into()),
        },
    };
    let typed = TypedHoldout {
        text,
        error: &error,
    };
    render_list(&user, &engine, Some(typed), None, None).await
}
