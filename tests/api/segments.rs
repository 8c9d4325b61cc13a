//! Segments: CRUD, validation, AND/OR evaluation through assignment, references from
//! experiments, and pinned rules.

use crate::helpers::*;
use crate::ofrep::ofrep;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn first_ios() -> Value {
    json!({"key": "first-ios", "name": "First-time iOS users",
           "rule": {"all": [{"attribute": "visits", "op": "eq", "value": 1},
                            {"attribute": "platform", "op": "eq", "value": "ios"}]}})
}

async fn create_segment(app: &TestApp, body: Value) -> Reply {
    app.admin(Method::POST, "/api/v1/segments", Some(body))
        .await
}

#[tokio::test]
async fn segments_are_created_read_replaced_and_deleted() {
    let app = spawn_app().await;
    let created = create_segment(&app, first_ios()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["key"], "first-ios");
    assert_eq!(created.body["rule"], first_ios()["rule"]);
    assert!(created.body["created_at"].is_string());

    let again = create_segment(&app, first_ios()).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "conflict");

    let one = app
        .admin(Method::GET, "/api/v1/segments/first-ios", None)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["name"], "First-time iOS users");

    let replaced = app
        .admin(
            Method::PUT,
            "/api/v1/segments/first-ios",
            Some(json!({"name": "iOS newcomers",
                        "rule": {"any": [{"attribute": "platform", "op": "eq", "value": "ios"}]}})),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    assert_eq!(replaced.body["name"], "iOS newcomers");
    assert_eq!(
        replaced.body["rule"],
        json!({"any": [{"attribute": "platform", "op": "eq", "value": "ios"}]})
    );

    let list = app.admin(Method::GET, "/api/v1/segments", None).await;
    assert_eq!(list.body["segments"].as_array().unwrap().len(), 1);

    let missing = app
        .admin(
            Method::PUT,
            "/api/v1/segments/nope",
            Some(first_ios_without_key()),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "unknown_segment");

    let deleted = app
        .admin(Method::DELETE, "/api/v1/segments/first-ios", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app
        .admin(Method::GET, "/api/v1/segments/first-ios", None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 0);

    let client = app
        .request(Method::GET, "/api/v1/segments", Some(CLIENT_KEY), None)
        .await;
    assert_eq!(client.status, StatusCode::FORBIDDEN);
}

fn first_ios_without_key() -> Value {
    let mut body = first_ios();
    body.as_object_mut().unwrap().remove("key");
    body
}

#[tokio::test]
async fn malformed_segments_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let condition = json!({"attribute": "visits", "op": "gt", "value": 1});
    let deep = json!({"all": [{"any": [{"all": [{"any": [{"all": [condition.clone()]}]}]}]}]});
    let many: Vec<Value> = (0..65).map(|_| condition.clone()).collect();
    let bad_rules = [
        (deep, "levels"),
        (json!({"all": many}), "at most 64"),
        (json!({"all": []}), "at least one"),
        (json!({"segment": "other"}), "another segment"),
        (json!({"attribute": "x", "op": "like", "value": 1}), "like"),
        (
            json!({"all": [condition.clone()], "any": [condition.clone()]}),
            "one field",
        ),
        (
            json!({"attribute": "x", "op": "in", "value": "ios"}),
            "array",
        ),
        (json!("visits > 1"), "a rule is"),
    ];
    for (rule, needle) in bad_rules {
        let reply = create_segment(&app, json!({"key": "s", "name": "S", "rule": rule})).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{rule}: {:?}",
            reply.body
        );
        assert_eq!(reply.error_code(), "invalid_request");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{rule}: {message}");
    }
    for body in [
        json!({"key": "Bad Key", "name": "S", "rule": condition}),
        json!({"name": "S", "rule": condition}),
        json!({"key": "s", "name": "", "rule": condition}),
        json!({"key": "s", "name": "S", "rule": condition, "extra": 1}),
    ] {
        let reply = create_segment(&app, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            reply.body
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 0);

    // A replacement that is refused leaves the segment as it was.
    assert_eq!(
        create_segment(&app, first_ios()).await.status,
        StatusCode::CREATED
    );
    let refused = app
        .admin(
            Method::PUT,
            "/api/v1/segments/first-ios",
            Some(json!({"key": "other", "name": "X", "rule": {"attribute": "a", "op": "exists"}})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let kept = app
        .admin(Method::GET, "/api/v1/segments/first-ios", None)
        .await;
    assert_eq!(kept.body["rule"], first_ios()["rule"]);
}

#[tokio::test]
async fn and_or_groups_and_segments_decide_who_is_targeted() {
    let app = spawn_app().await;
    assert_eq!(
        create_segment(&app, first_ios()).await.status,
        StatusCode::CREATED
    );
    let mut body = experiment_body("welcome", "ab");
    // First-time iOS users, or anyone on the pro plan; never users from "fr".
    body["targeting"] = json!([
        {"any": [{"segment": "first-ios"}, {"attribute": "plan", "op": "eq", "value": "pro"}]},
        {"attribute": "country", "op": "neq", "value": "fr"}
    ]);
    let started = app.running_experiment(body).await;
    assert_eq!(
        started["targeting"][0]["any"][0],
        json!({"segment": "first-ios"})
    );
    let cases = [
        (json!({"visits": 1, "platform": "ios"}), true),
        (json!({"visits": 2, "platform": "ios"}), false),
        (json!({"visits": 1, "platform": "android"}), false),
        (json!({"visits": 7, "plan": "pro"}), true),
        (
            json!({"visits": 1, "platform": "ios", "country": "fr"}),
            false,
        ),
        (json!({"plan": "pro", "country": "de"}), true),
        (json!({}), false),
    ];
    for (i, (attributes, expected)) in cases.iter().enumerate() {
        let got = app
            .variant_of(&format!("u-{i}"), "welcome", attributes.clone())
            .await;
        assert_eq!(got.is_some(), *expected, "{attributes}");
    }
    let targeted = cases.iter().filter(|c| c.1).count() as i64;
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), targeted);
}

