//! The `metrics` of `GET .../results`: every figure recomputed here from the events the test
//! sent (windows, retention denominators, a percentile cap, a ratio), and guardrails that
//! keep a goal winner from being called the winner.

use super::{User, assigned_users, create_metrics, example_metrics, send_events};
use crate::helpers::*;
use chrono::{TimeDelta, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;

pub(super) fn metric<'a>(results: &'a Value, key: &str) -> &'a Value {
    results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == key)
        .unwrap_or_else(|| panic!("no metric {key} in {results}"))
}

pub(super) fn cell<'a>(metric: &'a Value, variant: &str) -> &'a Value {
    metric["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == variant)
        .unwrap()
}

pub(super) fn assert_close(found: &Value, expected: f64, what: &str) {
    let found = found.as_f64().unwrap_or_else(|| panic!("{what}: {found}"));
    let tolerance = 1e-12 * expected.abs().max(1e-300);
    assert!(
        (found - expected).abs() <= tolerance,
        "{what}: {found} ≠ {expected}"
    );
}

/// The linear-interpolation quantile (PostgreSQL's `percentile_cont`, numpy's default).
pub(super) fn quantile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

#[tokio::test]
async fn results_compute_every_metric_from_the_raw_rows() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let mut body = experiment_body("shop", "ab");
    body.as_object_mut().unwrap().remove("goal");
    body["metrics"] = json!({
        "goal": "purchase-rate",
        "secondary": ["revenue", "orders", "aov", "d7-retention"],
        "guardrails": [{"metric": "uninstalls", "threshold": 0.02}]
    });
    app.running_experiment(body).await;
    let now = Utc::now();
    // Even users were assigned ten days ago (their day-7 window has closed), odd ones an
    // hour ago.
    let mut users = assigned_users(&app, "shop", 60, |i| {
        now - if i % 2 == 0 {
            TimeDelta::days(10)
        } else {
            TimeDelta::hours(1)
        }
    })
    .await;
    for (i, u) in users.iter_mut().enumerate() {
        let a = u.assigned_at;
        let day = |d: f64| a + TimeDelta::seconds((d * 86_400.0) as i64);
        if i % 3 != 0 {
            u.events.push(("purchase", Some(10.0 + i as f64), day(0.5)));
        }
        if i % 4 == 1 {
            // A whale, and a second order.
            u.events
                .push(("purchase", Some(1000.0 + i as f64), day(1.0)));
        }
        if i % 5 == 0 {
            // Outside purchase-rate's 7-day window; revenue and orders count it.
            u.events.push(("purchase", Some(7.0), day(9.0)));
        }
        if i % 3 == 1 {
            u.events.push(("open", None, day(2.0)));
        }
        if i % 7 == 2 {
            // Before `from`: not retention.
            u.events.push(("open", None, day(0.2)));
        }
        if i % 11 == 3 {
            u.events.push(("uninstall", None, day(0.1)));
        }
        // Before the assignment: counts nowhere.
        u.events
            .push(("purchase", Some(55.0), a - TimeDelta::minutes(5)));
    }
    // Events can't be in the future: keep the ones that have happened.
    for u in users.iter_mut() {
        u.events.retain(|e| e.2 <= now);
    }
    send_events(&app, &users).await;
    let results = app.results("shop").await;

    // The test's own figures, from the events above.
    let counted = |u: &User, name: &str, from: TimeDelta, to: Option<TimeDelta>| -> Vec<f64> {
        u.events
            .iter()
            .filter(|(n, _, at)| {
                *n == name
                    && *at >= u.assigned_at + from
                    && to.is_none_or(|t| *at < u.assigned_at + t)
            })
            .map(|e| e.1.unwrap_or(0.0))
            .collect()
    };
    let seven_days = Some(TimeDelta::days(7) + TimeDelta::seconds(1));
    let revenue_totals: Vec<f64> = users
        .iter()
        .map(|u| counted(u, "purchase", TimeDelta::zero(), None).iter().sum())
        .collect();
    let with_revenue: Vec<f64> = users
        .iter()
        .zip(&revenue_totals)
        .filter(|(u, _)| !counted(u, "purchase", TimeDelta::zero(), None).is_empty())
        .map(|(_, t)| *t)
        .collect();
    let cap = quantile(&with_revenue, 0.99);
    assert!(
        cap < with_revenue.iter().cloned().fold(0.0, f64::max),
        "the cap bites"
    );
    for variant in ["a", "b"] {
        let in_variant: Vec<(usize, &User)> = users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.variant == variant)
            .collect();
        let n = in_variant.len() as f64;
        let converted = in_variant
            .iter()
            .filter(|(_, u)| !counted(u, "purchase", TimeDelta::zero(), seven_days).is_empty())
            .count() as f64;
        let revenue: Vec<f64> = in_variant
            .iter()
            .map(|(i, _)| revenue_totals[*i].min(cap))
            .collect();
        let orders: Vec<f64> = in_variant
            .iter()
            .map(|(_, u)| counted(u, "purchase", TimeDelta::zero(), None).len() as f64)
            .collect();
        let eligible: Vec<&&User> = in_variant
            .iter()
            .map(|(_, u)| u)
            .filter(|u| u.assigned_at + TimeDelta::days(8) <= now)
            .collect();
        let retained = eligible
            .iter()
            .filter(|u| {
                !counted(u, "open", TimeDelta::days(1), Some(TimeDelta::days(8))).is_empty()
            })
            .count() as f64;
        let uninstalled = in_variant
            .iter()
            .filter(|(_, u)| !counted(u, "uninstall", TimeDelta::zero(), None).is_empty())
            .count() as f64;

        let goal = cell(metric(&results, "purchase-rate"), variant);
        assert_eq!(goal["users"], n as i64);
        // Beta(1 + conversions, 1 + failures): its mean.
        assert_close(
            &goal["value"]["mean"],
            (1.0 + converted) / (2.0 + n),
            "purchase rate",
        );
        let revenue_cell = cell(metric(&results, "revenue"), variant);
        assert_close(
            &revenue_cell["value"]["mean"],
            revenue.iter().sum::<f64>() / n,
            "revenue per user",
        );
        let orders_cell = cell(metric(&results, "orders"), variant);
        assert_close(
            &orders_cell["value"]["mean"],
            orders.iter().sum::<f64>() / n,
            "orders per user",
        );
        let aov = cell(metric(&results, "aov"), variant);
        assert_close(
            &aov["value"]["mean"],
            revenue.iter().sum::<f64>() / orders.iter().sum::<f64>(),
            "average order value",
        );
        let retention = cell(metric(&results, "d7-retention"), variant);
        assert_eq!(
            retention["users"],
            eligible.len() as i64,
            "only closed windows count"
        );
        assert_close(
            &retention["value"]["mean"],
            (1.0 + retained) / (2.0 + eligible.len() as f64),
            "retention",
        );
        let uninstalls = cell(metric(&results, "uninstalls"), variant);
        assert_close(
            &uninstalls["value"]["mean"],
            (1.0 + uninstalled) / (2.0 + n),
            "uninstalls",
        );
    }

    // Roles, order and what each role adds.
    let keys: Vec<&str> = results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "purchase-rate",
            "uninstalls",
            "revenue",
            "orders",
            "aov",
            "d7-retention"
        ]
    );
    let goal = metric(&results, "purchase-rate");
    assert_eq!(goal["role"], "goal");
    assert!(cell(goal, "a")["probability_best"].is_number());
    assert!(cell(goal, "a")["lift"].is_null(), "control has no lift");
    assert!(cell(goal, "b")["lift"]["low"].is_number());
    let guardrail = metric(&results, "uninstalls");
    assert_eq!(guardrail["role"], "guardrail");
    assert_eq!(guardrail["direction"], "decrease");
    assert_eq!(guardrail["threshold"], 0.02);
    assert!(["ok", "warning", "failing"].contains(&guardrail["status"].as_str().unwrap()));
    assert!(cell(guardrail, "b")["chance_of_harm"].is_number());
    let secondary = metric(&results, "aov");
    assert_eq!(secondary["type"], "ratio");
    assert!(
        cell(secondary, "b")["p_value_adjusted"].as_f64().unwrap()
            >= cell(secondary, "b")["p_value"].as_f64().unwrap()
    );
    assert!(cell(secondary, "b").get("probability_best").is_none());
    // The ratio's lift is that of the two ratios.
    let (ra, rb) = (
        cell(secondary, "a")["value"]["mean"].as_f64().unwrap(),
        cell(secondary, "b")["value"]["mean"].as_f64().unwrap(),
    );
    assert_close(
        &cell(secondary, "b")["lift"]["mean"],
        rb / ra - 1.0,
        "ratio lift",
    );
    assert!(
        results["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["computing"] == false)
    );
}

