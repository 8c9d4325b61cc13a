//! Effects over time: every metric's cumulative lift and its confidence sequence by day since
//! the start (`over_time` in the results), stored day by day by the background tick, drawn on
//! the experiment page and exported (`data=over_time`).

use crate::helpers::*;
use crate::metrics::{User, assigned_users, create_metrics};
use chrono::{NaiveDate, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const METRICS: [&str; 2] = ["goal", "orders"];

/// A running experiment with the inline goal (purchase) and a secondary metric (orders per
/// user), 300 users assigned an hour ago.
async fn shop(app: &TestApp) -> Vec<User> {
    create_metrics(
        app,
        &[
            json!({"key": "orders", "name": "Orders per user", "type": "mean", "event": "purchase", "of": "count"}),
        ],
    )
    .await;
    let mut body = experiment_body("shop", "ab");
    body["metrics"] = json!({"secondary": ["orders"]});
    app.running_experiment(body).await;
    let now = Utc::now();
    assigned_users(app, "shop", 300, |_| now - TimeDelta::hours(1)).await
}

/// Purchases by every `every_a`-th user of a and every `every_b`-th of b (their `round`-th).
async fn buy(app: &TestApp, users: &mut [User], round: usize, every_a: usize, every_b: usize) {
    for (i, u) in users.iter_mut().enumerate() {
        u.events.clear();
        let every = if u.variant == "a" { every_a } else { every_b };
        if i % every == 0 {
            let at = u.assigned_at + TimeDelta::minutes(round as i64);
            u.events.push(("purchase", None, at));
        }
    }
    send_round(app, users, round).await;
}

/// Sends the users' events with ids unique to the round.
async fn send_round(app: &TestApp, users: &[User], round: usize) {
    let events: Vec<Value> = users
        .iter()
        .flat_map(|u| {
            u.events.iter().map(move |(name, _, at)| {
                json!({"event_id": format!("{}-r{round}", u.id), "user_id": u.id,
                       "name": name, "timestamp": at.to_rfc3339()})
            })
        })
        .collect();
    for chunk in events.chunks(100) {
        let reply = app.track(json!(chunk)).await;
        assert!(reply.status.is_success(), "{:?}", reply.body);
    }
}

fn metric<'a>(results: &'a Value, key: &str) -> &'a Value {
    results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == key)
        .unwrap_or_else(|| panic!("no metric {key}: {results}"))
}

