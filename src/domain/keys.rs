str_enum!(
    /// What an API key may do: `client` assigns, tracks and evaluates flags; `admin` does everything.
    /// Also the CLI's `--scope` (`posterior keys create`).
    #[derive(clap::ValueEnum)]
    Scope { Client => "client", Admin => "admin" }
);

impl Scope {
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Admin || needed == Scope::Client
    }
}

/// Longest name (label) of an API key.
pub const MAX_KEY_NAME: usize = 100;
/// Highest per-key rate limit, in requests per second.
pub const MAX_RATE_LIMIT: f64 = 1_000_000.0;

/// A key's name: up to 100 bytes of text without control characters (may be empty).
pub fn validate_key_name(name: &str) -> Result<(), super::ValidationError> {
    if name.len() > MAX_KEY_NAME || name.chars().any(char::is_control) {
        return Err(super::ValidationError::new(
            "name",
            super::Violation::OptionalText {
                max_bytes: MAX_KEY_NAME,
            },
        ));
    }
    Ok(())
}

/// A rate limit: a positive number of requests per second, at most a million.
pub fn validate_rate_limit(rate: Option<f64>) -> Result<(), super::ValidationError> {
    match rate {
        Some(r) if !(r.is_finite() && r > 0.0 && r <= MAX_RATE_LIMIT) => {
            Err(super::ValidationError::new(
                "rate_limit",
                super::Violation::RateLimit {
                    max: MAX_RATE_LIMIT,
                },
            ))
        }
        _ => Ok(()),
    }
}
