//! The webhooks page: create (the secret shown once), the deliveries with their attempts,
//! delete; refused input creates nothing.

use super::delivery::fast;
use super::receiver::Receiver;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use std::time::Duration;

#[tokio::test]
async fn the_webhooks_page_creates_lists_deliveries_with_attempts_and_deletes() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::answering(&[500]).await;
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/webhooks").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"href="/dashboard/webhooks" aria-current="page""#)
    );
    assert!(page.body.contains("No webhooks yet."));
    let csrf = page.csrf();

    // Refused input comes back as typed, and nothing is created.
    for form in [
        vec![
            ("csrf", csrf.as_str()),
            ("url", "ftp://x.example/"),
            ("event", "experiment.started"),
        ],
        vec![("csrf", csrf.as_str()), ("url", receiver.url.as_str())],
    ] {
        let refused = browser.post("/dashboard/webhooks", &form).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}");
    }
    let forged = browser
        .post(
            "/dashboard/webhooks",
            &[
                ("csrf", "x"),
                ("url", &receiver.url),
                ("event", "experiment.started"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) AS n FROM webhooks"), 0);

    let created = browser
        .post(
            "/dashboard/webhooks",
            &[
                ("csrf", &csrf),
                ("url", &receiver.url),
                ("event", "experiment.started"),
                ("event", "experiment.stopped"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let secret = created
        .body
        .split(r#"<code id="new-secret">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret is shown")
        .to_string();
    assert!(secret.starts_with("whsec_"));
    let id = app.count("SELECT max(id) AS n FROM webhooks");

    app.running_experiment(experiment_body("paged", "ab")).await;
    let got = receiver.wait_for(2).await;
    assert!(got[1].signed_with(&secret));

    // The page lists the webhook, its delivery, and both attempts; never the secret.
    let mut page = browser.get("/dashboard/webhooks").await;
    for _ in 0..100 {
        if page.body.contains("delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        page = browser.get("/dashboard/webhooks").await;
    }
    assert!(page.body.contains(&format!(r#"id="webhook-{id}""#)));
    assert!(page.body.contains(&receiver.url));
    assert!(page.body.contains("experiment.stopped"));
    assert!(page.body.contains("delivered"), "{}", page.body);
    assert!(
        page.body.contains(r#"data-field="attempts">2<"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("HTTP 500"));
    assert!(page.body.contains("HTTP 200"));
    assert!(!page.body.contains(&secret));

    let deleted = browser
        .post(
            &format!("/dashboard/webhooks/{id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.location(), "/dashboard/webhooks?done=deleted");
    let list = app.admin(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list.body["webhooks"].as_array().unwrap().len(), 0);
    let actions: Vec<String> = app
        .audit_log("")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .filter(|a| a.starts_with("webhook."))
        .collect();
    assert_eq!(actions, ["webhook.create", "webhook.delete"]);
    receiver.stop().await;
}
