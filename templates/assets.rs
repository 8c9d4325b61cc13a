//! The stylesheet and script the pages link to, embedded in the binary under a path that
//! contains a hash of their content: browsers may keep them for a year, and a new build
//! changes the path. (The dashboard serves them.)

use std::sync::LazyLock;

pub struct Asset {
    pub path: String,
    pub content_type: &'static str,
    pub body: &'static str,
}

fn asset(stem: &str, extension: &str, content_type: &'static str, body: &'static str) -> Asset {
    let hash = xxhash_rust::xxh3::xxh3_64(body.as_bytes());
    Asset {
        path: format!("/static/{stem}.{:012x}.{extension}", hash >> 16),
        content_type,
        body,
    }
}

pub static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "style",
        "css",
        "text/css; charset=utf-8",
        include_str!("../static/style.css"),
    )
});

pub static SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "dashboard",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../static/dashboard.js"),
    )
});
