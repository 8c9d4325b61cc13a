//! Factorial experiments: cells as variants, assignment by factor (balanced, sticky), the
//! `/assign` and OFREP answers, main effects and interactions in results, the shared-model
//! bandit, pinned cells, exports and erasure, and the refusals.

use crate::helpers::*;
use crate::ofrep::ofrep;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

/// content (plain, discount) × timing (morning, evening) × trigger (on_open, on_cart).
fn message_body(key: &str) -> Value {
    json!({
        "key": key, "name": "Message", "kind": "factorial",
        "factors": [
            {"key": "content", "dimension": "content",
             "levels": [{"key": "plain", "payload": "Hi"}, {"key": "discount", "payload": "10% off"}]},
            {"key": "timing", "dimension": "timing",
             "levels": [{"key": "morning", "payload": 8}, {"key": "evening", "payload": 19}]},
            {"key": "trigger", "dimension": "trigger",
             "levels": [{"key": "on_open", "payload": {"event": "open"}},
                        {"key": "on_cart", "payload": {"event": "cart"}}]}
        ],
        "goal": {"event": "purchase", "metric": "conversion"}
    })
}

/// content (plain, discount) × timing (morning, evening), without payloads.
fn two_by_two(key: &str) -> Value {
    json!({
        "key": key, "name": "Two by two", "kind": "factorial",
        "factors": [
            {"key": "content", "dimension": "content", "levels": [{"key": "plain"}, {"key": "discount"}]},
            {"key": "timing", "dimension": "timing", "levels": [{"key": "morning"}, {"key": "evening"}]}
        ],
        "goal": {"event": "purchase", "metric": "conversion"}
    })
}

