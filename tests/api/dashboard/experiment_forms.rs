//! The experiment forms: create, start, pause and stop; errors next to their field; editing;
//! pinned rules and layers.

use super::{create_form, experiment_json};
use crate::helpers::html::{attribute_after, row, text};
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_experiment_is_created_started_paused_and_stopped_through_the_forms() {
    let app = spawn_app().await;
    create_returning_buyers(&app).await;
    let browser = Browser::signed_in(&app).await;
    let csrf = browser.csrf().await;

    // The create form has a blank pinned-rule row offering the segments.
    let new = browser.get("/dashboard/new").await;
    assert!(new.body.contains(r#"name="pin-0-segment""#), "{}", new.body);
    assert!(new.body.contains(r#"name="pin-0-variant""#));
    assert!(
        new.body
            .contains(r#"<option value="returning-buyers">Returning buyers</option>"#)
    );

    let mut form = create_form(&csrf, "banner");
    form.extend([
        ("pin-0-segment", "returning-buyers"),
        ("pin-0-variant", "hi"),
        ("pin-1-segment", ""),
        ("pin-1-variant", ""),
    ]);
    let created = browser.post("/dashboard/experiments", &form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(
        created.location(),
        "/dashboard/experiments/banner?done=created"
    );
    let e = experiment_json(&app, "banner").await.body;
    assert_eq!(e["status"], "draft");
    assert_eq!(e["traffic"], 0.8);
    assert_eq!(e["min_users_per_arm"], 1000);
    assert_eq!(e["variants"][0]["payload"], json!({"text": "Hello"}));
    assert_eq!(e["variants"][1]["weight"], 0.6);
    assert_eq!(
        e["variants"].as_array().unwrap().len(),
        2,
        "blank rows are ignored"
    );
    assert_eq!(
        e["targeting"],
        json!([{"attribute": "platform", "op": "in", "value": ["ios", "android"]},
               {"attribute": "age", "op": "gte", "value": 18}])
    );
    assert_eq!(
        e["rules"],
        json!([{"segment": "returning-buyers", "variant": "hi"}]),
        "the pinned rule is created, its blank row ignored"
    );

    let page = browser.get(created.location()).await;
    assert!(page.body.contains("Experiment created"));
    assert!(text(&page.body).contains("Draft: not started yet"));
    assert!(text(&page.body).contains("platform is one of ios, android"));

    let path = "/dashboard/experiments/banner";
    let started = browser
        .post(&format!("{path}/start"), &[("csrf", &csrf)])
        .await;
    assert_eq!(started.location(), format!("{path}?done=started"));
    assert_eq!(
        experiment_json(&app, "banner").await.body["status"],
        "running"
    );
    let paused = browser
        .post(&format!("{path}/pause"), &[("csrf", &csrf)])
        .await;
    assert_eq!(paused.location(), format!("{path}?done=paused"));
    assert_eq!(
        experiment_json(&app, "banner").await.body["status"],
        "paused"
    );

    // Stopping is confirmed on a page of its own, and needs the box ticked.
    let confirm = browser.get(&format!("{path}/stop?winner=hi")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("This cannot be undone"));
    assert!(confirm.body.contains(r#"value="hi" checked"#));
    let unticked = browser
        .post(
            &format!("{path}/stop"),
            &[("csrf", &csrf), ("winner", "hi")],
        )
        .await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unticked.body.contains("Tick the box"));
    assert_eq!(
        experiment_json(&app, "banner").await.body["status"],
        "paused"
    );
    let stopped = browser
        .post(
            &format!("{path}/stop"),
            &[("csrf", &csrf), ("winner", "hi"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(stopped.location(), format!("{path}?done=stopped"));
    let e = experiment_json(&app, "banner").await.body;
    assert_eq!(
        (e["status"].as_str(), e["winner"].as_str()),
        (Some("stopped"), Some("hi"))
    );
    let page = browser.get(path).await;
    assert!(text(&page.body).contains("Winner: hi — every user now gets it."));
    assert!(
        !page.body.contains("/edit\""),
        "a stopped experiment offers no edit"
    );
    assert_eq!(
        browser.get(&format!("{path}/edit")).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn form_errors_show_next_to_their_field_and_keep_what_was_typed() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app).await;
    let csrf = browser.csrf().await;

    // Two payloads that are not JSON: both reported, each beside its own field.
    let mut form = create_form(&csrf, "banner");
    form[13] = ("variant-0-payload", "{text: Hello}");
    form[16] = ("variant-1-payload", "'Hi'");
    let page = browser.post("/dashboard/experiments", &form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for i in [0, 1] {
        let error = attribute_after(&page.body, &format!(r#"id="variant-{i}-payload-error">"#));
        assert!(error.is_some(), "no error beside payload {i}");
        assert!(
            page.body
                .contains(&format!(r##"href="#variant-{i}-payload""##)),
            "summary links it"
        );
    }
    assert!(page.body.contains("not valid JSON"));
    assert!(page.body.contains(r#"aria-invalid="true""#));
    assert!(
        page.body.contains(r#"value="banner""#),
        "typed values are kept"
    );
    assert!(page.body.contains("{text: Hello}"));
    assert_eq!(
        experiment_json(&app, "banner").await.status,
        StatusCode::NOT_FOUND
    );

    // Rules the domain checks land on their field too.
    let mut form = create_form(&csrf, "banner");
    form[17] = ("variant-1-weight", "70");
    let page = browser.post("/dashboard/experiments", &form).await;
    page.assert_error_at("weights");
    assert!(
        text(&page.body).contains("must add up to 100%, not 110%"),
        "{}",
        page.body
    );

    let mut form = create_form(&csrf, "Not A Key");
    form[7] = ("goal_event", "");
    let page = browser.post("/dashboard/experiments", &form).await;
    assert!(page.body.contains(r#"id="key-error""#));
    assert!(page.body.contains(r#"id="goal_event-error""#));

    let mut form = create_form(&csrf, "banner");
    form[23] = ("rule-0-value", "");
    let page = browser.post("/dashboard/experiments", &form).await;
    assert!(page.body.contains(r#"id="rule-0-error""#), "{}", page.body);

    // A key that exists already.
    app.create_experiment(experiment_body("taken", "ab")).await;
    let page = browser
        .post("/dashboard/experiments", &create_form(&csrf, "taken"))
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&page.body).contains("exists already"));

    // "Add a variant" without JavaScript: the same form, one more row, nothing lost.
    let mut form = create_form(&csrf, "banner");
    form[1] = ("action", "add_variant");
    let page = browser.post("/dashboard/experiments", &form).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"name="variant-3-key""#));
    assert!(page.body.contains(r#"value="hello""#));
    assert_eq!(
        experiment_json(&app, "banner").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn editing_changes_what_may_change_while_running() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("edit-me", "ab"))
        .await;
    let browser = Browser::signed_in(&app).await;
    let form = browser.get("/dashboard/experiments/edit-me/edit").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"name="variant-1-weight" value="50""#));
    let csrf = form.csrf();
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("action", "save"),
        ("name", "Renamed"),
        ("description", ""),
        ("traffic", "50"),
        ("min_users_per_arm", "200"),
        ("variant-0-key", "a"),
        ("variant-0-weight", "30"),
        ("variant-1-key", "b"),
        ("variant-1-weight", "60"),
        ("rule-0-attribute", "country"),
        ("rule-0-op", "eq"),
        ("rule-0-value", "fr"),
    ];
    let refused = browser
        .post("/dashboard/experiments/edit-me/edit", &fields)
        .await;
    refused.assert_error_at("weights");
    assert!(refused.body.contains(r#"value="Renamed""#));
    fields[9] = ("variant-1-weight", "70");
    let saved = browser
        .post("/dashboard/experiments/edit-me/edit", &fields)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let e = experiment_json(&app, "edit-me").await.body;
    assert_eq!(e["name"], "Renamed");
    assert_eq!(e["traffic"], 0.5);
    assert_eq!(e["min_users_per_arm"], 200);
    assert_eq!(e["variants"][1]["weight"], 0.7);
    assert_eq!(
        e["targeting"],
        json!([{"attribute": "country", "op": "eq", "value": "fr"}])
    );
}

/// The segment `returning-buyers` ("Returning buyers": at least one order), through the API.
async fn create_returning_buyers(app: &TestApp) {
    let segment = app
        .admin(
            Method::POST,
            "/api/v1/segments",
            Some(
                json!({"key": "returning-buyers", "name": "Returning buyers",
                        "rule": {"attribute": "orders", "op": "gte", "value": 1}}),
            ),
        )
        .await;
    assert_eq!(segment.status, StatusCode::CREATED, "{:?}", segment.body);
}

#[tokio::test]
async fn pinned_rules_of_the_create_form_are_checked_next_to_their_field() {
    let app = spawn_app().await;
    create_returning_buyers(&app).await;
    let browser = Browser::signed_in(&app).await;
    let csrf = browser.csrf().await;

    // "Add a pinned rule" brings the form back with one more row and everything typed kept.
    let mut typed = create_form(&csrf, "loyal");
    typed.retain(|(k, _)| *k != "action");
    typed.extend([
        ("action", "add_pin"),
        ("pin-0-segment", "returning-buyers"),
        ("pin-0-variant", "hi"),
    ]);
    let more = browser.post("/dashboard/experiments", &typed).await;
    assert_eq!(more.status, StatusCode::OK, "{}", more.body);
    assert!(
        more.body.contains(r#"name="pin-1-segment""#),
        "{}",
        more.body
    );
    assert!(
        more.body
            .contains(r#"<option value="returning-buyers" selected>Returning buyers</option>"#),
        "{}",
        more.body
    );
    assert!(more.body.contains(r#"name="pin-0-variant" value="hi""#));
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);

    // A variant the experiment does not have: refused at the row's variant, nothing created.
    let mut unknown_variant = create_form(&csrf, "loyal");
    unknown_variant.extend([
        ("pin-0-segment", "returning-buyers"),
        ("pin-0-variant", "zzz"),
    ]);
    let refused = browser
        .post("/dashboard/experiments", &unknown_variant)
        .await;
    refused.assert_error_at("pin-0-variant");
    assert!(refused.body.contains(r#"name="pin-0-variant" value="zzz""#));
    assert!(text(&refused.body).contains("Pinned rule 1"));

    // A row with a variant but no segment.
    let mut no_segment = create_form(&csrf, "loyal");
    no_segment.extend([("pin-0-segment", ""), ("pin-0-variant", "hi")]);
    let refused = browser.post("/dashboard/experiments", &no_segment).await;
    refused.assert_error_at("pin-0-segment");
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);
    let missing = app
        .admin(Method::GET, "/api/v1/experiments/loyal", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // The list marks experiments with pinned rules or a layer, in words.
    let mut good = create_form(&csrf, "loyal");
    good.extend([
        ("pin-0-segment", "returning-buyers"),
        ("pin-0-variant", "hello"),
    ]);
    let created = browser.post("/dashboard/experiments", &good).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let layered = browser
        .post(
            "/dashboard/experiments",
            &create_form_in_layer(&csrf, "home", "0", "50"),
        )
        .await;
    assert_eq!(layered.status, StatusCode::SEE_OTHER, "{}", layered.body);
    let plain = browser
        .post("/dashboard/experiments", &create_form(&csrf, "plain"))
        .await;
    assert_eq!(plain.status, StatusCode::SEE_OTHER, "{}", plain.body);
    let list = browser.get("/dashboard/experiments").await;
    let pinned_row = text(row(&list.body, "experiment-loyal"));
    assert!(pinned_row.contains("pinned"), "{pinned_row}");
    assert!(!pinned_row.contains("layer"), "{pinned_row}");
    let layered_row = text(row(&list.body, "experiment-home"));
    assert!(layered_row.contains("layer home-screen"), "{layered_row}");
    assert!(!layered_row.contains("pinned"), "{layered_row}");
    let plain_row = text(row(&list.body, "experiment-plain"));
    assert!(
        !plain_row.contains("pinned") && !plain_row.contains("layer"),
        "{plain_row}"
    );
}

/// The fields of a valid create form, with a layer range.
fn create_form_in_layer<'a>(
    csrf: &'a str,
    key: &'a str,
    from: &'a str,
    to: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("action", "create"),
        ("key", key),
        ("name", "Home banner"),
        ("dimension", "content"),
        ("kind", "ab"),
        ("goal_event", "purchase"),
        ("goal_metric", "conversion"),
        ("traffic", "100"),
        ("variant-0-key", "a"),
        ("variant-0-payload", "\"Welcome\""),
        ("variant-1-key", "b"),
        ("variant-1-payload", "\"Hello again\""),
        ("control", "0"),
        ("layer_key", "home-screen"),
        ("layer_from", from),
        ("layer_to", to),
    ]
}

#[tokio::test]
async fn layers_and_pinned_rules_are_edited_in_the_experiment_forms() {
    let app = spawn_app().await;
    create_returning_buyers(&app).await;
    let browser = Browser::signed_in(&app).await;
    let csrf = browser.csrf().await;
    let new = browser.get("/dashboard/new").await;
    assert!(new.body.contains(r#"name="layer_key""#));
    let created = browser
        .post(
            "/dashboard/experiments",
            &create_form_in_layer(&csrf, "left", "0", "50"),
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let stored = experiment_json(&app, "left").await;
    assert_eq!(
        stored.body["layer"],
        json!({"key": "home-screen", "from": 0.0, "to": 0.5})
    );

    // An overlapping range comes back with the error at the layer, and nothing is created.
    let overlapping = browser
        .post(
            "/dashboard/experiments",
            &create_form_in_layer(&csrf, "right", "40", "100"),
        )
        .await;
    overlapping.assert_error_at("layer");
    assert!(text(&overlapping.body).contains("overlaps"));
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 1);

    // The edit form offers the segments and the variants for pinned rules.
    let edit = browser.get("/dashboard/experiments/left/edit").await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.body.contains(r#"value="50""#),
        "the layer's range is shown"
    );
    let with_row = browser
        .post(
            "/dashboard/experiments/left/edit",
            &[
                ("csrf", &csrf),
                ("action", "add_pin"),
                ("name", "Home banner"),
            ],
        )
        .await;
    assert_eq!(with_row.status, StatusCode::OK);
    assert!(with_row.body.contains(r#"name="pin-0-segment""#));
    assert!(
        with_row
            .body
            .contains(r#"<option value="returning-buyers">Returning buyers</option>"#),
        "{}",
        with_row.body
    );

    let base = [
        ("csrf", csrf.as_str()),
        ("action", "save"),
        ("name", "Home banner"),
        ("traffic", "100"),
        ("variant-0-key", "a"),
        ("variant-0-weight", "50"),
        ("variant-1-key", "b"),
        ("variant-1-weight", "50"),
        ("layer_key", "home-screen"),
        ("layer_from", "0"),
        ("layer_to", "50"),
        ("pin-0-segment", "returning-buyers"),
    ];
    let mut unknown = base.to_vec();
    unknown.push(("pin-0-variant", "zzz"));
    let refused = browser
        .post("/dashboard/experiments/left/edit", &unknown)
        .await;
    refused.assert_error_at("pin-0-variant");
    assert_eq!(experiment_json(&app, "left").await.body["rules"], json!([]));

    let mut good = base.to_vec();
    good.push(("pin-0-variant", "b"));
    let saved = browser
        .post("/dashboard/experiments/left/edit", &good)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        experiment_json(&app, "left").await.body["rules"],
        json!([{"segment": "returning-buyers", "variant": "b"}])
    );
    let page = browser.get("/dashboard/experiments/left").await;
    assert!(
        text(&page.body).contains("users in “Returning buyers” returning-buyers always get b"),
        "{}",
        text(&page.body)
    );

    // Emptying the layer key takes the experiment out of the layer.
    let mut out = good.clone();
    out.retain(|(k, _)| *k != "layer_key");
    let saved = browser.post("/dashboard/experiments/left/edit", &out).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(experiment_json(&app, "left").await.body["layer"].is_null());
}
