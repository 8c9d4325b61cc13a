//! The holdout: a share of users gets no experiment at all; they are recorded once, and
//! their conversion is compared with that of exposed users.

use crate::helpers::*;
use crate::ofrep::ofrep;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn set_holdout(app: &TestApp, fraction: serde_json::Value) -> Reply {
    app.admin(
        Method::PUT,
        "/api/v1/holdout",
        Some(json!({"fraction": fraction})),
    )
    .await
}

#[tokio::test]
async fn held_out_users_get_nothing_and_are_recorded_once() {
    let app = spawn_app().await;
    let initial = app.admin(Method::GET, "/api/v1/holdout", None).await;
    assert_eq!(initial.body, json!({"fraction": 0.0}));
    app.running_experiment(experiment_body("one", "ab")).await;
    app.running_experiment(experiment_body("two", "bandit"))
        .await;
    let set = set_holdout(&app, json!(0.2)).await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(
        app.admin(Method::GET, "/api/v1/holdout", None).await.body,
        json!({"fraction": 0.2})
    );

    let n = 2000;
    let mut held = Vec::new();
    for i in 0..n {
        let user = format!("user-{i}");
        let reply = app.assign(json!({"user_id": user})).await;
        assert_eq!(reply.status, StatusCode::OK);
        let assignments = reply.body["assignments"].as_array().unwrap();
        if reply.body["holdout"] == true {
            assert!(assignments.is_empty(), "{:?}", reply.body);
            held.push(user);
        } else {
            assert!(reply.body.get("holdout").is_none());
            assert_eq!(assignments.len(), 2, "{:?}", reply.body);
        }
    }
    // Binomial(2000, 0.2): mean 400, sd ≈ 17.9; allow 4 sd.
    assert!((held.len() as f64 - 400.0).abs() < 72.0, "{}", held.len());
    assert_eq!(
        app.count("SELECT count(*) AS n FROM holdout_users"),
        held.len() as i64
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments a JOIN holdout_users h USING (user_id)"),
        0
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT user_id) AS n FROM assignments"),
        (n - held.len()) as i64
    );
    // Asking again changes nothing, on a fresh instance too.
    let other = spawn_app_on(app.db.clone()).await;
    for user in held.iter().take(20) {
        let reply = other.assign(json!({"user_id": user})).await;
        assert_eq!(reply.body["holdout"], true);
        let flag = ofrep(
            &other,
            "/ofrep/v1/evaluate/flags/one",
            Some(CLIENT_KEY),
            &json!({"context": {"targetingKey": user}}).to_string(),
            &[],
        )
        .await
        .json();
        assert_eq!(flag["reason"], "DISABLED", "{flag}");
        assert_eq!(flag["metadata"]["holdout"], true);
        assert_eq!(flag["metadata"]["assigned"], false);
        let bulk = ofrep(
            &other,
            "/ofrep/v1/evaluate/flags",
            Some(CLIENT_KEY),
            &json!({"context": {"targetingKey": user}}).to_string(),
            &[],
        )
        .await
        .json();
        let flags = bulk["flags"].as_array().unwrap();
        assert_eq!(flags.len(), 2, "{bulk}");
        assert!(
            flags
                .iter()
                .all(|f| f["reason"] == "DISABLED" && f["metadata"]["holdout"] == true)
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM holdout_users"),
        held.len() as i64
    );

    // Setting the holdout to 0 brings everyone back.
    assert_eq!(set_holdout(&app, json!(0)).await.status, StatusCode::OK);
    let back = app.assign(json!({"user_id": &held[0]})).await;
    assert_eq!(back.body["assignments"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_bad_fraction_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    assert_eq!(set_holdout(&app, json!(0.05)).await.status, StatusCode::OK);
    for bad in [json!(0.6), json!(-0.1), json!("0.1"), json!(null)] {
        let reply = set_holdout(&app, bad.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {:?}",
            reply.body
        );
        assert_eq!(reply.error_code(), "invalid_request");
    }
    let extra = app
        .admin(
            Method::PUT,
            "/api/v1/holdout",
            Some(json!({"fraction": 0.1, "seed": 3})),
        )
        .await;
    assert_eq!(extra.status, StatusCode::BAD_REQUEST);
    let client = app
        .request(
            Method::PUT,
            "/api/v1/holdout",
            Some(CLIENT_KEY),
            Some(json!({"fraction": 0.1})),
        )
        .await;
    assert_eq!(client.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.admin(Method::GET, "/api/v1/holdout", None).await.body,
        json!({"fraction": 0.05})
    );
    let no_event = app
        .admin(Method::GET, "/api/v1/holdout/results", None)
        .await;
    assert_eq!(no_event.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn results_compare_exposed_with_held_out_users() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("shop", "ab")).await;
    assert_eq!(set_holdout(&app, json!(0.5)).await.status, StatusCode::OK);
    let empty = app
        .admin(Method::GET, "/api/v1/holdout/results?event=purchase", None)
        .await;
    assert_eq!(empty.status, StatusCode::OK, "{:?}", empty.body);
    assert_eq!(empty.body["holdout"]["users"], 0);
    assert!(empty.body["lift"].is_null());

    let (mut held, mut exposed) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let user = format!("user-{i}");
        let reply = app.assign(json!({"user_id": user})).await;
        if reply.body["holdout"] == true {
            held.push(user);
        } else {
            exposed.push(user);
        }
    }
    // Every third held-out user and every other exposed user buys; some send other events.
    let mut events = Vec::new();
    for (i, u) in held.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        events.push(json!({"event_id": format!("h-{i}"), "user_id": u, "name": "purchase"}));
    }
    for (i, u) in exposed.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        events.push(json!({"event_id": format!("x-{i}"), "user_id": u, "name": "purchase"}));
        events.push(json!({"event_id": format!("y-{i}"), "user_id": u, "name": "purchase"}));
        events.push(json!({"event_id": format!("v-{i}"), "user_id": u, "name": "view"}));
    }
    assert_eq!(app.track(json!(events)).await.status, StatusCode::ACCEPTED);
    let results = app
        .admin(Method::GET, "/api/v1/holdout/results?event=purchase", None)
        .await;
    assert_eq!(results.status, StatusCode::OK, "{:?}", results.body);
    let r = &results.body;
    let held_buyers = held.len().div_ceil(3) as i64;
    let exposed_buyers = exposed.len().div_ceil(2) as i64;
    assert_eq!(r["event"], "purchase");
    assert_eq!(r["fraction"], 0.5);
    assert_eq!(r["holdout"]["users"], held.len() as i64);
    assert_eq!(r["holdout"]["conversions"], held_buyers);
    assert_eq!(r["exposed"]["users"], exposed.len() as i64);
    assert_eq!(r["exposed"]["conversions"], exposed_buyers);
    // Beta(1 + c, 1 + n − c) means.
    let mean = |c: i64, n: usize| (1.0 + c as f64) / (2.0 + n as f64);
    let close = |a: &serde_json::Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-12;
    assert!(close(
        &r["holdout"]["rate"]["mean"],
        mean(held_buyers, held.len())
    ));
    assert!(close(
        &r["exposed"]["rate"]["mean"],
        mean(exposed_buyers, exposed.len())
    ));
    let lift = &r["lift"];
    let (m_x, m_h) = (
        mean(exposed_buyers, exposed.len()),
        mean(held_buyers, held.len()),
    );
    assert!(close(&lift["mean"], (m_x - m_h) / m_h), "{lift}");
    assert!(lift["low"].as_f64().unwrap() < lift["high"].as_f64().unwrap());
    let chance = r["chance_to_beat_holdout"].as_f64().unwrap();
    // Exposed convert at 1/2, held out at 1/3 with ~100 users each: clearly better.
    assert!(chance > 0.9 && chance <= 1.0, "{chance}");

    let other_event = app
        .admin(Method::GET, "/api/v1/holdout/results?event=view", None)
        .await;
    assert_eq!(other_event.body["holdout"]["conversions"], 0);
    assert_eq!(other_event.body["exposed"]["conversions"], exposed_buyers);
}

