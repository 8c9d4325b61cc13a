//! Time ranges (`from`/`to`) of the exports and the audit log: one rule at every door (API,
//! dashboard link, command line): either end may be open, and `from` must come before `to`.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_command_line_refuses_a_range_that_ends_before_it_starts() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    app.assign(json!({"user_id": "u-1"})).await;
    for command in [
        &["export", "banner", "--data", "assignments"][..],
        &["audit"][..],
    ] {
        for (from, to) in [
            ("2026-02-01", "2026-01-01"),
            ("2026-01-01T00:00:00Z", "2026-01-01"),
        ] {
            let output = posterior(
                &app.db.url,
                &[command, &["--from", from, "--to", to]].concat(),
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !output.status.success(),
                "{command:?} {from}..{to} was accepted: {}",
                String::from_utf8_lossy(&output.stdout)
            );
            assert!(
                stderr.contains("from must be before to"),
                "{command:?}: {stderr}"
            );
            assert!(output.stdout.is_empty(), "{command:?} wrote output");
        }
        let bad = posterior(&app.db.url, &[command, &["--to", "tomorrow"]].concat());
        assert!(!bad.status.success());
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("to: \"tomorrow\" is not a time"),
            "{}",
            String::from_utf8_lossy(&bad.stderr)
        );
        // Open ends, and a forward range, are fine.
        for range in [
            &[][..],
            &["--from", "2020-01-01"][..],
            &["--from", "2020-01-01", "--to", "2100-01-01"][..],
        ] {
            let output = posterior(&app.db.url, &[command, range].concat());
            assert!(
                output.status.success(),
                "{command:?} {range:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[tokio::test]
async fn the_api_refuses_a_range_that_ends_before_it_starts_and_reads_blank_ends_as_open() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    for path in [
        "/api/v1/experiments/banner/export?data=events",
        "/api/v1/audit?format=csv",
    ] {
        for range in [
            "&from=2026-02-01&to=2026-01-01",
            "&from=2026-01-01&to=2026-01-01T00:00:00Z",
        ] {
            let reply = app
                .admin(Method::GET, &format!("{path}{range}"), None)
                .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}{range}");
            assert_eq!(reply.error_code(), "invalid_request");
            assert_eq!(reply.body["error"]["message"], "from must be before to");
        }
        let reply = app
            .admin(Method::GET, &format!("{path}&from=yesterday"), None)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("from: \"yesterday\" is not a time"),
            "{:?}",
            reply.body
        );
        // A form's blank field sends an empty value: no bound.
        let reply = app
            .admin(Method::GET, &format!("{path}&from=&to="), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
}
