//! Shutdown: once `run_until_stopped` returns, no background loop of the engine is still
//! working (the key reload loop used to be left running on its own).

use crate::helpers::*;
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use std::time::Duration;

/// Connections of this test's database waiting on a lock.
fn lock_waiters(conn: &mut diesel::PgConnection, database: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = '{database}' AND wait_event_type = 'Lock'"
    ))
    .get_result::<Count>(conn)
    .unwrap()
    .n
}

#[tokio::test]
async fn no_background_loop_outlives_the_application() {
    let app = spawn_app().await;
    let engine = app.engine.clone();
    let db = app.db.clone();
    let late_key = "pst_client_committed-after-the-server-stopped";

    // Hold the key table, so that both reload loops (the snapshot's and the keys') are caught
    // in the middle of reading it; a key is added under the same lock.
    let mut holder = diesel::PgConnection::establish(&db.url).unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE; \
             INSERT INTO api_keys (key_hash, scope, label) VALUES ('{}', 'client', 'late');",
            posterior::engine::keys::hash_key(late_key)
        ))
        .unwrap();
    let mut watcher = diesel::PgConnection::establish(&db.url).unwrap();
    let mut waited = Duration::ZERO;
    while lock_waiters(&mut watcher, &db.name) < 2 {
        assert!(
            waited < Duration::from_secs(10),
            "the reload loops never read the key table"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }

    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the application stops while a reload waits on the database");

    // The reads waiting on the lock now complete. A loop still alive would apply what it read.
    holder.batch_execute("COMMIT").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        engine.authorize(late_key),
        None,
        "a background loop was still reloading keys after the application stopped"
    );
}
