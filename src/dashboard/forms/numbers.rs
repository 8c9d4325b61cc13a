//! Numbers as people type them: shares as percentages (`12.5`, `12,5 %`), counts with
//! thousands separators (`1,000`).

/// `0.5` → `"50"`, `0.3333` → `"33.33"`: a share shown as the percent a person would type.
pub fn percent_text(share: f64) -> String {
    let text = format!("{:.4}", share * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `"12.5"`, `"12,5"` or `"12.5 %"` → `0.125`.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim().trim_end_matches('%').trim();
    match t.replace(',', ".").parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x / 100.0),
        _ => Err(format!(
            "{text:?} is not a number; type a percentage such as 50"
        )),
    }
}

/// `"1,000"`, `"1 000"` or `"1_000"` → `1000`.
pub fn parse_count(text: &str) -> Result<u32, String> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '_'))
        .collect();
    digits
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of users"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_back_as_typed() {
        assert_eq!(percent_text(0.5), "50");
        assert_eq!(percent_text(1.0 / 3.0), "33.3333");
        assert_eq!(parse_percent("12,5 %"), Ok(0.125));
        assert!(parse_percent("half").is_err());
        assert_eq!(parse_count("1,000"), Ok(1000));
    }
}
