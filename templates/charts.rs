//! Charts drawn on the server as inline SVG: no script, no images to fetch, readable by
//! screen readers through their title and description, and cheap (a few hundred points).

use super::components::{colour, dash};
use super::format;
use crate::stats::Interval;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use std::fmt::Write;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;
/// Charts over time draw at most this many columns; longer series are averaged into them.
const MAX_COLUMNS: usize = 160;

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}
fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

/// Maps data to the plot area.
struct Scale {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Scale {
    fn x(&self, x: f64) -> f64 {
        let span = (self.x1 - self.x0).max(f64::MIN_POSITIVE);
        LEFT + (x - self.x0) / span * plot_width()
    }
    fn y(&self, y: f64) -> f64 {
        let span = (self.y1 - self.y0).max(f64::MIN_POSITIVE);
        TOP + plot_height() - (y - self.y0) / span * plot_height()
    }
}

/// About `n` round tick values (1, 2 or 5 times a power of ten) covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let span = (hi - lo).max(1e-12);
    let raw = span / n.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + step * 1e-9 && out.len() < 50 {
        out.push(v);
        v += step;
    }
    (out, step)
}

/// Decimals a percentage axis needs for ticks `step` apart.
fn percent_decimals(step: f64) -> usize {
    let points = step * 100.0;
    if points >= 1.0 {
        0
    } else {
        (-points.log10().floor()) as usize
    }
}

/// An SVG path through points (already in pixels). Points inside a run at the same height are
/// left out: they draw nothing new, and long flat runs (a narrow density's tails, a steady
/// allocation) would otherwise make up most of the page.
fn polyline(points: impl IntoIterator<Item = (f64, f64)>) -> String {
    let points: Vec<(f64, f64)> = points
        .into_iter()
        .map(|(x, y)| ((x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0))
        .collect();
    let mut d = String::with_capacity(points.len() * 12);
    for (i, &(x, y)) in points.iter().enumerate() {
        let flat = i > 0 && i + 1 < points.len() && points[i - 1].1 == y && points[i + 1].1 == y;
        if !flat {
            let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" });
        }
    }
    d
}

fn frame(id: &str, title: &str, description: &str, body: Markup) -> Markup {
    html! {
        div.chart {
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
                aria-labelledby={ (id) "-title " (id) "-desc" } {
                title id={ (id) "-title" } { (title) }
                desc id={ (id) "-desc" } { (description) }
                (body)
            }
        }
    }
}

fn y_axis(scale: &Scale, ticks: &[f64], label: impl Fn(f64) -> String) -> Markup {
    html! {
        g.axis {
            @for &t in ticks {
                @let y = scale.y(t);
                line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{y:.1}")) y2=(format!("{y:.1}")) {}
                text x=(LEFT - 6.0) y=(format!("{:.1}", y + 4.0)) text-anchor="end" { (label(t)) }
            }
        }
    }
}

fn x_axis_percent(scale: &Scale, ticks: &[f64], decimals: usize) -> Markup {
    let base = TOP + plot_height();
    html! {
        g.axis {
            line.axis-line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(base) y2=(base) {}
            @for &t in ticks {
                @let x = scale.x(t);
                line.axis-line x1=(format!("{x:.1}")) x2=(format!("{x:.1}")) y1=(base) y2=(base + 5.0) {}
                text x=(format!("{x:.1}")) y=(base + 18.0) text-anchor="middle" { (format::percent(t, decimals)) }
            }
        }
    }
}

fn x_axis_time(scale: &Scale, start: DateTime<Utc>, end: DateTime<Utc>) -> Markup {
    let base = TOP + plot_height();
    let span = (end - start).num_seconds().max(1);
    let marks: Vec<DateTime<Utc>> = (0..=3)
        .map(|i| start + chrono::Duration::seconds(span * i / 3))
        .collect();
    html! {
        g.axis {
            line.axis-line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(base) y2=(base) {}
            @for (i, t) in marks.iter().enumerate() {
                @let x = scale.x(t.timestamp() as f64);
                @let anchor = match i { 0 => "start", 3 => "end", _ => "middle" };
                line.axis-line x1=(format!("{x:.1}")) x2=(format!("{x:.1}")) y1=(base) y2=(base + 5.0) {}
                text x=(format!("{x:.1}")) y=(base + 18.0) text-anchor=(anchor) { (format::short_utc(*t)) }
            }
            text x=(WIDTH - RIGHT) y=(base + 34.0) text-anchor="end" { "UTC" }
        }
    }
}

/// The log-density of Beta(a, b) at x, from the statistics module (accurate at any count).
pub use crate::stats::special::beta_ln_pdf;

/// A variant's posterior, as drawn.
pub enum Density {
    /// Conversion rate: Beta(alpha, beta).
    Beta { alpha: f64, beta: f64 },
    /// Revenue per user: a normal approximation from the mean and standard error.
    Normal { mean: f64, sd: f64 },
}

impl Density {
    fn ln_pdf(&self, x: f64) -> f64 {
        match *self {
            Density::Beta { alpha, beta } => beta_ln_pdf(x, alpha, beta),
            Density::Normal { mean, sd } => {
                let z = (x - mean) / sd;
                -0.5 * z * z - sd.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
            }
        }
    }
    fn mode(&self) -> Option<f64> {
        match *self {
            Density::Beta { alpha, beta } if alpha > 1.0 && beta > 1.0 => {
                Some((alpha - 1.0) / (alpha + beta - 2.0))
            }
            Density::Normal { mean, .. } => Some(mean),
            _ => None,
        }
    }
}

pub struct DensityCurve<'a> {
    pub label: &'a str,
    pub density: Density,
    /// Where most of its mass lies (its credible interval), to frame the chart.
    pub low: f64,
    pub high: f64,
}

