//! Send-time personalisation: each user's own best hour against fixed send times.
//!
//! A timing experiment sends a message at an hour of the day (UTC). Its `personal` variant
//! sends it at the hour at which the user most often sent the goal event ("open") in the
//! past: the argmax of their 24-bucket hour histogram, earliest hour on ties, computed by the
//! server's own `BestHour::hour_for` (`EventHistory::best_hour`); a user with fewer than `min_events` past events
//! (default 5) gets the population's best hour instead (the argmax of everyone's histograms
//! summed, by the same function).
//!
//! Population model:
//! - each user has a preferred hour h_u: with 40% an evening hour round(20 + z) (sd 1 h,
//!   mostly 19–21), with 30% a morning hour round(8 + z) (mostly 7–9), with 30% any hour
//!   (uniform); hours wrap around midnight;
//! - a history of k_u past opens, k_u geometric on {0, 1, …} with mean 8 (44.5% of users
//!   have fewer than 5, 11% none), or mean 2 in the short-history rows (87% fewer than 5);
//!   each past open is at round(h_u + 1.5·z) mod 24, or with 20% at a uniform hour (noise);
//! - a message sent at hour s is opened with probability 4% × (1 + 1.5·exp(−d²/(2·1.5²))),
//!   d the circular distance in hours between s and h_u (10% at d = 0, 8.8% at 1, 6.5% at 2,
//!   4.8% at 3, 4% far away).
//!
//! Every arm is applied to the same users (a paired comparison: each user's open is drawn
//! independently for each arm from that arm's probability), so the lift over the best fixed
//! arm is a ratio of paired sums whose 95% interval is the delta method's
//! (`stats::ratio::RatioStats`). Open rates have normal 95% intervals over all users of all
//! runs; the model's rate is the mean open probability of the same users (no draw noise).

use crate::runs::{parallel_map, run_rng};
use chrono::{DateTime, Utc};
use posterior::domain::EventName;
use posterior::domain::personal_timing::BestHour;
use posterior::domain::profile::{EventHistory, Profile, busiest_hour};
use posterior::stats::INTERVAL_LEVEL;
use posterior::stats::ratio::RatioStats;
use posterior::stats::special::norm_quantile;
use rand::RngExt;
use rand::rngs::SmallRng;
use rand_distr::{Geometric, StandardNormal};
use std::collections::BTreeMap;

/// Open probability far from the user's hour.
pub const BASE: f64 = 0.04;
/// Relative extra chance to open at the user's own hour.
pub const BOOST: f64 = 1.5;
/// Width (sd, hours) of the open-probability bump around the user's hour.
pub const OPEN_SD: f64 = 1.5;
/// Spread (sd, hours) of past opens around the user's hour.
pub const EVENT_SD: f64 = 1.5;
/// Share of past opens at a uniform hour.
pub const EVENT_NOISE: f64 = 0.2;
/// The personal variant's default `min_events`.
pub const MIN_EVENTS: i64 = 5;

/// A send-time rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arm {
    /// Everyone at this hour.
    Fixed(u8),
    /// Everyone at the population's best hour.
    PopulationBest,
    /// Each user at their own best hour, the population's with fewer than `min_events`.
    Personal { min_events: i64 },
}

/// The arms of the table, in its order.
pub const ARMS: [Arm; 5] = [
    Arm::Fixed(9),
    Arm::Fixed(19),
    Arm::PopulationBest,
    Arm::Personal {
        min_events: MIN_EVENTS,
    },
    Arm::Personal { min_events: 1 },
];

impl Arm {
    fn name(self) -> String {
        match self {
            Arm::Fixed(h) => format!("fixed {h:02}:00"),
            Arm::PopulationBest => "fixed at the population's best hour".to_string(),
            Arm::Personal { min_events } if min_events == MIN_EVENTS => {
                format!("personal, min_events {min_events} (default)")
            }
            Arm::Personal { min_events } => format!("personal, min_events {min_events}"),
        }
    }

    fn is_fixed(self) -> bool {
        !matches!(self, Arm::Personal { .. })
    }
}