#[tokio::test]
async fn a_segment_edit_reaches_every_instance() {
    let app = spawn_app().await;
    let other = spawn_app_on(app.db.clone()).await;
    assert_eq!(
        create_segment(&app, first_ios()).await.status,
        StatusCode::CREATED
    );
    let mut body = experiment_body("edit", "ab");
    body["targeting"] = json!({"segment": "first-ios"});
    app.running_experiment(body).await;
    let android = json!({"visits": 1, "platform": "android"});
    // The second instance knows the experiment (and leaves Android users out).
    eventually(|| async {
        other
            .assign(json!({"user_id": "u-a0", "attributes": android, "experiments": ["edit"]}))
            .await
            .status
            == StatusCode::OK
    })
    .await;
    assert!(
        other
            .variant_of("u-a0", "edit", android.clone())
            .await
            .is_none()
    );
    let replaced = app
        .admin(
            Method::PUT,
            "/api/v1/segments/first-ios",
            Some(json!({"name": "Newcomers", "rule": {"attribute": "visits", "op": "eq", "value": 1}})),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK);
    // This instance at once, the other within its refresh interval.
    assert!(
        app.variant_of("u-a1", "edit", android.clone())
            .await
            .is_some()
    );
    let mut n = 2;
    eventually(|| {
        n += 1;
        let user = format!("u-a{n}");
        let other = &other;
        let android = android.clone();
        async move { other.variant_of(&user, "edit", android).await.is_some() }
    })
    .await;
}

#[tokio::test]
async fn experiments_must_reference_known_segments_and_keep_them_alive() {
    let app = spawn_app().await;
    let mut body = experiment_body("refs", "ab");
    body["targeting"] = json!([{"segment": "first-ios"}]);
    let unknown = app.create_experiment(body.clone()).await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        unknown.body
    );
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("first-ios")
    );
    let mut pinned = experiment_body("refs", "ab");
    pinned["rules"] = json!([{"segment": "first-ios", "variant": "b"}]);
    assert_eq!(
        app.create_experiment(pinned).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);

    assert_eq!(
        create_segment(&app, first_ios()).await.status,
        StatusCode::CREATED
    );
    app.running_experiment(body).await;
    let patched = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/refs",
            Some(json!({"targeting": [{"segment": "nobody"}]})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::BAD_REQUEST);
    let kept = app
        .admin(Method::GET, "/api/v1/experiments/refs", None)
        .await;
    assert_eq!(kept.body["targeting"], json!([{"segment": "first-ios"}]));

    let refused = app
        .admin(Method::DELETE, "/api/v1/segments/first-ios", None)
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refs")
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 1);

    let stopped = app
        .admin(Method::POST, "/api/v1/experiments/refs/stop", None)
        .await;
    assert_eq!(stopped.status, StatusCode::OK);
    let deleted = app
        .admin(Method::DELETE, "/api/v1/segments/first-ios", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
}

fn returning() -> Value {
    json!({"key": "returning-buyers", "name": "Returning buyers",
           "rule": {"attribute": "orders", "op": "gte", "value": 1}})
}

