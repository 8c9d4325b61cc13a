//! The results API end to end: counts made through the API, statistics checked against
//! independent 50-digit mpmath values (tests/reference/results_api.py prints them).
// The references keep every digit mpmath printed (more than an f64 holds), so that they
// read the same as in tests/reference/results_api.py.
#![allow(clippy::excessive_precision)]

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

fn close(actual: &Value, expected: f64, tolerance: f64, what: &str) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual} is not a number"));
    assert!(
        (a - expected).abs() <= tolerance,
        "{what}: {a} vs {expected} (tolerance {tolerance})"
    );
}

fn variant<'a>(results: &'a Value, key: &str) -> &'a Value {
    results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == key)
        .unwrap()
}

/// An ab experiment where the first `values_a.len()` users go to `a` and the next ones to `b`
/// (weights switched in between), then each user's events carry the given values.
async fn two_arm_experiment(
    app: &TestApp,
    key: &str,
    metric: &str,
    values_a: &[Option<f64>],
    values_b: &[Option<f64>],
) {
    let mut body = experiment_body(key, "ab");
    body["goal"] = json!({"event": "purchase", "metric": metric});
    body["variants"][0]["weight"] = json!(1.0);
    body["variants"][1]["weight"] = json!(0.0);
    app.running_experiment(body).await;
    for i in 0..values_a.len() {
        assert_eq!(
            app.variant_of(&format!("a{i}"), key, json!({}))
                .await
                .as_deref(),
            Some("a")
        );
    }
    let path = format!("/api/v1/experiments/{key}");
    app.admin(
        Method::PATCH,
        &path,
        Some(json!({"weights": {"a": 0.0, "b": 1.0}})),
    )
    .await;
    for i in 0..values_b.len() {
        assert_eq!(
            app.variant_of(&format!("b{i}"), key, json!({}))
                .await
                .as_deref(),
            Some("b")
        );
    }
    let mut events = Vec::new();
    for (prefix, values) in [("a", values_a), ("b", values_b)] {
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                events.push(
                    json!({"user_id": format!("{prefix}{i}"), "name": "purchase", "value": v}),
                );
            }
        }
    }
    assert_eq!(
        app.track(Value::Array(events)).await.status,
        reqwest::StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn conversion_results_match_high_precision_references() {
    let app = spawn_app().await;
    // a: 100 users, 10 converted; b: 100 users, 15 converted.
    let a: Vec<Option<f64>> = (0..100).map(|i| (i < 10).then_some(1.0)).collect();
    let b: Vec<Option<f64>> = (0..100).map(|i| (i < 15).then_some(1.0)).collect();
    two_arm_experiment(&app, "conv", "conversion", &a, &b).await;
    let r = app.results("conv").await;
    let (va, vb) = (variant(&r, "a"), variant(&r, "b"));
    assert_eq!(
        (va["users"].as_i64(), va["conversions"].as_i64()),
        (Some(100), Some(10))
    );
    assert_eq!(
        (vb["users"].as_i64(), vb["conversions"].as_i64()),
        (Some(100), Some(15))
    );
    close(
        &vb["chance_to_beat_control"],
        0.8532837899339661317,
        1e-12,
        "chance to beat control",
    );
    close(
        &vb["probability_best"],
        0.8532837899339661317,
        1e-12,
        "probability best",
    );
    close(
        &va["probability_best"],
        1.0 - 0.8532837899339661317,
        1e-12,
        "probability best of a",
    );
    close(
        &va["expected_loss"],
        0.052597695973848302721,
        1e-10,
        "expected loss of a",
    );
    close(
        &vb["expected_loss"],
        0.0035780881307110478188,
        1e-10,
        "expected loss of b",
    );
    close(
        &vb["p_value"],
        0.2850494074026127415,
        1e-12,
        "z-test p-value",
    );
    close(
        &va["rate"]["low"],
        0.055637223835302983111,
        1e-12,
        "rate interval low",
    );
    close(
        &va["rate"]["high"],
        0.1745528260771190549,
        1e-12,
        "rate interval high",
    );
    close(&va["rate"]["mean"], 11.0 / 102.0, 1e-15, "rate mean");
    close(&vb["lift"]["low"], -0.281252403023558, 1e-9, "lift low");
    close(&vb["lift"]["high"], 2.1298371266717, 1e-9, "lift high");
    close(
        &vb["lift"]["mean"],
        (16.0 / 102.0) / (11.0 / 102.0) - 1.0,
        1e-12,
        "lift mean",
    );
    assert!(
        va["lift"].is_null() && va["chance_to_beat_control"].is_null() && va["p_value"].is_null()
    );
    // The weights changed, and the users followed them exactly: no sample ratio mismatch.
    close(&r["srm_p_value"], 1.0, 1e-9, "srm p-value");
    assert_eq!(r["sample_ratio_mismatch"], false);
    assert_eq!(r["decision"]["outcome"], "keep_running");
    assert_eq!(r["decision"]["leader"], "b");
    assert_eq!(r["thresholds"]["probability_best"], 0.95);
    assert_eq!(r["thresholds"]["srm_p_value"], 0.001);
}

#[tokio::test]
async fn revenue_results_match_high_precision_references() {
    let app = spawn_app().await;
    let a = [10.0, 0.0, 5.0, 0.0, 0.0, 20.0].map(|v| (v > 0.0).then_some(v));
    let b = [20.0, 10.0, 0.0, 30.0, 5.0, 0.0].map(|v| (v > 0.0).then_some(v));
    two_arm_experiment(&app, "rev", "revenue", &a, &b).await;
    let r = app.results("rev").await;
    let vb = variant(&r, "b");
    assert_eq!(r["metric"], "revenue");
    close(&vb["value_sum"], 65.0, 1e-12, "value sum");
    close(
        &vb["value_per_user"]["mean"],
        65.0 / 6.0,
        1e-12,
        "value per user",
    );
    close(
        &vb["p_value"],
        0.41883949527792040345,
        1e-12,
        "Welch p-value",
    );
    close(
        &vb["lift"]["mean"],
        0.85714285714285714286,
        1e-12,
        "delta-method lift",
    );
    close(
        &vb["chance_to_beat_control"],
        0.73912267215499755722,
        1e-12,
        "chance to beat control",
    );
    let half = vb["lift"]["high"].as_f64().unwrap() - vb["lift"]["mean"].as_f64().unwrap();
    close(
        &json!(half),
        1.959963984540054 * 1.3379415022925521432,
        1e-12,
        "lift interval half-width",
    );
    // Six users per arm is far from the default minimum of 100.
    assert_eq!(r["decision"]["outcome"], "not_enough_data");
    assert_eq!(r["decision"]["users_needed_per_arm"], 94);
}

#[tokio::test]
async fn a_clear_winner_is_called_once_every_arm_has_enough_users() {
    let app = spawn_app().await;
    let a: Vec<Option<f64>> = (0..200).map(|i| (i < 10).then_some(1.0)).collect();
    let b: Vec<Option<f64>> = (0..200).map(|i| (i < 60).then_some(1.0)).collect();
    two_arm_experiment(&app, "clear", "conversion", &a, &b).await;
    let r = app.results("clear").await;
    assert_eq!(r["decision"]["outcome"], "winner");
    assert_eq!(r["decision"]["leader"], "b");
    // Raising the minimum-data rule withholds the verdict.
    app.admin(
        Method::PATCH,
        "/api/v1/experiments/clear",
        Some(json!({"min_users_per_arm": 500})),
    )
    .await;
    let r = app.results("clear").await;
    assert_eq!(r["decision"]["outcome"], "not_enough_data");
    assert_eq!(r["decision"]["users_needed_per_arm"], 300);
}

#[tokio::test]
async fn a_skewed_split_is_flagged_as_sample_ratio_mismatch() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("srm", "ab")).await;
    let experiment_id = app.count("SELECT id AS n FROM experiments WHERE key = 'srm'");
    // Corrupt the split behind the server's back: 300 users recorded for a, none for b, while
    // the allocation meant 50/50 (as a broken client-side cache or a redirect bug would).
    let a_id = app.count("SELECT id AS n FROM variants WHERE key = 'a'");
    let b_id = app.count("SELECT id AS n FROM variants WHERE key = 'b'");
    app.execute(&format!(
        "INSERT INTO period_stats (variant_id, period_start, shard, experiment_id, users, expected_users) VALUES \
         ({a_id}, date_trunc('hour', now()), 0, {experiment_id}, 300, 150), \
         ({b_id}, date_trunc('hour', now()), 0, {experiment_id}, 0, 150); \
         UPDATE variant_stats SET users = 300 WHERE variant_id = {a_id} AND shard = 0"
    ));
    let r = app.results("srm").await;
    assert!(r["srm_p_value"].as_f64().unwrap() < 1e-10, "{r}");
    assert_eq!(r["sample_ratio_mismatch"], true);
}

#[tokio::test]
async fn bandit_results_say_which_numbers_are_period_weighted() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("pw", "bandit"))
        .await;
    for i in 0..20 {
        app.variant_of(&format!("u{i}"), "pw", json!({})).await;
    }
    app.track(json!([{"user_id": "u1", "name": "purchase"}]))
        .await;
    let r = app.results("pw").await;
    assert!(
        r["notes"][0]
            .as_str()
            .unwrap()
            .contains("period_weighted_mean")
    );
    for v in r["variants"].as_array().unwrap() {
        if v["users"].as_i64().unwrap() > 0 {
            // One hour only: the period-weighted rate equals the raw rate.
            let raw = v["conversions"].as_f64().unwrap() / v["users"].as_f64().unwrap();
            close(
                &v["period_weighted_mean"],
                raw,
                1e-12,
                "period-weighted rate",
            );
        }
    }
    let sum: f64 = r["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .sum();
    close(&json!(sum), 1.0, 1e-9, "weights sum");
}
