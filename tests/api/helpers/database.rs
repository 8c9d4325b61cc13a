//! A database of its own for each test, and SQL against it to check what is really stored.

use diesel::Connection;
use std::sync::Arc;

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

    pub fn connect(&self) -> diesel::PgConnection {
        diesel::PgConnection::establish(&self.url).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        use diesel::RunQueryDsl;
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
