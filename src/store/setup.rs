//! Creating the database when it is missing, and running the embedded migrations.

use super::StoreError;
use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub fn connect(url: &str) -> Result<PgConnection, StoreError> {
    Ok(PgConnection::establish(&with_connect_timeout(url))?)
}

/// How long opening a connection may take before it counts as a failure (libpq's
/// `connect_timeout`), unless the URL sets its own: a database that does not answer then
/// costs a request a 503 after a few seconds, never a hang.
pub const CONNECT_TIMEOUT_SECS: u32 = 3;

/// The URL with `connect_timeout` added when it has none (URL form only; libpq's
/// `key=value` form is left as it is).
pub fn with_connect_timeout(url: &str) -> String {
    if !url.contains("://") || url.contains("connect_timeout=") {
        return url.to_string();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={CONNECT_TIMEOUT_SECS}")
}

/// Splits `postgres://host/dbname?opts` into (url of the `postgres` maintenance database, dbname).
fn maintenance_url(url: &str) -> Option<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://")? + 3;
    let slash = base[scheme_end..].rfind('/')? + scheme_end;
    let name = &base[slash + 1..];
    if name.is_empty() {
        return None;
    }
    let mut maintenance = format!("{}/postgres", &base[..slash]);
    if let Some(q) = query {
        maintenance.push('?');
        maintenance.push_str(q);
    }
    Some((maintenance, name.to_string()))
}

/// Connects, creating the database first if the server says it does not exist.
pub fn ensure_database(url: &str) -> Result<(), StoreError> {
    match PgConnection::establish(url) {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("does not exist") => {
            let (maintenance, name) = maintenance_url(url).ok_or_else(|| {
                StoreError::Unavailable(format!("cannot tell the database name in {url}"))
            })?;
            let mut conn = PgConnection::establish(&maintenance)?;
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            match diesel::sql_query(format!("CREATE DATABASE {quoted}")).execute(&mut conn) {
                Ok(_) => {
                    tracing::info!(database = %name, "created database");
                    Ok(())
                }
                // Another instance created it at the same moment.
                Err(diesel::result::Error::DatabaseError(_, info))
                    if info.message().contains("already exists") =>
                {
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs pending migrations under an advisory lock, so instances starting together don't race.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    const LOCK: i64 = 0x506f_7374_6572; // "Poster"
    diesel::sql_query(format!("SELECT pg_advisory_lock({LOCK})")).execute(conn)?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.iter().map(|m| m.to_string()).collect())
        .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")));
    diesel::sql_query(format!("SELECT pg_advisory_unlock({LOCK})")).execute(conn)?;
    result
}

#[cfg(test)]
mod tests {
    use super::maintenance_url;

    #[test]
    fn adds_a_connect_timeout_once() {
        use super::with_connect_timeout;
        assert_eq!(
            with_connect_timeout("postgres://h/db"),
            "postgres://h/db?connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=disable"),
            "postgres://h/db?sslmode=disable&connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=9"),
            "postgres://h/db?connect_timeout=9"
        );
    }

    #[test]
    fn finds_the_database_name() {
        assert_eq!(
            maintenance_url("postgres://postgres@127.0.0.1:5432/posterior"),
            Some((
                "postgres://postgres@127.0.0.1:5432/postgres".into(),
                "posterior".into()
            ))
        );
        assert_eq!(
            maintenance_url("postgres://u:p@h/db?sslmode=disable"),
            Some((
                "postgres://u:p@h/postgres?sslmode=disable".into(),
                "db".into()
            ))
        );
        assert_eq!(maintenance_url("postgres://h"), None);
    }
}
