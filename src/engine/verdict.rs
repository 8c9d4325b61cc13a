//! The one verdict a marketer acts on (`decision.verdict`): `ship`, `roll_back`,
//! `keep_running` or `no_difference`, with the variant, the reasons in numbers, one sentence,
//! and for `keep_running` how many more users (and days at today's traffic) it likely needs.
//!
//! Judged on the goal (`metrics[0]`) by the experiment's analysis: the credible interval of the
//! lift and the chance to beat control (Bayesian), or the confidence sequence, once decisive
//! (sequential). `decision.outcome` stays what it was; this builds on it.

use super::metric_results::{MetricResults, MetricVariant};
use super::results::{Outcome, fails_guardrail, proven_better, proven_harm};
use crate::domain::{Analysis, Direction, ExperimentSpec};
use crate::stats::Interval;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Bayesian: a variant whose chance to beat control on the goal is at most this loses.
pub const LOSING_CHANCE: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The variant wins the goal, fails no guardrail, has enough users and ran the minimum
    /// runtime.
    Ship,
    /// Every variant loses on the goal or fails a guardrail: go back to control. Not held
    /// back by the minimum runtime (harm is harm).
    RollBack,
    /// Not settled yet.
    KeepRunning,
    /// Enough users and runtime, and every variant's goal lift lies within ± the minimum
    /// effect: whichever ships, nothing that matters changes.
    NoDifference,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ship => "ship",
            Verdict::RollBack => "roll_back",
            Verdict::KeepRunning => "keep_running",
            Verdict::NoDifference => "no_difference",
        }
    }
}

/// What the verdict is judged from, gathered by `results::compute`.
pub(super) struct Facts<'a> {
    pub spec: &'a ExperimentSpec,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    pub outcome: Outcome,
    pub leader: usize,
    pub control: usize,
    /// Users missing in the arm furthest from the minimum.
    pub needed_per_arm: u64,
    /// Users per arm, in variant order.
    pub users: &'a [u64],
    /// Probability best on the goal, in variant order.
    pub best: &'a [f64],
    /// Users assigned in the last 24 hours (today's traffic).
    pub recent_users: u64,
    /// Every metric, the goal first.
    pub metrics: &'a [MetricResults],
}

/// The verdict and what it says, as `Decision` carries it.
pub(super) struct Judgement {
    pub verdict: Verdict,
    pub variant: Option<String>,
    pub reasons: Vec<String>,
    pub summary: String,
    pub runtime_days: f64,
    pub users_needed: Option<u64>,
    pub days_needed: Option<f64>,
}

const DAY_SECONDS: f64 = 86_400.0;