/// The posterior densities of the variants on one axis: where they overlap, the data cannot
/// yet tell them apart.
pub fn posterior_densities(id: &str, curves: &[DensityCurve], is_rate: bool) -> Markup {
    if curves.is_empty() {
        return html! {};
    }
    let lo = curves.iter().map(|c| c.low).fold(f64::INFINITY, f64::min);
    let hi = curves
        .iter()
        .map(|c| c.high)
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.25).max(1e-6);
    let (mut x0, mut x1) = (lo - pad, hi + pad);
    if is_rate {
        x0 = x0.max(0.0);
        x1 = x1.min(1.0);
    }
    const SAMPLES: usize = 200;
    let mut lines: Vec<Vec<(f64, f64)>> = Vec::with_capacity(curves.len());
    let mut y_max: f64 = 0.0;
    for c in curves {
        let mut xs: Vec<f64> = (0..=SAMPLES)
            .map(|i| x0 + (x1 - x0) * i as f64 / SAMPLES as f64)
            .collect();
        // A narrow peak could fall between samples: always draw its top.
        if let Some(m) = c.density.mode().filter(|m| (x0..=x1).contains(m)) {
            let at = xs.partition_point(|&x| x < m);
            xs.insert(at, m);
        }
        let points: Vec<(f64, f64)> = xs
            .into_iter()
            .map(|x| {
                let y = c.density.ln_pdf(x).exp();
                (x, if y.is_finite() { y } else { 0.0 })
            })
            .collect();
        y_max = points.iter().map(|p| p.1).fold(y_max, f64::max);
        lines.push(points);
    }
    let scale = Scale {
        x0,
        x1,
        y0: 0.0,
        y1: if y_max > 0.0 { y_max * 1.05 } else { 1.0 },
    };
    let (x_ticks, step) = ticks(x0, x1, 6);
    let decimals = if is_rate { percent_decimals(step) } else { 0 };
    let base = scale.y(0.0);
    let what = if is_rate {
        "conversion rate"
    } else {
        "value per user"
    };
    let description = format!(
        "The probability density of each variant's {what} given the data so far: {}. Where curves overlap, the data cannot yet tell those variants apart.",
        curves
            .iter()
            .map(|c| c.label)
            .collect::<Vec<_>>()
            .join(", ")
    );
    html! {
        (frame(id, &format!("Posterior distributions of the {what}"), &description, html! {
            @if is_rate {
                (x_axis_percent(&scale, &x_ticks, decimals))
            } @else {
                g.axis {
                    line.axis-line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(base) y2=(base) {}
                    @for &t in &x_ticks {
                        @let x = scale.x(t);
                        text x=(format!("{x:.1}")) y=(base + 18.0) text-anchor="middle" { (format::amount(t)) }
                    }
                }
            }
            text.axis-title x=(LEFT - 8.0) y=(TOP + 10.0) text-anchor="end" { "likelier" }
            text.axis-title x=(LEFT - 8.0) y=(TOP + 24.0) text-anchor="end" { "↑" }
            @for (i, points) in lines.iter().enumerate() {
                @let line = polyline(points.iter().map(|&(x, y)| (scale.x(x), scale.y(y))));
                @let area = format!("{line} L{:.1},{base:.1} L{:.1},{base:.1} Z",
                    scale.x(points.last().map_or(x1, |p| p.0)), scale.x(points.first().map_or(x0, |p| p.0)));
                path d=(area) fill=(colour(i)) fill-opacity="0.10" stroke="none" {}
                path d=(line) fill="none" stroke=(colour(i)) stroke-width="2"
                    stroke-dasharray=[(!dash(i).is_empty()).then(|| dash(i))] {}
            }
        }))
    }
}

