//! Faults: the server killed, the database gone, two instances racing, a polite stop.
//! Each test records every answer the clients got and checks the database against the
//! acknowledged ones afterwards: nothing acknowledged may be lost, no variant may change.

use crate::fault_tools::*;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the clients were told.
#[derive(Default)]
struct Acked {
    /// (user, variant) of every 200 to a new user's assign.
    assignments: Mutex<Vec<(String, String)>>,
    /// (user, event id) of every event in a 202 answer.
    events: Mutex<Vec<(String, String)>>,
}

impl Acked {
    fn assignments(&self) -> Vec<(String, String)> {
        self.assignments.lock().unwrap().clone()
    }
    fn events(&self) -> Vec<(String, String)> {
        self.events.lock().unwrap().clone()
    }
}

async fn post(
    http: &reqwest::Client,
    address: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> reqwest::Result<(StatusCode, reqwest::header::HeaderMap, Value)> {
    let response = http
        .post(format!("{address}{path}"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, headers, body))
}

fn variant_in(body: &Value, experiment: &str) -> Option<String> {
    body["assignments"]
        .as_array()?
        .iter()
        .find(|a| a["experiment"] == experiment)
        .map(|a| a["variant"].as_str().unwrap().to_string())
}

/// One client of the load: new users, each assigned then sending one purchase, until told to
/// stop or until the server stops answering. Records what was acknowledged.
async fn drive_until_gone(
    http: reqwest::Client,
    address: String,
    experiment: &'static str,
    task: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Acked>,
) {
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let user = format!("load-{task}-{i}");
        let assign = json!({"user_id": user, "experiments": [experiment]});
        match post(&http, &address, "/api/v1/assign", CLIENT_KEY, &assign).await {
            Ok((StatusCode::OK, _, body)) => {
                let variant = variant_in(&body, experiment).expect("an assignment");
                acked
                    .assignments
                    .lock()
                    .unwrap()
                    .push((user.clone(), variant));
            }
            Ok(_) => {}
            Err(_) => return,
        }
        let event_id = format!("ev-{task}-{i}");
        let track = json!({"events": [{"event_id": event_id, "user_id": user, "name": "purchase", "value": 2.5}]});
        match post(&http, &address, "/api/v1/track", CLIENT_KEY, &track).await {
            Ok((StatusCode::ACCEPTED, _, _)) => {
                acked.events.lock().unwrap().push((user, event_id));
            }
            Ok(_) => {}
            Err(_) => return,
        }
        i += 1;
    }
}

async fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every acknowledged assignment is stored with the variant the client was told, and every
/// acknowledged event is stored.
fn assert_nothing_acknowledged_is_lost(db: &TestDb, acked: &Acked) {
    let stored = stored_assignments(db);
    for (user, variant) in acked.assignments() {
        assert_eq!(
            stored.get(&user),
            Some(&variant),
            "acknowledged assignment of {user} ({variant}) not stored as told"
        );
    }
    let events = stored_events(db);
    for pair in acked.events() {
        assert!(events.contains(&pair), "acknowledged event {pair:?} lost");
    }
}

async fn admin_post(server: &ServerProcess, path: &str, body: Value) {
    let (status, _, reply) = post(&server.http, &server.address, path, ADMIN_KEY, &body)
        .await
        .unwrap();
    assert!(status.is_success(), "{path}: {status} {reply}");
}

