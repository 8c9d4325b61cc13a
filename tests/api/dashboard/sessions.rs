//! Signing in and out of the dashboard: sessions, where sign-in leads, CSRF tokens, and what a
//! visitor without a session (or whose key was revoked) gets.

use super::{experiment_json, revoke_in_dashboard};
use crate::helpers::*;
use posterior::dashboard::query_encode;
use posterior::domain::Scope;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn unsigned_visitors_see_only_sign_in() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    for path in [
        "/dashboard/experiments",
        "/dashboard/new",
        "/dashboard/experiments/anything",
        "/dashboard/experiments/anything/edit",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            page.location(),
            format!("/dashboard/sign-in?next={}", query_encode(path))
        );
    }
    assert_eq!(browser.get("/").await.location(), "/dashboard/experiments");
    let post = browser
        .post("/dashboard/experiments", &[("key", "x")])
        .await;
    assert_eq!(post.status, StatusCode::SEE_OTHER);
    assert_eq!(post.location(), "/dashboard/sign-in");
    let sign_in = browser.get("/dashboard/sign-in").await;
    assert_eq!(sign_in.status, StatusCode::OK);
    assert!(
        sign_in
            .body
            .contains(r#"<label for="key">Admin key</label>"#)
    );
    assert!(!sign_in.body.contains("Sign out"));
    assert_eq!(
        sign_in.headers["cache-control"], "no-store",
        "pages are never cached"
    );
}

