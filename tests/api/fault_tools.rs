//! Tools for the fault tests: a TCP proxy in front of PostgreSQL that can cut or hold the
//! traffic (so a test can take "the database" away without stopping the PostgreSQL the other
//! tests share), and the real `posterior` binary run as a child process (so a test can
//! SIGKILL or SIGTERM it).

use crate::helpers::{ADMIN_KEY, CLIENT_KEY, TestDb, http_client};
use reqwest::StatusCode;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const OPEN: u8 = 0;
/// Live connections are dropped and new ones are closed as soon as they are accepted.
const CUT: u8 = 1;
/// Bytes are read but not passed on until the proxy opens again (a database that hangs).
const HELD: u8 = 2;

struct ProxyState {
    mode: AtomicU8,
    /// Both ends of every live connection, to shut them down on a cut.
    live: Mutex<Vec<TcpStream>>,
    /// Bytes read while the proxy held them.
    held_bytes: AtomicU64,
    closed: AtomicBool,
}

/// A TCP proxy on a free port in front of the test PostgreSQL server.
pub struct PgProxy {
    pub port: u16,
    state: Arc<ProxyState>,
}

/// `host:port` of the PostgreSQL server the tests use.
fn upstream() -> String {
    let server = std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let rest = server.split_once("://").map_or(server.as_str(), |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap().to_string()
}

impl PgProxy {
    pub fn start() -> PgProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState {
            mode: AtomicU8::new(OPEN),
            live: Mutex::new(Vec::new()),
            held_bytes: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        let accept_state = state.clone();
        let upstream = upstream();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept_state.closed.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if accept_state.mode.load(Ordering::SeqCst) == CUT {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut live = accept_state.live.lock().unwrap();
                    live.push(client.try_clone().unwrap());
                    live.push(server.try_clone().unwrap());
                }
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let state = accept_state.clone();
                    std::thread::spawn(move || pipe(from, to, &state));
                }
            }
        });
        PgProxy { port, state }
    }

    /// The database URL `url`, through this proxy.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_once('/').unwrap();
        let user = authority
            .rsplit_once('@')
            .map_or(String::new(), |(u, _)| format!("{u}@"));
        format!("{scheme}://{user}127.0.0.1:{}/{path}", self.port)
    }

    /// Takes the database away: every live connection is dropped, new ones are refused.
    pub fn cut(&self) {
        self.state.mode.store(CUT, Ordering::SeqCst);
        for s in self.state.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The database hangs: connections stay up, but nothing passes.
    pub fn hold(&self) {
        self.state.held_bytes.store(0, Ordering::SeqCst);
        self.state.mode.store(HELD, Ordering::SeqCst);
    }

    /// The database is back.
    pub fn open(&self) {
        self.state.mode.store(OPEN, Ordering::SeqCst);
    }

    pub fn held_bytes(&self) -> u64 {
        self.state.held_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, state: &ProxyState) {
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.mode.load(Ordering::SeqCst) == HELD {
            state.held_bytes.fetch_add(n as u64, Ordering::SeqCst);
        }
        loop {
            match state.mode.load(Ordering::SeqCst) {
                OPEN => break,
                CUT => {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A free TCP port on the loopback interface (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `posterior` binary serving on a free port, as a child process.
pub struct ServerProcess {
    pub child: Child,
    pub port: u16,
    pub address: String,
    pub http: reqwest::Client,
}

impl ServerProcess {
    /// Starts `posterior serve` over `database_url` and waits until it answers.
    pub async fn start(database_url: &str, name: &str) -> ServerProcess {
        let port = free_port();
        let log_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("faults");
        std::fs::create_dir_all(&log_dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(log_dir.join(format!("{name}.log")))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_posterior"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("POSTERIOR_BIND", format!("127.0.0.1:{port}"))
            .env("POSTERIOR_ADMIN_KEY", ADMIN_KEY)
            .env("POSTERIOR_CLIENT_KEY", CLIENT_KEY)
            .env("POSTERIOR_WORKERS", "2")
            .env("POSTERIOR_POOL_SIZE", "4")
            .env("POSTERIOR_REFRESH_MS", "200")
            .env("POSTERIOR_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the posterior binary starts");
        let mut server = ServerProcess {
            child,
            port,
            address: format!("http://127.0.0.1:{port}"),
            http: http_client(),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited at start-up with {status} (log: {name}.log)");
            }
            let up = server
                .http
                .get(format!("{}/healthz", server.address))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if up {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not come up in 90 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM (the polite stop orchestrators send).
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.pid()).unwrap();
        // SAFETY: kill(2) with a pid of our own child; no memory is involved.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM not delivered");
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// (user, variant key) of every assignment stored in `db`.
pub fn stored_assignments(db: &TestDb) -> std::collections::HashMap<String, String> {
    use diesel::{QueryableByName, RunQueryDsl, sql_types::Text};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        user_id: String,
        #[diesel(sql_type = Text)]
        variant: String,
    }
    let mut conn = db.connect();
    diesel::sql_query(
        "SELECT a.user_id, v.key AS variant FROM assignments a JOIN variants v ON v.id = a.variant_id",
    )
    .load::<Row>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|r| (r.user_id, r.variant))
    .collect()
}

/// (user, event id) of every event stored in `db`.
pub fn stored_events(db: &TestDb) -> std::collections::HashSet<(String, String)> {
    use diesel::{QueryableByName, RunQueryDsl, sql_types::Text};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        user_id: String,
        #[diesel(sql_type = Text)]
        event_id: String,
    }
    let mut conn = db.connect();
    diesel::sql_query("SELECT user_id, event_id FROM events")
        .load::<Row>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| (r.user_id, r.event_id))
        .collect()
}

/// Whether the statistics equal a rebuild from the raw assignment rows (users, conversions,
/// value sums and sums of squares per variant, in the totals, the hourly table and the
/// per-context table of contextual experiments).
/// Returns the variants that disagree, as text, for the assertion message.
pub fn aggregate_mismatches(db: &TestDb) -> Vec<String> {
    use diesel::{QueryableByName, RunQueryDsl, sql_types::Text};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        mismatch: String,
    }
    let mut conn = db.connect();
    let mut out = Vec::new();
    // (table, key, which assignments it sums)
    for (table, key, rows) in [
        ("variant_stats", "variant_id::text", "TRUE"),
        ("period_stats", "variant_id::text", "TRUE"),
        (
            "context_stats",
            "variant_id || '/' || context_key",
            "context_key IS NOT NULL",
        ),
    ] {
        let sql = format!(
            "WITH r AS (SELECT {key} AS k, count(*)::int8 AS users, count(converted_at)::int8 AS conversions, \
                        coalesce(sum(value), 0) AS value_sum, coalesce(sum(value * value), 0) AS value_sum_sq \
                        FROM assignments WHERE {rows} GROUP BY 1), \
                  s AS (SELECT {key} AS k, sum(users)::int8 AS users, sum(conversions)::int8 AS conversions, \
                        sum(value_sum) AS value_sum, sum(value_sum_sq) AS value_sum_sq FROM {table} GROUP BY 1) \
             SELECT '{table} ' || coalesce(r.k, s.k) || ': rows say ' || \
                    coalesce(r.users, 0) || '/' || coalesce(r.conversions, 0) || '/' || coalesce(r.value_sum, 0) || '/' || coalesce(r.value_sum_sq, 0) || \
                    ', statistics say ' || coalesce(s.users, 0) || '/' || coalesce(s.conversions, 0) || '/' || coalesce(s.value_sum, 0) || '/' || coalesce(s.value_sum_sq, 0) AS mismatch \
             FROM r FULL JOIN s ON r.k = s.k \
             WHERE coalesce(r.users, 0) <> coalesce(s.users, 0) \
                OR coalesce(r.conversions, 0) <> coalesce(s.conversions, 0) \
                OR abs(coalesce(r.value_sum, 0) - coalesce(s.value_sum, 0)) > 1e-6 \
                OR abs(coalesce(r.value_sum_sq, 0) - coalesce(s.value_sum_sq, 0)) > 1e-6"
        );
        out.extend(
            diesel::sql_query(sql)
                .load::<Row>(&mut conn)
                .unwrap()
                .into_iter()
                .map(|r| r.mismatch),
        );
    }
    out
}
