//! Keys given in the environment must be long enough not to be guessed: the server refuses to
//! start with a shorter one, and says how to make a strong key.

use crate::helpers::*;

#[tokio::test]
async fn a_short_environment_key_stops_the_start() {
    let short = "x".repeat(23);
    let admin_short = start_refused_with(|settings| settings.admin_key = Some(short.clone())).await;
    let client_short =
        start_refused_with(|settings| settings.client_key = Some(short.clone())).await;
    for (variable, message) in [
        ("POSTERIOR_ADMIN_KEY", admin_short),
        ("POSTERIOR_CLIENT_KEY", client_short),
    ] {
        assert!(message.contains(variable), "{message}");
        assert!(message.contains("posterior keys create"), "{message}");
    }

    // 24 characters are enough.
    let app = spawn_app_with(|settings| {
        settings.admin_key = Some("a".repeat(24));
        settings.client_key = Some("c".repeat(24));
    })
    .await;
    assert_eq!(
        app.get_text("/healthz", None).await.status,
        reqwest::StatusCode::OK
    );
}
