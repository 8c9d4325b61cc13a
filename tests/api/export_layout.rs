//! The exact bytes of every export (assignments, events, the daily series, the audit log) and
//! the columns of the results export: what analysts' scripts parse must not move.
//!
//! The rows are written straight into the database with fixed times, so the expected output
//! can be spelled out in full.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

async fn download(app: &TestApp, path: &str) -> String {
    let response = app
        .http
        .get(format!("{}{path}", app.address))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

/// The same export from the command line.
fn from_cli(app: &TestApp, args: &[&str]) -> String {
    posterior_ok(&app.db.url, args)
}

/// A contextual experiment (context: platform) whose rows are written by hand.
async fn experiment_with_rows(app: &TestApp) {
    app.running_experiment(json!({
        "key": "golden", "name": "Golden", "dimension": "content", "kind": "ab",
        "variants": [{"key": "a"}, {"key": "b"}],
        "goal": {"event": "purchase", "metric": "revenue"}, "context": ["platform"]
    }))
    .await;
    app.execute(
        r#"
        INSERT INTO assignments (experiment_id, user_id, variant_id, assigned_at, propensity,
                                 attributes, converted_at, value, context_key)
        SELECT e.id, u.user_id, v.id, u.assigned_at::timestamptz, u.propensity,
               u.attributes::jsonb, u.converted_at::timestamptz, u.value, u.context_key
        FROM experiments e
        JOIN (VALUES
            ('u-1', 0, '2026-01-10T12:00:00Z', 0.5,
             '{"city": "Paris, \"Île\"\nde-France", "platform": "ios", "visits": 3}',
             '2026-01-10T12:30:00.123456Z', 9.5, '["ios"]'),
            ('u-2', 1, '2026-01-10T12:00:00.25Z', 0.25, '{"plan": "=cmd()"}', NULL, 0, '["(none)"]'),
            ('u,3', 1, '2026-01-11T00:00:00Z', 0.75, '{}', NULL, 0, NULL)
        ) AS u (user_id, position, assigned_at, propensity, attributes, converted_at, value,
                context_key) ON true
        JOIN variants v ON v.experiment_id = e.id AND v.position = u.position
        WHERE e.key = 'golden';

        INSERT INTO events (user_id, event_id, name, value, occurred_at, received_at) VALUES
            ('u-1', 'e-0', 'purchase', NULL, '2020-01-01T00:00:00Z', '2020-01-01T00:00:01Z'),
            ('u-1', 'e-1', 'purchase', 9.5, '2026-01-10T12:30:00.123456Z', '2026-01-10T12:30:01Z'),
            ('u-2', 'e-2', 'page_view', NULL, '2026-01-10T13:00:00Z', '2026-01-10T13:00:00Z'),
            ('u,3', 'e,"3"', 'purchase', 1e-7, '2026-01-11T00:00:00Z', '2026-01-11T00:00:00Z'),
            ('stranger', 'e-4', 'purchase', 1, '2026-01-11T00:00:00Z', '2026-01-11T00:00:00Z');

        INSERT INTO period_stats (variant_id, period_start, shard, experiment_id, users,
                                  conversions, value_sum, value_sum_sq, expected_users)
        SELECT v.id, p.period_start::timestamptz, p.shard, e.id, p.users, p.conversions,
               p.value_sum, p.value_sum * p.value_sum, p.expected_users
        FROM experiments e
        JOIN (VALUES
            (0, '2026-01-10T12:00:00Z', 0, 1, 1, 9.5, 0.5),
            (1, '2026-01-10T12:00:00Z', 0, 1, 0, 0.0, 0.25),
            (0, '2026-01-10T13:00:00Z', 1, 3, 0, 0.0, 1.5),
            (1, '2026-01-10T13:00:00Z', 1, 0, 0, 0.0, 0.0),
            (1, '2026-01-11T00:00:00Z', 0, 1, 0, 0.0, 0.75)
        ) AS p (position, period_start, shard, users, conversions, value_sum, expected_users)
          ON true
        JOIN variants v ON v.experiment_id = e.id AND v.position = p.position
        WHERE e.key = 'golden';
        "#,
    );
}

const ASSIGNMENTS_CSV: &str = concat!(
    "experiment,user_id,variant,assigned_at,propensity,attributes,converted,converted_at,value,context\r\n",
    "golden,u-1,a,2026-01-10T12:00:00.000000Z,0.5,\"{\"\"city\"\":\"\"Paris, \\\"\"Île\\\"\"\\nde-France\"\",\"\"platform\"\":\"\"ios\"\",\"\"visits\"\":3}\",true,2026-01-10T12:30:00.123456Z,9.5,\"{\"\"platform\"\":\"\"ios\"\"}\"\r\n",
    "golden,u-2,b,2026-01-10T12:00:00.250000Z,0.25,\"{\"\"plan\"\":\"\"=cmd()\"\"}\",false,,0.0,\"{\"\"platform\"\":\"\"(none)\"\"}\"\r\n",
    "golden,\"u,3\",b,2026-01-11T00:00:00.000000Z,0.75,{},false,,0.0,\r\n",
);
const ASSIGNMENTS_JSONL: &str = concat!(
    "{\"experiment\":\"golden\",\"user_id\":\"u-1\",\"variant\":\"a\",\"assigned_at\":\"2026-01-10T12:00:00.000000Z\",\"propensity\":0.5,\"attributes\":{\"city\":\"Paris, \\\"Île\\\"\\nde-France\",\"platform\":\"ios\",\"visits\":3},\"converted\":true,\"converted_at\":\"2026-01-10T12:30:00.123456Z\",\"value\":9.5,\"context\":{\"platform\":\"ios\"}}\n",
    "{\"experiment\":\"golden\",\"user_id\":\"u-2\",\"variant\":\"b\",\"assigned_at\":\"2026-01-10T12:00:00.250000Z\",\"propensity\":0.25,\"attributes\":{\"plan\":\"=cmd()\"},\"converted\":false,\"converted_at\":null,\"value\":0.0,\"context\":{\"platform\":\"(none)\"}}\n",
    "{\"experiment\":\"golden\",\"user_id\":\"u,3\",\"variant\":\"b\",\"assigned_at\":\"2026-01-11T00:00:00.000000Z\",\"propensity\":0.75,\"attributes\":{},\"converted\":false,\"converted_at\":null,\"value\":0.0,\"context\":null}\n",
);
const EVENTS_CSV: &str = concat!(
    "experiment,event_id,user_id,name,value,occurred_at,received_at,variant,assigned_at,after_assignment\r\n",
    "golden,\"e,\"\"3\"\"\",\"u,3\",purchase,1e-7,2026-01-11T00:00:00.000000Z,2026-01-11T00:00:00.000000Z,b,2026-01-11T00:00:00.000000Z,true\r\n",
    "golden,e-0,u-1,purchase,,2020-01-01T00:00:00.000000Z,2020-01-01T00:00:01.000000Z,a,2026-01-10T12:00:00.000000Z,false\r\n",
    "golden,e-1,u-1,purchase,9.5,2026-01-10T12:30:00.123456Z,2026-01-10T12:30:01.000000Z,a,2026-01-10T12:00:00.000000Z,true\r\n",
);
const EVENTS_JSONL: &str = concat!(
    "{\"experiment\":\"golden\",\"event_id\":\"e,\\\"3\\\"\",\"user_id\":\"u,3\",\"name\":\"purchase\",\"value\":1e-7,\"occurred_at\":\"2026-01-11T00:00:00.000000Z\",\"received_at\":\"2026-01-11T00:00:00.000000Z\",\"variant\":\"b\",\"assigned_at\":\"2026-01-11T00:00:00.000000Z\",\"after_assignment\":true}\n",
    "{\"experiment\":\"golden\",\"event_id\":\"e-0\",\"user_id\":\"u-1\",\"name\":\"purchase\",\"value\":null,\"occurred_at\":\"2020-01-01T00:00:00.000000Z\",\"received_at\":\"2020-01-01T00:00:01.000000Z\",\"variant\":\"a\",\"assigned_at\":\"2026-01-10T12:00:00.000000Z\",\"after_assignment\":false}\n",
    "{\"experiment\":\"golden\",\"event_id\":\"e-1\",\"user_id\":\"u-1\",\"name\":\"purchase\",\"value\":9.5,\"occurred_at\":\"2026-01-10T12:30:00.123456Z\",\"received_at\":\"2026-01-10T12:30:01.000000Z\",\"variant\":\"a\",\"assigned_at\":\"2026-01-10T12:00:00.000000Z\",\"after_assignment\":true}\n",
);
const SERIES_CSV: &str = concat!(
    "experiment,day,variant,users,conversions,value_sum,conversion_rate,weight,cumulative_users,cumulative_conversions\r\n",
    "golden,2026-01-10,a,4,1,9.5,0.25,0.8666666666666666,4,1\r\n",
    "golden,2026-01-10,b,1,0,0.0,0.0,0.13333333333333333,1,0\r\n",
    "golden,2026-01-11,b,1,0,0.0,0.0,1.0,2,0\r\n",
);
const SERIES_JSONL: &str = concat!(
    "{\"experiment\":\"golden\",\"day\":\"2026-01-10\",\"variant\":\"a\",\"users\":4,\"conversions\":1,\"value_sum\":9.5,\"conversion_rate\":0.25,\"weight\":0.8666666666666666,\"cumulative_users\":4,\"cumulative_conversions\":1}\n",
    "{\"experiment\":\"golden\",\"day\":\"2026-01-10\",\"variant\":\"b\",\"users\":1,\"conversions\":0,\"value_sum\":0.0,\"conversion_rate\":0.0,\"weight\":0.13333333333333333,\"cumulative_users\":1,\"cumulative_conversions\":0}\n",
    "{\"experiment\":\"golden\",\"day\":\"2026-01-11\",\"variant\":\"b\",\"users\":1,\"conversions\":0,\"value_sum\":0.0,\"conversion_rate\":0.0,\"weight\":1.0,\"cumulative_users\":2,\"cumulative_conversions\":0}\n",
);

#[tokio::test]
async fn raw_rows_and_the_series_keep_their_bytes() {
    let app = spawn_app().await;
    experiment_with_rows(&app).await;
    for (data, format, expected) in [
        ("assignments", "csv", ASSIGNMENTS_CSV),
        ("assignments", "jsonl", ASSIGNMENTS_JSONL),
        ("events", "csv", EVENTS_CSV),
        ("events", "jsonl", EVENTS_JSONL),
        ("series", "csv", SERIES_CSV),
        ("series", "jsonl", SERIES_JSONL),
    ] {
        let over_http = download(
            &app,
            &format!("/api/v1/experiments/golden/export?data={data}&format={format}"),
        )
        .await;
        assert_eq!(over_http, expected, "{data} {format}");
        let cli = from_cli(
            &app,
            &["export", "golden", "--data", data, "--format", format],
        );
        assert_eq!(cli, expected, "{data} {format} from the command line");
    }
    // A range keeps the same layout and cuts the rows.
    let day = download(
        &app,
        "/api/v1/experiments/golden/export?data=assignments&format=csv&from=2026-01-10&to=2026-01-11",
    )
    .await;
    let records = |text: &str| -> Vec<csv::StringRecord> {
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(records(&day), records(ASSIGNMENTS_CSV)[..2]);
    assert!(day.starts_with(ASSIGNMENTS_CSV.split("\r\n").next().unwrap()));
}

const AUDIT_CSV: &str = concat!(
    "id,at,actor,action,target,before,after\r\n",
    "1,2020-01-01T00:00:00.000000Z,cli,key.create,7,,\"{\"\"id\"\":7,\"\"label\"\":\"\"ci, \\\"\"bot\\\"\"\"\"}\"\r\n",
    "2,2020-01-01T00:00:00.500000Z,env:admin,experiment.patch,x,\"{\"\"name\"\":\"\"Old\"\"}\",\"{\"\"name\"\":\"\"New\\nline\"\"}\"\r\n",
    "3,2020-06-01T12:00:00.000001Z,dashboard:7,user.erase,user-sha256:ab,,\r\n",
);
const AUDIT_JSONL: &str = concat!(
    "{\"id\":1,\"at\":\"2020-01-01T00:00:00.000000Z\",\"actor\":\"cli\",\"action\":\"key.create\",\"target\":\"7\",\"before\":null,\"after\":{\"id\":7,\"label\":\"ci, \\\"bot\\\"\"}}\n",
    "{\"id\":2,\"at\":\"2020-01-01T00:00:00.500000Z\",\"actor\":\"env:admin\",\"action\":\"experiment.patch\",\"target\":\"x\",\"before\":{\"name\":\"Old\"},\"after\":{\"name\":\"New\\nline\"}}\n",
    "{\"id\":3,\"at\":\"2020-06-01T12:00:00.000001Z\",\"actor\":\"dashboard:7\",\"action\":\"user.erase\",\"target\":\"user-sha256:ab\",\"before\":null,\"after\":null}\n",
);

#[tokio::test]
async fn the_audit_log_keeps_its_bytes() {
    let app = spawn_app().await;
    app.execute(
        r#"
        INSERT INTO audit_log (at, actor, action, target, before, after) VALUES
            ('2020-01-01T00:00:00Z', 'cli', 'key.create', '7', NULL, '{"id": 7, "label": "ci, \"bot\""}'),
            ('2020-01-01T00:00:00.5Z', 'env:admin', 'experiment.patch', 'x',
             '{"name": "Old"}', '{"name": "New\nline"}'),
            ('2020-06-01T12:00:00.000001Z', 'dashboard:7', 'user.erase', 'user-sha256:ab', NULL, NULL);
        "#,
    );
    // Later entries (the server's own, if any) fall outside the range.
    let range = "from=2020-01-01&to=2021-01-01";
    for (format, expected) in [("csv", AUDIT_CSV), ("jsonl", AUDIT_JSONL)] {
        let over_http = download(&app, &format!("/api/v1/audit?format={format}&{range}")).await;
        assert_eq!(over_http, expected, "{format}");
        let cli = from_cli(
            &app,
            &[
                "audit",
                "--format",
                format,
                "--from",
                "2020-01-01",
                "--to",
                "2021-01-01",
            ],
        );
        assert_eq!(cli, expected, "{format} from the command line");
    }
}

/// `/results` flattened as the results export spells it: `rate.low` → `rate_low`, the
/// variant's `key` → `variant`, arrays as JSON text.
fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(fields) => {
            for (name, v) in fields {
                flatten(&format!("{prefix}_{name}"), v, out);
            }
        }
        Value::Array(_) => {
            out.insert(prefix.to_string(), Value::String(value.to_string()));
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn flat(object: &Value, skip: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, v) in object.as_object().unwrap() {
        if !skip.contains(&name.as_str()) {
            let name = if name == "key" { "variant" } else { name };
            flatten(name, v, &mut out);
        }
    }
    out
}

/// Checks each exported row against `/results`: the experiment's figures on every variant
/// row, the variant's own, then a row per context and variant; `computed_at` aside (each
/// computation has its own). Returns the header.
async fn results_match(app: &TestApp, key: &str) -> String {
    let results = app.results(key).await;
    let text = download(
        app,
        &format!("/api/v1/experiments/{key}/export?data=results&format=jsonl"),
    )
    .await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shared = flat(
        &results,
        &[
            "variants",
            "weights",
            "notes",
            "segments",
            "computed_at",
            "metrics",
        ],
    );
    let mut expected: Vec<Map<String, Value>> = Vec::new();
    for variant in results["variants"].as_array().unwrap() {
        let mut row = shared.clone();
        row.extend(flat(variant, &[]));
        expected.push(row);
    }
    for context in results["segments"].as_array().unwrap() {
        for variant in context["variants"].as_array().unwrap() {
            let mut row = flat(variant, &[]);
            row.insert("experiment".into(), Value::from(key));
            row.insert(
                "segment".into(),
                Value::String(context["context"].to_string()),
            );
            row.insert("segment_users".into(), context["users"].clone());
            row.insert(
                "segment_best".into(),
                Value::Bool(variant["key"] == context["best_variant"]),
            );
            expected.push(row);
        }
    }
    assert_eq!(lines.len(), expected.len(), "{text}");
    for (line, expected) in lines.iter().zip(&expected) {
        for (name, value) in line.as_object().unwrap() {
            // Each computation has its own time, and the verdict's clock-bound figures move
            // with it.
            if [
                "computed_at",
                "decision_runtime_days",
                "decision_days_needed",
            ]
            .contains(&name.as_str())
            {
                continue;
            }
            // Null cells are columns other rows fill (or a null Option spelled as one cell).
            let want = expected.get(name).unwrap_or(&Value::Null);
            assert_eq!(value, want, "{key}: {name} in {line}");
        }
        for name in expected.keys() {
            assert!(
                line.get(name).is_some() || expected[name].is_null(),
                "{key}: {name} missing from {line}"
            );
        }
    }
    let csv = download(
        app,
        &format!("/api/v1/experiments/{key}/export?data=results&format=csv"),
    )
    .await;
    csv.lines().next().unwrap().to_string()
}

#[tokio::test]
async fn results_rows_are_the_results_with_columns_in_their_order() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("conversion", "ab"))
        .await;
    let mut second_control = experiment_body("second-control", "ab");
    second_control["control"] = json!("b");
    app.running_experiment(second_control).await;
    app.running_experiment(json!({
        "key": "contexts", "name": "Revenue by context", "dimension": "content", "kind": "ab",
        "variants": [{"key": "a"}, {"key": "b"}],
        "goal": {"event": "buy", "metric": "revenue"}, "context": ["platform"]
    }))
    .await;
    app.running_experiment(json!({
        "key": "factorial", "name": "Factorial", "kind": "factorial",
        "factors": [
            {"key": "content", "dimension": "content", "levels": [{"key": "plain"}, {"key": "discount"}]},
            {"key": "timing", "dimension": "timing", "levels": [{"key": "morning"}, {"key": "evening"}]}
        ],
        "goal": {"event": "purchase", "metric": "conversion"}
    }))
    .await;
    for i in 0..30 {
        let platform = if i % 2 == 0 { "ios" } else { "web" };
        app.assign(json!({"user_id": format!("u-{i}"), "attributes": {"platform": platform}}))
            .await;
    }
    let events: Vec<Value> = (0..30)
        .filter(|i| i % 4 == 0)
        .flat_map(|i| {
            [
                json!({"event_id": format!("p-{i}"), "user_id": format!("u-{i}"), "name": "purchase"}),
                json!({"event_id": format!("b-{i}"), "user_id": format!("u-{i}"), "name": "buy", "value": f64::from(i) + 0.25}),
            ]
        })
        .collect();
    assert_eq!(
        app.track(Value::Array(events)).await.status,
        StatusCode::ACCEPTED
    );

    const SHARED: &str = "computed_at,control,decision_leader,decision_outcome,\
        decision_users_needed_per_arm,kind,metric";
    const THRESHOLDS: &str = "sample_ratio_mismatch,srm_p_value,status,\
        thresholds_expected_loss_relative,thresholds_interval_level,\
        thresholds_min_users_per_arm,thresholds_p_value,thresholds_probability_best,\
        thresholds_srm_p_value,winner";
    const VERDICT: &str = "decision_verdict,decision_variant,decision_summary,\
        decision_reasons,decision_runtime_days,decision_users_needed,decision_days_needed";
    const VARIANT: &str = "chance_to_beat_control,conversions,expected_loss,lift_high,\
        lift_low,lift_mean,name,p_value,period_weighted_lift,period_weighted_mean,\
        probability_best,rate_high,rate_low,rate_mean,users";
    for key in ["conversion", "second-control"] {
        assert_eq!(
            results_match(&app, key).await,
            format!(
                "experiment,variant,{SHARED},{THRESHOLDS},{VARIANT},value_per_user,value_sum,weight,analysis,{VERDICT},policy"
            )
        );
    }
    assert_eq!(
        results_match(&app, "contexts").await,
        format!(
            "experiment,variant,{SHARED},personalization_best_single_rate,\
             personalization_best_single_variant,personalization_draws,\
             personalization_gain_high,personalization_gain_low,personalization_gain_mean,\
             personalization_per_segment_rate,personalization_prior_strength,{THRESHOLDS},\
             {VARIANT},value_per_user_high,value_per_user_low,value_per_user_mean,value_sum,\
             weight,segment,segment_users,segment_best,analysis,{VERDICT},policy"
        )
    );
    // A factorial experiment adds the goal's effects (JSON text) and its recommendation.
    assert_eq!(
        results_match(&app, "factorial").await,
        format!(
            "experiment,variant,{SHARED},{THRESHOLDS},{VARIANT},value_per_user,value_sum,weight,analysis,{VERDICT},policy,\
             factors,interactions,recommendation_variant,recommendation_reason"
        )
    );
    // A range adds its ends after the experiment's figures (and no rows per context).
    let ranged = download(
        &app,
        "/api/v1/experiments/contexts/export?data=results&format=csv&from=2020-01-01&to=2100-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(
        ranged.lines().next().unwrap(),
        format!(
            "experiment,variant,{SHARED},{THRESHOLDS},from,to,{VARIANT},value_per_user_high,\
             value_per_user_low,value_per_user_mean,value_sum,weight,analysis,{VERDICT},policy"
        )
    );
    assert_eq!(ranged.lines().count(), 3, "{ranged}");
    assert!(
        ranged
            .lines()
            .skip(1)
            .all(|l| l.contains(",2020-01-01T00:00:00.000000Z,2100-01-01T00:00:00.000000Z,")),
        "{ranged}"
    );
}