async fn start_experiment(server: &ServerProcess, key: &str) {
    admin_post(
        server,
        "/api/v1/experiments",
        experiment_body(key, "bandit"),
    )
    .await;
    admin_post(
        server,
        &format!("/api/v1/experiments/{key}/start"),
        json!({}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let db = TestDb::create();
    let mut server = ServerProcess::start(&db.url, "sigkill-1").await;
    start_experiment(&server, "crash").await;

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Acked::default());
    let tasks: Vec<_> = (0..6)
        .map(|t| {
            tokio::spawn(drive_until_gone(
                server.http.clone(),
                server.address.clone(),
                "crash",
                t,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    // Mid-load: once a few hundred writes are acknowledged, with requests in flight.
    wait_until(
        "acknowledged writes under load",
        Duration::from_secs(60),
        || acked.assignments.lock().unwrap().len() >= 150,
    )
    .await;
    server.kill();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(40), t)
            .await
            .expect("the clients notice the server is gone")
            .unwrap();
    }
    let acked_users = acked.assignments();
    assert!(acked_users.len() >= 150);

    let server = ServerProcess::start(&db.url, "sigkill-2").await;
    assert_nothing_acknowledged_is_lost(&db, &acked);
    // The restarted server gives every acknowledged user the variant they were told.
    for chunk in acked_users.chunks(50) {
        let server = &server;
        let answers = futures_util::future::join_all(chunk.iter().map(|(user, _)| async move {
            let body = json!({"user_id": user, "experiments": ["crash"]});
            post(
                &server.http,
                &server.address,
                "/api/v1/assign",
                CLIENT_KEY,
                &body,
            )
            .await
        }))
        .await;
        for ((user, variant), answer) in chunk.iter().zip(answers) {
            let (status, _, body) = answer.unwrap();
            assert_eq!(status, StatusCode::OK);
            assert_eq!(variant_in(&body, "crash").as_ref(), Some(variant), "{user}");
        }
    }
    // Group commit is all or nothing: the statistics agree with the rows that survived.
    assert_eq!(aggregate_mismatches(&db), Vec::<String>::new());
}

/// One answer the load got while the database came and went.
struct Answer {
    status: StatusCode,
    retry_after: bool,
    code: Option<String>,
    took: Duration,
}

/// Once the database is back: assigns new users of `experiment` until one is answered (the
/// others get 503), within 5 s; how long it took.
async fn writes_recover(app: &TestApp, experiment: &str, user_prefix: &str) -> Duration {
    let opened = Instant::now();
    for i in 0.. {
        let reply = app
            .assign(json!({"user_id": format!("{user_prefix}-{i}"), "experiments": [experiment]}))
            .await;
        if reply.status == StatusCode::OK {
            break;
        }
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            reply.body
        );
        assert!(
            opened.elapsed() < Duration::from_secs(5),
            "writes still fail {:?} after the database came back",
            opened.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    opened.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_gives_503_serves_known_users_and_recovers() {
    let proxy = PgProxy::start();
    let app = spawn_app_with(|settings| {
        settings.engine.database_url = proxy.url_for(&settings.engine.database_url);
    })
    .await;
    app.running_experiment(experiment_body("outage", "ab"))
        .await;
    let mut known = HashMap::new();
    for i in 0..30 {
        let user = format!("known-{i}");
        let variant = app.variant_of(&user, "outage", json!({})).await.unwrap();
        known.insert(user, variant);
    }

    // Load all along: new users and their events, every answer recorded.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Acked::default());
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let (http, address) = (app.http.clone(), app.address.clone());
            let (stop, acked, answers) = (stop.clone(), acked.clone(), answers.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let user = format!("new-{t}-{i}");
                    let event_id = format!("ev-{t}-{i}");
                    for (path, body) in [
                        ("/api/v1/assign", json!({"user_id": user, "experiments": ["outage"]})),
                        ("/api/v1/track", json!({"events": [{"event_id": event_id, "user_id": user, "name": "purchase"}]})),
                    ] {
                        let started = Instant::now();
                        let (status, headers, body) =
                            post(&http, &address, path, CLIENT_KEY, &body).await.unwrap();
                        if status == StatusCode::OK {
                            let variant = variant_in(&body, "outage").unwrap();
                            acked.assignments.lock().unwrap().push((user.clone(), variant));
                        }
                        if status == StatusCode::ACCEPTED {
                            acked.events.lock().unwrap().push((user.clone(), event_id.clone()));
                        }
                        answers.lock().unwrap().push(Answer {
                            status,
                            retry_after: headers.contains_key("retry-after"),
                            code: body["error"]["code"].as_str().map(str::to_string),
                            took: started.elapsed(),
                        });
                    }
                    i += 1;
                    // A steady stream, not a flood: the machine is shared.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    wait_until("writes before the outage", Duration::from_secs(30), || {
        acked.events.lock().unwrap().len() >= 20
    })
    .await;

    proxy.cut();
    let cut_at = Instant::now();
    // Writes are refused with 503, Retry-After and the JSON error shape.
    let probe = |i: usize| json!({"user_id": format!("probe-{i}"), "experiments": ["outage"]});
    let mut i = 0;
    loop {
        let reply = app.assign(probe(i)).await;
        i += 1;
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(reply.headers.contains_key("retry-after"));
            assert_eq!(reply.error_code(), "unavailable");
            break;
        }
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert!(
            cut_at.elapsed() < Duration::from_secs(10),
            "writes still succeed"
        );
    }
    let track = app
        .track(json!([{"event_id": "during", "user_id": "known-0", "name": "purchase"}]))
        .await;
    assert_eq!(
        track.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        track.body
    );
    assert!(track.headers.contains_key("retry-after"));
    assert_eq!(track.error_code(), "unavailable");
    // Not ready, says readiness.
    let ready = app
        .request(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    // Returning users still get their variants, from memory.
    for (user, variant) in &known {
        assert_eq!(
            app.variant_of(user, "outage", json!({})).await.as_ref(),
            Some(variant)
        );
    }
    // About three seconds without a database.
    let outage = Duration::from_secs(3);
    if let Some(rest) = outage.checked_sub(cut_at.elapsed()) {
        tokio::time::sleep(rest).await;
    }

    proxy.open();
    let recovered = writes_recover(&app, "outage", "after").await;
    assert!(
        recovered < Duration::from_secs(5),
        "recovered after {recovered:?}"
    );
    let track = app
        .track(json!([{"event_id": "after", "user_id": "known-0", "name": "purchase"}]))
        .await;
    assert_eq!(track.status, StatusCode::ACCEPTED);
    eventually(|| async {
        app.request(reqwest::Method::GET, "/readyz", None, None)
            .await
            .status
            == StatusCode::OK
    })
    .await;
    // The load keeps going a little on the recovered server, then stops.
    let acked_at_recovery = acked.events.lock().unwrap().len();
    wait_until("writes after recovery", Duration::from_secs(30), || {
        acked.events.lock().unwrap().len() >= acked_at_recovery + 20
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }

    let answers = answers.lock().unwrap();
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(refused > 0, "the load never saw the outage");
    for a in answers.iter() {
        assert!(
            [
                StatusCode::OK,
                StatusCode::ACCEPTED,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(&a.status),
            "unexpected {}",
            a.status
        );
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(a.retry_after, "503 without Retry-After");
            assert_eq!(a.code.as_deref(), Some("unavailable"));
        }
        assert!(
            a.took < Duration::from_secs(10),
            "a request hung for {:?}",
            a.took
        );
    }
    assert_nothing_acknowledged_is_lost(&app.db, &acked);
    assert_eq!(aggregate_mismatches(&app.db), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_same_new_users_at_once_count_exactly() {
    let one = spawn_app().await;
    one.running_experiment(experiment_body("twin", "bandit"))
        .await;
    let two = spawn_app_on(one.db.clone()).await;
    eventually(|| async { two.engine.snapshot().get("twin").is_some() }).await;

    const USERS: usize = 200;
    let users: Vec<String> = (0..USERS).map(|i| format!("twin-{i}")).collect();
    let (one, two) = (&one, &two);
    for chunk in users.chunks(40) {
        // Every user of the chunk at both instances at once, twice each.
        let answers = futures_util::future::join_all(chunk.iter().map(|user| async move {
            let body = json!({"user_id": user, "experiments": ["twin"]});
            let (a, b, c, d) = tokio::join!(
                one.assign(body.clone()),
                two.assign(body.clone()),
                two.assign(body.clone()),
                one.assign(body.clone())
            );
            [a, b, c, d].map(|r| {
                assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
                variant_in(&r.body, "twin").expect("assigned")
            })
        }))
        .await;
        for (user, variants) in chunk.iter().zip(answers) {
            assert!(
                variants.iter().all(|v| v == &variants[0]),
                "{user} got {variants:?}"
            );
        }
    }
    assert_eq!(
        one.count("SELECT count(*) AS n FROM assignments"),
        USERS as i64
    );
    assert_eq!(
        one.count("SELECT count(DISTINCT user_id) AS n FROM assignments"),
        USERS as i64
    );

    // Each user's purchase reported to both instances at once, with the same event id.
    for chunk in users.chunks(40) {
        let outcomes = futures_util::future::join_all(chunk.iter().map(|user| async move {
            let events = json!([{"event_id": format!("buy-{user}"), "user_id": user, "name": "purchase", "value": 3.0}]);
            let (a, b) = tokio::join!(one.track(events.clone()), two.track(events.clone()));
            assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
            assert_eq!(b.status, StatusCode::ACCEPTED, "{:?}", b.body);
            (
                a.body["accepted"].as_i64().unwrap() + b.body["accepted"].as_i64().unwrap(),
                a.body["duplicates"].as_i64().unwrap() + b.body["duplicates"].as_i64().unwrap(),
            )
        }))
        .await;
        for (user, outcome) in chunk.iter().zip(outcomes) {
            assert_eq!(outcome, (1, 1), "{user}: stored once, a duplicate once");
        }
    }
    assert_eq!(one.count("SELECT count(*) AS n FROM events"), USERS as i64);
    assert_eq!(aggregate_mismatches(&one.db), Vec::<String>::new());
    for app in [one, two] {
        let results = app.results("twin").await;
        let variants = results["variants"].as_array().unwrap();
        let users: i64 = variants.iter().map(|v| v["users"].as_i64().unwrap()).sum();
        let conversions: i64 = variants
            .iter()
            .map(|v| v["conversions"].as_i64().unwrap())
            .sum();
        assert_eq!((users, conversions), (USERS as i64, USERS as i64));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_in_flight_writes_then_exits_cleanly() {
    let proxy = PgProxy::start();
    let db = TestDb::create();
    let mut server = ServerProcess::start(&proxy.url_for(&db.url), "sigterm").await;
    start_experiment(&server, "polite").await;

    // A first stretch of load.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Acked::default());
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            tokio::spawn(drive_until_gone(
                server.http.clone(),
                server.address.clone(),
                "polite",
                t,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    wait_until("acknowledged writes", Duration::from_secs(60), || {
        acked.events.lock().unwrap().len() >= 50
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }

    // The database stalls, so the next writes are in flight (queued or mid-commit) for sure.
    proxy.hold();
    let in_flight: Vec<_> = (0..16)
        .map(|i| {
            let (http, address) = (server.http.clone(), server.address.clone());
            tokio::spawn(async move {
                let user = format!("flight-{i}");
                let (path, body) = if i % 2 == 0 {
                    ("/api/v1/assign", json!({"user_id": user, "experiments": ["polite"]}))
                } else {
                    ("/api/v1/track", json!({"events": [{"event_id": format!("fe-{i}"), "user_id": user, "name": "purchase"}]}))
                };
                (user, i, post(&http, &address, path, CLIENT_KEY, &body).await)
            })
        })
        .collect();
    wait_until(
        "writes reaching the stalled database",
        Duration::from_secs(30),
        || proxy.held_bytes() > 0,
    )
    .await;
    // The requests were all sent together; give the last of them a moment to be read.
    tokio::time::sleep(Duration::from_millis(500)).await;

    server.terminate();
    // It stops accepting connections while it is still finishing what it has.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let refused = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .is_err();
        if refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still accepting 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The database stays stalled for a while: the server must keep waiting for its
    // in-flight requests, not give up on them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited before finishing its in-flight requests"
    );

    proxy.open();
    for request in in_flight {
        let (user, i, answer) = request.await.unwrap();
        let (status, _, body) = answer.expect("an in-flight request is answered, not dropped");
        if i % 2 == 0 {
            assert_eq!(status, StatusCode::OK, "{body}");
            let variant = variant_in(&body, "polite").unwrap();
            acked.assignments.lock().unwrap().push((user, variant));
        } else {
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            acked.events.lock().unwrap().push((user, format!("fe-{i}")));
        }
    }
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status}");
    assert_nothing_acknowledged_is_lost(&db, &acked);
    assert_eq!(aggregate_mismatches(&db), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_hangs_costs_writes_a_503_after_the_write_timeout_not_a_hang() {
    let proxy = PgProxy::start();
    let app = spawn_app_with(|settings| {
        settings.engine.database_url = proxy.url_for(&settings.engine.database_url);
        settings.engine.write_timeout = Duration::from_millis(1500);
    })
    .await;
    app.running_experiment(experiment_body("frozen", "ab"))
        .await;
    let mut known = HashMap::new();
    for i in 0..10 {
        let user = format!("known-{i}");
        known.insert(
            user.clone(),
            app.variant_of(&user, "frozen", json!({})).await.unwrap(),
        );
    }

    // The database stops answering: connections stay open, nothing comes back.
    proxy.hold();
    let new_user = json!({"user_id": "frozen-new", "experiments": ["frozen"]});
    let event = json!([{"event_id": "held-1", "user_id": "known-0", "name": "purchase"}]);
    let started = Instant::now();
    let (assigned, tracked) = tokio::join!(app.assign(new_user.clone()), app.track(event.clone()));
    let took = started.elapsed();
    for reply in [&assigned, &tracked] {
        reply.assert_unavailable();
    }
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(6),
        "answered after {took:?}, the write timeout is 1.5 s"
    );
    // Returning users are answered from memory meanwhile, and readiness says no in bounded time.
    for (user, variant) in &known {
        assert_eq!(
            app.variant_of(user, "frozen", json!({})).await.as_ref(),
            Some(variant)
        );
    }
    let started = Instant::now();
    let ready = app
        .request(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(8));

    proxy.open();
    let recovered = writes_recover(&app, "frozen", "thawed").await;
    assert!(recovered < Duration::from_secs(5));
    // The writes that timed out were not acknowledged; retrying them is safe: one assignment,
    // one stored event, whether or not the first attempt reached the database in the end.
    let again = app.assign(new_user).await;
    assert_eq!(again.status, StatusCode::OK);
    let again = app.track(event).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(
        again.body["accepted"].as_i64().unwrap() + again.body["duplicates"].as_i64().unwrap(),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments WHERE user_id = 'frozen-new'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events WHERE event_id = 'held-1'"),
        1
    );
    assert_eq!(aggregate_mismatches(&app.db), Vec::<String>::new());
}