/// A metric's variant in the live results as `over_time` shows it.
fn live_point(metric: &Value, variant: usize) -> Value {
    let v = &metric["variants"][variant];
    json!({
        "key": v["key"],
        "users": v["users"],
        "value": v["value"]["mean"],
        "lift": if v["sequential"].is_null() { Value::Null } else { v["sequential"]["lift"].clone() },
        "p_value": if v["sequential"].is_null() { Value::Null } else { v["sequential"]["p_value"].clone() },
    })
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Whether the stored row of (metric, variant b, day) holds the live figures of b.
fn stored_as_live(app: &TestApp, results: &Value, key: &str, day: NaiveDate) -> bool {
    let live = &metric(results, key)["variants"][1];
    let row = format!(
        "FROM metric_history h JOIN variants v ON v.id = h.variant_id \
         WHERE h.metric_key = '{key}' AND v.key = 'b' AND h.day = '{day}'"
    );
    if app.count(&format!("SELECT count(*) AS n {row}")) != 1
        || app.count(&format!(
            "SELECT count(*) AS n {row} AND h.lift_mean IS NOT NULL"
        )) != 1
    {
        return false;
    }
    let stored = |column: &str| app.float(&format!("SELECT h.{column} AS x {row}"));
    let sequential = &live["sequential"];
    // Within an ulp: serde_json's default float parsing may miss the nearest double by one.
    let same = |column: &str, live: &Value| {
        let (x, y) = (stored(column), live.as_f64().unwrap());
        (x - y).abs() <= 1e-12 * y.abs().max(1.0)
    };
    same("users::float8", &live["users"])
        && same("value_mean", &live["value"]["mean"])
        && same("lift_mean", &sequential["lift"]["mean"])
        && same("lift_low", &sequential["lift"]["low"])
        && same("lift_high", &sequential["lift"]["high"])
        && same("p_value", &sequential["p_value"])
}

/// Waits until the tick has stored today's figures of every metric as the results give them.
async fn tick_stored_today(app: &TestApp) -> Value {
    for _ in 0..100 {
        let results = app.results("shop").await;
        if METRICS
            .iter()
            .all(|key| stored_as_live(app, &results, key, today()))
        {
            return results;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the tick did not store today's figures within 5 s");
}

#[tokio::test]
async fn today_is_the_live_sequential_lift_and_the_tick_stores_it() {
    let app = spawn_app().await;
    let mut users = shop(&app).await;
    buy(&app, &mut users, 1, 6, 3).await;
    let results = tick_stored_today(&app).await;
    // Every metric × variant of today, and nothing else.
    assert_eq!(app.count("SELECT count(*) AS n FROM metric_history"), 4);

    for key in METRICS {
        let m = metric(&results, key);
        let over_time = m["over_time"].as_array().unwrap();
        assert_eq!(over_time.len(), 1, "{key}: {over_time:?}");
        let point = &over_time[0];
        assert_eq!(point["day"], today().to_string());
        assert_eq!(point["day_number"], 1);
        assert_eq!(point["variants"][0], live_point(m, 0), "{key}");
        assert_eq!(point["variants"][1], live_point(m, 1), "{key}");
        assert!(point["variants"][0]["lift"].is_null(), "control: {point}");
        assert!(
            point["variants"][1]["lift"]["mean"].as_f64().unwrap() > 0.5,
            "{point}"
        );
    }

    // The page draws one chart per metric.
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/experiments/shop").await;
    assert_eq!(page.status, StatusCode::OK);
    let start = page
        .body
        .find("id=\"over-time-heading\"")
        .expect("an over-time section");
    let section = &page.body[start..];
    let section = &section[..section.find("</section>").unwrap()];
    // A chart is an svg in a div.chart (the legend's swatches are svgs too, hidden).
    assert_eq!(
        section.matches("<div class=\"chart\"><svg").count(),
        METRICS.len(),
        "{section}"
    );
    assert!(section.contains("Lift over time: Goal"), "{section}");
    assert!(
        section.contains("Lift over time: Orders per user"),
        "{section}"
    );
    assert!(section.contains("confidence sequence"), "{section}");
}

#[tokio::test]
async fn past_days_keep_their_figures_while_today_follows_the_results() {
    let app = spawn_app().await;
    let mut users = shop(&app).await;
    buy(&app, &mut users, 1, 6, 3).await;
    let before = tick_stored_today(&app).await;

    // Yesterday, as far as the history knows: the rows and the start move a day back.
    app.execute(
        "UPDATE metric_history SET day = day - 1;
         UPDATE experiments SET started_at = started_at - interval '1 day'",
    );
    let yesterday = today() - TimeDelta::days(1);
    // More purchases, a's more than b's: the lift falls (a novelty effect fading).
    buy(&app, &mut users, 2, 2, 4).await;
    let after = tick_stored_today(&app).await;

    for key in METRICS {
        let (old, new) = (metric(&before, key), metric(&after, key));
        let over_time = new["over_time"].as_array().unwrap();
        assert_eq!(over_time.len(), 2, "{key}: {over_time:?}");
        let (past, now) = (&over_time[0], &over_time[1]);
        assert_eq!(past["day"], yesterday.to_string());
        assert_eq!(past["day_number"], 1);
        assert_eq!(now["day"], today().to_string());
        assert_eq!(now["day_number"], 2);
        for v in 0..2 {
            assert_eq!(past["variants"][v], live_point(old, v), "{key} yesterday");
            assert_eq!(now["variants"][v], live_point(new, v), "{key} today");
        }
        let lift = |p: &Value| p["variants"][1]["lift"]["mean"].as_f64().unwrap();
        assert!(lift(now) < lift(past), "{key}: {past} then {now}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM metric_history"), 8);

    // The export holds the same rows: metric × day × variant.
    let download = app
        .get_text(
            "/api/v1/experiments/shop/export?data=over_time&format=csv",
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(download.status, StatusCode::OK, "{}", download.body);
    let mut reader = csv::Reader::from_reader(download.body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "experiment",
            "metric",
            "day",
            "day_number",
            "variant",
            "users",
            "value",
            "lift_mean",
            "lift_low",
            "lift_high",
            "p_value"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // Parsed as the API's JSON was (the same text, the same parser, the same double).
    let number = |cell: &str| -> Value {
        if cell.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(cell).unwrap()
        }
    };
    let mut expected = Vec::new();
    for key in METRICS {
        for point in metric(&after, key)["over_time"].as_array().unwrap() {
            for v in point["variants"].as_array().unwrap() {
                expected.push(json!([
                    "shop",
                    key,
                    point["day"],
                    point["day_number"].as_f64(),
                    v["key"],
                    v["users"].as_f64(),
                    v["value"],
                    v["lift"]["mean"],
                    v["lift"]["low"],
                    v["lift"]["high"],
                    v["p_value"],
                ]));
            }
        }
    }
    let exported: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!([
                r[0],
                r[1],
                r[2],
                number(&r[3]),
                r[4],
                number(&r[5]),
                number(&r[6]),
                number(&r[7]),
                number(&r[8]),
                number(&r[9]),
                number(&r[10]),
            ])
        })
        .collect();
    assert_eq!(exported.len(), 8);
    // Numbers compared as numbers (CSV has no integers).
    let as_numbers = |rows: Vec<Value>| -> Vec<Value> {
        rows.into_iter()
            .map(|r| {
                Value::Array(
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_f64().map_or(c.clone(), |x| json!(x)))
                        .collect(),
                )
            })
            .collect()
    };
    assert_eq!(as_numbers(exported), as_numbers(expected));

    // JSON lines: the same count, typed.
    let lines = app
        .get_text(
            "/api/v1/experiments/shop/export?data=over_time&format=jsonl",
            Some(ADMIN_KEY),
        )
        .await;
    let lines = jsonl(&lines.body);
    assert_eq!(lines.len(), 8);
    assert_eq!(lines[0]["metric"], "goal");
    assert_eq!(lines[0]["day"], yesterday.to_string());
    assert_eq!(lines[0]["day_number"], 1);
}

#[tokio::test]
async fn a_stopped_experiment_keeps_its_history_with_its_final_day() {
    let app = spawn_app().await;
    let mut users = shop(&app).await;
    buy(&app, &mut users, 1, 6, 3).await;
    tick_stored_today(&app).await;
    // A past day, written before the stop.
    app.execute(
        "UPDATE metric_history SET day = day - 1, recorded_at = recorded_at - interval '1 day';
         UPDATE experiments SET started_at = started_at - interval '1 day'",
    );
    buy(&app, &mut users, 2, 2, 4).await;
    let live = app.results("shop").await;

    let reply = app
        .admin(Method::POST, "/api/v1/experiments/shop/stop", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    // The final day is written once the experiment has stopped.
    eventually(|| async {
        app.count(
            "SELECT count(*) AS n FROM metric_history h JOIN experiments e ON e.id = h.experiment_id \
             WHERE h.recorded_at >= e.stopped_at",
        ) == 4
    })
    .await;
    let stopped = app.results("shop").await;
    for key in METRICS {
        assert!(stored_as_live(&app, &stopped, key, today()), "{key}");
        let over_time = metric(&stopped, key)["over_time"].as_array().unwrap();
        assert_eq!(over_time.len(), 2, "{key}: {over_time:?}");
        assert_eq!(
            over_time[0]["day"],
            (today() - TimeDelta::days(1)).to_string()
        );
        assert_eq!(over_time[1]["day"], today().to_string());
        assert_eq!(over_time[1]["day_number"], 2);
        assert_eq!(
            over_time[1]["variants"][1],
            live_point(metric(&live, key), 1)
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM metric_history"), 8);
}

#[tokio::test]
async fn the_openapi_document_has_over_time_and_its_export() {
    let app = spawn_app().await;
    let doc = app.get_text("/openapi.json", None).await;
    let doc: Value = serde_json::from_str(&doc.body).unwrap();
    let schemas = &doc["components"]["schemas"];
    let over_time = &schemas["MetricResults"]["properties"]["over_time"];
    assert_eq!(over_time["type"], "array", "{over_time}");
    let point = &schemas["OverTimePoint"]["properties"];
    for field in ["day", "day_number", "variants"] {
        assert!(point.get(field).is_some(), "{field}: {point}");
    }
    let variant = &schemas["OverTimeVariant"]["properties"];
    for field in ["key", "users", "value", "lift", "p_value"] {
        assert!(variant.get(field).is_some(), "{field}: {variant}");
    }
    let export = &doc["paths"]["/api/v1/experiments/{key}/export"]["get"]["parameters"];
    let data = export
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "data")
        .unwrap();
    let kinds = data["schema"]["enum"].as_array().unwrap();
    assert!(kinds.contains(&json!("over_time")), "{data}");
    assert!(kinds.contains(&json!("series")), "{data}");
}