#[tokio::test]
async fn a_pinned_rule_decides_and_keeps_users_out_of_the_statistics() {
    let app = spawn_app().await;
    assert_eq!(
        create_segment(&app, returning()).await.status,
        StatusCode::CREATED
    );
    let mut body = experiment_body("banner", "ab");
    body["variants"] = json!([{"key": "a", "payload": {"text": "Hello"}},
                              {"key": "b", "payload": {"text": "Hi there"}},
                              {"key": "loyalty", "payload": {"text": "Thanks for coming back"}}]);
    body["rules"] = json!([{"segment": "returning-buyers", "variant": "loyalty"}]);
    let started = app.running_experiment(body).await;
    assert_eq!(
        started["rules"],
        json!([{"segment": "returning-buyers", "variant": "loyalty"}])
    );

    for i in 0..20 {
        let reply = app
            .assign(json!({"user_id": format!("buyer-{i}"), "attributes": {"orders": 3}}))
            .await;
        let a = &reply.body["assignments"][0];
        assert_eq!(a["variant"], "loyalty", "{:?}", reply.body);
        assert_eq!(a["rule"], "returning-buyers");
        assert_eq!(a["payload"], json!({"text": "Thanks for coming back"}));
    }
    let reply = app
        .assign(json!({"user_id": "new-1", "attributes": {"orders": 0}}))
        .await;
    let a = &reply.body["assignments"][0];
    assert!(a["variant"] == "a" || a["variant"] == "b" || a["variant"] == "loyalty");
    assert!(a.get("rule").is_none(), "{a}");
    // Pinned users are neither stored nor counted.
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
    assert_eq!(
        app.count("SELECT sum(users)::int8 AS n FROM variant_stats"),
        1
    );

    // OFREP says a rule matched, and which.
    let raw = ofrep(
        &app,
        "/ofrep/v1/evaluate/flags/banner",
        Some(CLIENT_KEY),
        &json!({"context": {"targetingKey": "buyer-1", "orders": 2}}).to_string(),
        &[],
    )
    .await;
    let flag = raw.json();
    assert_eq!(flag["reason"], "TARGETING_MATCH", "{flag}");
    assert_eq!(flag["variant"], "loyalty");
    assert_eq!(flag["metadata"]["rule"], "returning-buyers");
    let bulk = ofrep(
        &app,
        "/ofrep/v1/evaluate/flags",
        Some(CLIENT_KEY),
        &json!({"context": {"targetingKey": "buyer-2", "orders": 2}}).to_string(),
        &[],
    )
    .await
    .json();
    assert_eq!(bulk["flags"][0]["reason"], "TARGETING_MATCH", "{bulk}");
    assert_eq!(bulk["flags"][0]["metadata"]["rule"], "returning-buyers");
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
}

#[tokio::test]
async fn sticky_wins_over_a_rule_matched_later() {
    let app = spawn_app().await;
    assert_eq!(
        create_segment(&app, returning()).await.status,
        StatusCode::CREATED
    );
    let mut body = experiment_body("sticky-rule", "ab");
    body["rules"] = json!([{"segment": "returning-buyers", "variant": "a"}]);
    app.running_experiment(body).await;
    // Find users whose experimental variant is b, then make them buyers.
    let mut b_users = Vec::new();
    for i in 0..40 {
        let user = format!("u-{i}");
        if app
            .variant_of(&user, "sticky-rule", json!({"orders": 0}))
            .await
            .as_deref()
            == Some("b")
        {
            b_users.push(user);
        }
    }
    assert!(!b_users.is_empty());
    // A restart forgets the in-memory cache: the stored assignment must still win.
    let db = app.stop().await;
    let app = spawn_app_on(db).await;
    for user in &b_users {
        let reply = app
            .assign(json!({"user_id": user, "attributes": {"orders": 5}, "experiments": ["sticky-rule"]}))
            .await;
        let a = &reply.body["assignments"][0];
        assert_eq!(a["variant"], "b", "{:?}", reply.body);
        assert!(a.get("rule").is_none());
    }
    // A new buyer is pinned and not stored.
    let before = app.count("SELECT count(*) AS n FROM assignments");
    let reply = app
        .assign(json!({"user_id": "new-buyer", "attributes": {"orders": 5}}))
        .await;
    assert_eq!(reply.body["assignments"][0]["rule"], "returning-buyers");
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), before);
}

#[tokio::test]
async fn pinned_rules_are_validated_and_editable_while_running() {
    let app = spawn_app().await;
    assert_eq!(
        create_segment(&app, returning()).await.status,
        StatusCode::CREATED
    );
    let mut body = experiment_body("editable", "ab");
    body["rules"] = json!([{"segment": "returning-buyers", "variant": "zzz"}]);
    let refused = app.create_experiment(body.clone()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("zzz")
    );
    body["rules"] = json!([]);
    app.running_experiment(body).await;
    assert!(
        app.variant_of("buyer", "editable", json!({"orders": 2}))
            .await
            .is_some()
    );
    for bad in [
        json!({"rules": [{"segment": "returning-buyers", "variant": "nope"}]}),
        json!({"rules": [{"segment": "unknown-segment", "variant": "a"}]}),
        json!({"rules": [{"segment": "returning-buyers"}]}),
        json!({"rules": [{"segment": "returning-buyers", "variant": "a"},
                         {"segment": "returning-buyers", "variant": "b"}]}),
    ] {
        let reply = app
            .admin(
                Method::PATCH,
                "/api/v1/experiments/editable",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {:?}",
            reply.body
        );
    }
    let ok = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/editable",
            Some(json!({"rules": [{"segment": "returning-buyers", "variant": "b"}]})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let reply = app
        .assign(json!({"user_id": "buyer-2", "attributes": {"orders": 2}}))
        .await;
    assert_eq!(reply.body["assignments"][0]["variant"], "b");
    assert_eq!(reply.body["assignments"][0]["rule"], "returning-buyers");
}
