//! A browser for the dashboard tests: reqwest's cookie store keeps the cookies, redirects are
//! not followed (the tests check them).

use super::{ADMIN_KEY, TestApp, html};
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use std::sync::Arc;
use std::time::Duration;

/// A response as a browser sees it: the body as text.
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub(super) async fn from(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    /// Where a redirect points ("" when it is not one).
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token of the page's first form.
    pub fn csrf(&self) -> String {
        html::attribute_after(&self.body, r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no CSRF token on the page: {}", self.body))
    }

    /// Checks that a form came back refused (422) with an error beside `field`.
    pub fn assert_error_at(&self, field: &str) {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            self.body
        );
        assert!(
            self.body.contains(&format!(r#"id="{field}-error""#)),
            "no error beside {field}: {}",
            self.body
        );
    }

    /// The `Set-Cookie` header of the cookie `name`, if this response sets it.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }
}

pub struct Browser {
    address: String,
    http: reqwest::Client,
    jar: Arc<Jar>,
}

impl Browser {
    /// A browser with no cookies yet, pointed at `app`.
    pub fn new(app: &TestApp) -> Browser {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .no_proxy()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            // The render-time test's page is large and a debug build is slow.
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Browser {
            address: app.address.clone(),
            http,
            jar,
        }
    }

    /// A browser signed in with the admin key.
    pub async fn signed_in(app: &TestApp) -> Browser {
        Browser::signed_in_with(app, ADMIN_KEY).await
    }

    /// A browser signed in with `key` (an admin key).
    pub async fn signed_in_with(app: &TestApp, key: &str) -> Browser {
        let browser = Browser::new(app);
        let page = browser.sign_in_with(key).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    /// Fills in the sign-in form with `key`; the answer to the form.
    pub async fn sign_in_with(&self, key: &str) -> Page {
        let form = self.get("/dashboard/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
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

    /// Points this browser, cookies and all, at another instance.
    pub fn visit(&mut self, app: &TestApp) {
        self.address = app.address.clone();
    }

    pub async fn get(&self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.address));
        Page::from(request.send().await.expect("request sent")).await
    }

    /// A GET that presents `key` as well as this browser's cookies.
    pub async fn get_with_key(&self, path: &str, key: &str) -> Page {
        let request = self
            .http
            .get(format!("{}{path}", self.address))
            .bearer_auth(key);
        Page::from(request.send().await.expect("request sent")).await
    }

    /// Submits a form (`application/x-www-form-urlencoded`).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(format!("{}{path}", self.address)).form(form);
        Page::from(request.send().await.expect("request sent")).await
    }

    /// The CSRF token of a signed-in page.
    pub async fn csrf(&self) -> String {
        self.get("/dashboard/experiments").await.csrf()
    }

    /// The value of the cookie `name` the browser would send.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.jar.cookies(&self.url())?;
        header
            .to_str()
            .unwrap()
            .split("; ")
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value.to_string())
    }

    /// Puts a cookie in the jar as if the server had set it (a forged or copied one).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/"), &self.url());
    }

    fn url(&self) -> reqwest::Url {
        self.address.parse().unwrap()
    }
}