/// One period of a series: its start and a value per variant.
pub struct Column {
    pub start: DateTime<Utc>,
    pub values: Vec<f64>,
    /// How much the column weighs when columns are merged (its users).
    pub weight: f64,
}

/// Merges neighbouring columns so at most `MAX_COLUMNS` are drawn (weighted means).
fn downsample(columns: &[Column]) -> Vec<Column> {
    if columns.len() <= MAX_COLUMNS {
        return columns
            .iter()
            .map(|c| Column {
                start: c.start,
                values: c.values.clone(),
                weight: c.weight,
            })
            .collect();
    }
    let per = columns.len().div_ceil(MAX_COLUMNS);
    columns
        .chunks(per)
        .map(|chunk| {
            let total: f64 = chunk.iter().map(|c| c.weight).sum();
            let n = chunk[0].values.len();
            let values = (0..n)
                .map(|v| {
                    if total > 0.0 {
                        chunk.iter().map(|c| c.values[v] * c.weight).sum::<f64>() / total
                    } else {
                        chunk.iter().map(|c| c.values[v]).sum::<f64>() / chunk.len() as f64
                    }
                })
                .collect();
            Column {
                start: chunk[0].start,
                values,
                weight: total,
            }
        })
        .collect()
}

/// A bandit's allocation over time: each variant's share of new users, stacked to 100%.
pub fn allocation_over_time(id: &str, labels: &[&str], columns: &[Column]) -> Markup {
    let columns = downsample(columns);
    let (Some(first), Some(last)) = (columns.first(), columns.last()) else {
        return html! {};
    };
    let end = last.start + chrono::Duration::hours(1);
    let scale = Scale {
        x0: first.start.timestamp() as f64,
        x1: end.timestamp() as f64,
        y0: 0.0,
        y1: 1.0,
    };
    // Each column is drawn as a step from its start to the next column's start.
    let edges: Vec<(f64, f64)> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let next = columns.get(i + 1).map_or(end, |n| n.start);
            (c.start.timestamp() as f64, next.timestamp() as f64)
        })
        .collect();
    let mut bands = Vec::with_capacity(labels.len());
    let mut below = vec![0.0; columns.len()];
    for v in 0..labels.len() {
        let above: Vec<f64> = columns
            .iter()
            .zip(&below)
            .map(|(c, b)| b + c.values.get(v).copied().unwrap_or(0.0))
            .collect();
        let mut top = Vec::with_capacity(edges.len() * 2);
        for ((from, to), y) in edges.iter().zip(&above) {
            top.push((scale.x(*from), scale.y(*y)));
            top.push((scale.x(*to), scale.y(*y)));
        }
        let mut bottom = Vec::with_capacity(edges.len() * 2);
        for ((from, to), y) in edges.iter().zip(&below).rev() {
            bottom.push((scale.x(*to), scale.y(*y)));
            bottom.push((scale.x(*from), scale.y(*y)));
        }
        let d = format!("{} L{} Z", polyline(top), &polyline(bottom)[1..]);
        bands.push(d);
        below = above;
    }
    let (y_ticks, _) = ticks(0.0, 1.0, 4);
    let description = format!(
        "The share of new users the bandit gave each variant, hour by hour, from {} to {}.",
        format::utc(first.start),
        format::utc(end)
    );
    html! {
        (frame(id, "Allocation over time", &description, html! {
            @for (i, d) in bands.iter().enumerate() {
                path d=(d) fill=(colour(i)) fill-opacity="0.75" stroke="#ffffff" stroke-width="0.5" {
                    title { (labels[i]) }
                }
            }
            (y_axis(&scale, &y_ticks, |t| format::percent(t, 0)))
            (x_axis_time(&scale, first.start, end))
        }))
    }
}