/// Whether every variant of the experiment `e` has weight `w`.
fn every_weight_is(e: &Value, w: f64) -> bool {
    e["variants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["weight"] == w)
}

#[tokio::test]
async fn a_factorial_experiment_has_every_combination_as_a_variant() {
    let app = spawn_app().await;
    let created = app.create_experiment(message_body("msg")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let e = &created.body;
    assert_eq!(e["kind"], "factorial");
    assert_eq!(e["policy"], "ab");
    assert_eq!(e["dimension"], "content", "the first factor's by default");
    assert_eq!(e["factors"], message_body("msg")["factors"]);
    let keys: Vec<&str> = e["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "plain.morning.on_open",
            "plain.morning.on_cart",
            "plain.evening.on_open",
            "plain.evening.on_cart",
            "discount.morning.on_open",
            "discount.morning.on_cart",
            "discount.evening.on_open",
            "discount.evening.on_cart",
        ]
    );
    assert_eq!(
        e["variants"][7]["payload"],
        json!({"content": "10% off", "timing": 19, "trigger": {"event": "cart"}})
    );
    assert_eq!(e["control"], "plain.morning.on_open");
    assert!(every_weight_is(e, 0.125));
    // Read back as stored.
    let read = app
        .admin(Method::GET, "/api/v1/experiments/msg", None)
        .await;
    assert_eq!(read.body["factors"], e["factors"]);
    assert_eq!(read.body["variants"], e["variants"]);
    // Other kinds say their policy too, and have no factors.
    let ab = app
        .create_experiment(experiment_body("plain-ab", "ab"))
        .await;
    assert_eq!(ab.body["policy"], "ab");
    assert!(ab.body.get("factors").is_none());
}

#[tokio::test]
async fn bad_factorial_input_is_refused_with_the_field_named_and_nothing_stored() {
    let app = spawn_app().await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = message_body("bad");
        change(&mut body);
        body
    };
    let level = |key: &str, payload: Value| json!({"key": key, "payload": payload});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "one factor",
            with(&|b| b["factors"].as_array_mut().unwrap().truncate(1)),
            "factors: needs 2 to 4 factors, not 1",
        ),
        (
            "five factors",
            with(&|b| {
                let extra: Vec<Value> = (0..2)
                    .map(|i| {
                        json!({"key": format!("f{i}"), "dimension": "content",
                                    "levels": [{"key": "x"}, {"key": "y"}]})
                    })
                    .collect();
                b["factors"].as_array_mut().unwrap().extend(extra);
            }),
            "factors: needs 2 to 4 factors, not 5",
        ),
        (
            "one level",
            with(&|b| {
                b["factors"][1]["levels"]
                    .as_array_mut()
                    .unwrap()
                    .truncate(1)
            }),
            "factors.timing.levels: needs 2 to 5 levels, not 1",
        ),
        (
            "six levels",
            with(&|b| {
                b["factors"][1]["levels"] =
                    Value::Array((0..6).map(|h| level(&format!("h{h}"), json!(h))).collect())
            }),
            "factors.timing.levels: needs 2 to 5 levels, not 6",
        ),
        (
            "duplicate factor keys",
            with(&|b| b["factors"][2]["key"] = json!("content")),
            "factors: duplicate factor key",
        ),
        (
            "duplicate level keys",
            with(&|b| b["factors"][0]["levels"][1]["key"] = json!("plain")),
            "factors.content.levels: duplicate level key",
        ),
        (
            "mixed payload types",
            with(&|b| b["factors"][1]["levels"][1]["payload"] = json!("19:00")),
            "factors.timing.levels: ",
        ),
        (
            "a pinned rule naming no cell",
            with(&|b| b["rules"] = json!([{"segment": "vip", "variant": "discount.noon.on_cart"}])),
            "rules[0].variant: unknown variant",
        ),
        (
            "variants beside factors",
            with(&|b| b["variants"] = json!([{"key": "a"}, {"key": "b"}])),
            "variants: ",
        ),
        (
            "factors on an A/B test",
            with(&|b| {
                b["kind"] = json!("ab");
                b["dimension"] = json!("content");
                b["variants"] = json!([{"key": "a"}, {"key": "b"}]);
            }),
            "factors: only an experiment of kind `factorial` has factors",
        ),
        (
            "a control that is not every first level",
            with(&|b| b["control"] = json!("discount.morning.on_open")),
            "control: ",
        ),
        (
            "a level key with a dot",
            with(&|b| b["factors"][0]["levels"][0]["key"] = json!("a.b")),
            "key",
        ),
        (
            "a factor named like an export column",
            with(&|b| b["factors"][0]["key"] = json!("variant")),
            "factors: factor key `variant`",
        ),
        (
            "no factors",
            with(&|b| {
                b.as_object_mut()
                    .unwrap()
                    .remove("factors")
                    .map(|_| ())
                    .unwrap()
            }),
            "factors: this field is required",
        ),
        (
            "an unknown policy",
            with(&|b| b["policy"] = json!("shuffle")),
            "policy",
        ),
    ];
    // The pinned rule's segment exists, so the unknown cell is what is refused.
    let segment = app
        .admin(
            Method::POST,
            "/api/v1/segments",
            Some(json!({"key": "vip", "name": "VIP", "rule": {"attribute": "vip", "op": "eq", "value": true}})),
        )
        .await;
    assert_eq!(segment.status, StatusCode::CREATED);
    for (what, body, expected) in cases {
        let reply = app.create_experiment(body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{what}: {:?}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{what}: {message}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM variants"), 0);

    // A factorial split has no weights to edit.
    app.running_experiment(two_by_two("split")).await;
    let weights = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/split",
            Some(
                json!({"weights": {"plain.morning": 0.7, "plain.evening": 0.1,
                                    "discount.morning": 0.1, "discount.evening": 0.1}}),
            ),
        )
        .await;
    assert_eq!(weights.status, StatusCode::BAD_REQUEST);
    assert!(
        weights.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("weights: a factorial experiment has no weights")
    );
    let pin = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/split",
            Some(json!({"rules": [{"segment": "vip", "variant": "discount.noon"}]})),
        )
        .await;
    assert_eq!(pin.status, StatusCode::BAD_REQUEST);
    let kept = app
        .admin(Method::GET, "/api/v1/experiments/split", None)
        .await;
    assert_eq!(kept.body["rules"], json!([]));
    assert!(every_weight_is(&kept.body, 0.25));
}

