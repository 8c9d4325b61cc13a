//! CUPED: metrics adjusted for each user's activity in a lookback window before their
//! assignment. The figures are recomputed here, from the events the test sent, with the
//! regression adjustment written out (θ pooled over the arms, gbstats' delta method on the
//! adjusted values); the formulas themselves are checked against gbstats in
//! tests/stats/metrics_reference.rs.

use crate::helpers::*;
use crate::metrics::{User, assigned_users, create_metrics, send_events};
use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One arm's sums of (y, x) over its users.
#[derive(Default, Clone, Copy)]
struct Sums {
    n: f64,
    y: f64,
    y_sq: f64,
    x: f64,
    x_sq: f64,
    xy: f64,
}

impl Sums {
    fn add(&mut self, y: f64, x: f64) {
        self.n += 1.0;
        self.y += y;
        self.y_sq += y * y;
        self.x += x;
        self.x_sq += x * x;
        self.xy += x * y;
    }
    fn var(&self, sum: f64, sum_sq: f64, proportion: bool) -> f64 {
        if proportion {
            let p = sum / self.n;
            p * (1.0 - p)
        } else {
            (sum_sq - sum * sum / self.n) / (self.n - 1.0)
        }
    }
    fn cov(&self) -> f64 {
        (self.xy - self.y * self.x / self.n) / (self.n - 1.0)
    }
}

/// θ, the adjusted relative lift with its 95% interval (flat prior: the normal), and the
/// share of variance removed.
fn adjusted(control: Sums, variant: Sums, proportion: bool) -> (f64, f64, f64, f64, f64) {
    let mut joint = Sums::default();
    for s in [control, variant] {
        joint.n += s.n;
        joint.y += s.y;
        joint.y_sq += s.y_sq;
        joint.x += s.x;
        joint.x_sq += s.x_sq;
        joint.xy += s.xy;
    }
    let theta = joint.cov() / joint.var(joint.x, joint.x_sq, proportion);
    let adj_var = |s: &Sums| {
        s.var(s.y, s.y_sq, proportion) + theta * theta * s.var(s.x, s.x_sq, proportion)
            - 2.0 * theta * s.cov()
    };
    let (mc, mt) = (control.y / control.n, variant.y / variant.n);
    let (ac, at) = (
        mc - theta * control.x / control.n,
        mt - theta * variant.x / variant.n,
    );
    let lift = (at - ac) / mc;
    let var = adj_var(&variant) / (mc * mc * variant.n)
        + adj_var(&control) * mt * mt / (mc.powi(4) * control.n);
    let half = 1.959963984540054 * var.sqrt();
    let reduction = 1.0 - adj_var(&joint) / joint.var(joint.y, joint.y_sq, proportion);
    (theta, lift, lift - half, lift + half, reduction)
}

/// Per arm (a, b), y after the assignment and x in [assigned_at − 14d, assigned_at), from the
/// events the test sent: a conversion is 1 once any event counted, a mean their values' sum.
fn arm_sums(users: &[User], event: &str, proportion: bool) -> [Sums; 2] {
    let window = TimeDelta::days(14);
    let mut arms = [Sums::default(), Sums::default()];
    for u in users {
        let of = |pre: bool| {
            let counted: Vec<f64> = u
                .events
                .iter()
                .filter(|(name, _, at)| {
                    *name == event
                        && if pre {
                            *at >= u.assigned_at - window && *at < u.assigned_at
                        } else {
                            *at >= u.assigned_at
                        }
                })
                .map(|(_, v, _)| v.unwrap_or(0.0))
                .collect();
            if proportion {
                if counted.is_empty() { 0.0 } else { 1.0 }
            } else {
                counted.iter().sum()
            }
        };
        arms[usize::from(u.variant == "b")].add(of(false), of(true));
    }
    arms
}

fn close(got: &Value, want: f64, what: &str) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: server {got}, recomputed {want}"
    );
}

