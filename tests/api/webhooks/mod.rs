//! Webhooks: a receiver the test starts (a real HTTP server on port 0) gets signed
//! deliveries of the events it subscribed to, retried when it fails, after a restart too.

pub(crate) mod api;
mod dashboard;
pub(crate) mod delivery;
pub(crate) mod receiver;
