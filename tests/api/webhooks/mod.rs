//! Webhooks: a receiver the test starts (a real HTTP server on port 0) gets signed
//! deliveries of the events it subscribed to, retried when it fails, after a restart too.

mod api;
mod dashboard;
mod delivery;
mod receiver;