#[tokio::test]
async fn signing_in_opens_a_strict_http_only_session_and_signing_out_ends_it() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);

    for wrong in ["not-a-key", CLIENT_KEY] {
        let refused = browser.sign_in_with(wrong).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{wrong}");
        assert!(refused.body.contains("not an admin key"));
        assert!(refused.set_cookie("posterior_session").is_none());
    }

    let signed_in = browser.sign_in_with(ADMIN_KEY).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location(), "/dashboard/experiments");
    let cookie = signed_in.set_cookie("posterior_session").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let session = browser.cookie("posterior_session").unwrap();

    let list = browser.get("/dashboard/experiments").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Sign out"));

    // A tampered session is no session.
    let forger = Browser::new(&app);
    forger.set_cookie(
        "posterior_session",
        &session.replacen(|c: char| c.is_ascii_digit() && c != '9', "9", 1),
    );
    assert_eq!(
        forger.get("/dashboard/experiments").await.status,
        StatusCode::SEE_OTHER
    );

    // Signing out ends the session everywhere, even for a copy of the cookie.
    let csrf = list.csrf();
    let out = browser
        .post("/dashboard/sign-out", &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/dashboard/sign-in?signed_out=1");
    assert!(browser.cookie("posterior_session").is_none());
    let copy = Browser::new(&app);
    copy.set_cookie("posterior_session", &session);
    let after = copy.get("/dashboard/experiments").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/dashboard/sign-in"));

    // A second instance accepts sessions of the first (the secret is shared).
    let other = spawn_app_on(app.db.clone()).await;
    let mut browser = Browser::signed_in(&app).await;
    browser.visit(&other);
    assert_eq!(
        browser.get("/dashboard/experiments").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sign_in_brings_the_visitor_back_but_never_to_another_site() {
    let app = spawn_app().await;
    for (next, expected) in [
        (
            "/dashboard/experiments?status=running",
            "/dashboard/experiments?status=running",
        ),
        ("https://evil.example/", "/dashboard/experiments"),
        ("//evil.example/dashboard/", "/dashboard/experiments"),
    ] {
        let browser = Browser::new(&app);
        let csrf = browser.get("/dashboard/sign-in").await.csrf();
        let page = browser
            .post(
                "/dashboard/sign-in",
                &[("csrf", &csrf), ("key", ADMIN_KEY), ("next", next)],
            )
            .await;
        assert_eq!(page.location(), expected, "{next}");
    }
}

#[tokio::test]
async fn forms_without_this_sessions_csrf_token_are_refused() {
    let app = spawn_app().await;
    app.create_experiment(experiment_body("guarded", "ab"))
        .await;
    let browser = Browser::signed_in(&app).await;
    let other = Browser::signed_in(&app).await;
    let foreign = other.csrf().await;

    for token in ["", "0000", foreign.as_str()] {
        let start = browser
            .post("/dashboard/experiments/guarded/start", &[("csrf", token)])
            .await;
        assert_eq!(start.status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(start.body.contains("another site"));
        let create = browser
            .post(
                "/dashboard/experiments",
                &[
                    ("csrf", token),
                    ("key", "sneaky"),
                    ("name", "Sneaky"),
                    ("dimension", "content"),
                    ("kind", "ab"),
                    ("goal_event", "buy"),
                    ("goal_metric", "conversion"),
                    ("variant-0-key", "a"),
                    ("variant-1-key", "b"),
                ],
            )
            .await;
        assert_eq!(create.status, StatusCode::FORBIDDEN);
        let out = browser
            .post("/dashboard/sign-out", &[("csrf", token)])
            .await;
        assert_eq!(out.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        experiment_json(&app, "guarded").await.body["status"],
        "draft"
    );
    assert_eq!(
        experiment_json(&app, "sneaky").await.status,
        StatusCode::NOT_FOUND
    );

    // Sign-in has its own token, tied to a cookie the form's page set.
    let stranger = Browser::new(&app);
    let forged = stranger
        .post(
            "/dashboard/sign-in",
            &[("csrf", &foreign), ("key", ADMIN_KEY)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.set_cookie("posterior_session").is_none());
}

#[tokio::test]
async fn dashboard_pages_send_visitors_without_a_session_to_sign_in() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("guarded", "ab"))
        .await;
    let browser = Browser::new(&app);
    for path in [
        "/dashboard/experiments",
        "/dashboard/new",
        "/dashboard/experiments/guarded",
        "/dashboard/experiments/guarded/edit",
        "/dashboard/experiments/guarded/stop",
        "/dashboard/keys",
        "/dashboard/keys/1/revoke",
        "/dashboard/audit",
        "/dashboard/audit/export?format=csv",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "GET {path}");
        assert!(
            page.location().starts_with("/dashboard/sign-in?next="),
            "GET {path}: {}",
            page.location()
        );
    }
    for path in [
        "/dashboard/experiments",
        "/dashboard/experiments/guarded/edit",
        "/dashboard/experiments/guarded/start",
        "/dashboard/experiments/guarded/pause",
        "/dashboard/experiments/guarded/stop",
        "/dashboard/keys",
        "/dashboard/keys/1/revoke",
        "/dashboard/sign-out",
    ] {
        let page = browser.post(path, &[("confirm", "yes")]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "POST {path}");
        assert_eq!(page.location(), "/dashboard/sign-in", "POST {path}");
    }
    let e = app
        .admin(Method::GET, "/api/v1/experiments/guarded", None)
        .await;
    assert_eq!(e.body["status"], "running", "nothing changed");
    // A client key opens no session.
    let client = Browser::new(&app);
    let csrf = client.get("/dashboard/sign-in").await.csrf();
    let refused = client
        .post(
            "/dashboard/sign-in",
            &[("csrf", &csrf), ("key", CLIENT_KEY)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_dashboard_session_ends_when_its_key_is_revoked() {
    let app = spawn_app().await;
    let (key, id) = app.stored_key(Scope::Admin, "marketer", None);
    app.engine.refresh().await.unwrap();
    let mut marketer = Browser::signed_in_with(&app, &key).await;
    assert_eq!(
        marketer.get("/dashboard/experiments").await.status,
        StatusCode::OK
    );

    let mut admin = Browser::signed_in(&app).await;
    let csrf = admin.get("/dashboard/keys").await.csrf();
    let revoked = revoke_in_dashboard(&admin, &csrf, id).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);

    let after = marketer.get("/dashboard/experiments").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/dashboard/sign-in"));
    // ... on other instances too.
    let other = spawn_app_on(app.db.clone()).await;
    marketer.visit(&other);
    assert_eq!(
        marketer.get("/dashboard/keys").await.status,
        StatusCode::SEE_OTHER
    );
    admin.visit(&other);
    assert_eq!(admin.get("/dashboard/keys").await.status, StatusCode::OK);
}
