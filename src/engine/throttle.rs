//! Throttling of failed authentications per client address: a defence against guessing keys
//! (an operator may well set a weak `POSTERIOR_ADMIN_KEY`).
//!
//! Only the failure path comes here: a request whose key is accepted never touches the
//! throttle, so valid keys cost nothing and an app with a valid key keeps working from an
//! address that an attacker behind the same NAT got throttled.
//!
//! Each address has a token bucket in the GCRA form (one word: the theoretical arrival time
//! of the next failure) in a `DashMap`. An entry whose time has passed is a full bucket, the
//! same as no entry, so entries can be forgotten at any time: idle addresses are swept away
//! (by the key refresh loop and whenever the map is full), and the map never holds more than
//! `max_addresses` entries. When it is full of addresses that are all still throttled, a new
//! address is refused as if throttled (fail closed) until a sweep frees room; sweeps run at
//! most once a second so that a spray of addresses cannot make every failure scan the map.

use dashmap::DashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The throttle's settings: failures per minute per address, the burst allowed on top, and
/// how many addresses are tracked at most.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuthThrottleSettings {
    pub failures_per_minute: f64,
    pub burst: u32,
    pub max_addresses: usize,
}

impl AuthThrottleSettings {
    pub const DEFAULT: AuthThrottleSettings = AuthThrottleSettings {
        failures_per_minute: 30.0,
        burst: 10,
        max_addresses: 100_000,
    };

    pub fn validate(&self) -> Result<(), String> {
        if !(self.failures_per_minute.is_finite() && self.failures_per_minute > 0.0) {
            return Err(format!(
                "POSTERIOR_AUTH_FAILURES_PER_MINUTE must be a positive number, not {}",
                self.failures_per_minute
            ));
        }
        if self.burst == 0 {
            return Err("POSTERIOR_AUTH_FAILURE_BURST must be at least 1".into());
        }
        if self.max_addresses == 0 {
            return Err("POSTERIOR_AUTH_THROTTLE_MAX_ADDRESSES must be at least 1".into());
        }
        Ok(())
    }
}

impl Default for AuthThrottleSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Whom failures are counted against: an IPv4 address, or an IPv6 /64 (what one subscriber
/// usually holds, so rotating through one's own /64 does not buy more guesses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerAddress {
    V4(u32),
    V6Net(u64),
    /// No peer address (not a TCP connection): all such requests share one bucket.
    Unknown,
}

