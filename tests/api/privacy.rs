//! Privacy: erasure, consent and retention of raw events.

use crate::fault_tools::aggregate_mismatches;
use crate::helpers::*;
use posterior::engine::Consent;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn revenue_body(key: &str) -> Value {
    let mut body = experiment_body(key, "ab");
    body["goal"] = json!({"event": "purchase", "metric": "revenue"});
    body
}

async fn erase(app: &TestApp, user: &str) -> Reply {
    app.admin(Method::DELETE, &format!("/api/v1/users/{user}"), None)
        .await
}

fn rows_of(app: &TestApp, user: &str) -> (i64, i64) {
    (
        app.count(&format!(
            "SELECT count(*) AS n FROM assignments WHERE user_id = '{user}'"
        )),
        app.count(&format!(
            "SELECT count(*) AS n FROM events WHERE user_id = '{user}'"
        )),
    )
}

/// Users, conversions, revenue sums and sums of squares per variant, as `/results` says.
async fn results_totals(app: &TestApp, key: &str) -> Vec<(String, i64, i64)> {
    let results = app.results(key).await;
    results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["key"].as_str().unwrap().to_string(),
                v["users"].as_i64().unwrap(),
                v["conversions"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The same, rebuilt from the raw rows.
fn rebuilt_totals(app: &TestApp, key: &str) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for variant in ["a", "b"] {
        let filter = format!(
            "FROM assignments a JOIN variants v ON v.id = a.variant_id JOIN experiments x ON x.id = v.experiment_id \
             WHERE x.key = '{key}' AND v.key = '{variant}'"
        );
        out.push((
            variant.to_string(),
            app.count(&format!("SELECT count(*) AS n {filter}")),
            app.count(&format!("SELECT count(a.converted_at) AS n {filter}")),
        ));
    }
    out
}

#[tokio::test]
async fn erasure_removes_the_user_and_keeps_aggregates_consistent() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("convert", "ab"))
        .await;
    app.running_experiment(revenue_body("revenue")).await;
    // A contextual bandit too: its per-segment statistics must follow the erasure as well.
    let mut segmented = experiment_body("segments", "bandit");
    segmented["context"] = json!(["plan"]);
    app.running_experiment(segmented).await;
    for i in 0..24 {
        let user = format!("u{i}");
        let plan = if i % 2 == 0 { "pro" } else { "free" };
        let reply = app
            .assign(json!({"user_id": user, "attributes": {"plan": plan}}))
            .await;
        assert_eq!(reply.body["assignments"].as_array().unwrap().len(), 3);
        if i % 3 != 0 {
            let events: Vec<Value> = (0..i % 4 + 1)
                .map(|k| json!({"event_id": format!("{user}-{k}"), "user_id": user, "name": "purchase", "value": 1.5 + k as f64 + i as f64}))
                .collect();
            assert_eq!(app.track(json!(events)).await.status, StatusCode::ACCEPTED);
        }
    }
    assert_eq!(aggregate_mismatches(&app.db), Vec::<String>::new());
    let before = results_totals(&app, "convert").await;

    for user in ["u1", "u2", "u4", "u5"] {
        let (assignments, events) = rows_of(&app, user);
        assert!(assignments == 3 && events > 0);
        let reply = erase(&app, user).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body["user_id"], user);
        assert_eq!(reply.body["erased"]["assignments"], assignments);
        assert_eq!(reply.body["erased"]["events"], events);
        assert_eq!(rows_of(&app, user), (0, 0));
    }
    // The statistics (users, conversions, revenue sums and sums of squares, totals, per hour
    // and per segment) equal a rebuild from the rows that remain, and so do the results.
    assert_eq!(aggregate_mismatches(&app.db), Vec::<String>::new());
    let after = results_totals(&app, "convert").await;
    assert_eq!(after, rebuilt_totals(&app, "convert"));
    assert_eq!(
        before.iter().map(|v| v.1).sum::<i64>() - 4,
        after.iter().map(|v| v.1).sum::<i64>()
    );
    assert_eq!(
        results_totals(&app, "revenue").await,
        rebuilt_totals(&app, "revenue")
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 60);
    assert!(app.count("SELECT count(*) AS n FROM context_stats") > 0);

    // The user is forgotten in memory too: coming back is a fresh assignment, stored.
    let reply = app.assign(json!({"user_id": "u1"})).await;
    assert_eq!(reply.body["assignments"].as_array().unwrap().len(), 3);
    assert_eq!(rows_of(&app, "u1"), (3, 0));
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM assignments WHERE user_id = 'u1' AND attributes = '{}'"
        ),
        3
    );
    assert_eq!(aggregate_mismatches(&app.db), Vec::<String>::new());
}

