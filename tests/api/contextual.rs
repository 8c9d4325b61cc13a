//! Contextual experiments: per-segment bandits, per-segment results and their bookkeeping.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Deterministic uniform draws (xorshift), so a simulated population cannot flake.
pub fn uniform_source(mut state: u64) -> impl FnMut() -> f64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Wave `wave` of `count` new users, alternately on iOS and Android, assigned in `experiment`
/// at once: (user, platform, variant).
pub async fn platform_wave(
    app: &TestApp,
    experiment: &str,
    wave: usize,
    count: usize,
) -> Vec<(String, &'static str, String)> {
    let users: Vec<(String, &str)> = (0..count)
        .map(|i| {
            let platform = if i % 2 == 0 { "ios" } else { "android" };
            (format!("w{wave}-u{i}"), platform)
        })
        .collect();
    let variants = futures_util::future::join_all(
        users
            .iter()
            .map(|(u, p)| app.variant_of(u, experiment, json!({"platform": p}))),
    )
    .await;
    users
        .into_iter()
        .zip(variants)
        .map(|((user, platform), variant)| (user, platform, variant.unwrap()))
        .collect()
}

fn contextual_body(key: &str, kind: &str, context: Value) -> Value {
    let mut body = experiment_body(key, kind);
    body["context"] = context;
    body
}

