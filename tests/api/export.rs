//! Exports: CSV and JSON lines of results, assignments, events and the daily series;
//! escaping, time ranges, auth, the command line, and streaming in constant memory.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn download(
    app: &TestApp,
    key: &str,
    query: &str,
    api_key: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let page = app
        .get_text(
            &format!("/api/v1/experiments/{key}/export?{query}"),
            Some(api_key),
        )
        .await;
    (page.status, page.headers, page.body)
}

fn csv_rows(text: &str) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let mut rows = vec![header];
    rows.extend(reader.records().map(Result::unwrap));
    rows
}

#[tokio::test]
async fn assignments_carry_what_off_policy_evaluation_needs() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "bandit"))
        .await;
    let tricky = "Paris, \"Île\"\nde-France";
    app.assign(json!({"user_id": "u-1", "attributes": {"city": tricky, "visits": 3}}))
        .await;
    app.assign(json!({"user_id": "u-2", "attributes": {"plan": "=cmd()"}}))
        .await;
    app.assign(json!({"user_id": "u,3"})).await;
    app.track(json!([{"event_id": "e-1", "user_id": "u-1", "name": "purchase"}]))
        .await;

    let (status, headers, text) =
        download(&app, "banner", "data=assignments&format=csv", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("banner-assignments.csv")
    );
    let rows = csv_rows(&text);
    assert_eq!(
        rows[0].iter().collect::<Vec<_>>(),
        [
            "experiment",
            "user_id",
            "variant",
            "assigned_at",
            "propensity",
            "attributes",
            "converted",
            "converted_at",
            "value"
        ]
    );
    assert_eq!(rows.len(), 4);
    let u1 = rows.iter().find(|r| &r[1] == "u-1").unwrap();
    let attributes: Value = serde_json::from_str(&u1[5]).unwrap();
    assert_eq!(attributes, json!({"city": tricky, "visits": 3}));
    assert_eq!(&u1[6], "true");
    assert!(!u1[7].is_empty());
    let propensity: f64 = u1[4].parse().unwrap();
    assert!(propensity > 0.0 && propensity <= 1.0);
    assert!(rows.iter().any(|r| &r[1] == "u,3"));

    let (status, headers, text) =
        download(&app, "banner", "data=assignments&format=jsonl", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let lines = jsonl(&text);
    assert_eq!(lines.len(), 3);
    let u1 = lines.iter().find(|l| l["user_id"] == "u-1").unwrap();
    assert_eq!(u1["attributes"]["city"], tricky);
    assert_eq!(u1["converted"], true);
    assert!(u1["propensity"].is_f64());
    let u2 = lines.iter().find(|l| l["user_id"] == "u-2").unwrap();
    assert_eq!(u2["converted"], false);
    assert_eq!(u2["converted_at"], Value::Null);
}

#[tokio::test]
async fn events_are_the_goal_events_of_assigned_users() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    app.track(json!([{"event_id": "before", "user_id": "u-1", "name": "purchase", "timestamp": "2020-01-01T00:00:00Z"}])).await;
    app.assign(json!({"user_id": "u-1"})).await;
    app.track(json!([
        {"event_id": "e-1", "user_id": "u-1", "name": "purchase", "value": 9.5},
        {"event_id": "e-2", "user_id": "u-1", "name": "page_view"},
        {"event_id": "e-3", "user_id": "stranger", "name": "purchase"}
    ]))
    .await;
    let (status, _, text) = download(&app, "banner", "data=events&format=jsonl", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let lines = jsonl(&text);
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["before", "e-1"]);
    assert_eq!(lines[0]["after_assignment"], false);
    assert_eq!(lines[1]["after_assignment"], true);
    assert_eq!(lines[1]["value"], 9.5);
    assert_eq!(
        lines[1]["variant"],
        app.variant_of("u-1", "banner", json!({}))
            .await
            .unwrap()
            .as_str()
    );

    let (_, _, text) = download(&app, "banner", "data=events&from=2021-01-01", ADMIN_KEY).await;
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[1][1], "e-1");
}