/// Distance in hours between two hours of the day, around the clock (0..=12).
pub fn circular_distance(a: u8, b: u8) -> u8 {
    let d = a.abs_diff(b) % 24;
    d.min(24 - d)
}

/// Chance that a user whose hour is `own` opens a message sent at `sent`.
pub fn open_probability(sent: u8, own: u8) -> f64 {
    let d = f64::from(circular_distance(sent, own));
    BASE * (1.0 + BOOST * (-d * d / (2.0 * OPEN_SD * OPEN_SD)).exp())
}

/// The server's best hour of an hour histogram (`EventHistory::best_hour`: the argmax,
/// earliest on ties; `None` without events).
pub fn best_hour(hours: [i64; 24]) -> Option<u8> {
    busiest_hour(&hours)
}

fn history(hours: [i64; 24]) -> EventHistory {
    let epoch = DateTime::<Utc>::default();
    EventHistory {
        first_at: epoch,
        last_at: epoch,
        count: hours.iter().sum(),
        value_sum: 0.0,
        days: Vec::new(),
        hours,
        recent: Vec::new(),
        recent_since: None,
    }
}

/// The personal variant's hour, by the server's rule (`BestHour::hour_for`): the user's best
/// hour with at least `min_events` past events, else `fallback` (the population's hour). The
/// flag says whether the fallback was used.
pub fn personal_hour(hours: [i64; 24], min_events: i64, fallback: u8) -> (u8, bool) {
    let history = history(hours);
    let used_fallback = history.count < min_events || history.best_hour().is_none();
    let placeholder = BestHour {
        pointer: String::new(),
        event: EventName::parse("open").expect("a valid event name"),
        min_events,
        default: fallback,
    };
    let profile = Profile {
        user_id: String::new(),
        events: BTreeMap::from([("open".to_string(), history)]),
    };
    (
        placeholder.hour_for(Some(&profile), Some(fallback)),
        used_fallback,
    )
}

fn wrap(hour: f64) -> u8 {
    hour.round().rem_euclid(24.0) as u8
}

fn preferred_hour(rng: &mut SmallRng) -> u8 {
    let u: f64 = rng.random();
    let z: f64 = rng.sample(StandardNormal);
    if u < 0.4 {
        wrap(20.0 + z)
    } else if u < 0.7 {
        wrap(8.0 + z)
    } else {
        rng.random_range(0..24)
    }
}

fn past_open_hour(own: u8, rng: &mut SmallRng) -> u8 {
    if rng.random::<f64>() < EVENT_NOISE {
        rng.random_range(0..24)
    } else {
        let z: f64 = rng.sample(StandardNormal);
        wrap(f64::from(own) + EVENT_SD * z)
    }
}

const K: usize = ARMS.len();

/// Counts of one run.
#[derive(Clone, Debug, Default)]
struct Tally {
    users: u64,
    /// Users with fewer than [`MIN_EVENTS`] past opens.
    few_events: u64,
    opens: [u64; K],
    /// Σ open probability.
    expected: [f64; K],
    /// Users sent within 1 h of their own hour.
    near: [u64; K],
    /// Users given the fallback hour.
    fallback: [u64; K],
    /// Users who opened under both arms.
    both: [[u64; K]; K],
    population_hour: u8,
}

