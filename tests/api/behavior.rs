//! Behavioral targeting: rules on what users did (counts and value sums in windows, the last
//! time, days since first seen), read from their profiles at assignment, fresh on the
//! instance that took the event at once and on every other within a couple of seconds.

use crate::helpers::*;
use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn targeted(key: &str, targeting: Value) -> Value {
    let mut body = experiment_body(key, "ab");
    body["targeting"] = targeting;
    body
}

async fn track_now(app: &TestApp, user: &str, name: &str, value: Option<f64>, ago: TimeDelta) {
    let mut event = json!({"user_id": user, "name": name, "timestamp": Utc::now() - ago});
    if let Some(v) = value {
        event["value"] = json!(v);
    }
    let reply = app.track(json!([event])).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
}

async fn in_experiment(app: &TestApp, user: &str, key: &str) -> bool {
    app.variant_of(user, key, json!({})).await.is_some()
}

#[tokio::test]
async fn an_acknowledged_event_counts_at_the_next_assignment() {
    let app = spawn_app().await;
    app.running_experiment(targeted(
        "engaged",
        json!([{"event": "open", "count": {"gte": 2}, "within": "1h"}]),
    ))
    .await;
    assert!(!in_experiment(&app, "u1", "engaged").await, "no opens yet");
    track_now(&app, "u1", "open", None, TimeDelta::zero()).await;
    // The profile read for the first answer was kept in memory: the event must replace it.
    assert!(!in_experiment(&app, "u1", "engaged").await, "one open");
    track_now(&app, "u1", "open", None, TimeDelta::zero()).await;
    assert!(
        in_experiment(&app, "u1", "engaged").await,
        "two opens, at once"
    );
    // An open two hours ago is outside the window.
    track_now(&app, "u2", "open", None, TimeDelta::zero()).await;
    track_now(&app, "u2", "open", None, TimeDelta::hours(2)).await;
    assert!(!in_experiment(&app, "u2", "engaged").await);
    // The user keeps their variant (sticky) even when the rule would no longer take them.
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
}

#[tokio::test]
async fn a_user_becomes_lapsed_when_the_window_passes_with_no_new_event() {
    let app = spawn_app().await;
    app.running_experiment(targeted(
        "win-back",
        json!({"event": "open", "last_seen": {"before": "2s"}}),
    ))
    .await;
    app.running_experiment(targeted(
        "win-back-or-never",
        json!({"event": "open", "last_seen": {"before": "2s"}, "or_never": true}),
    ))
    .await;
    track_now(&app, "regular", "open", None, TimeDelta::zero()).await;
    assert!(
        !in_experiment(&app, "regular", "win-back").await,
        "just opened"
    );
    // No new event: two seconds later the same profile reads as lapsed.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert!(in_experiment(&app, "regular", "win-back").await, "lapsed");
    // A user who never opened is lapsed only with or_never.
    assert!(!in_experiment(&app, "stranger", "win-back").await);
    assert!(in_experiment(&app, "stranger", "win-back-or-never").await);
}

