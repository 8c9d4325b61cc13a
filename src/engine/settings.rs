//! The settings the engine runs with, and the input limits it enforces (the command line
//! and environment fill them in `config`).

use super::Consent;
use super::throttle::AuthThrottleSettings;
use crate::domain::{Attributes, Scope, ValidationError, Violation};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub database_url: String,
    pub pool_size: u32,
    pub writer_threads: usize,
    pub max_batch_rows: usize,
    /// Whether the writer keeps behavioral profiles with the events.
    pub profiles: bool,
    /// The most memory (bytes) the user cache (enrollments and profiles) may take; users
    /// beyond it are read from the database when they return.
    pub cache_bytes: u64,
    /// How often posteriors, bandit weights and experiment definitions are reloaded.
    pub refresh_interval: Duration,
    /// Keys given in the environment (accepted in addition to the stored ones).
    pub static_keys: Vec<(String, Scope)>,
    /// Requests per second for keys without a limit of their own; `None`: unlimited.
    pub default_rate_limit: Option<f64>,
    /// Input limits the API enforces.
    pub limits: Limits,
    /// When set, users without consent get no assignment and nothing of theirs is stored.
    pub consent: Option<Consent>,
    /// Raw events that happened (`occurred_at`) longer ago than this are removed, a whole
    /// day's partition at a time (so up to a day later); `None` keeps them forever.
    pub event_retention: Option<chrono::TimeDelta>,
    /// How often the retention task runs.
    pub retention_interval: Duration,
    /// How long a write waits for its commit before answering 503.
    pub write_timeout: Duration,
    /// The budget of failed authentications per client address.
    pub auth_throttle: AuthThrottleSettings,
    /// How webhook deliveries are posted and retried.
    pub webhooks: WebhookSettings,
}

/// How webhook deliveries are posted and retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebhookSettings {
    /// How often the delivery loop looks for due deliveries.
    pub poll_interval: Duration,
    /// The wait before the first retry; each further retry waits twice as long (±20 %)...
    pub base_delay: Duration,
    /// ...up to this.
    pub max_delay: Duration,
    /// A delivery without a 2xx this long after it was queued is given up.
    pub give_up_after: Duration,
    /// How long one attempt may take (connect, send, answer).
    pub timeout: Duration,
    /// The most deliveries claimed (and posted concurrently) per poll.
    pub batch: i64,
}

impl WebhookSettings {
    pub const DEFAULT: WebhookSettings = WebhookSettings {
        poll_interval: Duration::from_secs(1),
        base_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(3600),
        give_up_after: Duration::from_secs(24 * 3600),
        timeout: Duration::from_secs(10),
        batch: 32,
    };
}

impl EngineSettings {
    /// Defaults for everything but the database.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            pool_size: 8,
            writer_threads: 2,
            max_batch_rows: 5000,
            profiles: true,
            cache_bytes: 256 << 20,
            refresh_interval: Duration::from_millis(1000),
            static_keys: Vec::new(),
            default_rate_limit: None,
            limits: Limits::DEFAULT,
            consent: None,
            event_retention: None,
            retention_interval: Duration::from_secs(3600),
            write_timeout: Duration::from_secs(10),
            auth_throttle: AuthThrottleSettings::DEFAULT,
            webhooks: WebhookSettings::DEFAULT,
        }
    }
}

/// Input limits. Those on user ids, attributes and names may only be lowered below the
/// domain's ceilings (what the storage and the targeting evaluator are built for); the body
/// size and the events per request may be set freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_events_per_request: usize,
    pub max_attributes: usize,
    pub max_attribute_name_bytes: usize,
    pub max_attribute_value_bytes: usize,
    pub max_user_id_bytes: usize,
    pub max_name_bytes: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_body_bytes: 1024 * 1024,
        max_events_per_request: 1000,
        max_attributes: crate::domain::MAX_ATTRIBUTES,
        max_attribute_name_bytes: crate::domain::MAX_ATTRIBUTE_NAME,
        max_attribute_value_bytes: crate::domain::MAX_ATTRIBUTE_STRING,
        max_user_id_bytes: crate::domain::MAX_USER_ID,
        max_name_bytes: crate::domain::MAX_NAME,
    };

    /// Refuses limits of zero and limits above the domain's ceilings.
    pub fn validate(&self) -> Result<(), String> {
        use crate::domain::*;
        let checks = [
            ("max_body_bytes", self.max_body_bytes, usize::MAX),
            (
                "max_events_per_request",
                self.max_events_per_request,
                usize::MAX,
            ),
            ("max_attributes", self.max_attributes, MAX_ATTRIBUTES),
            (
                "max_attribute_name_bytes",
                self.max_attribute_name_bytes,
                MAX_ATTRIBUTE_NAME,
            ),
            (
                "max_attribute_value_bytes",
                self.max_attribute_value_bytes,
                MAX_ATTRIBUTE_STRING,
            ),
            ("max_user_id_bytes", self.max_user_id_bytes, MAX_USER_ID),
            ("max_name_bytes", self.max_name_bytes, MAX_NAME),
        ];
        for (name, value, ceiling) in checks {
            if value == 0 || value > ceiling {
                return Err(format!(
                    "{name} must be between 1 and {ceiling}, not {value}"
                ));
            }
        }
        Ok(())
    }
}

