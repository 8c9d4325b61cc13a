//! Segment pages (list, create, edit, delete) and the holdout setting.

use super::forms::{FieldErrors, SegmentForm, percent_text};
use super::{PageResult, SignedIn, form_html, html, query_encode, redirect};
use crate::domain::{Segment, Status};
use crate::engine::{Engine, EngineError};
use crate::templates::segment_pages::{self, SegmentFormView, SegmentListView};
use actix_web::http::StatusCode;
use actix_web::web;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    done: Option<String>,
    /// A goal event: compare held-out with exposed users on it.
    event: Option<String>,
}

async fn render_list(
    user: &SignedIn,
    engine: &Engine,
    holdout_text: Option<&str>,
    holdout_error: Option<&str>,
    done: Option<&str>,
    event: Option<&str>,
) -> PageResult {
    let event = event.map(str::trim).filter(|e| !e.is_empty());
    let results = match event {
        Some(e) => Some(match engine.holdout_results(e).await {
            Ok(r) => Ok(r),
            Err(EngineError::Invalid(v)) => Err(v.message),
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
    let typed = holdout_text.map_or_else(|| percent_text(holdout), str::to_string);
    let status = if holdout_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(html(
        status,
        segment_pages::list_page(&SegmentListView {
            csrf: &user.csrf,
            segments: &segments,
            used_by: &used_by,
            holdout: &typed,
            holdout_error,
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
    render_list(
        &user,
        &engine,
        None,
        None,
        query.done.as_deref(),
        query.event.as_deref(),
    )
    .await
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

/// `POST /dashboard/segments`: create (or add a condition row).
pub async fn create(user: SignedIn, engine: web::Data<Engine>, body: web::Bytes) -> PageResult {
    let data = user.form(&body)?;
    let form = SegmentForm::from_form(&data);
    if data.get("action") == "add_condition" {
        return render_form(
            &user,
            None,
            &form.with_spare_rows(1),
            &FieldErrors::default(),
        );
    }
    let form = form.with_spare_rows(0);
    let draft = match form.to_draft(true) {
        Ok(d) => d,
        Err(errors) => return render_form(&user, None, &form.with_spare_rows(1), &errors),
    };
    let errors = match engine.create_segment(&user.actor(), draft).await {
        Ok(_) => return Ok(redirect("/dashboard/segments?done=created")),
        Err(EngineError::Invalid(e)) => FieldErrors::one(form.field_of(&e), e.message),
        Err(EngineError::Conflict(_)) => FieldErrors::one(
            "key",
            "a segment with this key exists already; choose another key",
        ),
        Err(e) => return Err(e.into()),
    };
    render_form(&user, None, &form, &errors)
}

/// `GET /dashboard/segments/{key}`: the edit form.
pub async fn edit_form(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> PageResult {
    let segment = engine.segment(&key).await?;
    let form = SegmentForm::from_segment(&segment).with_spare_rows(1);
    render_form(&user, Some(&segment), &form, &FieldErrors::default())
}

/// `POST /dashboard/segments/{key}`: save (or add a condition row).
pub async fn update(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let data = user.form(&body)?;
    let segment = engine.segment(&key).await?;
    let form = SegmentForm::from_form(&data);
    if data.get("action") == "add_condition" {
        return render_form(
            &user,
            Some(&segment),
            &form.with_spare_rows(1),
            &FieldErrors::default(),
        );
    }
    let form = form.with_spare_rows(0);
    let draft = match form.to_draft(false) {
        Ok(d) => d,
        Err(errors) => return render_form(&user, Some(&segment), &form, &errors),
    };
    match engine.update_segment(&user.actor(), &key, draft).await {
        Ok(_) => Ok(redirect("/dashboard/segments?done=saved")),
        Err(EngineError::Invalid(e)) => {
            let errors = FieldErrors::one(form.field_of(&e), e.message);
            render_form(&user, Some(&segment), &form, &errors)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dashboard/segments/{key}/delete`.
pub async fn delete(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    user.form(&body)?; // only its CSRF token counts
    engine.delete_segment(&user.actor(), &key).await?;
    Ok(redirect(&format!(
        "/dashboard/segments?done={}",
        query_encode("deleted")
    )))
}

/// `POST /dashboard/holdout`: the held-out share, typed as a percentage.
pub async fn set_holdout(
    user: SignedIn,
    engine: web::Data<Engine>,
    body: web::Bytes,
) -> PageResult {
    let data = user.form(&body)?;
    let typed = data.get("fraction");
    let parsed = typed
        .trim()
        .trim_end_matches('%')
        .trim()
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite());
    let Some(percent) = parsed else {
        return render_list(
            &user,
            &engine,
            Some(typed),
            Some("type a percentage such as 5"),
            None,
            None,
        )
        .await;
    };
    match engine.set_holdout(&user.actor(), percent / 100.0).await {
        Ok(_) => Ok(redirect("/dashboard/segments?done=holdout")),
        Err(EngineError::Invalid(_)) => {
            render_list(
                &user,
                &engine,
                Some(typed),
                Some("must be between 0% and 50%"),
                None,
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
