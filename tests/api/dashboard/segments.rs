//! The segments page: segments made with and/or forms, and the holdout set in percent.

use crate::helpers::html::text;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The new-segment form for `first-ios` ("First-time iOS users"), `rule` after the name.
fn first_ios_form<'a>(csrf: &'a str, rule: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf", csrf),
        ("key", "first-ios"),
        ("name", "First-time iOS users"),
    ];
    form.extend_from_slice(rule);
    form
}

#[tokio::test]
async fn segments_are_made_with_and_or_forms_and_shown_by_name() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app).await;
    let new = browser.get("/dashboard/segments/new").await;
    assert_eq!(new.status, StatusCode::OK);
    assert!(new.body.contains(r#"name="cond-0-attribute""#));
    assert!(
        new.body
            .contains(r#"href="/dashboard/segments" aria-current="page""#)
    );
    let csrf = new.csrf();

    // Errors come back next to their field, with what was typed, and nothing is created.
    let unfinished = first_ios_form(
        &csrf,
        &[
            ("group", "all"),
            ("cond-0-attribute", "visits"),
            ("cond-0-op", "gt"),
            ("cond-0-value", ""),
        ],
    );
    let mut broken_json = unfinished.clone();
    broken_json.extend([
        ("cond-1-attribute", "platform"),
        ("cond-1-op", "eq"),
        ("cond-1-value", "ios"),
        ("rule_json", "[{\"any\": [}"),
    ]);
    let refused = browser.post("/dashboard/segments", &broken_json).await;
    refused.assert_error_at("rule_json");
    assert!(refused.body.contains("platform"));
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 0);
    let refused = browser.post("/dashboard/segments", &unfinished).await;
    refused.assert_error_at("cond-0");
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 0);

    let created = browser
        .post(
            "/dashboard/segments",
            &first_ios_form(
                &csrf,
                &[
                    ("group", "any"),
                    ("cond-0-attribute", "visits"),
                    ("cond-0-op", "eq"),
                    ("cond-0-value", "1"),
                    ("cond-1-attribute", ""),
                    ("cond-1-op", "eq"),
                    ("cond-1-value", ""),
                    (
                        "rule_json",
                        r#"[{"all": [{"attribute": "platform", "op": "eq", "value": "ios"}, {"attribute": "plan", "op": "in", "value": ["trial", "free"]}]}]"#,
                    ),
                ],
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(created.location(), "/dashboard/segments?done=created");
    let stored = app
        .admin(Method::GET, "/api/v1/segments/first-ios", None)
        .await;
    assert_eq!(
        stored.body["rule"],
        json!({"any": [{"attribute": "visits", "op": "eq", "value": 1},
                       {"all": [{"attribute": "platform", "op": "eq", "value": "ios"},
                                {"attribute": "plan", "op": "in", "value": ["trial", "free"]}]}]})
    );

    // The edit form reads it back: the group, the row, the nested group as JSON.
    let edit = browser.get("/dashboard/segments/first-ios").await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.body.contains(r#"<option value="any" selected>"#),
        "{}",
        edit.body
    );
    assert!(edit.body.contains(r#"value="visits""#));
    assert!(edit.body.contains("trial"));

    // An experiment that uses it shows its name, and keeps it from being deleted.
    let mut body = experiment_body("welcome", "ab");
    body["targeting"] = json!([{"segment": "first-ios"}]);
    app.running_experiment(body).await;
    let page = browser.get("/dashboard/experiments/welcome").await;
    assert!(
        text(&page.body).contains("in the segment “First-time iOS users”"),
        "{}",
        page.body
    );
    let list = browser.get("/dashboard/segments").await;
    assert!(
        list.body
            .contains(r#"href="/dashboard/experiments/welcome""#)
    );
    let csrf = list.csrf();
    let delete = browser
        .post("/dashboard/segments/first-ios/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(delete.status, StatusCode::CONFLICT);
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 1);

    // Saving an edit changes the rule for every experiment using it.
    let saved = browser
        .post(
            "/dashboard/segments/first-ios",
            &[
                ("csrf", &csrf),
                ("name", "Newcomers"),
                ("group", "all"),
                ("cond-0-attribute", "visits"),
                ("cond-0-op", "lte"),
                ("cond-0-value", "2"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = app
        .admin(Method::GET, "/api/v1/segments/first-ios", None)
        .await;
    assert_eq!(stored.body["name"], "Newcomers");
    assert_eq!(
        stored.body["rule"],
        json!({"all": [{"attribute": "visits", "op": "lte", "value": 2}]})
    );
    assert!(
        app.variant_of("u-2", "welcome", json!({"visits": 2}))
            .await
            .is_some()
    );

    // No CSRF token, no change.
    let forged = browser
        .post(
            "/dashboard/segments/first-ios",
            &[("name", "Forged"), ("group", "all")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_holdout_is_set_in_percent_on_the_segments_page() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/segments").await;
    assert!(page.body.contains(r#"name="fraction""#));
    let csrf = page.csrf();
    let saved = browser
        .post(
            "/dashboard/holdout",
            &[("csrf", &csrf), ("fraction", "5 %")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.admin(Method::GET, "/api/v1/holdout", None).await.body,
        json!({"fraction": 0.05})
    );
    for bad in ["80", "lots"] {
        let refused = browser
            .post("/dashboard/holdout", &[("csrf", &csrf), ("fraction", bad)])
            .await;
        refused.assert_error_at("fraction");
        assert!(refused.body.contains(&format!(r#"value="{bad}""#)));
    }
    assert_eq!(
        app.admin(Method::GET, "/api/v1/holdout", None).await.body,
        json!({"fraction": 0.05})
    );

    // The page compares held-out with exposed users on a goal event, as the API does.
    app.running_experiment(experiment_body("shop", "ab")).await;
    let saved = browser
        .post("/dashboard/holdout", &[("csrf", &csrf), ("fraction", "50")])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let mut events = Vec::new();
    for i in 0..40 {
        let user = format!("user-{i}");
        app.assign(json!({"user_id": user})).await;
        if i % 2 == 0 {
            events.push(json!({"user_id": user, "name": "purchase"}));
        }
    }
    assert_eq!(app.track(json!(events)).await.status, StatusCode::ACCEPTED);
    let api = app
        .admin(Method::GET, "/api/v1/holdout/results?event=purchase", None)
        .await
        .body;
    let page = browser.get("/dashboard/segments?event=purchase").await;
    assert_eq!(page.status, StatusCode::OK);
    let table = text(&page.body[page.body.find("holdout-table").expect("a results table")..]);
    let held = format!(
        // (cells run together in the text: "Held out" 24 13 → "Held out2413")
        "Held out{}{}",
        api["holdout"]["users"], api["holdout"]["conversions"]
    );
    let exposed = format!(
        "Exposed{}{}",
        api["exposed"]["users"], api["exposed"]["conversions"]
    );
    assert!(table.contains(&held) && table.contains(&exposed), "{table}");
    assert!(text(&page.body).contains("chance that personalization beats the holdout"));
    let bad = browser.get("/dashboard/segments?event=%01").await;
    assert!(bad.body.contains(r#"id="event-error""#));
}

/// The rows of the new-segment form for `lapsed` with two behavioral conditions (opened at
/// least once in 7 days; last open more than `last_open` ago, or never) and a blank row.
fn lapsed_form<'a>(csrf: &'a str, within: &'a str, last_open: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("key", "lapsed"),
        ("name", "Lapsed openers"),
        ("group", "any"),
        ("cond-0-attribute", ""),
        ("cond-0-op", "eq"),
        ("cond-0-value", ""),
        ("beh-0-event", "open"),
        ("beh-0-measure", "count"),
        ("beh-0-op", "gte"),
        ("beh-0-value", "1"),
        ("beh-0-window", within),
        ("beh-1-event", "open"),
        ("beh-1-measure", "last_seen_before"),
        ("beh-1-op", "gte"),
        ("beh-1-value", ""),
        ("beh-1-window", last_open),
        ("beh-1-or_never", "true"),
        ("beh-2-event", ""),
        ("beh-2-measure", "count"),
        ("beh-2-op", "gte"),
        ("beh-2-value", ""),
        ("beh-2-window", ""),
    ]
}

#[tokio::test]
async fn behavioral_conditions_are_edited_as_rows() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app).await;
    let new = browser.get("/dashboard/segments/new").await;
    assert!(new.body.contains(r#"name="beh-0-measure""#), "{}", new.body);
    assert!(text(&new.body).contains("Number of events"));
    let csrf = new.csrf();

    // A bad window comes back beside the window of its row, as typed, and nothing is stored.
    for bad in ["36h", "91d", "7x"] {
        for (within, last_open, field) in [(bad, "7d", "beh-0-window"), ("7d", bad, "beh-1-window")]
        {
            let refused = browser
                .post(
                    "/dashboard/segments",
                    &lapsed_form(&csrf, within, last_open),
                )
                .await;
            refused.assert_error_at(field);
            assert!(
                refused
                    .body
                    .contains(&format!(r#"name="{field}" value="{bad}""#)),
                "{}",
                refused.body
            );
        }
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 0);

    let created = browser
        .post("/dashboard/segments", &lapsed_form(&csrf, "7d", "7d"))
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let stored = app
        .admin(Method::GET, "/api/v1/segments/lapsed", None)
        .await;
    assert_eq!(
        stored.body["rule"],
        json!({"any": [{"event": "open", "count": {"gte": 1.0}, "within": "7d"},
                       {"event": "open", "last_seen": {"before": "7d"}, "or_never": true}]})
    );

    // The edit form shows them as rows again (plus a blank one), not as JSON.
    let edit = browser.get("/dashboard/segments/lapsed").await;
    assert_eq!(edit.status, StatusCode::OK);
    for filled in [
        r#"name="beh-0-event" value="open""#,
        r#"<option value="count" selected>"#,
        r#"name="beh-0-value" value="1""#,
        r#"name="beh-0-window" value="7d""#,
        r#"name="beh-1-event" value="open""#,
        r#"<option value="last_seen_before" selected>"#,
        r#"name="beh-1-window" value="7d""#,
        r#"name="beh-1-or_never" value="true" checked"#,
        r#"name="beh-2-window" value="""#,
    ] {
        assert!(edit.body.contains(filled), "{filled}: {}", edit.body);
    }
    let json_box = &edit.body[edit.body.find(r#"name="rule_json""#).unwrap()..];
    let json_box = &json_box[..json_box.find("</textarea>").unwrap()];
    assert!(json_box.ends_with('>'), "left as JSON: {json_box}");
    let list = browser.get("/dashboard/segments").await;
    assert!(text(&list.body).contains("what users did"));
}