#[tokio::test]
async fn metrics_are_adjusted_for_pre_assignment_activity_as_recomputed_here() {
    let app = spawn_app().await;
    create_metrics(
        &app,
        &[
            json!({"key": "spend", "name": "Spend per user", "type": "mean", "event": "purchase"}),
            json!({"key": "clicked", "name": "Clicked", "type": "conversion", "event": "click"}),
            // a second metric of the same event: the covariates read each user's events once
            json!({"key": "buyers", "name": "Buyers", "type": "conversion", "event": "purchase"}),
        ],
    )
    .await;
    let mut body = experiment_body("offer", "ab");
    body.as_object_mut().unwrap().remove("goal");
    body["metrics"] = json!({"goal": "spend", "secondary": ["clicked", "buyers"]});
    body["cuped"] = json!(false);
    app.running_experiment(body).await;

    let now = Utc::now();
    let mut users: Vec<User> =
        assigned_users(&app, "offer", 400, |_| now - TimeDelta::hours(2)).await;
    // Each user has a habit h: they spent about h before the assignment and about h (10% more
    // in b) after it. Some clicked before and after; old activity (20 days before) lies outside
    // the 14-day window and must not count.
    let mut expected_with_pre = 0;
    for (i, u) in users.iter_mut().enumerate() {
        let habit = ((i * 37) % 23) as f64;
        let noise = ((i * 53) % 11) as f64 - 5.0;
        let lift = if u.variant == "b" { 1.1 } else { 1.0 };
        let before = u.assigned_at - TimeDelta::days(3);
        let after = u.assigned_at + TimeDelta::minutes(10);
        if i % 5 != 0 {
            u.events.push(("purchase", Some(habit + 1.0), before));
            expected_with_pre += 1;
        } else {
            u.events
                .push(("purchase", Some(50.0), u.assigned_at - TimeDelta::days(20)));
        }
        let spent = (habit * lift + noise).max(0.0);
        if spent > 0.0 {
            u.events.push(("purchase", Some(spent), after));
        }
        if i % 3 == 0 {
            u.events.push(("click", None, before + TimeDelta::hours(1)));
        }
        if i % 3 == 0 && i % 2 == 0 || i % 7 == 0 {
            u.events.push(("click", None, after));
        }
    }
    send_events(&app, &users).await;

    // Off: nothing adjusted.
    let results = app.results("offer").await;
    assert!(
        results["metrics"][0]["cuped"].is_null(),
        "{}",
        results["metrics"][0]
    );

    // Bad windows are refused and change nothing.
    for bad in [
        json!({"lookback": "abc"}),
        json!({"lookback": "120d"}),
        json!("14d"),
    ] {
        let reply = app
            .admin(
                Method::PATCH,
                "/api/v1/experiments/offer",
                Some(json!({"cuped": bad})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
    }
    let experiment = app
        .admin(Method::GET, "/api/v1/experiments/offer", None)
        .await;
    assert_eq!(experiment.body["cuped"], json!(false));

    let reply = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/offer",
            Some(json!({"cuped": {"lookback": "14d"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["cuped"], json!({"lookback": "14d"}));

    let mut results = Value::Null;
    for _ in 0..100 {
        results = app.results("offer").await;
        if results["metrics"][0]["cuped"].is_object() && results["metrics"][1]["cuped"].is_object()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        results["metrics"][0]["cuped"].is_object(),
        "never adjusted: {results}"
    );

    let sums = |event: &str, proportion: bool| arm_sums(&users, event, proportion);
    for (index, event, proportion) in [
        (0, "purchase", false),
        (1, "click", true),
        (2, "purchase", true),
    ] {
        let metric = &results["metrics"][index];
        let [a, b] = sums(event, proportion);
        let (theta, lift, low, high, reduction) = adjusted(a, b, proportion);
        let what = |f: &str| format!("{}: {f}", metric["key"]);
        close(&metric["cuped"]["theta"], theta, &what("theta"));
        close(
            &metric["cuped"]["variance_reduction"],
            reduction,
            &what("variance_reduction"),
        );
        assert_eq!(metric["cuped"]["lookback"], "14d");
        let lift_json = &metric["variants"][1]["lift"];
        close(&lift_json["mean"], lift, &what("lift"));
        close(&lift_json["low"], low, &what("lift.low"));
        close(&lift_json["high"], high, &what("lift.high"));
        // the observed value stays unadjusted
        let observed = b.y / b.n;
        let value = metric["variants"][1]["value"]["mean"].as_f64().unwrap();
        if !proportion {
            close(
                &metric["variants"][1]["value"]["mean"],
                observed,
                &what("value"),
            );
        } else {
            assert!((value - observed).abs() < 0.01, "{value} vs {observed}");
        }
        // (buyers: nearly everyone bought before, so little to explain)
        if index < 2 {
            assert!(
                reduction > 0.05,
                "{}: the habit should explain variance",
                metric["key"]
            );
        }
    }
    assert_eq!(
        results["metrics"][0]["cuped"]["users_with_pre_data"],
        json!(expected_with_pre)
    );
    assert!(
        results["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("CUPED")),
        "{}",
        results["notes"]
    );

    // The page says which metrics were adjusted and by how much.
    let page = Browser::signed_in(&app)
        .await
        .get("/dashboard/experiments/offer")
        .await;
    let reduction = results["metrics"][0]["cuped"]["variance_reduction"]
        .as_f64()
        .unwrap();
    let badge = format!("CUPED: variance −{:.0}%", 100.0 * reduction);
    assert!(page.body.contains(&badge), "no {badge:?} on the page");

    // Erasure takes the user's covariates with the rest.
    let before = app.count("SELECT count(*) AS n FROM metric_covariates WHERE user_id = 'u1'");
    assert!(before > 0);
    let reply = app.admin(Method::DELETE, "/api/v1/users/u1", None).await;
    assert!(reply.status.is_success(), "{}", reply.body);
    eventually(|| async {
        app.count("SELECT count(*) AS n FROM metric_covariates WHERE user_id = 'u1'") == 0
    })
    .await;
}

#[tokio::test]
async fn cuped_is_on_by_default_with_fourteen_days() {
    let app = spawn_app().await;
    let reply = app
        .admin(
            Method::POST,
            "/api/v1/experiments",
            Some(experiment_body("default-cuped", "ab")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["cuped"], json!({"lookback": "14d"}));
    let mut body = experiment_body("bad-cuped", "ab");
    body["cuped"] = json!({"lookback": "0s"});
    let reply = app
        .admin(Method::POST, "/api/v1/experiments", Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.body.to_string().contains("cuped"), "{}", reply.body);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM experiments WHERE key = 'bad-cuped'"),
        0
    );
}

#[tokio::test]
async fn the_inline_goal_is_adjusted_too() {
    let app = spawn_app().await;
    let mut body = experiment_body("inline", "ab");
    body["goal"] = json!({"event": "purchase", "metric": "revenue"});
    // Off while the test moves the assignments back in time (the background would otherwise
    // cover them at their first time); on once the data is in place.
    body["cuped"] = json!(false);
    app.running_experiment(body).await;
    let now = Utc::now();
    let mut users = assigned_users(&app, "inline", 300, |_| now - TimeDelta::hours(1)).await;
    for (i, u) in users.iter_mut().enumerate() {
        let habit = ((i * 29) % 17) as f64;
        let noise = ((i * 41) % 7) as f64 - 3.0;
        let lift = if u.variant == "b" { 1.2 } else { 1.0 };
        if i % 4 != 0 {
            u.events.push((
                "purchase",
                Some(habit + 2.0),
                u.assigned_at - TimeDelta::days(2),
            ));
        }
        let spent = (habit * lift + noise).max(0.0);
        if spent > 0.0 {
            u.events.push((
                "purchase",
                Some(spent),
                u.assigned_at + TimeDelta::minutes(5),
            ));
        }
    }
    send_events(&app, &users).await;
    let reply = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/inline",
            Some(json!({"cuped": true})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut results = Value::Null;
    for _ in 0..100 {
        results = app.results("inline").await;
        if results["metrics"][0]["cuped"].is_object() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let goal = &results["metrics"][0];
    assert_eq!(goal["key"], "goal");
    assert!(goal["cuped"].is_object(), "never adjusted: {goal}");
    let [a, b] = arm_sums(&users, "purchase", false);
    let (theta, lift, low, high, reduction) = adjusted(a, b, false);
    close(&goal["cuped"]["theta"], theta, "theta");
    close(
        &goal["cuped"]["variance_reduction"],
        reduction,
        "variance_reduction",
    );
    close(&goal["variants"][1]["lift"]["mean"], lift, "lift");
    close(&goal["variants"][1]["lift"]["low"], low, "lift.low");
    close(&goal["variants"][1]["lift"]["high"], high, "lift.high");
    assert_eq!(goal["cuped"]["users_with_pre_data"], json!(225));
    // The top-level figures stay those of the assignment rows, unadjusted.
    let plain = results["variants"][1]["lift"]["mean"].as_f64().unwrap();
    assert!((plain - lift).abs() > 1e-9, "{plain} vs {lift}");
}
