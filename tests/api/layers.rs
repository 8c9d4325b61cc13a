//! Mutual-exclusion layers: experiments of one layer never share a user; overlapping ranges
//! are refused.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn in_layer(key: &str, from: f64, to: f64) -> Value {
    let mut body = experiment_body(key, "ab");
    body["layer"] = json!({"key": "home-screen", "from": from, "to": to});
    body
}

#[tokio::test]
async fn experiments_in_one_layer_never_share_a_user() {
    let app = spawn_app().await;
    let started = app.running_experiment(in_layer("left", 0.0, 0.5)).await;
    assert_eq!(
        started["layer"],
        json!({"key": "home-screen", "from": 0.0, "to": 0.5})
    );
    app.running_experiment(in_layer("right", 0.5, 1.0)).await;
    // An experiment outside the layer overlaps both.
    app.running_experiment(experiment_body("everywhere", "ab"))
        .await;
    let n = 2000;
    let (mut left, mut right) = (0, 0);
    for i in 0..n {
        let reply = app.assign(json!({"user_id": format!("user-{i}")})).await;
        assert_eq!(reply.status, StatusCode::OK);
        let keys: Vec<&str> = reply.body["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["experiment"].as_str().unwrap())
            .collect();
        assert!(keys.contains(&"everywhere"), "{keys:?}");
        let (l, r) = (keys.contains(&"left"), keys.contains(&"right"));
        assert!(
            l != r,
            "user-{i} got {keys:?}: exactly one of the layer's experiments"
        );
        left += usize::from(l);
        right += usize::from(r);
    }
    // Binomial(2000, 0.5): sd ≈ 22.4; allow 4 sd.
    assert!((left as f64 - 1000.0).abs() < 90.0, "{left} / {right}");
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM (SELECT user_id FROM assignments a JOIN experiments x ON x.id = a.experiment_id \
             WHERE x.key IN ('left', 'right') GROUP BY user_id HAVING count(*) > 1) t"
        ),
        0
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT user_id) AS n FROM assignments a JOIN experiments x ON x.id = a.experiment_id WHERE x.key IN ('left', 'right')"),
        n
    );
}

#[tokio::test]
async fn overlapping_ranges_are_refused() {
    let app = spawn_app().await;
    app.running_experiment(in_layer("first", 0.0, 0.5)).await;
    let overlapping = app.create_experiment(in_layer("second", 0.4, 0.8)).await;
    assert_eq!(
        overlapping.status,
        StatusCode::CONFLICT,
        "{:?}",
        overlapping.body
    );
    let message = overlapping.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("first") && message.contains("overlaps"),
        "{message}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 1);

    // A draft takes its range too, and a patch into another's range is refused.
    let draft = app.create_experiment(in_layer("second", 0.5, 0.8)).await;
    assert_eq!(draft.status, StatusCode::CREATED, "{:?}", draft.body);
    let third = app.create_experiment(in_layer("third", 0.7, 1.0)).await;
    assert_eq!(third.status, StatusCode::CONFLICT);
    let patch = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/second",
            Some(json!({"layer": {"key": "home-screen", "from": 0.3, "to": 0.8}})),
        )
        .await;
    assert_eq!(patch.status, StatusCode::CONFLICT);
    let kept = app
        .admin(Method::GET, "/api/v1/experiments/second", None)
        .await;
    assert_eq!(kept.body["layer"]["from"], 0.5);

    // Another layer is independent; a stopped experiment frees its range.
    let mut other = in_layer("elsewhere", 0.0, 1.0);
    other["layer"]["key"] = json!("checkout");
    assert_eq!(
        app.create_experiment(other).await.status,
        StatusCode::CREATED
    );
    let stop = app
        .admin(Method::POST, "/api/v1/experiments/first/stop", None)
        .await;
    assert_eq!(stop.status, StatusCode::OK);
    let fourth = app.create_experiment(in_layer("fourth", 0.0, 0.5)).await;
    assert_eq!(fourth.status, StatusCode::CREATED, "{:?}", fourth.body);

    // Taking an experiment out of its layer frees the range as well.
    let out = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/second",
            Some(json!({"layer": null})),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{:?}", out.body);
    assert!(out.body["layer"].is_null());
    assert_eq!(
        app.create_experiment(in_layer("fifth", 0.5, 1.0))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn malformed_layers_are_refused() {
    let app = spawn_app().await;
    for layer in [
        json!({"key": "home", "from": 0.5, "to": 0.5}),
        json!({"key": "home", "from": -0.1, "to": 0.5}),
        json!({"key": "home", "from": 0.0, "to": 1.5}),
        json!({"key": "Home Screen", "from": 0.0, "to": 0.5}),
        json!({"key": "home", "from": 0.0}),
        json!({"key": "home", "from": 0.0, "to": 0.5, "salt": 1}),
        json!("home"),
    ] {
        let mut body = experiment_body("bad-layer", "ab");
        body["layer"] = layer.clone();
        let reply = app.create_experiment(body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{layer}: {:?}",
            reply.body
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);
}