/// The cumulative conversion rate (or value per user) of each variant over time: per variant,
/// `(end of hour, value over all its users so far)`.
pub fn cumulative_over_time(
    id: &str,
    labels: &[&str],
    first_period: Option<DateTime<Utc>>,
    lines: &[Vec<(DateTime<Utc>, f64)>],
    is_rate: bool,
) -> Markup {
    let all = lines.iter().flatten();
    let (Some(first_point), Some(end)) = (
        all.clone().map(|p| p.0).min(),
        all.clone().map(|p| p.0).max(),
    ) else {
        return html! {};
    };
    // Points stand at the end of their hour; the axis starts where the first hour did.
    let start = first_period.unwrap_or(first_point).min(first_point);
    let end = end.max(start + chrono::Duration::hours(1));
    // Months of hours are more points than pixels: keep at most MAX_COLUMNS per line.
    let lines: Vec<Vec<(DateTime<Utc>, f64)>> = lines
        .iter()
        .map(|points| {
            let step = points.len().div_ceil(MAX_COLUMNS).max(1);
            let mut kept: Vec<_> = points.iter().step_by(step).copied().collect();
            if let (Some(last), Some(kept_last)) = (points.last(), kept.last())
                && last.0 != kept_last.0
            {
                kept.push(*last);
            }
            kept
        })
        .collect();
    let lines = &lines[..];
    let all = lines.iter().flatten();
    let lo = all.clone().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = all.clone().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.1).max(if is_rate { 0.001 } else { 0.01 });
    let (mut y0, y1) = (lo - pad, hi + pad);
    if is_rate || lo >= 0.0 {
        y0 = y0.max(0.0);
    }
    let (y_ticks, step) = ticks(y0, y1, 4);
    let scale = Scale {
        x0: start.timestamp() as f64,
        x1: end.timestamp() as f64,
        y0,
        y1,
    };
    let decimals = percent_decimals(step);
    let what = if is_rate {
        "conversion rate"
    } else {
        "value per user"
    };
    let description = format!(
        "Each variant's {what} over all its users so far, from {} to {}: {}.",
        format::utc(start),
        format::utc(end),
        labels.join(", ")
    );
    html! {
        (frame(id, &format!("Cumulative {what} over time"), &description, html! {
            (y_axis(&scale, &y_ticks, |t| if is_rate { format::percent(t, decimals) } else { format::amount(t) }))
            (x_axis_time(&scale, start, end))
            @for (i, points) in lines.iter().enumerate() {
                @let projected: Vec<(f64, f64)> = points.iter().map(|(t, v)| (scale.x(t.timestamp() as f64), scale.y(*v))).collect();
                path d=(polyline(projected.iter().copied())) fill="none" stroke=(colour(i)) stroke-width="2"
                    stroke-dasharray=[(!dash(i).is_empty()).then(|| dash(i))] {}
                // With few points a line is hard to see: mark them.
                @if projected.len() <= 3 {
                    @for (x, y) in &projected {
                        circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3.5" fill=(colour(i)) {}
                    }
                }
            }
        }))
    }
}

