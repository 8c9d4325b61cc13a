//! What the API answered: status, headers and JSON body.

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// A response with its status and JSON body (Null when the body is empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub(super) async fn from(response: Response) -> Reply {
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

    /// Checks that this is the 503 a write gets while the database cannot take it.
    pub fn assert_unavailable(&self) {
        assert_eq!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            self.body
        );
        assert!(self.headers.contains_key("retry-after"));
        assert_eq!(self.error_code(), "unavailable");
    }
}

/// The records of a JSON-lines text.
pub fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
