//! Rate limiters of requeues: how long a key waits before it is tried again.
//!
//! The limiters are pure state machines like the queue itself: time is an input, so tests
//! and the property suite drive them with made-up instants.
//!
//! | limiter | client-go name | default |
//! |---|---|---|
//! | [`ExponentialBackoff`] | `ItemExponentialFailureRateLimiter` | 5 ms · 2^failures, at most 1000 s |
//! | [`TokenBucket`] | `BucketRateLimiter` (`rate.NewLimiter(10, 100)`) | 10 per second, bursts of 100 |
//! | [`MaxOf`] | `MaxOfRateLimiter` | the longest delay of its members |
//!
//! [`default_controller_rate_limiter`] combines the first two as client-go's
//! `DefaultTypedControllerRateLimiter` does: per-key backoff for a key that keeps failing,
//! and an overall bucket so that many failing keys cannot flood the API server.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Decides how long a key waits before it is tried again.
pub trait RateLimiter<K> {
    /// The delay of the next retry of `key`, counting it as one more failure.
    fn when(&mut self, key: &K, now: Instant) -> Duration;
    /// Forgets the failures of `key`: its next delay starts over. Call it when the key
    /// succeeded.
    fn forget(&mut self, key: &K);
    /// How many failures of `key` are counted now.
    fn num_requeues(&self, key: &K) -> u32;
}

/// A rate limiter behind a box, as the queues keep it.
pub type BoxRateLimiter<K> = Box<dyn RateLimiter<K> + Send>;

impl<K, R: RateLimiter<K> + ?Sized> RateLimiter<K> for Box<R> {
    fn when(&mut self, key: &K, now: Instant) -> Duration {
        (**self).when(key, now)
    }
    fn forget(&mut self, key: &K) {
        (**self).forget(key);
    }
    fn num_requeues(&self, key: &K) -> u32 {
        (**self).num_requeues(key)
    }
}

/// The rate limiter of controllers: the longer of a per-key [`ExponentialBackoff`] (5 ms to
/// 1000 s) and an overall [`TokenBucket`] (10 per second, bursts of 100).
pub fn default_controller_rate_limiter<K: Clone + Eq + Hash + Send + 'static>() -> MaxOf<K> {
    MaxOf::new(vec![Box::new(ExponentialBackoff::<K>::default()), Box::new(TokenBucket::default())])
}

/// Per-key exponential backoff: the n-th consecutive failure of a key (from 0) waits
/// `base · 2^n`, at most `max`.
#[derive(Debug, Clone)]
pub struct ExponentialBackoff<K> {
    base: Duration,
    max: Duration,
    /// Failures per key. Keys stay until forgotten, as in client-go: a controller forgets a
    /// key once it succeeds.
    failures: HashMap<K, u32>,
}

impl<K> ExponentialBackoff<K> {
    /// The first delay.
    pub const DEFAULT_BASE: Duration = Duration::from_millis(5);
    /// The longest delay.
    pub const DEFAULT_MAX: Duration = Duration::from_secs(1000);

    /// Backoff from `base` up to `max`. A `max` below `base` caps every delay at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max, failures: HashMap::new() }
    }

    /// The delay after `failures` earlier failures: `base · 2^failures`, at most `max`.
    /// Never overflows: anything past `max` is `max`.
    pub fn delay(&self, failures: u32) -> Duration {
        let base = self.base.as_nanos();
        // 2^127 is the largest power of two in a u128; past it the product is surely > max.
        let grown = if failures < 127 { base.checked_mul(1u128 << failures) } else { None };
        match grown {
            Some(nanos) if nanos <= self.max.as_nanos() => duration_from_nanos(nanos),
            _ => self.max,
        }
    }
}

impl<K> Default for ExponentialBackoff<K> {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BASE, Self::DEFAULT_MAX)
    }
}

impl<K: Clone + Eq + Hash> RateLimiter<K> for ExponentialBackoff<K> {
    fn when(&mut self, key: &K, _now: Instant) -> Duration {
        let count = match self.failures.get_mut(key) {
            Some(count) => count,
            None => self.failures.entry(key.clone()).or_insert(0),
        };
        let earlier = *count;
        *count = count.saturating_add(1);
        self.delay(earlier)
    }

    fn forget(&mut self, key: &K) {
        self.failures.remove(key);
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }
}