pub(super) fn judge(f: &Facts) -> Judgement {
    let spec = f.spec;
    let goal = &f.metrics[0];
    let key = |i: usize| spec.variants[i].key.to_string();
    let runtime_days = match f.started_at {
        Some(start) => {
            let end = f.stopped_at.unwrap_or(f.now);
            ((end - start).num_milliseconds() as f64 / 1000.0 / DAY_SECONDS).max(0.0)
        }
        None => 0.0,
    };
    let min_days = spec.min_runtime.seconds() as f64 / DAY_SECONDS;
    let runtime_ok = f.started_at.is_some() && runtime_days >= min_days;
    let others: Vec<usize> = (0..spec.variants.len())
        .filter(|&i| i != f.control)
        .collect();
    let min_effect = spec.minimum_effect;
    let analysis = spec.analysis;

    if f.started_at.is_none() {
        return Judgement {
            verdict: Verdict::KeepRunning,
            variant: None,
            reasons: vec!["not started: no user is enrolled yet".into()],
            summary: "Not started: start the experiment to enrol users.".into(),
            runtime_days,
            users_needed: None,
            days_needed: None,
        };
    }

    // The goal's evidence per variant by the chosen analysis; the sequential one only once
    // decisive (an asymptotic sequence needs enough events).
    let decisive = |i: usize| match analysis {
        Analysis::Bayesian => goal.variants[i].lift.filter(finite),
        Analysis::Sequential => goal.variants[i]
            .sequential
            .filter(|s| s.decisive && finite(&s.lift))
            .map(|s| s.lift),
    };
    let loses = |i: usize| {
        let v = &goal.variants[i];
        match analysis {
            Analysis::Bayesian => {
                f.needed_per_arm == 0
                    && v.chance_to_beat_control.is_some_and(|c| c <= LOSING_CHANCE)
            }
            Analysis::Sequential => {
                decisive(i).is_some_and(|l| proven_harm(l, goal.direction, 0.0))
            }
        }
    };
    let failing = |i: usize| -> Vec<(&MetricResults, &MetricVariant)> {
        f.metrics
            .iter()
            .filter_map(|m| {
                let v = m.variants.get(i)?;
                fails_guardrail(m, v, analysis).then_some((m, v))
            })
            .collect()
    };

    let mut reasons = Vec::new();
    let min_users = spec.min_users_per_arm;
    let users_reason = if f.needed_per_arm > 0 {
        format!(
            "the smallest variant needs {} more users (minimum {} per variant)",
            thousands(f.needed_per_arm),
            thousands(min_users.into())
        )
    } else {
        format!(
            "every variant has at least {} users",
            thousands(min_users.into())
        )
    };
    let runtime_reason = if spec.min_runtime.seconds() == 0 {
        format!("ran {} days (no minimum runtime)", days(runtime_days))
    } else if runtime_ok {
        format!(
            "ran {} days (minimum {})",
            days(runtime_days),
            days(min_days)
        )
    } else {
        format!(
            "ran {} of {} days: a day-of-week effect needs a whole week of data",
            days(runtime_days),
            days(min_days)
        )
    };

    // Roll back: every variant loses or fails a guardrail (or the chosen analysis already
    // calls the control the winner). Not gated on the runtime: harm is harm.
    let control_wins = f.outcome == Outcome::Winner && f.leader == f.control;
    let roll_back = !others.is_empty()
        && (control_wins || others.iter().all(|&i| loses(i) || !failing(i).is_empty()));
    if roll_back {
        for &i in &others {
            reasons.push(goal_reason(f, i));
            for (m, v) in failing(i) {
                reasons.push(guardrail_reason(m, v));
            }
        }
        reasons.push(runtime_reason);
        reasons.push(
            "harm is acted on at once: a roll back does not wait for the minimum runtime".into(),
        );
        let summary = match others.as_slice() {
            [i] => match failing(*i).first() {
                Some((m, _)) => format!(
                    "Roll back to control: {} fails the guardrail {}.",
                    key(*i),
                    m.name
                ),
                None => format!(
                    "Roll back to control: {} loses on the goal ({}).",
                    key(*i),
                    lift_mean(&goal.variants[*i])
                ),
            },
            _ => {
                "Roll back to control: every variant loses on the goal or fails a guardrail.".into()
            }
        };
        return Judgement {
            verdict: Verdict::RollBack,
            variant: Some(key(f.control)),
            reasons,
            summary,
            runtime_days,
            users_needed: None,
            days_needed: None,
        };
    }

    // Ship: the chosen analysis names a winner other than control, and it ran long enough.
    let wins = f.outcome == Outcome::Winner && f.leader != f.control;
    if wins && runtime_ok {
        reasons.push(goal_reason(f, f.leader));
        reasons.push(users_reason);
        reasons.push(runtime_reason);
        if f.metrics.iter().any(|m| m.threshold.is_some()) {
            reasons.push(format!("{} fails no guardrail", key(f.leader)));
        }
        return Judgement {
            verdict: Verdict::Ship,
            variant: Some(key(f.leader)),
            summary: format!(
                "Ship {}: it beats control by {} on the goal, fails no guardrail, and the test ran {} days.",
                key(f.leader),
                lift_mean(&goal.variants[f.leader]),
                days(runtime_days)
            ),
            reasons,
            runtime_days,
            users_needed: None,
            days_needed: None,
        };
    }

    // No difference: enough users and runtime, and every variant within ± the minimum effect.
    let within = |i: usize| decisive(i).is_some_and(|l| l.low > -min_effect && l.high < min_effect);
    if f.needed_per_arm == 0 && runtime_ok && others.iter().all(|&i| within(i)) {
        for &i in &others {
            reasons.push(goal_reason(f, i));
        }
        reasons.push(format!(
            "every variant's goal lift lies within ±{} (the minimum effect that matters)",
            percent(min_effect)
        ));
        reasons.push(users_reason);
        reasons.push(runtime_reason);
        return Judgement {
            verdict: Verdict::NoDifference,
            variant: None,
            summary: format!(
                "No difference: every variant is within ±{} of control on the goal; keep control or choose on other grounds.",
                percent(min_effect)
            ),
            reasons,
            runtime_days,
            users_needed: None,
            days_needed: None,
        };
    }

    // Keep running: how far the interval of the variant in front is from settling.
    let challenger = if f.leader != f.control {
        f.leader
    } else {
        others
            .iter()
            .copied()
            .max_by(|&a, &b| f.best[a].total_cmp(&f.best[b]))
            .unwrap_or(f.leader)
    };
    reasons.push(goal_reason(f, challenger));
    let total: u64 = f.users.iter().sum();
    let shortfall: u64 = f
        .users
        .iter()
        .map(|&n| u64::from(min_users).saturating_sub(n))
        .sum();
    let estimate = estimate_interval(goal, challenger, analysis)
        .and_then(|lift| users_to_settle(lift, total, min_effect).map(|more| (lift, more)));
    if let Some((lift, more)) = estimate {
        let h = (lift.high - lift.low) / 2.0;
        let target = settling_half_width(lift.mean, min_effect);
        reasons.push(if more > 0 {
            format!(
                "to settle, the interval's half-width must fall from {} to {}: about {} more users (it narrows as 1/√users)",
                percent(h),
                percent(target),
                thousands(more)
            )
        } else {
            format!(
                "the interval's half-width ({}) is already below {}",
                percent(h),
                percent(target)
            )
        });
    }
    reasons.push(users_reason);
    reasons.push(runtime_reason);
    let blocked: Vec<_> = failing(challenger);
    for (m, v) in &blocked {
        reasons.push(guardrail_reason(m, v));
    }
    let users_needed = estimate.map(|(_, more)| more.max(shortfall));
    let runtime_left = if runtime_ok {
        0.0
    } else {
        min_days - runtime_days
    };
    let traffic_days = match users_needed {
        Some(0) => Some(0.0),
        Some(more) if f.recent_users > 0 => Some(more as f64 / f.recent_users as f64),
        _ => None,
    };
    let days_needed = traffic_days.map(|d| d.max(runtime_left));
    match (users_needed, f.recent_users) {
        (Some(more), 0) if more > 0 => {
            reasons.push("no user was assigned in the last 24 hours: no time estimate".into())
        }
        (Some(more), recent) if more > 0 => reasons.push(format!(
            "today's traffic: {} users in the last 24 hours",
            thousands(recent)
        )),
        _ => {}
    }

    let v = key(challenger);
    let lift = lift_mean(&goal.variants[challenger]);
    let mut summary = if f.needed_per_arm > 0 {
        format!(
            "Keep running: {} more users per variant before any verdict",
            thousands(f.needed_per_arm)
        )
    } else if wins {
        format!(
            "Keep running: {v} wins by {lift} but the test ran {} of its {} days",
            days(runtime_days),
            days(min_days)
        )
    } else if let Some((m, _)) = blocked.first() {
        format!(
            "Keep running: {v} leads by {lift} on the goal but fails the guardrail {}",
            m.name
        )
    } else {
        let settled_side = estimate_interval(goal, challenger, analysis)
            .is_some_and(|l| l.low > 0.0 || l.high < 0.0);
        let ahead = goal.variants[challenger]
            .lift
            .is_some_and(|l| match goal.direction {
                Direction::Increase => l.mean > 0.0,
                Direction::Decrease => l.mean < 0.0,
            });
        let verb = if ahead { "leads" } else { "trails" };
        if settled_side {
            format!(
                "Keep running: {v} {verb} by {lift} but the {} rule has not called it yet",
                analysis.as_str()
            )
        } else {
            format!("Keep running: {v} {verb} by {lift} but the interval still includes no effect")
        }
    };
    match (users_needed, days_needed) {
        (Some(more), Some(d)) if more > 0 => summary.push_str(&format!(
            "; about {} more users (≈ {} days at today's traffic).",
            thousands(more),
            days(d)
        )),
        (Some(more), None) if more > 0 => summary.push_str(&format!(
            "; about {} more users (no traffic in the last 24 hours).",
            thousands(more)
        )),
        _ if wins && !runtime_ok => {
            summary.push_str(&format!("; {} more days.", days(runtime_left)))
        }
        _ => summary.push('.'),
    }
    Judgement {
        verdict: Verdict::KeepRunning,
        variant: None,
        reasons,
        summary,
        runtime_days,
        users_needed,
        days_needed,
    }
}

