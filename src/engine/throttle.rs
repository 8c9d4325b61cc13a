//! Throttling of failed authentications per client address: a defence against guessing keys
//! (an operator may well set a weak `POSTERIOR_ADMIN_KEY`).
//!
//! Only the failure path comes here: a request whose key is accepted never touches the
//! throttle, so valid keys cost nothing and an app with a valid key keeps working from an
//! address that an attacker behind the same NAT got throttled.
//!
//! Each address has a GCRA token bucket in governor's keyed rate limiter (a `DashMap` from
//! address to one atomic word, the theoretical arrival time of the next failure). An entry
//! whose time has passed is a full bucket, the same as no entry, so entries can be forgotten
//! at any time: idle addresses are swept away (by the key refresh loop and whenever the map
//! is full), and the map never holds more than `max_addresses` entries. When it is full of
//! addresses that are all still throttled, a new address is refused as if throttled (fail
//! closed) until a sweep frees room; sweeps run at most once a second so that a spray of
//! addresses cannot make every failure scan the map.
//!
//! governor has no cap on its keyed store, so the cap is kept here: the store is shared with
//! the throttle (`Addresses`) to ask whether an address is already tracked. (governor's sweep
//! forgets an address one interval after its bucket is full again, not at that instant: no
//! answer changes, an idle entry just lives a little longer.)

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};
use std::convert::Infallible;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

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

type AddressMap = DashMap<PeerAddress, InMemoryState, foldhash::fast::RandomState>;

/// The limiter's store: governor's `DashMap` store, shared so the throttle can see which
/// addresses it tracks (governor keeps its store private).
#[derive(Clone, Default)]
struct Addresses(Arc<AddressMap>);

impl StateStore for Addresses {
    type Key = PeerAddress;