/// Benjamini–Hochberg over secondary metrics × variants, computed here by hand.
#[tokio::test]
async fn secondary_p_values_are_adjusted_by_benjamini_hochberg() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let mut body = experiment_body("bh", "ab");
    body["variants"] = json!([
        {"key": "a", "payload": {}}, {"key": "b", "payload": {}}, {"key": "c", "payload": {}}
    ]);
    body["metrics"] = json!({"secondary": ["purchase-rate", "orders", "uninstalls"]});
    app.running_experiment(body).await;
    let now = Utc::now();
    let mut users = assigned_users(&app, "bh", 90, |_| now - TimeDelta::hours(2)).await;
    for (i, u) in users.iter_mut().enumerate() {
        let at = u.assigned_at + TimeDelta::minutes(5);
        let boost = if u.variant == "c" { 2 } else { 5 };
        if i % boost == 0 {
            u.events.push(("purchase", Some(5.0), at));
        }
        if i % 3 == 0 {
            u.events.push(("uninstall", None, at));
        }
    }
    send_events(&app, &users).await;
    let results = app.results("bh").await;
    let mut family: Vec<(String, String, f64, f64)> = Vec::new();
    for m in results["metrics"].as_array().unwrap().iter().skip(1) {
        assert_eq!(m["role"], "secondary");
        for v in m["variants"].as_array().unwrap() {
            if let Some(p) = v["p_value"].as_f64() {
                let q = v["p_value_adjusted"].as_f64().unwrap();
                family.push((m["key"].to_string(), v["key"].to_string(), p, q));
            }
        }
    }
    assert_eq!(family.len(), 6, "3 metrics × 2 variants against control");
    // q_(i) = min over j ≥ i of p_(j) · m / j, in ascending order of p.
    let mut sorted: Vec<f64> = family.iter().map(|f| f.2).collect();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len() as f64;
    let adjusted_sorted: Vec<f64> = (0..sorted.len())
        .map(|i| {
            (i..sorted.len())
                .map(|j| sorted[j] * m / (j as f64 + 1.0))
                .fold(1.0, f64::min)
        })
        .collect();
    for (_, _, p, q) in &family {
        let rank = sorted.iter().position(|x| x == p).unwrap();
        assert!(
            (q - adjusted_sorted[rank]).abs() < 1e-12,
            "{p} → {q}, expected {}",
            adjusted_sorted[rank]
        );
    }
}

