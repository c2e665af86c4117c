//! Retry policy for idempotent calls that fail with `UNAVAILABLE`.

use std::time::Duration;

/// How [`Client`](crate::Client) retries idempotent calls (reads, stop, remove, pull) that
/// fail with [`Error::Unavailable`](crate::Error::Unavailable), e.g. while the runtime
/// restarts. Non-idempotent calls (create, start, exec, …) are never retried: the runtime
/// may have acted before the connection broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first; 1 disables retries.
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    /// Upper bound on one delay.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 100 ms doubling up to 2 s: rides out a runtime restart of a few
    /// seconds without stalling a sync loop for long.
    fn default() -> Self {
        Self { max_attempts: 4, initial_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(2) }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// The delay after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(16);
        self.initial_backoff.saturating_mul(1 << shift).min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(5), Duration::from_millis(1600));
        assert_eq!(p.backoff(6), Duration::from_secs(2));
        assert_eq!(p.backoff(1000), Duration::from_secs(2));
        assert_eq!(RetryPolicy::none().max_attempts, 1);
    }
}
