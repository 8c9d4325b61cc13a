//! Wiring: database preparation, the actix `App` (shared by `main` and the tests), and the
//! `Application` that runs the HTTP server beside the engine's background work.

use crate::config::Settings;
use crate::domain::{ApiKey, Scope};
use crate::engine::{Actor, Background, Engine, EngineError, keys};
use crate::store::{self, StoreError};
use crate::{api, dashboard};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;

/// Builds the actix application around an engine. One function for `main` and the tests.
pub fn create_app(
    engine: Engine,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // The body limit is configured (`Limits`); every extractor of bodies (JSON, forms) uses it.
    let payload = web::PayloadConfig::default().limit(engine.limits().max_body_bytes);
    App::new()
        .app_data(payload)
        .app_data(web::Data::new(engine))
        .configure(api::configure)
        .configure(dashboard::configure)
        .default_service(web::to(api::not_found))
        .wrap(actix_web::middleware::from_fn(api::observe::observe))
}

/// Creates the database if it is missing and runs the embedded migrations.
pub fn migrate(database_url: &str) -> Result<Vec<String>, StoreError> {
    store::ensure_database(database_url)?;
    let mut conn = store::connect(database_url)?;
    store::run_migrations(&mut conn)
}

/// Creates a key, stores its hash, and returns the key itself (to be shown once).
pub fn create_key(database_url: &str, scope: Scope, label: &str) -> Result<String, EngineError> {
    create_key_with(database_url, &Actor::cli(), scope, label, None).map(|(key, _)| key)
}

/// Creates a key with a name and an optional rate limit, recorded in the audit log as done by
/// `actor`; returns the key (to be shown once) and its record.
pub fn create_key_with(
    database_url: &str,
    actor: &Actor,
    scope: Scope,
    name: &str,
    rate_limit: Option<f64>,
) -> Result<(String, ApiKey), EngineError> {
    let key = keys::NewKey::new(scope, name, rate_limit)?;
    let mut conn = store::connect(database_url)?;
    keys::create_key_in(&mut conn, actor, key)
}

/// Revokes a key, recorded in the audit log as done by `actor`. Running servers refuse it
/// within their refresh interval.
pub fn revoke_key(database_url: &str, actor: &Actor, id: i64) -> Result<ApiKey, EngineError> {
    let mut conn = store::connect(database_url)?;
    keys::revoke_key_in(&mut conn, actor, id)
}

/// Keys from the environment must have at least this many characters. The failure throttle
/// slows guessing down but cannot make a short key safe; generated keys carry 190 bits.
pub const MIN_KEY_LENGTH: usize = 24;

/// A key given in the environment that is too short to be safe.
#[derive(Debug, thiserror::Error)]
#[error(
    "{variable} has {length} characters, fewer than {MIN_KEY_LENGTH}: it could be guessed. \
     Make a strong key with `posterior keys create --scope {scope}` (or any random string of \
     {MIN_KEY_LENGTH} characters or more)"
)]
pub struct WeakKey {
    pub variable: &'static str,
    pub scope: Scope,
    pub length: usize,
}

/// Refuses environment keys shorter than `MIN_KEY_LENGTH`.
fn check_key_strength(settings: &Settings) -> Result<(), WeakKey> {
    for (variable, scope, key) in [
        ("POSTERIOR_ADMIN_KEY", Scope::Admin, &settings.admin_key),
        ("POSTERIOR_CLIENT_KEY", Scope::Client, &settings.client_key),
    ] {
        let length = key.as_deref().map_or(usize::MAX, |k| k.chars().count());
        if length < MIN_KEY_LENGTH {
            return Err(WeakKey {
                variable,
                scope,
                length,
            });
        }
    }
    Ok(())
}

/// On a first start without keys in the environment, creates one key per scope and prints
/// it once: after that only its hash exists.
fn bootstrap_keys(settings: &Settings) -> Result<(), EngineError> {
    let mut conn = store::connect(&settings.engine.database_url)?;
    for (scope, from_env) in [
        (Scope::Admin, &settings.admin_key),
        (Scope::Client, &settings.client_key),
    ] {
        if from_env.is_none() && store::count_active_keys(&mut conn, scope)? == 0 {
            // Recorded in the audit log like any other key.
            let new = keys::NewKey::new(scope, "created at first start", None)?;
            let (key, _) = keys::create_key_in(&mut conn, &Actor::new("server"), new)?;
            println!("Created a {scope} key (shown only this once; store it safely): {key}");
        }
    }
    Ok(())
}

pub struct Application {
    port: u16,
    server: Server,
    engine: Engine,
    background: Background,
}

impl Application {
    /// Prepares the database, starts the engine and binds the listener (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        check_key_strength(&settings)?;
        settings
            .engine
            .limits
            .validate()
            .map_err(anyhow::Error::msg)?;
        settings
            .engine
            .auth_throttle
            .validate()
            .map_err(anyhow::Error::msg)?;
        crate::domain::validate_rate_limit(settings.engine.default_rate_limit)
            .map_err(|e| anyhow::anyhow!("POSTERIOR_RATE_LIMIT: {}", e.violation))?;
        let prepared = settings.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let applied = migrate(&prepared.engine.database_url)?;
            if !applied.is_empty() {
                tracing::info!(migrations = ?applied, "applied migrations");
            }
            // Today's event partition and the days ahead exist before the first event.
            crate::engine::create_event_partitions(&mut store::connect(
                &prepared.engine.database_url,
            )?)?;
            Ok(bootstrap_keys(&prepared)?)
        })
        .await??;

        let mut static_keys = Vec::new();
        if let Some(k) = &settings.admin_key {
            static_keys.push((k.clone(), Scope::Admin));
        }
        if let Some(k) = &settings.client_key {
            static_keys.push((k.clone(), Scope::Client));
        }
        let mut engine_settings = settings.engine.clone();
        engine_settings.static_keys = static_keys;
        let engine = Engine::start(engine_settings).await?;

        let listener = TcpListener::bind(&settings.bind)?;
        let port = listener.local_addr()?.port();
        let app_engine = engine.clone();
        let mut server =
            HttpServer::new(move || create_app(app_engine.clone())).listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        let server = server.run();

        let background = engine.start_background();
        tracing::info!(address = %settings.bind, port, "posterior is listening");
        Ok(Application {
            port,
            server,
            engine,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops the server gracefully (in-flight requests finish) from another task.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (by `handle().stop()` or a signal), then stops the background
    /// loops and lets the writer commit everything queued before returning.
    ///
    /// SIGTERM (and `handle().stop(true)`) is graceful: the listener closes, requests in
    /// flight finish (their writes are committed before they are answered), then the writer
    /// threads commit whatever is still queued and exit. SIGINT and SIGQUIT stop at once,
    /// but the writer still commits what was queued.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.background.stop().await;
        self.engine.shutdown().await;
        tracing::info!("posterior stopped");
        served
    }
}
