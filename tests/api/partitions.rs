//! Events in daily partitions (issue 15): the server creates the days ahead, a retry stays a
//! duplicate, retention drops whole days, exports page across days, and `posterior migrate`
//! moves an existing table into its days without losing a row.

use crate::helpers::*;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use posterior::store::partitions::{self, create_partitions_ahead, day_start, partition_name};
use serde_json::json;

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: i64) -> NaiveDate {
    today() - TimeDelta::days(n)
}

/// Noon (UTC) of a day, as the API writes it.
fn noon(day: NaiveDate) -> String {
    (day_start(day) + TimeDelta::hours(12)).to_rfc3339()
}

/// The daily partitions of `events` that exist, oldest first.
fn daily_partitions(app: &TestApp) -> Vec<NaiveDate> {
    partitions::daily_partitions(&mut app.db.connect()).unwrap()
}

fn partition_exists(app: &TestApp, day: NaiveDate) -> bool {
    daily_partitions(app).contains(&day)
}

#[tokio::test]
async fn the_server_creates_today_and_the_next_7_days_at_start() {
    let app = spawn_app().await;
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM pg_partitioned_table WHERE partrelid = 'events'::regclass"
        ),
        1
    );
    let days = daily_partitions(&app);
    for ahead in 0..=7 {
        let day = today() + TimeDelta::days(ahead);
        assert!(days.contains(&day), "no partition for {day}: {days:?}");
    }
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'events'::regclass AND c.relname = 'events_default'"
        ),
        1
    );
    // Every partition carries the unique index that tells a retry.
    let without_unique = "SELECT count(*) AS n FROM pg_inherits i WHERE i.inhparent = 'events'::regclass \
         AND NOT EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = i.inhrelid AND x.indisunique \
           AND x.indkey::text = '1 2')";
    assert_eq!(app.count(without_unique), 0);
    let without_identity = "SELECT count(*) AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'events'::regclass AND c.relreplident <> 'i'";
    assert_eq!(app.count(without_identity), 0);

    // A missing day ahead is created again by the tick.
    let gone = today() + TimeDelta::days(5);
    app.execute(&format!("DROP TABLE {}", partition_name(gone)));
    let created = app.engine.create_event_partitions().await.unwrap();
    assert_eq!(created.created, vec![gone]);
    assert!(partition_exists(&app, gone));
    assert_eq!(app.count(without_unique), 0);
    assert_eq!(app.count(without_identity), 0);

    // A day whose events already sit in the default partition is skipped, its rows kept.
    let crowded = today() + TimeDelta::days(9);
    app.execute(&format!(
        "INSERT INTO events (user_id, event_id, name, occurred_at) VALUES ('u', 'early', 'open', '{}')",
        noon(crowded)
    ));
    let done = create_partitions_ahead(&mut app.db.connect(), today(), 10).unwrap();
    assert_eq!(
        done.created,
        vec![today() + TimeDelta::days(8), today() + TimeDelta::days(10)]
    );
    assert_eq!(done.skipped, vec![crowded]);
    assert!(!done.busy);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events_default WHERE event_id = 'early'"),
        1
    );
}

