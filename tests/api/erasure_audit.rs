//! The audit entry of an erasure is written in the erasure's own transaction: if it cannot be
//! written, nothing is erased (and a crash between the two cannot lose it).

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_erasure_that_cannot_be_audited_erases_nothing() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    app.assign(json!({"user_id": "u-erase"})).await;
    app.track(json!([{"event_id": "e-1", "user_id": "u-erase", "name": "purchase"}]))
        .await;
    // This database refuses every new audit entry.
    app.execute(
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN RAISE EXCEPTION 'audit log refused'; END $$; \
         CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
           FOR EACH ROW EXECUTE FUNCTION refuse_audit();",
    );

    let refused = app
        .admin(Method::DELETE, "/api/v1/users/u-erase", None)
        .await;
    assert!(refused.status.is_server_error(), "{refused:?}");
    let kept = |table: &str| {
        app.count(&format!(
            "SELECT count(*) AS n FROM {table} WHERE user_id = 'u-erase'"
        ))
    };
    assert_eq!(kept("assignments"), 1, "erased without an audit entry");
    assert_eq!(kept("events"), 1, "erased without an audit entry");

    // Once the log takes entries again, the erasure and its entry go through together.
    app.execute("DROP TRIGGER refuse_audit ON audit_log;");
    let erased = app
        .admin(Method::DELETE, "/api/v1/users/u-erase", None)
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{erased:?}");
    assert_eq!(kept("assignments"), 0);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'user.erase' \
             AND target = 'user-sha256:' || encode(sha256('u-erase'), 'hex') \
             AND after->>'assignments' = '1'"
        ),
        1
    );
}