/// A token bucket shared by all keys, reserving like `golang.org/x/time/rate`'s `Reserve`:
/// each call takes a token, and when none is left the bucket goes into debt, so successive
/// calls get ever later slots `1/qps` apart.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    /// Tokens at `last`; negative when reservations are waiting for refills.
    tokens: f64,
    /// The latest instant seen; `None` until the first call, when the bucket is full.
    last: Option<Instant>,
}

impl TokenBucket {
    /// Refills per second by default.
    pub const DEFAULT_QPS: f64 = 10.0;
    /// Size of the bucket by default.
    pub const DEFAULT_BURST: u32 = 100;

    /// A full bucket of `burst` tokens refilled at `qps` per second. An infinite `qps` never
    /// delays; a `qps` that is not positive (or NaN) never refills, so that once the burst is
    /// spent every delay is [`Duration::MAX`].
    pub fn new(qps: f64, burst: u32) -> Self {
        Self { qps, burst: f64::from(burst), tokens: f64::from(burst), last: None }
    }
}

impl Default for TokenBucket {
    fn default() -> Self {
        Self::new(Self::DEFAULT_QPS, Self::DEFAULT_BURST)
    }
}

impl<K> RateLimiter<K> for TokenBucket {
    fn when(&mut self, _key: &K, now: Instant) -> Duration {
        if self.qps == f64::INFINITY {
            return Duration::ZERO;
        }
        let refills = self.qps > 0.0;
        if let Some(last) = self.last {
            // An instant before `last` refills nothing rather than draining the bucket.
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            if refills {
                self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
            }
        }
        self.last = Some(self.last.map_or(now, |last| last.max(now)));
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else if refills {
            // Rounded to whole nanoseconds so that 1/10 s reads as exactly 100 ms.
            let nanos = (-self.tokens / self.qps * 1e9).round();
            if nanos < u128::MAX as f64 { duration_from_nanos(nanos as u128) } else { Duration::MAX }
        } else {
            Duration::MAX
        }
    }

    fn forget(&mut self, _key: &K) {}

    fn num_requeues(&self, _key: &K) -> u32 {
        0
    }
}

/// The longest delay of several limiters; every member sees every call, so each keeps its
/// own count.
pub struct MaxOf<K> {
    limiters: Vec<BoxRateLimiter<K>>,
}

impl<K> MaxOf<K> {
    /// The maximum of `limiters`; with none, every delay is zero.
    pub fn new(limiters: Vec<BoxRateLimiter<K>>) -> Self {
        Self { limiters }
    }
}

impl<K> std::fmt::Debug for MaxOf<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaxOf").field("limiters", &self.limiters.len()).finish()
    }
}

impl<K> RateLimiter<K> for MaxOf<K> {
    fn when(&mut self, key: &K, now: Instant) -> Duration {
        self.limiters.iter_mut().map(|l| l.when(key, now)).max().unwrap_or_default()
    }

    fn forget(&mut self, key: &K) {
        for limiter in &mut self.limiters {
            limiter.forget(key);
        }
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.limiters.iter().map(|l| l.num_requeues(key)).max().unwrap_or(0)
    }
}

