//! The metric library's pages (create, edit, delete through the forms, errors beside their
//! field) and the experiment forms that pick the goal, secondary metrics and guardrails
//! from it.

use super::experiment_json;
use crate::helpers::html::{cell, row, text};
use crate::helpers::*;
use crate::metrics::{create_metrics, example_metrics};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn metric_json(app: &TestApp, key: &str) -> Reply {
    app.admin(Method::GET, &format!("/api/v1/metrics/{key}"), None)
        .await
}

/// A metric form: the CSRF token, then `fields`.
fn metric_form<'a>(csrf: &'a str, fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    form
}

/// The fields of the conversion metric `purchase-rate` (7-day window), with every other
/// type's fields left as a browser without JavaScript sends them.
fn purchase_rate() -> Vec<(&'static str, &'static str)> {
    vec![
        ("key", "purchase-rate"),
        ("name", "Purchase rate"),
        ("type", "conversion"),
        ("event", "purchase"),
        ("of", "value"),
        ("cap_kind", ""),
        ("cap", ""),
        ("numerator", ""),
        ("denominator", ""),
        ("from", ""),
        ("to", ""),
        ("window", "7d"),
        ("direction", "increase"),
    ]
}

/// `fields` with `name` set to `value` (added when absent).
fn with<'a>(
    fields: &[(&'a str, &'a str)],
    name: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<_> = fields.iter().filter(|(k, _)| *k != name).copied().collect();
    out.push((name, value));
    out
}

fn metrics_count(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM metrics")
}