#[tokio::test]
async fn a_retry_is_a_duplicate_with_or_without_a_timestamp() {
    let app = spawn_app().await;
    let track_one = |event: serde_json::Value| {
        let app = &app;
        async move {
            let reply = app.track(json!([event])).await;
            assert_eq!(
                reply.status,
                reqwest::StatusCode::ACCEPTED,
                "{:?}",
                reply.body
            );
            (
                reply.body["accepted"].as_i64().unwrap(),
                reply.body["duplicates"].as_i64().unwrap(),
            )
        }
    };
    // The client's own timestamp, in a daily partition and in the default one.
    let recent = (Utc::now() - TimeDelta::minutes(5)).to_rfc3339();
    let old = noon(days_ago(3));
    for (id, at) in [("stamped", &recent), ("stamped-old", &old)] {
        let event = json!({"event_id": id, "user_id": "u", "name": "open", "timestamp": at});
        assert_eq!(track_one(event.clone()).await, (1, 0), "{id}");
        assert_eq!(track_one(event).await, (0, 1), "{id}: a retry");
    }
    // Stamped by the server: the retry's stamp is another one.
    let unstamped = json!({"event_id": "unstamped", "user_id": "u", "name": "open"});
    assert_eq!(track_one(unstamped.clone()).await, (1, 0));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(track_one(unstamped).await, (0, 1));

    // The first copy stamped by the server before midnight, in yesterday's partition: found
    // by the probe (within the horizon of a day).
    let yesterday = days_ago(1);
    let created = create_partitions_ahead(&mut app.db.connect(), yesterday, 0).unwrap();
    assert_eq!(created.created, vec![yesterday]);
    let before_midnight = day_start(today()) - TimeDelta::seconds(1);
    app.execute(&format!(
        "INSERT INTO events (user_id, event_id, name, occurred_at) VALUES ('u', 'late', 'open', '{}')",
        before_midnight.to_rfc3339()
    ));
    assert_eq!(
        track_one(json!({"event_id": "late", "user_id": "u", "name": "open"})).await,
        (0, 1)
    );
    // Beyond the horizon a copy stamped by the server is another event.
    let two_days_ago = day_start(today()) - TimeDelta::hours(25);
    app.execute(&format!(
        "INSERT INTO events (user_id, event_id, name, occurred_at) VALUES ('u', 'forgotten', 'open', '{}')",
        two_days_ago.to_rfc3339()
    ));
    assert_eq!(
        track_one(json!({"event_id": "forgotten", "user_id": "u", "name": "open"})).await,
        (1, 0)
    );
    // Twice in one request: the first is stored, even when the timestamps fall on two days.
    let reply = app
        .track(json!([
            {"event_id": "twice", "user_id": "v", "name": "open", "timestamp": noon(days_ago(2))},
            {"event_id": "twice", "user_id": "v", "name": "open", "timestamp": noon(days_ago(1))}
        ]))
        .await;
    assert_eq!(reply.body, json!({"accepted": 1, "duplicates": 1}));

    for (id, rows) in [
        ("stamped", 1),
        ("stamped-old", 1),
        ("unstamped", 1),
        ("late", 1),
        ("forgotten", 2),
        ("twice", 1),
    ] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM events WHERE event_id = '{id}'"
            )),
            rows,
            "{id}"
        );
    }
}

#[tokio::test]
async fn retention_drops_expired_days_whole_and_deletes_old_rows_of_the_default_partition() {
    let app = spawn_app_with(|settings| {
        settings.engine.event_retention = Some(TimeDelta::days(30));
    })
    .await;
    for day in [days_ago(100), days_ago(31), days_ago(29)] {
        create_partitions_ahead(&mut app.db.connect(), day, 0).unwrap();
    }
    let mut sent = 0;
    // (days ago, events): days with a partition, and days without one (the default's).
    for (ago, n) in [(100, 5), (31, 4), (29, 3), (40, 2), (600, 2)] {
        let events: Vec<_> = (0..n)
            .map(|i| {
                sent += 1;
                json!({"event_id": format!("d{ago}-{i}"), "user_id": format!("u{i}"), "name": "open",
                       "timestamp": noon(days_ago(ago))})
            })
            .collect();
        let reply = app.track(json!(events)).await;
        assert_eq!(reply.body["accepted"], n, "{:?}", reply.body);
    }
    app.track(json!([{"event_id": "now", "user_id": "u0", "name": "open"}]))
        .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), sent + 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM events_default"), 4);

    // An open transaction that read the table (a long export) keeps the drop from its lock:
    // the drop gives up after its timeout and waits for the next run; the default partition's
    // rows go anyway.
    let mut reader = app.db.connect();
    reader
        .batch_execute("BEGIN; SELECT count(*) FROM events;")
        .unwrap();
    let started = std::time::Instant::now();
    let purged = app.engine.purge_expired().await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!((purged.events, purged.event_partitions), (4, 0));
    assert!(partition_exists(&app, days_ago(100)));
    reader.batch_execute("ROLLBACK").unwrap();

    let purged = app.engine.purge_expired().await.unwrap();
    assert_eq!((purged.events, purged.event_partitions), (5 + 4, 2));
    let days = daily_partitions(&app);
    assert!(!days.contains(&days_ago(100)) && !days.contains(&days_ago(31)));
    assert!(days.contains(&days_ago(29)) && days.contains(&today()));
    // What is left: the day within the retention and the new event.
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 3 + 1);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM events WHERE event_id = 'now' OR event_id LIKE 'd29-%'"
        ),
        4
    );
    // Nothing more to do.
    let purged = app.engine.purge_expired().await.unwrap();
    assert_eq!((purged.events, purged.event_partitions), (0, 0));
}