/// A variant that wins the goal but fails a guardrail is not the winner, and the verdict says
/// which guardrail and by how much; without the guardrail, the same data wins.
#[tokio::test]
async fn a_failing_guardrail_holds_back_the_winner() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let mut body = experiment_body("push", "ab");
    body.as_object_mut().unwrap().remove("goal");
    body["metrics"] = json!({
        "goal": "purchase-rate",
        "guardrails": [{"metric": "uninstalls", "threshold": 0.02}]
    });
    body["min_users_per_arm"] = json!(30);
    app.running_experiment(body).await;
    let now = Utc::now();
    let mut users = assigned_users(&app, "push", 160, |_| now - TimeDelta::hours(1)).await;
    for (i, u) in users.iter_mut().enumerate() {
        let at = u.assigned_at + TimeDelta::minutes(1);
        let treated = u.variant == "b";
        if treated || i % 10 == 0 {
            u.events.push(("purchase", Some(1.0), at));
        }
        if (treated && i % 2 == 0) || i % 20 == 0 {
            u.events.push(("uninstall", None, at));
        }
    }
    send_events(&app, &users).await;
    let results = app.results("push").await;
    let guardrail = metric(&results, "uninstalls");
    assert_eq!(guardrail["status"], "failing", "{guardrail}");
    assert_eq!(cell(guardrail, "b")["status"], "failing");
    assert_eq!(results["decision"]["leader"], "b");
    assert_eq!(
        results["decision"]["outcome"], "keep_running",
        "{}",
        results["decision"]
    );
    let blocked = &results["decision"]["blocked_by"];
    assert_eq!(blocked["metric"], "uninstalls");
    assert_eq!(blocked["variant"], "b");
    assert!(blocked["chance_of_harm"].as_f64().unwrap() > 0.95);
    assert!(
        blocked["lift"]["mean"].as_f64().unwrap() > 0.02,
        "uninstalls rose: {blocked}"
    );

    // Without the guardrail the same data make b the winner.
    let patched = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/push",
            Some(json!({"metrics": {"goal": "purchase-rate", "guardrails": []}})),
        )
        .await;
    assert!(patched.status.is_success(), "{:?}", patched.body);
    let results = app.results("push").await;
    assert_eq!(
        results["decision"]["outcome"], "winner",
        "{}",
        results["decision"]
    );
    assert!(results["decision"]["blocked_by"].is_null());
}