fn run(users: u64, mean_events: f64, rng: &mut SmallRng) -> Tally {
    let events = Geometric::new(1.0 / (1.0 + mean_events)).expect("a valid mean");
    let population: Vec<(u8, [i64; 24])> = (0..users)
        .map(|_| {
            let own = preferred_hour(rng);
            let k: u64 = rng.sample(events);
            let mut hours = [0i64; 24];
            for _ in 0..k {
                hours[past_open_hour(own, rng) as usize] += 1;
            }
            (own, hours)
        })
        .collect();
    let mut pooled = [0i64; 24];
    for (_, hours) in &population {
        for (p, h) in pooled.iter_mut().zip(hours) {
            *p += h;
        }
    }
    // Nobody with a past open at all (tiny runs only): midnight.
    let population_hour = best_hour(pooled).unwrap_or(0);
    let mut t = Tally {
        population_hour,
        ..Tally::default()
    };
    for (own, hours) in population {
        t.users += 1;
        if hours.iter().sum::<i64>() < MIN_EVENTS {
            t.few_events += 1;
        }
        let mut opened = [false; K];
        for (a, arm) in ARMS.iter().enumerate() {
            let (sent, fell_back) = match *arm {
                Arm::Fixed(h) => (h, false),
                Arm::PopulationBest => (population_hour, false),
                Arm::Personal { min_events } => personal_hour(hours, min_events, population_hour),
            };
            let p = open_probability(sent, own);
            opened[a] = rng.random::<f64>() < p;
            t.opens[a] += u64::from(opened[a]);
            t.expected[a] += p;
            t.near[a] += u64::from(circular_distance(sent, own) <= 1);
            t.fallback[a] += u64::from(fell_back);
        }
        for a in 0..K {
            for b in 0..K {
                t.both[a][b] += u64::from(opened[a] && opened[b]);
            }
        }
    }
    t
}

/// One arm's line.
#[derive(Clone, Debug)]
pub struct TimingArm {
    pub arm: Arm,
    /// Open rate and its 95% interval (low, high).
    pub rate: (f64, f64, f64),
    /// Mean open probability of the users (the model's rate).
    pub expected: f64,
    /// Share of users sent within 1 h of their own hour.
    pub near: f64,
    /// Share of users given the population's best hour for lack of history.
    pub fallback: f64,
    /// Relative lift over the best fixed arm and its 95% interval; `None` for that arm.
    pub lift: Option<(f64, f64, f64)>,
}

/// One history setting's lines.
#[derive(Clone, Debug)]
pub struct TimingRows {
    pub mean_events: f64,
    pub runs: usize,
    pub users: u64,
    /// Share of users with fewer than [`MIN_EVENTS`] past opens.
    pub few_events: f64,
    /// The population's best hour in each run, distinct values, ascending.
    pub population_hours: Vec<u8>,
    pub arms: Vec<TimingArm>,
}

/// `runs` populations of `users` users whose number of past opens has mean `mean_events`;
/// every arm of [`ARMS`] on each.
pub fn timing(runs: usize, users: u64, mean_events: f64, seed: u64) -> TimingRows {
    let setting = 0x7141_0000 + (mean_events * 100.0) as u64;
    let tallies = parallel_map(runs, |i| {
        let mut rng = run_rng(seed, setting, i);
        run(users, mean_events, &mut rng)
    });
    let mut total = Tally::default();
    let mut population_hours = Vec::new();
    for t in &tallies {
        total.users += t.users;
        total.few_events += t.few_events;
        for a in 0..K {
            total.opens[a] += t.opens[a];
            total.expected[a] += t.expected[a];
            total.near[a] += t.near[a];
            total.fallback[a] += t.fallback[a];
            for b in 0..K {
                total.both[a][b] += t.both[a][b];
            }
        }
        population_hours.push(t.population_hour);
    }
    population_hours.sort_unstable();
    population_hours.dedup();
    let n = total.users as f64;
    let z = norm_quantile(0.5 + 0.5 * INTERVAL_LEVEL);
    let best_fixed = (0..K)
        .filter(|&a| ARMS[a].is_fixed())
        .max_by_key(|&a| total.opens[a])
        .expect("a fixed arm");
    let arms = (0..K)
        .map(|a| {
            let rate = total.opens[a] as f64 / n;
            let half = z * (rate * (1.0 - rate) / n).sqrt();
            // Paired: x = opened under arm a, y = opened under the best fixed arm, per user.
            let paired = RatioStats {
                n: total.users,
                sum_x: total.opens[a] as f64,
                sum_x_sq: total.opens[a] as f64,
                sum_y: total.opens[best_fixed] as f64,
                sum_y_sq: total.opens[best_fixed] as f64,
                sum_xy: total.both[a][best_fixed] as f64,
            };
            let lift = (a != best_fixed).then(|| {
                let i = paired.interval(INTERVAL_LEVEL);
                (i.mean - 1.0, i.low - 1.0, i.high - 1.0)
            });
            TimingArm {
                arm: ARMS[a],
                rate: (rate, rate - half, rate + half),
                expected: total.expected[a] / n,
                near: total.near[a] as f64 / n,
                fallback: total.fallback[a] as f64 / n,
                lift,
            }
        })
        .collect();
    TimingRows {
        mean_events,
        runs,
        users,
        few_events: total.few_events as f64 / n,
        population_hours,
        arms,
    }
}