    fn measure_and_replace<T, F, E>(&self, key: &PeerAddress, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

/// A view of the same store that answers as the throttle would but writes nothing: the
/// limiter that asks it tells whether an address is over its budget without counting a
/// failure (and without adding an address it does not track).
struct Peek(Arc<AddressMap>);

impl StateStore for Peek {
    type Key = PeerAddress;

    fn measure_and_replace<T, F, E>(&self, key: &PeerAddress, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if !self.0.contains_key(key) {
            return f(None).map(|(answer, _)| answer);
        }
        // The decision leaves the store as an error, so the store replaces nothing.
        match self
            .0
            .measure_and_replace(key, |tat| Err::<(Infallible, Nanos), _>(f(tat)))
        {
            Ok(never) => match never {},
            Err(decision) => decision.map(|(answer, _)| answer),
        }
    }
}

impl ShrinkableKeyedStateStore<PeerAddress> for Addresses {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub struct AuthThrottle<C: Clock = DefaultClock> {
    failures: RateLimiter<PeerAddress, Addresses, C, NoOpMiddleware<C::Instant>>,
    /// The same quota over the same store, read-only (made at the same moment, so both
    /// measure time from the same start, to within nanoseconds).
    peek: RateLimiter<PeerAddress, Peek, C, NoOpMiddleware<C::Instant>>,
    addresses: Addresses,
    /// One sweep a second at most.
    sweeps: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    /// Between failures at the sustained rate: the wait of an address refused for a full map.
    interval: Duration,
    max_addresses: usize,
}

impl AuthThrottle {
    pub fn new(settings: AuthThrottleSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock + Clone> AuthThrottle<C> {
    fn with_clock(settings: AuthThrottleSettings, clock: C) -> Self {
        let interval = Duration::from_nanos((60e9 / settings.failures_per_minute).max(1.0) as u64);
        let quota = Quota::with_period(interval)
            .expect("a period of at least 1 ns")
            .allow_burst(NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN));
        let addresses = Addresses::default();
        AuthThrottle {
            failures: RateLimiter::new(quota, addresses.clone(), clock.clone()),
            peek: RateLimiter::new(quota, Peek(addresses.0.clone()), clock.clone()),
            addresses,
            sweeps: RateLimiter::direct_with_clock(Quota::per_second(NonZeroU32::MIN), clock),
            interval,
            max_addresses: settings.max_addresses.max(1),
        }
    }

    /// Counts one failed authentication from `peer`: `Ok` while within its budget, or how
    /// long until the next failure would be, once over it (a refused failure is not counted:
    /// the bucket refills at the configured rate however hard it is hammered).
    pub fn fail(&self, peer: PeerAddress) -> Result<(), Duration> {
        if !self.addresses.0.contains_key(&peer)
            && self.failures.len() >= self.max_addresses
            && !self.sweep_made_room()
        {
            // Full of throttled addresses and swept less than a second ago: fail closed.
            return Err(self.interval);
        }
        self.failures
            .check_key(&peer)
            .map_err(|refused| refused.wait_time_from(self.failures.clock().now()))
    }

    /// How long until `peer` may fail again while it is over its budget, `None` while it is
    /// within it. Counts nothing: for refusing an attempt before its key is looked at.
    pub fn wait(&self, peer: PeerAddress) -> Option<Duration> {
        self.peek
            .check_key(&peer)
            .err()
            .map(|refused| refused.wait_time_from(self.peek.clock().now()))
    }

    /// Forgets addresses whose bucket is full again (idle ones), at most once a second.
    pub fn sweep(&self) {
        self.sweep_made_room();
    }

    /// Forgets idle addresses unless the last sweep was less than a second ago; returns
    /// whether it swept and made room.
    fn sweep_made_room(&self) -> bool {
        if self.sweeps.check().is_err() {
            return false;
        }
        self.failures.retain_recent();
        self.failures.len() < self.max_addresses
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.failures.len()
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

    use governor::clock::FakeRelativeClock;

    fn throttle(
        per_minute: f64,
        burst: u32,
        max: usize,
    ) -> (AuthThrottle<FakeRelativeClock>, Time) {
        let clock = FakeRelativeClock::default();
        let throttle = AuthThrottle::with_clock(
            AuthThrottleSettings {
                failures_per_minute: per_minute,
                burst,
                max_addresses: max,
            },
            clock.clone(),
        );
        (throttle, Time(clock, Duration::ZERO))
    }

    /// The fake clock, set forward to whole seconds since the throttle was made.
    struct Time(FakeRelativeClock, Duration);

    impl Time {
        fn at(&mut self, seconds: u64) {
            let to = Duration::from_secs(seconds);
            self.0.advance(to - self.1);
            self.1 = to;
        }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let (t, mut clock) = throttle(30.0, 3, 10);
        let a = PeerAddress::V4(1);
        clock.at(10);
        for _ in 0..3 {
            assert_eq!(t.fail(a), Ok(()));
        }
        let wait = t.fail(a).unwrap_err();
        assert_eq!(wait, Duration::from_secs(2), "30 a minute: one every 2 s");
        clock.at(11);
        assert!(t.fail(a).is_err(), "refusals do not refill");
        clock.at(12);
        assert_eq!(t.fail(a), Ok(()));
        assert!(t.fail(a).is_err());
        // Another address has its own budget.
        assert_eq!(t.fail(PeerAddress::V4(2)), Ok(()));
    }

    #[test]
    fn waiting_is_told_without_counting() {
        let (t, mut clock) = throttle(30.0, 2, 10);
        let a = PeerAddress::V4(1);
        clock.at(10);
        assert_eq!(t.wait(a), None, "an address never seen");
        assert_eq!(t.tracked(), 0, "and still not tracked");
        assert_eq!(t.fail(a), Ok(()));
        assert_eq!(t.wait(a), None, "one failure left");
        assert_eq!(t.wait(a), None, "asking counts nothing");
        assert_eq!(t.fail(a), Ok(()));
        assert_eq!(t.wait(a), Some(Duration::from_secs(2)));
        assert_eq!(t.fail(a), Err(Duration::from_secs(2)));
        clock.at(12);
        assert_eq!(t.wait(a), None, "refilled");
        assert_eq!(t.fail(a), Ok(()));
    }

    #[test]
    fn idle_addresses_are_forgotten_and_the_map_is_capped() {
        let (t, mut clock) = throttle(60.0, 1, 2);
        clock.at(5);
        assert_eq!(t.fail(PeerAddress::V4(1)), Ok(()));
        assert_eq!(t.fail(PeerAddress::V4(2)), Ok(()));
        // Full of throttled addresses: a third is refused (fail closed), not added...
        assert_eq!(t.fail(PeerAddress::V4(3)), Err(Duration::from_secs(1)));
        assert_eq!(t.tracked(), 2);
        // ...while a tracked address still gets its own answer.
        clock.at(6);
        assert_eq!(t.fail(PeerAddress::V4(1)), Ok(()));
        // Once they are idle (buckets full again) a sweep forgets them.
        clock.at(8);
        assert_eq!(t.fail(PeerAddress::V4(3)), Ok(()));
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
