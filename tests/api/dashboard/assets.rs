//! The stylesheet and the script.

use crate::helpers::html::attribute_after;
use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn stylesheet_and_script_are_served_for_a_year_under_hashed_names() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let sign_in = browser.get("/dashboard/sign-in").await;
    for marker in [r#"rel="stylesheet" href=""#, r#"<script src=""#] {
        let path = attribute_after(&sign_in.body, marker).unwrap();
        assert!(path.starts_with("/static/"), "{path}");
        let asset = browser.get(&path).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert_eq!(
            asset.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(!asset.body.is_empty());
    }
    assert_eq!(
        browser.get("/static/style.000000000000.css").await.status,
        StatusCode::NOT_FOUND
    );
}
