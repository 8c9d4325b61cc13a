//! The experiments list.

use crate::helpers::*;

#[tokio::test]
async fn the_list_filters_by_status() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("live-one", "bandit"))
        .await;
    app.create_experiment(experiment_body("draft-one", "ab"))
        .await;
    let browser = Browser::signed_in(&app).await;
    let all = browser.get("/dashboard/experiments").await;
    assert!(all.body.contains(r#"id="experiment-live-one""#));
    assert!(all.body.contains(r#"id="experiment-draft-one""#));
    let running = browser.get("/dashboard/experiments?status=running").await;
    assert!(running.body.contains(r#"id="experiment-live-one""#));
    assert!(!running.body.contains(r#"id="experiment-draft-one""#));
    assert!(running.body.contains(r#"aria-current="page">running"#));
    let stopped = browser.get("/dashboard/experiments?status=stopped").await;
    assert!(stopped.body.contains("No experiment has this status."));
}
