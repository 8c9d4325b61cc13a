//! Keys given in the environment must be long enough not to be guessed: the server refuses to
//! start with a shorter one, and says how to make a strong key.

use crate::helpers::*;
use posterior::Application;

#[tokio::test]
async fn a_short_environment_key_stops_the_start() {
    let db = TestDb::create();
    let short = "x".repeat(23);
    for (variable, admin, client) in [
        (
            "POSTERIOR_ADMIN_KEY",
            Some(short.clone()),
            Some(CLIENT_KEY.to_string()),
        ),
        (
            "POSTERIOR_CLIENT_KEY",
            Some(ADMIN_KEY.to_string()),
            Some(short.clone()),
        ),
    ] {
        let mut settings = test_settings(&db);
        settings.admin_key = admin;
        settings.client_key = client;
        let Err(refused) = Application::build(settings).await else {
            panic!("started with a 23-character {variable}");
        };
        let message = refused.to_string();
        assert!(message.contains(variable), "{message}");
        assert!(message.contains("posterior keys create"), "{message}");
    }

    // 24 characters are enough.
    let mut settings = test_settings(&db);
    settings.admin_key = Some("a".repeat(24));
    settings.client_key = Some("c".repeat(24));
    let app = spawn_with(settings, db).await;
    app.stop().await;
}
