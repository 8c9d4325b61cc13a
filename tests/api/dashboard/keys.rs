//! The dashboard's keys page: keys created, shown once, listed without secrets, revoked.

use super::revoke_in_dashboard;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The status an assign with `key` gets.
async fn assign_as(app: &TestApp, key: &str) -> StatusCode {
    app.request(
        Method::POST,
        "/api/v1/assign",
        Some(key),
        Some(json!({"user_id": "u"})),
    )
    .await
    .status
}

#[tokio::test]
async fn keys_are_created_shown_once_listed_without_secrets_and_revoked_from_the_dashboard() {
    let app = spawn_app().await;
    let admin = Browser::signed_in(&app).await;
    let keys = admin.get("/dashboard/keys").await;
    assert_eq!(keys.status, StatusCode::OK);
    let csrf = keys.csrf();

    // Refused input keeps what was typed and creates nothing.
    let before = app.count("SELECT count(*) AS n FROM api_keys");
    for (scope, rate) in [("root", ""), ("client", "fast"), ("client", "-1")] {
        let refused = admin
            .post(
                "/dashboard/keys",
                &[
                    ("csrf", &csrf),
                    ("name", "bot"),
                    ("scope", scope),
                    ("rate_limit", rate),
                ],
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{scope} {rate}"
        );
    }
    let forged = admin
        .post(
            "/dashboard/keys",
            &[("csrf", "x"), ("name", "bot"), ("scope", "admin")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) AS n FROM api_keys"), before);

    let created = admin
        .post(
            "/dashboard/keys",
            &[
                ("csrf", &csrf),
                ("name", "ios app"),
                ("scope", "client"),
                ("rate_limit", "50"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let start = created
        .body
        .find("pst_client_")
        .expect("the secret is shown");
    let secret = created.body[start..start + 43].to_string();
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{secret}"
    );
    let id = app.count("SELECT max(id) AS n FROM api_keys");
    let stored: i64 = app.count(&format!(
        "SELECT count(*) AS n FROM api_keys WHERE id = {id} AND key_hash <> '{secret}' \
         AND length(key_hash) = 64 AND rate_limit = 50 AND label = 'ios app'"
    ));
    assert_eq!(stored, 1, "stored hashed, with its name and limit");
    assert_eq!(
        assign_as(&app, &secret).await,
        StatusCode::OK,
        "usable at once"
    );

    // Its use is recorded (off the request path, within a reload interval).
    eventually(|| async {
        app.count(&format!(
            "SELECT count(*) AS n FROM api_keys WHERE id = {id} AND last_used_at > now() - interval '1 minute'"
        )) == 1
    })
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM api_keys WHERE last_used_at IS NOT NULL"),
        1,
        "only the key that was used"
    );

    let listed = admin.get("/dashboard/keys").await;
    assert!(listed.body.contains("ios app"));
    let row_start = listed.body.find(&format!("id=\"key-{id}\"")).unwrap();
    let row = &listed.body[row_start..row_start + listed.body[row_start..].find("</tr>").unwrap()];
    assert!(!row.contains("never"), "last use shown: {row}");
    assert!(
        !listed.body.contains(&secret),
        "the secret is shown only once"
    );
    assert!(
        !listed
            .body
            .contains(&posterior::engine::keys::hash_key(&secret)),
        "nor its full hash"
    );

    // Revoking asks for confirmation first.
    let confirm = admin.get(&format!("/dashboard/keys/{id}/revoke")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let unconfirmed = admin
        .post(&format!("/dashboard/keys/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assign_as(&app, &secret).await, StatusCode::OK);
    let revoked = revoke_in_dashboard(&admin, &csrf, id).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(revoked.location(), "/dashboard/keys?done=revoked");
    assert_eq!(assign_as(&app, &secret).await, StatusCode::UNAUTHORIZED);

    // Both are in the audit log, by this dashboard session's key.
    let log = app.audit_log("").await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["key.create", "key.revoke"]);
    assert_eq!(log[0]["actor"], "dashboard:env:admin");
    assert_eq!(log[0]["target"], id.to_string());
    assert_eq!(log[0]["after"]["name"], "ios app");
    assert_eq!(log[0]["after"]["rate_limit"], 50.0);
    assert!(log[0]["after"].get("key_hash").is_none());
    assert_eq!(log[1]["before"]["revoked_at"], Value::Null);
    assert!(log[1]["after"]["revoked_at"].is_string());
}
