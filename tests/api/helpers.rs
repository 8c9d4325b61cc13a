//! `spawn_app()`: a server on port 0 over a fresh database, and a client that speaks to it.

use posterior::Application;
use posterior::config::Settings;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";
pub const CLIENT_KEY: &str = "test-client-key-0123456789abcdef";

/// A database of its own for one test, dropped when the test is done.
pub struct TestDb {
    pub name: String,
    pub url: String,
    server_url: String,
}

impl TestDb {
    pub fn create() -> Arc<TestDb> {
        let server_url = std::env::var("TEST_DATABASE_SERVER")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("posterior_test_{:016x}", rand::random::<u64>());
        // The server creates the database itself when it starts (as it does in production).
        Arc::new(TestDb {
            url: format!("{server_url}/{name}"),
            name,
            server_url,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        use diesel::{Connection, RunQueryDsl};
        if let Ok(mut conn) =
            diesel::PgConnection::establish(&format!("{}/postgres", self.server_url))
        {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub db: Arc<TestDb>,
    pub app_handle: actix_web::dev::ServerHandle,
    pub engine: posterior::engine::Engine,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub fn test_settings(db: &TestDb) -> Settings {
    let mut settings = Settings::new(db.url.clone());
    settings.bind = "127.0.0.1:0".into();
    settings.admin_key = Some(ADMIN_KEY.into());
    settings.client_key = Some(CLIENT_KEY.into());
    settings.workers = Some(2);
    settings.pool_size = 4;
    settings.refresh_interval = Duration::from_millis(200);
    settings
}

/// A server over a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDb::create()).await
}

/// Another server over the same database (a second instance, or the same one restarted).
pub async fn spawn_app_on(db: Arc<TestDb>) -> TestApp {
    spawn_with(test_settings(&db), db).await
}

pub async fn spawn_with(settings: Settings, db: Arc<TestDb>) -> TestApp {
    let app = Application::build(settings)
        .await
        .expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let app_handle = app.handle();
    let engine = app.engine().clone();
    let running = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    TestApp {
        address,
        http,
        db,
        app_handle,
        engine,
        running,
    }
}

/// A response with its status and JSON body (Null when the body is empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn from(response: Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The error code of an error reply, checking the error shape on the way.
    pub fn error_code(&self) -> &str {
        assert!(
            self.body["error"]["message"].is_string(),
            "error without a message: {:?}",
            self.body
        );
        self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error reply: {:?}", self.body))
    }
}

impl TestApp {
    /// Stops the server gracefully and waits until the writer has committed everything.
    pub async fn stop(self) -> Arc<TestDb> {
        self.app_handle.stop(true).await;
        self.running.await.unwrap().unwrap();
        self.db
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.address));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::from(request.send().await.expect("request sent")).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: &'static [u8],
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request(method, path, Some(ADMIN_KEY), body).await
    }

    pub async fn create_experiment(&self, body: Value) -> Reply {
        self.admin(Method::POST, "/api/v1/experiments", Some(body))
            .await
    }

    /// Creates and starts an experiment, panicking if either fails.
    pub async fn running_experiment(&self, body: Value) -> Value {
        let key = body["key"].as_str().unwrap().to_string();
        let created = self.create_experiment(body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let started = self
            .admin(
                Method::POST,
                &format!("/api/v1/experiments/{key}/start"),
                None,
            )
            .await;
        assert_eq!(started.status, StatusCode::OK, "{:?}", started.body);
        started.body
    }

    pub async fn assign(&self, body: Value) -> Reply {
        self.request(Method::POST, "/api/v1/assign", Some(CLIENT_KEY), Some(body))
            .await
    }

    /// The variant the user gets in `experiment`, or None.
    pub async fn variant_of(
        &self,
        user: &str,
        experiment: &str,
        attributes: Value,
    ) -> Option<String> {
        let reply = self
            .assign(json!({"user_id": user, "attributes": attributes, "experiments": [experiment]}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        let list = reply.body["assignments"].as_array().unwrap();
        list.iter()
            .find(|a| a["experiment"] == experiment)
            .map(|a| a["variant"].as_str().unwrap().to_string())
    }

    pub async fn track(&self, events: Value) -> Reply {
        self.request(
            Method::POST,
            "/api/v1/track",
            Some(CLIENT_KEY),
            Some(json!({"events": events})),
        )
        .await
    }

    pub async fn results(&self, key: &str) -> Value {
        let reply = self
            .admin(
                Method::GET,
                &format!("/api/v1/experiments/{key}/results"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.body
    }

    /// Runs a query against the test database (to check what is really stored).
    pub fn count(&self, sql: &str) -> i64 {
        count_in(&self.db, sql)
    }
}

impl TestApp {
    /// Runs statements against the test database (to set up what the API cannot).
    pub fn execute(&self, sql: &str) {
        use diesel::{Connection, connection::SimpleConnection};
        let mut conn = diesel::PgConnection::establish(&self.db.url).unwrap();
        conn.batch_execute(sql).unwrap();
    }
}

pub fn count_in(db: &TestDb, sql: &str) -> i64 {
    use diesel::{Connection, QueryableByName, RunQueryDsl, sql_types::BigInt};
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = diesel::PgConnection::establish(&db.url).unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

/// A two-variant experiment body; `kind` is "ab" or "bandit".
pub fn experiment_body(key: &str, kind: &str) -> Value {
    json!({
        "key": key,
        "name": format!("Experiment {key}"),
        "dimension": "content",
        "kind": kind,
        "variants": [
            {"key": "a", "payload": {"text": "Hello"}},
            {"key": "b", "payload": {"text": "Hi there"}}
        ],
        "goal": {"event": "purchase", "metric": "conversion"}
    })
}

/// Waits until `check` holds (instances see each other's changes within a refresh interval).
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 5 s");
}