/// The inline goal `{"event", "metric"}` is the first metric, keyed `goal`, with the figures
/// of the top-level fields.
#[tokio::test]
async fn the_inline_goal_is_the_first_metric() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let mut body = experiment_body("inline", "ab");
    body["metrics"] = json!({"secondary": ["orders"]});
    app.running_experiment(body).await;
    let now = Utc::now();
    let mut users = assigned_users(&app, "inline", 30, |_| now - TimeDelta::hours(1)).await;
    for (i, u) in users.iter_mut().enumerate() {
        if i % 3 == 0 {
            u.events
                .push(("purchase", Some(2.0), u.assigned_at + TimeDelta::minutes(1)));
        }
    }
    send_events(&app, &users).await;
    let results = app.results("inline").await;
    let goal = &results["metrics"][0];
    assert_eq!(goal["key"], "goal");
    assert_eq!(goal["role"], "goal");
    assert_eq!(goal["type"], "conversion");
    for (i, top) in results["variants"].as_array().unwrap().iter().enumerate() {
        let v = &goal["variants"][i];
        assert_eq!(v["users"], top["users"]);
        assert_eq!(v["value"], top["rate"]);
        assert_eq!(v["probability_best"], top["probability_best"]);
        assert_eq!(v["lift"], top["lift"]);
    }
    assert_eq!(results["metrics"][1]["key"], "orders");
}

/// A metric added to an experiment with data says it is being computed until the background
/// job has counted the raw rows, and then has the figures of a metric tracked from the start.
#[tokio::test]
async fn a_metric_added_later_is_computed_from_the_raw_rows() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let mut body = experiment_body("late", "ab");
    body["metrics"] = json!({"secondary": ["purchase-rate"]});
    app.running_experiment(body).await;
    let now = Utc::now();
    let mut users = assigned_users(&app, "late", 40, |_| now - TimeDelta::hours(1)).await;
    for (i, u) in users.iter_mut().enumerate() {
        u.events.push((
            "purchase",
            Some(i as f64),
            u.assigned_at + TimeDelta::minutes(1),
        ));
    }
    send_events(&app, &users).await;
    let patched = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/late",
            Some(json!({"metrics": {"secondary": ["purchase-rate", "orders"]}})),
        )
        .await;
    assert!(patched.status.is_success(), "{:?}", patched.body);
    eventually(|| async {
        let results = app.results("late").await;
        metric(&results, "orders")["computing"] == false
    })
    .await;
    let results = app.results("late").await;
    let computed = metric(&results, "orders");
    let by_variant: HashMap<&str, usize> = users.iter().fold(HashMap::new(), |mut m, u| {
        *m.entry(u.variant.as_str()).or_default() += 1;
        m
    });
    for (variant, n) in by_variant {
        // Every user ordered once.
        assert_close(
            &cell(computed, variant)["value"]["mean"],
            1.0,
            "orders per user",
        );
        assert_eq!(cell(computed, variant)["users"], n as i64);
    }
}
