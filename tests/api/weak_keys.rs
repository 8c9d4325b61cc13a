//! Keys given in the environment must be long enough not to be guessed: the server refuses to
//! start with a shorter one, and says how to make a strong key.

use crate::helpers::{ADMIN_KEY, CLIENT_KEY, TestDb};
use posterior::Application;
use posterior::config::Settings;

fn with_keys(db: &TestDb, admin: &str, client: &str) -> Settings {
    let mut settings = Settings::new(db.url.clone());
    settings.bind = "127.0.0.1:0".into();
    settings.workers = Some(1);
    settings.engine.pool_size = 2;
    settings.admin_key = Some(admin.into());
    settings.client_key = Some(client.into());
    settings
}

#[tokio::test]
async fn a_short_environment_key_stops_the_start() {
    let db = TestDb::create();
    let short = "x".repeat(23);
    for (variable, admin, client) in [
        ("POSTERIOR_ADMIN_KEY", short.as_str(), CLIENT_KEY),
        ("POSTERIOR_CLIENT_KEY", ADMIN_KEY, short.as_str()),
    ] {
        let Err(refused) = Application::build(with_keys(&db, admin, client)).await else {
            panic!("started with a 23-character {variable}");
        };
        let message = refused.to_string();
        assert!(message.contains(variable), "{message}");
        assert!(message.contains("posterior keys create"), "{message}");
    }

    // 24 characters are enough.
    let app = Application::build(with_keys(&db, &"a".repeat(24), &"c".repeat(24)))
        .await
        .expect("starts with 24-character keys");
    let server = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    server.stop(true).await;
    running.await.unwrap().unwrap();
}