#[tokio::test]
async fn each_user_gets_one_level_of_every_factor_balanced_and_sticky() {
    let app = spawn_app().await;
    app.running_experiment(message_body("msg")).await;
    const USERS: usize = 1600;
    let mut cells: HashMap<String, usize> = HashMap::new();
    let mut by_factor: HashMap<(String, String), usize> = HashMap::new();
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(100) {
        let replies = futures_util::future::join_all(
            chunk
                .iter()
                .map(|i| app.assign(json!({"user_id": format!("u-{i}"), "experiments": ["msg"]}))),
        )
        .await;
        for reply in replies {
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            let a = &reply.body["assignments"][0];
            let levels = a["levels"].as_object().unwrap();
            let joined: Vec<&str> = ["content", "timing", "trigger"]
                .iter()
                .map(|f| levels[*f].as_str().unwrap())
                .collect();
            assert_eq!(a["variant"], joined.join("."));
            let payload = &a["payload"];
            assert_eq!(
                payload["content"],
                if joined[0] == "plain" {
                    json!("Hi")
                } else {
                    json!("10% off")
                }
            );
            assert_eq!(
                payload["timing"],
                if joined[1] == "morning" {
                    json!(8)
                } else {
                    json!(19)
                }
            );
            *cells.entry(joined.join(".")).or_default() += 1;
            for (f, l) in levels {
                *by_factor
                    .entry((f.clone(), l.as_str().unwrap().to_string()))
                    .or_default() += 1;
            }
        }
    }
    // χ² against equal cells: 7 degrees of freedom, 24.32 is the 0.001 critical value.
    assert_eq!(cells.len(), 8, "{cells:?}");
    let expected = USERS as f64 / 8.0;
    let chi2: f64 = cells
        .values()
        .map(|&n| (n as f64 - expected).powi(2) / expected)
        .sum();
    assert!(
        chi2 < 24.32,
        "cells are not balanced: χ² = {chi2:.1}, {cells:?}"
    );
    // Each factor on its own is balanced too (1 degree of freedom: 10.83 at 0.001).
    for ((f, l), n) in &by_factor {
        let z2 = (*n as f64 - USERS as f64 / 2.0).powi(2) / (USERS as f64 / 4.0);
        assert!(z2 < 10.83, "{f} = {l}: {n} of {USERS}");
    }
    // Stored once each, with the cell's propensity.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments WHERE propensity = 0.125"),
        USERS as i64
    );
    // Sticky.
    for i in [0, 17, 999] {
        let user = format!("u-{i}");
        let first = app.variant_of(&user, "msg", json!({})).await;
        assert_eq!(app.variant_of(&user, "msg", json!({})).await, first);
    }
}

