//! The `series` data set: per day (UTC) and variant, new users, their conversions and value,
//! and the share of new users the policy meant for the variant, with running totals.

use super::format::{Encoder, ExportFormat, number};
use super::paging::Sink;
use super::selection::Selection;
use crate::engine::EngineError;
use crate::engine::results::{self, SeriesPoint};
use crate::store::export as rows;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::PgConnection;
use serde_json::Value;
use std::collections::BTreeMap;

const COLUMNS: [&str; 10] = [
    "experiment",
    "day",
    "variant",
    "users",
    "conversions",
    "value_sum",
    "conversion_rate",
    "weight",
    "cumulative_users",
    "cumulative_conversions",
];

/// One day of one variant.
#[derive(Debug, Clone, PartialEq)]
struct Day {
    day: NaiveDate,
    variant: String,
    users: i64,
    conversions: i64,
    value_sum: f64,
    /// The share of the day's new users the policy meant for the variant.
    weight: f64,
    cumulative_users: i64,
    cumulative_conversions: i64,
}

pub(super) fn write(
    conn: &mut PgConnection,
    selection: &Selection,
    format: ExportFormat,
    sink: &mut dyn Sink,
) -> Result<u64, EngineError> {
    let experiment = selection.experiment;
    let periods = rows::period_stats_in(conn, experiment.id, selection.range)?;
    let days = daily_series(&results::series(experiment, &periods));
    let mut encoder = Encoder::new(format, COLUMNS.to_vec());
    for d in &days {
        let rate = if d.users > 0 {
            number(d.conversions as f64 / d.users as f64)
        } else {
            Value::Null
        };
        encoder.write(&[
            selection.key.clone(),
            Value::String(d.day.format("%Y-%m-%d").to_string()),
            Value::String(d.variant.clone()),
            Value::from(d.users),
            Value::from(d.conversions),
            number(d.value_sum),
            rate,
            number(d.weight),
            Value::from(d.cumulative_users),
            Value::from(d.cumulative_conversions),
        ]);
    }
    sink.send(encoder.take());
    Ok(days.len() as u64)
}

/// Sums the hourly points into days (UTC), per variant. A day's weight is the hourly weights
/// averaged by each hour's new users (the share of the day's new users the policy meant for
/// the variant); a day without users keeps the plain mean of its hours.
fn daily_series(points: &[SeriesPoint]) -> Vec<Day> {
    // (day, variant order) → sums. Variant order: first appearance.
    let mut variants: Vec<&str> = Vec::new();
    for p in points {
        if !variants.contains(&p.variant.as_str()) {
            variants.push(&p.variant);
        }
    }
    let mut hour_users: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
    for p in points {
        *hour_users.entry(p.period_start).or_default() += p.users;
    }
    #[derive(Default)]
    struct Sums {
        users: i64,
        conversions: i64,
        value_sum: f64,
        weighted: f64,
        weight_users: i64,
        weight_sum: f64,
        hours: u32,
    }
    let mut days: BTreeMap<(NaiveDate, usize), Sums> = BTreeMap::new();
    for p in points {
        let v = variants.iter().position(|v| *v == p.variant).unwrap_or(0);
        let d = days.entry((p.period_start.date_naive(), v)).or_default();
        let n = hour_users.get(&p.period_start).copied().unwrap_or(0);
        d.users += p.users;
        d.conversions += p.conversions;
        d.value_sum += p.value_sum;
        d.weighted += p.weight * n as f64;
        d.weight_users += n;
        d.weight_sum += p.weight;
        d.hours += 1;
    }
    let mut cumulative: Vec<(i64, i64)> = vec![(0, 0); variants.len()];
    days.into_iter()
        .map(|((day, v), d)| {
            cumulative[v].0 += d.users;
            cumulative[v].1 += d.conversions;
            let weight = if d.weight_users > 0 {
                d.weighted / d.weight_users as f64
            } else {
                d.weight_sum / f64::from(d.hours.max(1))
            };
            Day {
                day,
                variant: variants[v].to_string(),
                users: d.users,
                conversions: d.conversions,
                value_sum: d.value_sum,
                weight,
                cumulative_users: cumulative[v].0,
                cumulative_conversions: cumulative[v].1,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hours_sum_into_days() {
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
        let p = |d, h, variant: &str, users, conversions, weight| SeriesPoint {
            period_start: at(d, h),
            variant: variant.into(),
            users,
            conversions,
            value_sum: 0.0,
            weight,
        };
        let points = vec![
            p(1, 9, "a", 10, 1, 0.5),
            p(1, 9, "b", 10, 2, 0.5),
            p(1, 10, "a", 27, 3, 0.9),
            p(1, 10, "b", 3, 0, 0.1),
            p(2, 0, "a", 1, 1, 0.2),
            p(2, 0, "b", 4, 0, 0.8),
        ];
        let days = daily_series(&points);
        assert_eq!(days.len(), 4);
        assert_eq!(days[0].day, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(days[0].variant, "a");
        assert_eq!(days[0].users, 37);
        assert_eq!(days[0].conversions, 4);
        // (0.5 × 20 + 0.9 × 30) / 50
        assert!((days[0].weight - 0.74).abs() < 1e-12, "{}", days[0].weight);
        assert_eq!(days[2].cumulative_users, 38);
        assert_eq!(days[3].cumulative_conversions, 2);
    }
}
