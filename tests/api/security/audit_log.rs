//! The audit log: admin actions through the API and the dashboard, with actor, before and
//! after; the downloads; its pages; entries that cannot be changed.

use crate::helpers::*;
use posterior::domain::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn admin_actions_through_the_api_are_audited_with_actor_before_and_after() {
    let app = spawn_app().await;
    let (key, id) = app.stored_key(Scope::Admin, "ci bot", None);
    app.engine.refresh().await.unwrap();
    let as_bot = |method: Method, path: &str, body: Option<Value>| {
        let key = key.clone();
        let path = path.to_string();
        let app = &app;
        async move { app.request(method, &path, Some(&key), body).await }
    };
    let created = as_bot(
        Method::POST,
        "/api/v1/experiments",
        Some(experiment_body("audited", "ab")),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let patched = as_bot(
        Method::PATCH,
        "/api/v1/experiments/audited",
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    app.admin(Method::POST, "/api/v1/experiments/audited/start", None)
        .await;
    app.admin(Method::POST, "/api/v1/experiments/audited/pause", None)
        .await;
    let stopped = app
        .admin(
            Method::POST,
            "/api/v1/experiments/audited/stop",
            Some(json!({"winner": "b"})),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK);
    let erased = app
        .admin(Method::DELETE, "/api/v1/users/u-gone", None)
        .await;
    assert_eq!(erased.status, StatusCode::OK);

    // Refused changes leave no trace.
    let before = app.count("SELECT count(*) AS n FROM audit_log");
    as_bot(
        Method::PATCH,
        "/api/v1/experiments/audited",
        Some(json!({"traffic": 2})),
    )
    .await;
    app.request(
        Method::POST,
        "/api/v1/experiments",
        Some(CLIENT_KEY),
        Some(experiment_body("x", "ab")),
    )
    .await;
    app.admin(Method::POST, "/api/v1/experiments/audited/start", None)
        .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_log"), before);

    let log = app.audit_log("").await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "key.create",
            "experiment.create",
            "experiment.patch",
            "experiment.start",
            "experiment.pause",
            "experiment.stop",
            "user.erase"
        ]
    );
    let bot = format!("key:{id} (ci bot)");
    assert_eq!(log[0]["actor"], "cli");
    assert_eq!(log[1]["actor"], bot);
    assert_eq!(log[1]["target"], "audited");
    assert_eq!(log[1]["before"], Value::Null);
    assert_eq!(log[1]["after"]["status"], "draft");
    assert_eq!(log[2]["actor"], bot);
    assert_eq!(log[2]["before"]["name"], "Experiment audited");
    assert_eq!(log[2]["after"]["name"], "Renamed");
    assert_eq!(log[3]["actor"], "env:admin");
    assert_eq!(log[3]["before"]["status"], "draft");
    assert_eq!(log[3]["after"]["status"], "running");
    assert_eq!(log[5]["after"]["winner"], "b");
    // An erased user is named by a hash: the erased id must not live on in the log.
    assert_eq!(
        log[6]["target"],
        posterior::engine::hashing::audit_user("u-gone")
    );
    assert_eq!(log[6]["after"]["assignments"], 0);
    let ids: Vec<i64> = log.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first");
    for e in &log {
        assert!(chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).is_ok());
    }

    // CSV has the same rows; the time range filters.
    let csv = app
        .get_text("/api/v1/audit?format=csv", Some(ADMIN_KEY))
        .await
        .body;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "at", "actor", "action", "target", "before", "after"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), log.len());
    assert_eq!(&records[2][3], "experiment.patch");
    let after: Value = serde_json::from_str(&records[2][6]).unwrap();
    assert_eq!(after["name"], "Renamed");
    assert!(app.audit_log("&from=2999-01-01").await.is_empty());
    assert_eq!(app.audit_log("&to=2999-01-01").await.len(), log.len());
    let bad = app
        .admin(Method::GET, "/api/v1/audit?from=yesterday", None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let client = app
        .request(Method::GET, "/api/v1/audit", Some(CLIENT_KEY), None)
        .await;
    assert_eq!(client.status, StatusCode::FORBIDDEN);

    // The dashboard shows it, newest first, and offers the downloads.
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    let newest = page.body.find("user.erase").unwrap();
    let oldest = page.body.find("key.create").unwrap();
    assert!(newest < oldest);
    assert!(page.body.contains("Renamed"));
    assert!(page.body.contains(r#"href="/api/v1/audit?format=csv""#));
    // The page's old download address sends the browser to the API's.
    let moved = browser.get("/dashboard/audit/export?format=csv").await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER);
    assert_eq!(moved.location(), "/api/v1/audit?format=csv");
    let download = browser.get(moved.location()).await;
    assert_eq!(download.status, StatusCode::OK);
    assert!(
        download
            .body
            .starts_with("id,at,actor,action,target,before,after")
    );
    // The API's downloads, linked from the dashboard, accept the session (and only a valid one).
    for path in [
        "/api/v1/audit?format=csv",
        "/api/v1/experiments/audited/export?data=results&format=csv",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let stranger = Browser::new(&app);
        stranger.set_cookie("posterior_session", "1.2.3.4");
        assert_eq!(
            stranger.get(path).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    let client_session = browser.get_with_key("/api/v1/audit", CLIENT_KEY).await;
    assert_eq!(
        client_session.status,
        StatusCode::FORBIDDEN,
        "a presented key decides"
    );
}

#[tokio::test]
async fn dashboard_actions_are_audited_as_the_sessions_key_and_the_log_pages() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app).await;
    let csrf = browser.get("/dashboard/experiments").await.csrf();
    app.create_experiment(experiment_body("paged", "ab")).await;
    let started = browser
        .post("/dashboard/experiments/paged/start", &[("csrf", &csrf)])
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let log = app.audit_log("").await;
    assert_eq!(log.last().unwrap()["action"], "experiment.start");
    assert_eq!(log.last().unwrap()["actor"], "dashboard:env:admin");

    // 60 more entries: the page shows 50, then the older ones.
    for i in 0..30 {
        app.admin(
            Method::PATCH,
            "/api/v1/experiments/paged",
            Some(json!({"name": format!("Name {i}")})),
        )
        .await;
        app.admin(Method::DELETE, &format!("/api/v1/users/u{i}"), None)
            .await;
    }
    let first = browser.get("/dashboard/audit").await;
    assert_eq!(first.body.matches("<tr id=\"audit-").count(), 50);
    let marker = "/dashboard/audit?before=";
    let start = first.body.find(marker).expect("a link to older entries") + marker.len();
    let end = first.body[start..].find('"').unwrap() + start;
    let second = browser
        .get(&format!("{marker}{}", &first.body[start..end]))
        .await;
    assert_eq!(second.body.matches("<tr id=\"audit-").count(), 62 - 50);
    assert!(second.body.contains("experiment.create"));
    assert!(
        !second.body.contains(marker),
        "no older page after the last"
    );
}

#[tokio::test]
async fn keys_created_at_first_start_are_audited_and_never_logged_in_full() {
    let app = spawn_app_with(|settings| {
        settings.client_key = None;
    })
    .await;
    let log = app.audit_log("").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["action"], "key.create");
    assert_eq!(log[0]["actor"], "server");
    assert_eq!(log[0]["after"]["scope"], "client");
    let text = log[0].to_string();
    assert!(!text.contains("pst_"), "no secret in the log: {text}");
    let hash = app.count("SELECT count(*) AS n FROM audit_log WHERE after::text LIKE '%key_hash%'");
    assert_eq!(hash, 0, "no hash in the log");
    // Entries cannot be changed or deleted.
    use diesel::RunQueryDsl;
    let mut conn = app.db.connect();
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let refused = diesel::sql_query(sql).execute(&mut conn).unwrap_err();
        assert!(refused.to_string().contains("append-only"), "{refused}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE actor = 'server'"),
        1
    );
}