/// One variant's cumulative lift over control by day: `(day number, lift with its interval)`.
pub struct LiftLine<'a> {
    pub label: &'a str,
    /// The variant's position, for its colour and dash.
    pub index: usize,
    pub points: Vec<(i64, Interval)>,
}

/// The widest lifts drawn: an early interval can be unbounded, and would flatten the rest.
const LIFT_FLOOR: f64 = -1.0;
const LIFT_CEILING: f64 = 3.0;

/// Each variant's cumulative lift over control by day since the start, with its interval as
/// a band around the line and a zero line: a lift that fades as days pass is a novelty effect.
pub fn lift_over_time(id: &str, metric: &str, lines: &[LiftLine]) -> Markup {
    let days = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (Some(first), Some(last)) = (days.clone().min(), days.max()) else {
        return html! {};
    };
    let (x0, x1) = if first == last {
        (first as f64 - 0.5, last as f64 + 0.5)
    } else {
        (first as f64, last as f64)
    };
    // Frame the finite ends and zero, within the floor and ceiling.
    let ends = lines
        .iter()
        .flat_map(|l| l.points.iter().flat_map(|(_, i)| [i.low, i.mean, i.high]))
        .filter(|y| y.is_finite())
        .map(|y| y.clamp(LIFT_FLOOR, LIFT_CEILING));
    let lo = ends.clone().fold(0.0, f64::min);
    let hi = ends.fold(0.0, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.005);
    let (y0, y1) = (lo - pad, hi + pad);
    let scale = Scale { x0, x1, y0, y1 };
    let clamp = |y: f64| {
        if y.is_nan() { 0.0 } else { y.clamp(y0, y1) }
    };
    let (y_ticks, step) = ticks(y0, y1, 4);
    let decimals = percent_decimals(step);
    // Whole days, about six marks.
    let every = usize::try_from((last - first) / 6 + 1).unwrap_or(1);
    let x_ticks: Vec<i64> = (first..=last).step_by(every).collect();
    let base = TOP + plot_height();
    let description = format!(
        "The cumulative lift over control in {metric} of {}, by day since the start (day {first} to {last}), each with its 95% confidence sequence as a band.",
        lines.iter().map(|l| l.label).collect::<Vec<_>>().join(", ")
    );
    html! {
        (frame(id, &format!("Lift over time: {metric}"), &description, html! {
            (y_axis(&scale, &y_ticks, |t| format::percent(t, decimals)))
            g.axis {
                line.axis-line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(base) y2=(base) {}
                @for &t in &x_ticks {
                    @let x = scale.x(t as f64);
                    line.axis-line x1=(format!("{x:.1}")) x2=(format!("{x:.1}")) y1=(base) y2=(base + 5.0) {}
                    text x=(format!("{x:.1}")) y=(base + 18.0) text-anchor="middle" { (t) }
                }
                text x=(WIDTH - RIGHT) y=(base + 34.0) text-anchor="end" { "day since the start" }
            }
            line.zero x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{:.1}", scale.y(0.0))) y2=(format!("{:.1}", scale.y(0.0)))
                stroke="#555" stroke-width="1.5" {}
            @for line in lines {
                @let x = |day: i64| scale.x(day as f64);
                @let upper: Vec<(f64, f64)> = line.points.iter().map(|(d, i)| (x(*d), scale.y(clamp(i.high)))).collect();
                @let lower: Vec<(f64, f64)> = line.points.iter().rev().map(|(d, i)| (x(*d), scale.y(clamp(i.low)))).collect();
                @let mean: Vec<(f64, f64)> = line.points.iter().map(|(d, i)| (x(*d), scale.y(clamp(i.mean)))).collect();
                g {
                    title { (line.label) }
                    @if line.points.len() > 1 {
                        path d={ (polyline(upper)) " L" (&polyline(lower)[1..]) " Z" }
                            fill=(colour(line.index)) fill-opacity="0.15" stroke="none" {}
                        path d=(polyline(mean.iter().copied())) fill="none" stroke=(colour(line.index)) stroke-width="2"
                            stroke-dasharray=[(!dash(line.index).is_empty()).then(|| dash(line.index))] {}
                    }
                    // With few points a band is hard to see: draw each day's interval.
                    @if line.points.len() <= 3 {
                        @for (d, i) in &line.points {
                            @let px = format!("{:.1}", x(*d));
                            line x1=(px) x2=(px) y1=(format!("{:.1}", scale.y(clamp(i.low)))) y2=(format!("{:.1}", scale.y(clamp(i.high))))
                                stroke=(colour(line.index)) stroke-width="2" stroke-opacity="0.6" {}
                            circle cx=(px) cy=(format!("{:.1}", scale.y(clamp(i.mean)))) r="3.5" fill=(colour(line.index)) {}
                        }
                    }
                }
            }
        }))
    }
}