#[tokio::test]
async fn metrics_are_created_edited_and_deleted_through_the_forms() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app).await;
    let list = browser.get("/dashboard/metrics").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body
            .contains(r#"href="/dashboard/metrics" aria-current="page""#),
        "the navigation has the Metrics page beside Segments"
    );
    assert!(text(&list.body).contains("No metrics yet"));
    let csrf = list.csrf();

    let new = browser.get("/dashboard/metrics/new").await;
    assert_eq!(new.status, StatusCode::OK);
    for field in [
        "key",
        "name",
        "type",
        "event",
        "of",
        "cap_kind",
        "cap",
        "numerator",
        "denominator",
        "from",
        "to",
        "window",
        "direction",
    ] {
        assert!(new.body.contains(&format!(r#"name="{field}""#)), "{field}");
    }
    // Without JavaScript every field shows, each saying which type uses it.
    assert!(text(&new.body).contains("Numerator (ratio only)"));
    assert!(new.body.contains(r#"data-when="type:retention""#));

    // Refusals come back beside their field, with what was typed, and create nothing.
    let base = purchase_rate();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (with(&base, "key", "Purchase Rate"), "key"),
        (with(&base, "window", "7 days"), "window"),
        (with(&base, "event", ""), "event"),
        (with(&base, "direction", "up"), "direction"),
        (with(&with(&base, "type", "retention"), "from", "8d"), "to"),
        (
            with(
                &with(&with(&base, "type", "retention"), "from", "8d"),
                "to",
                "1d",
            ),
            "to",
        ),
        (
            with(
                &with(&with(&base, "type", "mean"), "cap_kind", "percentile"),
                "cap",
                "50",
            ),
            "cap",
        ),
        (
            with(
                &with(&with(&base, "type", "mean"), "cap_kind", "value"),
                "cap",
                "lots",
            ),
            "cap",
        ),
        (
            with(
                &with(&with(&base, "type", "ratio"), "numerator", "x"),
                "denominator",
                "x",
            ),
            "denominator",
        ),
        (
            with(
                &with(&with(&base, "type", "ratio"), "numerator", "x"),
                "denominator",
                "y",
            ),
            "numerator",
        ),
    ];
    for (fields, field) in &cases {
        let refused = browser
            .post("/dashboard/metrics", &metric_form(&csrf, fields))
            .await;
        refused.assert_error_at(field);
        assert!(refused.body.contains(r#"value="Purchase rate""#), "kept");
    }
    let percentile = browser
        .post("/dashboard/metrics", &metric_form(&csrf, &cases[6].0))
        .await;
    assert!(
        text(&percentile.body).contains("must be above 50 and below 100"),
        "the percentile in the form's terms: {}",
        text(&percentile.body)
    );
    assert_eq!(metrics_count(&app), 0);

    // Created: another type's fields typed by mistake are not read.
    let typed = with(&base, "numerator", "left-over");
    let created = browser
        .post("/dashboard/metrics", &metric_form(&csrf, &typed))
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(created.location(), "/dashboard/metrics?done=created");
    let stored = metric_json(&app, "purchase-rate").await.body;
    assert_eq!(
        (
            &stored["type"],
            &stored["event"],
            &stored["window"],
            &stored["direction"]
        ),
        (
            &json!("conversion"),
            &json!("purchase"),
            &json!("7d"),
            &json!("increase")
        )
    );
    assert!(stored.get("numerator").is_none());
    let taken = browser
        .post("/dashboard/metrics", &metric_form(&csrf, &base))
        .await;
    taken.assert_error_at("key");

    // The other types, through the same form.
    let mean = [
        ("key", "revenue"),
        ("name", "Revenue per user"),
        ("type", "mean"),
        ("event", "purchase"),
        ("of", "value"),
        ("cap_kind", "percentile"),
        ("cap", "99"),
        ("direction", "increase"),
    ];
    let orders = [
        ("key", "orders"),
        ("name", "Orders per user"),
        ("type", "mean"),
        ("event", "purchase"),
        ("of", "count"),
        ("cap_kind", ""),
        ("direction", "increase"),
    ];
    let aov = [
        ("key", "aov"),
        ("name", "Average order value"),
        ("type", "ratio"),
        ("event", "typed-but-not-read"),
        ("numerator", "revenue"),
        ("denominator", "orders"),
        ("direction", "increase"),
    ];
    let retention = [
        ("key", "d7-retention"),
        ("name", "Day-7 retention"),
        ("type", "retention"),
        ("event", "open"),
        ("from", "1d"),
        ("to", "8d"),
        ("direction", "increase"),
    ];
    for fields in [&mean[..], &orders, &aov, &retention] {
        let created = browser
            .post("/dashboard/metrics", &metric_form(&csrf, fields))
            .await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    }
    let shown = |key: &str, value: Value| {
        let mut v = value;
        v["key"] = json!(key);
        v
    };
    for (key, expected) in [
        (
            "revenue",
            json!({"type": "mean", "event": "purchase", "of": "value", "cap": {"percentile": 0.99}}),
        ),
        (
            "orders",
            json!({"type": "mean", "event": "purchase", "of": "count"}),
        ),
        (
            "aov",
            json!({"type": "ratio", "numerator": "revenue", "denominator": "orders"}),
        ),
        (
            "d7-retention",
            json!({"type": "retention", "event": "open", "from": "1d", "to": "8d"}),
        ),
    ] {
        let stored = metric_json(&app, key).await.body;
        for (field, value) in shown(key, expected).as_object().unwrap() {
            assert_eq!(&stored[field], value, "{key}.{field}: {stored}");
        }
    }

    // The list says what each one counts, and who uses it.
    app.running_experiment({
        let mut body = experiment_body("banner", "ab");
        body["metrics"] = json!({"secondary": ["aov"], "guardrails": [{"metric": "purchase-rate", "threshold": 0.02}]});
        body
    })
    .await;
    let list = browser.get("/dashboard/metrics").await;
    let revenue = row(&list.body, "metric-revenue");
    assert_eq!(cell(revenue, "type"), "mean of values");
    assert_eq!(cell(revenue, "counts"), "event purchase");
    assert_eq!(cell(revenue, "cap"), "at the 99th percentile");
    assert_eq!(cell(revenue, "version"), "1");
    assert_eq!(cell(revenue, "used-by"), "part of aov");
    let rate = row(&list.body, "metric-purchase-rate");
    assert_eq!(cell(rate, "window"), "7d");
    assert_eq!(cell(rate, "direction"), "higher is better");
    assert_eq!(cell(rate, "used-by"), "banner (guardrail)");
    assert!(rate.contains(r#"href="/dashboard/experiments/banner""#));
    let ratio = row(&list.body, "metric-aov");
    assert_eq!(cell(ratio, "counts"), "revenue ÷ orders");
    assert_eq!(cell(ratio, "used-by"), "banner (secondary)");
    let d7 = row(&list.body, "metric-d7-retention");
    assert_eq!(cell(d7, "retention"), "1d to 8d after assignment");
    assert_eq!(cell(d7, "used-by"), "no experiment");

    // Edited: the form reads the metric back; saving bumps its version.
    let edit = browser.get("/dashboard/metrics/revenue").await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.body
            .contains(r#"<option value="percentile" selected>"#),
        "{}",
        edit.body
    );
    assert!(edit.body.contains(r#"name="cap" value="99""#));
    assert!(!edit.body.contains(r#"name="key""#), "the key is fixed");
    let changed = [
        ("name", "Revenue per user (capped)"),
        ("type", "mean"),
        ("event", "purchase"),
        ("of", "value"),
        ("cap_kind", "value"),
        ("cap", "500"),
        ("window", "14d"),
        ("direction", "increase"),
    ];
    let refused = browser
        .post(
            "/dashboard/metrics/revenue",
            &metric_form(&csrf, &with(&changed, "window", "two weeks")),
        )
        .await;
    refused.assert_error_at("window");
    let saved = browser
        .post("/dashboard/metrics/revenue", &metric_form(&csrf, &changed))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), "/dashboard/metrics?done=saved");
    let stored = metric_json(&app, "revenue").await.body;
    assert_eq!(stored["name"], "Revenue per user (capped)");
    assert_eq!(stored["cap"], json!({"value": 500.0}));
    assert_eq!(stored["window"], "14d");
    assert_eq!(stored["version"], 2);
    // A part of a ratio cannot become a ratio: refused at the type.
    let refused = browser
        .post(
            "/dashboard/metrics/orders",
            &metric_form(
                &csrf,
                &[
                    ("name", "Orders"),
                    ("type", "ratio"),
                    ("numerator", "revenue"),
                    ("denominator", "purchase-rate"),
                    ("direction", "increase"),
                ],
            ),
        )
        .await;
    refused.assert_error_at("type");

    // Deleting is confirmed, and refused in words while the metric is in use or a part.
    let confirm = browser.get("/dashboard/metrics/d7-retention/delete").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(text(&confirm.body).contains("This cannot be undone"));
    let unticked = browser
        .post("/dashboard/metrics/d7-retention/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&unticked.body).contains("Tick the box"));
    let ticked = [("csrf", csrf.as_str()), ("confirm", "yes")];
    let in_use = browser
        .post("/dashboard/metrics/purchase-rate/delete", &ticked)
        .await;
    assert_eq!(in_use.status, StatusCode::CONFLICT);
    assert!(
        text(&in_use.body).contains("experiments that are not stopped use it (banner)"),
        "{}",
        text(&in_use.body)
    );
    let part = browser
        .post("/dashboard/metrics/orders/delete", &ticked)
        .await;
    assert_eq!(part.status, StatusCode::CONFLICT);
    assert!(
        text(&part.body).contains("it is a part of the ratio metrics aov"),
        "{}",
        text(&part.body)
    );
    assert_eq!(metrics_count(&app), 5);
    let deleted = browser
        .post("/dashboard/metrics/d7-retention/delete", &ticked)
        .await;
    assert_eq!(deleted.location(), "/dashboard/metrics?done=deleted");
    assert_eq!(
        metric_json(&app, "d7-retention").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        browser.get("/dashboard/metrics/d7-retention").await.status,
        StatusCode::NOT_FOUND
    );

    // No CSRF token, no change.
    let forged = browser.post("/dashboard/metrics/revenue", &changed).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

/// The create form of an A/B experiment `key` with its goal, secondary metrics and
/// guardrails from the library (as a browser sends it: boxes in the library's order).
fn create_with_metrics<'a>(csrf: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("action", "create"),
        ("metrics_form", "1"),
        ("key", key),
        ("name", "Banner text"),
        ("dimension", "content"),
        ("kind", "ab"),
        ("goal_source", "library"),
        ("goal_event", ""),
        ("goal_metric", "conversion"),
        ("goal_key", "purchase-rate"),
        ("secondary", "aov"),
        ("secondary", "d7-retention"),
        ("secondary", "revenue"),
        ("guard-0-metric", "uninstalls"),
        ("guard-0-threshold", "2"),
        ("guard-1-metric", ""),
        ("guard-1-threshold", ""),
        ("variant-0-key", "hello"),
        ("variant-0-payload", r#"{"text": "Hello"}"#),
        ("variant-1-key", "hi"),
        ("variant-1-payload", r#"{"text": "Hi there"}"#),
        ("control", "0"),
    ]
}

#[tokio::test]
async fn an_experiment_created_through_the_form_reads_back_its_metrics_as_chosen() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let browser = Browser::signed_in(&app).await;

    let new = browser.get("/dashboard/new").await;
    assert_eq!(new.status, StatusCode::OK);
    assert!(
        new.body
            .contains(r#"id="secondary-revenue" name="secondary" value="revenue""#),
        "{}",
        new.body
    );
    assert!(new.body.contains(r#"name="guard-0-metric""#));
    assert!(new.body.contains(r#"name="goal_key""#));
    assert!(new.body.contains(r#"value="library""#));
    let csrf = new.csrf();

    let created = browser
        .post(
            "/dashboard/experiments",
            &create_with_metrics(&csrf, "banner"),
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let e = experiment_json(&app, "banner").await.body;
    assert_eq!(
        e["metrics"],
        json!({"goal": "purchase-rate",
               "secondary": ["aov", "d7-retention", "revenue"],
               "guardrails": [{"metric": "uninstalls", "threshold": 0.02, "action": "alert"}]})
    );
    assert_eq!(
        e["goal"],
        json!({"event": "purchase", "metric": "conversion"})
    );

    // The page shows them in its definition, linked to the metrics page.
    let page = browser.get("/dashboard/experiments/banner").await;
    let definition = text(&page.body[page.body.find("definition-heading").unwrap()..]);
    // (cells run together in the text: "Goal" "Purchase rate" → "GoalPurchase rate")
    for shown in [
        "GoalPurchase rate purchase-rate (from the metric library)",
        "GuardrailsUninstall rate uninstalls: a harm beyond 2% matters",
        "Secondary metricsAverage order value aovDay-7 retention d7-retentionRevenue per user revenue",
    ] {
        assert!(definition.contains(shown), "{shown}: {definition}");
    }
    assert!(page.body.contains(r#"href="/dashboard/metrics/revenue""#));

    // The inline goal keeps working beside the library's metrics.
    let mut inline = create_with_metrics(&csrf, "inline");
    for field in inline.iter_mut() {
        match field.0 {
            "goal_source" => field.1 = "inline",
            "goal_event" => field.1 = "open",
            _ => {}
        }
    }
    let created = browser.post("/dashboard/experiments", &inline).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let e = experiment_json(&app, "inline").await.body;
    assert_eq!(e["goal"], json!({"event": "open", "metric": "conversion"}));
    assert_eq!(e["metrics"]["goal"], Value::Null);
    assert_eq!(
        e["metrics"]["secondary"],
        json!(["aov", "d7-retention", "revenue"])
    );

    // Refusals land beside the field they concern, and create nothing.
    let set = |changes: &[(&'static str, &'static str)]| {
        let mut form = create_with_metrics(&csrf, "refused");
        for (name, value) in changes {
            match form.iter_mut().find(|(k, _)| k == name) {
                Some(field) => field.1 = *value,
                None => form.push((*name, *value)),
            }
        }
        form
    };
    let too_many: Vec<(&str, &str)> = (0..21).map(|_| ("secondary", "orders")).collect();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            set(&[
                ("kind", "bandit"),
                ("goal_key", "aov"),
                ("secondary", "orders"),
            ]),
            "goal_key",
        ),
        (set(&[("goal_key", "")]), "goal_key"),
        (set(&[("guard-0-threshold", "lots")]), "guard-0-threshold"),
        (set(&[("guard-0-threshold", "2000")]), "guard-0-threshold"),
        (set(&[("guard-1-threshold", "5")]), "guard-1-metric"),
        (
            set(&[("guard-0-metric", "purchase-rate")]),
            "guard-0-metric",
        ),
        (
            set(&[("secondary", "purchase-rate")]),
            "secondary-purchase-rate",
        ),
        (set(&[("goal_source", "inline")]), "goal_event"),
        ([set(&[]), too_many].concat(), "secondary"),
    ];
    for (form, field) in &cases {
        let refused = browser.post("/dashboard/experiments", form).await;
        refused.assert_error_at(field);
        assert!(
            refused.body.contains(r#"name="guard-0-metric""#),
            "rows kept"
        );
    }
    let threshold = browser.post("/dashboard/experiments", &cases[3].0).await;
    assert!(
        text(&threshold.body).contains("must be between 0% and 1000%"),
        "{}",
        text(&threshold.body)
    );
    let bandit = browser.post("/dashboard/experiments", &cases[0].0).await;
    assert!(text(&bandit.body).contains("a bandit optimizes its goal"));
    assert_eq!(
        experiment_json(&app, "refused").await.status,
        StatusCode::NOT_FOUND
    );

    // "Add a guardrail" without JavaScript: the same form, one more row, nothing lost.
    let added = browser
        .post(
            "/dashboard/experiments",
            &set(&[("action", "add_guardrail")]),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK);
    assert!(
        added.body.contains(r#"name="guard-2-metric""#),
        "{}",
        added.body
    );
    assert!(
        added
            .body
            .contains(r#"<option value="uninstalls" selected>"#)
    );
    assert!(added.body.contains(r#"name="guard-0-threshold" value="2""#));
    assert!(added.body.contains(r#"value="revenue" checked"#));
}

/// The edit form's fields that keep a running A/B experiment (variants a and b) as it is.
fn unchanged_edit(csrf: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf", csrf),
        ("action", "save"),
        ("name", "Experiment banner"),
        ("traffic", "100"),
        ("variant-0-key", "a"),
        ("variant-0-weight", "50"),
        ("variant-1-key", "b"),
        ("variant-1-weight", "50"),
    ]
}

#[tokio::test]
async fn running_draft_and_stopped_experiments_change_their_metrics_through_the_forms() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    let browser = Browser::signed_in(&app).await;
    let csrf = browser.csrf().await;

    // Running: secondary metrics and guardrails change; the goal is fixed.
    let edit = browser.get("/dashboard/experiments/banner/edit").await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(edit.body.contains(r#"name="secondary""#));
    assert!(edit.body.contains(r#"name="guard-0-metric""#));
    assert!(
        !edit.body.contains(r#"name="goal_key""#),
        "the goal is fixed once started"
    );
    let mut fields = unchanged_edit(&csrf);
    fields.extend([
        ("metrics_form", "1"),
        ("secondary", "orders"),
        ("secondary", "revenue"),
        ("guard-0-metric", "uninstalls"),
        ("guard-0-threshold", "5"),
        ("goal_key", "revenue"),
    ]);
    let saved = browser
        .post("/dashboard/experiments/banner/edit", &fields)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let e = experiment_json(&app, "banner").await.body;
    assert_eq!(
        e["metrics"],
        json!({"goal": null, "secondary": ["orders", "revenue"],
               "guardrails": [{"metric": "uninstalls", "threshold": 0.05, "action": "alert"}]})
    );
    assert_eq!(
        e["goal"],
        json!({"event": "purchase", "metric": "conversion"})
    );
    // The edit form reads them back.
    let edit = browser.get("/dashboard/experiments/banner/edit").await;
    assert!(edit.body.contains(r#"value="orders" checked"#));
    assert!(edit.body.contains(r#"name="guard-0-threshold" value="5""#));
    // A form without the metric fields (a script's) leaves them as they are.
    let saved = browser
        .post("/dashboard/experiments/banner/edit", &unchanged_edit(&csrf))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        experiment_json(&app, "banner").await.body["metrics"]["secondary"],
        json!(["orders", "revenue"])
    );

    // A draft's goal may become a library metric.
    app.create_experiment(experiment_body("draft", "ab")).await;
    let edit = browser.get("/dashboard/experiments/draft/edit").await;
    assert!(edit.body.contains(r#"name="goal_key""#), "{}", edit.body);
    assert!(text(&edit.body).contains("The goal named at creation: purchase (conversion)"));
    let mut fields = unchanged_edit(&csrf);
    fields.extend([("metrics_form", "1"), ("goal_key", "orders")]);
    let saved = browser
        .post("/dashboard/experiments/draft/edit", &fields)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let e = experiment_json(&app, "draft").await.body;
    assert_eq!(e["metrics"]["goal"], "orders");
    assert_eq!(e["goal"], json!({"event": "purchase", "metric": "revenue"}));

    // Stopped: only its metrics, on a page of their own.
    let stopped = browser
        .post(
            "/dashboard/experiments/banner/stop",
            &[("csrf", csrf.as_str()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(stopped.status, StatusCode::SEE_OTHER);
    let page = browser.get("/dashboard/experiments/banner").await;
    assert!(
        page.body
            .contains(r#"href="/dashboard/experiments/banner/metrics""#)
    );
    let form = browser.get("/dashboard/experiments/banner/metrics").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"value="revenue" checked"#));
    let refused = browser
        .post(
            "/dashboard/experiments/banner/metrics",
            &[
                ("csrf", csrf.as_str()),
                ("metrics_form", "1"),
                ("secondary", "aov"),
                ("guard-0-metric", "aov"),
            ],
        )
        .await;
    refused.assert_error_at("secondary-aov");
    let saved = browser
        .post(
            "/dashboard/experiments/banner/metrics",
            &[
                ("csrf", csrf.as_str()),
                ("metrics_form", "1"),
                ("secondary", "aov"),
                ("guard-0-metric", "uninstalls"),
                ("guard-0-threshold", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let e = experiment_json(&app, "banner").await.body;
    assert_eq!(e["status"], "stopped");
    assert_eq!(
        e["metrics"],
        json!({"goal": null, "secondary": ["aov"],
               "guardrails": [{"metric": "uninstalls", "threshold": 0.0, "action": "alert"}]})
    );
    let page = browser.get("/dashboard/experiments/banner").await;
    assert!(text(&page.body).contains("Uninstall rate uninstalls: any harm matters"));
}

#[tokio::test]
async fn metric_forms_refuse_names_over_the_configured_limit() {
    let app = spawn_app_with(|settings| settings.engine.limits.max_name_bytes = 20).await;
    let browser = Browser::signed_in(&app).await;
    let csrf = browser.csrf().await;
    let too_long = "A name of 21 bytes...";
    let refused = browser
        .post(
            "/dashboard/metrics",
            &metric_form(&csrf, &with(&purchase_rate(), "name", too_long)),
        )
        .await;
    refused.assert_error_at("name");
    assert!(refused.body.contains("20 bytes"), "{}", refused.body);
    assert!(refused.body.contains(too_long), "what was typed is kept");
    assert_eq!(metrics_count(&app), 0);

    let created = browser
        .post("/dashboard/metrics", &metric_form(&csrf, &purchase_rate()))
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let refused = browser
        .post(
            "/dashboard/metrics/purchase-rate",
            &metric_form(&csrf, &with(&purchase_rate(), "name", too_long)),
        )
        .await;
    refused.assert_error_at("name");
    assert_eq!(
        metric_json(&app, "purchase-rate").await.body["name"],
        "Purchase rate"
    );
}