/// A duration of `nanos`, saturating at [`Duration::MAX`].
fn duration_from_nanos(nanos: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / PER_SEC) {
        // The remainder is below 10^9, so it fits.
        Ok(secs) => Duration::new(secs, (nanos % PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exponential_doubles_from_5ms_to_1000s() {
        let t0 = Instant::now();
        let mut l = ExponentialBackoff::<&str>::default();
        let got: Vec<Duration> = (0..6).map(|_| l.when(&"a", t0)).collect();
        assert_eq!(got, [5 * MS, 10 * MS, 20 * MS, 40 * MS, 80 * MS, 160 * MS]);
        assert_eq!(l.num_requeues(&"a"), 6);
        // 5 ms · 2^17 = 655.36 s; 2^18 passes 1000 s.
        for _ in 6..17 {
            l.when(&"a", t0);
        }
        assert_eq!(l.when(&"a", t0), Duration::from_millis(655_360));
        assert_eq!(l.when(&"a", t0), Duration::from_secs(1000));
        // Other keys count on their own.
        assert_eq!(l.when(&"b", t0), 5 * MS);
        l.forget(&"a");
        assert_eq!(l.num_requeues(&"a"), 0);
        assert_eq!(l.when(&"a", t0), 5 * MS);
    }

    #[test]
    fn exponential_never_overflows() {
        let l = ExponentialBackoff::<u8>::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        assert_eq!(l.delay(0), Duration::from_secs(u64::MAX / 2));
        assert_eq!(l.delay(1), Duration::from_secs(u64::MAX - 1));
        for n in [2, 63, 64, 126, 127, 128, u32::MAX] {
            assert_eq!(l.delay(n), Duration::MAX, "{n} failures");
        }
        let l = ExponentialBackoff::<u8>::default();
        assert_eq!(l.delay(u32::MAX), Duration::from_secs(1000));
        // A count at u32::MAX stays there.
        let mut l = ExponentialBackoff::<u8>::default();
        l.failures.insert(1, u32::MAX);
        assert_eq!(l.when(&1, Instant::now()), Duration::from_secs(1000));
        assert_eq!(l.num_requeues(&1), u32::MAX);
    }

    #[test]
    fn bucket_bursts_100_then_spaces_by_100ms() {
        let t0 = Instant::now();
        let mut b = TokenBucket::default();
        for i in 0..100 {
            assert_eq!(RateLimiter::<u8>::when(&mut b, &0, t0), Duration::ZERO, "call {i}");
        }
        for n in 1..=5u32 {
            assert_eq!(RateLimiter::<u8>::when(&mut b, &0, t0), 100 * MS * n);
        }
        // Forgetting is a no-op: the bucket is shared by all keys.
        RateLimiter::<u8>::forget(&mut b, &0);
        assert_eq!(RateLimiter::<u8>::num_requeues(&b, &0), 0);
        assert_eq!(RateLimiter::<u8>::when(&mut b, &0, t0), 600 * MS);
    }

    #[test]
    fn bucket_refills_with_time() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 2);
        let mut when = |t: Instant| RateLimiter::<u8>::when(&mut b, &0, t);
        assert_eq!(when(t0), Duration::ZERO);
        assert_eq!(when(t0), Duration::ZERO);
        assert_eq!(when(t0), 100 * MS);
        // After 100 ms the debt is paid; after another 150 ms, 1.5 tokens are back.
        assert_eq!(when(t0 + 100 * MS), 100 * MS);
        assert_eq!(when(t0 + 350 * MS), Duration::ZERO);
        assert_eq!(when(t0 + 350 * MS), 50 * MS);
        // A long quiet time refills only up to the burst.
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(when(t1), Duration::ZERO);
        assert_eq!(when(t1), Duration::ZERO);
        assert_eq!(when(t1), 100 * MS);
        // An earlier instant refills nothing.
        assert_eq!(when(t0), 200 * MS);
    }

    #[test]
    fn bucket_edges() {
        let t0 = Instant::now();
        let mut never = TokenBucket::new(0.0, 1);
        assert_eq!(RateLimiter::<u8>::when(&mut never, &0, t0), Duration::ZERO);
        assert_eq!(RateLimiter::<u8>::when(&mut never, &0, t0 + Duration::from_secs(9)), Duration::MAX);
        let mut free = TokenBucket::new(f64::INFINITY, 0);
        assert_eq!(RateLimiter::<u8>::when(&mut free, &0, t0), Duration::ZERO);
        // A burst of 0: every event waits for its own token.
        let mut tight = TokenBucket::new(10.0, 0);
        assert_eq!(RateLimiter::<u8>::when(&mut tight, &0, t0), 100 * MS);
        assert_eq!(RateLimiter::<u8>::when(&mut tight, &0, t0), 200 * MS);
    }

    #[test]
    fn default_controller_limiter_is_the_max() {
        let t0 = Instant::now();
        let mut l = default_controller_rate_limiter::<u32>();
        // 100 distinct keys: each at its first failure (5 ms), the bucket still has tokens.
        for k in 0..100 {
            assert_eq!(l.when(&k, t0), 5 * MS);
        }
        // The 101st is held back by the bucket.
        assert_eq!(l.when(&100, t0), 100 * MS);
        // One key failing again and again: backoff wins once it passes the bucket's wait.
        let t1 = t0 + Duration::from_secs(3600);
        let got: Vec<Duration> = (0..12).map(|_| l.when(&7, t1)).collect();
        assert_eq!(got[0], 10 * MS);
        assert_eq!(got[11], Duration::from_millis(20_480));
        assert_eq!(l.num_requeues(&7), 13);
        l.forget(&7);
        assert_eq!(l.num_requeues(&7), 0);
        assert_eq!(MaxOf::<u8>::new(Vec::new()).when(&0, t0), Duration::ZERO);
    }
}