/// The lift of a variant over control with its interval, as a bar around a zero line, on a
/// scale shared by the rows (`extent` is the largest |lift| shown).
pub fn lift_bar(low: f64, mean: f64, high: f64, extent: f64, label: &str) -> Markup {
    let tone = if low > 0.0 {
        "lift-up"
    } else if high < 0.0 {
        "lift-down"
    } else {
        "lift-even"
    };
    toned_lift_bar(low, mean, high, extent, label, tone)
}

/// The lift bar coloured by a class the caller chose: `lift-good` (green) and `lift-bad`
/// (red) for a metric whose good direction may be down, `lift-even` (grey).
pub fn toned_lift_bar(
    low: f64,
    mean: f64,
    high: f64,
    extent: f64,
    label: &str,
    tone: &str,
) -> Markup {
    const W: f64 = 140.0;
    const H: f64 = 22.0;
    let extent = extent.max(1e-9);
    let x = |v: f64| {
        (W / 2.0 + v.clamp(-extent, extent) / extent * (W / 2.0 - 6.0)).clamp(1.0, W - 1.0)
    };
    html! {
        svg class={ "lift-bar " (tone) } width=(W) height=(H) viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(label) {
            line.zero x1=(W / 2.0) x2=(W / 2.0) y1="1" y2=(H - 1.0) {}
            rect.interval x=(format!("{:.1}", x(low))) y="7" width=(format!("{:.1}", (x(high) - x(low)).max(1.5))) height="8" rx="2" {}
            circle.mean cx=(format!("{:.1}", x(mean))) cy=(H / 2.0) r="3.5" {}
        }
    }
}

/// What stands in for a chart that has no data yet.
pub fn empty_chart(message: &str) -> Markup {
    html! { p.empty-chart { (message) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_density_integrates_to_one_even_with_a_million_users() {
        for (a, b) in [(2.0, 3.0), (50_001.0, 950_001.0)] {
            let mean: f64 = a / (a + b);
            let sd = (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
            let (lo, hi) = ((mean - 10.0 * sd).max(0.0), (mean + 10.0 * sd).min(1.0));
            let n = 20_000;
            let h = (hi - lo) / n as f64;
            let total: f64 = (0..n)
                .map(|i| beta_ln_pdf(lo + (i as f64 + 0.5) * h, a, b).exp() * h)
                .sum();
            assert!((total - 1.0).abs() < 1e-3, "a={a} b={b}: {total}");
        }
    }

    #[test]
    fn ticks_are_round() {
        let (t, step) = ticks(0.031, 0.058, 6);
        assert_eq!(step, 0.005);
        assert!((t[0] - 0.035).abs() < 1e-12);
        assert_eq!(percent_decimals(step), 1);
    }
}
