//! Security, one topic a file: what each scope may call, stored keys, rate limits, input
//! limits and the audit log. The failed-authentication throttle is in `throttle.rs`, the
//! dashboard's keys page and sessions in `dashboard/`.

mod audit_log;
mod input_limits;
mod keys;
mod rate_limits;
mod scopes;