impl PeerAddress {
    pub fn of(ip: Option<IpAddr>) -> PeerAddress {
        match ip {
            None => PeerAddress::Unknown,
            Some(IpAddr::V4(v4)) => PeerAddress::V4(u32::from(v4)),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => PeerAddress::V4(u32::from(v4)),
                None => PeerAddress::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

pub struct AuthThrottle {
    /// Nanoseconds between failures at the sustained rate.
    interval: u64,
    /// How far ahead of now an address's time may run: the burst.
    tolerance: u64,
    max_addresses: usize,
    epoch: Instant,
    buckets: DashMap<PeerAddress, u64, foldhash::fast::RandomState>,
    /// When the last sweep ran (nanoseconds since `epoch`).
    last_sweep: AtomicU64,
}

const SWEEP_EVERY: u64 = 1_000_000_000;

impl AuthThrottle {
    pub fn new(settings: AuthThrottleSettings) -> Self {
        let interval = (60e9 / settings.failures_per_minute).max(1.0) as u64;
        AuthThrottle {
            interval,
            tolerance: interval.saturating_mul(u64::from(settings.burst.max(1)) - 1),
            max_addresses: settings.max_addresses.max(1),
            epoch: Instant::now(),
            buckets: DashMap::with_hasher(foldhash::fast::RandomState::default()),
            last_sweep: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Counts one failed authentication from `peer`: `Ok` while within its budget, or how
    /// long until the next failure would be, once over it (a refused failure is not counted:
    /// the bucket refills at the configured rate however hard it is hammered).
    pub fn fail(&self, peer: PeerAddress) -> Result<(), Duration> {
        self.fail_at(peer, self.now())
    }

    /// How long until `peer` may fail again while it is over its budget, `None` while it is
    /// within it. Counts nothing: for refusing an attempt before its key is looked at.
    pub fn wait(&self, peer: PeerAddress) -> Option<Duration> {
        let now = self.now();
        let tat = *self.buckets.get(&peer)?;
        (tat > now + self.tolerance).then(|| Duration::from_nanos(tat - now - self.tolerance))
    }

    fn fail_at(&self, peer: PeerAddress, now: u64) -> Result<(), Duration> {
        if !self.buckets.contains_key(&peer)
            && self.buckets.len() >= self.max_addresses
            && !self.sweep_at(now)
        {
            // Full of throttled addresses and swept less than a second ago: fail closed.
            return Err(Duration::from_nanos(self.interval));
        }
        let mut tat = self.buckets.entry(peer).or_insert(0);
        if *tat > now + self.tolerance {
            return Err(Duration::from_nanos(*tat - now - self.tolerance));
        }
        *tat = (*tat).max(now) + self.interval;
        Ok(())
    }

    /// Forgets addresses whose bucket is full again (idle ones), at most once a second.
    pub fn sweep(&self) {
        self.sweep_at(self.now());
    }

    /// Forgets idle addresses unless the last sweep was less than a second ago; returns
    /// whether it swept and made room.
    fn sweep_at(&self, now: u64) -> bool {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now < last.saturating_add(SWEEP_EVERY)
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        if !self.buckets.is_empty() {
            self.buckets.retain(|_, tat| *tat > now);
        }
        self.buckets.len() < self.max_addresses
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// A wait as `Retry-After` says it: whole seconds, rounded up, at least 1 ("now" would invite
/// a retry storm). For every wait the engine answers (this throttle, a key's rate limit).
pub fn retry_after_seconds(wait: impl std::borrow::Borrow<Duration>) -> u64 {
    wait.borrow().as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn throttle(per_minute: f64, burst: u32, max: usize) -> AuthThrottle {
        AuthThrottle::new(AuthThrottleSettings {
            failures_per_minute: per_minute,
            burst,
            max_addresses: max,
        })
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t = throttle(30.0, 3, 10);
        let a = PeerAddress::V4(1);
        for _ in 0..3 {
            assert_eq!(t.fail_at(a, 10 * S), Ok(()));
        }
        let wait = t.fail_at(a, 10 * S).unwrap_err();
        assert_eq!(wait, Duration::from_secs(2), "30 a minute: one every 2 s");
        assert!(t.fail_at(a, 11 * S).is_err(), "refusals do not refill");
        assert_eq!(t.fail_at(a, 12 * S), Ok(()));
        assert!(t.fail_at(a, 12 * S).is_err());
        // Another address has its own budget.
        assert_eq!(t.fail_at(PeerAddress::V4(2), 12 * S), Ok(()));
    }

    #[test]
    fn idle_addresses_are_forgotten_and_the_map_is_capped() {
        let t = throttle(60.0, 1, 2);
        assert_eq!(t.fail_at(PeerAddress::V4(1), 5 * S), Ok(()));
        assert_eq!(t.fail_at(PeerAddress::V4(2), 5 * S), Ok(()));
        // Full of throttled addresses: a third is refused (fail closed), not added.
        assert!(t.fail_at(PeerAddress::V4(3), 5 * S).is_err());
        assert_eq!(t.tracked(), 2);
        // Once they are idle (buckets full again) a sweep forgets them.
        assert_eq!(t.fail_at(PeerAddress::V4(3), 7 * S), Ok(()));
        assert_eq!(t.tracked(), 1);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(PeerAddress::of(Some(a)), PeerAddress::of(Some(b)));
        assert_ne!(PeerAddress::of(Some(a)), PeerAddress::of(Some(c)));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(PeerAddress::of(Some(mapped)), PeerAddress::of(Some(v4)));
    }
}
