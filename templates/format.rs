//! Numbers and times formatted for people. Tests format the API's numbers with these same
//! functions and look for the result on the page.

use chrono::{DateTime, Utc};

/// What a missing value shows as.
pub const NONE: &str = "—";

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A decimal with `decimals` places and thousands separators: `12345.678, 2` → `"12,345.68"`.
pub fn decimal(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return NONE.into();
    }
    let fixed = format!("{:.*}", decimals, x.abs());
    let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut out = String::new();
    // "-0.00" reads as noise: only show the sign when something non-zero is left.
    if x < 0.0 && fixed.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        out.push('-');
    }
    out.push_str(&thousands(whole.parse().unwrap_or(0)));
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// A share as a percentage: `0.05163, 2` → `"5.16%"`.
pub fn percent(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return NONE.into();
    }
    format!("{}%", decimal(x * 100.0, decimals))
}

/// A share as a percentage without trailing zeros, as a person types it: `0.02` → `"2%"`,
/// `0.995` → `"99.5%"`.
pub fn short_percent(x: f64) -> String {
    if !x.is_finite() {
        return NONE.into();
    }
    let text = format!("{:.2}", x * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// A signed relative change: `0.32` → `"+32.0%"`.
pub fn signed_percent(x: f64) -> String {
    if !x.is_finite() {
        return NONE.into();
    }
    let text = percent(x, 1);
    if x * 100.0 >= 0.05 {
        format!("+{text}")
    } else {
        text.replace('-', "−")
    }
}

/// A probability, one decimal, never claiming certainty it rounds to: `0.9781` → `"97.8%"`,
/// `0.99996` → `"> 99.9%"`, `0.00001` → `"< 0.1%"`.
pub fn probability(p: f64) -> String {
    if !p.is_finite() {
        NONE.into()
    } else if p >= 0.9995 {
        "> 99.9%".into()
    } else if p < 0.0005 {
        "< 0.1%".into()
    } else {
        percent(p, 1)
    }
}

pub fn optional_probability(p: Option<f64>) -> String {
    p.map_or_else(|| NONE.into(), probability)
}

/// A p-value: three decimals, or `"< 0.001"`.
pub fn p_value(p: Option<f64>) -> String {
    match p {
        Some(p) if p.is_finite() && p < 0.001 => "< 0.001".into(),
        Some(p) if p.is_finite() => format!("{p:.3}"),
        _ => NONE.into(),
    }
}

/// A difference of rates in percentage points: `0.0002` → `"0.02 points"`.
pub fn points(x: f64) -> String {
    if !x.is_finite() {
        return NONE.into();
    }
    let v = x * 100.0;
    let text = if v == 0.0 {
        "0".to_string()
    } else if v.abs() < 0.001 {
        "< 0.001".to_string()
    } else if v.abs() < 1.0 {
        decimal(v, 3)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        decimal(v, 2)
    };
    let unit = if text == "1" { "point" } else { "points" };
    format!("{text} {unit}")
}

/// An amount of the revenue metric (unit-less: the apps decide the currency).
pub fn amount(x: f64) -> String {
    if !x.is_finite() {
        NONE.into()
    } else if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.4}")
    } else {
        decimal(x, 2)
    }
}

/// A mean or a ratio (no unit): three significant digits below 100, one decimal below 1,000,
/// whole numbers above: `0.01234` → `"0.0123"`, `4.56789` → `"4.57"`, `123.456` → `"123.5"`,
/// `12345.6` → `"12,346"`.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return NONE.into();
    }
    let a = x.abs();
    let decimals = if a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 1.0 || a == 0.0 {
        2
    } else {
        (2 - a.log10().floor() as i64).clamp(2, 6) as usize
    };
    decimal(x, decimals)
}

/// A moment in UTC with the zone spelled out: `"2026-11-25 08:24 UTC"`.
pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A short axis label: `"Nov 25 08:00"` (UTC, stated on the chart).
pub fn short_utc(t: DateTime<Utc>) -> String {
    t.format("%b %-d %H:%M").to_string()
}

/// A duration in the two largest units: `"3 d 4 h"`, `"5 h 12 min"`, `"42 min"`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) if m == 0 => "under a minute".into(),
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
        assert_eq!(decimal(12345.678, 2), "12,345.68");
        assert_eq!(decimal(-0.001, 2), "0.00");
        assert_eq!(percent(0.05163, 2), "5.16%");
        assert_eq!(signed_percent(0.32), "+32.0%");
        assert_eq!(signed_percent(-0.051), "−5.1%");
        assert_eq!(probability(0.9781), "97.8%");
        assert_eq!(probability(0.99996), "> 99.9%");
        assert_eq!(probability(0.00001), "< 0.1%");
        assert_eq!(p_value(Some(0.04)), "0.040");
        assert_eq!(p_value(Some(0.0001)), "< 0.001");
        assert_eq!(p_value(None), "—");
        assert_eq!(points(0.0002), "0.02 points");
        assert_eq!(points(0.0125), "1.25 points");
        assert_eq!(points(0.0), "0 points");
        assert_eq!(number(0.01234), "0.0123");
        assert_eq!(number(0.5), "0.500");
        assert_eq!(number(4.56789), "4.57");
        assert_eq!(number(123.456), "123.5");
        assert_eq!(number(-12345.6), "-12,346");
        assert_eq!(number(0.0), "0.00");
    }

    #[test]
    fn times() {
        use chrono::TimeZone;
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 8, 24, 0).unwrap();
        assert_eq!(utc(t), "2026-11-25 08:24 UTC");
        assert_eq!(short_utc(t), "Nov 25 08:24");
        assert_eq!(duration(30), "under a minute");
        assert_eq!(duration(42 * 60), "42 min");
        assert_eq!(duration(5 * 3600 + 12 * 60), "5 h 12 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
    }
}