#[tokio::test]
async fn results_and_series() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    for i in 0..20 {
        app.assign(json!({"user_id": format!("u-{i}")})).await;
    }
    app.track(json!([{"event_id": "e-1", "user_id": "u-1", "name": "purchase"}]))
        .await;

    let (status, _, text) = download(&app, "banner", "data=results&format=csv", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 3, "{text}");
    let header: Vec<&str> = rows[0].iter().collect();
    assert_eq!(header[..2], ["experiment", "variant"]);
    for column in [
        "users",
        "conversions",
        "rate_mean",
        "rate_low",
        "rate_high",
        "probability_best",
    ] {
        assert!(header.contains(&column), "{column} missing from {header:?}");
    }
    let users = header.iter().position(|c| *c == "users").unwrap();
    let total: i64 = rows[1..]
        .iter()
        .map(|r| r[users].parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 20);

    let (_, _, text) = download(&app, "banner", "data=results&format=jsonl", ADMIN_KEY).await;
    let lines = jsonl(&text);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["variant"], "a");
    assert_eq!(lines[0]["experiment"], "banner");

    // A range in the future holds nobody.
    let (_, _, text) = download(
        &app,
        "banner",
        "data=results&format=jsonl&from=2100-01-01",
        ADMIN_KEY,
    )
    .await;
    let lines = jsonl(&text);
    assert_eq!(
        lines
            .iter()
            .map(|l| l["users"].as_i64().unwrap())
            .sum::<i64>(),
        0
    );

    let (status, _, text) = download(&app, "banner", "data=series&format=jsonl", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let days = jsonl(&text);
    assert_eq!(days.len(), 2, "{text}");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(days[0]["day"], today.as_str());
    assert_eq!(
        days.iter()
            .map(|d| d["users"].as_i64().unwrap())
            .sum::<i64>(),
        20
    );
    assert_eq!(
        days.iter()
            .map(|d| d["conversions"].as_i64().unwrap())
            .sum::<i64>(),
        1
    );
    let weights: f64 = days.iter().map(|d| d["weight"].as_f64().unwrap()).sum();
    assert!((weights - 1.0).abs() < 1e-9);
    let (_, _, text) = download(&app, "banner", "data=series", ADMIN_KEY).await;
    assert!(
        text.starts_with("experiment,day,variant,users,conversions"),
        "{text}"
    );
}

