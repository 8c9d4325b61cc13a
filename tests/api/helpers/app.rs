//! The one way a test starts a server: in-process, on port 0, over its own database.

use super::{ADMIN_KEY, CLIENT_KEY, Page, Reply, TestDb, jsonl};
use posterior::Application;
use posterior::config::Settings;
use posterior::domain::Scope;
use posterior::engine::Actor;
use posterior::startup;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A server over a fresh database, with the test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server over a fresh database, with the test settings as `configure` leaves them.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    start(TestDb::create(), configure)
        .await
        .expect("application starts")
}

/// Another server over the same database (a second instance, or the same one restarted).
pub async fn spawn_app_on(db: Arc<TestDb>) -> TestApp {
    start(db, |_| {}).await.expect("application starts")
}

/// Another server over the same database, with the test settings as `configure` leaves them.
pub async fn spawn_app_on_with(db: Arc<TestDb>, configure: impl FnOnce(&mut Settings)) -> TestApp {
    start(db, configure).await.expect("application starts")
}

/// Why the server refuses to start with the test settings as `configure` leaves them.
pub async fn start_refused_with(configure: impl FnOnce(&mut Settings)) -> String {
    match start(TestDb::create(), configure).await {
        Ok(_) => panic!("the server started"),
        Err(error) => error.to_string(),
    }
}

async fn start(db: Arc<TestDb>, configure: impl FnOnce(&mut Settings)) -> anyhow::Result<TestApp> {
    let mut settings = Settings::new(db.url.clone());
    settings.bind = "127.0.0.1:0".into();
    settings.admin_key = Some(ADMIN_KEY.into());
    settings.client_key = Some(CLIENT_KEY.into());
    settings.workers = Some(2);
    settings.engine.pool_size = 4;
    settings.engine.refresh_interval = Duration::from_millis(200);
    configure(&mut settings);
    let app = Application::build(settings).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let app_handle = app.handle();
    let engine = app.engine().clone();
    let running = tokio::spawn(app.run_until_stopped());
    Ok(TestApp {
        address,
        http: http_client(),
        db,
        app_handle,
        engine,
        running,
    })
}

/// A client that goes straight to the test server (no proxy from the environment).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A running server and a client that speaks to it.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub db: Arc<TestDb>,
    pub app_handle: actix_web::dev::ServerHandle,
    pub engine: posterior::engine::Engine,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
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

    /// A GET whose body is text (exports, /metrics), with an optional key.
    pub async fn get_text(&self, path: &str, key: Option<&str>) -> Page {
        let mut request = self.http.get(format!("{}{path}", self.address));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        Page::from(request.send().await.expect("request sent")).await
    }

    /// The value of the /metrics line that starts with `series` (name and labels), if any.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        // A fresh connection: a pooled one may have been closed by the server's keep-alive
        // timeout while the test was busy elsewhere.
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let text = http
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .map(|n| n.parse().unwrap())
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

    /// Creates a stored key the way `posterior keys create` does; returns (secret, id).
    pub fn stored_key(&self, scope: Scope, name: &str, rate: Option<f64>) -> (String, i64) {
        let (secret, record) =
            startup::create_key_with(&self.db.url, &Actor::cli(), scope, name, rate).unwrap();
        (secret, record.id)
    }

    /// The audit log as JSON lines, oldest first; `query` adds to the query string
    /// ("&from=…").
    pub async fn audit_log(&self, query: &str) -> Vec<Value> {
        let download = self
            .get_text(
                &format!("/api/v1/audit?format=jsonl{query}"),
                Some(ADMIN_KEY),
            )
            .await;
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(download.headers["content-type"], "application/x-ndjson");
        jsonl(&download.body)
    }

    /// The single `n` of a `SELECT … AS n` against the test database (to check what is
    /// really stored).
    pub fn count(&self, sql: &str) -> i64 {
        use diesel::{QueryableByName, RunQueryDsl, sql_types::BigInt};
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        diesel::sql_query(sql)
            .get_result::<Count>(&mut self.db.connect())
            .unwrap()
            .n
    }

    /// A number from the test database: `sql` selects one row with a column `x`.
    pub fn float(&self, sql: &str) -> f64 {
        use diesel::{QueryableByName, RunQueryDsl, sql_types::Double};
        #[derive(QueryableByName)]
        struct Number {
            #[diesel(sql_type = Double)]
            x: f64,
        }
        diesel::sql_query(sql)
            .get_result::<Number>(&mut self.db.connect())
            .unwrap()
            .x
    }

    /// Runs statements against the test database (to set up what the API cannot).
    pub fn execute(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        self.db.connect().batch_execute(sql).unwrap();
    }
}
