//! A webhook receiver the test starts: an actix server on port 0 that records every request
//! and answers the statuses it is told (then 200, or whatever `answer_always` says).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a delivery's body is JSON")
    }

    /// Checks the signature as a receiver would, with its own HMAC-SHA256: the hex digest of
    /// `"{timestamp}.{body}"` keyed with the secret, after `sha256=`.
    pub fn signed_with(&self, secret: &str) -> bool {
        let (Some(timestamp), Some(signature)) = (
            self.header("Posterior-Timestamp"),
            self.header("Posterior-Signature"),
        ) else {
            return false;
        };
        let Some(hex_digest) = signature.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(digest) = hex::decode(hex_digest) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        mac.verify_slice(&digest).is_ok()
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Statuses to answer first, in order.
    script: VecDeque<u16>,
    /// The status after the script.
    always: u16,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// A receiver that answers 200.
    pub async fn start() -> Receiver {
        Self::answering(&[]).await
    }

    /// A receiver that answers `first` in order, then 200.
    pub async fn answering(first: &[u16]) -> Receiver {
        let state = Arc::new(Mutex::new(State {
            received: Vec::new(),
            script: first.iter().copied().collect(),
            always: 200,
        }));
        let shared = web::Data::from(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
            handle,
        }
    }

    /// From now on, answers `status` (after what is left of the script).
    pub fn answer_always(&self, status: u16) {
        self.state.lock().unwrap().always = status;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until `n` requests came (at most 15 s), and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..300 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{n} deliveries expected within 15 s, got {}",
            self.received().len()
        );
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

async fn record(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    state.received.push(Received {
        headers: request
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
    });
    let status = state.script.pop_front().unwrap_or(state.always);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}
