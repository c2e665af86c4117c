//! Container restart back-off (upstream `flowcontrol.Backoff` as the kubelet uses it):
//! 10 s after a crash, doubling per crash up to 300 s, reset once a container has run
//! cleanly for 10 minutes.
//!
//! Pure: every method takes the current time, so tests drive it with a fake clock.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use knode::pods::backoff::{Backoff, BackoffConfig};
//!
//! let mut b: Backoff<&str> = Backoff::new(BackoffConfig::default());
//! let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
//! // The first crash restarts at once; the second waits 10 s, then 20 s, …
//! assert_eq!(b.remaining(&"c", t0, t0), None);
//! b.record_restart("c", t0, Duration::from_secs(1));
//! assert_eq!(b.remaining(&"c", t0, t0 + Duration::from_secs(4)), Some(Duration::from_secs(6)));
//! ```

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, SystemTime};

/// Back-off durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The delay after the first counted crash (upstream 10 s).
    pub initial: Duration,
    /// The cap (upstream 300 s).
    pub max: Duration,
    /// A container that ran at least this long before exiting restarts the sequence
    /// (upstream 10 min).
    pub reset_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self { initial: Duration::from_secs(10), max: Duration::from_secs(300), reset_after: Duration::from_secs(600) }
    }
}

impl BackoffConfig {
    /// Back-off with these durations.
    pub fn new(initial: Duration, max: Duration, reset_after: Duration) -> Self {
        Self { initial, max, reset_after }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    delay: Duration,
    updated: SystemTime,
}

/// Per-key back-off state (key: pod UID and container name in the kubelet).
#[derive(Debug, Clone)]
pub struct Backoff<K> {
    config: BackoffConfig,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Backoff<K> {
    /// Empty state.
    pub fn new(config: BackoffConfig) -> Self {
        Self { config, entries: HashMap::new() }
    }

    /// The configuration.
    pub fn config(&self) -> BackoffConfig {
        self.config
    }

    /// How long a restart of `key` must still wait at `now`, given that its last
    /// container finished at `finished_at`; `None` if it may restart now.
    pub fn remaining(&self, key: &K, finished_at: SystemTime, now: SystemTime) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if self.expired(entry, now) {
            return None;
        }
        let until = finished_at + entry.delay;
        until.duration_since(now).ok().filter(|d| !d.is_zero())
    }

    /// Records a restart of `key` at `now` after a container that ran for `ran_for`;
    /// returns the delay the next restart will wait.
    pub fn record_restart(&mut self, key: K, now: SystemTime, ran_for: Duration) -> Duration {
        let config = self.config;
        let fresh = Entry { delay: config.initial, updated: now };
        let entry = match self.entries.get(&key) {
            Some(e) if !self.expired(e, now) && ran_for < config.reset_after => {
                Entry { delay: e.delay.saturating_mul(2).min(config.max), updated: now }
            }
            _ => fresh,
        };
        self.entries.insert(key, entry);
        entry.delay
    }

    /// Forgets `key` (its pod is gone).
    pub fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Drops every entry idle for twice the maximum delay (upstream's garbage collection).
    pub fn gc(&mut self, now: SystemTime) {
        let config = self.config;
        self.entries.retain(|_, e| now.duration_since(e.updated).unwrap_or_default() <= config.max * 2);
    }

    fn expired(&self, entry: &Entry, now: SystemTime) -> bool {
        now.duration_since(entry.updated).unwrap_or_default() > self.config.max * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn doubles_to_the_cap() {
        let t0 = SystemTime::UNIX_EPOCH + secs(10_000);
        let mut b = Backoff::new(BackoffConfig::default());
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..7 {
            delays.push(b.record_restart("k", now, secs(1)));
            now += secs(5);
        }
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300].map(secs));
    }

    #[test]
    fn remaining_counts_from_finish() {
        let t0 = SystemTime::UNIX_EPOCH + secs(10_000);
        let mut b = Backoff::new(BackoffConfig::default());
        assert_eq!(b.remaining(&"k", t0, t0), None, "no crash recorded: start at once");
        b.record_restart("k", t0, secs(1));
        assert_eq!(b.remaining(&"k", t0, t0 + secs(3)), Some(secs(7)));
        assert_eq!(b.remaining(&"k", t0, t0 + secs(10)), None);
    }

    #[test]
    fn resets_after_long_clean_run() {
        let t0 = SystemTime::UNIX_EPOCH + secs(10_000);
        let mut b = Backoff::new(BackoffConfig::default());
        b.record_restart("k", t0, secs(1));
        b.record_restart("k", t0 + secs(10), secs(1));
        assert_eq!(b.record_restart("k", t0 + secs(20), secs(1)), secs(40));
        assert_eq!(b.record_restart("k", t0 + secs(700), secs(650)), secs(10), "ran 10+ minutes");
    }

    #[test]
    fn idle_entries_expire() {
        let t0 = SystemTime::UNIX_EPOCH + secs(10_000);
        let mut b = Backoff::new(BackoffConfig::default());
        b.record_restart("k", t0, secs(1));
        b.record_restart("k", t0, secs(1));
        assert_eq!(b.record_restart("k", t0 + secs(601), secs(1)), secs(10));
        b.gc(t0 + secs(2000));
        assert_eq!(b.remaining(&"k", t0 + secs(2000), t0 + secs(2000)), None);
        assert!(b.entries.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn paused_clock_drives_backoff() {
        // The driver maps tokio's paused clock onto wall times; here the same mapping.
        let base = SystemTime::UNIX_EPOCH + secs(50_000);
        let start = tokio::time::Instant::now();
        let wall = || base + start.elapsed();
        let mut b = Backoff::new(BackoffConfig::default());
        let finished = wall();
        b.record_restart("k", finished, secs(0));
        assert!(b.remaining(&"k", finished, wall()).is_some());
        tokio::time::sleep(secs(9)).await;
        assert_eq!(b.remaining(&"k", finished, wall()), Some(secs(1)));
        tokio::time::sleep(secs(1)).await;
        assert_eq!(b.remaining(&"k", finished, wall()), None);
    }
}