#[tokio::test]
async fn value_sums_day_windows_and_days_since_first_seen() {
    let app = spawn_app().await;
    app.running_experiment(targeted(
        "big-spenders",
        json!({"event": "purchase", "value_sum": {"gte": 100}, "within": "7d"}),
    ))
    .await;
    app.running_experiment(targeted(
        "newcomers",
        json!({"profile": "days_since_first_seen", "op": "lt", "value": 1}),
    ))
    .await;
    app.running_experiment(targeted(
        "new-ios-or-buyer",
        json!([{"attribute": "platform", "op": "eq", "value": "ios"},
               {"any": [{"profile": "days_since_first_seen", "op": "lt", "value": 1},
                        {"event": "purchase", "count": {"gte": 1}, "within": "30d"}]}]),
    ))
    .await;
    // 60 three days ago and 50 now: 110 within 7 days.
    track_now(&app, "whale", "purchase", Some(60.0), TimeDelta::days(3)).await;
    assert!(
        !in_experiment(&app, "whale", "big-spenders").await,
        "60 so far"
    );
    track_now(&app, "whale", "purchase", Some(50.0), TimeDelta::zero()).await;
    assert!(in_experiment(&app, "whale", "big-spenders").await, "110");
    // 200 twenty days ago is outside 7 days.
    track_now(
        &app,
        "old-whale",
        "purchase",
        Some(200.0),
        TimeDelta::days(20),
    )
    .await;
    assert!(!in_experiment(&app, "old-whale", "big-spenders").await);
    // First seen 20 days ago: not new; never seen: new (first seen now).
    assert!(!in_experiment(&app, "old-whale", "newcomers").await);
    assert!(in_experiment(&app, "brand-new", "newcomers").await);
    // Attribute and behavioral conditions in one tree.
    let ios = json!({"platform": "ios"});
    assert!(
        app.variant_of("old-whale", "new-ios-or-buyer", ios.clone())
            .await
            .is_some()
    );
    assert!(
        app.variant_of("brand-new-2", "new-ios-or-buyer", ios)
            .await
            .is_some()
    );
    assert!(
        app.variant_of(
            "brand-new-3",
            "new-ios-or-buyer",
            json!({"platform": "android"})
        )
        .await
        .is_none()
    );
}