#[tokio::test]
async fn the_audit_log_keeps_the_erasure_but_not_the_user_id() {
    use sha2::{Digest, Sha256};
    let app = spawn_app().await;
    app.running_experiment(experiment_body("audited", "ab"))
        .await;
    app.variant_of("alice@example.com", "audited", json!({}))
        .await
        .unwrap();
    app.track(json!([{"event_id": "e", "user_id": "alice@example.com", "name": "purchase"}]))
        .await;
    assert_eq!(
        erase(&app, "alice@example.com").await.status,
        StatusCode::OK
    );
    // Nowhere in the database any more: not in the rows, not in the (append-only) audit log.
    for table in [
        "assignments",
        "events",
        "audit_log",
        "erasures",
        "holdout_users",
    ] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM {table} t WHERE t::text LIKE '%alice%'"
            )),
            0,
            "{table}"
        );
    }
    // The log still proves the erasure, findable by whoever knows the id.
    let hash: String = Sha256::digest(b"alice@example.com")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'user.erase' AND target = 'user-sha256:{hash}'"
        )),
        1
    );
}

#[tokio::test]
async fn erasing_an_unknown_user_is_ok_with_zero_counts() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("some", "ab")).await;
    app.variant_of("someone", "some", json!({})).await.unwrap();
    let reply = erase(&app, "nobody-we-know").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["erased"], json!({"assignments": 0, "events": 0}));
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
    // A client key may not erase.
    let reply = app
        .request(
            Method::DELETE,
            "/api/v1/users/someone",
            Some(CLIENT_KEY),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
}