#[tokio::test]
async fn time_range_and_refusals() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    for i in 0..4 {
        app.assign(json!({"user_id": format!("u-{i}")})).await;
    }
    app.execute(
        "UPDATE assignments SET assigned_at = '2026-01-10T12:00:00Z' WHERE user_id IN ('u-0', 'u-1')",
    );
    let (_, _, text) = download(
        &app,
        "banner",
        "data=assignments&format=jsonl&from=2026-01-10&to=2026-01-11",
        ADMIN_KEY,
    )
    .await;
    let users: Vec<String> = jsonl(&text)
        .iter()
        .map(|l| l["user_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(users, ["u-0", "u-1"]);
    let (_, _, text) = download(
        &app,
        "banner",
        "data=assignments&format=jsonl&to=2026-01-10T12:00:00Z",
        ADMIN_KEY,
    )
    .await;
    assert_eq!(text, "");

    for (query, expected) in [
        ("data=assignments", StatusCode::OK),
        ("data=everything", StatusCode::BAD_REQUEST),
        ("format=csv", StatusCode::BAD_REQUEST),
        ("data=events&format=xml", StatusCode::BAD_REQUEST),
        ("data=events&from=yesterday", StatusCode::BAD_REQUEST),
        (
            "data=events&from=2026-02-01&to=2026-01-01",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, _, text) = download(&app, "banner", query, ADMIN_KEY).await;
        assert_eq!(status, expected, "{query}: {text}");
        if status != StatusCode::OK {
            assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
                "invalid_request"
            );
        }
    }
    let (status, _, _) = download(&app, "nope", "data=assignments", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = download(&app, "banner", "data=assignments", CLIENT_KEY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = download(&app, "banner", "data=assignments", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_command_line_writes_the_same_export() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    for i in 0..5 {
        app.assign(json!({"user_id": format!("u-{i}"), "attributes": {"n": i}}))
            .await;
    }
    for data in ["assignments", "events", "results", "series"] {
        let (_, _, over_http) = download(
            &app,
            "banner",
            &format!("data={data}&format=jsonl"),
            ADMIN_KEY,
        )
        .await;
        let from_cli = posterior_ok(
            &app.db.url,
            &["export", "banner", "--data", data, "--format", "jsonl"],
        );
        if data == "results" {
            // computed_at differs, and so may figures computed by sampling; counts must match.
            let keep = |text: &str| -> Vec<Value> {
                jsonl(text)
                    .into_iter()
                    .map(|l| {
                        json!([
                            l["variant"],
                            l["users"],
                            l["conversions"],
                            l["rate_mean"],
                            l["weight"]
                        ])
                    })
                    .collect()
            };
            assert_eq!(keep(&from_cli), keep(&over_http));
        } else {
            assert_eq!(from_cli, over_http, "{data}");
        }
    }
    let out = std::env::temp_dir().join(format!("{}.csv", app.db.name));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_posterior"))
        .args(["export", "banner", "--data", "assignments", "--output"])
        .arg(&out)
        .args(["--database-url", &app.db.url])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(csv_rows(&std::fs::read_to_string(&out).unwrap()).len(), 6);
    let _ = std::fs::remove_file(out);
    let missing = posterior(&app.db.url, &["export", "nope", "--data", "assignments"]);
    assert!(!missing.status.success());
}

/// Reads the export counter from /metrics (process-wide; other tests export far fewer rows).
async fn exported_rows(app: &TestApp) -> u64 {
    app.metric("posterior_export_rows_total{data=\"assignments\"}")
        .await
        .map_or(0, |n| n as u64)
}

/// The export is read page by page and held back by a slow reader: while the client reads
/// nothing, the server stops after a few pages instead of loading the table.
#[tokio::test]
async fn streams_in_constant_memory_with_backpressure() {
    const ROWS: usize = 300_000;
    let app = spawn_app().await;
    app.running_experiment(experiment_body("big", "ab")).await;
    app.execute(
        &format!(
            "INSERT INTO assignments (experiment_id, user_id, variant_id, assigned_at, propensity, attributes)
             SELECT e.id, 'user-' || g, v.id, now() - g * interval '1 second', 0.5,
                    jsonb_build_object('plan', 'pro', 'note', 'a, \"quoted\" value')
             FROM experiments e JOIN variants v ON v.experiment_id = e.id AND v.position = 0,
                  generate_series(1, {ROWS}) g
             WHERE e.key = 'big'"
        ),
    );
    let before = exported_rows(&app).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut response = http
        .get(format!(
            "{}/api/v1/experiments/big/export?data=assignments&format=csv",
            app.address
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"experiment,user_id"));
    // Stall: the producer fills the channel (4 pages) and the socket buffers, then waits.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = exported_rows(&app).await - before;
    eprintln!("rows read by the server while the client stalled: {during} of {ROWS}");
    assert!(
        during < (ROWS as u64) / 2,
        "the server read {during} of {ROWS} rows while the client read nothing"
    );
    // Then the whole export arrives, every row once.
    let mut lines = first.iter().filter(|&&b| b == b'\n').count();
    let mut bytes = first.len();
    while let Some(chunk) = response.chunk().await.unwrap() {
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
        bytes += chunk.len();
    }
    assert_eq!(lines, ROWS + 1, "{bytes} bytes");
    // The counter is process-wide: other export tests running at the same time add theirs.
    let read = exported_rows(&app).await - before;
    assert!(
        read >= ROWS as u64,
        "the server counted {read} of {ROWS} rows"
    );
}
