//! An experiment's page: what the results API says, contexts and off-policy estimates, a bandit
//! without data, unknown experiments, and the render-time check.

use super::{create_form, experiment_json};
use crate::helpers::html::{cell, row, text};
use crate::helpers::*;
use posterior::templates::format;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

#[tokio::test]
async fn the_experiment_page_shows_what_the_results_api_says() {
    let app = spawn_app().await;
    let mut body = experiment_body("checkout", "ab");
    body["variants"] = json!([
        {"key": "a", "name": "Plain", "payload": {"text": "Buy"}},
        {"key": "b", "name": "Urgent", "payload": {"text": "Buy now"}},
        {"key": "c", "name": "Friendly", "payload": {"text": "Treat yourself"}}
    ]);
    body["min_users_per_arm"] = json!(50);
    app.running_experiment(body).await;

    // Real traffic: users assigned through the API, conversions tracked through it.
    // Conversion rates differ enough that every probability is clear of rounding noise.
    let every = HashMap::from([("a", 20), ("b", 3), ("c", 1000)]);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut events = Vec::new();
    for i in 0..600 {
        let user = format!("user-{i}");
        let variant = app.variant_of(&user, "checkout", json!({})).await.unwrap();
        let n = seen.entry(variant.clone()).or_default();
        *n += 1;
        if (*n).is_multiple_of(every[variant.as_str()]) {
            events.push(json!({"event_id": format!("e-{i}"), "user_id": user, "name": "purchase"}));
        }
    }
    assert_eq!(
        app.track(Value::Array(events)).await.status,
        StatusCode::ACCEPTED
    );

    let results = app.results("checkout").await;
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/experiments/checkout").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers["server-timing"]
            .to_str()
            .unwrap()
            .contains("total;dur=")
    );
    for v in results["variants"].as_array().unwrap() {
        let key = v["key"].as_str().unwrap();
        let row = row(&page.body, &format!("variant-{key}"));
        let users = v["users"].as_i64().unwrap();
        assert!(users > 0);
        assert_eq!(
            cell(row, "users"),
            format::thousands(users),
            "users of {key}"
        );
        assert_eq!(
            cell(row, "conversions"),
            format::thousands(v["conversions"].as_i64().unwrap()),
            "conversions of {key}"
        );
        let rate = &v["rate"];
        assert_eq!(
            cell(row, "rate"),
            format!(
                "{} {} – {}",
                format::percent(rate["mean"].as_f64().unwrap(), 2),
                format::percent(rate["low"].as_f64().unwrap(), 2),
                format::percent(rate["high"].as_f64().unwrap(), 2)
            ),
            "rate of {key}"
        );
        let best = format::probability(v["probability_best"].as_f64().unwrap());
        assert!(
            cell(row, "probability_best").contains(&best),
            "probability best of {key}: {best}"
        );
        let chance = format::optional_probability(v["chance_to_beat_control"].as_f64());
        assert!(
            cell(row, "chance_to_beat_control").contains(&chance),
            "chance of {key}: {chance}"
        );
        assert!(cell(row, "p_value").contains(&format::p_value(v["p_value"].as_f64())));
        assert_eq!(
            cell(row, "weight"),
            format::percent(v["weight"].as_f64().unwrap(), 1)
        );
    }
    let b = row(&page.body, "variant-b");
    assert!(
        cell(b, "probability_best").starts_with('✓'),
        "crossing the threshold is marked in words too"
    );
    assert!(b.contains("crosses good"));

    // The verdict, the thresholds, the charts, the definition and the exports.
    let all = text(&page.body);
    assert!(all.contains("Verdict"));
    assert!(all.contains("Urgent"), "the leader is named");
    assert!(all.contains("probability of being best reaches 95.0%"));
    assert!(page.body.matches(r#"role="img""#).count() >= 2, "charts");
    assert!(page.body.contains("Cumulative conversion rate over time"));
    assert!(
        page.body
            .contains("Posterior distributions of the conversion rate")
    );
    assert!(all.contains(r#""text": "Treat yourself""#));
    assert!(
        page.body.contains(
            r#"href="/api/v1/experiments/checkout/export?data=assignments&amp;format=csv""#
        )
    );

    // Auto-refresh only when asked.
    assert!(!page.body.contains("http-equiv=\"refresh\""));
    let refreshing = browser
        .get("/dashboard/experiments/checkout?refresh=30")
        .await;
    assert!(
        refreshing
            .body
            .contains(r#"<meta http-equiv="refresh" content="30">"#)
    );

    // The list agrees on the users and names the leader.
    let list = browser.get("/dashboard/experiments").await;
    let total: i64 = results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["users"].as_i64().unwrap())
        .sum();
    let listed = row(&list.body, "experiment-checkout");
    assert!(text(listed).contains(&format::thousands(total)));
    assert!(text(listed).contains("Urgent"));
}

#[tokio::test]
async fn unknown_experiments_and_pages_answer_404_in_html() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/experiments/nope").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(text(&page.body).contains("There is no experiment with the key “nope”."));
}

/// The render-time check of issue 5: an experiment page with 10 variants and a million users
/// must render in under 50 ms on the server, from aggregates. Fills `variant_stats` and
/// `period_stats` (30 days, hourly) directly, plus a million assignment rows to show the page
/// never scans them, then reads the handler's own `Server-Timing` over repeated requests.
///
/// In CI (a debug build) it checks that such a page renders, from aggregates, with the right
/// figures; only a release build holds it to the 50 ms (see docs/dashboard.md):
/// `cargo test --release --test api render_time -- --nocapture`
#[tokio::test]
async fn render_time_with_10_variants_and_a_million_users() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    let variants: Vec<Value> = (0..10)
        .map(|i| json!({"key": format!("v{i}"), "name": format!("Variant {i}"), "payload": {"n": i}}))
        .collect();
    let mut body = experiment_body("big", "bandit");
    body["variants"] = Value::Array(variants);
    app.running_experiment(body).await;

    let mut conn = app.db.connect();
    let fill = [
        // 100,000 users per variant, rates from 5.0% to 5.9%.
        "UPDATE variant_stats s SET users = 100000, conversions = 5000 + 100 * v.position,
             value_sum = 5000 + 100 * v.position, value_sum_sq = 5000 + 100 * v.position
         FROM variants v WHERE v.id = s.variant_id",
        // 720 hours of history per variant, summing to the same totals (138 users an hour, the rest in the last).
        "INSERT INTO period_stats (variant_id, period_start, shard, experiment_id, users,
                                   conversions, value_sum, value_sum_sq, expected_users)
         SELECT v.id, date_trunc('hour', now()) - make_interval(hours => 719 - h), 0, v.experiment_id,
                CASE WHEN h = 719 THEN 100000 - 138 * 719 ELSE 138 END,
                CASE WHEN h = 719 THEN (5000 + 100 * v.position) - 7 * 719 ELSE 7 END,
                7, 7, 138
         FROM variants v, generate_series(0, 719) AS h",
        // A million raw assignments, which the page must not scan.
        "INSERT INTO assignments (experiment_id, user_id, variant_id, assigned_at, propensity)
         SELECT v.experiment_id, 'user-' || v.position || '-' || u, v.id, now(), 0.1
         FROM variants v, generate_series(1, 100000) AS u",
        "ANALYZE",
    ];
    for sql in fill {
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    }
    app.engine.refresh().await.unwrap();

    let browser = Browser::signed_in(&app).await;
    // Cold views follow a new assignment (the statistics changed, so the engine recomputes
    // every summary); warm views repeat the last one (served from the results cache).
    let (mut cold, mut warm, mut walls) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..30 {
        let is_cold = i % 2 == 0;
        if is_cold {
            assert!(
                app.variant_of(&format!("visitor-{i}"), "big", json!({}))
                    .await
                    .is_some()
            );
        }
        let started = std::time::Instant::now();
        let page = browser.get("/dashboard/experiments/big").await;
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(page.status, StatusCode::OK);
        assert!(text(row(&page.body, "variant-v9")).contains("100,"));
        let timing = page.headers["server-timing"].to_str().unwrap().to_string();
        let total: f64 = timing.split("total;dur=").nth(1).unwrap().parse().unwrap();
        if i >= 4 {
            // The first requests warm connections.
            if is_cold {
                cold.push(total);
                walls.push(wall);
            } else {
                warm.push(total);
            }
        }
        if i == 28 {
            println!(
                "last cold Server-Timing: {timing}; page size {} bytes",
                page.body.len()
            );
        }
    }
    // Where the time goes: the engine calls the page makes, each timed alone.
    let median_of = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut results_ms, mut series_ms, mut experiment_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..11 {
        let t = std::time::Instant::now();
        app.engine.results("big").await.unwrap();
        results_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = std::time::Instant::now();
        app.engine.series("big").await.unwrap();
        series_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = std::time::Instant::now();
        app.engine.experiment("big").await.unwrap();
        experiment_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "engine calls alone (medians): results {:.1} ms, series {:.1} ms, experiment {:.1} ms",
        median_of(results_ms),
        median_of(series_ms),
        median_of(experiment_ms)
    );
    let (cold_max, warm_max) = (
        cold.iter().copied().fold(0.0, f64::max),
        warm.iter().copied().fold(0.0, f64::max),
    );
    let (cold_runs, warm_runs) = (cold.len(), warm.len());
    let median = median_of(cold);
    println!(
        "experiment page, 10 variants, 1,000,000 users: cold (recomputed) median {median:.1} ms, max {cold_max:.1} ms \
         ({cold_runs} runs; client-side median {:.1} ms); warm (cached) median {:.1} ms, max {warm_max:.1} ms ({warm_runs} runs)",
        median_of(walls),
        median_of(warm),
    );
    if !cfg!(debug_assertions) {
        assert!(
            median < 50.0,
            "median cold render {median:.1} ms is over 50 ms"
        );
    }
}