/// The half-width at which a lift `mean` settles: the interval excludes 0 (h < |lift|) or lies
/// within ± `minimum_effect` (h < minimum_effect − |lift|), whichever comes first.
pub fn settling_half_width(mean: f64, minimum_effect: f64) -> f64 {
    mean.abs().max(minimum_effect - mean.abs())
}

/// More users in total before an interval of the lift, now from `users` users, settles: its
/// half-width h shrinks as 1/√n, so it reaches the target t at n·(h/t)². An estimate (a
/// confidence sequence narrows a little slower); `None` without users or an interval.
pub fn users_to_settle(lift: Interval, users: u64, minimum_effect: f64) -> Option<u64> {
    let h = (lift.high - lift.low) / 2.0;
    let target = settling_half_width(lift.mean, minimum_effect);
    if users == 0 || !h.is_finite() || !target.is_finite() || target <= 0.0 {
        return None;
    }
    if h <= target {
        return Some(0);
    }
    let more = (users as f64 * ((h / target).powi(2) - 1.0)).ceil();
    Some(if more >= u64::MAX as f64 {
        u64::MAX
    } else {
        more as u64
    })
}

/// The interval the estimate starts from: the chosen analysis's, decisive or not.
fn estimate_interval(goal: &MetricResults, i: usize, analysis: Analysis) -> Option<Interval> {
    let v = goal.variants.get(i)?;
    match analysis {
        Analysis::Bayesian => v.lift,
        Analysis::Sequential => v.sequential.map(|s| s.lift),
    }
    .filter(finite)
}