#[tokio::test]
async fn another_instance_forgets_an_erased_user_within_a_refresh() {
    let one = spawn_app().await;
    one.running_experiment(experiment_body("shared", "ab"))
        .await;
    let two = spawn_app_on(one.db.clone()).await;
    eventually(|| async { two.engine.snapshot().get("shared").is_some() }).await;
    // Known (cached) on instance two.
    two.variant_of("leaver", "shared", json!({})).await.unwrap();
    two.variant_of("leaver", "shared", json!({})).await.unwrap();
    let reply = erase(&one, "leaver").await;
    assert_eq!(reply.body["erased"]["assignments"], 1);
    assert_eq!(rows_of(&one, "leaver").0, 0);
    // Instance two drops its cached entry at a refresh: the next assignment there is stored
    // again (a stale cache would answer without storing anything).
    eventually(|| async {
        two.variant_of("leaver", "shared", json!({})).await.unwrap();
        rows_of(&two, "leaver").0 == 1
    })
    .await;
    assert_eq!(aggregate_mismatches(&one.db), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasure_racing_the_users_writes_keeps_aggregates_consistent() {
    let app = spawn_app().await;
    app.running_experiment(revenue_body("race")).await;
    for round in 0..5 {
        let user = format!("racer-{round}");
        app.variant_of(&user, "race", json!({})).await.unwrap();
        let tracks = (0..20).map(|k| {
            let user = user.clone();
            let app = &app;
            async move {
                let reply = app
                    .track(json!([{"event_id": format!("e{k}"), "user_id": user, "name": "purchase", "value": 1.0 + k as f64}]))
                    .await;
                assert_eq!(reply.status, StatusCode::ACCEPTED);
            }
        });
        let (_, erased) = tokio::join!(futures_util::future::join_all(tracks), erase(&app, &user));
        assert_eq!(erased.status, StatusCode::OK);
        assert_eq!(rows_of(&app, &user).0, 0);
        assert_eq!(aggregate_mismatches(&app.db), Vec::<String>::new());
    }
    // Every racer's assignment is gone, so the statistics are back to zero.
    assert_eq!(
        app.count("SELECT coalesce(sum(users), 0)::int8 AS n FROM variant_stats"),
        0
    );
    assert_eq!(
        app.count("SELECT coalesce(sum(conversions), 0)::int8 AS n FROM variant_stats"),
        0
    );
}

/// A server with `user` assigned in the running experiment `experiment`.
async fn spawn_with_user_assigned(experiment: &str, user: &str) -> TestApp {
    let app = spawn_app().await;
    app.running_experiment(experiment_body(experiment, "ab"))
        .await;
    app.variant_of(user, experiment, json!({})).await.unwrap();
    app
}

/// A connection in the middle of a transaction that has inserted `user`'s event `event_id`
/// and not committed yet (`COMMIT` it to let it go).
fn event_insert_in_flight(app: &TestApp, user: &str, event_id: &str) -> diesel::PgConnection {
    use diesel::connection::SimpleConnection;
    let mut connection = app.db.connect();
    connection
        .batch_execute(&format!(
            "BEGIN; INSERT INTO events (user_id, event_id, name, occurred_at) \
             VALUES ('{user}', '{event_id}', 'purchase', now())"
        ))
        .unwrap();
    connection
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_in_flight_when_the_user_is_erased_does_not_survive_it() {
    use diesel::connection::SimpleConnection;
    let app = spawn_with_user_assigned("late", "late-user").await;
    // Another instance's group commit, caught mid-transaction: the user's event is inserted
    // but not committed yet.
    let mut other = event_insert_in_flight(&app, "late-user", "in-flight");
    let (http, address) = (app.http.clone(), app.address.clone());
    let erasing = tokio::spawn(async move {
        http.delete(format!("{address}/api/v1/users/late-user"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    // The erasure waits for that transaction...
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.count(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    ) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the erasure did not wait"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!erasing.is_finished());
    // ...and once it commits, erases its event too.
    other.batch_execute("COMMIT").unwrap();
    let erased = erasing.await.unwrap();
    assert_eq!(erased["erased"], json!({"assignments": 1, "events": 1}));
    assert_eq!(rows_of(&app, "late-user"), (0, 0));
}

#[tokio::test]
async fn an_erasure_stuck_behind_a_long_event_transaction_answers_503_and_changes_nothing() {
    use diesel::connection::SimpleConnection;
    let app = spawn_with_user_assigned("stuck", "stuck-user").await;
    let mut other = event_insert_in_flight(&app, "someone-else", "slow");
    erase(&app, "stuck-user").await.assert_unavailable();
    assert_eq!(rows_of(&app, "stuck-user").0, 1);
    other.batch_execute("COMMIT").unwrap();
    let reply = erase(&app, "stuck-user").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(rows_of(&app, "stuck-user").0, 0);
    assert_eq!(aggregate_mismatches(&app.db), Vec::<String>::new());
}

async fn spawn_with_consent(required: bool) -> TestApp {
    spawn_app_with(|settings| {
        settings.engine.consent = Some(Consent {
            attribute: "consent".into(),
            required,
        });
    })
    .await
}

async fn ofrep(app: &TestApp, path: &str, context: Value) -> Reply {
    app.request(
        Method::POST,
        path,
        Some(CLIENT_KEY),
        Some(json!({"context": context})),
    )
    .await
}

#[tokio::test]
async fn users_without_consent_get_nothing_and_leave_nothing() {
    let app = spawn_with_consent(false).await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    for (i, refusal) in [json!(false), json!("false"), json!(0), json!("no")]
        .into_iter()
        .enumerate()
    {
        let user = format!("refuser-{i}");
        let reply = app
            .assign(json!({"user_id": user, "attributes": {"consent": refusal, "platform": "ios"}}))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["assignments"], json!([]), "{refusal}");
        // OFREP: the flag is disabled for them (the control's value), one flag or all.
        let one = ofrep(
            &app,
            "/ofrep/v1/evaluate/flags/banner",
            json!({"targetingKey": user, "consent": refusal}),
        )
        .await;
        assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
        assert_eq!(one.body["reason"], "DISABLED");
        assert_eq!(one.body["metadata"]["assigned"], false);
        let all = ofrep(
            &app,
            "/ofrep/v1/evaluate/flags",
            json!({"targetingKey": user, "consent": refusal}),
        )
        .await;
        assert_eq!(all.body["flags"][0]["reason"], "DISABLED", "{:?}", all.body);
        // Their events are not stored either.
        let tracked = app
            .track(json!([{"event_id": "e1", "user_id": user, "name": "purchase", "value": 5.0}]))
            .await;
        assert_eq!(tracked.status, StatusCode::ACCEPTED);
        assert_eq!(tracked.body["accepted"], 0);
        assert_eq!(tracked.body["ignored"], 1);
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);
    assert_eq!(
        app.count("SELECT coalesce(sum(users), 0)::int8 AS n FROM variant_stats"),
        0
    );
    // Not cached either: once they consent they are assigned and stored like anyone.
    let reply = app
        .assign(json!({"user_id": "refuser-0", "attributes": {"consent": true}}))
        .await;
    assert_eq!(reply.body["assignments"].as_array().unwrap().len(), 1);
    // A missing attribute is consent unless the operator requires it.
    assert!(
        app.variant_of("silent", "banner", json!({}))
            .await
            .is_some()
    );
    let one = ofrep(
        &app,
        "/ofrep/v1/evaluate/flags/banner",
        json!({"targetingKey": "yes-user", "consent": "yes"}),
    )
    .await;
    assert_eq!(one.body["reason"], "SPLIT");
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 3);
    // Events of consenting, assigned users are stored and count; the answer says so.
    let tracked = app
        .track(json!([
            {"event_id": "c1", "user_id": "silent", "name": "purchase"},
            {"event_id": "c2", "user_id": "never-assigned", "name": "purchase"}
        ]))
        .await;
    assert_eq!(
        tracked.body,
        json!({"accepted": 1, "duplicates": 0, "ignored": 1})
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 1);
    assert_eq!(
        app.count("SELECT coalesce(sum(conversions), 0)::int8 AS n FROM variant_stats"),
        1
    );
    // A user who withdraws consent gets nothing from then on (erasure is a separate request).
    let reply = app
        .assign(json!({"user_id": "silent", "attributes": {"consent": false}}))
        .await;
    assert_eq!(reply.body["assignments"], json!([]));
}

#[tokio::test]
async fn required_consent_treats_a_missing_attribute_as_no() {
    let app = spawn_with_consent(true).await;
    app.running_experiment(experiment_body("strict", "ab"))
        .await;
    assert_eq!(
        app.variant_of("quiet", "strict", json!({"platform": "ios"}))
            .await,
        None
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
    assert!(
        app.variant_of("agreed", "strict", json!({"consent": true}))
            .await
            .is_some()
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
}

#[tokio::test]
async fn without_a_consent_setting_nothing_changes() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("open", "ab")).await;
    assert!(
        app.variant_of("x", "open", json!({"consent": false}))
            .await
            .is_some()
    );
    let tracked = app
        .track(json!([{"event_id": "e", "user_id": "unassigned", "name": "purchase"}]))
        .await;
    assert_eq!(tracked.body, json!({"accepted": 1, "duplicates": 0}));
}

/// Old events straight into the table (the API stamps arrival with the current time).
fn insert_old_events(app: &TestApp, count: usize, days_ago: i32) {
    app.execute(&format!(
        "INSERT INTO events (user_id, event_id, name, value, occurred_at, received_at) \
         SELECT 'old-' || g, 'e-' || g, 'purchase', 1.0, now() - interval '{days_ago} days', now() - interval '{days_ago} days' \
         FROM generate_series(1, {count}) g"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_raw_events_in_the_background_and_keeps_statistics() {
    let app = spawn_app_with(|settings| {
        settings.engine.event_retention = Some(chrono::TimeDelta::days(30));
        settings.engine.retention_interval = Duration::from_millis(200);
    })
    .await;
    app.running_experiment(experiment_body("kept", "ab")).await;
    for i in 0..10 {
        let user = format!("u{i}");
        app.variant_of(&user, "kept", json!({})).await.unwrap();
        app.track(json!([{"event_id": "buy", "user_id": user, "name": "purchase"}]))
            .await;
    }
    let statistics = "SELECT (sum(users) * 1000 + sum(conversions))::int8 AS n FROM variant_stats";
    let before = app.count(statistics);
    assert_eq!(before, 10 * 1000 + 10);
    // More than one batch of old rows, and some just inside the retention.
    insert_old_events(&app, 12_500, 31);
    app.execute(
        "INSERT INTO events (user_id, event_id, name, occurred_at, received_at) \
         VALUES ('recent', 'r', 'purchase', now() - interval '29 days', now() - interval '29 days')",
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.count("SELECT count(*) AS n FROM events WHERE user_id LIKE 'old-%'") > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "old events not deleted in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 11);
    assert_eq!(app.count(statistics), before);
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 10);
}

#[tokio::test]
async fn retention_runs_on_demand_and_keeps_everything_when_unset() {
    let app = spawn_app_with(|settings| {
        settings.engine.event_retention = Some(chrono::TimeDelta::days(7));
    })
    .await;
    insert_old_events(&app, 300, 8);
    let purged = app.engine.purge_expired().await.unwrap();
    assert_eq!(purged.events, 300);
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);

    // No retention set: raw events stay.
    let keeper = spawn_app().await;
    insert_old_events(&keeper, 50, 4000);
    assert_eq!(keeper.engine.purge_expired().await.unwrap().events, 0);
    assert_eq!(keeper.count("SELECT count(*) AS n FROM events"), 50);
}