#[tokio::test]
async fn a_contextual_experiment_shows_its_contexts_and_off_policy_estimates() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app).await;
    let csrf = browser.csrf().await;
    let mut form = create_form(&csrf, "ctx");
    form.retain(|(k, _)| !k.starts_with("rule-"));
    for (k, v) in form.iter_mut() {
        if *k == "traffic" {
            *v = "100";
        }
    }
    form.push(("context", "platform, returning"));
    let created = browser.post("/dashboard/experiments", &form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let e = experiment_json(&app, "ctx").await.body;
    assert_eq!(e["context"], json!(["platform", "returning"]));
    // A fifth attribute is refused next to its field, and nothing is created.
    let mut bad = create_form(&csrf, "ctx2");
    bad.push(("context", "a, b, c, d"));
    let page = browser.post("/dashboard/experiments", &bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&page.body).contains("at most 3 context attributes"),
        "{}",
        text(&page.body)
    );
    assert_eq!(
        experiment_json(&app, "ctx2").await.status,
        StatusCode::NOT_FOUND
    );

    app.admin(Method::POST, "/api/v1/experiments/ctx/start", None)
        .await;
    let mut events = Vec::new();
    for i in 0..60 {
        let user = format!("u-{i}");
        let platform = if i % 3 == 0 { "android" } else { "ios" };
        let attributes = json!({"platform": platform, "returning": i % 2 == 0, "age": 30});
        app.variant_of(&user, "ctx", attributes).await.unwrap();
        if i % 4 == 0 {
            events.push(json!({"user_id": user, "name": "purchase"}));
        }
    }
    app.track(serde_json::Value::Array(events)).await;

    let path = "/dashboard/experiments/ctx";
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = text(&page.body);
    assert!(body.contains("Results per context"), "{body}");
    assert!(body.contains("platform = ios, returning = true"), "{body}");
    assert!(
        body.contains("Giving every context its own best variant"),
        "{body}"
    );
    assert!(body.contains("Compute them"), "{body}");
    assert!(!body.contains("for everyone Self-normalized"));
    let page = browser.get(&format!("{path}?ope=1")).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = text(&page.body);
    assert!(body.contains("From 60 logged users"), "{body}");
    assert!(body.contains("hello for everyone"), "{body}");
    assert!(
        body.contains("every context gets its most probably best variant"),
        "{body}"
    );
    // ...and keeps them for the next view.
    assert!(text(&browser.get(path).await.body).contains("From 60 logged users"));
}

#[tokio::test]
async fn a_bandit_without_data_yet_has_a_page_in_draft_and_running() {
    // Regression: a bandit with no period statistics yet made the results panic (the
    // period-weighted rates came back empty), so its page answered nothing.
    let app = spawn_app().await;
    let mut body = experiment_body("fresh", "bandit");
    body["variants"] = json!([
        {"key": "a", "payload": {"n": 1}},
        {"key": "b", "payload": {"n": 2}},
        {"key": "c", "payload": {"n": 3}}
    ]);
    assert_eq!(app.create_experiment(body).await.status, 201);
    let browser = Browser::signed_in(&app).await;
    let page = browser
        .get("/dashboard/experiments/fresh?done=created")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(text(&page.body).contains("Experiment created"));
    let started = app
        .admin(Method::POST, "/api/v1/experiments/fresh/start", None)
        .await;
    assert_eq!(started.status, 200);
    let page = browser.get("/dashboard/experiments/fresh").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let r = app.results("fresh").await;
    assert_eq!(r["variants"].as_array().unwrap().len(), 3);
    assert!(r["variants"][0]["period_weighted_mean"].is_null());
}