#[tokio::test]
async fn an_events_export_pages_across_copies_of_one_id_on_two_days() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    app.assign(json!({"user_id": "u-1"})).await;
    // 10,002 rows: the export's page (10,000) ends on the first of two copies of "b" (a
    // client's retry with another timestamp, in two days' partitions).
    app.execute(&format!(
        "INSERT INTO events (user_id, event_id, name, occurred_at) \
         SELECT 'u-1', 'a-' || lpad(g::text, 5, '0'), 'purchase', now() - interval '1 hour' \
         FROM generate_series(1, 9999) g; \
         INSERT INTO events (user_id, event_id, name, occurred_at) VALUES \
           ('u-1', 'b', 'purchase', '{}'), ('u-1', 'b', 'purchase', '{}'), \
           ('u-1', 'c', 'purchase', now())",
        noon(today() + TimeDelta::days(1)),
        noon(today() + TimeDelta::days(2))
    ));
    let page = app
        .get_text(
            "/api/v1/experiments/banner/export?data=events&format=jsonl",
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(page.status, reqwest::StatusCode::OK);
    let lines = jsonl(&page.body);
    assert_eq!(lines.len(), 10_002);
    let copies: Vec<&str> = lines
        .iter()
        .filter(|l| l["event_id"] == "b")
        .map(|l| l["occurred_at"].as_str().unwrap())
        .collect();
    assert_eq!(copies.len(), 2);
    assert!(copies[0] < copies[1]);
    assert_eq!(lines.last().unwrap()["event_id"], "c");
}

mod migration {
    use super::*;
    use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
    const PARTITIONING: &str = "2026-12-10-000001_partitioned_events";

    type EventRow = (
        String,
        String,
        String,
        Option<f64>,
        DateTime<Utc>,
        DateTime<Utc>,
    );

    fn snapshot(conn: &mut PgConnection) -> Vec<EventRow> {
        use posterior::store::schema::events::dsl::*;
        events
            .select((user_id, event_id, name, value, occurred_at, received_at))
            .order((user_id, event_id, occurred_at))
            .load(conn)
            .unwrap()
    }

    #[derive(QueryableByName)]
    struct Placed {
        #[diesel(sql_type = diesel::sql_types::Text)]
        user_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        event_id: String,
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        occurred_at: DateTime<Utc>,
        #[diesel(sql_type = diesel::sql_types::Text)]
        partition: String,
    }

