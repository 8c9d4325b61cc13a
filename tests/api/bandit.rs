//! The bandit learns: a simulated population moves traffic to the truly best arm.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn thompson_sampling_moves_traffic_to_the_best_arm() {
    let app = spawn_app().await;
    app.running_experiment(json!({
        "key": "learn", "name": "Learning", "dimension": "content", "kind": "bandit",
        "variants": [{"key": "low"}, {"key": "mid"}, {"key": "high"}],
        "goal": {"event": "click"}, "floor": 0.01
    }))
    .await;
    let true_rate = |v: &str| match v {
        "low" => 0.02,
        "mid" => 0.05,
        _ => 0.15,
    };
    // Users arrive in waves; each wave converts by its variant's true rate (deterministic
    // pseudo-random draws so the test cannot flake), and the server refreshes its posteriors.
    let mut rng_state: u64 = 0x2545F4914F6CDD1D;
    let mut uniform = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        (rng_state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut late_high = 0;
    let mut late_total = 0;
    for wave in 0..12 {
        let users: Vec<String> = (0..100).map(|i| format!("w{wave}-u{i}")).collect();
        let variants = futures_util::future::join_all(
            users.iter().map(|u| app.variant_of(u, "learn", json!({}))),
        )
        .await;
        let mut events = Vec::new();
        for (user, variant) in users.iter().zip(&variants) {
            let variant = variant.as_deref().unwrap();
            if wave >= 9 {
                late_total += 1;
                late_high += usize::from(variant == "high");
            }
            if uniform() < true_rate(variant) {
                events.push(json!({"user_id": user, "name": "click"}));
            }
        }
        if !events.is_empty() {
            app.track(serde_json::Value::Array(events)).await;
        }
        app.engine.refresh().await.unwrap();
    }
    let share = late_high as f64 / late_total as f64;
    assert!(share > 0.6, "the best arm got {share:.2} of late traffic");
    let results = app.results("learn").await;
    let high = results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "high")
        .unwrap();
    assert!(
        high["probability_best"].as_f64().unwrap() > 0.9,
        "{results}"
    );
    assert!(high["weight"].as_f64().unwrap() > 0.6, "{results}");
    // Every arm keeps at least its floor.
    for v in results["variants"].as_array().unwrap() {
        assert!(v["weight"].as_f64().unwrap() >= 0.01 - 1e-12);
    }
    let _ = Method::GET;
}