/// "b beats control on the goal: lift +12.1% [+4.0%, +20.9%] (confidence sequence)".
fn goal_reason(f: &Facts, i: usize) -> String {
    let goal = &f.metrics[0];
    let v = &goal.variants[i];
    let key = &v.key;
    let (interval, source) = match f.spec.analysis {
        Analysis::Bayesian => (v.lift, "credible interval"),
        Analysis::Sequential => (v.sequential.map(|s| s.lift), "confidence sequence"),
    };
    let Some(lift) = interval.filter(finite) else {
        return format!("{key}: no lift on the goal yet (too little data)");
    };
    let how = if proven_better(lift, goal.direction) {
        format!("{key} beats control on the goal")
    } else if proven_harm(lift, goal.direction, 0.0) {
        format!("{key} loses to control on the goal")
    } else {
        format!("{key} and control do not differ clearly on the goal")
    };
    let mut text = format!(
        "{how}: lift {} [{}, {}] ({source})",
        signed_percent(lift.mean),
        signed_percent(lift.low),
        signed_percent(lift.high)
    );
    match f.spec.analysis {
        Analysis::Bayesian => {
            if let Some(c) = v.chance_to_beat_control {
                text.push_str(&format!(", chance to beat control {}", percent(c)));
            }
        }
        Analysis::Sequential => {
            if v.sequential.is_some_and(|s| !s.decisive) {
                text.push_str(", too few events to decide yet");
            }
        }
    }
    text
}

/// "b fails the guardrail Uninstall rate: lift +200.0%, beyond its 2.0% threshold".
fn guardrail_reason(m: &MetricResults, v: &MetricVariant) -> String {
    format!(
        "{} fails the guardrail {}: lift {}, harm beyond its {} threshold{}",
        v.key,
        m.name,
        v.lift.map_or("unknown".into(), |l| signed_percent(l.mean)),
        percent(m.threshold.unwrap_or(0.0)),
        v.chance_of_harm.map_or(String::new(), |c| format!(
            " (chance of harm {})",
            percent(c)
        ))
    )
}

fn lift_mean(v: &MetricVariant) -> String {
    v.lift
        .filter(finite)
        .map_or("an unknown lift".into(), |l| signed_percent(l.mean))
}

fn finite(i: &Interval) -> bool {
    i.mean.is_finite() && i.low.is_finite() && i.high.is_finite()
}

fn signed_percent(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Days with one decimal, whole days without.
fn days(d: f64) -> String {
    let tenths = (d * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{tenths:.0}")
    } else {
        format!("{tenths:.1}")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_to_settle_follows_the_square_root_rule() {
        // h = 0.08 at 1,000 users, lift 0.02, minimum effect 0.05: the target is 0.03.
        let lift = Interval {
            mean: 0.02,
            low: -0.06,
            high: 0.10,
        };
        let more = users_to_settle(lift, 1000, 0.05).unwrap();
        assert_eq!(
            more,
            (1000.0 * ((0.08f64 / 0.03).powi(2) - 1.0)).ceil() as u64
        );
        // Already narrow enough: nothing more.
        let narrow = Interval {
            mean: 0.2,
            low: 0.15,
            high: 0.25,
        };
        assert_eq!(users_to_settle(narrow, 1000, 0.05), Some(0));
        assert_eq!(users_to_settle(lift, 0, 0.05), None);
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(thousands(12_400), "12,400");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(days(7.0), "7");
        assert_eq!(days(3.04), "3");
        assert_eq!(days(0.26), "0.3");
        assert_eq!(signed_percent(0.121), "+12.1%");
        assert_eq!(signed_percent(-0.04), "-4.0%");
    }
}