impl Limits {
    pub fn check_user_id(&self, field: &str, user: &str) -> Result<(), ValidationError> {
        if user.len() > self.max_user_id_bytes {
            return Err(ValidationError::new(
                field,
                Violation::TooLong {
                    what: "user ids",
                    len: user.len(),
                    max_bytes: self.max_user_id_bytes,
                },
            ));
        }
        Ok(())
    }

    pub fn check_attributes(&self, attributes: &Attributes) -> Result<(), ValidationError> {
        let map = attributes.as_map();
        if map.len() > self.max_attributes {
            return Err(ValidationError::new(
                "attributes",
                Violation::TooMany {
                    what: "attributes per user",
                    max: self.max_attributes,
                    found: Some(map.len()),
                },
            ));
        }
        for (name, value) in map {
            if name.len() > self.max_attribute_name_bytes {
                return Err(ValidationError::new(
                    "attributes",
                    Violation::AttributeNameTooLong {
                        start: name.chars().take(16).collect(),
                        len: name.len(),
                        max_bytes: self.max_attribute_name_bytes,
                    },
                ));
            }
            if let Some(text) = value.as_str()
                && text.len() > self.max_attribute_value_bytes
            {
                return Err(ValidationError::new(
                    format!("attributes.{name}"),
                    Violation::TooLong {
                        what: "string values",
                        len: text.len(),
                        max_bytes: self.max_attribute_value_bytes,
                    },
                ));
            }
        }
        Ok(())
    }

    /// Every name held to `max_name_bytes`, by field: the first too long is refused.
    pub fn check_names<'a>(
        &self,
        names: impl IntoIterator<Item = (String, &'a str)>,
    ) -> Result<(), ValidationError> {
        names
            .into_iter()
            .try_for_each(|(field, name)| self.check_name(&field, name))
    }

    pub fn check_name(&self, field: &str, name: &str) -> Result<(), ValidationError> {
        if name.len() > self.max_name_bytes {
            return Err(ValidationError::new(
                field,
                Violation::TooLong {
                    what: "names",
                    len: name.len(),
                    max_bytes: self.max_name_bytes,
                },
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// What behavioral conditions may ask for on this server: profiles must be kept, and no
/// window may reach back further than the raw events are.
#[derive(Debug, Clone, Copy)]
pub struct BehaviorCheck {
    profiles: bool,
    retention_days: Option<u32>,
}

impl EngineSettings {
    pub fn behavior_check(&self) -> BehaviorCheck {
        BehaviorCheck {
            profiles: self.profiles,
            retention_days: self
                .event_retention
                .map(|r| (r.num_seconds() / 86_400).clamp(0, i64::from(u32::MAX)) as u32),
        }
    }
}

impl BehaviorCheck {
    /// Refuses `best_hour_of` payloads while profiles are off.
    pub fn check_payloads(
        self,
        spec: &crate::domain::ExperimentSpec,
    ) -> Result<(), ValidationError> {
        use crate::domain::personal_timing::PersonalPayload;
        for v in &spec.variants {
            let field = format!("variants.{}.payload", v.key);
            if !self.profiles && PersonalPayload::parse(&field, &v.payload)?.is_some() {
                return Err(ValidationError::new(field, Violation::ProfilesOff));
            }
        }
        Ok(())
    }

    /// Refuses rules (named `field` in the error) with behavioral conditions this server
    /// cannot answer.
    pub fn check(self, field: &str, rules: &[crate::domain::Rule]) -> Result<(), ValidationError> {
        let mut behaviors = Vec::new();
        rules.iter().for_each(|r| r.behaviors(&mut behaviors));
        if behaviors.is_empty() {
            return Ok(());
        }
        if !self.profiles {
            return Err(ValidationError::new(field, Violation::ProfilesOff));
        }
        if let Some(max_days) = self.retention_days
            && let Some(window) = behaviors.iter().filter_map(|b| b.window()).max()
            && window.seconds() > i64::from(max_days) * 86_400
        {
            return Err(ValidationError::new(
                field,
                Violation::BeyondRetention {
                    value: window.as_duration().to_string(),
                    max_days,
                },
            ));
        }
        Ok(())
    }
}