/// Markdown table for [`timing`], one block of lines per history setting.
pub fn render_timing(blocks: &[TimingRows]) -> String {
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    let mut out = String::from(
        "| arm | send hour | open rate (95% CI) | model's rate | sent within 1 h of the user's hour | vs best fixed (95% CI) |\n\
         | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for b in blocks {
        let hours = b
            .population_hours
            .iter()
            .map(|h| format!("{h:02}:00"))
            .collect::<Vec<_>>()
            .join(" or ");
        out.push_str(&format!(
            "| **past opens: mean {} (geometric), {:.0}% of users with < {MIN_EVENTS}; {} runs × {} users** | | | | | |\n",
            b.mean_events,
            100.0 * b.few_events,
            b.runs,
            b.users
        ));
        for a in &b.arms {
            let send = match a.arm {
                Arm::Fixed(h) => format!("{h:02}:00"),
                Arm::PopulationBest => hours.clone(),
                Arm::Personal { .. } => {
                    format!("own; {hours} for {:.0}% (fallback)", 100.0 * a.fallback)
                }
            };
            let lift = match a.lift {
                None => "(best fixed)".to_string(),
                Some((m, lo, hi)) => format!(
                    "{:+.1}% ({:+.1}, {:+.1})",
                    100.0 * m,
                    100.0 * lo,
                    100.0 * hi
                ),
            };
            out.push_str(&format!(
                "| {} | {} | {} ({}–{}) | {} | {:.0}% | {} |\n",
                a.arm.name(),
                send,
                pct(a.rate.0),
                pct(a.rate.1),
                pct(a.rate.2),
                pct(a.expected),
                100.0 * a.near,
                lift
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_around_the_clock() {
        assert_eq!(circular_distance(23, 1), 2);
        assert_eq!(circular_distance(1, 23), 2);
        assert_eq!(circular_distance(0, 12), 12);
        assert_eq!(circular_distance(9, 19), 10);
        assert_eq!(circular_distance(7, 7), 0);
        assert!((open_probability(20, 20) - 0.10).abs() < 1e-12);
        assert!((open_probability(23, 1) - open_probability(1, 3)).abs() < 1e-12);
        assert_eq!(wrap(-0.6), 23);
        assert_eq!(wrap(23.6), 0);
    }

    #[test]
    fn personal_hour_is_the_servers_rule() {
        let mut hours = [0i64; 24];
        hours[21] = 2;
        hours[7] = 2;
        hours[3] = 1;
        // Tie between 07 and 21: the earliest.
        assert_eq!(personal_hour(hours, 5, 19), (7, false));
        // Too few events: the fallback.
        assert_eq!(personal_hour(hours, 6, 19), (19, true));
        assert_eq!(personal_hour([0; 24], 1, 19), (19, true));
        assert_eq!(personal_hour([0; 24], 0, 19), (19, true));
    }

    #[test]
    fn personal_beats_fixed_in_a_small_seeded_run() {
        let rows = timing(2, 3_000, 8.0, 7);
        let again = timing(2, 3_000, 8.0, 7);
        assert_eq!(rows.arms[3].rate, again.arms[3].rate);
        let best_fixed = rows.arms[..3]
            .iter()
            .map(|a| a.expected)
            .fold(0.0, f64::max);
        assert!(rows.arms[3].expected > best_fixed * 1.1, "{rows:?}");
        assert!(rows.arms[3].lift.expect("not the best fixed").0 > 0.0);
        assert!(render_timing(&[rows]).contains("| personal, min_events 5 (default) |"));
    }
}
