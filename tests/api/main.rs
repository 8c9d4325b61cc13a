//! Integration tests: real HTTP against a real server and a real PostgreSQL, each test with
//! its own fresh database so they run in parallel. One binary, so one link.

mod helpers;

mod assign;
mod auth;
mod bad_input;
mod bandit;
mod behavior;
mod contextual;
mod cuped;
mod dashboard;
mod erasure_audit;
mod experiments;
mod export;
mod export_layout;
mod factorial;
mod fault_tools;
mod faults;
mod guardrail_drop;
mod guardrails;
mod holdout;
mod layers;
mod lifecycle;
mod metrics;
mod observability;
mod ofrep;
mod ope;
mod over_time;
mod partitions;
mod personal_timing;
mod privacy;
mod profiles;
mod results;
mod security;
mod segments;
mod sequential;
mod shutdown;
mod throttle;
mod time_ranges;
mod track;
mod user_cache;
mod verdict;
mod weak_keys;
mod webhooks;