#[tokio::test]
async fn held_out_users_get_no_pinned_rule_or_winner_and_can_be_erased() {
    let app = spawn_app().await;
    let segment = app
        .admin(
            Method::POST,
            "/api/v1/segments",
            Some(json!({"key": "everyone", "name": "Everyone",
                        "rule": {"attribute": "plan", "op": "exists"}})),
        )
        .await;
    assert_eq!(segment.status, StatusCode::CREATED);
    let mut pinned = experiment_body("pinned", "ab");
    pinned["rules"] = json!([{"segment": "everyone", "variant": "b"}]);
    app.running_experiment(pinned).await;
    app.running_experiment(experiment_body("open", "ab")).await;
    app.running_experiment(experiment_body("done", "ab")).await;
    let stop = app
        .admin(
            Method::POST,
            "/api/v1/experiments/done/stop",
            Some(json!({"winner": "b"})),
        )
        .await;
    assert_eq!(stop.status, StatusCode::OK);
    assert_eq!(set_holdout(&app, json!(0.5)).await.status, StatusCode::OK);
    let mut held = None;
    for i in 0..100 {
        let user = format!("user-{i}");
        let reply = app
            .assign(json!({"user_id": user, "attributes": {"plan": "pro"}}))
            .await;
        let assignments = reply.body["assignments"].as_array().unwrap();
        if reply.body["holdout"] == true {
            assert!(assignments.is_empty());
            held.get_or_insert(user);
        } else {
            // Everyone else gets the pinned variant, an assignment and the winner.
            assert_eq!(assignments.len(), 3, "{:?}", reply.body);
        }
    }
    let held = held.expect("half of 100 users are held out");
    let count = |user: &str| {
        app.count(&format!(
            "SELECT count(*) AS n FROM holdout_users WHERE user_id = '{user}'"
        ))
    };
    assert_eq!(count(&held), 1);
    let erased = app
        .admin(Method::DELETE, &format!("/api/v1/users/{held}"), None)
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    assert_eq!(count(&held), 0);
    // Asking again records the user again (the cache forgot them too).
    let again = app.assign(json!({"user_id": held})).await;
    assert_eq!(again.body["holdout"], true);
    assert_eq!(count(&held), 1);
}

#[tokio::test]
async fn only_users_an_experiment_would_have_taken_are_recorded() {
    let app = spawn_app().await;
    let mut body = experiment_body("ios-only", "ab");
    body["targeting"] = json!([{"attribute": "platform", "op": "eq", "value": "ios"}]);
    app.running_experiment(body).await;
    assert_eq!(set_holdout(&app, json!(0.5)).await.status, StatusCode::OK);
    let (mut ios, mut web) = (0, 0);
    for i in 0..200 {
        let platform = if i % 2 == 0 { "ios" } else { "web" };
        let reply = app
            .assign(json!({"user_id": format!("user-{i}"), "attributes": {"platform": platform}}))
            .await;
        if reply.body["holdout"] == true {
            assert!(reply.body["assignments"].as_array().unwrap().is_empty());
            if platform == "ios" {
                ios += 1;
            } else {
                web += 1;
            }
        }
    }
    assert!(ios > 0 && web > 0, "{ios} {web}");
    // Held-out web users would have got nothing anyway: they are not part of the comparison.
    assert_eq!(app.count("SELECT count(*) AS n FROM holdout_users"), ios);
}
