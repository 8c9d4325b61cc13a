//! Profiles: what `/track` stores of each user adds up, per event name, to counts and value
//! sums over rolling windows, the latest time and an hour-of-day histogram, readable at
//! `GET /api/v1/users/{user_id}/profile`, erased with the user, shared by every instance.

use crate::helpers::*;
use chrono::{DateTime, DurationRound, TimeDelta, Timelike, Utc};
use posterior::engine::Consent;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Profiles are on by default; a server may switch them off.
pub fn profiles_off(settings: &mut posterior::config::Settings) {
    settings.engine.profiles = false;
}

/// An event as the test sends it: (event id, name, time, value).
type Sent = (String, &'static str, DateTime<Utc>, Option<f64>);

async fn profile(app: &TestApp, user: &str) -> Reply {
    app.admin(Method::GET, &format!("/api/v1/users/{user}/profile"), None)
        .await
}

async fn track(app: &TestApp, user: &str, events: &[Sent]) -> Value {
    let body: Vec<Value> = events
        .iter()
        .map(|(id, name, at, value)| {
            let mut e = json!({"event_id": id, "user_id": user, "name": name, "timestamp": at});
            if let Some(v) = value {
                e["value"] = json!(v);
            }
            e
        })
        .collect();
    let reply = app.track(Value::Array(body)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    reply.body
}

/// What the profile's `events` must say of `sent` at `now`, computed here from the rule:
/// a window of n days holds the events of today and the n - 1 UTC days before.
fn expected_events(sent: &[Sent], now: DateTime<Utc>) -> Value {
    let today = now.date_naive();
    let mut by_name: BTreeMap<&str, Vec<&Sent>> = BTreeMap::new();
    for e in sent {
        by_name.entry(e.1).or_default().push(e);
    }
    let mut out = Map::new();
    for (name, events) in by_name {
        let mut count = Map::new();
        let mut value_sum = Map::new();
        for (key, days) in [("1d", 1), ("7d", 7), ("30d", 30), ("90d", 90)] {
            let inside: Vec<&&Sent> = events
                .iter()
                .filter(|e| (today - e.2.date_naive()).num_days() < days)
                .collect();
            count.insert(key.into(), json!(inside.len()));
            value_sum.insert(
                key.into(),
                json!(inside.iter().map(|e| e.3.unwrap_or(0.0)).sum::<f64>()),
            );
        }
        count.insert("all".into(), json!(events.len()));
        value_sum.insert(
            "all".into(),
            json!(events.iter().map(|e| e.3.unwrap_or(0.0)).sum::<f64>()),
        );
        let mut hours = [0; 24];
        for e in &events {
            hours[e.2.hour() as usize] += 1;
        }
        let last_at = events.iter().map(|e| e.2).max().unwrap();
        out.insert(
            name.into(),
            json!({"count": count, "value_sum": value_sum, "last_at": last_at, "hours": hours}),
        );
    }
    Value::Object(out)
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .to_utc()
}

/// The profile's events with `last_at` in one notation (the server's may differ from
/// chrono's), so the whole object can be compared.
fn normalized(mut events: Value) -> Value {
    for e in events.as_object_mut().unwrap().values_mut() {
        e["last_at"] = json!(time(&e["last_at"]));
    }
    events
}

fn assert_profile(reply: &Reply, user: &str, sent: &[Sent]) {
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let now = Utc::now();
    assert_eq!(reply.body["user_id"], user);
    assert_eq!(
        time(&reply.body["first_seen"]),
        sent.iter().map(|e| e.2).min().unwrap()
    );
    assert_eq!(
        time(&reply.body["last_seen"]),
        sent.iter().map(|e| e.2).max().unwrap()
    );
    assert_eq!(
        normalized(reply.body["events"].clone()),
        expected_events(sent, now)
    );
}

/// Whole seconds (what PostgreSQL keeps, compared exactly), `days` days before `now` at
/// `hour`:`minute` UTC.
fn days_ago(now: DateTime<Utc>, days: i64, hour: u32, minute: u32) -> DateTime<Utc> {
    let midnight = now.duration_trunc(TimeDelta::days(1)).unwrap();
    midnight - TimeDelta::days(days)
        + TimeDelta::hours(hour.into())
        + TimeDelta::minutes(minute.into())
}

fn sent(id: &str, name: &'static str, at: DateTime<Utc>, value: Option<f64>) -> Sent {
    (id.to_string(), name, at, value)
}

#[tokio::test]
async fn a_profile_adds_up_what_was_tracked_by_window_value_and_hour() {
    let app = spawn_app().await;
    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap();
    // Today: one event at midnight and one a minute ago (two hours when the test runs
    // after 01:00; one at 00:0x).
    let just_now = now - TimeDelta::minutes(1);
    let midnight = days_ago(now, 0, 0, 0).max(just_now - TimeDelta::seconds(30));
    // One request holds several days and hours of one user and name (a backfill).
    let first = vec![
        sent("o-1", "open", days_ago(now, 20, 19, 40), None),
        sent("o-2", "open", just_now, None),
        sent("o-3", "open", days_ago(now, 20, 19, 55), None),
        sent("p-1", "purchase", days_ago(now, 20, 8, 0), Some(12.5)),
    ];
    let receipt = track(&app, "u-1", &first).await;
    assert_eq!(receipt["accepted"], 4);
    assert_profile(&profile(&app, "u-1").await, "u-1", &first);

    // Then more: an older day not yet seen (3 days ago), a day already kept (20 days ago),
    // today again, an event too old for the daily buckets (100 days ago), a new newest day
    // for purchases, and a retry of o-2 (counted once).
    let second = vec![
        sent("o-2", "open", just_now, None),
        sent("o-4", "open", days_ago(now, 3, 8, 15), Some(1.5)),
        sent("o-5", "open", days_ago(now, 20, 7, 0), None),
        sent("o-6", "open", midnight, Some(0.25)),
        sent("o-7", "open", days_ago(now, 100, 19, 5), Some(4.0)),
        sent("p-2", "purchase", days_ago(now, 3, 21, 30), Some(30.0)),
        sent("p-3", "purchase", days_ago(now, 91, 21, 0), Some(100.0)),
        // On the edges: the day a window begins before (out of it) and the day after.
        sent("o-8", "open", days_ago(now, 7, 12, 0), None),
        sent("o-9", "open", days_ago(now, 1, 23, 30), None),
        sent("p-4", "purchase", days_ago(now, 90, 0, 30), Some(1000.0)),
        sent("p-5", "purchase", days_ago(now, 89, 23, 0), Some(0.5)),
    ];
    let receipt = track(&app, "u-1", &second).await;
    assert_eq!(receipt["accepted"], 10);
    assert_eq!(receipt["duplicates"], 1);
    let all: Vec<Sent> = first.iter().chain(&second[1..]).cloned().collect();
    let reply = profile(&app, "u-1").await;
    assert_profile(&reply, "u-1", &all);
    // Spelled out, to be sure the computed expectation is not vacuous.
    let open = &reply.body["events"]["open"];
    assert_eq!(open["count"]["all"], 9);
    assert_eq!(open["count"]["90d"], 8);
    assert_eq!(open["count"]["7d"], 4);
    assert_eq!(open["value_sum"]["all"], 5.75);
    let purchase = &reply.body["events"]["purchase"];
    assert_eq!(purchase["value_sum"]["90d"], 43.0);
    assert_eq!(purchase["value_sum"]["all"], 1143.0);
    let hours = open["hours"].as_array().unwrap();
    assert_eq!(hours.iter().map(|h| h.as_i64().unwrap()).sum::<i64>(), 9);

    // Another user's events are theirs alone; an unknown user has no profile.
    track(&app, "u-2", &[sent("x-1", "open", just_now, None)]).await;
    assert_profile(&profile(&app, "u-1").await, "u-1", &all);
    let none = profile(&app, "nobody").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{:?}", none.body);
    assert_eq!(none.body["error"]["code"], "unknown_user");
}

#[tokio::test]
async fn erasure_removes_the_profile() {
    let app = spawn_app().await;
    let now = Utc::now();
    track(&app, "gone", &[sent("e-1", "open", now, None)]).await;
    track(&app, "kept", &[sent("e-1", "open", now, None)]).await;
    assert_eq!(profile(&app, "gone").await.status, StatusCode::OK);
    let erased = app.admin(Method::DELETE, "/api/v1/users/gone", None).await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    assert_eq!(profile(&app, "gone").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM profile_events WHERE user_id = 'gone'"),
        0
    );
    assert_eq!(profile(&app, "kept").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_user_without_consent_gets_no_profile() {
    let app = spawn_app_with(|settings| {
        settings.engine.consent = Some(Consent {
            attribute: "consent".into(),
            required: false,
        });
    })
    .await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    let refused = app
        .assign(json!({"user_id": "refuser", "attributes": {"consent": false}}))
        .await;
    assert_eq!(refused.body["assignments"], json!([]));
    let agreed = app
        .assign(json!({"user_id": "agreer", "attributes": {"consent": true}}))
        .await;
    assert_eq!(agreed.body["assignments"].as_array().unwrap().len(), 1);
    let now = Utc::now();
    let receipt = track(&app, "refuser", &[sent("e-1", "open", now, None)]).await;
    assert_eq!(receipt["ignored"], 1);
    track(&app, "agreer", &[sent("e-1", "open", now, None)]).await;
    assert_eq!(profile(&app, "refuser").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM profile_events WHERE user_id = 'refuser'"),
        0
    );
    assert_eq!(profile(&app, "agreer").await.status, StatusCode::OK);
}

#[tokio::test]
async fn only_admin_keys_read_profiles() {
    let app = spawn_app().await;
    track(&app, "u-1", &[sent("e-1", "open", Utc::now(), None)]).await;
    let path = "/api/v1/users/u-1/profile";
    let client = app.request(Method::GET, path, Some(CLIENT_KEY), None).await;
    assert_eq!(client.status, StatusCode::FORBIDDEN, "{:?}", client.body);
    let anonymous = app.request(Method::GET, path, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let too_long = format!("/api/v1/users/{}/profile", "u".repeat(300));
    let invalid = app.admin(Method::GET, &too_long, None).await;
    assert_eq!(
        invalid.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        invalid.body
    );
    assert!(
        invalid.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user_id"),
        "{:?}",
        invalid.body
    );
}

#[tokio::test]
async fn two_instances_on_one_database_share_profiles() {
    let one = spawn_app().await;
    let two = spawn_app_on(one.db.clone()).await;
    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap();
    let first = vec![sent("e-1", "open", now - TimeDelta::days(2), Some(1.0))];
    track(&one, "u-1", &first).await;
    assert_profile(&profile(&two, "u-1").await, "u-1", &first);
    let second = vec![
        sent("e-2", "open", now - TimeDelta::minutes(1), Some(2.0)),
        sent("e-1", "open", now - TimeDelta::days(2), Some(1.0)),
    ];
    let receipt = track(&two, "u-1", &second).await;
    assert_eq!(receipt["duplicates"], 1, "a retry on another instance");
    let all = vec![first[0].clone(), second[0].clone()];
    assert_profile(&profile(&one, "u-1").await, "u-1", &all);
    assert_profile(&profile(&two, "u-1").await, "u-1", &all);
}

/// The write path's merge (a new newest day, the newest day again, an older day kept or new,
/// days falling 90 behind and cut off, events too old for a bucket) against a model, over
/// many batches on a clock that moves by days: the store is driven directly, as the writer
/// does, with the `now` each batch says.
#[tokio::test]
async fn the_stored_buckets_follow_a_model_as_days_pass() {
    use posterior::domain::profile::{KEPT_DAYS, day_number};
    use posterior::store::{self, batch::NewEvent, profiles};

    let app = spawn_app().await;
    let mut conn = store::connect(&app.db.url).unwrap();
    // A small deterministic generator (xorshift), so a failure can be replayed.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let start = Utc::now().duration_trunc(TimeDelta::days(1)).unwrap() - TimeDelta::days(400);
    let mut now = start;
    // (user, day) → (count, value sum), and per user all-time count and hours.
    let mut days: BTreeMap<(String, i32), (i64, f64)> = BTreeMap::new();
    let mut totals: BTreeMap<String, (i64, [i64; 24])> = BTreeMap::new();
    let mut id = 0;
    for _ in 0..150 {
        now += TimeDelta::days([0, 0, 1, 1, 2, 7, 30, 95][next(8) as usize]);
        let mut batch = Vec::new();
        for _ in 0..next(6) {
            let user = format!("u-{}", next(4));
            let age = match next(4) {
                0 => 0,
                1 => next(3) as i64,
                2 => next(KEPT_DAYS as u64) as i64,
                _ => next(200) as i64,
            };
            let at = now - TimeDelta::days(age) - TimeDelta::minutes(next(24 * 60) as i64);
            let at = at.max(start - TimeDelta::days(300));
            let value = next(4) as f64;
            id += 1;
            batch.push(NewEvent {
                event_id: format!("e-{id}"),
                user_id: user.clone(),
                name: "open".into(),
                value: Some(value),
                occurred_at: at,
                stamped_by_server: false,
            });
            let total = totals.entry(user.clone()).or_insert((0, [0; 24]));
            total.0 += 1;
            total.1[at.hour() as usize] += 1;
            if day_number(at) > day_number(now) - KEPT_DAYS as i32 {
                let d = days.entry((user, day_number(at))).or_default();
                d.0 += 1;
                d.1 += value;
            }
        }
        let events: Vec<&NewEvent> = batch.iter().collect();
        store::batch::transaction(&mut conn, |tx| profiles::record_events(tx, &events, now))
            .unwrap();
        for (user, (count, hours)) in &totals {
            let profile = profiles::user_profile(&mut conn, user).unwrap().unwrap();
            let open = &profile.events["open"];
            assert_eq!(open.count, *count);
            assert_eq!(&open.hours, hours);
            // Sorted, and nothing kept that no window can reach any more.
            assert!(open.days.windows(2).all(|w| w[0].day < w[1].day));
            if let Some(newest) = open.days.last() {
                assert!(
                    open.days[0].day > newest.day - KEPT_DAYS as i32,
                    "{:?}",
                    open.days
                );
            }
            for window in [1, 7, 30, 90] {
                let (count, sum) = days
                    .range(
                        (user.clone(), day_number(now) - window + 1)
                            ..=(user.clone(), day_number(now)),
                    )
                    .fold((0, 0.0), |(c, s), (_, (n, v))| (c + n, s + v));
                assert_eq!(
                    open.count_within(window as u32, now),
                    count,
                    "{user} {window}d"
                );
                assert_eq!(
                    open.value_sum_within(window as u32, now),
                    sum,
                    "{user} {window}d"
                );
            }
        }
    }
}

#[tokio::test]
async fn profiles_can_be_switched_off() {
    let app = spawn_app_with(profiles_off).await;
    let now = Utc::now();
    track(&app, "quiet", &[("q-1".to_string(), "open", now, None)]).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events WHERE user_id = 'quiet'"),
        1
    );
    assert_eq!(profile(&app, "quiet").await.status, StatusCode::NOT_FOUND);
}
