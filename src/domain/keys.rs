//! API keys' vocabulary: the scope a key grants, the stored key (never its secret), and the
//! checks on a key's name and rate limit.

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

/// A stored API key. Serialized (for the audit log and listings) without its hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiKey {
    pub id: i64,
    /// SHA-256 of the key, in hex: the key itself is never stored.
    #[serde(skip)]
    pub key_hash: String,
    pub scope: Scope,
    /// The human name of the key ("label" in the database).
    #[serde(rename = "name")]
    pub label: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Requests per second this key may make; `None`: the server's default (if any).
    pub rate_limit: Option<f64>,
    /// When the key was last used (to the minute); `None`: never.
    #[serde(skip)]
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ApiKey {
    /// The first characters of the hash: enough to tell keys apart in a listing, useless to
    /// an attacker.
    pub fn hash_prefix(&self) -> &str {
        &self.key_hash[..self.key_hash.len().min(8)]
    }
}