    #[tokio::test]
    async fn migrate_moves_every_event_into_its_day_and_loses_none() {
        let db = TestDb::create();
        posterior::store::ensure_database(&db.url).unwrap();
        let mut conn = db.connect();
        // The database as the release before this migration left it.
        loop {
            let pending = conn.pending_migrations(MIGRATIONS).unwrap();
            let next = pending
                .first()
                .expect("the partitioning migration is pending");
            if next.name().to_string() == PARTITIONING {
                break;
            }
            conn.run_migration(next.as_ref()).unwrap();
        }
        // Events over 470 days (some older than the 400 the migration gives days of), ids
        // shared between users, microseconds, both sides of midnight, a day ahead.
        conn.batch_execute(
            "INSERT INTO events (user_id, event_id, name, value, occurred_at, received_at) \
             SELECT 'u-' || (g % 40), 'e-' || (g / 40), CASE WHEN g % 2 = 0 THEN 'purchase' ELSE 'open' END, \
               CASE WHEN g % 3 = 0 THEN NULL ELSE g * 0.25 END, \
               now() - g * interval '1 hour 53 minutes 7.000123 seconds', \
               now() - g * interval '1 hour 53 minutes 7.000123 seconds' + (g % 7) * interval '5 seconds' \
             FROM generate_series(1, 6000) g; \
             INSERT INTO events (user_id, event_id, name, value, occurred_at, received_at) VALUES \
               ('edge', 'midnight', 'open', 1, date_trunc('day', now(), 'UTC') - interval '2 days', now()), \
               ('edge', 'before-midnight', 'open', 2, date_trunc('day', now(), 'UTC') - interval '2 days 1 microsecond', now()), \
               ('edge', 'ahead', 'open', NULL, now() + interval '20 hours', now()), \
               ('edge', 'ancient', 'open', NULL, now() - interval '1000 days', now() - interval '1000 days'), \
               ('e-1', 'u-1', 'open', NULL, now() - interval '3 days', now());",
        )
        .unwrap();
        // Other tables stay as they are.
        conn.batch_execute(
            "INSERT INTO assignments (experiment_id, user_id, variant_id, assigned_at, propensity) \
             SELECT 1, 'u-' || g, 1 + g % 2, now() - g * interval '1 day', 0.5 FROM generate_series(1, 50) g",
        )
        .unwrap();
        let before = snapshot(&mut conn);
        assert_eq!(before.len(), 6005);
        let today = Utc::now().date_naive();
        let oldest_day = today - TimeDelta::days(400);
        assert!(
            before
                .iter()
                .filter(|r| r.4.date_naive() < oldest_day)
                .count()
                > 100
        );

        // This one and those after it.
        let pending = conn.pending_migrations(MIGRATIONS).unwrap().len();
        let said = posterior_ok(&db.url, &["migrate"]);
        assert!(
            said.contains(&format!("{pending} migration(s) applied")),
            "{said}"
        );

        // Every row, equal to the last microsecond.
        let after = snapshot(&mut conn);
        assert_eq!(after.len(), before.len());
        assert!(after == before, "the rows changed");
        let partitioned: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'events'::regclass)",
        ))
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(partitioned, 1);
        // Every partition with its unique index, which identifies its rows for replication.
        let without_identity: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
              WHERE i.inhparent = 'events'::regclass AND c.relreplident <> 'i')",
        ))
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(without_identity, 0);
        // Each row in its day's partition, the default partition holding the days without one.
        let placed: Vec<Placed> = diesel::sql_query(
            "SELECT user_id, event_id, occurred_at, tableoid::regclass::text AS partition FROM events",
        )
        .load(&mut conn)
        .unwrap();
        let mut in_default = 0;
        for row in &placed {
            let day = row.occurred_at.date_naive();
            let expected = if day >= oldest_day && day <= today + TimeDelta::days(7) {
                partition_name(day)
            } else {
                in_default += 1;
                partitions::DEFAULT_PARTITION.to_string()
            };
            assert_eq!(
                row.partition, expected,
                "{} {} at {}",
                row.user_id, row.event_id, row.occurred_at
            );
        }
        assert!(in_default > 100);
        let days = partitions::daily_partitions(&mut conn).unwrap();
        for ahead in 0..=7 {
            assert!(days.contains(&(today + TimeDelta::days(ahead))));
        }
        assert!(days.len() > 350, "{} days", days.len());
        let assignments: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM assignments)",
        ))
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(assignments, 50);

        // The server runs on it, and a retry of a moved event is a duplicate.
        let app = spawn_app_on(db.clone()).await;
        let moved = before
            .iter()
            .find(|r| r.0 == "edge" && r.1 == "midnight")
            .unwrap();
        let retry = app
            .track(
                json!([{"event_id": "midnight", "user_id": "edge", "name": "open",
                           "timestamp": moved.4.to_rfc3339()}]),
            )
            .await;
        assert_eq!(retry.body, json!({"accepted": 0, "duplicates": 1}));
        let db = app.stop().await;

        // And back: the down migration restores the one table, every row in it (after the
        // later migrations are undone).
        let mut conn = db.connect();
        for _ in 0..pending {
            conn.revert_last_migration(MIGRATIONS).unwrap();
        }
        assert!(
            snapshot(&mut conn) == before,
            "the rows changed on the way back"
        );
        let partitioned: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_partitioned_table)",
        ))
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(partitioned, 0);
    }
}