#[tokio::test]
async fn segment_and_holdout_changes_are_audited() {
    let app = spawn_app().await;
    let rule = json!({"attribute": "platform", "op": "eq", "value": "ios"});
    let created = app
        .admin(
            Method::POST,
            "/api/v1/segments",
            Some(json!({"key": "ios", "name": "iOS", "rule": rule})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let replaced = app
        .admin(
            Method::PUT,
            "/api/v1/segments/ios",
            Some(json!({"name": "iOS users", "rule": rule})),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    let held = app
        .admin(
            Method::PUT,
            "/api/v1/holdout",
            Some(json!({"fraction": 0.05})),
        )
        .await;
    assert_eq!(held.status, StatusCode::OK, "{:?}", held.body);
    let refused = app
        .admin(
            Method::PUT,
            "/api/v1/holdout",
            Some(json!({"fraction": 0.9})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let deleted = app
        .admin(Method::DELETE, "/api/v1/segments/ios", None)
        .await;
    assert!(deleted.status.is_success(), "{:?}", deleted.body);

    let log = app.audit_log("").await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "segment.create",
            "segment.replace",
            "holdout.set",
            "segment.delete"
        ]
    );
    assert!(log.iter().all(|e| e["actor"] == "env:admin"));
    assert_eq!(log[0]["target"], "ios");
    assert_eq!(log[1]["before"]["name"], "iOS");
    assert_eq!(log[1]["after"]["name"], "iOS users");
    assert_eq!(log[2]["before"]["fraction"], 0.0);
    assert_eq!(log[2]["after"]["fraction"], 0.05);
    assert_eq!(log[3]["before"]["name"], "iOS users");
    assert_eq!(log[3]["after"], Value::Null);
}