#[tokio::test]
async fn segments_carry_behavioral_conditions_into_experiments() {
    let app = spawn_app().await;
    let created = app
        .admin(
            Method::POST,
            "/api/v1/segments",
            Some(json!({"key": "active", "name": "Active",
                "rule": {"event": "open", "count": {"gte": 1}, "within": "7d"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(
        created.body["rule"],
        json!({"event": "open", "count": {"gte": 1.0}, "within": "7d"})
    );
    app.running_experiment(targeted("for-active", json!({"segment": "active"})))
        .await;
    track_now(&app, "u", "open", None, TimeDelta::days(1)).await;
    assert!(in_experiment(&app, "u", "for-active").await);
    assert!(!in_experiment(&app, "idle", "for-active").await);
}

#[tokio::test]
async fn another_instance_sees_the_event_within_seconds() {
    let one = spawn_app().await;
    let two = spawn_app_on(one.db.clone()).await;
    one.running_experiment(targeted(
        "engaged",
        json!({"event": "open", "count": {"gte": 1}, "within": "1h"}),
    ))
    .await;
    eventually(|| async {
        two.admin(Method::GET, "/api/v1/experiments/engaged", None)
            .await
            .status
            == StatusCode::OK
    })
    .await;
    // Instance one reads (and keeps) the empty profile first.
    eventually(|| async {
        one.assign(json!({"user_id": "u", "experiments": ["engaged"]}))
            .await
            .status
            == StatusCode::OK
    })
    .await;
    assert!(!in_experiment(&one, "u", "engaged").await);
    track_now(&two, "u", "open", None, TimeDelta::zero()).await;
    let sent = std::time::Instant::now();
    eventually(|| in_experiment(&one, "u", "engaged")).await;
    println!(
        "the other instance saw the event after {:?}",
        sent.elapsed()
    );
}

#[tokio::test]
async fn bad_behavioral_conditions_are_refused_with_the_field_named() {
    let app = spawn_app_with(|s| {
        s.engine.event_retention = Some(TimeDelta::days(30));
    })
    .await;
    let cases = [
        (
            json!({"profile": "lifetime_value", "op": "gt", "value": 1}),
            "targeting.profile",
        ),
        (
            json!({"profile": "days_since_first_seen", "op": "gt", "value": "1"}),
            "targeting.value",
        ),
        (
            json!({"profile": "days_since_first_seen", "op": "in", "value": 1}),
            "targeting.op",
        ),
        (
            json!({"event": "open", "count": {"gte": 1}, "within": "7x"}),
            "targeting.within",
        ),
        (
            json!({"event": "open", "count": {"gte": 1}, "within": "91d"}),
            "targeting.within",
        ),
        (
            json!({"event": "open", "count": {"gte": 1}, "within": "36h"}),
            "targeting.within",
        ),
        (
            json!({"event": "open", "count": {"gte": 1}}),
            "targeting.within",
        ),
        (
            json!({"event": "open", "count": {"gte": "one"}, "within": "7d"}),
            "targeting.count.gte",
        ),
        (
            json!({"event": "open", "count": {"about": 1}, "within": "7d"}),
            "targeting.count.about",
        ),
        (
            json!({"event": "open", "count": 1, "within": "7d"}),
            "targeting.count",
        ),
        (
            json!({"event": "open", "count": {"gte": 1}, "within": "7d", "colour": "red"}),
            "targeting.colour",
        ),
        (
            json!({"event": "open", "last_seen": {"since": "7d"}}),
            "targeting.last_seen",
        ),
        (
            json!({"event": "open", "last_seen": {"before": "7d"}, "or_never": "yes"}),
            "targeting.or_never",
        ),
        (
            json!({"event": "open"}),
            "targeting: a behavioral condition on an event has exactly one",
        ),
        (
            json!({"event": "", "count": {"gte": 1}, "within": "7d"}),
            "targeting.event",
        ),
        // Longer than the 30 days raw events are kept here.
        (
            json!({"event": "open", "count": {"gte": 1}, "within": "60d"}),
            "targeting: \"60d\" is longer than the 30 days",
        ),
    ];
    for (i, (rule, field)) in cases.iter().enumerate() {
        let reply = app
            .create_experiment(targeted(&format!("bad-{i}"), rule.clone()))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{rule}: {:?}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        // The field, then what is wrong with it.
        let expected = if field.contains(": ") {
            field.to_string()
        } else {
            format!("{field}: ")
        };
        assert!(message.contains(&expected), "{rule}: {message}");
        let segment = app
            .admin(
                Method::POST,
                "/api/v1/segments",
                Some(json!({"key": format!("bad-{i}"), "name": "Bad", "rule": rule})),
            )
            .await;
        assert_eq!(
            segment.status,
            StatusCode::BAD_REQUEST,
            "{rule}: {:?}",
            segment.body
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 0);
}

#[tokio::test]
async fn behavioral_conditions_need_profiles() {
    let app = spawn_app_with(crate::profiles::profiles_off).await;
    let reply = app
        .create_experiment(targeted(
            "engaged",
            json!({"event": "open", "count": {"gte": 1}, "within": "7d"}),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("targeting: ") && message.contains("profiles"),
        "{message}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);
}

/// Engagement levels as a contextual bandit's context: each level learns its own best variant.
#[tokio::test]
async fn a_bandit_learns_per_engagement_level() {
    let app = spawn_app().await;
    for (key, rule) in [
        (
            "active",
            json!({"event": "open", "count": {"gte": 1}, "within": "7d"}),
        ),
        (
            "lapsed",
            json!({"event": "open", "last_seen": {"before": "7d"}}),
        ),
        (
            "new",
            json!({"profile": "days_since_first_seen", "op": "lt", "value": 1}),
        ),
    ] {
        let reply = app
            .admin(
                Method::POST,
                "/api/v1/segments",
                Some(json!({"key": key, "name": key, "rule": rule})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }
    let mut body = experiment_body("win-back", "bandit");
    body["goal"] = json!({"event": "click"});
    body["floor"] = json!(0.01);
    body["context_segments"] = json!(["active", "lapsed", "new"]);
    app.running_experiment(body).await;
    // Segments a running experiment uses as its context cannot be deleted.
    let delete = app
        .admin(Method::DELETE, "/api/v1/segments/lapsed", None)
        .await;
    assert_eq!(delete.status, StatusCode::CONFLICT, "{:?}", delete.body);

    let level_of = |i: usize| ["active", "lapsed", "new"][i % 3];
    let true_rate = |level: &str, variant: &str| match (level, variant) {
        ("active", "b") | ("lapsed", "a") => 0.3,
        _ => 0.05,
    };
    let mut uniform = crate::contextual::uniform_source(0x9E3779B97F4A7C15);
    let mut late = std::collections::HashMap::<&str, (u32, u32)>::new();
    for wave in 0..12 {
        let users: Vec<(String, &str)> = (0..90)
            .map(|i| (format!("w{wave}-u{i}"), level_of(i)))
            .collect();
        let history: Vec<Value> = users
            .iter()
            .filter_map(|(user, level)| {
                let days = match *level {
                    "active" => 1,
                    "lapsed" => 20,
                    _ => return None,
                };
                Some(json!({"user_id": user, "name": "open",
                    "timestamp": Utc::now() - TimeDelta::days(days)}))
            })
            .collect();
        assert_eq!(
            app.track(Value::Array(history)).await.status,
            StatusCode::ACCEPTED
        );
        let mut clicks = Vec::new();
        for (user, level) in &users {
            let variant = app.variant_of(user, "win-back", json!({})).await.unwrap();
            if wave >= 8 {
                let best = if *level == "lapsed" { "a" } else { "b" };
                let entry = late.entry(level).or_default();
                entry.1 += 1;
                entry.0 += u32::from(variant == best);
            }
            if uniform() < true_rate(level, &variant) {
                clicks.push(json!({"user_id": user, "name": "click"}));
            }
        }
        if !clicks.is_empty() {
            assert_eq!(
                app.track(Value::Array(clicks)).await.status,
                StatusCode::ACCEPTED
            );
        }
        app.engine.refresh().await.unwrap();
    }
    for level in ["active", "lapsed"] {
        let (best, total) = late[level];
        let share = f64::from(best) / f64::from(total);
        assert!(
            share > 0.7,
            "{level} got its best variant for {share:.2} of late users"
        );
    }
    // Each user's context is their level, stored on the assignment and reported by level.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM assignments WHERE user_id = 'w0-u1' AND context_key = '[\"lapsed\"]'"
        ),
        1
    );
    let results = app.results("win-back").await;
    let mut levels: Vec<String> = results["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["context"]["segment"].as_str().unwrap().to_string())
        .collect();
    levels.sort();
    assert_eq!(levels, ["active", "lapsed", "new"], "{results}");
}

/// With no room for profiles in memory every read goes to the database (batched), and the
/// answers are the same.
#[tokio::test]
async fn profiles_beyond_the_memory_budget_are_read_from_the_database() {
    let app = spawn_app_with(|s| s.engine.cache_bytes = 1).await;
    app.running_experiment(targeted(
        "engaged",
        json!({"event": "open", "count": {"gte": 1}, "within": "1h"}),
    ))
    .await;
    for i in 0..20 {
        if i % 2 == 0 {
            track_now(&app, &format!("u{i}"), "open", None, TimeDelta::zero()).await;
        }
    }
    let answers = futures_util::future::join_all((0..20).map(|i| {
        let app = &app;
        async move { in_experiment(app, &format!("u{i}"), "engaged").await }
    }))
    .await;
    for (i, taken) in answers.into_iter().enumerate() {
        assert_eq!(taken, i % 2 == 0, "u{i}");
    }
    assert_eq!(app.engine.profiles_in_memory(), (0, 0));
    // With the default budget the same reads are kept.
    let roomy = spawn_app().await;
    roomy
        .running_experiment(targeted(
            "engaged",
            json!({"event": "open", "count": {"gte": 1}, "within": "1h"}),
        ))
        .await;
    track_now(&roomy, "u0", "open", None, TimeDelta::zero()).await;
    // (The background drops what is kept once, when an experiment starts reading profiles.)
    eventually(|| async {
        assert!(in_experiment(&roomy, "u0", "engaged").await);
        assert!(!in_experiment(&roomy, "u1", "engaged").await);
        roomy.engine.profiles_in_memory().0 == 2
    })
    .await;
    let (_, bytes) = roomy.engine.profiles_in_memory();
    assert!(bytes > 0 && bytes < 10_000, "{bytes}");
}
