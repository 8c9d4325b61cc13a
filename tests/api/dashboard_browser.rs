//! Just enough of a browser for the dashboard tests in their own files: reqwest's cookie store
//! keeps the cookies, redirects are not followed (the tests check them), forms are sent
//! url-encoded with the CSRF token of the page they came from.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;

/// A response as a browser sees it.
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of the first form field `csrf` on the page.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF token on the page: {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }

    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Whether the page shows an error beside the form field `field`.
    pub fn has_error_at(&self, field: &str) -> bool {
        self.body.contains(&format!(r#"id="{field}-error""#))
    }
}

pub struct Browser {
    address: String,
    http: reqwest::Client,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            address: app.address.clone(),
            http: reqwest::Client::builder()
                .no_proxy()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let response = request.send().await.expect("request sent");
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.address)))
            .await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(
            self.http
                .post(format!("{}{path}", self.address))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    /// Fills in the sign-in form with `key`, coming back to `/dashboard/experiments`.
    pub async fn sign_in_with(&self, key: &str) -> Page {
        let form = self.get("/dashboard/sign-in").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let csrf = form.csrf();
        self.post(
            "/dashboard/sign-in",
            &[
                ("csrf", &csrf),
                ("key", key),
                ("next", "/dashboard/experiments"),
            ],
        )
        .await
    }

    /// A browser signed in with the admin key.
    pub async fn signed_in(app: &TestApp) -> Browser {
        let browser = Browser::new(app);
        let page = browser.sign_in_with(ADMIN_KEY).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    /// Sends the form found at `form_path` to `action`, with its CSRF token and `fields`.
    pub async fn submit(&self, form_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_path).await.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }
}