#[tokio::test]
async fn bad_context_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    for (context, why) in [
        (json!(["a", "b", "c", "d"]), "four attributes"),
        (json!(["platform", "platform"]), "a duplicate"),
        (json!([""]), "an empty name"),
        (json!(["x".repeat(65)]), "a long name"),
        (json!("platform"), "not a list"),
        (json!([1]), "not a name"),
    ] {
        let reply = app
            .create_experiment(contextual_body("ctx", "bandit", context))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{why}: {:?}",
            reply.body
        );
        assert!(
            ["invalid_request", "malformed_json"].contains(&reply.error_code()),
            "{why}: {:?}",
            reply.body
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);

    // The context is fixed once created: PATCH does not take it.
    app.running_experiment(contextual_body("ctx", "bandit", json!(["platform"])))
        .await;
    let reply = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/ctx",
            Some(json!({"context": ["country"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let got = app
        .admin(Method::GET, "/api/v1/experiments/ctx", None)
        .await;
    assert_eq!(got.body["context"], json!(["platform"]));
    // Experiments without a context say so.
    app.running_experiment(experiment_body("plain", "ab")).await;
    let got = app
        .admin(Method::GET, "/api/v1/experiments/plain", None)
        .await;
    assert_eq!(got.body["context"], json!([]));
    let results = app.results("plain").await;
    assert_eq!(results["segments"], json!([]));
    assert_eq!(results["personalization"], Value::Null);
}

#[tokio::test]
async fn each_segment_learns_its_own_best_variant() {
    let app = spawn_app().await;
    app.running_experiment(json!({
        "key": "ctx", "name": "Contextual", "dimension": "content", "kind": "bandit",
        "variants": [{"key": "a"}, {"key": "b"}],
        "goal": {"event": "click"}, "floor": 0.01, "context": ["platform"]
    }))
    .await;
    let true_rate = |platform: &str, v: &str| match (platform, v) {
        ("ios", "b") | ("android", "a") => 0.25,
        _ => 0.04,
    };
    let mut uniform = uniform_source(0x2545F4914F6CDD1D);
    let mut late = [(0, 0), (0, 0)]; // (own best, total) for ios, android
    for wave in 0..14 {
        let mut events = Vec::new();
        for (user, platform, variant) in platform_wave(&app, "ctx", wave, 100).await {
            if wave >= 10 {
                let slot = usize::from(platform == "android");
                let best = if platform == "ios" { "b" } else { "a" };
                late[slot].1 += 1;
                late[slot].0 += usize::from(variant == best);
            }
            if uniform() < true_rate(platform, &variant) {
                events.push(json!({"user_id": user, "name": "click"}));
            }
        }
        if !events.is_empty() {
            let reply = app.track(Value::Array(events)).await;
            assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
        }
        app.engine.refresh().await.unwrap();
    }
    for (slot, name) in [(0, "ios"), (1, "android")] {
        let share = late[slot].0 as f64 / late[slot].1 as f64;
        assert!(
            share > 0.7,
            "{name} got its best variant for {share:.2} of late users"
        );
    }

    let results = app.results("ctx").await;
    let segments = results["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{results}");
    for s in segments {
        let platform = s["context"]["platform"].as_str().unwrap();
        let best = if platform == "ios" { "b" } else { "a" };
        assert_eq!(s["best_variant"], best, "{s}");
        assert!(s["probability_best"].as_f64().unwrap() > 0.95, "{s}");
        assert_eq!(s["users"], 700, "{s}");
    }
    // Per-segment counts add up to the totals, variant by variant.
    for v in results["variants"].as_array().unwrap() {
        let key = v["key"].as_str().unwrap();
        let of = |field: &str| -> i64 {
            segments
                .iter()
                .map(|s| {
                    s["variants"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|x| x["key"] == key)
                        .unwrap()[field]
                        .as_i64()
                        .unwrap()
                })
                .sum()
        };
        assert_eq!(of("users"), v["users"].as_i64().unwrap(), "{results}");
        assert_eq!(
            of("conversions"),
            v["conversions"].as_i64().unwrap(),
            "{results}"
        );
    }
    // Personalization is credibly worth something here (truly ~10 points; the estimate is
    // conservative, as each segment's rarely played arm leans on the pooled prior).
    let p = &results["personalization"];
    assert!(p["gain"]["low"].as_f64().unwrap() > 0.0, "{p}");
    assert!(
        p["per_segment_rate"].as_f64().unwrap() > p["best_single_rate"].as_f64().unwrap(),
        "{p}"
    );
    // Logged propensities are the segment's allocation: late users of a segment were given
    // their best variant with high probability.
    let confident = app.count(
        "SELECT count(*) AS n FROM assignments a JOIN variants v ON v.id = a.variant_id \
         WHERE a.user_id LIKE 'w13-%' AND ((a.context_key = '[\"ios\"]' AND v.key = 'b') \
           OR (a.context_key = '[\"android\"]' AND v.key = 'a')) AND a.propensity > 0.8",
    );
    assert!(
        confident > 60,
        "{confident} late users with a confident propensity"
    );
}

/// Per-(variant, context) statistics equal what the raw rows say, before and after erasure.
fn context_stats_match_rows(app: &TestApp) {
    let mismatches = app.count(
        "WITH rows AS (SELECT variant_id, context_key, count(*) AS users, \
                count(converted_at) AS conversions, sum(value) AS value_sum \
              FROM assignments WHERE context_key IS NOT NULL GROUP BY 1, 2), \
            stats AS (SELECT variant_id, context_key, sum(users) AS users, \
                sum(conversions) AS conversions, sum(value_sum) AS value_sum \
              FROM context_stats GROUP BY 1, 2) \
         SELECT count(*) AS n FROM rows FULL JOIN stats USING (variant_id, context_key) \
         WHERE rows.users IS DISTINCT FROM stats.users AND NOT (rows.users IS NULL AND stats.users = 0) \
            OR rows.conversions IS DISTINCT FROM stats.conversions AND NOT (rows.users IS NULL AND stats.conversions = 0) \
            OR abs(coalesce(rows.value_sum, 0) - coalesce(stats.value_sum, 0)) > 1e-9",
    );
    assert_eq!(mismatches, 0, "context_stats differ from the assignments");
}

#[tokio::test]
async fn segment_statistics_follow_the_rows_through_erasure_and_exports() {
    let app = spawn_app().await;
    app.running_experiment(json!({
        "key": "rev", "name": "Revenue by segment", "dimension": "content", "kind": "ab",
        "variants": [{"key": "a"}, {"key": "b"}],
        "goal": {"event": "buy", "metric": "revenue"}, "context": ["platform", "returning"]
    }))
    .await;
    let attributes = [
        json!({"platform": "ios", "returning": true}),
        json!({"platform": "android", "returning": false}),
        json!({"returning": true}),
        json!({"platform": "ios", "returning": true, "visits": 4}),
    ];
    let mut events = Vec::new();
    for i in 0..40 {
        let user = format!("u-{i}");
        let variant = app
            .variant_of(&user, "rev", attributes[i % 4].clone())
            .await;
        assert!(variant.is_some());
        if i % 3 == 0 {
            events.push(json!({"event_id": format!("e-{i}"), "user_id": user, "name": "buy", "value": (i % 7) as f64 + 0.5}));
        }
    }
    events.push(json!({"event_id": "e-again", "user_id": "u-0", "name": "buy", "value": 2.0}));
    let reply = app.track(Value::Array(events)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    context_stats_match_rows(&app);

    let results = app.results("rev").await;
    let segments = results["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 3, "{results}");
    let none = segments
        .iter()
        .find(|s| s["context"]["platform"] == "(none)")
        .unwrap();
    assert_eq!(
        none["context"],
        json!({"platform": "(none)", "returning": "true"})
    );
    assert_eq!(none["users"], 10);
    let ios = segments
        .iter()
        .find(|s| s["context"]["platform"] == "ios")
        .unwrap();
    assert_eq!(ios["users"], 20, "extra attributes do not split a segment");
    let total: i64 = segments.iter().map(|s| s["users"].as_i64().unwrap()).sum();
    assert_eq!(total, 40);

    // Erasing a user takes them out of their segment too.
    let erased = app.admin(Method::DELETE, "/api/v1/users/u-0", None).await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    context_stats_match_rows(&app);
    let results = app.results("rev").await;
    let ios = results["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["context"]["platform"] == "ios")
        .unwrap()
        .clone();
    assert_eq!(ios["users"], 19);

    // Off-policy evaluation of a revenue goal: the logged value per user, exactly.
    let value_sum: f64 = results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value_sum"].as_f64().unwrap())
        .sum();
    let ope = app
        .admin(Method::GET, "/api/v1/experiments/rev/ope", None)
        .await
        .body;
    assert_eq!(ope["rows"], 39, "{ope}");
    assert_eq!(ope["metric"], "revenue");
    let logged = ope["logged_value"].as_f64().unwrap();
    assert!(
        (logged - value_sum / 39.0).abs() < 1e-12,
        "{logged} vs {value_sum}/39"
    );

    // Exports: assignments carry the context; results have rows per segment and variant.
    let export = |query: &'static str| {
        let app = &app;
        async move {
            app.get_text(
                &format!("/api/v1/experiments/rev/export?{query}"),
                Some(ADMIN_KEY),
            )
            .await
            .body
        }
    };
    let lines: Vec<Value> = export("data=assignments&format=jsonl")
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 39);
    let u1 = lines.iter().find(|l| l["user_id"] == "u-1").unwrap();
    assert_eq!(
        u1["context"],
        json!({"platform": "android", "returning": "false"})
    );
    let lines: Vec<Value> = export("data=results&format=jsonl")
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 2 overall rows + 3 segments × 2 variants.
    assert_eq!(lines.len(), 8, "{lines:?}");
    let segment_rows: Vec<&Value> = lines.iter().filter(|l| l["segment"].is_string()).collect();
    assert_eq!(segment_rows.len(), 6);
    let users: i64 = segment_rows
        .iter()
        .map(|l| l["users"].as_i64().unwrap())
        .sum();
    assert_eq!(users, 39);
}

#[tokio::test]
async fn contexts_beyond_the_cap_share_one_bucket() {
    let app = spawn_app().await;
    app.running_experiment(contextual_body("many", "bandit", json!(["city"])))
        .await;
    for i in 0..70 {
        app.variant_of(&format!("u-{i}"), "many", json!({"city": format!("c{i}")}))
            .await
            .unwrap();
    }
    let distinct = app.count("SELECT count(DISTINCT context_key) AS n FROM assignments");
    assert_eq!(distinct, 65, "64 contexts and the (other) bucket");
    let others =
        app.count("SELECT count(*) AS n FROM assignments WHERE context_key = '[\"(other)\"]'");
    assert_eq!(others, 6);
    // A known context is still itself.
    app.variant_of("late", "many", json!({"city": "c3"})).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments WHERE user_id = 'late' AND context_key = '[\"c3\"]'"),
        1
    );
}

#[tokio::test]
async fn a_revenue_bandit_assigns_from_its_segments_posteriors() {
    let app = spawn_app().await;
    app.running_experiment(json!({
        "key": "basket", "name": "Basket", "dimension": "content", "kind": "bandit",
        "variants": [{"key": "a"}, {"key": "b"}],
        "goal": {"event": "buy", "metric": "revenue"}, "floor": 0.05, "context": ["platform"]
    }))
    .await;
    let mut uniform = uniform_source(0x1234_5678_9ABC_DEF1);
    for wave in 0..6 {
        let mut events = Vec::new();
        for i in 0..40 {
            let user = format!("w{wave}-{i}");
            let platform = if i % 2 == 0 { "web" } else { "ios" };
            let variant = app
                .variant_of(&user, "basket", json!({"platform": platform}))
                .await
                .unwrap();
            // web spends more with a, ios with b.
            let good = (platform == "web") == (variant == "a");
            let value = if good { 20.0 } else { 5.0 } + 10.0 * uniform();
            events.push(json!({"user_id": user, "name": "buy", "value": value}));
        }
        let reply = app.track(Value::Array(events)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
        app.engine.refresh().await.unwrap();
    }
    let results = app.results("basket").await;
    let segments = results["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{results}");
    for s in segments {
        let best = if s["context"]["platform"] == "web" {
            "a"
        } else {
            "b"
        };
        assert_eq!(s["best_variant"], best, "{s}");
        assert!(s["variants"][0]["value_per_user"]["mean"].as_f64().unwrap() > 0.0);
    }
    assert!(
        results["personalization"]["gain"]["mean"].as_f64().unwrap() > 0.0,
        "{results}"
    );
    // Propensities of the late waves come from each segment's own allocation.
    let late_confident = app.count(
        "SELECT count(*) AS n FROM assignments WHERE user_id LIKE 'w5-%' AND propensity > 0.8",
    );
    assert!(late_confident > 20, "{late_confident} of 40");
}

#[tokio::test]
async fn two_instances_keep_segment_statistics_exact() {
    let first = spawn_app().await;
    let second = spawn_app_on(first.db.clone()).await;
    first
        .running_experiment(contextual_body("shared", "bandit", json!(["platform"])))
        .await;
    second.engine.refresh().await.unwrap();
    let mut events = Vec::new();
    let assigns = (0..80).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        let platform = ["ios", "android", "web"][i % 3];
        async move {
            app.variant_of(&format!("u-{i}"), "shared", json!({"platform": platform}))
                .await
                .unwrap()
        }
    });
    futures_util::future::join_all(assigns).await;
    for i in (0..80).step_by(3) {
        events.push(
            json!({"event_id": format!("e-{i}"), "user_id": format!("u-{i}"), "name": "purchase"}),
        );
    }
    // The same events through both instances: stored and counted once.
    let (a, b) = tokio::join!(
        first.track(Value::Array(events.clone())),
        second.track(Value::Array(events))
    );
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(b.status, StatusCode::ACCEPTED);
    context_stats_match_rows(&first);
    // A user asking the other instance keeps their variant.
    let v = first
        .variant_of("u-1", "shared", json!({"platform": "android"}))
        .await;
    assert_eq!(
        v,
        second
            .variant_of("u-1", "shared", json!({"platform": "android"}))
            .await
    );
    let results = second.results("shared").await;
    let segments = results["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 3);
    let users: i64 = segments.iter().map(|s| s["users"].as_i64().unwrap()).sum();
    let conversions: i64 = segments
        .iter()
        .flat_map(|s| s["variants"].as_array().unwrap().iter())
        .map(|v| v["conversions"].as_i64().unwrap())
        .sum();
    assert_eq!(users, 80);
    assert_eq!(conversions, 27);
}