#[tokio::test]
async fn ofrep_answers_the_experiment_and_each_factor_as_a_flag() {
    let app = spawn_app().await;
    app.running_experiment(message_body("msg")).await;
    let assigned = app
        .assign(json!({"user_id": "u-7", "experiments": ["msg"]}))
        .await
        .body["assignments"][0]
        .clone();
    let flag = |key: &str| {
        let app = &app;
        let key = key.to_string();
        async move {
            let raw = ofrep(
                app,
                &format!("/ofrep/v1/evaluate/flags/{key}"),
                Some(CLIENT_KEY),
                &json!({"context": {"targetingKey": "u-7"}}).to_string(),
                &[],
            )
            .await;
            assert_eq!(raw.status, StatusCode::OK, "{}", raw.text);
            raw.json()
        }
    };
    let whole = flag("msg").await;
    assert_eq!(whole["variant"], assigned["variant"]);
    assert_eq!(whole["value"], assigned["payload"]);
    for factor in ["content", "timing", "trigger"] {
        let answer = flag(&format!("msg.{factor}")).await;
        assert_eq!(answer["key"], format!("msg.{factor}"));
        assert_eq!(answer["reason"], "SPLIT");
        assert_eq!(answer["variant"], assigned["levels"][factor]);
        assert_eq!(answer["value"], assigned["payload"][factor]);
        assert_eq!(answer["metadata"]["factor"], factor);
        assert_eq!(answer["metadata"]["dimension"], factor);
        assert_eq!(answer["metadata"]["cell"], assigned["variant"]);
        assert_eq!(answer["metadata"]["kind"], "factorial");
    }
    let unknown = ofrep(
        &app,
        "/ofrep/v1/evaluate/flags/msg.colour",
        Some(CLIENT_KEY),
        &json!({"context": {"targetingKey": "u-7"}}).to_string(),
        &[],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // Bulk: the experiment and each factor, sorted by key, agreeing with the single flags.
    let bulk = ofrep(
        &app,
        "/ofrep/v1/evaluate/flags",
        Some(CLIENT_KEY),
        &json!({"context": {"targetingKey": "u-7"}}).to_string(),
        &[],
    )
    .await
    .json();
    let keys: Vec<&str> = bulk["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["msg", "msg.content", "msg.timing", "msg.trigger"]);
    assert_eq!(bulk["flags"][2]["value"], assigned["payload"]["timing"]);
    // One assignment stored, whichever flag asked.
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
    // A factor without payloads answers its level key.
    app.running_experiment(two_by_two("bare")).await;
    let bare = ofrep(
        &app,
        "/ofrep/v1/evaluate/flags/bare.timing",
        Some(CLIENT_KEY),
        &json!({"context": {"targetingKey": "u-7"}}).to_string(),
        &[],
    )
    .await
    .json();
    assert_eq!(bare["value"], bare["variant"]);
    assert!(["morning", "evening"].contains(&bare["value"].as_str().unwrap()));
}

/// Assigns `users` users of `key` and returns each user's cell.
async fn assign_all(app: &TestApp, key: &str, users: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(users);
    for chunk in (0..users).collect::<Vec<_>>().chunks(100) {
        let cells = futures_util::future::join_all(
            chunk
                .iter()
                .map(|i| app.variant_of_owned(format!("u-{i}"), key)),
        )
        .await;
        out.extend(cells);
    }
    out
}

impl TestApp {
    async fn variant_of_owned(&self, user: String, key: &str) -> (String, String) {
        let cell = self.variant_of(&user, key, json!({})).await.unwrap();
        (user, cell)
    }
}

#[tokio::test]
async fn results_give_main_effects_interactions_and_a_recommendation() {
    let app = spawn_app().await;
    app.running_experiment(two_by_two("fx")).await;
    let users = assign_all(&app, "fx", 800).await;
    // Discount converts half its users, plain a tenth; timing changes nothing; in each cell
    // the first users of the cell convert, so the counts are exact.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut events = Vec::new();
    for (user, cell) in &users {
        let n = seen.entry(cell.clone()).or_default();
        *n += 1;
        let every = if cell.starts_with("discount") { 2 } else { 10 };
        if n.is_multiple_of(every) {
            events.push(json!({"user_id": user, "name": "purchase"}));
        }
    }
    assert_eq!(
        app.track(Value::Array(events)).await.status,
        StatusCode::ACCEPTED
    );
    let r = app.results("fx").await;
    assert_eq!(r["kind"], "factorial");
    // The cells' posterior means, as the variants report them.
    let mean = |key: &str| {
        let v = r["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["key"] == key)
            .unwrap();
        let (n, c) = (
            v["users"].as_f64().unwrap(),
            v["conversions"].as_f64().unwrap(),
        );
        (c + 1.0) / (n + 2.0)
    };
    let content = &r["factors"][0];
    assert_eq!(content["factor"], "content");
    assert_eq!(content["control"], "plain");
    let discount = &content["levels"][0];
    assert_eq!(discount["level"], "discount");
    let expected = (mean("discount.morning") + mean("discount.evening")
        - mean("plain.morning")
        - mean("plain.evening"))
        / 2.0;
    let effect = discount["effect"]["mean"].as_f64().unwrap();
    assert!((effect - expected).abs() < 1e-12, "{effect} vs {expected}");
    assert!(discount["effect"]["low"].as_f64().unwrap() > 0.3);
    assert!(discount["chance_to_beat_control"].as_f64().unwrap() > 0.999);
    let evening = &r["factors"][1]["levels"][0];
    assert_eq!(evening["level"], "evening");
    assert!(evening["effect"]["mean"].as_f64().unwrap().abs() < 0.02);
    let interaction = &r["interactions"][0];
    assert_eq!(interaction["factors"], json!(["content", "timing"]));
    assert_eq!(interaction["levels"], json!(["discount", "evening"]));
    let expected = mean("discount.evening") - mean("discount.morning") - mean("plain.evening")
        + mean("plain.morning");
    assert!((interaction["effect"]["mean"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert_eq!(interaction["credible"], false);
    assert_eq!(r["recommendation"]["variant"], "discount.morning");
    // Every metric has its own; the goal's are the top-level ones.
    assert_eq!(r["metrics"][0]["factors"], r["factors"]);
    assert_eq!(r["metrics"][0]["interactions"], r["interactions"]);

    // The page shows the panels, the grid and the recommendation.
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/experiments/fx").await;
    assert_eq!(page.status, StatusCode::OK);
    let text = html::text(&page.body);
    assert!(
        text.contains("Recommended combination: discount.morning"),
        "{text}"
    );
    assert!(text.contains("Interaction content × timing"));
    assert!(page.body.contains("factor-panel"));
    // Its edit form has no weights to type (each factor's levels are equally likely), and
    // saving it keeps the cells' weights.
    let form = browser.get("/dashboard/experiments/fx/edit").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(!form.body.contains("-weight\""));
    assert!(text.contains("factorial"));
    let csrf = form.csrf();
    let saved = browser
        .post(
            "/dashboard/experiments/fx/edit",
            &[
                ("csrf", csrf.as_str()),
                ("action", "save"),
                ("name", "Renamed"),
                ("description", ""),
                ("traffic", "100"),
                ("min_users_per_arm", "100"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let e = app
        .admin(Method::GET, "/api/v1/experiments/fx", None)
        .await
        .body;
    assert_eq!(e["name"], "Renamed");
    assert_eq!(e["factors"][1]["levels"][1]["key"], "evening");
    assert_eq!(e["variants"].as_array().unwrap().len(), 4);
    assert!(every_weight_is(&e, 0.25));
}

#[tokio::test]
async fn pinned_cells_exports_and_erasure_work_as_for_other_experiments() {
    let app = spawn_app().await;
    let segment = app
        .admin(
            Method::POST,
            "/api/v1/segments",
            Some(json!({"key": "vip", "name": "VIP", "rule": {"attribute": "vip", "op": "eq", "value": true}})),
        )
        .await;
    assert_eq!(segment.status, StatusCode::CREATED);
    let mut body = two_by_two("fx");
    body["rules"] = json!([{"segment": "vip", "variant": "discount.evening"}]);
    app.running_experiment(body).await;
    let pinned = app
        .assign(json!({"user_id": "vip-1", "attributes": {"vip": true}, "experiments": ["fx"]}))
        .await;
    let a = &pinned.body["assignments"][0];
    assert_eq!(a["variant"], "discount.evening");
    assert_eq!(a["rule"], "vip");
    assert_eq!(
        a["levels"],
        json!({"content": "discount", "timing": "evening"})
    );

    let users = assign_all(&app, "fx", 20).await;
    let export = app
        .get_text(
            "/api/v1/experiments/fx/export?data=assignments&format=csv",
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    let mut lines = export.body.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("experiment,user_id,variant,content,timing,assigned_at,propensity"),
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 20);
    for (user, cell) in &users {
        let (content, timing) = cell.split_once('.').unwrap();
        assert!(
            rows.iter()
                .any(|r| r.starts_with(&format!("fx,{user},{cell},{content},{timing},"))),
            "{user} {cell}"
        );
    }
    let jsonl = app
        .get_text(
            "/api/v1/experiments/fx/export?data=users&format=jsonl",
            Some(ADMIN_KEY),
        )
        .await;
    let first = &crate::helpers::jsonl(&jsonl.body)[0];
    let cell = first["variant"].as_str().unwrap();
    assert_eq!(
        format!(
            "{}.{}",
            first["content"].as_str().unwrap(),
            first["timing"].as_str().unwrap()
        ),
        cell
    );

    let (user, _) = &users[0];
    app.track(json!([{"user_id": user, "name": "purchase"}]))
        .await;
    let erased = app
        .admin(Method::DELETE, &format!("/api/v1/users/{user}"), None)
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 19);
    let r = app.results("fx").await;
    let total: i64 = r["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["users"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 19);
}

#[tokio::test]
async fn a_factorial_bandit_moves_traffic_to_the_cells_of_the_level_that_works() {
    let app = spawn_app().await;
    let mut body = message_body("learn");
    body["policy"] = json!("bandit");
    let started = app.running_experiment(body).await;
    assert_eq!(started["policy"], "bandit");
    // Discount converts 30%, plain 2%; the other factors do nothing.
    let mut rng_state: u64 = 0x9E3779B97F4A7C15;
    let mut uniform = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        (rng_state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut late = (0, 0);
    for wave in 0..8 {
        let users: Vec<String> = (0..100).map(|i| format!("w{wave}-u{i}")).collect();
        let cells = futures_util::future::join_all(
            users.iter().map(|u| app.variant_of(u, "learn", json!({}))),
        )
        .await;
        let mut events = Vec::new();
        for (user, cell) in users.iter().zip(&cells) {
            let discount = cell.as_deref().unwrap().starts_with("discount");
            if wave >= 6 {
                late.0 += usize::from(discount);
                late.1 += 1;
            }
            if uniform() < if discount { 0.3 } else { 0.02 } {
                events.push(json!({"user_id": user, "name": "purchase"}));
            }
        }
        app.track(Value::Array(events)).await;
        app.engine.refresh().await.unwrap();
    }
    let share = late.0 as f64 / late.1 as f64;
    assert!(share > 0.8, "discount cells got {share:.2} of late traffic");
    let r = app.results("learn").await;
    assert_eq!(r["policy"], "bandit");
    let discount_weight: f64 = r["variants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["key"].as_str().unwrap().starts_with("discount"))
        .map(|v| v["weight"].as_f64().unwrap())
        .sum();
    assert!(discount_weight > 0.9, "{discount_weight}");
    // Each assignment logged the probability its cell had then.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments WHERE propensity <= 0 OR propensity > 1"),
        0
    );
}

#[tokio::test]
async fn the_largest_design_has_625_cells_and_answers_results() {
    let app = spawn_app().await;
    let factor = |key: &str, dimension: &str| {
        json!({"key": key, "dimension": dimension,
               "levels": (0..5).map(|l| json!({"key": format!("l{l}"), "payload": l})).collect::<Vec<_>>()})
    };
    let body = json!({
        "key": "big", "name": "Five to the fourth", "kind": "factorial", "policy": "bandit",
        "factors": [factor("a", "content"), factor("b", "timing"), factor("c", "trigger"),
                    factor("d", "content")],
        "goal": {"event": "purchase", "metric": "conversion"}
    });
    let started = app.running_experiment(body).await;
    assert_eq!(started["variants"].as_array().unwrap().len(), 625);
    assert_eq!(started["floor"], 0.5 / 625.0);
    let users = assign_all(&app, "big", 300).await;
    let events: Vec<Value> = users
        .iter()
        .filter(|(_, cell)| cell.starts_with("l4."))
        .map(|(user, _)| json!({"user_id": user, "name": "purchase"}))
        .collect();
    app.track(Value::Array(events)).await;
    app.engine.refresh().await.unwrap();
    let started = std::time::Instant::now();
    let r = app.results("big").await;
    eprintln!("results of 625 cells in {:?}", started.elapsed());
    assert_eq!(r["variants"].as_array().unwrap().len(), 625);
    assert_eq!(r["factors"].as_array().unwrap().len(), 4);
    // 6 pairs of factors, 4 × 4 non-control levels each.
    assert_eq!(r["interactions"].as_array().unwrap().len(), 96);
    let weights: f64 = r["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .sum();
    assert!((weights - 1.0).abs() < 1e-9, "{weights}");
}
